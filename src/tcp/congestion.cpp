#include "synack/tcp/congestion.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace synack::tcp {
namespace {

uint64_t saturating_add(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

uint64_t saturating_mul(uint64_t a, uint64_t b) {
  return b != 0 && a > std::numeric_limits<uint64_t>::max() / b
             ? std::numeric_limits<uint64_t>::max()
             : a * b;
}

// A window in bytes from a double, truncated; never above what a uint64_t holds.
uint64_t to_bytes(double w) {
  if (!(w > 0)) return 0;
  if (w >= 18446744073709549568.0) return std::numeric_limits<uint64_t>::max();
  return static_cast<uint64_t>(w);
}

// RFC 9438 §4.6's beta_cubic = 0.7 applied to a byte count exactly (7/10, without
// overflow), so that ssthresh does not depend on how 0.7 rounds as a double.
static_assert(CongestionControl::kCubicBeta == 0.7);
uint64_t times_beta(uint64_t bytes) {
  return bytes / 10 * 7 + bytes % 10 * 7 / 10;
}

double seconds(Duration d) {
  return static_cast<double>(d.as_micros()) / 1e6;
}

}  // namespace

CongestionControl::CongestionControl(const CongestionConfig& config, uint32_t mss)
    : config_(config),
      mss_(mss),
      cwnd_(initial_window(mss, config.initial_window_segments)),
      ssthresh_(kInfiniteSsthresh) {  // RFC 5681 §3.1: "arbitrarily high"
  assert(mss > 0);
  if (config_.algorithm == CongestionAlgorithm::kCubic) state_ = CubicState{};
}

uint64_t CongestionControl::initial_window(uint32_t mss, uint32_t segments) {
  // RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)). 14600 is 10 segments of 1460 bytes,
  // so for N segments synack uses min(N*MSS, max(2*MSS, N*1460)): exactly RFC 6928 for
  // N = 10, and for small MSS values N segments; for large ones about N*1460 bytes but
  // never under 2 segments. N = 0 is taken as 1 (a window must hold a segment).
  const uint64_t n = std::max<uint32_t>(segments, 1);
  const uint64_t smss = mss;
  return std::min(n * smss, std::max(2 * smss, n * 1460));
}

void CongestionControl::set_mss(uint32_t mss) {
  assert(mss > 0);
  mss_ = mss;
}

// ---------------------------------------------------------------------------------------
// ACKs: slow start and congestion avoidance.

void CongestionControl::on_ack(const AckSample& ack) {
  cwv_on_ack(ack);
  // New data was acknowledged: the retransmission timer's episode, if any, is over
  // (RFC 5681 §3.1 holds ssthresh only while the same segment times out again).
  rto_episode_ = false;

  // RFC 9438 §5.8 / RFC 7661 §4.3: an application-limited sender does not grow cwnd, and
  // CUBIC's t must leave out the time spent application-limited: the epoch moves forward
  // by the time since the last ACK.
  const bool grow = !ack.app_limited;
  if (auto* cubic = std::get_if<CubicState>(&state_)) {
    if (ack.app_limited && cubic->epoch_start && cubic->last_ack && ack.now > *cubic->last_ack) {
      cubic->epoch_start = std::min(*cubic->epoch_start + (ack.now - *cubic->last_ack), ack.now);
    }
    cubic->last_ack = ack.now;
  }

  if (in_slow_start()) {
    const bool hystart = hystart_active();
    uint64_t leftover = 0;
    if (grow) leftover = slow_start(ack);
    if (hystart) hystart_on_ack(ack);
    // Slow start reached ssthresh on this ACK: the rest of it counts in congestion
    // avoidance (as Linux's tcp_slow_start() returns it).
    if (grow && leftover > 0 && !in_slow_start()) congestion_avoidance(ack, leftover);
    return;
  }
  if (config_.hystart && !hystart_.done) end_hystart();
  if (grow) congestion_avoidance(ack, ack.acked_bytes);
}

uint64_t CongestionControl::slow_start_limit() const {
  // RFC 9406 §4.2/§4.3: while HyStart++ runs, L is infinity for a paced sender ("burst
  // concerns are mitigated by pacing") and 8 otherwise. Every other slow start uses
  // RFC 3465 §2.2's L = 2.
  if (hystart_active()) {
    return config_.pacing ? std::numeric_limits<uint64_t>::max()
                          : saturating_mul(kHystartNonPacedL, mss_);
  }
  return kAbcLimit * mss_;
}

uint64_t CongestionControl::slow_start(const AckSample& ack) {
  // RFC 5681 §3.1 with RFC 3465 §2.2: cwnd += min(N, L*SMSS) per ACK, N the bytes it newly
  // acknowledged. RFC 9406 §4.2: in CSS the increase is divided by CSS_GROWTH_DIVISOR
  // (the remainder carried to the next ACK, so that no byte of growth is lost).
  uint64_t increase = std::min(ack.acked_bytes, slow_start_limit());
  if (in_css()) {
    hystart_.css_carry = saturating_add(hystart_.css_carry, increase);
    increase = hystart_.css_carry / kHystartCssGrowthDivisor;
    hystart_.css_carry %= kHystartCssGrowthDivisor;
  }
  const uint64_t room = ssthresh_ - cwnd_;  // > 0 in slow start
  if (increase < room) {
    cwnd_ += increase;
    return 0;
  }
  cwnd_ = ssthresh_;
  return ack.acked_bytes > room ? ack.acked_bytes - room : 0;
}

void CongestionControl::congestion_avoidance(const AckSample& ack, uint64_t acked) {
  if (auto* cubic = std::get_if<CubicState>(&state_)) {
    cubic_avoidance(*cubic, ack, acked);
    return;
  }
  // RFC 3465 §2.1 (RFC 5681 §3.1's byte-counting variant): bytes_acked grows by the bytes
  // each ACK acknowledges; once it reaches cwnd, it is reduced by cwnd and cwnd grows by
  // one SMSS: one segment per window of acknowledged data.
  auto& reno = std::get<NewRenoState>(state_);
  reno.bytes_acked = saturating_add(reno.bytes_acked, acked);
  if (reno.bytes_acked >= cwnd_) {
    reno.bytes_acked -= cwnd_;
    cwnd_ = saturating_add(cwnd_, mss_);
  }
}

void CongestionControl::cubic_avoidance(CubicState& c, const AckSample& ack, uint64_t acked) {
  const double smss = mss_;
  const double cwnd = static_cast<double>(cwnd_);
  const double c_bytes = kCubicC * smss;  // C, with W in bytes instead of segments

  if (!c.epoch_start) {
    // A congestion avoidance stage begins (RFC 9438 §4.2): t_epoch = now, cwnd_epoch = cwnd,
    // and (§4.3) W_est = cwnd_epoch. K = cbrt((W_max - cwnd_epoch) / C) (§4.2, Figure 2).
    // K = 0 with W_max = cwnd_epoch after a timeout (§4.8), after a slow start that ended
    // without a congestion event (W_max undefined, §4.10), and when cwnd_epoch is already
    // above W_max (§4.2 sets K = 0 then; taking W_max = cwnd_epoch as well starts the
    // convex curve at cwnd instead of below it, where it would stall growth until it
    // caught up).
    c.epoch_start = ack.now;
    c.cwnd_epoch = cwnd;
    c.w_est = cwnd;
    c.increase_carry = 0;
    if (c.after_timeout || c.w_max <= c.cwnd_epoch) {
      c.w_max = c.cwnd_epoch;
      c.k = 0;
    } else {
      c.k = std::cbrt((c.w_max - c.cwnd_epoch) / c_bytes);
    }
    c.after_timeout = false;
  }

  const auto w_cubic = [&](double t) {  // §4.2 Figure 1, in bytes
    const double d = t - c.k;
    return c_bytes * d * d * d + c.w_max;
  };
  const double t = seconds(ack.now - *c.epoch_start);

  // §4.3 Figure 4: W_est += alpha_cubic * segments_acked / cwnd (in segments); in bytes,
  // W_est += alpha_cubic * SMSS * acked / cwnd. alpha_cubic becomes 1 once W_est reaches
  // cwnd_prior, to grow as fast as Reno from there on.
  const double alpha = c.w_est >= c.cwnd_prior ? 1.0 : kCubicAlpha;
  c.w_est += alpha * smss * static_cast<double>(acked) / cwnd;

  if (w_cubic(t) < c.w_est) {
    // §4.3: the Reno-friendly region; cwnd SHOULD be set to W_est on each ACK.
    cwnd_ = std::max(cwnd_, to_bytes(c.w_est));
    c.increase_carry = 0;
    return;
  }

  // §4.4 (concave, cwnd < W_max) and §4.5 (convex, cwnd >= W_max) both add
  // (target - cwnd) / cwnd per ACK of one segment, target being W_cubic(t + RTT) clamped
  // to [cwnd, 1.5 * cwnd]; RTT is the smoothed RTT (§4.2). For `acked` bytes that is
  // (target - cwnd) * acked / cwnd bytes, accumulated so that fractions are not lost.
  Duration rtt = ack.srtt;
  if (rtt <= Duration{}) rtt = ack.min_rtt;
  if (rtt <= Duration{} && ack.rtt) rtt = *ack.rtt;
  if (rtt < Duration{}) rtt = Duration{};
  const double target = std::clamp(w_cubic(t + seconds(rtt)), cwnd, 1.5 * cwnd);
  c.increase_carry += (target - cwnd) * static_cast<double>(acked) / cwnd;
  const double whole = std::floor(c.increase_carry);
  if (whole >= 1) {
    cwnd_ = saturating_add(cwnd_, to_bytes(whole));
    c.increase_carry -= whole;
  }
}

void CongestionControl::hystart_on_ack(const AckSample& ack) {
  // RFC 9406 §4.2. Rounds: windowEnd starts at SND.NXT (here: when the first ACK comes, the
  // controller seeing no sends); when windowEnd is acknowledged the round ends, and the next
  // one ends at the SND.NXT of that moment.
  auto& h = hystart_;
  if (!h.round_started) {
    h.round_started = true;
    h.window_end = ack.sent_seq;
    h.last_round_min_rtt = std::nullopt;
    h.current_round_min_rtt = std::nullopt;
    h.rtt_sample_count = 0;
  }

  // "currentRoundMinRTT = min(currentRoundMinRTT, currRTT); rttSampleCount += 1"
  if (ack.rtt) {
    h.current_round_min_rtt =
        h.current_round_min_rtt ? std::min(*h.current_round_min_rtt, *ack.rtt) : *ack.rtt;
    ++h.rtt_sample_count;
  }

  if (h.in_css) {
    // In CSS, after N_RTT_SAMPLE samples of a round: a minimum RTT below the baseline means
    // the slow start exit was spurious; "cssBaselineMinRtt = infinity", slow start resumes.
    if (h.rtt_sample_count >= kHystartNRttSample && h.current_round_min_rtt &&
        h.css_baseline_min_rtt && *h.current_round_min_rtt < *h.css_baseline_min_rtt) {
      h.in_css = false;
      h.css_baseline_min_rtt = std::nullopt;
      h.css_rounds = 0;
      h.css_carry = 0;
    }
  } else if (h.rtt_sample_count >= kHystartNRttSample && h.current_round_min_rtt &&
             h.last_round_min_rtt) {
    // In slow start, after N_RTT_SAMPLE samples with both rounds' minima known:
    // RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH))
    // and a delay increase of at least RttThresh enters CSS.
    const Duration rtt_thresh =
        std::clamp(Duration::micros(h.last_round_min_rtt->as_micros() / kHystartMinRttDivisor),
                   kHystartMinRttThresh, kHystartMaxRttThresh);
    if (*h.current_round_min_rtt >= *h.last_round_min_rtt + rtt_thresh) {
      h.in_css = true;
      h.css_baseline_min_rtt = h.current_round_min_rtt;
      h.css_rounds = 0;
      h.css_carry = 0;
    }
  }

  if (ack.delivered_seq < h.window_end) return;
  // The round is over. "If CSS_ROUNDS rounds are complete, enter congestion avoidance by
  // setting the ssthresh to the current cwnd" (a round CSS started in counts).
  if (h.in_css && ++h.css_rounds >= kHystartCssRounds) {
    ssthresh_ = cwnd_;
    leave_first_slow_start();
    return;
  }
  // The next round: "lastRoundMinRTT = currentRoundMinRTT; currentRoundMinRTT = infinity;
  // rttSampleCount = 0".
  h.window_end = ack.sent_seq;
  h.last_round_min_rtt = h.current_round_min_rtt;
  h.current_round_min_rtt = std::nullopt;
  h.rtt_sample_count = 0;
}

void CongestionControl::leave_first_slow_start() {
  end_hystart();
  // RFC 9438 §4.10: leaving the first slow start without a congestion event, CUBIC sets
  // cwnd_prior = cwnd; W_max is undefined, so the epoch starts with K = 0.
  if (auto* cubic = std::get_if<CubicState>(&state_))
    cubic->cwnd_prior = static_cast<double>(cwnd_);
}

void CongestionControl::end_hystart() {
  hystart_.done = true;
  hystart_.in_css = false;
  hystart_.css_baseline_min_rtt = std::nullopt;
}

// ---------------------------------------------------------------------------------------
// Congestion events.

void CongestionControl::save_prior() {
  Prior p;
  p.cwnd = cwnd_;
  p.ssthresh = ssthresh_;
  if (const auto* cubic = std::get_if<CubicState>(&state_)) p.cubic = *cubic;
  p.hystart = hystart_;
  prior_ = p;
}

void CongestionControl::on_congestion_event(Instant now, uint64_t in_flight) {
  // One episode, one saved state: a second reduction inside the same recovery (or a timeout
  // during it) keeps what the first one saved, so undo() returns to before the episode.
  if (!in_recovery_ && !rto_episode_) save_prior();
  ++congestion_events_;

  // RFC 7661 §4.4: remember whether cwnd was validated; if not, recovery exit answers.
  cwv_.loss_in_nvp = !cwnd_validated(now);
  cwv_.loss_flight_size = in_flight;
  cwv_.loss_pipe_ack = pipe_ack(now).value_or(0);

  // RFC 9406 §4.2: loss (or an ECN mark) during slow start or CSS ends HyStart++; it is used
  // in the first slow start only.
  end_hystart();

  // FlightSize, capped at cwnd: a congestion response never raises the window (the flight
  // can exceed a cwnd that was just cut, e.g. after idle).
  const uint64_t flight = std::min(in_flight, cwnd_);
  if (auto* c = std::get_if<CubicState>(&state_)) {
    // RFC 9438 §4.7 fast convergence, before the reduction: a cwnd below W_max means the
    // saturation point dropped, so release more: W_max = cwnd * (1 + beta_cubic) / 2.
    const double cwnd = static_cast<double>(cwnd_);
    c->w_max = cwnd < c->w_max ? cwnd * (1.0 + kCubicBeta) / 2.0 : cwnd;
    c->cwnd_prior = cwnd;
    // §4.6: ssthresh = flight_size * beta_cubic, at least 2 segments; cwnd = ssthresh.
    // (Some implementations use cwnd here; §4.6 lets them only with other means of keeping
    // cwnd from growing past what is in flight. synack has those too — no growth when
    // application-limited — but the flight size is what the pseudocode says.)
    ssthresh_ = std::max(times_beta(flight), uint64_t{2} * mss_);
    c->epoch_start = std::nullopt;  // a new epoch at the next congestion avoidance ACK
    c->after_timeout = false;
    c->increase_carry = 0;
  } else {
    // RFC 5681 §3.2 step 2, equation (4): ssthresh = max(FlightSize / 2, 2*SMSS).
    ssthresh_ = std::max(flight / 2, uint64_t{2} * mss_);
    std::get<NewRenoState>(state_).bytes_acked = 0;
  }
  // The window recovery starts from (RFC 6675 §5 and RFC 9438 §4.6: cwnd = ssthresh); any
  // inflation during recovery is the connection's.
  cwnd_ = ssthresh_;
  in_recovery_ = true;
}

void CongestionControl::on_recovery_exit(Instant now) {
  (void)now;
  in_recovery_ = false;
  if (cwv_.loss_in_nvp) {
    // RFC 7661 §4.4.1: a loss in the non-validated phase resets cwnd at the end of
    // recovery to (max(pipeACK, LossFlightSize) - R) / 2, R being the data still reported
    // unacknowledged then. Recovery ends with the ACK that covers the recovery point, so
    // nothing sent before the loss is still missing: R = 0 here. At least 2 segments, as
    // RFC 5681's ssthresh.
    const uint64_t base = std::max(cwv_.loss_pipe_ack, cwv_.loss_flight_size);
    cwnd_ = std::max(base / 2, uint64_t{2} * mss_);
    restart_cubic_epoch();
  }
  // The window after a loss was computed from what was in flight: it starts validated,
  // with pipeACK measured afresh.
  cwv_reset();
}

void CongestionControl::on_rto(Instant now, uint64_t in_flight) {
  (void)now;
  if (!rto_episode_) {
    // RFC 5681 §3.1: on the first timeout of a segment ssthresh = max(FlightSize / 2,
    // 2*SMSS) (equation 4); when the segment has already been retransmitted by the timer,
    // ssthresh is held constant. A timeout during fast recovery is a new episode's first
    // timeout, but the state saved for undo stays the one from before the recovery.
    if (!in_recovery_) save_prior();
    ++congestion_events_;
    end_hystart();
    const uint64_t flight = std::min(in_flight, cwnd_);
    if (auto* c = std::get_if<CubicState>(&state_)) {
      // RFC 9438 §4.8: cwnd as Reno, ssthresh with beta_cubic as in §4.6. The first
      // congestion avoidance stage after it uses K = 0 and W_max = cwnd_epoch, and
      // W_est = cwnd_epoch (cubic_avoidance() applies that when the epoch starts).
      c->cwnd_prior = static_cast<double>(cwnd_);
      ssthresh_ = std::max(times_beta(flight), uint64_t{2} * mss_);
      c->after_timeout = true;
      c->epoch_start = std::nullopt;
      c->increase_carry = 0;
    } else {
      ssthresh_ = std::max(flight / 2, uint64_t{2} * mss_);
      // RFC 3465 §2.1: bytes_acked restarts after a timeout.
      std::get<NewRenoState>(state_).bytes_acked = 0;
    }
    cwv_reset();
  }
  // RFC 5681 §3.1: "cwnd MUST be set to no more than the loss window, LW, which equals 1
  // full-sized segment".
  cwnd_ = mss_;
  rto_episode_ = true;
  in_recovery_ = false;  // the timeout ends fast recovery (RFC 6675 §5.1)
}

void CongestionControl::undo() {
  if (!prior_) return;
  // RFC 3522 §2 / RFC 4015 §2 restore the window and ssthresh from before the spurious
  // response; as Linux's tcp_undo_cwnd_reduction(), never lowering what grew since:
  // cwnd = max(cwnd, prior_cwnd), ssthresh = max(ssthresh, prior_ssthresh). RFC 9438 §4.9
  // restores CUBIC's W_max, K, epoch and W_est too, "if cwnd < prior_cwnd"; otherwise the
  // current values are the more recent ones and stay. HyStart++ is restored likewise: as
  // if the event never happened.
  const Prior& p = *prior_;
  if (cwnd_ < p.cwnd) {
    if (auto* c = std::get_if<CubicState>(&state_); c && p.cubic) {
      const auto last_ack = c->last_ack;
      *c = *p.cubic;
      c->last_ack = last_ack;
    }
    hystart_ = p.hystart;
  }
  cwnd_ = std::max(cwnd_, p.cwnd);
  ssthresh_ = std::max(ssthresh_, p.ssthresh);
  if (auto* reno = std::get_if<NewRenoState>(&state_)) reno->bytes_acked = 0;
  prior_.reset();
  ++undos_;
  in_recovery_ = false;
  rto_episode_ = false;
  cwv_.loss_in_nvp = false;
}

// ---------------------------------------------------------------------------------------
// RFC 7661: idle and application-limited periods.

void CongestionControl::on_idle_restart(Instant now, Duration idle, Duration rto) {
  // RFC 7661 §4.4.3: a cwnd that stayed non-validated for the whole NVP is reduced. The
  // controller has no timer, so the check runs here and on ACKs.
  cwv_.cwnd_limited = false;  // idle: not using the window
  cwv_expire_nvp(now);

  if (!config_.pacing && idle > rto) {
    // RFC 7661 §4.3 preserves cwnd over idle periods, which leaves the burst of a whole
    // cwnd to be controlled some other way (§4.4.2); without pacing synack has none, so it
    // follows RFC 5681 §4.1 instead: a TCP that "has not sent data in an interval
    // exceeding the retransmission timeout" sets cwnd to no more than the restart window,
    // RW = min(IW, cwnd).
    cwnd_ = std::min(cwnd_, initial_window());
    restart_cubic_epoch();
  } else if (auto* c = std::get_if<CubicState>(&state_); c && c->epoch_start) {
    // RFC 9438 §5.8: t must leave out idle periods, or W_cubic(t) would be far too high
    // on restart. (Linux moves epoch_start the same way.)
    c->epoch_start = std::min(*c->epoch_start + std::max(idle, Duration{}), now);
  }
  if (auto* c = std::get_if<CubicState>(&state_)) c->last_ack = now;
}

void CongestionControl::restart_cubic_epoch() {
  if (auto* c = std::get_if<CubicState>(&state_)) {
    c->epoch_start = std::nullopt;
    c->increase_carry = 0;
  }
}

Duration CongestionControl::pipe_ack_period() const {
  // RFC 7661 §3, §4.2: the pipeACK Sampling Period is max(3*SRTT, 1 second).
  return std::max(cwv_.srtt * 3, Duration::seconds(1));
}

void CongestionControl::cwv_on_ack(const AckSample& ack) {
  if (ack.srtt > Duration{}) cwv_.srtt = ack.srtt;

  // A pipeACK sample per round (RFC 7661 §4.2). When a round ends with data still
  // outstanding, the next one ends when what is sent by now is acknowledged, and the ACKs
  // after this one count. When nothing is outstanding (the sender went quiet), the next ACK
  // arms the round and counts too: a burst after a quiet spell is one sample, not two.
  auto& w = cwv_;
  if (!w.round_armed) {
    w.round_armed = true;
    w.round_end = ack.sent_seq;
    w.round_acked = 0;
  }
  w.round_acked = saturating_add(w.round_acked, ack.acked_bytes);
  if (ack.delivered_seq >= w.round_end) {
    if (w.round_acked > 0) cwv_push(ack.now, w.round_acked);
    w.round_acked = 0;
    w.round_end = ack.sent_seq;
    w.round_armed = ack.sent_seq > ack.delivered_seq;
  }

  // A sender that is not application-limited is using its cwnd (see cwnd_validated()).
  w.cwnd_limited = !ack.app_limited;
  cwv_expire_nvp(ack.now);
}

void CongestionControl::cwv_push(Instant now, uint64_t sample) {
  auto& w = cwv_;
  w.defined = true;
  const Duration width = Duration::micros(pipe_ack_period().as_micros() / 4);
  if (w.bin_count > 0 && now - w.bins[w.bin_count - 1].start < width) {
    auto& last = w.bins[w.bin_count - 1];
    last.max_sample = std::max(last.max_sample, sample);
    return;
  }
  if (w.bin_count == CwvState::kBins) {
    std::move(w.bins.begin() + 1, w.bins.end(), w.bins.begin());
    --w.bin_count;
  }
  w.bins[w.bin_count++] = CwvState::Bin{.start = now, .max_sample = sample};
}

void CongestionControl::cwv_reset() {
  const auto validated_at = cwv_.validated_at;
  const auto srtt = cwv_.srtt;
  const bool cwnd_limited = cwv_.cwnd_limited;
  cwv_ = CwvState{};
  cwv_.validated_at = validated_at;
  cwv_.srtt = srtt;
  cwv_.cwnd_limited = cwnd_limited;
}

void CongestionControl::cwv_expire_nvp(Instant now) {
  if (cwnd_validated(now) || !cwv_.validated_at) {
    cwv_.validated_at = now;
    return;
  }
  const Duration since = now - *cwv_.validated_at;
  if (since <= kNonValidatedPeriod) return;
  // RFC 7661 §4.4.3, once for every NVP (§5) spent non-validated: ssthresh =
  // max(ssthresh, 3*cwnd/4), recording the rate the sender sustained, then cwnd no more
  // than max(cwnd/2, IW). ssthresh only depends on the first (largest) cwnd.
  const int64_t periods = since.as_micros() / kNonValidatedPeriod.as_micros();
  cwv_.validated_at = *cwv_.validated_at + kNonValidatedPeriod * periods;
  ssthresh_ = std::max(ssthresh_, cwnd_ / 4 * 3 + cwnd_ % 4 * 3 / 4);
  const uint64_t halved = periods >= 64 ? 0 : cwnd_ >> periods;
  cwnd_ = std::min(cwnd_, std::max(halved, initial_window()));
  restart_cubic_epoch();
}

std::optional<uint64_t> CongestionControl::pipe_ack(Instant now) const {
  if (!cwv_.defined) return std::nullopt;
  const Duration period = pipe_ack_period();
  uint64_t value = 0;
  for (size_t i = 0; i < cwv_.bin_count; ++i) {
    if (now - cwv_.bins[i].start < period) value = std::max(value, cwv_.bins[i].max_sample);
  }
  return value;
}

bool CongestionControl::cwnd_validated(Instant now) const {
  // RFC 7661 §3: the validated phase is pipeACK >= (1/2)*cwnd, or pipeACK undefined. A
  // sender whose last ACK found it cwnd-limited is using the whole window: validated too
  // (Linux's and Apple's RFC 7661 code do the same; in slow start pipeACK is only about
  // half of a cwnd that is fully used).
  if (cwv_.cwnd_limited) return true;
  const auto p = pipe_ack(now);
  return !p || *p >= cwnd_ - cwnd_ / 2;
}

// ---------------------------------------------------------------------------------------
// Pacing.

uint64_t CongestionControl::pacing_rate(Duration srtt) const {
  if (!config_.pacing || srtt <= Duration{}) return 0;
  // Linux's tcp_update_pacing_rate(): cwnd * MSS / SRTT, times sysctl_tcp_pacing_ss_ratio
  // (200 %) in slow start and sysctl_tcp_pacing_ca_ratio (120 %) otherwise, so that the
  // window is sent out within the RTT with room to grow. (Linux counts slow start as
  // cwnd < ssthresh / 2 here; synack uses in_slow_start().)
  const uint64_t percent =
      in_slow_start() ? kPacingSlowStartPercent : kPacingCongestionAvoidancePercent;
  __extension__ using u128 = unsigned __int128;
  const u128 rate = static_cast<u128>(cwnd_) * 1'000'000u * percent /
                    (static_cast<u128>(srtt.as_micros()) * 100u);
  return rate > std::numeric_limits<uint64_t>::max() ? std::numeric_limits<uint64_t>::max()
                                                     : static_cast<uint64_t>(rate);
}

}  // namespace synack::tcp
