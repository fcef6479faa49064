// Impairments: the CLI form, and ImpairedQueue's latency, rate, MTU, loss, duplication,
// reordering and corruption, each checked exactly where it is deterministic and against
// its probability (with a bounded tolerance) where it is random. Every run is seeded.
#include "synack/dev/impairments.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <new>
#include <set>
#include <string>
#include <vector>

#include "synack/wire/ipv4.hpp"

// Counts allocations made by this thread while `counting` is set, for the test that pushing
// and delivering allocate nothing once the queue is warm. Not inlined: g++ would otherwise
// see free() meet operator new at call sites and warn of a mismatch.
namespace {
thread_local bool counting = false;
thread_local uint64_t allocations = 0;
}  // namespace

[[gnu::noinline]] void* operator new(std::size_t size) {
  if (counting) ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace synack::dev {
namespace {

using Packet = std::vector<std::byte>;

Instant at_us(int64_t us) {
  return Instant::from_micros(us);
}
Instant at_ms(int64_t ms) {
  return Instant::from_micros(ms * 1000);
}

// A packet of `size` bytes (at least 4) that starts with its id, big-endian, then a pattern.
Packet make_packet(uint32_t id, size_t size = 100) {
  Packet p(std::max<size_t>(size, 4));
  wire::store_be32(p.data(), id);
  for (size_t i = 4; i < p.size(); ++i)
    p[i] = static_cast<std::byte>(id * 31 + i);
  return p;
}

uint32_t id_of(wire::Bytes p) {
  return wire::load_be32(p.data());
}

struct Delivery {
  uint32_t id;
  Instant arrival;
  Packet bytes;
  bool operator==(const Delivery&) const = default;
};

// Everything still in flight, in delivery order.
std::vector<Delivery> drain(ImpairedQueue& q) {
  std::vector<Delivery> out;
  while (auto t = q.next_arrival()) {
    q.pop_due(*t, [&](wire::Bytes p, Instant arrival) {
      out.push_back({id_of(p), arrival, Packet(p.begin(), p.end())});
    });
  }
  return out;
}

// Pushes n packets of `size` bytes, one every `gap`, and delivers everything.
std::vector<Delivery> run(const Impairments& imp, uint32_t n, Duration gap = Duration::millis(1),
                          size_t size = 100) {
  ImpairedQueue q(imp);
  Instant now;
  std::vector<Delivery> out;
  for (uint32_t i = 0; i < n; ++i) {
    q.pop_due(now, [&](wire::Bytes p, Instant arrival) {
      out.push_back({id_of(p), arrival, Packet(p.begin(), p.end())});
    });
    q.push(make_packet(i, size), now);
    now = now + gap;
  }
  auto rest = drain(q);
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

// Packets delivered after one sent later than them: the ones overtaken.
size_t overtaken(const std::vector<Delivery>& d) {
  size_t n = 0;
  uint32_t highest = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i > 0 && d[i].id < highest) ++n;
    highest = std::max(highest, d[i].id);
  }
  return n;
}

// ------------------------------------------------------------------------- parse_impairments

TEST(ImpairmentsParse, ReadsTheCliExample) {
  auto imp = parse_impairments(
      "loss=1%,delay=10ms,rate=100mbit,dup=0.5%,reorder=1%,corrupt=0.1%,mtu=1500,seed=7");
  ASSERT_TRUE(imp.has_value()) << imp.error();
  EXPECT_DOUBLE_EQ(imp->loss, 0.01);
  EXPECT_EQ(imp->latency, Duration::millis(10));
  EXPECT_EQ(imp->rate_bps, 100'000'000u);
  EXPECT_DOUBLE_EQ(imp->duplicate, 0.005);
  EXPECT_DOUBLE_EQ(imp->reorder, 0.01);
  EXPECT_DOUBLE_EQ(imp->corrupt, 0.001);
  EXPECT_EQ(imp->mtu, 1500u);
  EXPECT_EQ(imp->seed, 7u);
}

TEST(ImpairmentsParse, ProbabilitiesArePercentagesOrFractions) {
  const std::vector<std::pair<std::string, double>> cases = {
      {"loss=5%", 0.05},    {"loss=0.05", 0.05},  {"loss=0", 0.0},  {"loss=0%", 0.0},
      {"loss=100%", 1.0},   {"loss=1", 1.0},      {"loss=.5", 0.5}, {"loss=2.5%", 0.025},
      {"loss=1e-3", 0.001}, {"loss = 3 %", 0.03},
  };
  for (const auto& [spec, want] : cases) {
    auto imp = parse_impairments(spec);
    ASSERT_TRUE(imp.has_value()) << spec << ": " << imp.error();
    EXPECT_DOUBLE_EQ(imp->loss, want) << spec;
  }
}

TEST(ImpairmentsParse, DelaysTakeUsMsOrS) {
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"delay=250us", 250},    {"delay=10ms", 10'000}, {"delay=1.5ms", 1500},
      {"delay=2s", 2'000'000}, {"delay=0.1ms", 100},   {"delay=0ms", 0},
      {"latency=3ms", 3000},   {"delay=10MS", 10'000}, {"delay=0.000001s", 1},
  };
  for (const auto& [spec, us] : cases) {
    auto imp = parse_impairments(spec);
    ASSERT_TRUE(imp.has_value()) << spec << ": " << imp.error();
    EXPECT_EQ(imp->latency, Duration::micros(us)) << spec;
  }
}

TEST(ImpairmentsParse, RatesTakeKbitMbitGbitOrBitsPerSecond) {
  const std::vector<std::pair<std::string, uint64_t>> cases = {
      {"rate=64kbit", 64'000},
      {"rate=100mbit", 100'000'000},
      {"rate=1.5gbit", 1'500'000'000},
      {"rate=1000000", 1'000'000},
      {"rate=0", 0},
      {"rate=100Mbit", 100'000'000},
      {"rate=9600bit", 9600},
      {"rate=12mbit", 12'000'000},
  };
  for (const auto& [spec, bps] : cases) {
    auto imp = parse_impairments(spec);
    ASSERT_TRUE(imp.has_value()) << spec << ": " << imp.error();
    EXPECT_EQ(imp->rate_bps, bps) << spec;
  }
}

TEST(ImpairmentsParse, MtuAndSeed) {
  auto imp = parse_impairments("mtu=576,seed=0xff");
  ASSERT_TRUE(imp.has_value()) << imp.error();
  EXPECT_EQ(imp->mtu, 576u);
  EXPECT_EQ(imp->seed, 255u);
  imp = parse_impairments("mtu=0,seed=18446744073709551615");
  ASSERT_TRUE(imp.has_value()) << imp.error();
  EXPECT_EQ(imp->mtu, 0u);
  EXPECT_EQ(imp->seed, UINT64_MAX);
  imp = parse_impairments("mtu=68");
  ASSERT_TRUE(imp.has_value()) << imp.error();
  EXPECT_EQ(imp->mtu, 68u);
}

TEST(ImpairmentsParse, ItemsNotGivenKeepTheBase) {
  const Impairments base{.latency = Duration::millis(7), .rate_bps = 5, .mtu = 9000, .seed = 3};
  auto imp = parse_impairments("", base);
  ASSERT_TRUE(imp.has_value()) << imp.error();
  EXPECT_EQ(*imp, base);
  imp = parse_impairments("  ", base);
  ASSERT_TRUE(imp.has_value()) << imp.error();
  EXPECT_EQ(*imp, base);
  imp = parse_impairments(" loss=1% , seed=9 ", base);
  ASSERT_TRUE(imp.has_value()) << imp.error();
  Impairments want = base;
  want.loss = 0.01;
  want.seed = 9;
  EXPECT_EQ(*imp, want);
  // Defaults: an ideal link with a 1500-byte MTU.
  EXPECT_EQ(*parse_impairments(""), Impairments{});
  EXPECT_EQ(Impairments{}.mtu, 1500u);
  EXPECT_EQ(Impairments{}.latency, Duration{});
}

TEST(ImpairmentsParse, RejectsBadItemsNamingThem) {
  struct Case {
    std::string spec;
    std::string item;  // quoted in the message
    std::string why;   // also in the message
  };
  const std::vector<Case> cases = {
      {"loss=150%", "loss=150%", "at most 100%"},
      {"loss=5", "loss=5", "write 5%"},
      {"loss=abc", "loss=abc", "percentage"},
      {"loss=-1%", "loss=-1%", "percentage"},
      {"loss=nan", "loss=nan", "percentage"},
      {"loss=", "loss=", "percentage"},
      {"delay=10", "delay=10", "needs a unit"},
      {"delay=10ns", "delay=10ns", "unknown unit \"ns\""},
      {"delay=0.5us", "delay=0.5us", "whole number of microseconds"},
      {"delay=2d", "delay=2d", "unknown unit"},
      {"delay=100000s", "delay=100000s", "at most 1 day"},
      {"delay=ms", "delay=ms", "number and a unit"},
      {"rate=100mbps", "rate=100mbps", "ambiguous"},
      {"rate=fast", "rate=fast", "expected a rate"},
      {"rate=10furlongs", "rate=10furlongs", "unknown unit"},
      {"rate=0.1", "rate=0.1", "at least 1 bit/s"},
      {"rate=100000000000gbit", "rate=100000000000gbit", "too large"},
      {"rate=18446744073709551616", "rate=18446744073709551616", "too large"},
      {"rate=1e3", "rate=1e3", "unknown unit \"e3\""},
      {"mtu=20", "mtu=20", "68 to 65535"},
      {"mtu=70000", "mtu=70000", "68 to 65535"},
      {"mtu=1500b", "mtu=1500b", "size in bytes"},
      {"seed=-1", "seed=-1", "unsigned 64-bit"},
      {"seed=18446744073709551616", "seed=18446744073709551616", "unsigned 64-bit"},
      {"foo=1", "foo=1", "unknown impairment"},
      {"delay=1ms,jitter=1ms", "jitter=1ms", "unknown impairment"},
      {"loss", "loss", "has no value"},
      {"loss=1%,,delay=1ms", "loss=1%,,delay=1ms", "empty impairment item"},
      {"loss=1%,", "loss=1%,", "empty impairment item"},
      {"loss=1%,loss=2%", "loss=2%", "given twice"},
      {"delay=1ms,latency=2ms", "latency=2ms", "given twice"},
  };
  for (const auto& c : cases) {
    auto imp = parse_impairments(c.spec);
    ASSERT_FALSE(imp.has_value()) << c.spec;
    EXPECT_NE(imp.error().find("\"" + c.item + "\""), std::string::npos)
        << c.spec << " -> " << imp.error();
    EXPECT_NE(imp.error().find(c.why), std::string::npos) << c.spec << " -> " << imp.error();
  }
}

TEST(ImpairmentsParse, ToStringReadsBackEqual) {
  const Impairments example{.latency = Duration::millis(10),
                            .rate_bps = 100'000'000,
                            .mtu = 1500,
                            .loss = 0.01,
                            .duplicate = 0.005,
                            .reorder = 0.01,
                            .corrupt = 0.001,
                            .seed = 7};
  EXPECT_EQ(to_string(example),
            "delay=10ms,rate=100mbit,queue=0,mtu=1500,loss=1%,dup=0.5%,reorder=1%,corrupt=0.1%,"
            "seed=7");
  EXPECT_EQ(to_string(Impairments{}),
            "delay=0us,rate=0,queue=0,mtu=1500,loss=0%,dup=0%,reorder=0%,corrupt=0%,seed=0");
  std::vector<Impairments> all = {example, Impairments{}};
  SplitMix64 rng(42);
  const auto fraction = [&] { return static_cast<double>(rng.next() >> 11) * 0x1.0p-53; };
  for (int i = 0; i < 1000; ++i) {
    all.push_back({.latency = Duration::micros(static_cast<int64_t>(rng.below(86'400'000'001))),
                   .rate_bps = rng.below(4) == 0 ? rng.next() >> 1 : rng.below(100) * 1'000'000,
                   .queue_bytes = static_cast<size_t>(rng.below(uint64_t{1} << 30)),
                   .mtu = static_cast<size_t>(68 + rng.below(65535 - 67)),
                   .loss = fraction(),
                   .duplicate = static_cast<double>(rng.below(1001)) / 1000,
                   .reorder = static_cast<double>(rng.below(10001)) / 10000,
                   .corrupt = fraction() / 1000,
                   .seed = rng.next()});
  }
  for (const auto& imp : all) {
    const std::string text = to_string(imp);
    auto back = parse_impairments(text);
    ASSERT_TRUE(back.has_value()) << text << ": " << back.error();
    EXPECT_EQ(*back, imp) << text;
  }
}

// ------------------------------------------------------------------------------ latency, rate

TEST(ImpairedQueue, LatencyIsExact) {
  ImpairedQueue q({.latency = Duration::millis(10)});
  EXPECT_FALSE(q.next_arrival().has_value());
  q.push(make_packet(1), at_ms(5));
  ASSERT_TRUE(q.next_arrival().has_value());
  EXPECT_EQ(*q.next_arrival(), at_ms(15));
  int calls = 0;
  q.pop_due(at_ms(15) - Duration::micros(1), [&](wire::Bytes) { ++calls; });
  EXPECT_EQ(calls, 0);
  q.pop_due(at_ms(15), [&](wire::Bytes p, Instant arrival) {
    ++calls;
    EXPECT_EQ(id_of(p), 1u);
    EXPECT_EQ(arrival, at_ms(15));
  });
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(q.next_arrival().has_value());
  EXPECT_EQ(q.in_flight(), 0u);
}

TEST(ImpairedQueue, AnIdealLinkDeliversEverythingAtOnceInOrderUnchanged) {
  const auto out = run({}, 1000);
  ASSERT_EQ(out.size(), 1000u);
  for (uint32_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].id, i);
    EXPECT_EQ(out[i].arrival, at_ms(i));  // sent every 1 ms, no latency
    EXPECT_EQ(out[i].bytes, make_packet(i));
  }
}

TEST(ImpairedQueue, RateSerializesPacketsBackToBack) {
  // 1500 bytes = 12000 bits; at 12 Mbit/s that is exactly 1 ms per packet.
  ImpairedQueue q({.latency = Duration::millis(5), .rate_bps = 12'000'000});
  for (uint32_t i = 0; i < 10; ++i)
    q.push(make_packet(i, 1500), at_ms(0));
  const auto out = drain(q);
  ASSERT_EQ(out.size(), 10u);
  for (uint32_t i = 0; i < 10; ++i) {
    EXPECT_EQ(out[i].id, i);
    EXPECT_EQ(out[i].arrival, at_ms(5 + 1 + i)) << i;  // latency + (i+1) serializations
  }
  // A packet sent while the link is still busy waits for it; one sent after it went idle
  // starts at once.
  q.push(make_packet(10, 1500), at_ms(100));
  q.push(make_packet(11, 750), at_us(100'200));
  q.push(make_packet(12, 1500), at_ms(200));
  const auto later = drain(q);
  ASSERT_EQ(later.size(), 3u);
  EXPECT_EQ(later[0].arrival, at_ms(106));
  EXPECT_EQ(later[1].arrival, at_us(106'500));  // behind packet 10: starts at 101 ms
  EXPECT_EQ(later[2].arrival, at_ms(206));
}

TEST(ImpairmentsParse, QueueTakesBytesOrKMG) {
  EXPECT_EQ(parse_impairments("queue=65536")->queue_bytes, 65536u);
  EXPECT_EQ(parse_impairments("queue=64K")->queue_bytes, 65536u);
  EXPECT_EQ(parse_impairments("queue=2M")->queue_bytes, size_t{2} << 20);
  EXPECT_EQ(parse_impairments("queue=0")->queue_bytes, 0u);
  EXPECT_FALSE(parse_impairments("queue=-1"));
  EXPECT_FALSE(parse_impairments("queue=10X"));
  EXPECT_FALSE(parse_impairments("queue=K"));
}

// A bounded buffer in front of the bottleneck: a burst larger than it loses its tail, and
// what fits still departs at the rate.
TEST(ImpairedQueue, BoundedQueueDropsTheTailOfABurst) {
  // 1 ms per 1500-byte packet; a buffer of 6000 bytes, counting what is still to be
  // serialized of the packet on the wire.
  ImpairedQueue q({.rate_bps = 12'000'000, .queue_bytes = 6000});
  for (uint32_t i = 0; i < 10; ++i)
    q.push(make_packet(i, 1500), at_ms(0));
  const auto out = drain(q);
  // Four fit (the 5th would find 6000 bytes waiting): the rest are dropped.
  ASSERT_EQ(out.size(), 4u);
  for (uint32_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].id, i);
    EXPECT_EQ(out[i].arrival, at_ms(1 + i));
  }
  EXPECT_EQ(q.counters().dropped_queue, 6u);
  // Once the queue drains, packets fit again.
  q.push(make_packet(20, 1500), at_ms(10));
  ASSERT_EQ(drain(q).size(), 1u);
  EXPECT_EQ(q.counters().dropped_queue, 6u);
}

TEST(ImpairedQueue, RateCarriesFractionsOfAMicrosecond) {
  // 1500 bytes at 10 Gbit/s is 1.2 us: departures at 1.2, 2.4, 3.6, 4.8, 6.0 us, floored.
  ImpairedQueue q({.rate_bps = 10'000'000'000});
  for (uint32_t i = 0; i < 1000; ++i)
    q.push(make_packet(i, 1500), at_us(0));
  const auto out = drain(q);
  ASSERT_EQ(out.size(), 1000u);
  EXPECT_EQ(out[0].arrival, at_us(1));
  EXPECT_EQ(out[1].arrival, at_us(2));
  EXPECT_EQ(out[2].arrival, at_us(3));
  EXPECT_EQ(out[3].arrival, at_us(4));
  EXPECT_EQ(out[4].arrival, at_us(6));
  EXPECT_EQ(out[999].arrival, at_us(1200));  // no drift: 1000 x 1.2 us
  // 100 bytes at 7 kbit/s take 800/7000 s = 114285.714 us; 7 of them exactly 800 ms.
  ImpairedQueue slow({.rate_bps = 7000});
  for (uint32_t i = 0; i < 7; ++i)
    slow.push(make_packet(i, 100), at_us(0));
  const auto s = drain(slow);
  ASSERT_EQ(s.size(), 7u);
  EXPECT_EQ(s[0].arrival, at_us(114'285));
  EXPECT_EQ(s[6].arrival, at_ms(800));
}

// --------------------------------------------------------------------------------------- MTU

TEST(ImpairedQueue, MtuDropsLargerPacketsWithoutUsingTheLink) {
  ImpairedQueue q({.rate_bps = 12'000'000, .mtu = 1500});
  q.push(make_packet(1, 1501), at_ms(0));
  q.push(make_packet(2, 1500), at_ms(0));
  q.push(make_packet(3, 65535), at_ms(0));
  const auto out = drain(q);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, 2u);
  EXPECT_EQ(out[0].arrival, at_ms(1));  // the dropped 1501 bytes took no link time
  EXPECT_EQ(q.counters().sent, 3u);
  EXPECT_EQ(q.counters().dropped_mtu, 2u);
  EXPECT_EQ(q.counters().delivered, 1u);
  EXPECT_EQ(q.counters().bytes_sent, 1501u + 1500u + 65535u);
  EXPECT_EQ(q.counters().bytes_delivered, 1500u);

  ImpairedQueue unlimited({.mtu = 0});
  unlimited.push(make_packet(4, 100'000), at_ms(0));
  EXPECT_EQ(drain(unlimited).size(), 1u);
  EXPECT_EQ(unlimited.counters().dropped_mtu, 0u);
}

// -------------------------------------------------------------------------------------- loss

TEST(ImpairedQueue, NoLossAtZero) {
  ImpairedQueue q({.latency = Duration::millis(1), .seed = 99});
  for (uint32_t i = 0; i < 100'000; ++i)
    q.push(make_packet(i, 40), at_us(i));
  const auto out = drain(q);
  EXPECT_EQ(out.size(), 100'000u);
  EXPECT_EQ(q.counters().lost, 0u);
}

TEST(ImpairedQueue, LossRateIsCloseToTheSetting) {
  constexpr uint32_t kPackets = 100'000;
  for (const double p : {0.001, 0.01, 0.1, 0.5}) {
    for (const uint64_t seed : {1u, 2u, 3u}) {
      ImpairedQueue q({.loss = p, .seed = seed});
      for (uint32_t i = 0; i < kPackets; ++i)
        q.push(make_packet(i, 40), at_us(i));
      const auto out = drain(q);
      const auto& c = q.counters();
      EXPECT_EQ(c.lost + c.delivered, c.sent);
      EXPECT_EQ(out.size(), c.delivered);
      // Binomial: within 5 standard deviations (a false alarm about once in 3.5 million).
      const double mean = kPackets * p;
      const double sd = std::sqrt(kPackets * p * (1 - p));
      EXPECT_NEAR(static_cast<double>(c.lost), mean, 5 * sd) << "p=" << p << " seed=" << seed;
    }
  }
  ImpairedQueue all({.loss = 1});
  for (uint32_t i = 0; i < 1000; ++i)
    all.push(make_packet(i), at_us(i));
  EXPECT_TRUE(drain(all).empty());
  EXPECT_EQ(all.counters().lost, 1000u);
}

TEST(ImpairedQueue, LostPacketsStillUseTheBottleneck) {
  // Loss happens after the bottleneck: the survivor of two back-to-back packets departs
  // second whether or not the first was lost.
  for (uint64_t seed = 0; seed < 20; ++seed) {
    ImpairedQueue q({.rate_bps = 12'000'000, .loss = 0.5, .seed = seed});
    q.push(make_packet(0, 1500), at_ms(0));
    q.push(make_packet(1, 1500), at_ms(0));
    for (const auto& d : drain(q))
      EXPECT_EQ(d.arrival, at_ms(d.id + 1));
  }
}

// ------------------------------------------------------------------------------- duplication

TEST(ImpairedQueue, DuplicationDeliversTwoIdenticalCopies) {
  ImpairedQueue q({.latency = Duration::millis(2), .duplicate = 1});
  for (uint32_t i = 0; i < 100; ++i)
    q.push(make_packet(i), at_ms(i));
  const auto out = drain(q);
  ASSERT_EQ(out.size(), 200u);
  for (uint32_t i = 0; i < 100; ++i) {
    EXPECT_EQ(out[2 * i], out[2 * i + 1]);  // same id, arrival and bytes, one after the other
    EXPECT_EQ(out[2 * i].id, i);
    EXPECT_EQ(out[2 * i].arrival, at_ms(i + 2));
  }
  EXPECT_EQ(q.counters().duplicated, 100u);
  EXPECT_EQ(q.counters().delivered, 200u);

  constexpr uint32_t kPackets = 100'000;
  const double p = 0.05;
  ImpairedQueue some({.duplicate = p, .seed = 5});
  for (uint32_t i = 0; i < kPackets; ++i)
    some.push(make_packet(i, 40), at_us(i));
  EXPECT_EQ(drain(some).size(), kPackets + some.counters().duplicated);
  EXPECT_NEAR(static_cast<double>(some.counters().duplicated), kPackets * p,
              5 * std::sqrt(kPackets * p * (1 - p)));
}

// -------------------------------------------------------------------------------- reordering

TEST(ImpairedQueue, ReorderingHoldsPacketsBackSoLaterOnesOvertake) {
  const Duration latency = Duration::millis(10);
  const auto out = run({.latency = latency, .reorder = 0.2, .seed = 11}, 10'000);
  ASSERT_EQ(out.size(), 10'000u);  // nothing lost or duplicated
  EXPECT_GT(overtaken(out), 1000u);
  size_t held = 0;
  for (const auto& d : out) {
    const Instant on_time = at_ms(d.id) + latency;
    ASSERT_GE(d.arrival, on_time);
    ASSERT_LE(d.arrival, on_time + latency * 2);  // held back by at most 2 x latency
    if (d.arrival > on_time) ++held;
  }
  EXPECT_NEAR(static_cast<double>(held), 2000, 5 * std::sqrt(10'000 * 0.2 * 0.8));
  // Delivery is in arrival order even so.
  for (size_t i = 1; i < out.size(); ++i)
    EXPECT_LE(out[i - 1].arrival, out[i].arrival);

  EXPECT_EQ(overtaken(run({.latency = latency, .reorder = 0, .seed = 11}, 10'000)), 0u);
}

TEST(ImpairedQueue, ReorderingWorksWithoutLatency) {
  // With no latency a held-back packet is late by 1 us: one sent 0 us later overtakes it.
  ImpairedQueue q({.reorder = 1});
  q.push(make_packet(0), at_us(0));
  const auto out = run({.reorder = 0.5, .seed = 3}, 1000, Duration{});
  EXPECT_GT(overtaken(out), 100u);
  EXPECT_EQ(*q.next_arrival(), at_us(1));
  EXPECT_EQ(q.counters().reordered, 1u);
}

// -------------------------------------------------------------------------------- corruption

TEST(ImpairedQueue, CorruptionFlipsExactlyOneBit) {
  // Sizes 4 to 1450 bytes, and every other packet 4 bytes (to see all 32 bits flip).
  const auto size_of = [](size_t k) { return k % 2 == 0 ? 4 : 4 + k % 64 * 23; };
  ImpairedQueue q({.corrupt = 1, .seed = 8});
  for (uint32_t i = 0; i < 2000; ++i)
    q.push(make_packet(i, size_of(i)), at_us(i));
  std::set<size_t> bits_hit_in_small;
  const auto out = drain(q);
  ASSERT_EQ(out.size(), 2000u);
  for (size_t k = 0; k < out.size(); ++k) {
    const Packet want = make_packet(static_cast<uint32_t>(k), size_of(k));
    const Packet& got = out[k].bytes;
    ASSERT_EQ(got.size(), want.size());
    int flipped = 0;
    size_t where = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const auto diff = static_cast<unsigned>(got[i] ^ want[i]);
      flipped += std::popcount(diff);
      if (diff != 0) where = i * 8 + static_cast<size_t>(std::countr_zero(diff));
    }
    EXPECT_EQ(flipped, 1) << k;
    if (want.size() == 4) bits_hit_in_small.insert(where);
  }
  EXPECT_EQ(q.counters().corrupted, 2000u);
  EXPECT_EQ(bits_hit_in_small.size(), 32u);  // any bit can flip

  ImpairedQueue clean({.seed = 8});
  for (uint32_t i = 0; i < 100; ++i)
    clean.push(make_packet(i, 200), at_us(i));
  for (const auto& d : drain(clean))
    EXPECT_EQ(d.bytes, make_packet(d.id, 200));
  EXPECT_EQ(clean.counters().corrupted, 0u);
}

TEST(ImpairedQueue, ACorruptedIpv4HeaderFailsTheReceiversCheck) {
  wire::Ipv4Repr ip{.src = wire::Ipv4Address::from_octets(10, 0, 0, 1),
                    .dst = wire::Ipv4Address::from_octets(10, 0, 0, 2),
                    .protocol = wire::ip_protocol::kUdp};
  Packet header(wire::Ipv4Repr::header_len());
  ip.emit(header);
  ASSERT_TRUE(wire::Ipv4View::parse(header).has_value());
  ImpairedQueue q({.corrupt = 1, .seed = 4});
  for (int i = 0; i < 500; ++i)
    q.push(wire::Bytes(header), at_us(i));
  int delivered = 0;
  q.pop_due(at_us(1000), [&](wire::Bytes p) {
    ++delivered;
    EXPECT_FALSE(wire::Ipv4View::parse(p).has_value());  // every single-bit error is caught
  });
  EXPECT_EQ(delivered, 500);
}

// ------------------------------------------------------------------ order and determinism

TEST(ImpairedQueue, TiesAreDeliveredInSendOrder) {
  ImpairedQueue q({.latency = Duration::millis(3)});
  for (uint32_t i = 0; i < 1000; ++i)
    q.push(make_packet(i), at_ms(0));
  const auto out = drain(q);
  ASSERT_EQ(out.size(), 1000u);
  for (uint32_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(out[i].id, i);
    EXPECT_EQ(out[i].arrival, at_ms(3));
  }
}

Impairments everything(uint64_t seed) {
  return {.latency = Duration::millis(10),
          .rate_bps = 50'000'000,
          .mtu = 1400,
          .loss = 0.05,
          .duplicate = 0.05,
          .reorder = 0.1,
          .corrupt = 0.05,
          .seed = seed};
}

std::vector<Delivery> run_everything(uint64_t seed, QueueCounters* counters = nullptr) {
  ImpairedQueue q(everything(seed));
  SplitMix64 sizes(1234);
  std::vector<Delivery> out;
  Instant now;
  for (uint32_t i = 0; i < 5000; ++i) {
    q.push(make_packet(i, 40 + sizes.below(1420)), now);
    now = now + Duration::micros(static_cast<int64_t>(sizes.below(400)));
    q.pop_due(now, [&](wire::Bytes p, Instant arrival) {
      out.push_back({id_of(p), arrival, Packet(p.begin(), p.end())});
    });
  }
  auto rest = drain(q);
  out.insert(out.end(), rest.begin(), rest.end());
  if (counters != nullptr) *counters = q.counters();
  return out;
}

TEST(ImpairedQueue, SameSeedSameOutcome) {
  QueueCounters c1, c2, c3;
  const auto first = run_everything(77, &c1);
  const auto second = run_everything(77, &c2);
  const auto other = run_everything(78, &c3);
  EXPECT_EQ(first, second);
  EXPECT_EQ(c1, c2);
  EXPECT_NE(first, other);
  // Every impairment did something, and the books balance.
  for (const auto& c : {c1, c3}) {
    EXPECT_GT(c.lost, 0u);
    EXPECT_GT(c.duplicated, 0u);
    EXPECT_GT(c.reordered, 0u);
    EXPECT_GT(c.corrupted, 0u);
    EXPECT_GT(c.dropped_mtu, 0u);
    EXPECT_EQ(c.sent + c.duplicated, c.delivered + c.lost + c.dropped_mtu);
  }
  EXPECT_EQ(first.size(), c1.delivered);
}

TEST(ImpairedQueue, EachImpairmentDrawsFromItsOwnStream) {
  // Which packets are lost depends on the seed and the loss setting only.
  const auto lost_ids = [](const Impairments& imp) {
    std::set<uint32_t> ids;
    for (uint32_t i = 0; i < 2000; ++i)
      ids.insert(i);
    for (const auto& d : run(imp, 2000))
      ids.erase(d.id);
    return ids;
  };
  const auto alone = lost_ids({.latency = Duration::millis(5), .loss = 0.1, .seed = 21});
  EXPECT_FALSE(alone.empty());
  EXPECT_EQ(alone, lost_ids({.latency = Duration::millis(5),
                             .loss = 0.1,
                             .duplicate = 0.3,
                             .reorder = 0.3,
                             .seed = 21}));
  EXPECT_NE(alone, lost_ids({.latency = Duration::millis(5), .loss = 0.1, .seed = 22}));
  // A queue built for stream 1 draws differently from stream 0.
  ImpairedQueue s0({.loss = 0.5, .seed = 21}, 0);
  ImpairedQueue s1({.loss = 0.5, .seed = 21}, 1);
  std::vector<uint32_t> got0, got1;
  for (uint32_t i = 0; i < 200; ++i) {
    s0.push(make_packet(i), at_us(0));
    s1.push(make_packet(i), at_us(0));
  }
  for (const auto& d : drain(s0))
    got0.push_back(d.id);
  for (const auto& d : drain(s1))
    got1.push_back(d.id);
  EXPECT_NE(got0, got1);
}

TEST(ImpairedQueue, HundredThousandInFlight) {
  constexpr uint32_t kPackets = 100'000;
  ImpairedQueue q({.latency = Duration::millis(50), .reorder = 0.3, .seed = 6});
  for (uint32_t i = 0; i < kPackets; ++i)
    q.push(make_packet(i, 64), at_us(i / 4));
  EXPECT_EQ(q.in_flight(), kPackets);
  Instant last;
  uint32_t count = 0;
  std::vector<bool> seen(kPackets);
  // Step through time in 1 ms ticks as a simulator would.
  for (Instant now = at_ms(0); q.in_flight() > 0; now = now + Duration::millis(1)) {
    q.pop_due(now, [&](wire::Bytes p, Instant arrival) {
      ASSERT_GE(arrival, last);
      ASSERT_LE(arrival, now);
      last = arrival;
      const uint32_t id = id_of(p);
      ASSERT_FALSE(seen[id]);
      seen[id] = true;
      ++count;
    });
  }
  EXPECT_EQ(count, kPackets);
}

// ------------------------------------------------------------------------------ the callback

TEST(ImpairedQueue, DeliverMayPushOntoTheSameQueue) {
  // A reflector: each delivery of packet n < 50 sends packet n + 1. With no latency the
  // whole chain is due at once and arrives in one call.
  ImpairedQueue q({});
  q.push(make_packet(0), at_ms(1));
  std::vector<uint32_t> ids;
  q.pop_due(at_ms(1), [&](wire::Bytes p, Instant now) {
    ids.push_back(id_of(p));
    if (id_of(p) < 50) q.push(make_packet(id_of(p) + 1, 100 + id_of(p)), now);
    EXPECT_EQ(p.size(), id_of(p) == 0 ? 100u : 99u + id_of(p));
  });
  ASSERT_EQ(ids.size(), 51u);
  for (uint32_t i = 0; i <= 50; ++i)
    EXPECT_EQ(ids[i], i);
  // With latency, what the callback pushes waits for its time.
  ImpairedQueue slow({.latency = Duration::millis(1)});
  slow.push(make_packet(0), at_ms(0));
  int calls = 0;
  slow.pop_due(at_ms(1), [&](wire::Bytes p, Instant now) {
    ++calls;
    slow.push(make_packet(id_of(p) + 1), now);
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(*slow.next_arrival(), at_ms(2));
}

TEST(ImpairedQueue, PushTakingTheBufferDeliversTheSameBytes) {
  ImpairedQueue q({.latency = Duration::millis(1), .duplicate = 1});
  Packet p = make_packet(9, 1000);
  const Packet copy = p;
  q.push(std::move(p), at_ms(0));
  const auto out = drain(q);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].bytes, copy);
  EXPECT_EQ(out[1].bytes, copy);
}

TEST(ImpairedQueue, WarmQueueAllocatesNothing) {
  ImpairedQueue q({.latency = Duration::millis(10),
                   .rate_bps = 1'000'000'000,
                   .loss = 0.05,
                   .duplicate = 0.1,
                   .reorder = 0.1,
                   .corrupt = 0.1,
                   .seed = 2});
  // Warm up with a burst bigger than anything in flight later.
  for (uint32_t i = 0; i < 2000; ++i)
    q.push(make_packet(i, 1500), at_us(0));
  (void)drain(q);
  const Packet big = make_packet(1, 1500);
  uint64_t delivered = 0;
  const auto count = [&](wire::Bytes p) { delivered += p.empty() ? 0u : 1u; };
  Instant now = at_ms(100);
  counting = true;
  allocations = 0;
  for (uint32_t i = 0; i < 20'000; ++i) {
    q.push(wire::Bytes(big).first(40 + i % 1460), now);
    now = now + Duration::micros(100);
    q.pop_due(now, count);
  }
  counting = false;
  EXPECT_EQ(allocations, 0u);
  EXPECT_GT(delivered, 18'000u);
}

}  // namespace
}  // namespace synack::dev
