#include "synack/stack/port_allocator.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <unordered_set>
#include <vector>

#include "synack/tcp/four_tuple.hpp"

namespace synack::stack {
namespace {

using tcp::Endpoint;
using wire::Ipv4Address;

// std::mt19937's result_type is unsigned long; hand out the 32 bits it makes as uint32_t.
class Rng {
 public:
  explicit Rng(uint32_t seed) : engine_(seed) {}
  uint32_t operator()() { return static_cast<uint32_t>(engine_()); }

 private:
  std::mt19937 engine_;
};

constexpr PortAllocator::Key kSequentialKey = {0, 1, 2,  3,  4,  5,  6,  7,
                                               8, 9, 10, 11, 12, 13, 14, 15};

const Ipv4Address kLocal = Ipv4Address::from_octets(10, 0, 0, 1);
const Endpoint kServer{Ipv4Address::from_octets(10, 0, 0, 2), 80};

constexpr auto kNothingInUse = [](uint16_t) { return false; };

PortRange range(uint16_t min_ephemeral, uint16_t max_ephemeral) {
  return PortRange::make(min_ephemeral, max_ephemeral).value();
}

// ---- PortRange ----

TEST(PortRange, DefaultIsLinuxLocalPortRange) {
  const PortRange r;
  EXPECT_EQ(r.min_ephemeral(), 32768);
  EXPECT_EQ(r.max_ephemeral(), 60999);
  EXPECT_EQ(r.num_ephemeral(), 28232u);
  EXPECT_TRUE(r.contains(32768));
  EXPECT_TRUE(r.contains(60999));
  EXPECT_FALSE(r.contains(32767));
  EXPECT_FALSE(r.contains(61000));
}

TEST(PortRange, MakeRefusesPortZeroAndInvertedRanges) {
  EXPECT_FALSE(PortRange::make(0, 100));
  EXPECT_FALSE(PortRange::make(0, 0));
  EXPECT_FALSE(PortRange::make(5000, 4999));
  ASSERT_TRUE(PortRange::make(5000, 5000));
  EXPECT_EQ(PortRange::make(5000, 5000)->num_ephemeral(), 1u);
  ASSERT_TRUE(PortRange::make(1, 65535));
  EXPECT_EQ(PortRange::make(1, 65535)->num_ephemeral(), 65535u);
}

// ---- F ----

// Known answers from an independent SipHash-2-4 (a Python transcription of the paper's
// reference code, checked against its vector a129ca6149be45e5). They pin the
// serialization: local address, remote address, remote port, big-endian; the output read
// little-endian and cut to 32 bits.
TEST(PortAllocator, OffsetMatchesSipHash24ReferenceVectors) {
  // Key 00..0f, message 00..09: the paper's 10-byte vector, f3b9dd94...
  const PortAllocator sequential(kSequentialKey);
  EXPECT_EQ(sequential.offset(Ipv4Address::from_octets(0, 1, 2, 3),
                              Endpoint{Ipv4Address::from_octets(4, 5, 6, 7), 0x0809}),
            0x94ddb9f3u);
  // Key 5a x 16, 192.168.1.10 -> 10.0.0.1:443.
  PortAllocator::Key key;
  key.fill(0x5a);
  const PortAllocator a(key);
  EXPECT_EQ(a.offset(Ipv4Address::from_octets(192, 168, 1, 10),
                     Endpoint{Ipv4Address::from_octets(10, 0, 0, 1), 443}),
            0xd383332eu);
}

TEST(PortAllocator, FirstPortIsMinPlusOffsetModNum) {
  // RFC 6056 §3.3.3 with next_ephemeral = 0: port = min + offset % num.
  PortAllocator a(kSequentialKey);
  const uint32_t offset = a.offset(kLocal, kServer);
  const auto port = a.allocate(kLocal, kServer, kNothingInUse);
  ASSERT_TRUE(port);
  EXPECT_EQ(*port, 32768 + offset % 28232);
  EXPECT_EQ(a.next_ephemeral(), 1u);
}

// ---- Selection ----

TEST(PortAllocator, PortsStayInRange) {
  Rng rng(6056);
  for (const PortRange r : {PortRange{}, range(1, 65535), range(1024, 1033), range(40000, 40000),
                            range(65500, 65535)}) {
    PortAllocator a(kSequentialKey, r);
    for (int i = 0; i < 5000; ++i) {
      const Endpoint remote{Ipv4Address(rng()), static_cast<uint16_t>(rng())};
      // Half the ports taken at random: whatever the walk skips, it stays in range.
      const auto port = a.allocate(kLocal, remote, [&](uint16_t p) {
        EXPECT_TRUE(r.contains(p)) << p;
        return (rng() & 1) != 0;
      });
      if (port) {
        EXPECT_TRUE(r.contains(*port)) << *port;
      }
      EXPECT_LT(a.next_ephemeral(), r.num_ephemeral());
    }
  }
}

TEST(PortAllocator, SuccessiveConnectionsToOneDestinationGetDifferentPorts) {
  // Even when every earlier connection has closed (nothing in use), next_ephemeral moves
  // the walk on: the same 4-tuple is not reused while TIME-WAIT might still hold it.
  PortAllocator a(kSequentialKey);
  const uint32_t num = PortRange{}.num_ephemeral();
  std::unordered_set<uint16_t> seen;
  std::optional<uint16_t> previous;
  for (uint32_t i = 0; i < num; ++i) {
    const auto port = a.allocate(kLocal, kServer, kNothingInUse);
    ASSERT_TRUE(port);
    EXPECT_TRUE(seen.insert(*port).second) << "port " << *port << " repeated at " << i;
    if (previous) {
      // The walk is sequential per destination: the next port, wrapping at max_ephemeral.
      EXPECT_EQ(*port, *previous == 60999 ? 32768 : *previous + 1);
    }
    previous = port;
  }
  // After num_ephemeral connections every port has been used once; then it starts over.
  EXPECT_EQ(seen.size(), num);
  EXPECT_EQ(a.allocate(kLocal, kServer, kNothingInUse),
            PortAllocator(kSequentialKey).allocate(kLocal, kServer, kNothingInUse));
}

TEST(PortAllocator, NextEphemeralAdvancesOncePerTry) {
  PortAllocator a(kSequentialKey);
  std::vector<uint16_t> asked;
  const auto port = a.allocate(kLocal, kServer, [&](uint16_t p) {
    asked.push_back(p);
    return asked.size() <= 3;  // the first three are taken
  });
  ASSERT_TRUE(port);
  ASSERT_EQ(asked.size(), 4u);
  EXPECT_EQ(*port, asked[3]);
  EXPECT_EQ(a.next_ephemeral(), 4u);
  // The next connection to the same destination starts after the last port tried.
  EXPECT_EQ(a.allocate(kLocal, kServer, kNothingInUse), *port == 60999 ? 32768 : *port + 1);
  EXPECT_EQ(a.next_ephemeral(), 5u);
}

TEST(PortAllocator, DifferentDestinationsHaveUnrelatedOffsets) {
  // Algorithm 1/2 style allocators leak one destination's port through another's; here the
  // starting point is a keyed hash of the destination. Fresh allocators, so next_ephemeral
  // is 0 each time and the first port is min + F % num.
  const uint32_t num = PortRange{}.num_ephemeral();
  std::vector<uint16_t> first_ports;
  for (uint16_t remote_port = 1000; remote_port < 3000; ++remote_port) {
    PortAllocator a(kSequentialKey);
    first_ports.push_back(*a.allocate(kLocal, Endpoint{kServer.addr, remote_port}, kNothingInUse));
  }
  // 2000 draws from 28232 ports: about 2000 - 2000^2 / (2 * 28232) = 1930 distinct expected
  // if uniform; a constant or small set of offsets would give far fewer.
  const std::set<uint16_t> distinct(first_ports.begin(), first_ports.end());
  EXPECT_GT(distinct.size(), 1850u);
  // Adjacent destinations are not a fixed step apart.
  std::set<uint32_t> steps;
  for (size_t i = 1; i < first_ports.size(); ++i)
    steps.insert((first_ports[i] + num - first_ports[i - 1]) % num);
  EXPECT_GT(steps.size(), 1850u);
  // Spread over the whole range: each quarter gets 500 +- a few dozen.
  std::array<int, 4> quarters{};
  for (uint16_t p : first_ports)
    ++quarters[(p - 32768u) * 4 / num];
  for (int q : quarters) {
    EXPECT_GT(q, 400);
    EXPECT_LT(q, 600);
  }
}

TEST(PortAllocator, OwnPortRevealsNothingAboutAnotherDestination) {
  // An attacker connects to its own server right after a victim's connection: its port is
  // (its offset + next_ephemeral), which without the key says nothing of the victim's.
  std::set<uint32_t> gaps;
  const uint32_t num = PortRange{}.num_ephemeral();
  for (uint16_t i = 0; i < 500; ++i) {
    PortAllocator a(kSequentialKey);
    const Endpoint victim{Ipv4Address::from_octets(192, 0, 2, 1), static_cast<uint16_t>(443 + i)};
    const Endpoint attacker{Ipv4Address::from_octets(198, 51, 100, 7), 8080};
    const uint16_t victim_port = *a.allocate(kLocal, victim, kNothingInUse);
    const uint16_t attacker_port = *a.allocate(kLocal, attacker, kNothingInUse);
    gaps.insert((attacker_port + num - victim_port) % num);
  }
  EXPECT_GT(gaps.size(), 480u);
}

TEST(PortAllocator, OffsetDependsOnEveryInputAndTheKey) {
  const PortAllocator a(kSequentialKey);
  const uint32_t base = a.offset(kLocal, kServer);
  EXPECT_NE(a.offset(Ipv4Address::from_octets(10, 0, 0, 9), kServer), base);
  EXPECT_NE(a.offset(kLocal, Endpoint{Ipv4Address::from_octets(10, 0, 0, 3), 80}), base);
  EXPECT_NE(a.offset(kLocal, Endpoint{kServer.addr, 81}), base);
  PortAllocator::Key other = kSequentialKey;
  other[15] ^= 1;
  EXPECT_NE(PortAllocator(other).offset(kLocal, kServer), base);
}

TEST(PortAllocator, ExhaustedWhenEveryPortIsInUse) {
  for (const PortRange r : {PortRange{}, range(1024, 1033), range(40000, 40000)}) {
    PortAllocator a(kSequentialKey, r);
    std::vector<uint16_t> asked;
    const auto port = a.allocate(kLocal, kServer, [&](uint16_t p) {
      asked.push_back(p);
      return true;
    });
    EXPECT_FALSE(port);
    // Every port of the range asked about exactly once, then give up (EADDRNOTAVAIL).
    ASSERT_EQ(asked.size(), r.num_ephemeral());
    const std::set<uint16_t> distinct(asked.begin(), asked.end());
    EXPECT_EQ(distinct.size(), r.num_ephemeral());
    EXPECT_EQ(*distinct.begin(), r.min_ephemeral());
    EXPECT_EQ(*distinct.rbegin(), r.max_ephemeral());
    // next_ephemeral went round once: back where it started, modulo num_ephemeral.
    EXPECT_EQ(a.next_ephemeral(), 0u);
  }
}

TEST(PortAllocator, FindsTheOnlyFreePort) {
  const PortRange r = range(5000, 5099);
  for (uint16_t free_port : {uint16_t{5000}, uint16_t{5042}, uint16_t{5099}}) {
    PortAllocator a(kSequentialKey, r);
    int calls = 0;
    const auto port = a.allocate(kLocal, kServer, [&](uint16_t p) {
      ++calls;
      return p != free_port;
    });
    EXPECT_EQ(port, free_port);
    EXPECT_LE(calls, 100);
  }
}

TEST(PortAllocator, SinglePortRange) {
  PortAllocator a(kSequentialKey, range(40000, 40000));
  EXPECT_EQ(a.allocate(kLocal, kServer, kNothingInUse), 40000);
  EXPECT_EQ(a.allocate(kLocal, Endpoint{kServer.addr, 443}, kNothingInUse), 40000);
  EXPECT_FALSE(a.allocate(kLocal, kServer, [](uint16_t) { return true; }));
}

TEST(PortAllocator, DeterministicWithAFixedSecret) {
  PortAllocator a(kSequentialKey);
  PortAllocator b(kSequentialKey);
  PortAllocator::Key other{};
  other.fill(0x5a);
  PortAllocator c(other);
  Rng rng(1);
  int differs_from_other_key = 0;
  for (int i = 0; i < 1000; ++i) {
    const Endpoint remote{Ipv4Address(rng()), static_cast<uint16_t>(rng())};
    const uint32_t taken = rng() % 4;  // the first few tries are in use
    uint32_t calls_a = 0;
    uint32_t calls_b = 0;
    const auto pa = a.allocate(kLocal, remote, [&](uint16_t) { return calls_a++ < taken; });
    const auto pb = b.allocate(kLocal, remote, [&](uint16_t) { return calls_b++ < taken; });
    uint32_t calls_c = 0;
    const auto pc = c.allocate(kLocal, remote, [&](uint16_t) { return calls_c++ < taken; });
    EXPECT_EQ(pa, pb);
    if (pa != pc) ++differs_from_other_key;
  }
  EXPECT_EQ(a.next_ephemeral(), b.next_ephemeral());
  EXPECT_GT(differs_from_other_key, 990);
  // A copy carries the key and next_ephemeral.
  PortAllocator copy = a;
  EXPECT_EQ(copy.allocate(kLocal, kServer, kNothingInUse),
            a.allocate(kLocal, kServer, kNothingInUse));
}

TEST(PortAllocator, RandomKeysGiveDifferentOffsets) {
  const PortAllocator a = PortAllocator::with_random_key();
  const PortAllocator b = PortAllocator::with_random_key();
  EXPECT_NE(a.offset(kLocal, kServer), b.offset(kLocal, kServer));
  EXPECT_EQ(a.range(), PortRange{});
}

TEST(PortAllocator, PredicateMayBeAnyCallable) {
  // A demux-table lookup for the full 4-tuple, as the stack will pass it.
  std::unordered_set<tcp::FourTuple> demux;
  PortAllocator a(kSequentialKey, range(2000, 2002));
  for (int i = 0; i < 3; ++i) {
    const auto port = a.allocate(kLocal, kServer, [&](uint16_t p) {
      return demux.contains(tcp::FourTuple{Endpoint{kLocal, p}, kServer});
    });
    ASSERT_TRUE(port);
    demux.insert(tcp::FourTuple{Endpoint{kLocal, *port}, kServer});
  }
  EXPECT_EQ(demux.size(), 3u);
  EXPECT_FALSE(a.allocate(kLocal, kServer, [&](uint16_t p) {
    return demux.contains(tcp::FourTuple{Endpoint{kLocal, p}, kServer});
  }));
  // The same ports are free towards another destination.
  const Endpoint other{kServer.addr, 443};
  EXPECT_TRUE(a.allocate(kLocal, other, [&](uint16_t p) {
    return demux.contains(tcp::FourTuple{Endpoint{kLocal, p}, other});
  }));
}

}  // namespace
}  // namespace synack::stack
