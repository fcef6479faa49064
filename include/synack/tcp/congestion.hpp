// Congestion control behind one narrow interface: NewReno (RFC 5681 with Appropriate Byte
// Counting, RFC 3465) and CUBIC (RFC 9438, the default) with HyStart++ slow start
// (RFC 9406); the initial window of RFC 6928; congestion window validation after idle and
// application-limited periods (RFC 7661); and the pacing rate Linux computes.
//
// The controller only does arithmetic on the window; the connection decides what is an
// ACK of new data, when loss is detected (RFC 6675, RFC 8985) and when recovery ends, and
// calls the matching hook. The algorithm is chosen per connection and held by value (a
// std::variant): no heap allocation, no virtual calls.
//
// Units: bytes for windows, microseconds (Instant, Duration) for time. Every hook takes
// `now` from the caller: the controller never reads a clock.
//
// Choices where the RFCs leave room (each is explained where it is implemented, in
// src/tcp/congestion.cpp):
//  - Initial window: RFC 6928's min(10*MSS, max(2*MSS, 14600)), generalised to N segments
//    as min(N*MSS, max(2*MSS, N*1460)) (N = initial_window_segments, at least 1).
//  - Slow start grows by min(N, L*SMSS) per ACK: RFC 3465's L = 2 in general, RFC 9406's
//    L (infinity when paced, 8 otherwise) while HyStart++ runs (the first slow start only,
//    RFC 9406 §4.2).
//  - CUBIC's multiplicative decrease takes ssthresh from the flight size, as RFC 9438
//    §4.6's pseudocode does (and as RFC 5681 eq. 4 does for NewReno); W_max and cwnd_prior
//    come from cwnd. The flight size is capped at cwnd, so a reduction never raises the
//    window. No algorithm grows cwnd on an ACK the sender was application-limited for
//    (RFC 9438 §5.8, RFC 7661 §4.3), and CUBIC's t leaves that time out.
//  - After idle: RFC 7661. A paced sender keeps cwnd through the non-validated period (its
//    bursts are paced, RFC 7661 §4.4.2 "sender burst control"); a sender that does not
//    pace falls back to RFC 5681 §4.1 and restarts from min(IW, cwnd) when idle longer
//    than an RTO. Either way cwnd is halved (not below IW, and ssthresh raised to 3/4 of
//    it) for every five minutes spent non-validated (RFC 7661 §4.4.3, §5), and a loss in
//    the non-validated phase sets cwnd to max(pipeACK, LossFlightSize) / 2 at recovery
//    exit (RFC 7661 §4.4.1). The controller measures pipeACK itself, from the ACKs.
//  - Undo restores cwnd = max(cwnd, prior), ssthresh = max(ssthresh, prior) (as Linux),
//    and CUBIC's curve and HyStart++'s state when cwnd is below the prior one
//    (RFC 9438 §4.9).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <variant>

#include "synack/time.hpp"

