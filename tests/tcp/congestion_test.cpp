// Congestion control: expected values come from the RFC formulas (written out beside each
// check), never from the code under test. Time is virtual: every Instant is made here.
#include "synack/tcp/congestion.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>

namespace synack::tcp {
namespace {

constexpr uint32_t kMss = 1460;
constexpr uint64_t kSeg = kMss;

constexpr Duration ms(int64_t n) {
  return Duration::millis(n);
}
constexpr Duration sec(int64_t n) {
  return Duration::seconds(n);
}

CongestionConfig reno(bool hystart = false, bool pacing = true) {
  return {.algorithm = CongestionAlgorithm::kNewReno, .hystart = hystart, .pacing = pacing};
}
CongestionConfig cubic(bool hystart = false, bool pacing = true) {
  return {.algorithm = CongestionAlgorithm::kCubic, .hystart = hystart, .pacing = pacing};
}

double segments(uint64_t bytes) {
  return static_cast<double>(bytes) / kSeg;
}
double segments(double bytes) {
  return bytes / kSeg;
}

// RFC 9438 §4.2 Figure 1 and Figure 2 (in segments and seconds), written independently of
// the code under test.
double rfc_k(double w_max, double cwnd_epoch) {
  return std::cbrt((w_max - cwnd_epoch) / 0.4);
}
double rfc_w_cubic(double t, double k, double w_max) {
  return 0.4 * std::pow(t - k, 3) + w_max;
}

// A sender with data always waiting (unless a round is application-limited) on a path
// whose RTT is fixed per round. A round acknowledges everything in flight at its start,
// `per_ack` bytes per ACK, the ACKs spread evenly over the RTT; after each ACK the sender
// sends what the window allows.
class Flow {
 public:
  explicit Flow(const CongestionConfig& config) : cc(config, kMss) {}

  CongestionControl cc;
  Instant now = Instant::from_micros(1'000'000);
  uint64_t delivered = 0;
  uint64_t sent = 0;
  Duration srtt;
  Duration min_rtt;

  // One round trip of `rtt`. `app_limited_bytes`: the application has only this much to
  // send this round (and the ACKs say so).
  // Called after each ACK of a round, if set.
  std::function<void()> after_ack;

  void round(Duration rtt, uint64_t per_ack = kSeg,
             std::optional<uint64_t> app_limited_bytes = std::nullopt) {
    const bool app_limited = app_limited_bytes.has_value();
    if (app_limited) {
      sent = std::max(sent, delivered + *app_limited_bytes);
    } else if (sent - delivered < cc.cwnd()) {
      sent = delivered + cc.cwnd();
    }
    const uint64_t end = sent;
    const uint64_t acks = (end - delivered + per_ack - 1) / per_ack;
    const Duration step = Duration::micros(rtt.as_micros() / static_cast<int64_t>(acks));
    while (delivered < end) {
      now = now + step;
      ack(std::min(per_ack, end - delivered), rtt, app_limited);
      if (!app_limited) sent = std::max(sent, delivered + cc.cwnd());
      if (after_ack) after_ack();
    }
  }

  void ack(uint64_t bytes, Duration rtt, bool app_limited = false) {
    srtt =
        srtt == Duration{} ? rtt : Duration::micros((srtt.as_micros() * 7 + rtt.as_micros()) / 8);
    min_rtt = min_rtt == Duration{} ? rtt : std::min(min_rtt, rtt);
    AckSample s{.now = now,
                .acked_bytes = bytes,
                .in_flight = sent - delivered,
                .rtt = rtt,
                .min_rtt = min_rtt,
                .srtt = srtt,
                .app_limited = app_limited};
    delivered += bytes;
    s.delivered_seq = delivered;
    s.sent_seq = sent;
    cc.on_ack(s);
  }

