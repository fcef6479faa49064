// Two stacks joined back to back (no device, no impairment): the whole path from connect()
// through demux, listener, accept queue and close, with the stack's counters.
#include <gtest/gtest.h>

#include <string>

#include "synack/stack/stack.hpp"

namespace synack::stack {
namespace {

using wire::Ipv4Address;

struct Pair {
  Stack a;
  Stack b;
  Instant now = Instant::from_micros(1'000'000);
  int packets = 0;

  explicit Pair(StackConfig cfg = config()) : a(with_seed(cfg, 1)), b(with_seed(cfg, 2)) {
    a.add_address(Ipv4Address::from_octets(10, 0, 0, 1));
    b.add_address(Ipv4Address::from_octets(10, 0, 0, 2));
  }
  static StackConfig config() {
    StackConfig c;
    c.tcp.send_buffer = c.tcp.receive_buffer = 64 * 1024;
    return c;
  }
  static StackConfig with_seed(StackConfig c, uint64_t seed) {
    c.secret_seed = seed;
    return c;
  }

  // Moves packets both ways (zero latency) and fires timers until nothing is left to do
  // before `until`.
  void run(Duration for_how_long = Duration::millis(1)) {
    const Instant until = now + for_how_long;
    for (int guard = 0; guard < 1'000'000; ++guard) {
      bool moved = false;
      while (auto p = a.poll_transmit(now)) {
        const std::vector<std::byte> copy(p->begin(), p->end());
        b.receive(copy, now);
        moved = true;
        ++packets;
      }
      while (auto p = b.poll_transmit(now)) {
        const std::vector<std::byte> copy(p->begin(), p->end());
        a.receive(copy, now);
        moved = true;
        ++packets;
      }
      if (moved) continue;
      auto da = a.next_deadline();
      auto db = b.next_deadline();
      std::optional<Instant> next = da;
      if (db && (!next || *db < *next)) next = db;
      if (!next || *next > until) break;
      now = std::max(now, *next);
      a.on_timeout(now);
      b.on_timeout(now);
    }
    now = std::max(now, until);
  }
};

TEST(StackSmoke, ConnectAcceptTransferClose) {
  Pair p;
  auto lid = p.b.listen(tcp::Endpoint{Ipv4Address(), 80}, 16);
  ASSERT_TRUE(lid.has_value());
  auto cid = p.a.connect(tcp::Endpoint{Ipv4Address::from_octets(10, 0, 0, 2), 80}, p.now);
  ASSERT_TRUE(cid.has_value());
  p.run();
  EXPECT_EQ(p.a.connection(*cid)->state(), tcp::State::kEstablished);
  auto sid = p.b.accept(*lid);
  ASSERT_TRUE(sid.has_value());
  EXPECT_EQ(p.b.counters().TcpPassiveOpens, 1u);
  EXPECT_EQ(p.a.counters().TcpActiveOpens, 1u);
  EXPECT_EQ(p.b.counters().TcpCurrEstab, 1u);

  const std::string msg = "hello, synack";
  ASSERT_TRUE(p.a.send(*cid, std::as_bytes(std::span(msg.data(), msg.size())), p.now));
  p.run(Duration::millis(100));
  std::string got(100, '\0');
  got.resize(p.b.recv(*sid, std::as_writable_bytes(std::span(got.data(), got.size())), p.now));
  EXPECT_EQ(got, msg);

  EXPECT_FALSE(p.a.close(*cid, p.now));
  p.run(Duration::millis(100));
  EXPECT_EQ(p.b.connection(*sid)->state(), tcp::State::kCloseWait);
  EXPECT_FALSE(p.b.close(*sid, p.now));
  p.run(Duration::millis(100));
  EXPECT_EQ(p.a.connection(*cid)->state(), tcp::State::kTimeWait);
  p.b.release(*sid);
  EXPECT_EQ(p.b.connection_count(), 0u);
  p.run(Duration::seconds(61));
  EXPECT_EQ(p.a.connection(*cid)->state(), tcp::State::kClosed);
  p.a.release(*cid);
  EXPECT_EQ(p.a.connection_count(), 0u);
  EXPECT_EQ(p.a.connection(*cid), nullptr);
}

TEST(StackSmoke, ClosedPortAnswersRst) {
  Pair p;
  auto cid = p.a.connect(tcp::Endpoint{Ipv4Address::from_octets(10, 0, 0, 2), 81}, p.now);
  ASSERT_TRUE(cid.has_value());
  p.run();
  EXPECT_EQ(p.a.connection(*cid)->error(), std::errc::connection_refused);
  EXPECT_EQ(p.b.counters().TcpOutRsts, 1u);
  EXPECT_EQ(p.a.counters().TcpAttemptFails, 1u);
}

TEST(StackSmoke, SynCookiesCarryTheHandshake) {
  StackConfig cfg = Pair::config();
  cfg.syncookies = SynCookieMode::kOn;
  Pair p(cfg);
  auto lid = p.b.listen(tcp::Endpoint{Ipv4Address(), 80}, 16);
  auto cid = p.a.connect(tcp::Endpoint{Ipv4Address::from_octets(10, 0, 0, 2), 80}, p.now);
  p.run();
  EXPECT_EQ(p.b.counters().TcpExtSyncookiesSent, 1u);
  EXPECT_EQ(p.b.counters().TcpExtSyncookiesRecv, 1u);
  auto sid = p.b.accept(*lid);
  ASSERT_TRUE(sid.has_value());
  EXPECT_EQ(p.b.connection(*sid)->state(), tcp::State::kEstablished);
  const std::string msg(100'000, 'x');
  size_t sent = 0;
  std::string got;
  for (int i = 0; i < 1000 && got.size() < msg.size(); ++i) {
    if (sent < msg.size()) {
      auto n =
          p.a.send(*cid, std::as_bytes(std::span(msg.data() + sent, msg.size() - sent)), p.now);
      if (n) sent += *n;
    }
    p.run(Duration::millis(10));
    std::string buf(65536, '\0');
    buf.resize(p.b.recv(*sid, std::as_writable_bytes(std::span(buf.data(), buf.size())), p.now));
    got += buf;
  }
  EXPECT_EQ(got, msg);
}

}  // namespace
}  // namespace synack::stack

namespace synack::stack {
namespace {

TEST(StackSmoke, FormatTableListsListenersAndConnectionsLikeSs) {
  Pair p;
  ASSERT_TRUE(p.b.listen(tcp::Endpoint{Ipv4Address(), 80}, 16).has_value());
  auto cid = p.a.connect(tcp::Endpoint{Ipv4Address::from_octets(10, 0, 0, 2), 80}, p.now);
  ASSERT_TRUE(cid.has_value());
  p.run(Duration::millis(1));
  const std::string server = p.b.format_table();
  const std::string client = p.a.format_table();
  EXPECT_EQ(
      server.substr(0, server.find('\n')),
      "State      Recv-Q Send-Q  Local Address:Port    Peer Address:Port      rtt(ms)  retrans");
  // The listener holds the accepted-but-not-yet-accept()ed connection in its Recv-Q.
  EXPECT_NE(server.find("LISTEN          1     16  *:80"), std::string::npos) << server;
  EXPECT_NE(server.find("ESTAB           0      0  10.0.0.2:80           10.0.0.1:"),
            std::string::npos)
      << server;
  EXPECT_NE(client.find("ESTAB           0      0  10.0.0.1:"), std::string::npos) << client;
  EXPECT_NE(client.find("10.0.0.2:80"), std::string::npos) << client;
}

}  // namespace
}  // namespace synack::stack
