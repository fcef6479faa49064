#include "synack/tcp/reassembler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <random>
#include <vector>

namespace synack::tcp {

// Found by googletest through argument-dependent lookup, so failures show the ranges.
inline void PrintTo(const OffsetRange& r, std::ostream* os) {
  *os << "[" << r.begin << ", " << r.end << ")";
}

namespace {

// The sender's byte at stream offset `offset`: a hash, so that a byte stored in the wrong
// place never matches by accident.
std::byte byte_at(uint64_t offset) {
  return static_cast<std::byte>((offset * 0x9E3779B97F4A7C15ULL) >> 56);
}

std::vector<std::byte> stream(uint64_t offset, size_t len) {
  std::vector<std::byte> out(len);
  for (size_t i = 0; i < len; ++i)
    out[i] = byte_at(offset + i);
  return out;
}

std::vector<std::byte> read_all(Reassembler& r) {
  std::vector<std::byte> out(r.readable());
  EXPECT_EQ(r.read(out), out.size());
  return out;
}

std::vector<OffsetRange> sack(const Reassembler& r, size_t max_blocks = wire::kMaxSackBlocks) {
  const SackRanges s = r.sack_ranges(max_blocks);
  return {s.begin(), s.end()};
}

std::vector<OffsetRange> ranges(const Reassembler& r) {
  std::vector<OffsetRange> out;
  for (const auto& e : r.out_of_order())
    out.push_back(e.range);
  return out;
}

// mt19937_64's output is fixed by the standard; the reductions below are ours, so runs are
// identical on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t below(uint64_t n) { return n == 0 ? 0 : gen_() % n; }
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i)
      std::swap(v[i - 1], v[static_cast<size_t>(below(i))]);
  }

 private:
  std::mt19937_64 gen_;
};

struct Segment {
  uint64_t offset;
  size_t len;
};

TEST(Reassembler, StartsEmpty) {
  Reassembler r(100);
  EXPECT_EQ(r.capacity(), 100u);
  EXPECT_EQ(r.next_expected(), 0u);
  EXPECT_EQ(r.read_offset(), 0u);
  EXPECT_EQ(r.readable(), 0u);
  EXPECT_EQ(r.free_window(), 100u);
  EXPECT_FALSE(r.has_out_of_order());
  EXPECT_TRUE(sack(r).empty());
  const auto [first, second] = r.peek_readable();
  EXPECT_TRUE(first.empty());
  EXPECT_TRUE(second.empty());
}

TEST(Reassembler, InOrderSegmentsAdvanceTheprefix) {
  Reassembler r(100);
  EXPECT_EQ(r.insert(0, stream(0, 10)).advanced, 10u);
  EXPECT_EQ(r.insert(10, stream(10, 5)).advanced, 5u);
  EXPECT_EQ(r.insert(15, {}).advanced, 0u);
  EXPECT_EQ(r.next_expected(), 15u);
  EXPECT_EQ(r.readable(), 15u);
  EXPECT_EQ(r.free_window(), 85u);
  EXPECT_FALSE(r.has_out_of_order());
  EXPECT_EQ(read_all(r), stream(0, 15));
  EXPECT_EQ(r.free_window(), 100u);
}

TEST(Reassembler, DuplicatesAndOverlapsBeforeNextExpectedAreTrimmed) {
  Reassembler r(100);
  ASSERT_EQ(r.insert(0, stream(0, 10)).advanced, 10u);
  EXPECT_EQ(r.insert(0, stream(0, 10)).advanced, 0u);  // whole duplicate
  EXPECT_EQ(r.insert(2, stream(2, 3)).advanced, 0u);   // inside the prefix
  EXPECT_EQ(r.insert(5, stream(5, 10)).advanced, 5u);  // straddles RCV.NXT
  EXPECT_EQ(r.next_expected(), 15u);
  EXPECT_EQ(read_all(r), stream(0, 15));
  // Already read: older than anything held.
  EXPECT_EQ(r.insert(0, stream(0, 20)).advanced, 5u);
  EXPECT_EQ(read_all(r), stream(15, 5));
}

