// MemLink: two ends joined by two ImpairedQueues, driven in virtual time by a loop that
// jumps to the next deadline, as the simulator does.
#include "synack/dev/mem_link.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace synack::dev {
namespace {

using Packet = std::vector<std::byte>;

Instant at_ms(int64_t ms) {
  return Instant::from_micros(ms * 1000);
}

Packet make_packet(uint32_t id, size_t size = 100) {
  Packet p(std::max<size_t>(size, 4));
  wire::store_be32(p.data(), id);
  for (size_t i = 4; i < p.size(); ++i)
    p[i] = static_cast<std::byte>(id + i);
  return p;
}

uint32_t id_of(wire::Bytes p) {
  return wire::load_be32(p.data());
}

struct Arrival {
  uint32_t id;
  Instant at;
  bool operator==(const Arrival&) const = default;
};

TEST(MemLink, DeliversFromAToBAfterTheLatency) {
  MemLink link({.latency = Duration::millis(10)});
  const Packet p = make_packet(7);
  link.a().send(p, at_ms(1));
  EXPECT_FALSE(link.a().next_deadline().has_value());  // nothing is coming to A
  ASSERT_TRUE(link.b().next_deadline().has_value());
  EXPECT_EQ(*link.b().next_deadline(), at_ms(11));
  EXPECT_EQ(*link.next_deadline(), at_ms(11));

  int calls = 0;
  link.a().poll(at_ms(100), [&](wire::Bytes) { ++calls; });
  link.b().poll(at_ms(11) - Duration::micros(1), [&](wire::Bytes) { ++calls; });
  EXPECT_EQ(calls, 0);
  link.b().poll(at_ms(11), [&](wire::Bytes got, Instant arrival) {
    ++calls;
    EXPECT_TRUE(std::equal(got.begin(), got.end(), p.begin(), p.end()));
    EXPECT_EQ(arrival, at_ms(11));
  });
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(link.next_deadline().has_value());
  EXPECT_EQ(link.a().outbound().counters().delivered, 1u);
  EXPECT_EQ(&link.a().outbound(), &link.a_to_b());
  EXPECT_EQ(&link.b().inbound(), &link.a_to_b());
  EXPECT_EQ(&link.b().outbound(), &link.b_to_a());
}

TEST(MemLink, BothDirectionsAtOnce) {
  MemLink link({.latency = Duration::millis(5)});
  link.a().send(make_packet(1), at_ms(0));
  link.b().send(make_packet(2), at_ms(2));
  EXPECT_EQ(*link.next_deadline(), at_ms(5));
  EXPECT_EQ(*link.a().next_deadline(), at_ms(7));
  std::vector<uint32_t> at_a, at_b;
  link.a().poll(at_ms(10), [&](wire::Bytes p) { at_a.push_back(id_of(p)); });
  link.b().poll(at_ms(10), [&](wire::Bytes p) { at_b.push_back(id_of(p)); });
  EXPECT_EQ(at_a, std::vector<uint32_t>{2});
  EXPECT_EQ(at_b, std::vector<uint32_t>{1});
}

TEST(MemLink, EachDirectionHasItsOwnImpairments) {
  MemLink link({.latency = Duration::millis(5), .rate_bps = 12'000'000, .mtu = 1500},
               {.latency = Duration::millis(20), .mtu = 576});
  EXPECT_EQ(link.a().mtu(), 1500u);
  EXPECT_EQ(link.b().mtu(), 576u);
  link.a().send(make_packet(1, 1500), at_ms(0));
  link.b().send(make_packet(2, 1500), at_ms(0));  // over B's MTU
  link.b().send(make_packet(3, 576), at_ms(0));
  EXPECT_EQ(*link.b().next_deadline(), at_ms(6));  // 1 ms serialization + 5 ms
  EXPECT_EQ(*link.a().next_deadline(), at_ms(20));
  EXPECT_EQ(link.b_to_a().counters().dropped_mtu, 1u);
  EXPECT_EQ(link.a_to_b().counters().dropped_mtu, 0u);
}

TEST(MemLink, DirectionsAreIndependentButDeterministic) {
  const Impairments imp{.loss = 0.5, .seed = 42};
  MemLink link(imp);
  ImpairedQueue alone0(imp, 0);
  ImpairedQueue alone1(imp, 1);
  std::vector<uint32_t> a_to_b, b_to_a, q0, q1;
  for (uint32_t i = 0; i < 500; ++i) {
    link.a().send(make_packet(i), at_ms(0));
    link.b().send(make_packet(i), at_ms(0));
    alone0.push(make_packet(i), at_ms(0));
    alone1.push(make_packet(i), at_ms(0));
  }
  link.b().poll(at_ms(0), [&](wire::Bytes p) { a_to_b.push_back(id_of(p)); });
  link.a().poll(at_ms(0), [&](wire::Bytes p) { b_to_a.push_back(id_of(p)); });
  alone0.pop_due(at_ms(0), [&](wire::Bytes p) { q0.push_back(id_of(p)); });
  alone1.pop_due(at_ms(0), [&](wire::Bytes p) { q1.push_back(id_of(p)); });
  EXPECT_NE(a_to_b, b_to_a);  // same impairments and seed, different losses
  EXPECT_EQ(a_to_b, q0);
  EXPECT_EQ(b_to_a, q1);
  // Separate impairments with equal seeds are independent too.
  MemLink two(imp, imp);
  std::vector<uint32_t> two_ab, two_ba;
  for (uint32_t i = 0; i < 500; ++i) {
    two.a().send(make_packet(i), at_ms(0));
    two.b().send(make_packet(i), at_ms(0));
  }
  two.b().poll(at_ms(0), [&](wire::Bytes p) { two_ab.push_back(id_of(p)); });
  two.a().poll(at_ms(0), [&](wire::Bytes p) { two_ba.push_back(id_of(p)); });
  EXPECT_EQ(two_ab, a_to_b);
  EXPECT_EQ(two_ba, b_to_a);
}

// A ping-pong driver: A sends `pings` packets 1 ms apart, B echoes each one; virtual time
// jumps to the next arrival or the next scheduled ping. Returns the echoes A received.
std::vector<Arrival> ping_pong(const Impairments& imp, uint32_t pings) {
  MemLink link(imp);
  std::vector<Arrival> echoes;
  Instant now;
  uint32_t sent = 0;
  while (true) {
    if (sent < pings && now >= at_ms(sent)) {
      link.a().send(make_packet(sent, 200), now);
      ++sent;
    }
    link.b().poll(now, [&](wire::Bytes p, Instant arrival) { link.b().send(p, arrival); });
    link.a().poll(now, [&](wire::Bytes p, Instant arrival) {
      echoes.push_back({id_of(p), arrival});
    });
    std::optional<Instant> next = link.next_deadline();
    if (sent < pings && (!next || at_ms(sent) < *next)) next = at_ms(sent);
    if (!next) break;
    now = *next;
  }
  return echoes;
}

TEST(MemLink, PingPongRoundTripIsTwiceTheOneWayDelay) {
  // 200 bytes at 1.6 Mbit/s: 1 ms serialization each way; 10 ms latency each way.
  const auto echoes = ping_pong({.latency = Duration::millis(10), .rate_bps = 1'600'000}, 50);
  ASSERT_EQ(echoes.size(), 50u);
  for (uint32_t i = 0; i < 50; ++i) {
    EXPECT_EQ(echoes[i].id, i);
    EXPECT_EQ(echoes[i].at, at_ms(i + 22));
  }
}

TEST(MemLink, SameSeedSameRun) {
  const auto imp = [](uint64_t seed) {
    return Impairments{.latency = Duration::millis(10),
                       .rate_bps = 10'000'000,
                       .loss = 0.1,
                       .duplicate = 0.1,
                       .reorder = 0.2,
                       .seed = seed};
  };
  const auto first = ping_pong(imp(5), 1000);
  EXPECT_EQ(first, ping_pong(imp(5), 1000));
  EXPECT_NE(first, ping_pong(imp(6), 1000));
  EXPECT_GT(first.size(), 700u);
}

TEST(MemLink, SendTakingTheBuffer) {
  MemLink link({});
  Packet p = make_packet(3, 1000);
  const Packet copy = p;
  link.b().send(std::move(p), at_ms(0));
  int calls = 0;
  link.a().poll(at_ms(0), [&](wire::Bytes got) {
    ++calls;
    EXPECT_TRUE(std::equal(got.begin(), got.end(), copy.begin(), copy.end()));
  });
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace synack::dev
