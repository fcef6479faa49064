#include "synack/wire/seq.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <unordered_set>
#include <vector>

#include "wire_test_util.hpp"

namespace synack::wire {
namespace {

constexpr uint64_t kSpan = uint64_t{1} << 32;
constexpr uint32_t kHalf = uint32_t{1} << 31;

// Values near the points where modular arithmetic bites: 0, 2^31, 2^32 - 1, plus a few
// ordinary ones, each with small offsets either side.
std::vector<uint32_t> interesting_values() {
  std::vector<uint32_t> out;
  for (const uint32_t base : {0u, kHalf, 0xffffffffu, 1u << 30, 3u << 30, 0x12345678u}) {
    for (uint32_t off = 0; off <= 3; ++off) {
      out.push_back(base + off);
      out.push_back(base - off);
    }
  }
  return out;
}

// (b - a) mod 2^32, computed in 64-bit signed arithmetic rather than by uint32 wrap-around.
uint64_t forward_distance(uint32_t a, uint32_t b) {
  const int64_t d = static_cast<int64_t>(b) - static_cast<int64_t>(a);
  return static_cast<uint64_t>(d < 0 ? d + static_cast<int64_t>(kSpan) : d);
}

TEST(SeqPredicates, AgreeWithDistanceDefinitionForAllPairsNearWrapPoints) {
  const auto values = interesting_values();
  for (const uint32_t x : values) {
    for (const uint32_t y : values) {
      const uint64_t fwd = forward_distance(x, y);  // how far y lies ahead of x
      if (fwd == kHalf) continue;                   // undefined by RFC 1982; see below
      const SeqNum a(x);
      const SeqNum b(y);
      SCOPED_TRACE(testing::Message() << "a=" << x << " b=" << y);
      const bool want_before = fwd != 0 && fwd < kHalf;
      const bool want_after = fwd > kHalf;
      ASSERT_EQ(before(a, b), want_before);
      ASSERT_EQ(after(a, b), want_after);
      ASSERT_EQ(before_eq(a, b), want_before || x == y);
      ASSERT_EQ(after_eq(a, b), want_after || x == y);
      // Trichotomy holds away from the half-space point.
      ASSERT_EQ(int{before(a, b)} + int{after(a, b)} + int{a == b}, 1);
      // Antisymmetry.
      ASSERT_EQ(before(a, b), after(b, a));
      ASSERT_EQ(before_eq(a, b), after_eq(b, a));
      // seq_diff is the signed distance a - b.
      const int64_t want_diff =
          want_before ? -static_cast<int64_t>(fwd) : static_cast<int64_t>(forward_distance(y, x));
      ASSERT_EQ(int64_t{seq_diff(a, b)}, want_diff);
    }
  }
}

TEST(SeqPredicates, ExactlyHalfTheSpaceApartEachIsBeforeTheOther) {
  // RFC 1982 §3.2 leaves a comparison at distance 2^31 undefined. synack's seq_diff reads
  // it as INT32_MIN, so each number is "before" the other; callers never rely on this
  // because a TCP window is at most 2^30 (RFC 7323 §2.3).
  for (const uint32_t x : interesting_values()) {
    const SeqNum a(x);
    const SeqNum b(x + kHalf);
    EXPECT_EQ(seq_diff(a, b), INT32_MIN);
    EXPECT_EQ(seq_diff(b, a), INT32_MIN);
    EXPECT_TRUE(before(a, b));
    EXPECT_TRUE(before(b, a));
    EXPECT_FALSE(after(a, b));
    EXPECT_FALSE(after(b, a));
  }
}

TEST(SeqPredicates, WrapAroundExamples) {
  EXPECT_TRUE(before(SeqNum(0xffffffff), SeqNum(0)));
  EXPECT_TRUE(after(SeqNum(0), SeqNum(0xffffffff)));
  EXPECT_TRUE(before(SeqNum(0xfffffff0), SeqNum(0x10)));
  EXPECT_FALSE(before(SeqNum(0x10), SeqNum(0xfffffff0)));
  EXPECT_EQ(seq_diff(SeqNum(0x10), SeqNum(0xfffffff0)), 0x20);
  EXPECT_EQ(seq_diff(SeqNum(0xfffffff0), SeqNum(0x10)), -0x20);
  EXPECT_TRUE(before_eq(SeqNum(7), SeqNum(7)));
  EXPECT_TRUE(after_eq(SeqNum(7), SeqNum(7)));
  EXPECT_FALSE(before(SeqNum(7), SeqNum(7)));
  EXPECT_FALSE(after(SeqNum(7), SeqNum(7)));
  EXPECT_EQ(seq_max(SeqNum(0xfffffff0), SeqNum(5)), SeqNum(5));
  EXPECT_EQ(seq_min(SeqNum(0xfffffff0), SeqNum(5)), SeqNum(0xfffffff0));
  EXPECT_EQ(seq_max(SeqNum(5), SeqNum(0xfffffff0)), SeqNum(5));
  EXPECT_EQ(seq_min(SeqNum(5), SeqNum(0xfffffff0)), SeqNum(0xfffffff0));
  EXPECT_EQ(seq_max(SeqNum(9), SeqNum(9)), SeqNum(9));
}

TEST(SeqWindow, MatchesEnumerationForSmallWindowsEverywhere) {
  const auto values = interesting_values();
  for (const uint32_t first : values) {
    for (const uint32_t size : {0u, 1u, 2u, 3u, 5u, 8u}) {
      // The members by enumeration: first, first + 1, ..., first + size - 1 (mod 2^32).
      std::unordered_set<uint32_t> members;
      for (uint32_t k = 0; k < size; ++k)
        members.insert(first + k);
      for (const uint32_t x : values) {
        for (const uint32_t probe : {x, first + size, first - 1, first + size - 1}) {
          ASSERT_EQ(in_window(SeqNum(probe), SeqNum(first), SeqLen(size)),
                    members.count(probe) == 1)
              << "x=" << probe << " first=" << first << " size=" << size;
        }
      }
    }
  }
}

TEST(SeqWindow, EmptyWindowContainsNothingNotEvenItsStart) {
  for (const uint32_t first : interesting_values()) {
    EXPECT_FALSE(in_window(SeqNum(first), SeqNum(first), SeqLen(0)));
    EXPECT_FALSE(in_window(SeqNum(first + 1), SeqNum(first), SeqLen(0)));
    EXPECT_FALSE(in_window(SeqNum(first - 1), SeqNum(first), SeqLen(0)));
  }
}

TEST(SeqWindow, LargeWindows) {
  for (const uint32_t first : interesting_values()) {
    const SeqNum f(first);
    // The largest window holds every number but the one just before it.
    EXPECT_TRUE(in_window(f, f, SeqLen(0xffffffff)));
    EXPECT_TRUE(in_window(f + SeqLen(0xfffffffe), f, SeqLen(0xffffffff)));
    EXPECT_FALSE(in_window(f - SeqLen(1), f, SeqLen(0xffffffff)));
    // A 2^30 window (RFC 7323's largest) across any wrap point.
    const SeqLen w(1u << 30);
    EXPECT_TRUE(in_window(f + SeqLen((1u << 30) - 1), f, w));
    EXPECT_FALSE(in_window(f + w, f, w));
    EXPECT_FALSE(in_window(f - SeqLen(1), f, w));
  }
}

TEST(SeqWindow, StraddlingTheWrap) {
  const SeqNum first(0xfffffffe);
  const SeqLen size(4);  // 0xfffffffe, 0xffffffff, 0, 1
  EXPECT_FALSE(in_window(SeqNum(0xfffffffd), first, size));
  EXPECT_TRUE(in_window(SeqNum(0xfffffffe), first, size));
  EXPECT_TRUE(in_window(SeqNum(0xffffffff), first, size));
  EXPECT_TRUE(in_window(SeqNum(0), first, size));
  EXPECT_TRUE(in_window(SeqNum(1), first, size));
  EXPECT_FALSE(in_window(SeqNum(2), first, size));
}

TEST(SeqRange, InclusiveRangeMatchesEnumeration) {
  const auto values = interesting_values();
  for (const uint32_t lo : values) {
    for (const uint32_t span : {0u, 1u, 2u, 6u}) {
      const uint32_t hi = lo + span;
      std::unordered_set<uint32_t> members;
      for (uint32_t k = 0; k <= span; ++k)
        members.insert(lo + k);
      for (const uint32_t x : values) {
        for (const uint32_t probe : {x, lo - 1, hi + 1, hi}) {
          ASSERT_EQ(in_range_inclusive(SeqNum(probe), SeqNum(lo), SeqNum(hi)),
                    members.count(probe) == 1)
              << "x=" << probe << " lo=" << lo << " hi=" << hi;
        }
      }
    }
  }
}

TEST(SeqRange, RfcAcknowledgmentTestAcrossTheWrap) {
  // RFC 9293 §3.10.7.4: SND.UNA < SEG.ACK =< SND.NXT, with the window straddling 2^32.
  const SeqNum snd_una(0xfffffff0);
  const SeqNum snd_nxt(0x10);
  const auto acceptable = [&](SeqNum ack) {
    return before(snd_una, ack) && before_eq(ack, snd_nxt);
  };
  EXPECT_FALSE(acceptable(SeqNum(0xfffffff0)));
  EXPECT_TRUE(acceptable(SeqNum(0xfffffff1)));
  EXPECT_TRUE(acceptable(SeqNum(0)));
  EXPECT_TRUE(acceptable(SeqNum(0x10)));
  EXPECT_FALSE(acceptable(SeqNum(0x11)));
  EXPECT_TRUE(in_range_inclusive(SeqNum(0), snd_una, snd_nxt));
  EXPECT_TRUE(in_range_inclusive(snd_una, snd_una, snd_nxt));
  EXPECT_TRUE(in_range_inclusive(snd_nxt, snd_una, snd_nxt));
  EXPECT_FALSE(in_range_inclusive(SeqNum(0x11), snd_una, snd_nxt));
  EXPECT_FALSE(in_range_inclusive(SeqNum(0xffffffef), snd_una, snd_nxt));
}

TEST(SeqArithmetic, AddSubtractAndDistanceWrap) {
  EXPECT_EQ(SeqNum(0xffffffff) + SeqLen(1), SeqNum(0));
  EXPECT_EQ(SeqNum(0xfffffff0) + SeqLen(0x20), SeqNum(0x10));
  EXPECT_EQ(SeqNum(0) - SeqLen(1), SeqNum(0xffffffff));
  EXPECT_EQ(SeqNum(0x10) - SeqLen(0x20), SeqNum(0xfffffff0));
  EXPECT_EQ(SeqNum(0x10) - SeqNum(0xfffffff0), SeqLen(0x20));
  EXPECT_EQ(SeqNum(0xfffffff0) - SeqNum(0x10), SeqLen(0xffffffe0));
  EXPECT_EQ(SeqNum(5) - SeqNum(5), SeqLen(0));
  SeqNum s(0xfffffffe);
  s += SeqLen(3);
  EXPECT_EQ(s, SeqNum(1));
  s += SeqLen(0);
  EXPECT_EQ(s, SeqNum(1));
  EXPECT_NE(SeqNum(1), SeqNum(2));
  // (a + n) - a == n for every a, including across the wrap.
  for (const uint32_t a : interesting_values()) {
    for (const uint32_t n : {0u, 1u, kHalf, 0xffffffffu, 12345u}) {
      EXPECT_EQ((SeqNum(a) + SeqLen(n)) - SeqNum(a), SeqLen(n));
      EXPECT_EQ((SeqNum(a) + SeqLen(n)) - SeqLen(n), SeqNum(a));
    }
  }
}

TEST(SeqArithmetic, LengthsAddAndCompareAsCounts) {
  EXPECT_EQ(SeqLen(3) + SeqLen(4), SeqLen(7));
  EXPECT_EQ(SeqLen(7) - SeqLen(4), SeqLen(3));
  EXPECT_LT(SeqLen(3), SeqLen(4));
  EXPECT_GT(SeqLen(0x80000000), SeqLen(0x7fffffff));  // plain counts: no modular order
  EXPECT_EQ(SeqLen().value(), 0u);
  EXPECT_EQ(SeqNum().value(), 0u);
}

TEST(SeqHash, UsableAsUnorderedKey) {
  std::unordered_set<SeqNum> set;
  set.insert(SeqNum(1));
  set.insert(SeqNum(0xffffffff) + SeqLen(2));  // == 1
  set.insert(SeqNum(2));
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(set.count(SeqNum(1)), 1u);
}

// ---- wrap / unwrap (64-bit stream offsets at the wire edge) ----

TEST(SeqWrap, WrapIsOffsetPlusZeroModulo2To32) {
  for (const uint32_t zero : interesting_values()) {
    for (const uint64_t offset : {uint64_t{0}, uint64_t{1}, kSpan - 1, kSpan, kSpan + 1,
                                  7 * kSpan + 12345, (uint64_t{1} << 50) + 3, ~uint64_t{0}}) {
      const uint64_t want = (uint64_t{zero} + (offset & (kSpan - 1))) & (kSpan - 1);
      EXPECT_EQ(wrap(offset, SeqNum(zero)).value(), want) << "zero=" << zero << " off=" << offset;
    }
  }
}

// offset + delta without signed overflow (offsets reach 2^63).
uint64_t add_signed(uint64_t offset, int64_t delta) {
  return delta >= 0 ? offset + static_cast<uint64_t>(delta)
                    : offset - static_cast<uint64_t>(-delta);
}

// The offset k * 2^32 + (seq - zero) nearest to the checkpoint, over non-negative offsets;
// nullopt when two candidates are equally near.
std::optional<uint64_t> nearest_offset(SeqNum seq, SeqNum zero, uint64_t checkpoint) {
  const uint64_t low = forward_distance(zero.value(), seq.value());
  const uint64_t block = checkpoint >> 32;
  std::optional<uint64_t> best;
  uint64_t best_distance = 0;
  bool tie = false;
  for (uint64_t k = block == 0 ? 0 : block - 1; k <= block + 1; ++k) {
    const uint64_t candidate = (k << 32) + low;
    const uint64_t distance =
        candidate > checkpoint ? candidate - checkpoint : checkpoint - candidate;
    if (!best || distance < best_distance) {
      best = candidate;
      best_distance = distance;
      tie = false;
    } else if (distance == best_distance) {
      tie = true;
    }
  }
  if (tie) return std::nullopt;
  return best;
}

TEST(SeqUnwrap, RoundTripsAcrossManyBlocksWithCheckpointsOnEitherSide) {
  const std::vector<uint32_t> zeros = {0u,          1u,          kHalf - 1,  kHalf,
                                       0xfffffffeu, 0xffffffffu, 0x12345678u};
  const std::vector<uint64_t> blocks = {
      0, 1, 2, 3, 7, 255, 256, uint64_t{1} << 20, (uint64_t{1} << 31) - 1};
  const std::vector<uint64_t> lows = {0, 1, 2, kHalf - 1, kHalf, kHalf + 1, kSpan - 2, kSpan - 1};
  const std::vector<int64_t> deltas = {-(int64_t{kHalf} - 1), -(int64_t{1} << 30), -1, 0, 1,
                                       int64_t{1} << 30,      int64_t{kHalf} - 1};
  for (const uint32_t zero : zeros) {
    for (const uint64_t block : blocks) {
      for (const uint64_t low : lows) {
        const uint64_t offset = (block << 32) + low;
        const SeqNum seq = wrap(offset, SeqNum(zero));
        for (const int64_t delta : deltas) {
          if (delta < 0 && offset < static_cast<uint64_t>(-delta)) continue;
          const uint64_t checkpoint = add_signed(offset, delta);
          ASSERT_EQ(unwrap(seq, SeqNum(zero), checkpoint), offset)
              << "zero=" << zero << " offset=" << offset << " checkpoint=" << checkpoint;
        }
      }
    }
  }
}

TEST(SeqUnwrap, RandomRoundTrips) {
  std::mt19937_64 rng(20240601);
  std::uniform_int_distribution<uint64_t> offset_dist(0, (uint64_t{1} << 48) - 1);
  std::uniform_int_distribution<int64_t> delta_dist(-(int64_t{kHalf} - 1), int64_t{kHalf} - 1);
  std::uniform_int_distribution<uint32_t> zero_dist;
  for (int i = 0; i < 200000; ++i) {
    const uint64_t offset = offset_dist(rng);
    const int64_t delta = delta_dist(rng);
    if (delta < 0 && offset < static_cast<uint64_t>(-delta)) continue;
    const uint64_t checkpoint = add_signed(offset, delta);
    const SeqNum zero(zero_dist(rng));
    ASSERT_EQ(unwrap(wrap(offset, zero), zero, checkpoint), offset)
        << "zero=" << zero.value() << " offset=" << offset << " checkpoint=" << checkpoint;
  }
}

TEST(SeqUnwrap, PicksTheNearestNonNegativeCandidate) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint32_t> u32;
  std::uniform_int_distribution<uint64_t> cp_dist(0, uint64_t{1} << 40);
  int ties = 0;
  for (int i = 0; i < 200000; ++i) {
    const SeqNum zero(u32(rng));
    const SeqNum seq(u32(rng));
    // Mix arbitrary checkpoints with ones close to a block boundary or to zero.
    uint64_t checkpoint = cp_dist(rng);
    const uint64_t block_start = ((checkpoint >> 32) + 1) << 32;  // at least 2^32
    switch (i % 4) {
      case 1:
        checkpoint = block_start + (u32(rng) % 64) - 32;
        break;
      case 2:
        checkpoint = u32(rng) % 4096;
        break;
      case 3:
        checkpoint = block_start + kHalf + (u32(rng) % 64) - 32;
        break;
      default:
        break;
    }
    const auto want = nearest_offset(seq, zero, checkpoint);
    if (!want) {
      ++ties;
      continue;
    }
    ASSERT_EQ(unwrap(seq, zero, checkpoint), *want)
        << "zero=" << zero.value() << " seq=" << seq.value() << " checkpoint=" << checkpoint;
  }
  EXPECT_LT(ties, 100);  // ties are rare corner cases, covered by their own test
}

TEST(SeqUnwrap, CheckpointZeroNeverUnderflows) {
  for (const uint32_t zero : interesting_values()) {
    for (const uint32_t x : interesting_values()) {
      // With nothing seen yet every offset is taken as the first lap.
      const SeqNum seq = SeqNum(zero) + SeqLen(x);
      EXPECT_EQ(unwrap(seq, SeqNum(zero), 0), uint64_t{x}) << "zero=" << zero << " x=" << x;
    }
    // One before the zero point: the would-be offset -1 cannot be, so 2^32 - 1.
    EXPECT_EQ(unwrap(SeqNum(zero) - SeqLen(1), SeqNum(zero), 0), kSpan - 1);
    EXPECT_EQ(unwrap(SeqNum(zero) - SeqLen(1), SeqNum(zero), 10), kSpan - 1);
    EXPECT_EQ(unwrap(SeqNum(zero) - SeqLen(kHalf), SeqNum(zero), 100), kSpan - kHalf);
  }
}

TEST(SeqUnwrap, NeighbouringBlocks) {
  const SeqNum zero(0xfffffff0);
  // Checkpoint just below a block boundary, sequence number just past it.
  EXPECT_EQ(unwrap(zero + SeqLen(5), zero, kSpan - 10), kSpan + 5);
  // Checkpoint just past a boundary, sequence number just below it.
  EXPECT_EQ(unwrap(zero - SeqLen(10), zero, 3 * kSpan + 5), 3 * kSpan - 10);
  // In the middle of a block both neighbours are farther.
  EXPECT_EQ(unwrap(zero + SeqLen(kHalf), zero, 5 * kSpan + kHalf), 5 * kSpan + kHalf);
}

TEST(SeqUnwrap, ExactTieGoesToTheCandidateInTheCheckpointsBlock) {
  // Documents current behaviour. When the two candidates are exactly 2^31 either side of
  // the checkpoint, unwrap() returns the candidate in the checkpoint's own 2^32 block: the
  // lower one when the checkpoint sits in the upper half of its block, the upper one when
  // it sits in the lower half. (A peer cannot provoke this with a valid window, which is at
  // most 2^30, RFC 7323 §2.3.)
  const SeqNum zero(0);
  // Checkpoint in the upper half of block 5: candidates 5*2^32 + 7 and 6*2^32 + 7.
  const uint64_t upper_half = 5 * kSpan + kHalf + 7;
  EXPECT_EQ(unwrap(SeqNum(7), zero, upper_half), 5 * kSpan + 7);
  // Checkpoint in the lower half of block 5: candidates 4*2^32 + 2^31 + 7, 5*2^32 + 2^31 + 7.
  const uint64_t lower_half = 5 * kSpan + 7;
  EXPECT_EQ(unwrap(SeqNum(kHalf + 7), zero, lower_half), 5 * kSpan + kHalf + 7);
  // Either way the result is one of the two nearest candidates.
  EXPECT_FALSE(nearest_offset(SeqNum(7), zero, upper_half).has_value());
  EXPECT_FALSE(nearest_offset(SeqNum(kHalf + 7), zero, lower_half).has_value());
}

}  // namespace
}  // namespace synack::wire

namespace synack::wire {
namespace {

TEST(SeqUnwrap, NoOverflowAtTheTopOfTheOffsetSpace) {
  // Near 2^64 the next block does not exist: the candidate below is the only answer, and
  // the arithmetic must not wrap around to small offsets.
  EXPECT_EQ(unwrap(SeqNum(0xffffffffu), SeqNum(0), UINT64_MAX), UINT64_MAX);
  EXPECT_EQ(unwrap(SeqNum(0), SeqNum(0), UINT64_MAX), UINT64_MAX - 0xffffffffu);
  EXPECT_EQ(unwrap(SeqNum(5), SeqNum(0), UINT64_MAX - 10), UINT64_MAX - 0xffffffffu + 5);
}

}  // namespace
}  // namespace synack::wire