TEST(Reassembler, ReversedOrderDeliversOnTheLastSegment) {
  Reassembler r(1000);
  constexpr size_t kSeg = 37;
  constexpr size_t kCount = 20;
  for (size_t i = kCount; i-- > 1;) {
    const auto res = r.insert(i * kSeg, stream(i * kSeg, kSeg));
    EXPECT_EQ(res.advanced, 0u);
    EXPECT_FALSE(res.dropped_no_range);
  }
  // Adjacent segments merged into one range.
  EXPECT_EQ(ranges(r), (std::vector<OffsetRange>{{kSeg, kCount * kSeg}}));
  EXPECT_EQ(r.readable(), 0u);
  EXPECT_EQ(r.free_window(), 1000u);  // out-of-order bytes do not shrink the window
  EXPECT_EQ(r.insert(0, stream(0, kSeg)).advanced, kCount * kSeg);
  EXPECT_FALSE(r.has_out_of_order());
  EXPECT_EQ(read_all(r), stream(0, kCount * kSeg));
}

TEST(Reassembler, DataBeyondTheWindowIsDropped) {
  Reassembler r(100);
  // Straddles the right edge: only [90, 100) is kept.
  auto res = r.insert(90, stream(90, 20));
  EXPECT_EQ(res.advanced, 0u);
  EXPECT_FALSE(res.dropped_no_range);
  EXPECT_EQ(ranges(r), (std::vector<OffsetRange>{{90, 100}}));
  // Wholly beyond: nothing kept, nothing reported.
  res = r.insert(100, stream(100, 10));
  EXPECT_EQ(res.advanced, 0u);
  EXPECT_FALSE(res.dropped_no_range);
  EXPECT_EQ(ranges(r), (std::vector<OffsetRange>{{90, 100}}));
  EXPECT_EQ(r.insert(UINT64_MAX - 3, stream(0, 10)).advanced, 0u);  // no overflow

  EXPECT_EQ(r.insert(0, stream(0, 95)).advanced, 100u);
  EXPECT_EQ(r.free_window(), 0u);
  EXPECT_EQ(r.insert(100, stream(100, 10)).advanced, 0u);  // zero window
  EXPECT_EQ(r.next_expected(), 100u);
  EXPECT_EQ(read_all(r), stream(0, 100));
}

TEST(Reassembler, ReadingFreesTheWindow) {
  Reassembler r(10);
  ASSERT_EQ(r.insert(0, stream(0, 10)).advanced, 10u);
  EXPECT_EQ(r.free_window(), 0u);
  std::vector<std::byte> out(4);
  EXPECT_EQ(r.read(out), 4u);
  EXPECT_EQ(out, stream(0, 4));
  EXPECT_EQ(r.read_offset(), 4u);
  EXPECT_EQ(r.free_window(), 4u);
  EXPECT_EQ(r.insert(10, stream(10, 10)).advanced, 4u);  // the window's new right edge is 14
  EXPECT_EQ(r.free_window(), 0u);
  std::vector<std::byte> all(20);
  EXPECT_EQ(r.read(all), 10u);
  all.resize(10);
  EXPECT_EQ(all, stream(4, 10));
  EXPECT_EQ(r.free_window(), 10u);
}

TEST(Reassembler, PeekAndConsumeReadWithoutCopying) {
  Reassembler r(8);
  ASSERT_EQ(r.insert(0, stream(0, 6)).advanced, 6u);
  ASSERT_EQ(r.consume(5), 5u);
  ASSERT_EQ(r.insert(6, stream(6, 7)).advanced, 7u);  // offsets 8..12 wrap to indexes 0..4
  const auto [first, second] = r.peek_readable();
  EXPECT_EQ(std::vector<std::byte>(first.begin(), first.end()), stream(5, 3));
  EXPECT_EQ(std::vector<std::byte>(second.begin(), second.end()), stream(8, 5));
  EXPECT_EQ(r.consume(100), 8u);
  EXPECT_EQ(r.readable(), 0u);
  EXPECT_EQ(r.consume(1), 0u);
}

