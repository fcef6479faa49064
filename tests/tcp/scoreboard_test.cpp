// The sender's scoreboard: RFC 6675 pipe and IsLost, RFC 2018 SACK, RFC 2883 D-SACK, and
// RACK's per-segment loss detection (RFC 8985 §6.2).
#include "synack/tcp/scoreboard.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace synack::tcp