namespace synack::tcp {

enum class CongestionAlgorithm : uint8_t { kNewReno, kCubic };

struct CongestionConfig {
  CongestionAlgorithm algorithm = CongestionAlgorithm::kCubic;
  uint32_t initial_window_segments = 10;  // RFC 6928
  bool hystart = true;                    // RFC 9406 (CUBIC and NewReno slow start)
  bool pacing = true;                     // pacing_rate() is honoured by the sender
};

// What one ACK did, as the connection measured it.
struct AckSample {
  Instant now;
  uint64_t acked_bytes = 0;     // newly acknowledged, cumulatively or by SACK
  uint64_t in_flight = 0;       // bytes in flight before this ACK (RFC 6675 "pipe")
  std::optional<Duration> rtt;  // an RTT sample from this ACK, if it gave one
  Duration min_rtt;             // the smallest RTT seen (zero: none yet)
  Duration srtt;                // RFC 6298 SRTT (zero: none yet)
  bool app_limited = false;     // the sender had nothing more to send (RFC 7661)
  uint64_t delivered_seq = 0;   // send offset now cumulatively acknowledged (HyStart rounds)
  uint64_t sent_seq = 0;        // send offset of the highest byte sent so far
};

// Per-algorithm state lives in these; the interface below dispatches to them.
struct NewRenoState {
  uint64_t bytes_acked = 0;  // RFC 3465 §2.1 congestion avoidance counter
};

// RFC 9438 §4: W_max, K, the epoch start, W_est (the Reno-friendly estimate), and the
// cwnd at the start of the epoch (§4.2: the origin of the cubic curve). Windows are kept
// in bytes (as doubles), not segments, so that an MSS change rescales nothing; the curve's
// C is scaled by the MSS instead: W_cubic(t) in bytes = C * MSS * (t - K)^3 + W_max.
struct CubicState {
  double w_max = 0;       // bytes; 0: undefined (no congestion event yet, §4.10)
  double k = 0;           // seconds, of the current epoch
  double w_est = 0;       // bytes (§4.3)
  double cwnd_epoch = 0;  // bytes (§4.2)
  // cwnd when ssthresh was last set: just before the reduction of the last congestion
  // event, or on leaving the first slow start (§4.3, §4.6, §4.10). alpha_cubic becomes 1
  // once W_est reaches it.
  double cwnd_prior = 0;
  std::optional<Instant> epoch_start;  // nullopt: the next congestion avoidance ACK starts one
  // §4.8: this epoch (or the next one) follows a timeout: K = 0, W_max = cwnd_epoch.
  bool after_timeout = false;
  double increase_carry = 0;        // bytes of §4.4/§4.5 increase not yet added to cwnd
  std::optional<Instant> last_ack;  // §5.8: app-limited time is left out of t
};

// HyStart++ (RFC 9406 §4): rounds, the RTT samples of this and the last round, and CSS.
struct HystartState {
  bool done = false;        // over: slow start left, or a congestion event (§4.2)
  uint64_t window_end = 0;  // the round ends when this offset is acknowledged
  bool round_started = false;
  std::optional<Duration> last_round_min_rtt;  // nullopt: infinity
  std::optional<Duration> current_round_min_rtt;
  uint32_t rtt_sample_count = 0;
  bool in_css = false;  // Conservative Slow Start
  std::optional<Duration> css_baseline_min_rtt;
  uint32_t css_rounds = 0;  // rounds ended in CSS (a partial first one counts, §4.2)
  uint64_t css_carry = 0;   // slow-start increase not yet divided by CSS_GROWTH_DIVISOR
};

// RFC 7661 (congestion window validation): pipeACK, the estimate of what the path carried
// recently, and the phase it puts cwnd in.
struct CwvState {
  // A pipeACK sample is what one round acknowledged (§4.2: data acknowledged over an RTT).
  // A round is armed by an ACK with the offset sent by then and ends with the ACK that
  // covers it; the bytes of the ACKs in between (the arming one included, when nothing
  // was outstanding before it) are the sample.
  bool round_armed = false;
  uint64_t round_end = 0;
  uint64_t round_acked = 0;
  // pipeACK is the largest sample within the pipeACK Sampling Period, max(3*SRTT, 1 s)
  // (§3); samples are kept as the maximum of each quarter period (a "bin").
  struct Bin {
    Instant start;
    uint64_t max_sample = 0;
  };
  static constexpr size_t kBins = 5;
  std::array<Bin, kBins> bins{};  // bins[0] is the oldest
  size_t bin_count = 0;
  bool defined = false;  // a sample was taken since the start (or the last loss)
  Duration srtt;         // the last SRTT an ACK carried
  // The last ACK found the sender cwnd-limited (not application-limited): it is using its
  // window, so the window is validated whatever pipeACK says. Idle clears it.
  bool cwnd_limited = false;
  std::optional<Instant> validated_at;  // the last time cwnd was found validated
  // A congestion event in the non-validated phase (§4.4): answered at recovery exit.
  bool loss_in_nvp = false;
  uint64_t loss_flight_size = 0;
  uint64_t loss_pipe_ack = 0;
};

class CongestionControl {
 public:
  // RFC 9438 §4.6 and §4.5.
  static constexpr double kCubicBeta = 0.7;
  static constexpr double kCubicC = 0.4;
  // RFC 9438 §4.3: alpha_cubic = 3 * (1 - beta_cubic) / (1 + beta_cubic).
  static constexpr double kCubicAlpha = 3.0 * (1.0 - kCubicBeta) / (1.0 + kCubicBeta);
  // RFC 5681 §3.1: ssthresh starts "arbitrarily high".
  static constexpr uint64_t kInfiniteSsthresh = std::numeric_limits<uint64_t>::max();
  // RFC 3465 §2.2: slow start grows by at most L*SMSS per ACK, L = 2.
  static constexpr uint64_t kAbcLimit = 2;
  // RFC 9406 §4.3 constants.
  static constexpr Duration kHystartMinRttThresh = Duration::millis(4);
  static constexpr Duration kHystartMaxRttThresh = Duration::millis(16);
  static constexpr int64_t kHystartMinRttDivisor = 8;
  static constexpr uint32_t kHystartNRttSample = 8;
  static constexpr uint64_t kHystartCssGrowthDivisor = 4;
  static constexpr uint32_t kHystartCssRounds = 5;
  static constexpr uint64_t kHystartNonPacedL = 8;  // L = infinity when paced
  // RFC 7661 §5: the non-validated period.
  static constexpr Duration kNonValidatedPeriod = Duration::seconds(300);
  // Linux's sysctl_tcp_pacing_ss_ratio and sysctl_tcp_pacing_ca_ratio, in percent.
  static constexpr uint64_t kPacingSlowStartPercent = 200;
  static constexpr uint64_t kPacingCongestionAvoidancePercent = 120;

  CongestionControl(const CongestionConfig& config, uint32_t mss);

