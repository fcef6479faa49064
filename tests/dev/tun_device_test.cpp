// TunDevice against the real kernel: the interface it makes (up, address, MTU, gone when
// closed), its errors, and the first interop — a kernel TCP client talking to a synack
// Stack through the TUN interface, echo and orderly close, and a refused connect.
//
// These tests need CAP_NET_ADMIN and unshare(CLONE_NEWNET): as root they run, otherwise
// they skip (except the configuration checks). With CI set and root they must run: a
// failure to make a namespace then fails the test instead of skipping it.
//
// Each test body runs in a thread of its own that first calls unshare(CLONE_NEWNET): a
// network namespace belongs to a thread, so the test runner's thread keeps the host's, and
// the interface, routes and sockets the body makes vanish with the body's thread and fds.
// In the namespace the thread sees its own interfaces through sockets (if_nametoindex,
// SIOCGIF*) and /proc/thread-self/net; /sys/class/net would show the host's.
//
// Time is real here (steady_clock at this edge, as a tool would drive the stack); every
// loop is bounded in turns and in time, and waits only in poll().
#include "synack/dev/tun_device.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "synack/dev/kernel_snmp.hpp"
#include "synack/stack/stack.hpp"
#include "synack/trace/tcpdump.hpp"
#include "synack/wire/ipv4.hpp"

namespace synack::dev {
namespace {

using stack::ConnId;
using stack::StackEvent;
using tcp::State;
using wire::Ipv4Address;

constexpr Ipv4Address kKernelAddress = Ipv4Address::from_octets(10, 55, 0, 1);
constexpr Ipv4Address kSynackAddress = Ipv4Address::from_octets(10, 55, 0, 2);
constexpr uint16_t kEchoPort = 9988;
constexpr uint16_t kClosedPort = 9989;
constexpr Duration kTestBudget = Duration::seconds(3);
constexpr int kMaxTurns = 10'000;

Instant real_now() {
  const auto since = std::chrono::steady_clock::now().time_since_epoch();
  return Instant::from_micros(std::chrono::duration_cast<std::chrono::microseconds>(since).count());
}

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && *ci != '\0';
}

// Why these tests cannot run here, or nullopt. Probes unshare in a throwaway thread.
std::optional<std::string> cannot_run() {
  if (geteuid() != 0) {
    return "needs root (CAP_NET_ADMIN and a network namespace of its own): run as root, or "
           "under `unshare -rn`";
  }
  if (in_ci()) return std::nullopt;  // root in CI: run, and fail loudly if anything is missing
  std::string why;
  std::thread probe([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      why = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
    }
  });
  probe.join();
  if (!why.empty()) return why;
  if (access("/dev/net/tun", R_OK | W_OK) != 0) {
    return std::string("cannot use /dev/net/tun: ") + std::strerror(errno);
  }
  return std::nullopt;
}

// Runs `body` in a new thread inside a network namespace of its own.
void in_own_netns(const std::function<void()>& body) {
  std::thread runner([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      ADD_FAILURE() << "unshare(CLONE_NEWNET): " << std::strerror(errno);
      return;
    }
    body();
  });
  runner.join();
}

#define SKIP_UNLESS_PRIVILEGED()                       \
  do {                                                 \
    if (auto why = cannot_run()) GTEST_SKIP() << *why; \
  } while (false)

TunConfig echo_config() {
  return TunConfig{.name = "synack0", .mtu = 1500, .kernel_address = kKernelAddress};
}

// --- The kernel's view of an interface, through ioctls in the calling thread's namespace

struct InterfaceInfo {
  short flags = 0;
  int mtu = 0;
  std::optional<Ipv4Address> address;
  std::optional<Ipv4Address> netmask;
};

std::optional<Ipv4Address> ipv4_of(const sockaddr& sa) {
  if (sa.sa_family != AF_INET) return std::nullopt;
  sockaddr_in sin{};
  std::memcpy(&sin, &sa, sizeof sin);
  return Ipv4Address(ntohl(sin.sin_addr.s_addr));
}

