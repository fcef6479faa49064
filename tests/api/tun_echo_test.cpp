// The blocking facade against the real kernel: a kernel TCP client echoes through a TUN
// interface, in a network namespace of the test's own (a thread that unshares). Needs root
// (CAP_NET_ADMIN); skipped with a message otherwise, unless CI is set (then it must run).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "synack/api/blocking.hpp"

namespace synack::api {
namespace {

constexpr wire::Ipv4Address kKernel = wire::Ipv4Address::from_octets(10, 56, 0, 1);
constexpr wire::Ipv4Address kSynack = wire::Ipv4Address::from_octets(10, 56, 0, 2);

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && *ci != '\0';
}

// A blocking kernel socket with 5 s timeouts on every call, connected to synack:port.
int kernel_connect(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(kSynack.value());
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST(TunEcho, KernelClientEchoesThroughTheBlockingFacade) {
  if (geteuid() != 0 && !in_ci()) {
    GTEST_SKIP() << "needs root (CAP_NET_ADMIN and a network namespace of its own): run as "
                    "root, or under `unshare -rn`";
  }
  std::thread body([] {
    if (unshare(CLONE_NEWNET) != 0) {
      if (in_ci()) ADD_FAILURE() << "unshare(CLONE_NEWNET): " << std::strerror(errno);
      return;
    }
    auto tun = dev::TunDevice::open({.name = "synack-api", .kernel_address = kKernel});
    ASSERT_TRUE(tun) << tun.error().message;
    std::vector<std::unique_ptr<Device>> devices;
    devices.push_back(std::make_unique<TunLink>(std::move(*tun)));
    HostConfig config;
    config.addresses = {kSynack};
    config.stack.secret_seed = 3;
    BlockingHost host(config, std::move(devices));
    auto listener = host.listen({kSynack, 7});
    ASSERT_TRUE(listener);

    std::thread server([&] {
      auto conn = listener->accept(Duration::seconds(5));
      ASSERT_TRUE(conn) << conn.error().message();
      std::array<std::byte, 4096> buf{};
      for (int i = 0; i < 10'000; ++i) {
        auto n = conn->recv(buf, Duration::seconds(5));
        ASSERT_TRUE(n) << n.error().message();
        if (*n == 0) break;
        ASSERT_TRUE(conn->send(std::span(buf).first(*n), Duration::seconds(5)));
      }
      EXPECT_FALSE(conn->close());
    });

    const int fd = kernel_connect(7);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    std::string message;
    for (int i = 0; i < 20'000; ++i)
      message += static_cast<char>('a' + i % 26);
    std::thread writer([&] {
      EXPECT_EQ(::send(fd, message.data(), message.size(), MSG_NOSIGNAL),
                static_cast<ssize_t>(message.size()));
      shutdown(fd, SHUT_WR);
    });
    std::string echoed;
    char buf[4096];
    for (int i = 0; i < 10'000; ++i) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      ASSERT_GE(n, 0) << std::strerror(errno);
      if (n == 0) break;
      echoed.append(buf, static_cast<size_t>(n));
    }
    writer.join();
    server.join();
    close(fd);
    EXPECT_EQ(echoed, message);
  });
  body.join();
}

}  // namespace
}  // namespace synack::api