TEST(Reassembler, ZeroCapacityAcceptsNothing) {
  Reassembler r(0);
  EXPECT_EQ(r.free_window(), 0u);
  EXPECT_EQ(r.insert(0, stream(0, 4)).advanced, 0u);
  EXPECT_EQ(r.insert(1, stream(1, 4)).advanced, 0u);
  EXPECT_FALSE(r.has_out_of_order());
  EXPECT_EQ(r.next_expected(), 0u);
  std::vector<std::byte> out(4);
  EXPECT_EQ(r.read(out), 0u);
}

TEST(Reassembler, ResizeOnlyWhileNothingIsHeld) {
  Reassembler r(0);
  EXPECT_TRUE(r.resize(8));
  EXPECT_EQ(r.free_window(), 8u);
  ASSERT_EQ(r.insert(3, stream(3, 2)).advanced, 0u);
  EXPECT_FALSE(r.resize(100));  // out-of-order bytes held
  ASSERT_EQ(r.insert(0, stream(0, 3)).advanced, 5u);
  EXPECT_FALSE(r.resize(100));  // unread bytes held
  EXPECT_EQ(read_all(r), stream(0, 5));
  EXPECT_TRUE(r.resize(6));
  EXPECT_EQ(r.capacity(), 6u);
  EXPECT_EQ(r.next_expected(), 5u);  // offsets carry on
  EXPECT_EQ(r.insert(5, stream(5, 10)).advanced, 6u);
  EXPECT_EQ(read_all(r), stream(5, 6));
}

TEST(Reassembler, OutOfOrderRangeTableOverflowDropsTheNewData) {
  constexpr size_t kMax = Reassembler::kMaxOutOfOrderRanges;
  Reassembler r(1000);
  // Ranges [2,3), [4,5), ..., one byte each with a gap before each.
  for (size_t i = 1; i <= kMax; ++i) {
    ASSERT_FALSE(r.insert(2 * i, stream(2 * i, 1)).dropped_no_range) << i;
  }
  ASSERT_EQ(r.out_of_order().size(), kMax);

  // A 33rd isolated range is refused and not stored.
  auto res = r.insert(500, stream(500, 10));
  EXPECT_TRUE(res.dropped_no_range);
  EXPECT_EQ(res.advanced, 0u);
  EXPECT_EQ(r.out_of_order().size(), kMax);
  EXPECT_EQ(r.out_of_order()[kMax - 1].range, (OffsetRange{2 * kMax, 2 * kMax + 1}));

  // Data that extends or bridges existing ranges needs no new entry, so it is kept.
  res = r.insert(2 * kMax + 1, stream(2 * kMax + 1, 5));  // extends the last range
  EXPECT_FALSE(res.dropped_no_range);
  res = r.insert(3, stream(3, 1));  // bridges [2,3) and [4,5)
  EXPECT_FALSE(res.dropped_no_range);
  EXPECT_EQ(r.out_of_order().size(), kMax - 1);
  EXPECT_EQ(r.out_of_order()[0].range, (OffsetRange{2, 5}));

  // With an entry free again, the retransmission is accepted.
  res = r.insert(500, stream(500, 10));
  EXPECT_FALSE(res.dropped_no_range);
  EXPECT_EQ(r.out_of_order().size(), kMax);

  // In-order data never needs an entry: it is accepted even with the table full.
  res = r.insert(0, stream(0, 2));
  EXPECT_FALSE(res.dropped_no_range);
  EXPECT_EQ(res.advanced, 5u);  // [0,2) plus the absorbed [2,5)
  EXPECT_EQ(read_all(r), stream(0, 5));
  EXPECT_EQ(r.out_of_order().size(), kMax - 1);
}