std::optional<InterfaceInfo> interface_info(const std::string& name) {
  const int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return std::nullopt;
  InterfaceInfo info;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), size_t{IFNAMSIZ - 1}));
  bool ok = ioctl(sock, SIOCGIFFLAGS, &ifr) == 0;
  info.flags = ifr.ifr_flags;
  ok = ok && ioctl(sock, SIOCGIFMTU, &ifr) == 0;
  info.mtu = ifr.ifr_mtu;
  if (ioctl(sock, SIOCGIFADDR, &ifr) == 0) info.address = ipv4_of(ifr.ifr_addr);
  if (ioctl(sock, SIOCGIFNETMASK, &ifr) == 0) info.netmask = ipv4_of(ifr.ifr_netmask);
  close(sock);
  if (!ok) return std::nullopt;
  return info;
}

// --- Driving a Stack over the device in real time

class Interop {
 public:
  explicit Interop(TunDevice tun) : tun_(std::move(tun)), stack_(config()) {
    stack_.add_address(kSynackAddress);
  }

  static stack::StackConfig config() {
    stack::StackConfig c;
    c.secret_seed = 7;
    return c;
  }

  stack::Stack& stack() { return stack_; }
  TunDevice& tun() { return tun_; }
  Instant now() const { return now_; }
  const std::string& log() const { return log_; }

  // One turn: waits for the device or `fds` until the stack's or the device's next
  // deadline (never past `limit`), moves the kernel's packets into the stack, fires due
  // timers, hands the stack's events to on_event, and sends what the stack has.
  void turn(std::vector<pollfd>& fds, Instant limit,
            const std::function<void(const StackEvent&)>& on_event) {
    now_ = real_now();
    Instant until = limit;
    for (auto deadline : {stack_.next_deadline(), tun_.next_deadline()}) {
      if (deadline && *deadline < until) until = *deadline;
    }
    const int64_t wait_us = std::max<int64_t>(0, (until - now_).as_micros());
    std::vector<pollfd> all{{.fd = tun_.fd(), .events = POLLIN, .revents = 0}};
    all.insert(all.end(), fds.begin(), fds.end());
    poll(all.data(), all.size(), static_cast<int>((wait_us + 999) / 1000));
    for (size_t i = 0; i < fds.size(); ++i)
      fds[i].revents = all[i + 1].revents;

    now_ = real_now();
    tun_.poll(now_, [&](wire::Bytes packet) {
      trace("<", packet);
      stack_.receive(packet, now_);
    });
    if (auto deadline = stack_.next_deadline(); deadline && *deadline <= now_) {
      stack_.on_timeout(now_);
    }
    while (auto event = stack_.poll_event())
      on_event(*event);
    flush();
  }

  // Sends what the stack has (after the application changed a connection).
  void flush() {
    while (auto packet = stack_.poll_transmit(now_)) {
      trace(">", *packet);
      tun_.send(*packet, now_);
    }
  }

 private:
  void trace(const char* direction, wire::Bytes packet) {
    if (!start_) start_ = now_;
    // Times relative to the first packet; the date part of the formatter is meaningless.
    log_ += std::string(direction) + " " +
            formatter_.format_ip(Instant::from_micros((now_ - *start_).as_micros()), packet) + "\n";
  }

  TunDevice tun_;
  stack::Stack stack_;
  Instant now_ = real_now();
  std::optional<Instant> start_;
  trace::TcpdumpFormatter formatter_{trace::TcpdumpOptions{.absolute_sequence_numbers = true}};
  std::string log_;
};

// A non-blocking kernel TCP socket connecting to synack.
int kernel_connect(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(kSynackAddress.value());
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

int socket_error(int fd) {
  int error = 0;
  socklen_t len = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) return errno;
  return error;
}

// The kernel client of the echo test: connect, send the message (as fast as the socket
// takes it) while reading the echo, shut down its sending side once all of it came back,
// read the end of stream synack's close brings, then close.
class EchoClient {
 public:
  enum class Phase : uint8_t { kConnecting, kEchoing, kAwaitingEof, kDone };

  explicit EchoClient(std::string message) : message_(std::move(message)) {
    fd_ = kernel_connect(kEchoPort);
  }
  ~EchoClient() {
    if (fd_ >= 0) close(fd_);
  }
  EchoClient(const EchoClient&) = delete;
  EchoClient& operator=(const EchoClient&) = delete;

