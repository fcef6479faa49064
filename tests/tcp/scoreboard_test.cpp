// The sender's scoreboard: RFC 6675 pipe and IsLost, RFC 2018 SACK, RFC 2883 D-SACK, and
// RACK's per-segment loss detection (RFC 8985 §6.2).
#include "synack/tcp/scoreboard.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace synack::tcp {
namespace {

constexpr uint32_t kMss = 1000;
const Instant t0 = Instant::from_micros(1'000'000);

// Ten segments of 1000 bytes from offset 0, sent 1 ms apart.
Scoreboard ten_segments() {
  Scoreboard sb;
  sb.reset(0);
  for (uint64_t i = 0; i < 10; ++i) {
    sb.on_transmit(i * kMss, (i + 1) * kMss, t0 + Duration::millis(static_cast<int64_t>(i)), 0);
  }
  return sb;
}

Scoreboard::AckResult ack(Scoreboard& sb, uint64_t cum, std::vector<SackRange> blocks,
                          Instant now = t0 + Duration::millis(50)) {
  return sb.on_ack(cum, blocks, now, Duration::millis(10), 0);
}

TEST(Scoreboard, PipeIsFlightSizeWithoutSack_Rfc6675_4) {
  Scoreboard sb = ten_segments();
  EXPECT_EQ(sb.pipe(), 10'000u);
  const auto r = ack(sb, 3000, {});
  EXPECT_EQ(r.acked, 3000u);
  EXPECT_EQ(sb.pipe(), 7000u);
  EXPECT_EQ(sb.size(), 7u);
  EXPECT_TRUE(sb.consistent());
}

TEST(Scoreboard, SackedBytesLeavePipe_Rfc2018_Rfc6675_4) {
  Scoreboard sb = ten_segments();
  const auto r = ack(sb, 0, {{2000, 4000}, {6000, 7000}});
  EXPECT_EQ(r.sacked, 3000u);
  EXPECT_EQ(sb.pipe(), 7000u);
  EXPECT_EQ(sb.fack(), 7000u);
  EXPECT_EQ(sb.holes(), 2u);  // [0, 2000) and [4000, 6000)
  EXPECT_TRUE(sb.consistent());
}

// IsLost: DupThresh SACKed segments above, or more than 2 * SMSS SACKed bytes above.
TEST(Scoreboard, IsLostNeedsDupThreshSegmentsAbove_Rfc6675_4) {
  Scoreboard sb = ten_segments();
  ack(sb, 0, {{1000, 3000}});
  EXPECT_EQ(sb.mark_lost_dupthresh(kMss), 0u);  // two above: not yet
  ack(sb, 0, {{1000, 4000}});
  EXPECT_EQ(sb.mark_lost_dupthresh(kMss), 1000u);
  EXPECT_EQ(sb.next_lost()->begin, 0u);
  EXPECT_EQ(sb.pipe(), 10'000u - 3000 - 1000);
  // Retransmitting it puts it back in pipe (RFC 6675 §4: retransmitted octets count).
  sb.on_transmit(0, 1000, t0 + Duration::millis(60), 0);
  EXPECT_EQ(sb.next_lost(), nullptr);
  EXPECT_EQ(sb.pipe(), 10'000u - 3000);
  EXPECT_TRUE(sb.consistent());
}

TEST(Scoreboard, DsackBelowCumulativeAckOrInsideSecondBlock_Rfc2883_4) {
  Scoreboard sb = ten_segments();
  auto r = ack(sb, 2000, {{1000, 2000}});
  ASSERT_TRUE(r.dsack.has_value());
  EXPECT_EQ(*r.dsack, (SackRange{1000, 2000}));
  EXPECT_EQ(r.sacked, 0u);
  ack(sb, 2000, {{4000, 6000}});
  r = ack(sb, 2000, {{4000, 5000}, {4000, 6000}});
  ASSERT_TRUE(r.dsack.has_value());
  EXPECT_EQ(r.sacked, 0u);
  r = ack(sb, 2000, {{7000, 8000}, {4000, 6000}});
  EXPECT_FALSE(r.dsack.has_value());
  EXPECT_EQ(r.sacked, 1000u);
  EXPECT_TRUE(sb.consistent());
}

TEST(Scoreboard, PartialSegmentAcksAndSacksSplitRecords) {
  Scoreboard sb = ten_segments();
  ack(sb, 500, {{2500, 3200}});
  EXPECT_EQ(sb.una(), 500u);
  EXPECT_EQ(sb.sacked_bytes(), 700u);
  EXPECT_EQ(sb.pipe(), 10'000u - 500 - 700);
  EXPECT_TRUE(sb.consistent());
}

// RACK: a segment sent before the newest delivered one is lost once RACK.rtt + reo_wnd has
// passed since it was sent; until then the reordering timer covers it.
TEST(Scoreboard, RackMarksOlderSegmentsAfterTheReorderingWindow_Rfc8985_6_2) {
  Scoreboard sb = ten_segments();
  const auto r = ack(sb, 0, {{1000, 2000}}, t0 + Duration::millis(41));
  ASSERT_TRUE(r.newest_sent.has_value());
  EXPECT_EQ(*r.newest_sent, t0 + Duration::millis(1));
  EXPECT_EQ(r.newest_rtt->as_micros(), 40'000);
  // reo_wnd 10 ms: segment 0 (sent at t0) is lost at t0 + 40 + 10 ms.
  auto rack = sb.rack_detect_loss(t0 + Duration::millis(41), *r.newest_sent, r.newest_end,
                                  *r.newest_rtt, Duration::millis(10));
  EXPECT_EQ(rack.lost, 0u);
  ASSERT_TRUE(rack.timeout.has_value());
  EXPECT_EQ(*rack.timeout, t0 + Duration::millis(50));
  rack = sb.rack_detect_loss(t0 + Duration::millis(50), *r.newest_sent, r.newest_end, *r.newest_rtt,
                             Duration::millis(10));
  EXPECT_EQ(rack.lost, 1000u);
  EXPECT_EQ(sb.next_lost()->begin, 0u);
  EXPECT_TRUE(sb.consistent());
}

TEST(Scoreboard, ReorderingSeenWhenAHoleFillsWithoutRetransmission_Rfc8985_6_2) {
  Scoreboard sb = ten_segments();
  EXPECT_FALSE(ack(sb, 0, {{1000, 2000}}).reordering);
  EXPECT_TRUE(ack(sb, 2000, {}).reordering);
}

TEST(Scoreboard, RtoMarksEverythingNotSackedLost_Rfc6675_5_1) {
  Scoreboard sb = ten_segments();
  ack(sb, 0, {{3000, 5000}});
  sb.mark_all_lost();
  EXPECT_EQ(sb.pipe(), 0u);
  EXPECT_EQ(sb.lost_segments(), 8u);
  EXPECT_EQ(sb.next_lost()->begin, 0u);
  sb.forget_sacks();
  EXPECT_EQ(sb.sacked_bytes(), 0u);
  EXPECT_TRUE(sb.consistent());
}

// The records live in a vector whose front moves on cumulative ACKs and which is compacted
// now and then: a long flight acknowledged piecemeal, with SACK splits in between, keeps
// every record in order and every counter right.
TEST(Scoreboard, LongFlightAcknowledgedPiecemealStaysConsistent) {
  Scoreboard sb;
  sb.reset(0);
  Instant now = t0;
  uint64_t acked = 0;
  for (uint64_t round = 0; round < 20; ++round) {
    for (int i = 0; i < 100; ++i) {
      now = now + Duration::micros(10);
      sb.on_transmit(sb.high_data(), sb.high_data() + kMss, now, 0);
    }
    // SACK the middle of what is left, splitting two records, then ACK up to below it.
    const uint64_t mid = sb.una() + (sb.high_data() - sb.una()) / 2;
    ack(sb, sb.una(), {{mid + 10, mid + 3 * kMss + 20}}, now);
    ASSERT_TRUE(sb.consistent());
    for (int i = 0; i < 60; ++i) {
      acked = sb.una() + kMss / 2 + 1;
      ack(sb, acked, {}, now);
      ASSERT_TRUE(sb.consistent()) << "round " << round << " ack " << i;
      ASSERT_EQ(sb.first()->begin, acked);
    }
  }
  ack(sb, sb.high_data(), {}, now);
  EXPECT_TRUE(sb.empty());
  EXPECT_EQ(sb.pipe(), 0u);
  EXPECT_TRUE(sb.consistent());
}

// RACK_detect_loss as RFC 8985 §6.2 step 5 states it: every segment, no early exit. The
// scoreboard stops at the first segment in send order not sent before RACK's; this walk is
// what it must agree with.
struct RackReference {
  Scoreboard::RackResult result;
  std::vector<bool> lost_after;  // per record, after the call
};

RackReference rack_by_full_walk(const Scoreboard& sb, Instant now, Instant rack_xmit,
                                uint64_t rack_end, Duration rack_rtt, Duration reo_wnd) {
  RackReference ref;
  for (const SentSegment& s : sb.segments()) {
    bool lost = s.lost;
    const bool candidate = !s.sacked && !(s.lost && !s.retrans_in_flight);
    const bool sent_after = rack_xmit > s.sent || (rack_xmit == s.sent && rack_end > s.end);
    if (candidate && sent_after) {
      const Instant deadline = s.sent + rack_rtt + reo_wnd;
      if (deadline <= now) {
        lost = true;
        ref.result.lost += s.len();
        ++ref.result.segments;
      } else if (!ref.result.timeout || deadline > *ref.result.timeout) {
        ref.result.timeout = deadline;
      }
    }
    ref.lost_after.push_back(lost);
  }
  return ref;
}

TEST(Scoreboard, RackEarlyExitMarksWhatTheFullWalkMarks_Rfc8985_6_2) {
  std::mt19937_64 rng(8985);
  auto pick = [&](uint64_t lo, uint64_t hi) {  // [lo, hi]
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  size_t compared = 0, with_losses = 0;
  for (int run = 0; run < 300; ++run) {
    Scoreboard sb;
    sb.reset(0);
    Instant now = t0;
    std::optional<Instant> rack_xmit;
    uint64_t rack_end = 0;
    Duration rack_rtt = Duration::millis(10);
    for (int step = 0; step < 150; ++step) {
      const uint64_t op = pick(0, 99);
      now = now + Duration::micros(static_cast<int64_t>(pick(0, 2000)));
      if (op < 45) {
        // New data; now and then the caller's clock goes back.
        if (pick(0, 99) == 0) now = now - Duration::millis(5);
        const uint64_t b = sb.high_data();
        sb.on_transmit(b, b + pick(1, 1500), now, 0);
      } else if (op < 55 && sb.high_data() > sb.una()) {
        const uint64_t b = pick(sb.una(), sb.high_data() - 1);
        sb.on_transmit(b, std::min(sb.high_data(), b + pick(1, 3000)), now, 0);
      } else if (op < 85 && sb.high_data() > sb.una()) {
        const uint64_t span = sb.high_data() - sb.una();
        const uint64_t cum = pick(0, 3) == 0 ? sb.una() + pick(0, span) : sb.una();
        std::vector<SackRange> blocks;
        for (uint64_t n = pick(0, 3); n > 0; --n) {
          const uint64_t b = pick(sb.una(), sb.high_data() - 1);
          blocks.push_back({b, std::min(sb.high_data(), b + pick(1, 4000))});
        }
        const auto r = sb.on_ack(cum, blocks, now, Duration::millis(1), 0);
        if (r.newest_sent && (!rack_xmit || *r.newest_sent > *rack_xmit ||
                              (*r.newest_sent == *rack_xmit && r.newest_end > rack_end))) {
          rack_xmit = r.newest_sent;
          rack_end = r.newest_end;
          rack_rtt = *r.newest_rtt;
        }
      } else if (op < 87) {
        sb.mark_all_lost();
      } else if (op < 89) {
        sb.clear_lost();
      } else if (op < 90) {
        sb.forget_sacks();
      }
      if (!rack_xmit || op % 3 != 0) continue;
      // Sometimes a RACK segment drawn at random, to reach every position on the board.
      Instant xmit = *rack_xmit;
      uint64_t end = rack_end;
      if (pick(0, 3) == 0 && !sb.empty()) {
        const auto& segs = sb.segments();
        const SentSegment& s = segs[static_cast<size_t>(pick(0, segs.size() - 1))];
        xmit = s.sent;
        end = s.end - pick(0, 1);
      }
      const Duration reo = Duration::micros(static_cast<int64_t>(pick(0, 5000)));
      const RackReference ref = rack_by_full_walk(sb, now, xmit, end, rack_rtt, reo);
      const auto got = sb.rack_detect_loss(now, xmit, end, rack_rtt, reo);
      ASSERT_EQ(got.lost, ref.result.lost) << "run " << run << " step " << step;
      ASSERT_EQ(got.segments, ref.result.segments) << "run " << run << " step " << step;
      ASSERT_EQ(got.timeout, ref.result.timeout) << "run " << run << " step " << step;
      size_t i = 0;
      for (const SentSegment& s : sb.segments()) {
        ASSERT_EQ(s.lost, ref.lost_after[i++]) << "run " << run << " step " << step;
      }
      ASSERT_TRUE(sb.consistent());
      ++compared;
      if (got.segments > 0) ++with_losses;
    }
  }
  // The draw reaches both outcomes often.
  EXPECT_GT(compared, 5000u);
  EXPECT_GT(with_losses, 500u);
}

// Without retransmissions the walk ends at the first segment sent after RACK's: with only
// cumulative ACKs that is the first record, however many are in flight.
TEST(Scoreboard, RackWalkStopsAtTheFirstSegmentSentAfterRacksOne_Rfc8985_6_2) {
  Scoreboard sb = ten_segments();
  const auto r = ack(sb, 3000, {});
  const auto rack = sb.rack_detect_loss(t0 + Duration::millis(100), *r.newest_sent, r.newest_end,
                                        *r.newest_rtt, Duration::millis(10));
  EXPECT_EQ(rack.lost, 0u);
  EXPECT_FALSE(rack.timeout.has_value());
  EXPECT_EQ(sb.lost_segments(), 0u);
}

}  // namespace
}  // namespace synack::tcp
