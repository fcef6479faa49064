// Expected values are worked out by hand from the RFC 6298 formulas (shown beside each),
// in microseconds; the code under test is never used to compute them.
#include "synack/tcp/rtt_estimator.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace synack::tcp {
namespace {

constexpr Duration us(int64_t n) {
  return Duration::micros(n);
}
constexpr Duration ms(int64_t n) {
  return Duration::millis(n);
}
constexpr Duration sec(int64_t n) {
  return Duration::seconds(n);
}

// No floor at all, so that the §2 formula shows through unclamped.
RttConfig no_floor() {
  RttConfig c;
  c.min_rto = Duration{};
  return c;
}

TEST(RttEstimator, DefaultsAreDocumentedValues) {
  const RttConfig c;
  EXPECT_EQ(c.initial_rto, sec(1));
  EXPECT_EQ(c.min_rto, ms(200));
  EXPECT_EQ(c.max_rto, sec(120));
  EXPECT_EQ(c.clock_granularity, ms(1));
  EXPECT_TRUE(c.syn_timeout_rto_reset);
}

TEST(RttEstimator, BeforeAnySampleRtoIsInitialValue) {
  // §2.1: RTO <- 1 second until a measurement is made.
  const RttEstimator rtt;
  EXPECT_FALSE(rtt.has_sample());
  EXPECT_EQ(rtt.rto(), sec(1));
  EXPECT_EQ(rtt.srtt(), Duration{});
  EXPECT_EQ(rtt.rttvar(), Duration{});
  EXPECT_EQ(rtt.backoff_count(), 0u);
}

TEST(RttEstimator, InitialRtoIsConfigurable) {
  RttConfig c;
  c.initial_rto = sec(3);
  EXPECT_EQ(RttEstimator(c).rto(), sec(3));
}

TEST(RttEstimator, InitialRtoIsClampedIntoRange) {
  RttConfig c;
  c.initial_rto = ms(50);  // below min_rto = 200 ms
  EXPECT_EQ(RttEstimator(c).rto(), ms(200));
  c.initial_rto = sec(500);  // above max_rto = 120 s
  EXPECT_EQ(RttEstimator(c).rto(), sec(120));
}

TEST(RttEstimator, FirstSampleFollowsSection2_2) {
  RttEstimator rtt;
  rtt.on_sample(ms(100));
  // SRTT <- R = 100 ms; RTTVAR <- R/2 = 50 ms; RTO <- 100 + max(1, 4*50) = 300 ms.
  EXPECT_TRUE(rtt.has_sample());
  EXPECT_EQ(rtt.srtt(), ms(100));
  EXPECT_EQ(rtt.rttvar(), ms(50));
  EXPECT_EQ(rtt.rto(), ms(300));
}

TEST(RttEstimator, LaterSamplesFollowSection2_3) {
  RttEstimator rtt;
  rtt.on_sample(ms(100));  // SRTT 100 ms, RTTVAR 50 ms
  rtt.on_sample(ms(200));
  // RTTVAR <- 3/4 * 50 + 1/4 * |100 - 200| = 37.5 + 25 = 62.5 ms  (old SRTT, not new)
  // SRTT   <- 7/8 * 100 + 1/8 * 200       = 87.5 + 25 = 112.5 ms
  // RTO    <- 112.5 + max(1, 4 * 62.5)     = 362.5 ms
  EXPECT_EQ(rtt.rttvar(), us(62'500));
  EXPECT_EQ(rtt.srtt(), us(112'500));
  EXPECT_EQ(rtt.rto(), us(362'500));

  rtt.on_sample(ms(40));
  // RTTVAR <- 3/4 * 62.5 + 1/4 * |112.5 - 40| = 46.875 + 18.125 = 65 ms
  // SRTT   <- 7/8 * 112.5 + 1/8 * 40         = 98.4375 + 5 = 103.4375 ms -> 103437 µs
  //           (integer microseconds truncate)
  // RTO    <- 103.437 + 4 * 65                = 363.437 ms
  EXPECT_EQ(rtt.rttvar(), us(65'000));
  EXPECT_EQ(rtt.srtt(), us(103'437));
  EXPECT_EQ(rtt.rto(), us(363'437));
}

TEST(RttEstimator, RttvarUsesSrttFromBeforeTheUpdate) {
  // With the updated SRTT (112.5 ms) the deviation would be 87.5 ms and RTTVAR 59.375 ms;
  // §2.3 says the SRTT used is the one before this sample, giving 62.5 ms.
  RttEstimator rtt(no_floor());
  rtt.on_sample(ms(100));
  rtt.on_sample(ms(200));
  EXPECT_EQ(rtt.rttvar(), us(62'500));
  EXPECT_NE(rtt.rttvar(), us(59'375));
}

TEST(RttEstimator, SmallRttIsClampedToMinRto) {
  RttEstimator rtt;
  rtt.on_sample(ms(10));
  // SRTT 10 ms, RTTVAR 5 ms: 10 + 20 = 30 ms, below min_rto = 200 ms.
  EXPECT_EQ(rtt.srtt(), ms(10));
  EXPECT_EQ(rtt.rttvar(), ms(5));
  EXPECT_EQ(rtt.rto(), ms(200));
}

TEST(RttEstimator, StrictRfcFloorIsOneSecond) {
  // §2.4: "if it is less than 1 second, then the RTO SHOULD be rounded up to 1 second".
  RttConfig c;
  c.min_rto = sec(1);
  RttEstimator rtt(c);
  rtt.on_sample(ms(100));  // 300 ms by the formula
  EXPECT_EQ(rtt.rto(), sec(1));
}

TEST(RttEstimator, WithoutFloorTheFormulaShows) {
  RttEstimator rtt(no_floor());
  rtt.on_sample(ms(10));  // 10 + max(1, 4*5) = 30 ms
  EXPECT_EQ(rtt.rto(), ms(30));
}

TEST(RttEstimator, ZeroVarianceRoundsUpToClockGranularity) {
  // §4: when K*RTTVAR is zero the variance term MUST be rounded to G.
  RttEstimator rtt(no_floor());
  rtt.on_sample(Duration{});  // SRTT 0, RTTVAR 0: RTO = 0 + max(G, 0) = G = 1 ms
  EXPECT_EQ(rtt.rto(), ms(1));
}

TEST(RttEstimator, SteadyRttDecaysVarianceToGranularity) {
  // With a constant R, |SRTT - R| is 0 and RTTVAR shrinks by 3/4 each sample
  // (50 ms, 37.5, 28.125, ...) to 0 in integer microseconds well within 100 samples,
  // while SRTT stays exactly R. RTO = 100 ms + max(G, 0).
  RttEstimator rtt(no_floor());
  for (int i = 0; i < 100; ++i)
    rtt.on_sample(ms(100));
  EXPECT_EQ(rtt.srtt(), ms(100));
  EXPECT_EQ(rtt.rttvar(), Duration{});
  EXPECT_EQ(rtt.rto(), ms(101));

  RttConfig coarse = no_floor();
  coarse.clock_granularity = ms(10);
  RttEstimator coarse_rtt(coarse);
  for (int i = 0; i < 100; ++i)
    coarse_rtt.on_sample(ms(100));
  EXPECT_EQ(coarse_rtt.rto(), ms(110));
}

TEST(RttEstimator, GranularityDoesNotApplyWhenVarianceTermIsLarger) {
  RttConfig c = no_floor();
  c.clock_granularity = ms(10);
  RttEstimator rtt(c);
  rtt.on_sample(ms(100));  // 100 + max(10, 200) = 300 ms
  EXPECT_EQ(rtt.rto(), ms(300));
}

TEST(RttEstimator, LargeRttIsClampedToMaxRto) {
  RttEstimator rtt;
  rtt.on_sample(sec(100));  // 100 + 4 * 50 = 300 s, above max_rto = 120 s
  EXPECT_EQ(rtt.srtt(), sec(100));
  EXPECT_EQ(rtt.rto(), sec(120));
}

TEST(RttEstimator, TimeoutDoublesRtoUpToMax) {
  // §5.5: RTO <- RTO * 2 on every expiry; §2.5's maximum caps it (120 s, not 128 s).
  RttEstimator rtt;
  const Duration expected[] = {sec(2),  sec(4),  sec(8),   sec(16),
                               sec(32), sec(64), sec(120), sec(120)};
  uint32_t n = 0;
  for (Duration d : expected) {
    rtt.on_timeout();
    ++n;
    EXPECT_EQ(rtt.rto(), d) << "after " << n << " timeouts";
    EXPECT_EQ(rtt.backoff_count(), n);
  }
}

TEST(RttEstimator, BackoffCapHonoursConfiguredMax) {
  RttConfig c;
  c.max_rto = sec(60);  // the least §2.5 allows
  RttEstimator rtt(c);
  for (int i = 0; i < 5; ++i)
    rtt.on_timeout();  // 2, 4, 8, 16, 32
  EXPECT_EQ(rtt.rto(), sec(32));
  rtt.on_timeout();  // 64 > 60
  EXPECT_EQ(rtt.rto(), sec(60));
  rtt.on_timeout();
  EXPECT_EQ(rtt.rto(), sec(60));
}

TEST(RttEstimator, BackoffNearTheTopOfDurationDoesNotOverflow) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  RttConfig c;
  c.max_rto = us(kMax);
  c.initial_rto = us(kMax / 2 + 1);  // doubling would overflow int64
  RttEstimator rtt(c);
  rtt.on_timeout();
  EXPECT_EQ(rtt.rto(), us(kMax));
  rtt.on_timeout();
  EXPECT_EQ(rtt.rto(), us(kMax));
}

TEST(RttEstimator, BackoffStartsFromComputedRto) {
  RttEstimator rtt;
  rtt.on_sample(ms(100));  // 300 ms
  rtt.on_timeout();
  EXPECT_EQ(rtt.rto(), ms(600));
  rtt.on_timeout();
  EXPECT_EQ(rtt.rto(), ms(1200));
  // Backoff does not touch the estimates.
  EXPECT_EQ(rtt.srtt(), ms(100));
  EXPECT_EQ(rtt.rttvar(), ms(50));
}

TEST(RttEstimator, NewSampleCollapsesBackoff) {
  // §5: a new measurement recomputes RTO, "collapsing" it after backoff.
  RttEstimator rtt;
  rtt.on_sample(ms(100));
  rtt.on_timeout();
  rtt.on_timeout();  // 1200 ms
  rtt.on_sample(ms(100));
  // RTTVAR <- 3/4 * 50 + 1/4 * 0 = 37.5 ms; SRTT 100 ms; RTO = 100 + 150 = 250 ms.
  EXPECT_EQ(rtt.rttvar(), us(37'500));
  EXPECT_EQ(rtt.rto(), ms(250));
  EXPECT_EQ(rtt.backoff_count(), 0u);
}

TEST(RttEstimator, ResetBackoffReturnsToComputedRto) {
  RttEstimator rtt;
  rtt.on_sample(ms(100));  // 300 ms
  for (int i = 0; i < 3; ++i)
    rtt.on_timeout();  // 2400 ms
  EXPECT_EQ(rtt.rto(), ms(2400));
  rtt.reset_backoff();
  EXPECT_EQ(rtt.rto(), ms(300));
  EXPECT_EQ(rtt.backoff_count(), 0u);
  EXPECT_EQ(rtt.srtt(), ms(100));
}

TEST(RttEstimator, ResetBackoffWithoutSampleReturnsToInitialRto) {
  RttEstimator rtt;
  rtt.on_timeout();
  rtt.on_timeout();  // 4 s
  rtt.reset_backoff();
  EXPECT_EQ(rtt.rto(), sec(1));
  EXPECT_FALSE(rtt.has_sample());
}

// RFC 6298 §5.7.

TEST(RttEstimator, SynTimeoutReinitialisesRtoToThreeSeconds) {
  RttEstimator rtt;
  rtt.on_timeout();  // the SYN timed out: 1 s -> 2 s
  EXPECT_EQ(rtt.rto(), sec(2));
  rtt.on_handshake_complete();
  EXPECT_EQ(rtt.rto(), sec(3));
  EXPECT_EQ(rtt.backoff_count(), 0u);
  EXPECT_FALSE(rtt.has_sample());

  // 3 s is now the base value: backoff doubles it and reset returns to it ...
  rtt.on_timeout();
  EXPECT_EQ(rtt.rto(), sec(6));
  rtt.reset_backoff();
  EXPECT_EQ(rtt.rto(), sec(3));
  // ... until the first sample, which is §2.2's: 100 + 4 * 50 = 300 ms.
  rtt.on_sample(ms(100));
  EXPECT_EQ(rtt.rto(), ms(300));
}

TEST(RttEstimator, SynTimeoutReinitialisesEvenABackedOffRto) {
  // "Re-initialized to 3 seconds", not "raised to at least 3 seconds": after two SYN
  // timeouts (RTO 4 s) data transmission starts at 3 s.
  RttEstimator rtt;
  rtt.on_timeout();
  rtt.on_timeout();
  EXPECT_EQ(rtt.rto(), sec(4));
  rtt.on_handshake_complete();
  EXPECT_EQ(rtt.rto(), sec(3));
}

TEST(RttEstimator, SynTimeoutRuleKeepsHandshakeSample) {
  // A sample during the handshake (timestamps can give one even for a retransmitted SYN)
  // does not exempt the connection; SRTT and RTTVAR survive and the next sample is
  // smoothed by §2.3.
  RttEstimator rtt;
  rtt.on_timeout();
  rtt.on_sample(ms(100));  // SRTT 100, RTTVAR 50, RTO 300 ms
  rtt.on_handshake_complete();
  EXPECT_EQ(rtt.rto(), sec(3));
  EXPECT_EQ(rtt.srtt(), ms(100));
  EXPECT_EQ(rtt.rttvar(), ms(50));
  rtt.on_sample(ms(100));  // RTTVAR 37.5 ms, RTO 100 + 150 = 250 ms
  EXPECT_EQ(rtt.rto(), ms(250));
}

TEST(RttEstimator, NoSynTimeoutNoReinitialisation) {
  RttEstimator rtt;
  rtt.on_sample(ms(100));
  rtt.on_handshake_complete();
  EXPECT_EQ(rtt.rto(), ms(300));

  RttEstimator fresh;
  fresh.on_handshake_complete();
  EXPECT_EQ(fresh.rto(), sec(1));
}

TEST(RttEstimator, TimeoutAfterHandshakeIsNotASynTimeout) {
  RttEstimator rtt;
  rtt.on_handshake_complete();
  rtt.on_timeout();  // 2 s, a data segment's timeout
  rtt.on_handshake_complete();
  EXPECT_EQ(rtt.rto(), sec(2));
}

TEST(RttEstimator, HandshakeCompleteActsOnce) {
  RttEstimator rtt;
  rtt.on_timeout();
  rtt.on_handshake_complete();  // 3 s
  rtt.on_timeout();             // 6 s
  rtt.on_handshake_complete();
  EXPECT_EQ(rtt.rto(), sec(6));
}

TEST(RttEstimator, SynTimeoutRuleCanBeDisabled) {
  RttConfig c;
  c.syn_timeout_rto_reset = false;
  RttEstimator rtt(c);
  rtt.on_timeout();
  rtt.on_handshake_complete();
  EXPECT_EQ(rtt.rto(), sec(2));
}

TEST(RttEstimator, SynTimeoutRuleNeedsInitialRtoBelowThreeSeconds) {
  // "and the TCP implementation is using an RTO less than 3 seconds"
  RttConfig c;
  c.initial_rto = sec(3);
  RttEstimator rtt(c);
  rtt.on_timeout();  // 6 s
  rtt.on_handshake_complete();
  EXPECT_EQ(rtt.rto(), sec(6));
}

TEST(RttEstimator, SynTimeoutRtoStillRespectsMaxRto) {
  RttConfig c;
  c.min_rto = ms(100);
  c.max_rto = sec(2);  // a deliberately tiny ceiling, below §2.5's 60 s
  RttEstimator rtt(c);
  rtt.on_timeout();
  rtt.on_handshake_complete();
  EXPECT_EQ(rtt.rto(), sec(2));
}

}  // namespace
}  // namespace synack::tcp
