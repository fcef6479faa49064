#include "synack/tcp/isn.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "synack/tcp/four_tuple.hpp"

namespace synack::tcp {
namespace {

using wire::Ipv4Address;
using wire::SeqLen;
using wire::SeqNum;

constexpr IsnGenerator::Key kSequentialKey = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

constexpr FourTuple tuple(Ipv4Address local, uint16_t lport, Ipv4Address remote, uint16_t rport) {
  return FourTuple{Endpoint{local, lport}, Endpoint{remote, rport}};
}

const FourTuple kClient =
    tuple(Ipv4Address::from_octets(10, 0, 0, 1), 41631, Ipv4Address::from_octets(10, 0, 0, 2), 80);

Instant at_us(int64_t us) {
  return Instant::from_micros(us);
}

// ---- FourTuple / Endpoint ----

TEST(FourTuple, ToStringIsAddressColonPort) {
  EXPECT_EQ(kClient.local.to_string(), "10.0.0.1:41631");
  EXPECT_EQ(kClient.to_string(), "10.0.0.1:41631 -> 10.0.0.2:80");
  EXPECT_EQ(FourTuple{}.to_string(), "0.0.0.0:0 -> 0.0.0.0:0");
}

TEST(FourTuple, EqualityAndReversal) {
  FourTuple other = kClient;
  EXPECT_EQ(other, kClient);
  other.remote.port = 81;
  EXPECT_NE(other, kClient);
  const FourTuple server_view = kClient.reversed();
  EXPECT_EQ(server_view.local, kClient.remote);
  EXPECT_EQ(server_view.remote, kClient.local);
  EXPECT_NE(server_view, kClient);
  EXPECT_EQ(server_view.reversed(), kClient);
}

TEST(FourTuple, HashSeparatesDirectionsAndFields) {
  const std::hash<FourTuple> h;
  EXPECT_NE(h(kClient), h(kClient.reversed()));
  FourTuple t = kClient;
  t.local.port = kClient.remote.port;
  t.remote.port = kClient.local.port;  // ports swapped, addresses not
  EXPECT_NE(h(kClient), h(t));
}

TEST(FourTuple, HashHasNoCollisionsOverAllRemotePorts) {
  // A peer choosing its source ports: fixed addresses and local port, all 65536 ports.
  const std::hash<FourTuple> h;
  std::unordered_set<size_t> seen;
  FourTuple t = kClient;
  for (uint32_t port = 0; port <= 0xffff; ++port) {
    t.remote.port = static_cast<uint16_t>(port);
    seen.insert(h(t));
  }
  EXPECT_EQ(seen.size(), 65536u);
}

// Largest bucket for `n` hashes spread over `buckets` by `bucket_of`.
template <class F>
size_t largest_bucket(const std::vector<size_t>& hashes, size_t buckets, F bucket_of) {
  std::vector<size_t> counts(buckets);
  for (size_t hv : hashes)
    ++counts[bucket_of(hv)];
  return *std::max_element(counts.begin(), counts.end());
}

TEST(FourTuple, HashSpreadsSequentialAndStridedPortsOverBuckets) {
  // 65536 sequential ports into 1024 buckets: 64 per bucket on average. A weak hash (say
  // XOR of the fields) would leave whole buckets empty and others full; demand no bucket
  // past twice the mean, both for power-of-two tables (low bits) and prime-sized ones
  // (libstdc++'s unordered_map).
  const std::hash<FourTuple> h;
  std::vector<size_t> sequential;
  std::vector<size_t> strided;
  FourTuple t = kClient;
  for (uint32_t port = 0; port <= 0xffff; ++port) {
    t.remote.port = static_cast<uint16_t>(port);
    sequential.push_back(h(t));
    // 1024 remote /24s, 64 ports each with a stride of 1024: low bits shared everywhere.
    t.remote.addr = Ipv4Address((10u << 24) | ((port >> 6) << 8));
    t.remote.port = static_cast<uint16_t>((port & 63) * 1024);
    strided.push_back(h(t));
    t = kClient;
  }
  for (const auto* hashes : {&sequential, &strided}) {
    EXPECT_LE(largest_bucket(*hashes, 1024, [](size_t hv) { return hv & 1023; }), 128u);
    EXPECT_LE(largest_bucket(*hashes, 1021, [](size_t hv) { return hv % 1021; }), 128u);
    EXPECT_LE(largest_bucket(*hashes, 1024, [](size_t hv) { return hv >> 54; }), 128u);
  }
}

TEST(FourTuple, WorksAsUnorderedKey) {
  std::unordered_set<FourTuple> table;
  table.insert(kClient);
  table.insert(kClient.reversed());
  table.insert(kClient);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_TRUE(table.contains(kClient.reversed()));

  std::unordered_set<Endpoint> endpoints{kClient.local, kClient.remote, kClient.local};
  EXPECT_EQ(endpoints.size(), 2u);
}

// ---- IsnGenerator ----

TEST(Isn, KeyIsSixteenBytes) {
  static_assert(IsnGenerator::kKeySize == 16);
  static_assert(sizeof(IsnGenerator::Key) == 16);
  static_assert(std::is_same_v<IsnGenerator::Key::value_type, uint8_t>);
}

// Known answers from an independent SipHash-2-4 (a Python transcription of the SipHash
// paper's reference code, which reproduces the paper's test vector a129ca6149be45e5 for key
// 00..0f, message 00..0e). They pin the serialization: local address, local port, remote
// address, remote port, big-endian; output read little-endian and truncated to 32 bits.
TEST(Isn, KeyedHashMatchesSipHash24ReferenceVectors) {
  // Key 00..0f, message 00..0b: SipHash-2-4 = 0x751e8fbc860ee5fb (the paper's vector for
  // a 12-byte message).
  const IsnGenerator sequential(kSequentialKey);
  const FourTuple bytes_0_to_11 = tuple(Ipv4Address::from_octets(0, 1, 2, 3), 0x0405,
                                        Ipv4Address::from_octets(6, 7, 8, 9), 0x0a0b);
  EXPECT_EQ(sequential.keyed_hash(bytes_0_to_11), 0x860ee5fbu);

  // Key 5a x 16, 192.168.1.10:8080 -> 10.0.0.1:50000: SipHash-2-4 = 0x42b2f106244bcd4f.
  IsnGenerator::Key key;
  key.fill(0x5a);
  const IsnGenerator g(key);
  const FourTuple t = tuple(Ipv4Address::from_octets(192, 168, 1, 10), 8080,
                            Ipv4Address::from_octets(10, 0, 0, 1), 50000);
  EXPECT_EQ(g.keyed_hash(t), 0x244bcd4fu);
}

TEST(Isn, IsTimerPlusKeyedHash) {
  // RFC 6528 §3: ISN = M + F, M = microseconds / 4.
  const IsnGenerator g(kSequentialKey);
  const FourTuple t = tuple(Ipv4Address::from_octets(0, 1, 2, 3), 0x0405,
                            Ipv4Address::from_octets(6, 7, 8, 9), 0x0a0b);
  EXPECT_EQ(g.isn(t, at_us(0)), SeqNum(0x860ee5fbu));
  EXPECT_EQ(g.isn(t, at_us(4'000)), SeqNum(0x860ee5fbu + 1'000));
  // M + F wraps modulo 2^32: 0x860ee5fb + 0x80000000 = 0x060ee5fb.
  EXPECT_EQ(g.isn(t, at_us(int64_t{0x80000000} * 4)), SeqNum(0x060ee5fbu));
}

TEST(Isn, TimerIsFourMicrosecondTicksModulo2To32) {
  EXPECT_EQ(IsnGenerator::timer(at_us(0)), 0u);
  EXPECT_EQ(IsnGenerator::timer(at_us(3)), 0u);
  EXPECT_EQ(IsnGenerator::timer(at_us(4)), 1u);
  EXPECT_EQ(IsnGenerator::timer(at_us(1'000'000)), 250'000u);
  EXPECT_EQ(IsnGenerator::timer(at_us((int64_t{1} << 34) - 1)), 0xffffffffu);
  EXPECT_EQ(IsnGenerator::timer(at_us(int64_t{1} << 34)), 0u);  // wraps after ~4.77 h
  // A real Unix-epoch Instant (2024-01-01T00:00:00Z): 1704067200 s * 250000 mod 2^32.
  EXPECT_EQ(IsnGenerator::timer(at_us(int64_t{1'704'067'200} * 1'000'000)),
            static_cast<uint32_t>(uint64_t{1'704'067'200} * 250'000));
  // Floor division keeps M rising through an epoch before zero.
  EXPECT_EQ(IsnGenerator::timer(at_us(-1)), 0xffffffffu);
  EXPECT_EQ(IsnGenerator::timer(at_us(-4)), 0xffffffffu);
  EXPECT_EQ(IsnGenerator::timer(at_us(-5)), 0xfffffffeu);
}

TEST(Isn, DeterministicForSameKeyTupleAndTime) {
  const IsnGenerator a(kSequentialKey);
  const IsnGenerator b(kSequentialKey);
  const Instant now = at_us(123'456'789);
  EXPECT_EQ(a.isn(kClient, now), a.isn(kClient, now));
  EXPECT_EQ(a.isn(kClient, now), b.isn(kClient, now));
  const IsnGenerator copy = a;
  EXPECT_EQ(copy.isn(kClient, now), a.isn(kClient, now));
}

TEST(Isn, DifferentTuplesGiveDifferentIsns) {
  const IsnGenerator g(kSequentialKey);
  const Instant now = at_us(987'654'321);
  std::vector<FourTuple> tuples = {kClient, kClient.reversed()};
  FourTuple t = kClient;
  t.local.addr = Ipv4Address::from_octets(10, 0, 0, 3);
  tuples.push_back(t);
  t = kClient;
  t.local.port = 41632;
  tuples.push_back(t);
  t = kClient;
  t.remote.addr = Ipv4Address::from_octets(10, 0, 0, 4);
  tuples.push_back(t);
  t = kClient;
  t.remote.port = 443;
  tuples.push_back(t);

  std::unordered_set<uint32_t> isns;
  for (const FourTuple& each : tuples)
    isns.insert(g.isn(each, now).value());
  EXPECT_EQ(isns.size(), tuples.size());
}

TEST(Isn, DifferentKeysGiveDifferentIsns) {
  IsnGenerator::Key other = kSequentialKey;
  other[15] ^= 1;  // one bit
  const IsnGenerator a(kSequentialKey);
  const IsnGenerator b(other);
  EXPECT_NE(a.isn(kClient, at_us(0)), b.isn(kClient, at_us(0)));
  EXPECT_NE(a.keyed_hash(kClient), b.keyed_hash(kClient));
}

TEST(Isn, AdvancesOnePerFourMicroseconds) {
  const IsnGenerator g(kSequentialKey);
  const Instant t0 = at_us(1'000'000'000);  // a multiple of 4
  const SeqNum base = g.isn(kClient, t0);
  EXPECT_EQ(g.isn(kClient, t0 + Duration::micros(1)), base);
  EXPECT_EQ(g.isn(kClient, t0 + Duration::micros(3)), base);
  EXPECT_EQ(g.isn(kClient, t0 + Duration::micros(4)), base + SeqLen(1));
  EXPECT_EQ(g.isn(kClient, t0 + Duration::micros(8)), base + SeqLen(2));
  EXPECT_EQ(g.isn(kClient, t0 + Duration::seconds(1)), base + SeqLen(250'000));
}

TEST(Isn, ReusedTupleKeepsIncreasingAcrossTheWrap) {
  // RFC 9293 §3.4.1: a new incarnation of a connection must start above the old one's
  // sequence numbers. Within less than half the 2^32 space (~2.4 hours of M), each later
  // ISN for the same tuple is after() the earlier one — also across M's wrap.
  const IsnGenerator g(kSequentialKey);
  const int64_t wrap_us = int64_t{1} << 34;  // M wraps here
  SeqNum previous = g.isn(kClient, at_us(wrap_us - 3'600'000'000));
  for (int64_t t = wrap_us - 3'600'000'000 + 997; t < wrap_us + 3'600'000'000; t += 60'000'001) {
    const SeqNum next = g.isn(kClient, at_us(t));
    EXPECT_TRUE(wire::after(next, previous)) << "t=" << t;
    previous = next;
  }
  const SeqNum before_wrap = g.isn(kClient, at_us(wrap_us - 4));
  const SeqNum after_wrap = g.isn(kClient, at_us(wrap_us));
  EXPECT_EQ(after_wrap, before_wrap + SeqLen(1));
}

TEST(Isn, RandomKeysDiffer) {
  const IsnGenerator a = IsnGenerator::with_random_key();
  const IsnGenerator b = IsnGenerator::with_random_key();
  // Two random 128-bit keys agreeing on F for four tuples: probability 2^-128.
  const std::vector<FourTuple> tuples = {
      kClient, kClient.reversed(),
      tuple(Ipv4Address::from_octets(1, 2, 3, 4), 1, Ipv4Address::from_octets(5, 6, 7, 8), 2),
      FourTuple{}};
  bool any_differs = false;
  for (const FourTuple& t : tuples)
    any_differs |= a.keyed_hash(t) != b.keyed_hash(t);
  EXPECT_TRUE(any_differs);
  // And a random key still gives a deterministic generator.
  EXPECT_EQ(a.isn(kClient, at_us(42)), a.isn(kClient, at_us(42)));
}

}  // namespace
}  // namespace synack::tcp
