// The blocking facade end to end: two BlockingHosts over a socketpair, each with its loop
// thread, used from client and server threads.
#include "synack/api/blocking.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <thread>

#include "api_test_util.hpp"

namespace synack::api {
namespace {

using testing::kA;
using testing::kB;

struct BlockingPair {
  BlockingPair() {
    auto link = DatagramLink::pair();
    EXPECT_TRUE(link);
    std::vector<std::unique_ptr<Device>> da, db;
    da.push_back(std::move(link->first));
    db.push_back(std::move(link->second));
    a = std::make_unique<BlockingHost>(testing::host_config(kA, 1), std::move(da));
    b = std::make_unique<BlockingHost>(testing::host_config(kB, 2), std::move(db));
  }
  std::unique_ptr<BlockingHost> a;
  std::unique_ptr<BlockingHost> b;
};

std::string as_string(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

TEST(Blocking, EchoBetweenThreads) {
  BlockingPair p;
  auto listener = p.b->listen({kB, 7});
  ASSERT_TRUE(listener);
  std::thread server([&] {
    auto conn = listener->accept(Duration::seconds(5));
    ASSERT_TRUE(conn) << conn.error().message();
    std::array<std::byte, 8192> buf{};
    while (true) {
      auto n = conn->recv(buf, Duration::seconds(5));
      ASSERT_TRUE(n) << n.error().message();
      if (*n == 0) break;
      auto sent = conn->send(std::span(buf).first(*n), Duration::seconds(5));
      ASSERT_TRUE(sent);
      ASSERT_EQ(*sent, *n);
    }
    EXPECT_FALSE(conn->close());
  });

  auto conn = p.a->connect({kB, 7}, Duration::seconds(5), SocketOptions{.nodelay = true});
  ASSERT_TRUE(conn) << conn.error().message();
  const std::string message(300'000, 'e');
  std::string echoed;
  std::thread reader([&] {
    std::array<std::byte, 8192> buf{};
    while (true) {
      auto n = conn->recv(buf, Duration::seconds(5));
      ASSERT_TRUE(n) << n.error().message();
      if (*n == 0) break;
      echoed += as_string(std::span(buf).first(*n));
    }
  });
  auto sent = conn->send(std::as_bytes(std::span(message)), Duration::seconds(5));
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, message.size());
  EXPECT_FALSE(conn->shutdown(ShutdownHow::kWrite));
  reader.join();
  server.join();
  EXPECT_EQ(echoed, message);
  EXPECT_FALSE(conn->close());
}

TEST(Blocking, ConnectIsRefusedAndTimeoutsExpire) {
  BlockingPair p;
  auto refused = p.a->connect({kB, 9}, Duration::seconds(5));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), std::errc::connection_refused);

  auto listener = p.b->listen({kB, 7});
  ASSERT_TRUE(listener);
  auto none = listener->accept(Duration::millis(20));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(), std::errc::timed_out);

  auto conn = p.a->connect({kB, 7}, Duration::seconds(5));
  ASSERT_TRUE(conn);
  std::array<std::byte, 16> buf{};
  auto nothing = conn->recv(buf, Duration::millis(20));
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error(), std::errc::timed_out);
}

TEST(Blocking, AbortiveCloseWakesABlockedReaderWithReset) {
  BlockingPair p;
  auto listener = p.b->listen({kB, 7});
  ASSERT_TRUE(listener);
  auto client = p.a->connect({kB, 7}, Duration::seconds(5), SocketOptions{.linger = Duration()});
  ASSERT_TRUE(client);
  auto server = listener->accept(Duration::seconds(5));
  ASSERT_TRUE(server);
  std::error_code got;
  std::thread reader([&] {
    std::array<std::byte, 16> buf{};
    auto n = server->recv(buf, Duration::seconds(5));
    if (!n) got = n.error();
  });
  EXPECT_FALSE(client->close());  // LINGER 0: RST
  reader.join();
  EXPECT_EQ(got, std::errc::connection_reset);
}

TEST(Blocking, LingeringCloseWaitsForTheFinToBeAcknowledged) {
  BlockingPair p;
  auto listener = p.b->listen({kB, 7});
  ASSERT_TRUE(listener);
  auto client =
      p.a->connect({kB, 7}, Duration::seconds(5), SocketOptions{.linger = Duration::seconds(5)});
  ASSERT_TRUE(client);
  auto server = listener->accept(Duration::seconds(5));
  ASSERT_TRUE(server);
  const std::string data(50'000, 'l');
  ASSERT_TRUE(client->send(std::as_bytes(std::span(data)), Duration::seconds(5)));
  EXPECT_FALSE(client->close());
  // close() returned after the peer acknowledged the data and the FIN: it is all there.
  size_t total = 0;
  std::array<std::byte, 8192> buf{};
  while (true) {
    auto n = server->recv(buf, Duration::seconds(5));
    ASSERT_TRUE(n);
    if (*n == 0) break;
    total += *n;
  }
  EXPECT_EQ(total, data.size());
}

TEST(Blocking, StopCancelsBlockedCalls) {
  BlockingPair p;
  auto listener = p.b->listen({kB, 7});
  ASSERT_TRUE(listener);
  std::error_code got;
  std::thread waiter([&] {
    auto c = listener->accept();  // no timeout: only stop() ends it
    if (!c) got = c.error();
  });
  p.b->stop();
  waiter.join();
  EXPECT_EQ(got, std::errc::operation_canceled);
}

}  // namespace
}  // namespace synack::api