// RFC 2018 §7, case 3: left window edge 5000, eight 500-byte segments, the 2nd, 4th, 6th
// and 8th lost. Each ACK's first block holds the segment that triggered it (§4).
TEST(Reassembler, SackBlockOrderFollowsRfc2018Example) {
  Reassembler r(65536);
  ASSERT_EQ(r.insert(0, stream(0, 5000)).advanced, 5000u);
  ASSERT_EQ(read_all(r), stream(0, 5000));

  EXPECT_EQ(r.insert(5000, stream(5000, 500)).advanced, 500u);  // ACK 5500
  EXPECT_TRUE(sack(r).empty());
  EXPECT_EQ(r.insert(6000, stream(6000, 500)).advanced, 0u);
  EXPECT_EQ(sack(r), (std::vector<OffsetRange>{{6000, 6500}}));
  EXPECT_EQ(r.insert(7000, stream(7000, 500)).advanced, 0u);
  EXPECT_EQ(sack(r), (std::vector<OffsetRange>{{7000, 7500}, {6000, 6500}}));
  EXPECT_EQ(r.insert(8000, stream(8000, 500)).advanced, 0u);
  EXPECT_EQ(sack(r), (std::vector<OffsetRange>{{8000, 8500}, {7000, 7500}, {6000, 6500}}));

  // "Suppose at this point, the 4th packet is received out of order": it joins two blocks,
  // and the joined block goes first.
  EXPECT_EQ(r.insert(6500, stream(6500, 500)).advanced, 0u);
  EXPECT_EQ(sack(r), (std::vector<OffsetRange>{{6000, 7500}, {8000, 8500}}));

  // "Suppose at this point, the 2nd segment is received": ACK 7500, SACK 8000-8500.
  EXPECT_EQ(r.insert(5500, stream(5500, 500)).advanced, 2000u);
  EXPECT_EQ(r.next_expected(), 7500u);
  EXPECT_EQ(sack(r), (std::vector<OffsetRange>{{8000, 8500}}));
  EXPECT_EQ(read_all(r), stream(5000, 2500));
}

// RFC 2018 §7, case 2: the first segment is lost and the other seven arrive; every ACK
// carries one growing block.
TEST(Reassembler, SackBlockGrowsWhileTheFirstSegmentIsMissing) {
  Reassembler r(65536);
  ASSERT_EQ(r.insert(0, stream(0, 5000)).advanced, 5000u);
  for (uint64_t seg = 5500; seg < 9000; seg += 500) {
    EXPECT_EQ(r.insert(seg, stream(seg, 500)).advanced, 0u);
    EXPECT_EQ(sack(r), (std::vector<OffsetRange>{{5500, seg + 500}}));
  }
  EXPECT_EQ(r.insert(5000, stream(5000, 500)).advanced, 4000u);
  EXPECT_TRUE(sack(r).empty());
}

TEST(Reassembler, SackReportsTheMostRecentRangesFirstUpToTheLimit) {
  Reassembler r(10000);
  // Six isolated ranges, arriving in the order 3, 0, 5, 1, 4, 2 (range k at 100k + 100).
  for (const uint64_t k : {3u, 0u, 5u, 1u, 4u, 2u}) {
    ASSERT_FALSE(r.insert(100 * k + 100, stream(100 * k + 100, 10)).dropped_no_range);
  }
  const auto block = [](uint64_t k) { return OffsetRange{100 * k + 100, 100 * k + 110}; };
  EXPECT_EQ(sack(r), (std::vector<OffsetRange>{block(2), block(4), block(1), block(5)}));
  // Three when timestamps take part of the options area.
  EXPECT_EQ(sack(r, 3), (std::vector<OffsetRange>{block(2), block(4), block(1)}));
  EXPECT_TRUE(sack(r, 0).empty());
  EXPECT_EQ(sack(r, 100).size(), wire::kMaxSackBlocks);

  // A duplicate inside an old range still triggers an ACK whose first block holds it.
  ASSERT_FALSE(r.insert(103, stream(103, 2)).dropped_no_range);
  EXPECT_EQ(sack(r), (std::vector<OffsetRange>{block(0), block(2), block(4), block(1)}));
  // Extending a range also makes it the newest.
  ASSERT_FALSE(r.insert(605, stream(605, 10)).dropped_no_range);
  EXPECT_EQ(sack(r), (std::vector<OffsetRange>{{600, 615}, block(0), block(2), block(4)}));
}