  // Loss detected with the window full; recovery ends one RTT later.
  void loss_and_recovery(Duration rtt) {
    cc.on_congestion_event(now, sent - delivered);
    now = now + rtt;
    delivered = sent;  // recovery repaired and acknowledged everything outstanding
    cc.on_recovery_exit(now);
  }
};

// ---------------------------------------------------------------------------------------
// RFC 6928 initial window.

TEST(CongestionInitialWindow, Rfc6928ForSeveralMss) {
  // IW = min(10*MSS, max(2*MSS, 14600)).
  EXPECT_EQ(CongestionControl::initial_window(1460, 10), 14600u);    // 10 segments
  EXPECT_EQ(CongestionControl::initial_window(536, 10), 5360u);      // 10 segments
  EXPECT_EQ(CongestionControl::initial_window(1000, 10), 10000u);    // 10 segments
  EXPECT_EQ(CongestionControl::initial_window(4000, 10), 14600u);    // 3.65 segments
  EXPECT_EQ(CongestionControl::initial_window(8960, 10), 17920u);    // 2 segments (jumbo)
  EXPECT_EQ(CongestionControl::initial_window(65495, 10), 130990u);  // 2 segments (loopback)
}

TEST(CongestionInitialWindow, GeneralisedToOtherSegmentCounts) {
  // min(N*MSS, max(2*MSS, N*1460)).
  EXPECT_EQ(CongestionControl::initial_window(1460, 4), 5840u);
  EXPECT_EQ(CongestionControl::initial_window(1460, 1), 1460u);
  EXPECT_EQ(CongestionControl::initial_window(1460, 0), 1460u);  // taken as 1
  EXPECT_EQ(CongestionControl::initial_window(9000, 4), 18000u);
  EXPECT_EQ(CongestionControl::initial_window(536, 20), 10720u);
}

TEST(CongestionInitialWindow, ControllerStartsThereWithInfiniteSsthresh) {
  for (const auto& config : {reno(), cubic()}) {
    const CongestionControl cc(config, 1460);
    EXPECT_EQ(cc.cwnd(), 14600u);
    EXPECT_EQ(cc.initial_window(), 14600u);
    // RFC 5681 §3.1: "arbitrarily high".
    EXPECT_EQ(cc.ssthresh(), std::numeric_limits<uint64_t>::max());
    EXPECT_TRUE(cc.in_slow_start());
    EXPECT_EQ(cc.congestion_events(), 0u);
    EXPECT_EQ(cc.undos(), 0u);
  }
  CongestionConfig c = reno();
  c.initial_window_segments = 4;
  EXPECT_EQ(CongestionControl(c, 1460).cwnd(), 5840u);
}

TEST(CongestionInitialWindow, SetMssDoesNotRescaleTheWindow) {
  CongestionControl cc(reno(), 1460);
  cc.set_mss(1200);
  EXPECT_EQ(cc.mss(), 1200u);
  EXPECT_EQ(cc.cwnd(), 14600u);
}

// ---------------------------------------------------------------------------------------
// NewReno: RFC 5681 with RFC 3465 byte counting.

TEST(NewReno, SlowStartDoublesEveryRoundTrip) {
  Flow f(reno());
  uint64_t expected = 10 * kSeg;
  for (int i = 0; i < 5; ++i) {
    f.round(ms(100));
    expected *= 2;  // one SMSS per SMSS acknowledged
    EXPECT_EQ(f.cc.cwnd(), expected) << "round " << i;
  }
}

TEST(NewReno, SlowStartWithDelayedAcksStillDoubles) {
  // RFC 3465 §2.2: with L = 2 an ACK of two segments grows cwnd by two.
  Flow f(reno());
  f.round(ms(100), 2 * kSeg);
  EXPECT_EQ(f.cc.cwnd(), 20 * kSeg);
  f.round(ms(100), 2 * kSeg);
  EXPECT_EQ(f.cc.cwnd(), 40 * kSeg);
}

TEST(NewReno, SlowStartIncreaseIsCappedAtTwoSegmentsPerAck) {
  // RFC 3465 §2.2: cwnd += min(N, L*SMSS), L = 2.
  Flow f(reno());
  f.sent = 10 * kSeg;
  f.ack(5 * kSeg, ms(100));
  EXPECT_EQ(f.cc.cwnd(), 12 * kSeg);
  f.ack(kSeg / 2, ms(100));  // byte counting: half a segment grows cwnd by half a segment
  EXPECT_EQ(f.cc.cwnd(), 12 * kSeg + kSeg / 2);
}

TEST(NewReno, LossHalvesTheFlightSize) {
  Flow f(reno());
  f.round(ms(100));
  ASSERT_EQ(f.cc.cwnd(), 20 * kSeg);
  // RFC 5681 §3.2 eq. (4): ssthresh = max(FlightSize / 2, 2*SMSS); cwnd = ssthresh.
  f.cc.on_congestion_event(f.now, 20 * kSeg);
  EXPECT_EQ(f.cc.ssthresh(), 10 * kSeg);
  EXPECT_EQ(f.cc.cwnd(), 10 * kSeg);
  EXPECT_FALSE(f.cc.in_slow_start());
  EXPECT_EQ(f.cc.congestion_events(), 1u);
  f.cc.on_recovery_exit(f.now);
  // A small flight: the 2*SMSS floor.
  f.cc.on_congestion_event(f.now, 3 * kSeg);
  EXPECT_EQ(f.cc.ssthresh(), 2 * kSeg);
  EXPECT_EQ(f.cc.cwnd(), 2 * kSeg);
}

TEST(NewReno, CongestionAvoidanceAddsOneSegmentPerWindowAcknowledged) {
  Flow f(reno());
  f.round(ms(100));
  f.loss_and_recovery(ms(100));  // 20 -> 10 segments
  ASSERT_EQ(f.cc.cwnd(), 10 * kSeg);
  for (uint64_t i = 1; i <= 10; ++i) {
    f.round(ms(100));
    // RFC 3465 §2.1: each window of acknowledged bytes adds one SMSS.
    EXPECT_EQ(f.cc.cwnd(), (10 + i) * kSeg) << "round " << i;
  }
}

TEST(NewReno, CongestionAvoidanceNeedsAWholeWindowOfBytes) {
  Flow f(reno());
  f.round(ms(100));
  f.loss_and_recovery(ms(100));
  const uint64_t cwnd = f.cc.cwnd();
  f.sent = f.delivered + cwnd;
  f.ack(cwnd - 1, ms(100));  // one byte short of a window
  EXPECT_EQ(f.cc.cwnd(), cwnd);
  f.ack(1, ms(100));
  EXPECT_EQ(f.cc.cwnd(), cwnd + kSeg);
}

TEST(NewReno, RtoCollapsesToOneSegmentAndHoldsSsthreshForTheEpisode) {
  Flow f(reno());
  f.round(ms(100));
  f.round(ms(100));
  ASSERT_EQ(f.cc.cwnd(), 40 * kSeg);
  // RFC 5681 §3.1: ssthresh = max(FlightSize / 2, 2*SMSS), cwnd = LW = 1 SMSS.
  f.cc.on_rto(f.now, 40 * kSeg);
  EXPECT_EQ(f.cc.cwnd(), kSeg);
  EXPECT_EQ(f.cc.ssthresh(), 20 * kSeg);
  EXPECT_EQ(f.cc.congestion_events(), 1u);
  // The same segment times out again: "the value of ssthresh is held constant".
  f.cc.on_rto(f.now + sec(1), 1 * kSeg);
  EXPECT_EQ(f.cc.ssthresh(), 20 * kSeg);
  EXPECT_EQ(f.cc.cwnd(), kSeg);
  EXPECT_EQ(f.cc.congestion_events(), 1u);
  // New data acknowledged (slow start from 1 segment), then a new timeout: a new episode.
  f.now = f.now + sec(2);
  f.sent = f.delivered + kSeg;
  f.ack(kSeg, ms(100));
  EXPECT_EQ(f.cc.cwnd(), 2 * kSeg);
  f.cc.on_rto(f.now, 2 * kSeg);
  EXPECT_EQ(f.cc.ssthresh(), 2 * kSeg);  // max(2 / 2, 2) segments
  EXPECT_EQ(f.cc.congestion_events(), 2u);
}

TEST(NewReno, SlowStartAfterRtoStopsAtSsthresh) {
  Flow f(reno());
  f.round(ms(100));
  f.cc.on_rto(f.now, 20 * kSeg);  // ssthresh 10 segments
  f.delivered = f.sent;
  f.round(ms(100));  // 1 -> 2
  f.round(ms(100));  // 2 -> 4
  f.round(ms(100));  // 4 -> 8
  EXPECT_EQ(f.cc.cwnd(), 8 * kSeg);
  f.round(ms(100));  // 8 -> 10 at ssthresh, then congestion avoidance
  EXPECT_FALSE(f.cc.in_slow_start());
  EXPECT_GE(f.cc.cwnd(), 10 * kSeg);
  EXPECT_LE(f.cc.cwnd(), 11 * kSeg);
}

// ---------------------------------------------------------------------------------------
// CUBIC (RFC 9438).

// Slow start to 160 segments, then a loss with the window full.
Flow cubic_after_loss_at_160(Duration rtt) {
  Flow f(cubic());
  for (int i = 0; i < 4; ++i)
    f.round(rtt);  // 10 -> 160 segments
  EXPECT_EQ(f.cc.cwnd(), 160 * kSeg);
  f.loss_and_recovery(rtt);
  return f;
}

TEST(Cubic, MultiplicativeDecreaseUsesBetaAndSetsWmax) {
  Flow f = cubic_after_loss_at_160(ms(100));
  // §4.6: ssthresh = flight_size * 0.7 = 112 segments; cwnd = ssthresh. §4.7: W_max = cwnd.
  EXPECT_EQ(f.cc.ssthresh(), 112 * kSeg);
  EXPECT_EQ(f.cc.cwnd(), 112 * kSeg);
  ASSERT_NE(f.cc.cubic(), nullptr);
  EXPECT_DOUBLE_EQ(f.cc.cubic()->w_max, 160.0 * kSeg);
  EXPECT_DOUBLE_EQ(f.cc.cubic()->cwnd_prior, 160.0 * kSeg);
  EXPECT_EQ(f.cc.congestion_events(), 1u);
  // ssthresh is at least 2 segments.
  f.cc.on_congestion_event(f.now, kSeg);
  EXPECT_EQ(f.cc.ssthresh(), 2 * kSeg);
}

TEST(Cubic, WindowFollowsTheCubicCurveThroughConcaveAndConvexRegions) {
  const Duration rtt = ms(100);
  Flow f = cubic_after_loss_at_160(rtt);
  // §4.2: K = cbrt(W_max * (1 - beta) / C) = cbrt(160 * 0.3 / 0.4) = cbrt(120) ~ 4.93 s.
  const double w_max = 160;
  const double k = rfc_k(w_max, 112);
  ASSERT_NEAR(k, 4.932, 0.001);
  f.round(rtt);
  ASSERT_TRUE(f.cc.cubic()->epoch_start.has_value());
  EXPECT_NEAR(f.cc.cubic()->k, k, 1e-9);
  EXPECT_DOUBLE_EQ(f.cc.cubic()->cwnd_epoch, 112.0 * kSeg);

  const Instant epoch = *f.cc.cubic()->epoch_start;
  bool saw_concave = false;
  bool saw_convex = false;
  double previous = segments(f.cc.cwnd());
  while (f.now - epoch < sec(8)) {
    f.round(rtt);
    const double t = static_cast<double>((f.now - epoch).as_micros()) / 1e6;
    const double cwnd = segments(f.cc.cwnd());
    // cwnd chases W_cubic(t + RTT) one RTT ahead (§4.4, §4.5), so it runs between the curve
    // now and the curve one RTT on.
    const double lo = rfc_w_cubic(t, k, w_max);
    const double hi = rfc_w_cubic(t + 0.1, k, w_max);
    EXPECT_GE(cwnd, std::min(lo, hi) - 1.0) << "t = " << t;
    EXPECT_LE(cwnd, std::max(lo, hi) + 1.0) << "t = " << t;
    EXPECT_GE(cwnd, previous);  // never shrinks without a congestion event
    previous = cwnd;
    if (t < k - 0.5) {
      // Concave: below W_max, and growing more slowly as the plateau nears.
      EXPECT_LT(cwnd, w_max);
      saw_concave = true;
    }
    if (t > k + 0.5) {
      EXPECT_GT(cwnd, w_max);  // convex: probing beyond W_max
      saw_convex = true;
    }
  }
  EXPECT_TRUE(saw_concave);
  EXPECT_TRUE(saw_convex);
  // At t = 8 s the curve is at 160 + 0.4 * 3.07^3 ~ 171.6 segments.
  EXPECT_NEAR(segments(f.cc.cwnd()), rfc_w_cubic(8.0, k, w_max), 1.5);
}

TEST(Cubic, GrowthIsSlowestAtThePlateau) {
  const Duration rtt = ms(100);
  Flow f = cubic_after_loss_at_160(rtt);
  f.round(rtt);
  const Instant epoch = *f.cc.cubic()->epoch_start;
  const double k = f.cc.cubic()->k;
  auto growth_over_one_second_from = [&](double from) {
    while (static_cast<double>((f.now - epoch).as_micros()) / 1e6 < from)
      f.round(rtt);
    const uint64_t before = f.cc.cwnd();
    for (int i = 0; i < 10; ++i)
      f.round(rtt);
    return segments(f.cc.cwnd() - before);
  };
  const double early = growth_over_one_second_from(0.5);
  const double plateau = growth_over_one_second_from(k - 0.5);
  const double late = growth_over_one_second_from(k + 2.5);
  // dW/dt = 3C(t-K)^2: about 23 segments/s at t = 0.5 .. 1.5 s, under 1 around K, and
  // about 11 at K + 2.5 .. K + 3.5 s.
  EXPECT_GT(early, 15);
  EXPECT_LT(plateau, 2);
  EXPECT_GT(late, 6);
}

TEST(Cubic, FastConvergenceLowersWmaxWhenTheSaturationPointDrops) {
  const Duration rtt = ms(100);
  Flow f = cubic_after_loss_at_160(rtt);
  for (int i = 0; i < 5; ++i)
    f.round(rtt);
  const uint64_t cwnd = f.cc.cwnd();
  ASSERT_LT(segments(cwnd), 160);
  f.cc.on_congestion_event(f.now, cwnd);
  // §4.7: cwnd < W_max, so W_max = cwnd * (1 + beta) / 2.
  EXPECT_NEAR(f.cc.cubic()->w_max, static_cast<double>(cwnd) * 0.85, 1e-6);
  EXPECT_EQ(f.cc.ssthresh(), cwnd * 7 / 10);
  f.delivered = f.sent;
  f.cc.on_recovery_exit(f.now);
  f.round(rtt);
  // K from the new W_max and cwnd_epoch: cbrt((0.85 W - 0.7 W) / C).
  const double w = segments(cwnd);
  EXPECT_NEAR(f.cc.cubic()->k, rfc_k(0.85 * w, segments(f.cc.cubic()->cwnd_epoch)), 1e-9);
  EXPECT_NEAR(f.cc.cubic()->k, std::cbrt(0.15 * w / 0.4), 0.01);
}

TEST(Cubic, NoFastConvergenceWhenTheWindowGrewPastWmax) {
  const Duration rtt = ms(100);
  Flow f = cubic_after_loss_at_160(rtt);
  while (segments(f.cc.cwnd()) <= 165)
    f.round(rtt);
  const uint64_t cwnd = f.cc.cwnd();
  f.cc.on_congestion_event(f.now, cwnd);
  EXPECT_DOUBLE_EQ(f.cc.cubic()->w_max, static_cast<double>(cwnd));  // §4.7: W_max = cwnd
}

TEST(Cubic, RenoFriendlyRegionDominatesAtSmallWindowsAndShortRtts) {
  const Duration rtt = ms(10);
  Flow f(cubic());
  f.round(rtt);  // 10 -> 20 segments
  f.loss_and_recovery(rtt);
  ASSERT_EQ(f.cc.cwnd(), 14 * kSeg);
  // W_max = 20, K = cbrt(6 / 0.4) ~ 2.47 s: over one second the cubic curve stays under
  // 20 segments. W_est (§4.3) grows by alpha = 3 * 0.3 / 1.7 ~ 0.53 segments per RTT up to
  // cwnd_prior = 20, then by 1 per RTT: ~89 segments after 100 RTTs.
  double w_est = 14;
  for (int i = 0; i < 100; ++i) {
    f.round(rtt);
    w_est += w_est >= 20 ? 1.0 : 3 * 0.3 / 1.7;
  }
  const double t = 1.0;
  EXPECT_LT(rfc_w_cubic(t, rfc_k(20, 14), 20), 20);
  EXPECT_NEAR(segments(f.cc.cwnd()), w_est, 2.0);
  EXPECT_NEAR(f.cc.cubic()->w_est, static_cast<double>(f.cc.cwnd()), kSeg);
}

TEST(Cubic, RenoFriendlyAlphaIsBelowOneUntilCwndPrior) {
  // §4.3: alpha_cubic = 3 (1 - beta) / (1 + beta) while W_est < cwnd_prior.
  const Duration rtt = ms(10);
  Flow f(cubic());
  for (int i = 0; i < 4; ++i)
    f.round(rtt);            // 160 segments
  f.loss_and_recovery(rtt);  // 112 segments, cwnd_prior 160
  for (int i = 0; i < 20; ++i)
    f.round(rtt);
  // K ~ 4.93 s, so after 0.2 s the curve has not moved much past cwnd_epoch; W_est grew by
  // about 20 * 0.529 = 10.6 segments.
  EXPECT_NEAR(segments(f.cc.cwnd()), 112 + 20 * (0.9 / 1.7), 1.5);
  EXPECT_DOUBLE_EQ(CongestionControl::kCubicAlpha, 0.9 / 1.7);
}

TEST(Cubic, TimeoutUsesBetaAndRestartsTheCurveWithZeroK) {
  const Duration rtt = ms(100);
  Flow f = cubic_after_loss_at_160(rtt);  // W_max = 160 segments, cwnd 112
  f.round(rtt);
  ASSERT_GT(f.cc.cubic()->k, 4.0);
  const uint64_t cwnd = f.cc.cwnd();
  f.sent = f.delivered + 100 * kSeg;
  f.cc.on_rto(f.now, 100 * kSeg);
  // §4.8: cwnd as Reno (1 segment), ssthresh with beta_cubic as in §4.6: 70 segments.
  EXPECT_EQ(f.cc.cwnd(), kSeg);
  EXPECT_EQ(f.cc.ssthresh(), 70 * kSeg);
  EXPECT_DOUBLE_EQ(f.cc.cubic()->cwnd_prior, static_cast<double>(cwnd));
  f.delivered = f.sent;
  while (f.cc.in_slow_start())
    f.round(rtt);
  f.round(rtt);
  // The first congestion avoidance after a timeout: K = 0 and W_max = W_est = cwnd_epoch,
  // not the 160 segments of the earlier loss (which would make K = cbrt(90 / 0.4) ~ 6 s).
  const CubicState& c = *f.cc.cubic();
  EXPECT_EQ(c.k, 0.0);
  EXPECT_DOUBLE_EQ(c.w_max, c.cwnd_epoch);
  EXPECT_DOUBLE_EQ(c.cwnd_epoch, 70.0 * kSeg);
  EXPECT_FALSE(c.after_timeout);
  // So the window grows from there at once (convex curve, or Reno-friendly W_est), rather
  // than sitting on a plateau below 160 segments.
  const uint64_t before = f.cc.cwnd();
  for (int i = 0; i < 20; ++i)
    f.round(rtt);
  EXPECT_GT(f.cc.cwnd(), before + 10 * kSeg);
}

TEST(Cubic, WindowDoesNotGrowWhileApplicationLimited) {
  const Duration rtt = ms(100);
  Flow f = cubic_after_loss_at_160(rtt);
  f.round(rtt);
  const uint64_t cwnd = f.cc.cwnd();
  for (int i = 0; i < 30; ++i)
    f.round(rtt, kSeg, 4 * kSeg);
  EXPECT_EQ(f.cc.cwnd(), cwnd);
}

TEST(Cubic, ApplicationLimitedTimeIsLeftOutOfTheCurve) {
  // §5.8: t must not include application-limited periods. Two flows, one of which spends
  // 5 s application-limited in the middle, end with the same window.
  const Duration rtt = ms(100);
  Flow a = cubic_after_loss_at_160(rtt);
  Flow b = cubic_after_loss_at_160(rtt);
  for (int i = 0; i < 10; ++i) {
    a.round(rtt);
    b.round(rtt);
  }
  for (int i = 0; i < 50; ++i)
    b.round(rtt, kSeg, 2 * kSeg);
  EXPECT_EQ(b.cc.cwnd(), a.cc.cwnd());
  for (int i = 0; i < 20; ++i) {
    a.round(rtt);
    b.round(rtt);
  }
  EXPECT_EQ(b.cc.cwnd(), a.cc.cwnd());
  EXPECT_GT(a.cc.cwnd(), 140 * kSeg);
}

// ---------------------------------------------------------------------------------------
// HyStart++ (RFC 9406).

// Slow start with HyStart++ at a 100 ms RTT for three rounds (80 segments, one ACK per
// segment), then at `rtt`.
Flow hystart_flow(const CongestionConfig& config) {
  Flow f(config);
  for (int i = 0; i < 3; ++i)
    f.round(ms(100));
  EXPECT_EQ(f.cc.cwnd(), 80 * kSeg);
  EXPECT_TRUE(f.cc.hystart_active());
  EXPECT_FALSE(f.cc.in_css());
  return f;
}

TEST(Hystart, SteadyRttStaysInSlowStart) {
  Flow f = hystart_flow(cubic(true));
  f.round(ms(100));
  f.round(ms(103));  // under RttThresh = max(4, min(100 / 8, 16)) = 12.5 ms
  EXPECT_EQ(f.cc.cwnd(), 320 * kSeg);
  EXPECT_FALSE(f.cc.in_css());
  EXPECT_TRUE(f.cc.hystart_active());
}

// Rounds at `rtt` until CSS starts; the count of rounds it took.
int rounds_until_css(Flow& f, Duration rtt) {
  int rounds = 0;
  while (!f.cc.in_css() && rounds < 4) {
    f.round(rtt);
    ++rounds;
  }
  return rounds;
}

TEST(Hystart, RttIncreaseEntersConservativeSlowStart) {
  for (const auto& config : {cubic(true), reno(true)}) {
    Flow f = hystart_flow(config);
    // RttThresh = max(4, min(100 / 8, 16)) = 12.5 ms <= 113 - 100. HyStart++'s rounds end
    // a few ACKs before the simulation's (windowEnd is SND.NXT before the last ACK's
    // sends), so the round with the first 113 ms samples may also hold 100 ms ones; the
    // next one has N_RTT_SAMPLE = 8 samples of 113 ms early on.
    const int rounds = rounds_until_css(f, ms(113));
    EXPECT_GE(rounds, 1);
    EXPECT_LE(rounds, 2);
    ASSERT_TRUE(f.cc.in_css());
    ASSERT_TRUE(f.cc.hystart().css_baseline_min_rtt.has_value());
    EXPECT_EQ(*f.cc.hystart().css_baseline_min_rtt, ms(113));
    EXPECT_TRUE(f.cc.in_slow_start());
    // In CSS, each ACK grows cwnd by a quarter of what it acknowledged (CSS_GROWTH_DIVISOR).
    const uint64_t in_css = f.cc.cwnd();
    f.sent = f.delivered + in_css;
    f.ack(kSeg, ms(113));
    EXPECT_EQ(f.cc.cwnd(), in_css + kSeg / 4);
    f.ack(kSeg, ms(113));
    EXPECT_EQ(f.cc.cwnd(), in_css + kSeg / 2);
  }
}

TEST(Hystart, SmallRttIncreaseUsesTheMinimumThreshold) {
  // lastRoundMinRTT = 20 ms: RttThresh = max(4 ms, min(2.5 ms, 16 ms)) = 4 ms.
  Flow f(reno(true));
  for (int i = 0; i < 3; ++i)
    f.round(ms(20));
  f.round(ms(23));
  f.round(ms(23));
  EXPECT_FALSE(f.cc.in_css());                     // 3 ms < 4 ms
  const int rounds = rounds_until_css(f, ms(27));  // 27 - 23 >= 4 ms
  EXPECT_GE(rounds, 1);
  EXPECT_LE(rounds, 2);
}

TEST(Hystart, LeavesSlowStartAfterCssRounds) {
  for (const auto& config : {cubic(true), reno(true)}) {
    Flow f = hystart_flow(config);
    ASSERT_LE(rounds_until_css(f, ms(120)), 2);
    // Watch every ACK: growth in CSS is acked / 4; CSS_ROUNDS = 5 rounds in CSS (the partial
    // one CSS started in counts), then ssthresh = cwnd.
    uint32_t most_css_rounds = 0;
    bool exited = false;
    uint64_t cwnd_before = f.cc.cwnd();
    uint64_t delivered_before = f.delivered;
    uint64_t acked_in_css = 0;
    uint64_t growth_in_css = 0;
    f.after_ack = [&] {
      const uint64_t cwnd = f.cc.cwnd();
      if (f.cc.in_css()) {
        acked_in_css += f.delivered - delivered_before;
        growth_in_css += cwnd - cwnd_before;
        most_css_rounds = std::max(most_css_rounds, f.cc.hystart().css_rounds);
      } else if (!exited) {
        exited = true;
        EXPECT_FALSE(f.cc.in_slow_start());
        EXPECT_EQ(f.cc.ssthresh(), cwnd);
        EXPECT_TRUE(f.cc.hystart().done);
        EXPECT_EQ(f.cc.hystart().css_rounds, 5u);
      }
      cwnd_before = cwnd;
      delivered_before = f.delivered;
    };
    int rounds = 0;
    while (!exited && rounds < 10) {
      f.round(ms(120));
      ++rounds;
    }
    EXPECT_TRUE(exited);
    EXPECT_EQ(most_css_rounds, 4u);
    EXPECT_GT(acked_in_css, 100 * kSeg);
    EXPECT_NEAR(static_cast<double>(growth_in_css), static_cast<double>(acked_in_css) / 4, 4);
    EXPECT_GE(rounds, 4);
    EXPECT_LE(rounds, 5);
    EXPECT_FALSE(f.cc.hystart_active());
    EXPECT_EQ(f.cc.congestion_events(), 0u);
    f.after_ack = nullptr;
    if (config.algorithm == CongestionAlgorithm::kCubic) {
      // RFC 9438 §4.10: CUBIC continues with cwnd_prior = cwnd, K = 0, W_max = cwnd_epoch.
      f.round(ms(120));
      EXPECT_DOUBLE_EQ(f.cc.cubic()->cwnd_prior, static_cast<double>(f.cc.ssthresh()));
      EXPECT_EQ(f.cc.cubic()->k, 0.0);
      EXPECT_DOUBLE_EQ(f.cc.cubic()->w_max, f.cc.cubic()->cwnd_epoch);
    }
  }
}

TEST(Hystart, RttDecreaseReturnsToSlowStart) {
  Flow f = hystart_flow(reno(true));
  ASSERT_LE(rounds_until_css(f, ms(120)), 2);
  // The minimum RTT falls below cssBaselineMinRtt (120 ms): the exit was spurious.
  f.round(ms(100));
  EXPECT_FALSE(f.cc.in_css());
  EXPECT_TRUE(f.cc.in_slow_start());
  EXPECT_TRUE(f.cc.hystart_active());
  const uint64_t before = f.cc.cwnd();
  f.round(ms(100));
  EXPECT_EQ(f.cc.cwnd(), 2 * before);  // slow start again: doubling
}

TEST(Hystart, CongestionEventEndsHystart) {
  Flow f = hystart_flow(cubic(true));
  ASSERT_LE(rounds_until_css(f, ms(120)), 2);
  f.loss_and_recovery(ms(120));
  EXPECT_FALSE(f.cc.in_css());
  EXPECT_FALSE(f.cc.hystart_active());
  // Later slow starts (here after a timeout) are standard ones, L = 2 (RFC 9406 §4.2: only
  // the initial slow start uses HyStart++).
  f.round(ms(120));
  f.cc.on_rto(f.now, f.cc.cwnd());
  EXPECT_FALSE(f.cc.hystart_active());
  f.delivered = f.sent;
  f.sent = f.delivered + kSeg;
  f.ack(kSeg, ms(100));
  f.sent = f.delivered + 4 * kSeg;
  f.ack(4 * kSeg, ms(100));
  EXPECT_EQ(f.cc.cwnd(), 4 * kSeg);  // 1 + 1 + min(4, 2)
}

TEST(Hystart, SlowStartLimitIsInfiniteWhenPacedAndEightOtherwise) {
  // RFC 9406 §4.3: L = infinity when paced, 8 otherwise; without HyStart++ RFC 3465's 2.
  struct Case {
    CongestionConfig config;
    uint64_t expected;
  };
  for (const auto& [config, expected] :
       {Case{reno(true, true), 20 * kSeg}, Case{reno(true, false), 18 * kSeg},
        Case{reno(false, true), 12 * kSeg}, Case{cubic(true, true), 20 * kSeg}}) {
    Flow f(config);
    f.sent = 10 * kSeg;
    f.ack(10 * kSeg, ms(100));  // one stretch ACK of the whole initial window
    EXPECT_EQ(f.cc.cwnd(), expected);
  }
}

// ---------------------------------------------------------------------------------------
// Undo (RFC 3522, RFC 4015, RFC 9438 §4.9).

TEST(CongestionUndo, RestoresWindowAndSsthreshAfterSpuriousLoss) {
  Flow f(reno());
  f.round(ms(100));
  f.loss_and_recovery(ms(100));
  EXPECT_EQ(f.cc.cwnd(), 10 * kSeg);
  f.cc.undo();
  EXPECT_EQ(f.cc.cwnd(), 20 * kSeg);
  EXPECT_EQ(f.cc.ssthresh(), std::numeric_limits<uint64_t>::max());
  EXPECT_TRUE(f.cc.in_slow_start());
  EXPECT_EQ(f.cc.undos(), 1u);
  EXPECT_EQ(f.cc.congestion_events(), 1u);
  // A second undo has nothing to restore.
  f.cc.undo();
  EXPECT_EQ(f.cc.undos(), 1u);
}

TEST(CongestionUndo, NothingToUndoWithoutACongestionEvent) {
  CongestionControl cc(cubic(), kMss);
  cc.undo();
  EXPECT_EQ(cc.undos(), 0u);
  EXPECT_EQ(cc.cwnd(), 10 * kSeg);
}

TEST(CongestionUndo, RestoresAfterSpuriousTimeout) {
  Flow f(reno());
  f.round(ms(100));
  f.round(ms(100));
  f.loss_and_recovery(ms(100));  // 40 -> 20, ssthresh 20
  for (int i = 0; i < 3; ++i)
    f.round(ms(100));
  const uint64_t cwnd = f.cc.cwnd();
  const uint64_t ssthresh = f.cc.ssthresh();
  f.cc.on_rto(f.now, cwnd);
  EXPECT_EQ(f.cc.cwnd(), kSeg);
  f.cc.undo();  // RFC 4015: the timeout was spurious
  EXPECT_EQ(f.cc.cwnd(), cwnd);
  EXPECT_EQ(f.cc.ssthresh(), ssthresh);
}

TEST(CongestionUndo, KeepsWhatGrewSinceTheEvent) {
  // Linux's and RFC 9438 §4.9's rule: cwnd = max(cwnd, prior_cwnd).
  Flow f(reno());
  f.round(ms(100));
  f.loss_and_recovery(ms(100));  // 20 -> 10 segments
  for (int i = 0; i < 12; ++i)
    f.round(ms(100));
  const uint64_t grown = f.cc.cwnd();
  ASSERT_GT(grown, 20 * kSeg);
  f.cc.undo();
  EXPECT_EQ(f.cc.cwnd(), grown);
}

TEST(CongestionUndo, RestoresCubicCurveState) {
  const Duration rtt = ms(100);
  Flow f = cubic_after_loss_at_160(rtt);
  for (int i = 0; i < 10; ++i)
    f.round(rtt);
  const CubicState before = *f.cc.cubic();
  const uint64_t cwnd = f.cc.cwnd();
  const uint64_t ssthresh = f.cc.ssthresh();
  f.cc.on_congestion_event(f.now, cwnd);
  EXPECT_NE(f.cc.cubic()->w_max, before.w_max);  // fast convergence lowered it
  EXPECT_FALSE(f.cc.cubic()->epoch_start.has_value());
  f.cc.undo();
  EXPECT_EQ(f.cc.cwnd(), cwnd);
  EXPECT_EQ(f.cc.ssthresh(), ssthresh);
  const CubicState& after = *f.cc.cubic();
  EXPECT_EQ(after.w_max, before.w_max);
  EXPECT_EQ(after.k, before.k);
  EXPECT_EQ(after.w_est, before.w_est);
  EXPECT_EQ(after.cwnd_prior, before.cwnd_prior);
  EXPECT_EQ(after.epoch_start, before.epoch_start);
  EXPECT_EQ(f.cc.undos(), 1u);
}

TEST(CongestionUndo, RestoresHystartWhenTheEventEndedIt) {
  Flow f = hystart_flow(cubic(true));
  f.cc.on_congestion_event(f.now, f.sent - f.delivered);
  EXPECT_FALSE(f.cc.hystart_active());
  f.cc.undo();
  EXPECT_TRUE(f.cc.hystart_active());
  EXPECT_EQ(f.cc.cwnd(), 80 * kSeg);
}

// ---------------------------------------------------------------------------------------
// Idle restart and application-limited periods (RFC 7661, RFC 5681 §4.1).

TEST(CongestionIdleRestart, PacedSenderKeepsItsWindowOverIdle) {
  // RFC 7661 §4.3: cwnd is preserved in the non-validated phase.
  Flow f(reno());
  for (int i = 0; i < 3; ++i)
    f.round(ms(100));
  const uint64_t cwnd = f.cc.cwnd();
  f.now = f.now + sec(10);
  f.cc.on_idle_restart(f.now, sec(10), ms(300));
  EXPECT_EQ(f.cc.cwnd(), cwnd);
  // pipeACK samples are older than the sampling period, max(3 * SRTT, 1 s): pipeACK is 0,
  // cwnd not validated.
  EXPECT_EQ(f.cc.pipe_ack(f.now), 0u);
  EXPECT_FALSE(f.cc.cwnd_validated(f.now));
}

TEST(CongestionIdleRestart, UnpacedSenderRestartsFromTheInitialWindow) {
  // RFC 5681 §4.1: idle longer than an RTO, cwnd = min(RW, cwnd), RW = IW.
  Flow f(reno(false, false));
  for (int i = 0; i < 3; ++i)
    f.round(ms(100));
  ASSERT_EQ(f.cc.cwnd(), 80 * kSeg);
  f.now = f.now + ms(200);
  f.cc.on_idle_restart(f.now, ms(200), ms(300));  // shorter than the RTO: kept
  EXPECT_EQ(f.cc.cwnd(), 80 * kSeg);
  f.now = f.now + sec(1);
  f.cc.on_idle_restart(f.now, sec(1), ms(300));
  EXPECT_EQ(f.cc.cwnd(), 10 * kSeg);
  EXPECT_EQ(f.cc.ssthresh(), std::numeric_limits<uint64_t>::max());
  // A window already under IW is not raised.
  f.cc.on_rto(f.now, 10 * kSeg);
  f.now = f.now + sec(5);
  f.cc.on_idle_restart(f.now, sec(5), ms(300));
  EXPECT_EQ(f.cc.cwnd(), kSeg);
}

TEST(CongestionIdleRestart, WindowHalvesAfterTheNonValidatedPeriod) {
  // RFC 7661 §4.4.3: non-validated for the whole NVP (300 s): ssthresh = max(ssthresh,
  // 3/4 cwnd), cwnd = max(cwnd / 2, IW); once per period.
  Flow f(reno());
  for (int i = 0; i < 3; ++i)
    f.round(ms(100));            // 80 segments
  f.loss_and_recovery(ms(100));  // 40 segments, ssthresh 40
  for (int i = 0; i < 40; ++i)
    f.round(ms(100));
  const uint64_t cwnd = f.cc.cwnd();
  ASSERT_EQ(cwnd, 80 * kSeg);
  f.now = f.now + sec(299);
  f.cc.on_idle_restart(f.now, sec(299), ms(300));
  EXPECT_EQ(f.cc.cwnd(), cwnd);  // within the NVP
  f.now = f.now + sec(2);
  f.cc.on_idle_restart(f.now, sec(2), ms(300));
  EXPECT_EQ(f.cc.cwnd(), cwnd / 2);
  EXPECT_EQ(f.cc.ssthresh(), cwnd * 3 / 4);
  // Two more periods: 40 -> 20 -> 10 segments (not below IW).
  f.now = f.now + sec(700);
  f.cc.on_idle_restart(f.now, sec(700), ms(300));
  EXPECT_EQ(f.cc.cwnd(), 10 * kSeg);
  EXPECT_EQ(f.cc.ssthresh(), cwnd * 3 / 4);
}

TEST(CongestionIdleRestart, CubicCurveSkipsTheIdleTime) {
  // RFC 9438 §5.8: t leaves out idle periods, so the window after idle follows the curve
  // from where it stopped.
  const Duration rtt = ms(100);
  Flow a = cubic_after_loss_at_160(rtt);
  Flow b = cubic_after_loss_at_160(rtt);
  for (int i = 0; i < 10; ++i) {
    a.round(rtt);
    b.round(rtt);
  }
  // Both have everything acknowledged; b goes idle for 10 s, then both send again.
  a.delivered = a.sent;
  b.delivered = b.sent;
  b.now = b.now + sec(10);
  b.cc.on_idle_restart(b.now, sec(10), ms(300));
  for (int i = 0; i < 20; ++i) {
    a.round(rtt);
    b.round(rtt);
  }
  EXPECT_EQ(b.cc.cwnd(), a.cc.cwnd());
}

TEST(CongestionAppLimited, NoGrowthInSlowStartOrCongestionAvoidance) {
  Flow f(reno());
  for (int i = 0; i < 3; ++i)
    f.round(ms(100), kSeg, 5 * kSeg);
  EXPECT_EQ(f.cc.cwnd(), 10 * kSeg);
  f.round(ms(100));
  f.loss_and_recovery(ms(100));
  const uint64_t cwnd = f.cc.cwnd();
  ASSERT_FALSE(f.cc.in_slow_start());
  for (int i = 0; i < 20; ++i)
    f.round(ms(100), kSeg, 5 * kSeg);
  EXPECT_EQ(f.cc.cwnd(), cwnd);
}

TEST(CongestionAppLimited, PipeAckMeasuresWhatARoundCarried) {
  Flow f(reno());
  EXPECT_FALSE(f.cc.pipe_ack(f.now).has_value());  // undefined: validated
  EXPECT_TRUE(f.cc.cwnd_validated(f.now));
  f.round(ms(100));  // the first round: all 10 segments of IW
  EXPECT_EQ(f.cc.pipe_ack(f.now), 10 * kSeg);
  f.round(ms(100));
  EXPECT_TRUE(f.cc.cwnd_validated(f.now));  // cwnd-limited rounds carry about cwnd / 2
  // Application-limited to 6 segments per round for 2 s: the 1 s sampling period forgets the
  // big rounds; 6 segments is under half of cwnd (40): not validated.
  for (int i = 0; i < 20; ++i)
    f.round(ms(100), kSeg, 6 * kSeg);
  EXPECT_EQ(f.cc.pipe_ack(f.now), 6 * kSeg);
  EXPECT_FALSE(f.cc.cwnd_validated(f.now));
}

TEST(CongestionAppLimited, LossInTheNonValidatedPhaseUsesPipeAck) {
  // RFC 7661 §4.4.1: at the end of recovery cwnd = (max(pipeACK, LossFlightSize) - R) / 2.
  Flow f(reno());
  for (int i = 0; i < 2; ++i)
    f.round(ms(100));  // 40 segments
  for (int i = 0; i < 20; ++i)
    f.round(ms(100), kSeg, 6 * kSeg);
  ASSERT_FALSE(f.cc.cwnd_validated(f.now));
  f.sent = f.delivered + 2 * kSeg;
  f.cc.on_congestion_event(f.now, 2 * kSeg);
  EXPECT_EQ(f.cc.cwnd(), 2 * kSeg);  // RFC 5681 eq. (4) during recovery
  f.delivered = f.sent;
  f.cc.on_recovery_exit(f.now + ms(100));
  EXPECT_EQ(f.cc.cwnd(), 3 * kSeg);                // max(6, 2) / 2 segments
  EXPECT_FALSE(f.cc.pipe_ack(f.now).has_value());  // measured afresh
}

// ---------------------------------------------------------------------------------------
// Pacing rate (Linux tcp_update_pacing_rate).

TEST(CongestionPacing, RateIsTwiceCwndPerSrttInSlowStart) {
  const CongestionControl cc(cubic(), kMss);
  // 14600 bytes per 100 ms = 146000 B/s, times 2.
  EXPECT_EQ(cc.pacing_rate(ms(100)), 292'000u);
  EXPECT_EQ(cc.pacing_rate(ms(10)), 2'920'000u);
}

TEST(CongestionPacing, RateIsOnePointTwoTimesInCongestionAvoidance) {
  CongestionControl cc(reno(), kMss);
  cc.on_congestion_event(Instant{}, 10 * kSeg);  // cwnd 5 segments, not slow start
  ASSERT_FALSE(cc.in_slow_start());
  ASSERT_EQ(cc.cwnd(), 7300u);
  EXPECT_EQ(cc.pacing_rate(ms(100)), 87'600u);                    // 73000 B/s * 1.2
  EXPECT_EQ(cc.pacing_rate(Duration::micros(12'345)), 709'599u);  // 7300e6 * 1.2 / 12345
}

TEST(CongestionPacing, ZeroWithoutSrttOrWhenPacingIsOff) {
  EXPECT_EQ(CongestionControl(cubic(), kMss).pacing_rate(Duration{}), 0u);
  EXPECT_EQ(CongestionControl(cubic(false, false), kMss).pacing_rate(ms(100)), 0u);
}

}  // namespace
}  // namespace synack::tcp