  bool ok() const { return fd_ >= 0 && failure_.empty(); }
  bool done() const { return phase_ == Phase::kDone; }
  const std::string& failure() const { return failure_; }
  const std::string& echoed() const { return echoed_; }
  bool got_eof() const { return eof_; }
  const std::optional<tcp_info>& info() const { return info_; }

  pollfd poll_entry() const {
    short events = 0;
    if (phase_ == Phase::kConnecting || (phase_ == Phase::kEchoing && sent_ < message_.size())) {
      events |= POLLOUT;
    }
    if (phase_ == Phase::kEchoing || phase_ == Phase::kAwaitingEof) events |= POLLIN;
    return pollfd{.fd = phase_ == Phase::kDone ? -1 : fd_, .events = events, .revents = 0};
  }

  void on_ready(short revents) {
    if (revents == 0 || !ok()) return;
    if (phase_ == Phase::kConnecting) {
      if (const int e = socket_error(fd_)) return fail("connect", e);
      phase_ = Phase::kEchoing;
    }
    if (phase_ == Phase::kEchoing) write_some();
    if (phase_ == Phase::kEchoing || phase_ == Phase::kAwaitingEof) read_some();
  }

 private:
  void write_some() {
    while (sent_ < message_.size()) {
      const ssize_t n = ::send(fd_, message_.data() + sent_, message_.size() - sent_, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno != EAGAIN) fail("send", errno);
        return;
      }
      sent_ += static_cast<size_t>(n);
    }
  }

  void read_some() {
    char buf[65536];
    for (int i = 0; i < 64; ++i) {
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno != EAGAIN) fail("recv", errno);
        return;
      }
      if (n == 0) return end_of_stream();
      echoed_.append(buf, static_cast<size_t>(n));
      if (phase_ == Phase::kEchoing && echoed_.size() >= message_.size()) {
        if (shutdown(fd_, SHUT_WR) != 0) return fail("shutdown", errno);
        phase_ = Phase::kAwaitingEof;
      }
    }
  }

  void end_of_stream() {
    eof_ = true;
    // What the kernel learned of synack during the connection: options, MSS, retransmits.
    tcp_info info{};
    socklen_t len = sizeof info;
    if (getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &info, &len) == 0) info_ = info;
    close(fd_);
    fd_ = -1;
    phase_ = Phase::kDone;
  }

  void fail(const char* what, int e) {
    failure_ = std::string(what) + ": " + std::strerror(e);
    phase_ = Phase::kDone;
  }

  int fd_ = -1;
  Phase phase_ = Phase::kConnecting;
  std::string message_;
  size_t sent_ = 0;
  std::string echoed_;
  bool eof_ = false;
  std::string failure_;
  std::optional<tcp_info> info_;
};

// The synack side of the echo test: accepts one connection, writes back what it reads,
// closes when the peer has closed, and records the connection's state changes.
class EchoServer {
 public:
  EchoServer(Interop& net, stack::ListenerId listener) : net_(net), listener_(listener) {}

  void on_event(const StackEvent& e) {
    if (e.kind == StackEvent::Kind::kAcceptable) {
      if (!conn_) {
        conn_ = net_.stack().accept(listener_);
        if (conn_) serve();
      }
      return;
    }
    if (e.event.kind == tcp::EventKind::kStateChanged) transitions_.push_back({e.conn, e.event});
    if (!conn_ || !(e.conn == *conn_)) return;
    if (e.event.kind == tcp::EventKind::kClosed) {
      closed_ = true;
      error_ = e.event.error;
      net_.stack().release(*conn_);
      return;
    }
    serve();
  }

  bool closed() const { return closed_; }
  std::error_code error() const { return error_; }
  const std::optional<tcp::ConnectionStatus>& status() const { return status_; }

  // The states the accepted connection went through, from the state changes seen.
  std::vector<State> states() const {
    std::vector<State> states;
    if (!conn_) return states;
    for (const auto& [id, event] : transitions_) {
      if (id == *conn_) states.push_back(event.to);
    }
    return states;
  }