TEST(Reassembler, WrapsAroundTheRingManyTimes) {
  for (const size_t capacity : {7u, 64u, 4096u}) {
    SCOPED_TRACE(capacity);
    Reassembler r(capacity);
    Rng rng(capacity);
    const uint64_t total = capacity * 300 + 5;
    std::vector<std::byte> received;
    received.reserve(total);
    while (r.next_expected() < total) {
      // Two segments filling the window, the later one first.
      const uint64_t ne = r.next_expected();
      const uint64_t room = std::min<uint64_t>(r.free_window(), total - ne);
      const uint64_t a = room < 2 ? room : 1 + rng.below(room - 1);
      if (room - a != 0) {
        ASSERT_EQ(r.insert(ne + a, stream(ne + a, room - a)).advanced, 0u);
      }
      ASSERT_EQ(r.insert(ne, stream(ne, a)).advanced, room);
      // Read a random part, so the read position drifts around the ring.
      std::vector<std::byte> out(1 + rng.below(r.readable()));
      out.resize(r.read(out));
      received.insert(received.end(), out.begin(), out.end());
    }
    const auto rest = read_all(r);
    received.insert(received.end(), rest.begin(), rest.end());
    ASSERT_EQ(received.size(), total);
    EXPECT_TRUE(received == stream(0, total));
  }
}

// Segments covering [0, total) with overlaps and duplicates, in random order, offered again
// in new random orders (as retransmissions would be) until all is delivered. Every byte must
// come out exactly once, in order and intact, whatever the window and range-table limits
// dropped on the way.
TEST(Reassembler, RandomPermutationsWithOverlapsAndDuplicatesDeliverTheStream) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    Rng rng(seed);
    const size_t capacity = seed % 3 == 0 ? 500 : 20000;
    const uint64_t total = 3000 + rng.below(5000);
    // Short segments leave many gaps: more than the range table holds.
    const uint64_t max_len = seed % 2 == 0 ? 20 : 200;

    std::vector<Segment> segments;
    for (uint64_t at = 0; at < total;) {  // a partition covering the stream
      const size_t len =
          static_cast<size_t>(std::min<uint64_t>(1 + rng.below(max_len), total - at));
      segments.push_back({at, len});
      at += len;
    }
    const size_t partition = segments.size();
    for (size_t i = 0; i < partition; ++i) {  // overlapping and duplicate extras
      const uint64_t at = rng.below(total);
      segments.push_back(
          {at, static_cast<size_t>(std::min<uint64_t>(1 + rng.below(2 * max_len), total - at))});
      if (rng.below(4) == 0) segments.push_back(segments[rng.below(segments.size())]);
    }

    Reassembler r(capacity);
    std::vector<std::byte> received;
    int rounds = 0;
    while (r.next_expected() < total) {
      ASSERT_LT(++rounds, 10000);
      rng.shuffle(segments);
      for (const Segment& s : segments) {
        const uint64_t before = r.next_expected();
        const auto res = r.insert(s.offset, stream(s.offset, s.len));
        ASSERT_EQ(r.next_expected(), before + res.advanced);
        ASSERT_LE(r.readable(), capacity);
        ASSERT_LE(r.out_of_order().size(), Reassembler::kMaxOutOfOrderRanges);
        if (rng.below(3) == 0) {
          std::vector<std::byte> out(rng.below(r.readable() + 1));
          out.resize(r.read(out));
          received.insert(received.end(), out.begin(), out.end());
        }
      }
    }
    EXPECT_FALSE(r.has_out_of_order());
    const auto rest = read_all(r);
    received.insert(received.end(), rest.begin(), rest.end());
    ASSERT_EQ(received.size(), total);
    EXPECT_TRUE(received == stream(0, total));
  }
}

