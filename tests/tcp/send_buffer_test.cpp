#include "synack/tcp/send_buffer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <random>
#include <vector>

namespace synack::tcp {
namespace {

// The byte the application wrote at stream offset `offset`: a hash, so that a byte read
// from the wrong place in the ring never matches by accident (even for capacity 7).
std::byte byte_at(uint64_t offset) {
  return static_cast<std::byte>((offset * 0x9E3779B97F4A7C15ULL) >> 56);
}

std::vector<std::byte> stream(uint64_t offset, size_t len) {
  std::vector<std::byte> out(len);
  for (size_t i = 0; i < len; ++i)
    out[i] = byte_at(offset + i);
  return out;
}

std::vector<std::byte> concat(std::pair<wire::Bytes, wire::Bytes> spans) {
  std::vector<std::byte> out(spans.first.begin(), spans.first.end());
  out.insert(out.end(), spans.second.begin(), spans.second.end());
  return out;
}

// mt19937_64's output is fixed by the standard; the reduction below is ours, so runs are
// identical on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t below(uint64_t n) { return n == 0 ? 0 : gen_() % n; }

 private:
  std::mt19937_64 gen_;
};

TEST(SendBuffer, StartsEmpty) {
  SendBuffer buf(16);
  EXPECT_EQ(buf.capacity(), 16u);
  EXPECT_EQ(buf.size(), 0u);
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(buf.free_space(), 16u);
  EXPECT_EQ(buf.begin_offset(), 0u);
  EXPECT_EQ(buf.end_offset(), 0u);
  const auto [first, second] = buf.peek(0, 16);
  EXPECT_TRUE(first.empty());
  EXPECT_TRUE(second.empty());
}

TEST(SendBuffer, WriteTakesOnlyWhatFits) {
  SendBuffer buf(10);
  EXPECT_EQ(buf.write(stream(0, 6)), 6u);
  EXPECT_EQ(buf.free_space(), 4u);
  EXPECT_EQ(buf.write(stream(6, 6)), 4u);
  EXPECT_EQ(buf.free_space(), 0u);
  EXPECT_EQ(buf.end_offset(), 10u);
  EXPECT_EQ(buf.write(stream(10, 1)), 0u);
  EXPECT_EQ(buf.write({}), 0u);
  EXPECT_EQ(concat(buf.peek(0, 10)), stream(0, 10));
}

TEST(SendBuffer, AcknowledgeDropsBytesAndFreesSpace) {
  SendBuffer buf(10);
  ASSERT_EQ(buf.write(stream(0, 10)), 10u);
  EXPECT_EQ(buf.acknowledge(4), 4u);
  EXPECT_EQ(buf.begin_offset(), 4u);
  EXPECT_EQ(buf.size(), 6u);
  EXPECT_EQ(buf.free_space(), 4u);
  EXPECT_EQ(concat(buf.peek(4, 100)), stream(4, 6));
}

TEST(SendBuffer, AcknowledgeIgnoresOldOffsets) {
  SendBuffer buf(10);
  ASSERT_EQ(buf.write(stream(0, 10)), 10u);
  ASSERT_EQ(buf.acknowledge(6), 6u);
  EXPECT_EQ(buf.acknowledge(6), 0u);  // duplicate ACK
  EXPECT_EQ(buf.acknowledge(3), 0u);  // old ACK, reordered
  EXPECT_EQ(buf.acknowledge(0), 0u);
  EXPECT_EQ(buf.begin_offset(), 6u);
  EXPECT_EQ(buf.size(), 4u);
}

TEST(SendBuffer, AcknowledgeBeyondEndClampsToEnd) {
  SendBuffer buf(10);
  ASSERT_EQ(buf.write(stream(0, 5)), 5u);
  // One past the end is what an ACK of the FIN looks like as an offset.
  EXPECT_EQ(buf.acknowledge(6), 5u);
  EXPECT_EQ(buf.begin_offset(), 5u);
  EXPECT_EQ(buf.end_offset(), 5u);
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(buf.acknowledge(UINT64_MAX), 0u);
  EXPECT_EQ(buf.begin_offset(), 5u);
  // The buffer still works after the clamp.
  EXPECT_EQ(buf.write(stream(5, 10)), 10u);
  EXPECT_EQ(concat(buf.peek(5, 10)), stream(5, 10));
}

TEST(SendBuffer, PeekClipsToEndAndRejectsOffsetsOutside) {
  SendBuffer buf(10);
  ASSERT_EQ(buf.write(stream(0, 8)), 8u);
  ASSERT_EQ(buf.acknowledge(3), 3u);
  EXPECT_EQ(concat(buf.peek(5, 100)), stream(5, 3));
  EXPECT_EQ(concat(buf.peek(3, 2)), stream(3, 2));
  EXPECT_TRUE(concat(buf.peek(5, 0)).empty());
  EXPECT_TRUE(concat(buf.peek(2, 4)).empty());  // already acknowledged
  EXPECT_TRUE(concat(buf.peek(8, 4)).empty());  // not written yet
  EXPECT_TRUE(concat(buf.peek(UINT64_MAX, 4)).empty());
}

TEST(SendBuffer, CopyOutClipsToEndAndToTheOutputSpan) {
  SendBuffer buf(8);
  ASSERT_EQ(buf.write(stream(0, 8)), 8u);
  ASSERT_EQ(buf.acknowledge(5), 5u);
  ASSERT_EQ(buf.write(stream(8, 5)), 5u);  // wraps: offsets 8..12 at indexes 0..4
  std::vector<std::byte> out(20);
  EXPECT_EQ(buf.copy_out(6, out), 7u);
  EXPECT_EQ(std::vector<std::byte>(out.begin(), out.begin() + 7), stream(6, 7));
  std::vector<std::byte> small(3);
  EXPECT_EQ(buf.copy_out(6, small), 3u);
  EXPECT_EQ(small, stream(6, 3));
  EXPECT_EQ(buf.copy_out(4, out), 0u);
  EXPECT_EQ(buf.copy_out(13, out), 0u);
}

TEST(SendBuffer, ZeroCapacityHoldsNothing) {
  SendBuffer buf(0);
  EXPECT_EQ(buf.capacity(), 0u);
  EXPECT_EQ(buf.free_space(), 0u);
  EXPECT_EQ(buf.write(stream(0, 4)), 0u);
  EXPECT_EQ(buf.end_offset(), 0u);
  EXPECT_EQ(buf.acknowledge(3), 0u);
  EXPECT_EQ(buf.begin_offset(), 0u);
  EXPECT_TRUE(concat(buf.peek(0, 4)).empty());
  std::vector<std::byte> out(4);
  EXPECT_EQ(buf.copy_out(0, out), 0u);
}

TEST(SendBuffer, ResizeOnlyWhileEmpty) {
  SendBuffer buf(0);
  EXPECT_TRUE(buf.resize(6));
  EXPECT_EQ(buf.capacity(), 6u);
  ASSERT_EQ(buf.write(stream(0, 4)), 4u);
  EXPECT_FALSE(buf.resize(100));
  EXPECT_EQ(buf.capacity(), 6u);
  EXPECT_EQ(concat(buf.peek(0, 4)), stream(0, 4));

  ASSERT_EQ(buf.acknowledge(4), 4u);
  EXPECT_TRUE(buf.resize(5));
  EXPECT_EQ(buf.capacity(), 5u);
  EXPECT_EQ(buf.begin_offset(), 4u);  // offsets carry on
  EXPECT_EQ(buf.end_offset(), 4u);
  EXPECT_EQ(buf.write(stream(4, 9)), 5u);  // wraps at the new capacity
  EXPECT_EQ(concat(buf.peek(4, 5)), stream(4, 5));
}

// For every position the ring's start can sit at, fill the ring completely and read it back
// through peek (every range) and copy_out.
void check_wrap_at_every_position(size_t capacity, bool all_ranges) {
  for (size_t start = 0; start < capacity; ++start) {
    SendBuffer buf(capacity);
    ASSERT_EQ(buf.write(stream(0, start)), start);
    ASSERT_EQ(buf.acknowledge(start), start);
    ASSERT_EQ(buf.write(stream(start, capacity + 1)), capacity) << "start " << start;
    ASSERT_EQ(buf.free_space(), 0u);

    const auto [first, second] = buf.peek(start, capacity);
    ASSERT_EQ(first.size(), capacity - start) << "start " << start;
    ASSERT_EQ(second.size(), start) << "start " << start;
    ASSERT_EQ(concat({first, second}), stream(start, capacity)) << "start " << start;

    std::vector<std::byte> out(capacity);
    ASSERT_EQ(buf.copy_out(start, out), capacity);
    ASSERT_EQ(out, stream(start, capacity)) << "start " << start;

    if (all_ranges) {
      for (size_t from = 0; from < capacity; ++from) {
        for (size_t len = 0; len <= capacity; ++len) {
          const size_t expect = std::min(len, capacity - from);
          ASSERT_EQ(concat(buf.peek(start + from, len)), stream(start + from, expect))
              << "start " << start << " from " << from << " len " << len;
        }
      }
    } else {
      const size_t from = capacity / 3;
      ASSERT_EQ(concat(buf.peek(start + from, capacity / 2)), stream(start + from, capacity / 2));
    }

    // Drain half and refill, so the end crosses the wrap point too.
    ASSERT_EQ(buf.acknowledge(start + capacity / 2), capacity / 2);
    ASSERT_EQ(buf.write(stream(start + capacity, capacity)), capacity / 2);
    ASSERT_EQ(concat(buf.peek(start + capacity / 2, capacity)),
              stream(start + capacity / 2, capacity));
  }
}

TEST(SendBuffer, WrapAroundAtEveryPositionCapacity7) {
  check_wrap_at_every_position(7, /*all_ranges=*/true);
}

TEST(SendBuffer, WrapAroundAtEveryPositionCapacity4096) {
  check_wrap_at_every_position(4096, /*all_ranges=*/false);
}

// Random writes, acknowledgements and reads checked against a std::deque holding the same
// bytes.
void run_model_check(uint64_t seed, size_t capacity, int steps) {
  Rng rng(seed);
  SendBuffer buf(capacity);
  std::deque<std::byte> model;
  uint64_t model_begin = 0;
  uint64_t written = 0;

  for (int step = 0; step < steps; ++step) {
    SCOPED_TRACE(testing::Message()
                 << "seed " << seed << " capacity " << capacity << " step " << step);
    const uint64_t model_end = model_begin + model.size();
    switch (rng.below(4)) {
      case 0: {
        const size_t len = static_cast<size_t>(rng.below(capacity + capacity / 2 + 2));
        const auto data = stream(written, len);
        const size_t took = buf.write(data);
        const size_t expect = std::min(len, capacity - model.size());
        ASSERT_EQ(took, expect);
        model.insert(model.end(), data.begin(), data.begin() + static_cast<ptrdiff_t>(took));
        written += took;
        break;
      }
      case 1: {
        // Anywhere from a little before the start to a little beyond the end.
        const uint64_t lo = model_begin >= 4 ? model_begin - 4 : 0;
        const uint64_t ack = lo + rng.below(model_end + 4 - lo + 1);
        const uint64_t to = std::min(std::max(ack, model_begin), model_end);
        ASSERT_EQ(buf.acknowledge(ack), to - model_begin);
        model.erase(model.begin(), model.begin() + static_cast<ptrdiff_t>(to - model_begin));
        model_begin = to;
        break;
      }
      case 2: {
        const uint64_t lo = model_begin >= 2 ? model_begin - 2 : 0;
        const uint64_t offset = lo + rng.below(model_end + 2 - lo + 1);
        const size_t len = static_cast<size_t>(rng.below(capacity + 3));
        std::vector<std::byte> expect;
        if (offset >= model_begin && offset < model_end) {
          const auto from = model.begin() + static_cast<ptrdiff_t>(offset - model_begin);
          const auto n = std::min<uint64_t>(len, model_end - offset);
          expect.assign(from, from + static_cast<ptrdiff_t>(n));
        }
        const auto spans = buf.peek(offset, len);
        ASSERT_EQ(concat(spans), expect);
        std::vector<std::byte> out(len);
        ASSERT_EQ(buf.copy_out(offset, out), expect.size());
        out.resize(expect.size());
        ASSERT_EQ(out, expect);
        break;
      }
      default:
        break;
    }
    ASSERT_EQ(buf.begin_offset(), model_begin);
    ASSERT_EQ(buf.end_offset(), model_begin + model.size());
    ASSERT_EQ(buf.size(), model.size());
    ASSERT_EQ(buf.free_space(), capacity - model.size());
    // Everything held is the application's stream, intact.
    ASSERT_EQ(concat(buf.peek(model_begin, capacity)),
              std::vector<std::byte>(model.begin(), model.end()));
  }
}

TEST(SendBuffer, RandomOperationsMatchDequeModel) {
  for (const size_t capacity : {1u, 2u, 7u, 64u, 1000u, 4096u}) {
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      run_model_check(seed * 7919 + capacity, capacity, 3000);
      if (testing::Test::HasFatalFailure()) return;
    }
  }
}

}  // namespace
}  // namespace synack::tcp

namespace synack::tcp {
namespace {

TEST(SendBuffer, AllocatesOnlyWhenTheFirstByteIsWritten) {
  SendBuffer b(1 << 20);
  EXPECT_FALSE(b.allocated());
  EXPECT_EQ(b.write({}), 0u);
  EXPECT_FALSE(b.allocated());
  const std::byte x{42};
  EXPECT_EQ(b.write(wire::Bytes(&x, 1)), 1u);
  EXPECT_TRUE(b.allocated());
}

}  // namespace
}  // namespace synack::tcp