  std::string transitions() const {
    std::string text;
    for (const auto& [id, event] : transitions_) {
      text += std::string(tcp::to_string(event.from)) + " -> " +
              std::string(tcp::to_string(event.to)) + " (" + std::string(event.cause) + ")\n";
    }
    return text;
  }

 private:
  void serve() {
    tcp::Connection* c = net_.stack().connection(*conn_);
    if (c == nullptr) return;
    status_ = c->status();
    std::array<std::byte, 4096> buf{};
    for (int i = 0; i < 64; ++i) {
      const size_t n = net_.stack().recv(*conn_, buf, net_.now());
      if (n == 0) break;
      pending_.insert(pending_.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n));
    }
    if (!pending_.empty()) {
      auto sent = net_.stack().send(*conn_, pending_, net_.now());
      if (sent) pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(*sent));
    }
    if (c->eof() && pending_.empty() && !close_called_) {
      close_called_ = true;
      EXPECT_FALSE(net_.stack().close(*conn_, net_.now()));
    }
    net_.flush();
  }

  Interop& net_;
  stack::ListenerId listener_;
  std::optional<ConnId> conn_;
  std::vector<std::pair<ConnId, tcp::Event>> transitions_;
  std::vector<std::byte> pending_;
  bool close_called_ = false;
  bool closed_ = false;
  std::error_code error_;
  std::optional<tcp::ConnectionStatus> status_;
};

// Runs the echo exchange to its end (or the time budget); true when both sides finished.
bool run_echo(Interop& net, EchoClient& client, EchoServer& server) {
  const Instant give_up = real_now() + kTestBudget;
  for (int turn = 0; turn < kMaxTurns && real_now() < give_up; ++turn) {
    if (client.done() && server.closed()) return true;
    std::vector<pollfd> fds{client.poll_entry()};
    net.turn(fds, give_up, [&](const StackEvent& e) { server.on_event(e); });
    client.on_ready(fds[0].revents);
  }
  return client.done() && server.closed();
}

bool print_trace() {
  return std::getenv("SYNACK_TUN_TRACE") != nullptr;
}

// --- The interface ---------------------------------------------------------------------

TEST(TunDevice, RejectsABadConfigurationBeforeTouchingTheKernel) {
  auto long_name = TunDevice::open({.name = "a-name-of-16-chr"});
  ASSERT_FALSE(long_name);
  EXPECT_EQ(long_name.error().code, std::errc::invalid_argument);
  EXPECT_NE(long_name.error().message.find("longer than 15 characters"), std::string::npos)
      << long_name.error().message;

  auto small_mtu = TunDevice::open({.mtu = 67});
  ASSERT_FALSE(small_mtu);
  EXPECT_NE(small_mtu.error().message.find("MTU 67"), std::string::npos);

  auto long_prefix = TunDevice::open({.kernel_address = kKernelAddress, .prefix_len = 33});
  ASSERT_FALSE(long_prefix);
  EXPECT_NE(long_prefix.error().message.find("/33"), std::string::npos);
}

TEST(TunDevice, MakesAnInterfaceThatIsUpWithTheAddressAndMtuAndGoesWhenClosed) {
  SKIP_UNLESS_PRIVILEGED();
  in_own_netns([] {
    {
      auto tun = TunDevice::open(
          {.name = "synack0", .mtu = 1400, .kernel_address = kKernelAddress, .prefix_len = 24});
      ASSERT_TRUE(tun) << tun.error().message;
      EXPECT_EQ(tun->name(), "synack0");
      EXPECT_EQ(tun->mtu(), 1400u);
      EXPECT_EQ(tun->ifindex(), if_nametoindex("synack0"));
      EXPECT_NE(fcntl(tun->fd(), F_GETFL) & O_NONBLOCK, 0);

      auto info = interface_info("synack0");
      ASSERT_TRUE(info);
      EXPECT_TRUE(info->flags & IFF_UP);
      EXPECT_TRUE(info->flags & IFF_RUNNING);  // carrier: our fd is attached
      EXPECT_TRUE(info->flags & IFF_POINTOPOINT);
      EXPECT_EQ(info->mtu, 1400);
      EXPECT_EQ(info->address, kKernelAddress);
      EXPECT_EQ(info->netmask, Ipv4Address::from_octets(255, 255, 255, 0));

      // Nothing was sent to synack's address: reading ends at EAGAIN, without blocking and
      // without an error (after an IPv6 router solicitation, perhaps).
      std::vector<std::byte> packet;
      for (int i = 0; i < 100 && tun->read(packet); ++i) {
      }
      EXPECT_FALSE(tun->error()) << tun->error().message();
    }
    EXPECT_EQ(if_nametoindex("synack0"), 0u) << "the interface outlived its device";
  });
}