// A model kept byte by byte: which offsets are held, plus each accepted out-of-order segment
// and its arrival order. Ranges, the drop rule and the SACK order are derived from it
// independently of the Reassembler's interval table.
class Model {
 public:
  Model(size_t capacity, uint64_t total) : capacity_(capacity), held_(total + 1, false) {}

  uint64_t next_expected() const { return next_expected_; }
  uint64_t read_offset() const { return read_offset_; }
  uint64_t window_end() const { return read_offset_ + capacity_; }

  Reassembler::InsertResult insert(uint64_t offset, size_t len) {
    const uint64_t end = std::min(offset + len, window_end());
    const uint64_t begin = std::max(offset, next_expected_);
    if (begin >= end) return {};
    if (begin > next_expected_) {
      std::vector<uint64_t> newly_held;
      for (uint64_t i = begin; i < end; ++i) {
        if (!held_[i]) newly_held.push_back(i);
        held_[i] = true;
      }
      if (ranges().size() > Reassembler::kMaxOutOfOrderRanges) {
        for (const uint64_t i : newly_held) {
          held_[i] = false;
        }
        return {.advanced = 0, .dropped_no_range = true};
      }
      segments_.push_back({{begin, end}, ++arrivals_});
      return {};
    }
    std::fill(held_.begin() + static_cast<ptrdiff_t>(begin),
              held_.begin() + static_cast<ptrdiff_t>(end), true);
    const uint64_t before = next_expected_;
    while (next_expected_ < held_.size() && held_[next_expected_]) {
      ++next_expected_;
    }
    std::erase_if(segments_, [&](const auto& s) { return s.range.begin < next_expected_; });
    return {.advanced = static_cast<size_t>(next_expected_ - before)};
  }

  size_t read(size_t n) {
    const auto taken = static_cast<size_t>(std::min<uint64_t>(n, next_expected_ - read_offset_));
    read_offset_ += taken;
    return taken;
  }

  // The out-of-order ranges: maximal runs of held bytes past RCV.NXT.
  std::vector<OffsetRange> ranges() const {
    std::vector<OffsetRange> out;
    const uint64_t limit = std::min<uint64_t>(window_end(), held_.size());
    for (uint64_t i = next_expected_; i < limit; ++i) {
      if (!held_[i]) continue;
      if (!out.empty() && out.back().end == i) {
        out.back().end = i + 1;
      } else {
        out.push_back({i, i + 1});
      }
    }
    return out;
  }