  // The initial window for `mss` (RFC 6928, generalised to `segments`; see above).
  static uint64_t initial_window(uint32_t mss, uint32_t segments);

  // The sender's MSS changed (PMTU); windows kept in bytes are not rescaled.
  void set_mss(uint32_t mss);

  // New data acknowledged outside recovery: slow start or congestion avoidance.
  void on_ack(const AckSample& ack);
  // Loss detected (fast retransmit, RACK, or an ECN echo): a congestion event, once per
  // window of data. ssthresh and cwnd are reduced (RFC 5681 §3.2 / RFC 9438 §4.6); the
  // connection then runs recovery (RFC 6675 uses cwnd and pipe).
  void on_congestion_event(Instant now, uint64_t in_flight);
  // Recovery is over (the ACK covering the recovery point arrived).
  void on_recovery_exit(Instant now);
  // The retransmission timer expired: RFC 5681 §3.1 (ssthresh from FlightSize, cwnd = 1
  // segment). Does nothing more for later timeouts of the same episode than RFC 5681 asks.
  void on_rto(Instant now, uint64_t in_flight);
  // The last congestion event was spurious (RFC 3522 / RFC 4015: D-SACK or timestamps
  // show the retransmission was unneeded): the window and ssthresh before it come back.
  void undo();
  // The sender was idle (nothing in flight) for `idle` and is about to send again: RFC 7661
  // §4.3 (or RFC 5681 §4.1's restart window when the idle time exceeds an RTO).
  void on_idle_restart(Instant now, Duration idle, Duration rto);

  uint64_t cwnd() const { return cwnd_; }
  uint64_t ssthresh() const { return ssthresh_; }
  bool in_slow_start() const { return cwnd_ < ssthresh_; }
  // Bytes per second (0: do not pace, e.g. no RTT yet or pacing off): as Linux, cwnd / srtt
  // times 2 in slow start and 1.2 in congestion avoidance.
  uint64_t pacing_rate(Duration srtt) const;
  CongestionAlgorithm algorithm() const { return config_.algorithm; }
  const CongestionConfig& config() const { return config_; }
  uint32_t mss() const { return mss_; }
  // Congestion events and undos so far. A congestion event is a call to
  // on_congestion_event() or the first on_rto() of an episode (the ones that set ssthresh).
  uint64_t congestion_events() const { return congestion_events_; }
  uint64_t undos() const { return undos_; }

  // Introspection, for tests and tracing.
  uint64_t initial_window() const { return initial_window(mss_, config_.initial_window_segments); }
  // HyStart++ runs: configured, still in the first slow start, and not ended.
  bool hystart_active() const { return config_.hystart && !hystart_.done && in_slow_start(); }
  bool in_css() const { return hystart_active() && hystart_.in_css; }
  const HystartState& hystart() const { return hystart_; }
  // CUBIC's state; nullptr for NewReno.
  const CubicState* cubic() const { return std::get_if<CubicState>(&state_); }
  // RFC 7661 §4.2 pipeACK at `now` (nullopt: undefined), and whether cwnd is validated:
  // §3's pipeACK >= cwnd / 2 or pipeACK undefined, or the last ACK found the sender
  // cwnd-limited (it is using the whole window; as Linux's and Apple's RFC 7661 code).
  std::optional<uint64_t> pipe_ack(Instant now) const;
  bool cwnd_validated(Instant now) const;

 private:
  struct Prior {  // what undo() restores (RFC 3522, RFC 4015; RFC 9438 §4.9)
    uint64_t cwnd = 0;
    uint64_t ssthresh = 0;
    std::optional<CubicState> cubic;
    HystartState hystart;
  };

  uint64_t slow_start_limit() const;
  uint64_t slow_start(const AckSample& ack);  // the acked bytes left past ssthresh
  void congestion_avoidance(const AckSample& ack, uint64_t acked);
  void cubic_avoidance(CubicState& cubic, const AckSample& ack, uint64_t acked);
  void hystart_on_ack(const AckSample& ack);
  void leave_first_slow_start();
  void save_prior();
  void end_hystart();
  void cwv_on_ack(const AckSample& ack);
  void cwv_push(Instant now, uint64_t sample);
  void cwv_reset();
  void cwv_expire_nvp(Instant now);
  Duration pipe_ack_period() const;
  void restart_cubic_epoch();

  CongestionConfig config_;
  uint32_t mss_;
  uint64_t cwnd_;
  uint64_t ssthresh_;
  uint64_t congestion_events_ = 0;
  uint64_t undos_ = 0;
  bool in_recovery_ = false;    // between on_congestion_event() and on_recovery_exit()
  bool rto_episode_ = false;    // an RTO, and no new data acknowledged since
  std::optional<Prior> prior_;  // before the last congestion event
  HystartState hystart_;
  CwvState cwv_;
  std::variant<NewRenoState, CubicState> state_;
};

}  // namespace synack::tcp