TEST(TunDevice, TheKernelChoosesANameAndTheMtuCanBeLeftAlone) {
  SKIP_UNLESS_PRIVILEGED();
  in_own_netns([] {
    auto first = TunDevice::open({.mtu = 0, .up = false});
    ASSERT_TRUE(first) << first.error().message;
    auto second = TunDevice::open({.name = "syn%d"});
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ(first->name().rfind("tun", 0), 0u) << first->name();
    EXPECT_EQ(second->name(), "syn0");
    EXPECT_EQ(first->mtu(), 1500u);
    auto info = interface_info(first->name());
    ASSERT_TRUE(info);
    EXPECT_FALSE(info->flags & IFF_UP);
    EXPECT_FALSE(info->address);

    // Moving keeps the interface: the moved-from device owns nothing.
    TunDevice moved = std::move(*second);
    EXPECT_EQ(moved.name(), "syn0");
    EXPECT_NE(if_nametoindex("syn0"), 0u);
  });
}

// Waits (boundedly) until the device has a packet for read().
bool readable_within(const TunDevice& tun, int timeout_ms) {
  pollfd pfd{.fd = tun.fd(), .events = POLLIN, .revents = 0};
  return poll(&pfd, 1, timeout_ms) == 1;
}

// A kernel UDP datagram to synack's address comes out of read() as an IPv4 packet, and an
// IPv4 packet write() puts in reaches a kernel UDP socket.
TEST(TunDevice, RawReadAndWriteCarryIpPacketsBothWays) {
  SKIP_UNLESS_PRIVILEGED();
  in_own_netns([] {
    auto tun = TunDevice::open(echo_config());
    ASSERT_TRUE(tun) << tun.error().message;
    const int sock = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT_GE(sock, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_port = htons(5000);
    local.sin_addr.s_addr = htonl(kKernelAddress.value());
    ASSERT_EQ(bind(sock, reinterpret_cast<const sockaddr*>(&local), sizeof local), 0);
    sockaddr_in to = local;
    to.sin_port = htons(6000);
    to.sin_addr.s_addr = htonl(kSynackAddress.value());
    ASSERT_EQ(sendto(sock, "ping", 4, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to), 4);

    // Skip whatever else the kernel sends (IPv6 router solicitations) until the datagram.
    std::optional<wire::Ipv4Repr> got;
    for (int i = 0; i < 20 && !got && readable_within(*tun, 1000); ++i) {
      std::vector<std::byte> packet;
      while (!got && tun->read(packet)) {
        auto view = wire::Ipv4View::parse(packet);
        if (view && view->protocol() == wire::ip_protocol::kUdp) got = wire::Ipv4Repr::parse(*view);
      }
    }
    ASSERT_TRUE(got) << "the kernel's datagram never came out of the device";
    EXPECT_EQ(got->src, kKernelAddress);
    EXPECT_EQ(got->dst, kSynackAddress);
    EXPECT_EQ(got->payload_len, 8 + 4);

    const wire::Ipv4Repr ip{.src = kSynackAddress,
                            .dst = kKernelAddress,
                            .protocol = wire::ip_protocol::kUdp,
                            .payload_len = 8 + 4};
    std::vector<std::byte> reply(ip.total_len());
    ip.emit(reply);
    std::byte* udp = reply.data() + ip.header_len();
    wire::store_be16(udp, 6000);
    wire::store_be16(udp + 2, 5000);
    wire::store_be16(udp + 4, 8 + 4);
    wire::store_be16(udp + 6, 0);  // no checksum (RFC 768)
    std::memcpy(udp + 8, "pong", 4);
    EXPECT_TRUE(tun->write(reply)) << tun->error().message();
    EXPECT_EQ(tun->counters().tx_packets, 1u);

    pollfd pfd{.fd = sock, .events = POLLIN, .revents = 0};
    ASSERT_EQ(poll(&pfd, 1, 1000), 1) << "the kernel socket got nothing";
    char buf[16] = {};
    EXPECT_EQ(recv(sock, buf, sizeof buf, 0), 4);
    EXPECT_EQ(std::string(buf), "pong");
    close(sock);

    // A packet the kernel cannot take: write() says so and the device counts it.
    EXPECT_FALSE(tun->write(wire::Bytes()));
    EXPECT_EQ(tun->counters().tx_errors, 1u);
    EXPECT_TRUE(tun->error());
  });
}

// Capabilities belong to a thread, like the network namespace: this drops CAP_NET_ADMIN
// from the calling thread's effective set only.
void drop_cap_net_admin() {
  __user_cap_header_struct header{.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  __user_cap_data_struct data[2]{};
  ASSERT_EQ(syscall(SYS_capget, &header, data), 0) << std::strerror(errno);
  data[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
  ASSERT_EQ(syscall(SYS_capset, &header, data), 0) << std::strerror(errno);
}

void expect_advice(const TunError& error, const std::string& step) {
  EXPECT_EQ(error.code, std::errc::operation_not_permitted);
  EXPECT_NE(error.message.find(step), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("CAP_NET_ADMIN"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("run as root"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("unshare -rn"), std::string::npos) << error.message;
}

TEST(TunDevice, WithoutCapNetAdminTheErrorSaysHowToRun) {
  SKIP_UNLESS_PRIVILEGED();
  in_own_netns([] {
    ASSERT_NO_FATAL_FAILURE(drop_cap_net_admin());
    auto tun = TunDevice::open(echo_config());
    ASSERT_FALSE(tun);
    expect_advice(tun.error(), "TUNSETIFF");
  });
}

// A persistent TUN interface without an owner lets anyone attach to it; configuring it
// over rtnetlink still needs CAP_NET_ADMIN, and that error gives the same advice.
TEST(TunDevice, AttachingWithoutCapNetAdminFailsAtRtnetlinkWithTheSameAdvice) {
  SKIP_UNLESS_PRIVILEGED();
  in_own_netns([] {
    {
      auto persistent = TunDevice::open({.name = "synack-keep", .mtu = 0, .up = false});
      ASSERT_TRUE(persistent) << persistent.error().message;
      ASSERT_EQ(ioctl(persistent->fd(), TUNSETPERSIST, 1), 0) << std::strerror(errno);
    }
    ASSERT_NE(if_nametoindex("synack-keep"), 0u);  // the namespace's end removes it

    ASSERT_NO_FATAL_FAILURE(drop_cap_net_admin());
    {
      auto attached = TunDevice::open({.name = "synack-keep", .mtu = 0, .up = false});
      EXPECT_TRUE(attached) << attached.error().message;  // nothing to configure
      // Single-queue: while one device is attached, another finds the interface busy.
      auto second = TunDevice::open({.name = "synack-keep", .mtu = 0, .up = false});
      ASSERT_FALSE(second);
      EXPECT_EQ(second.error().code, std::errc::device_or_resource_busy);
      EXPECT_NE(second.error().message.find("not a TUN device free to attach"), std::string::npos)
          << second.error().message;
    }
    auto configured = TunDevice::open({.name = "synack-keep"});
    ASSERT_FALSE(configured);
    expect_advice(configured.error(), "RTM_NEWLINK");
  });
}

// --- Interop with the kernel's TCP ---------------------------------------------------

TEST(TunInterop, KernelClientGetsItsEchoFromSynackAndBothCloseCleanly) {
  SKIP_UNLESS_PRIVILEGED();
  in_own_netns([] {
    auto tun = TunDevice::open(echo_config());
    ASSERT_TRUE(tun) << tun.error().message;
    Interop net(std::move(*tun));
    auto listener = net.stack().listen(tcp::Endpoint{kSynackAddress, kEchoPort}, 16);
    ASSERT_TRUE(listener);
    EchoServer server(net, *listener);
    EchoClient client("hello");
    ASSERT_TRUE(client.ok()) << std::strerror(errno);

    const bool finished = run_echo(net, client, server);
    EXPECT_TRUE(finished) << "did not finish within " << kTestBudget.as_millis() << " ms";
    EXPECT_TRUE(client.failure().empty()) << client.failure();
    EXPECT_EQ(client.echoed(), "hello");
    EXPECT_TRUE(client.got_eof());

    // The kernel closed first (shutdown after the echo), so synack is the passive closer.
    EXPECT_EQ(server.states(),
              (std::vector<State>{State::kSynRcvd, State::kEstablished, State::kCloseWait,
                                  State::kLastAck, State::kClosed}))
        << server.transitions();
    EXPECT_FALSE(server.error()) << server.error().message();

    // What each side negotiated with the other.
    ASSERT_TRUE(server.status());
    EXPECT_EQ(server.status()->snd_mss, 1460);  // the kernel's MSS for a 1500-byte MTU
    EXPECT_TRUE(server.status()->timestamps);
    EXPECT_TRUE(server.status()->sack);
    ASSERT_TRUE(client.info());
    const tcp_info& info = *client.info();
    EXPECT_TRUE(info.tcpi_options & TCPI_OPT_TIMESTAMPS);
    EXPECT_TRUE(info.tcpi_options & TCPI_OPT_SACK);
    EXPECT_TRUE(info.tcpi_options & TCPI_OPT_WSCALE);
    EXPECT_EQ(info.tcpi_snd_wscale, server.status()->rcv_wscale);
    EXPECT_EQ(info.tcpi_rcv_wscale, server.status()->snd_wscale);
    EXPECT_EQ(info.tcpi_snd_mss, 1448u);  // synack's MSS 1460 less 12 bytes of timestamps
    EXPECT_EQ(info.tcpi_total_retrans, 0u);

    // Neither side dropped or repeated anything.
    const stack::Counters& c = net.stack().counters();
    EXPECT_EQ(c.TcpPassiveOpens, 1u);
    EXPECT_EQ(c.TcpInCsumErrors, 0u);
    EXPECT_EQ(c.TcpInErrs, 0u);
    EXPECT_EQ(c.TcpOutRsts, 0u);
    EXPECT_EQ(c.TcpRetransSegs, 0u);
    auto kernel = kernel_snmp("Tcp");
    EXPECT_EQ(kernel["InCsumErrors"], 0);
    EXPECT_EQ(kernel["InErrs"], 0);
    EXPECT_EQ(kernel["OutRsts"], 0);
    EXPECT_EQ(kernel["RetransSegs"], 0);
    EXPECT_EQ(kernel["ActiveOpens"], 1);
    EXPECT_EQ(kernel_snmp("Ip")["InHdrErrors"], 0);
    EXPECT_EQ(net.tun().counters().tx_errors, 0u);

    if (::testing::Test::HasFailure() || print_trace()) {
      std::cout << "synack's view of the TUN interface (< from the kernel, > to it):\n"
                << net.log() << "state changes:\n"
                << server.transitions();
    }
  });
}

// Bulk data both ways through the real kernel: full-sized segments, window updates,
// delayed ACKs and the receive windows of both stacks, without a retransmission.
TEST(TunInterop, EchoesAMegabyteWithoutRetransmitting) {
  SKIP_UNLESS_PRIVILEGED();
  in_own_netns([] {
    auto tun = TunDevice::open(echo_config());
    ASSERT_TRUE(tun) << tun.error().message;
    Interop net(std::move(*tun));
    auto listener = net.stack().listen(tcp::Endpoint{kSynackAddress, kEchoPort}, 16);
    ASSERT_TRUE(listener);
    EchoServer server(net, *listener);
    std::string message(1 << 20, '\0');
    for (size_t i = 0; i < message.size(); ++i)
      message[i] = static_cast<char>('a' + i % 23);
    EchoClient client(message);
    ASSERT_TRUE(client.ok()) << std::strerror(errno);

    EXPECT_TRUE(run_echo(net, client, server));
    EXPECT_TRUE(client.failure().empty()) << client.failure();
    EXPECT_EQ(client.echoed().size(), message.size());
    EXPECT_TRUE(client.echoed() == message) << "the echo differs from what was sent";
    EXPECT_TRUE(client.got_eof());
    EXPECT_EQ(net.stack().counters().TcpRetransSegs, 0u);
    EXPECT_EQ(net.stack().counters().TcpInCsumErrors, 0u);
    EXPECT_EQ(kernel_snmp("Tcp")["RetransSegs"], 0);
    EXPECT_EQ(kernel_snmp("Tcp")["InCsumErrors"], 0);
    ASSERT_TRUE(client.info());
    EXPECT_EQ(client.info()->tcpi_total_retrans, 0u);

    if (::testing::Test::HasFailure() || print_trace()) std::cout << net.log();
  });
}

TEST(TunInterop, KernelConnectToAClosedSynackPortIsRefused) {
  SKIP_UNLESS_PRIVILEGED();
  in_own_netns([] {
    auto tun = TunDevice::open(echo_config());
    ASSERT_TRUE(tun) << tun.error().message;
    Interop net(std::move(*tun));
    ASSERT_TRUE(net.stack().listen(tcp::Endpoint{kSynackAddress, kEchoPort}, 16));

    const int fd = kernel_connect(kClosedPort);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    int error = 0;
    const Instant give_up = real_now() + kTestBudget;
    for (int turn = 0; turn < kMaxTurns && real_now() < give_up && error == 0; ++turn) {
      std::vector<pollfd> fds{{.fd = fd, .events = POLLOUT, .revents = 0}};
      net.turn(fds, give_up, [](const StackEvent&) {});
      if (fds[0].revents != 0) error = socket_error(fd);
    }
    close(fd);
    EXPECT_EQ(error, ECONNREFUSED) << (error != 0 ? std::strerror(error) : "no answer");
    EXPECT_EQ(net.stack().counters().TcpOutRsts, 1u);
    EXPECT_EQ(net.stack().connection_count(), 0u);
    EXPECT_EQ(kernel_snmp("Tcp")["AttemptFails"], 1);

    if (::testing::Test::HasFailure() || print_trace()) std::cout << net.log();
  });
}

// The impairments sit between the kernel and synack: with 25 ms each way the kernel
// measures a round trip of at least 50 ms, and the exchange still completes.
TEST(TunInterop, ImpairmentsDelayBothDirections) {
  SKIP_UNLESS_PRIVILEGED();
  in_own_netns([] {
    TunConfig config = echo_config();
    config.to_kernel = Impairments{.latency = Duration::millis(25), .seed = 1};
    config.from_kernel = Impairments{.latency = Duration::millis(25), .seed = 1};
    auto tun = TunDevice::open(config);
    ASSERT_TRUE(tun) << tun.error().message;
    Interop net(std::move(*tun));
    auto listener = net.stack().listen(tcp::Endpoint{kSynackAddress, kEchoPort}, 16);
    ASSERT_TRUE(listener);
    EchoServer server(net, *listener);
    EchoClient client("hello, slowly");
    ASSERT_TRUE(client.ok()) << std::strerror(errno);

    const Instant start = real_now();
    EXPECT_TRUE(run_echo(net, client, server));
    EXPECT_EQ(client.echoed(), "hello, slowly");
    EXPECT_TRUE(client.got_eof());
    ASSERT_TRUE(client.info());
    EXPECT_GE(client.info()->tcpi_rtt, 50'000u);  // microseconds
    // Handshake, echo and close: at least three round trips.
    EXPECT_GE((real_now() - start).as_millis(), 150);
    ASSERT_NE(net.tun().to_kernel(), nullptr);
    EXPECT_EQ(net.tun().to_kernel()->in_flight(), 0u);
    EXPECT_EQ(net.tun().to_kernel()->counters().delivered, net.tun().counters().tx_packets);
    EXPECT_GT(net.tun().from_kernel()->counters().delivered, 0u);

    if (::testing::Test::HasFailure() || print_trace()) std::cout << net.log();
  });
}

}  // namespace
}  // namespace synack::dev