  // The SACK order derived from scratch: each range is as recent as the newest segment
  // inside it.
  std::vector<OffsetRange> sack(const std::vector<OffsetRange>& held_ranges,
                                size_t max_blocks) const {
    std::vector<std::pair<uint64_t, OffsetRange>> by_recency;  // (newest segment, range)
    for (const OffsetRange& r : held_ranges) {
      uint64_t newest = 0;
      for (const auto& s : segments_) {
        if (s.range.begin >= r.begin && s.range.end <= r.end) newest = std::max(newest, s.arrival);
      }
      by_recency.push_back({newest, r});
    }
    std::sort(by_recency.begin(), by_recency.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<OffsetRange> out;
    for (size_t i = 0; i < by_recency.size() && i < std::min(max_blocks, wire::kMaxSackBlocks);
         ++i) {
      out.push_back(by_recency[i].second);
    }
    return out;
  }

 private:
  struct Accepted {
    OffsetRange range;
    uint64_t arrival;
  };

  size_t capacity_;
  std::vector<bool> held_;
  std::vector<Accepted> segments_;
  uint64_t next_expected_ = 0;
  uint64_t read_offset_ = 0;
  uint64_t arrivals_ = 0;
};

void run_model_check(uint64_t seed, size_t capacity, int steps) {
  Rng rng(seed);
  const uint64_t total = capacity * 40 + 1000;
  Reassembler r(capacity);
  Model model(capacity, total);
  std::vector<std::byte> received;

  for (int step = 0; step < steps && model.next_expected() < total; ++step) {
    SCOPED_TRACE(testing::Message()
                 << "seed " << seed << " capacity " << capacity << " step " << step);
    if (rng.below(4) != 0) {
      // Offsets at or just before RCV.NXT (advancing it), otherwise anywhere from before
      // the read offset to past the window; lengths mostly tiny (many gaps, to reach the
      // range-table limit), sometimes a window's worth.
      uint64_t offset;
      if (rng.below(8) == 0) {
        const uint64_t back = std::min<uint64_t>(rng.below(10), model.next_expected());
        offset = model.next_expected() - back;
      } else {
        const uint64_t lo = model.read_offset() >= 20 ? model.read_offset() - 20 : 0;
        offset = lo + rng.below(capacity + 60);
      }
      offset = std::min(offset, total - 1);
      const uint64_t kind = rng.below(16);
      const uint64_t max_len = kind < 14 ? 8 : kind == 14 ? capacity / 8 + 3 : capacity + 20;
      const auto len =
          static_cast<size_t>(std::min<uint64_t>(rng.below(max_len + 1), total - offset));
      const auto expect = model.insert(offset, len);
      const auto got = r.insert(offset, stream(offset, len));
      ASSERT_EQ(got.advanced, expect.advanced) << "insert " << offset << "+" << len;
      ASSERT_EQ(got.dropped_no_range, expect.dropped_no_range) << "insert " << offset << "+" << len;
    } else {
      const size_t n = static_cast<size_t>(rng.below(capacity + 1));
      std::vector<std::byte> out(n);
      const size_t expect = model.read(n);
      ASSERT_EQ(r.read(out), expect);
      received.insert(received.end(), out.begin(), out.begin() + static_cast<ptrdiff_t>(expect));
    }
    ASSERT_EQ(r.next_expected(), model.next_expected());
    ASSERT_EQ(r.read_offset(), model.read_offset());
    ASSERT_EQ(r.readable(), model.next_expected() - model.read_offset());
    ASSERT_EQ(r.free_window(), capacity - r.readable());
    const auto model_ranges = model.ranges();
    ASSERT_EQ(ranges(r), model_ranges);
    ASSERT_EQ(r.has_out_of_order(), !model_ranges.empty());
    const size_t max_blocks = static_cast<size_t>(rng.below(wire::kMaxSackBlocks + 1));
    ASSERT_EQ(sack(r, max_blocks), model.sack(model_ranges, max_blocks));
  }
  ASSERT_TRUE(received == stream(0, received.size()));
}

TEST(Reassembler, RandomOperationsMatchByteModel) {
  for (const size_t capacity : {1u, 7u, 64u, 300u, 2048u}) {
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      run_model_check(seed * 104729 + capacity, capacity, 5000);
      if (testing::Test::HasFatalFailure()) return;
    }
  }
}

}  // namespace
}  // namespace synack::tcp

namespace synack::tcp {
namespace {

TEST(Reassembler, AllocatesOnlyWhenTheFirstByteIsHeld) {
  Reassembler r(1 << 20);
  EXPECT_FALSE(r.allocated());
  const std::byte x{42};
  (void)r.insert(uint64_t{2} << 20, wire::Bytes(&x, 1));  // beyond the window: not held
  EXPECT_FALSE(r.allocated());
  (void)r.insert(5, wire::Bytes(&x, 1));  // out of order, held
  EXPECT_TRUE(r.allocated());
}

}  // namespace
}  // namespace synack::tcp
