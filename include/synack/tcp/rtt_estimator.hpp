// Round-trip time estimation and the retransmission timeout, RFC 6298.
//
// The estimator only does arithmetic; the connection decides what is a valid sample and
// when the timer runs. In particular Karn's algorithm (RFC 6298 §3) is the caller's job:
// an RTT sample MUST NOT be taken from a segment that was retransmitted, because its ACK
// cannot say which transmission it answers — unless the TCP timestamps option
// (RFC 7323 §4) tells them apart. Timer management (§5.1-§5.6: start on send, stop when
// everything is acknowledged, restart on new ACKs, retransmit on expiry) is likewise the
// connection's; it calls on_timeout() on expiry and arms the timer for rto().
//
// All arithmetic is in integer microseconds (the resolution of Instant); each smoothing
// step truncates by less than 1 µs, far below any clock granularity that matters here.
#pragma once

#include <cstdint>

#include "synack/time.hpp"

namespace synack::tcp {

struct RttConfig {
  // RFC 6298 §2.1: "Until a round-trip time (RTT) measurement has been made ... the sender
  // SHOULD set RTO <- 1 second".
  Duration initial_rto = Duration::seconds(1);

  // RFC 6298 §2.4 says an RTO below 1 second SHOULD be rounded up to 1 second. synack
  // follows Linux (TCP_RTO_MIN) instead: 200 ms. The 1 s floor dates from coarse timers
  // and is far above the RTT of most paths; Linux, FreeBSD (30 ms) and Windows (300 ms)
  // have run well below it for decades, and a 1 s floor makes every tail loss that the
  // fast-retransmit machinery cannot repair stall for at least a second. Set it to
  // Duration::seconds(1) for strict RFC behaviour.
  Duration min_rto = Duration::millis(200);

  // RFC 6298 §2.5: "A maximum value MAY be placed on RTO provided it is at least 60
  // seconds." 120 s is Linux's TCP_RTO_MAX; backoff (§5.5) is capped here too.
  Duration max_rto = Duration::seconds(120);

  // G in RFC 6298 §2: the clock granularity. Instants are in microseconds, but the timers
  // that act on the RTO fire from an event loop that sleeps in milliseconds (epoll_wait's
  // timeout), so 1 ms is the granularity the RTO can really be honoured with. §4: when
  // K*RTTVAR is zero the variance term MUST be rounded up to G — that is the max(G, ...)
  // in the RTO formula. Must be positive.
  Duration clock_granularity = Duration::millis(1);

  // RFC 6298 §5.7: "If the timer expires awaiting the ACK of a SYN segment and the TCP
  // implementation is using an RTO less than 3 seconds, the RTO MUST be re-initialized to
  // 3 seconds when data transmission begins (i.e., after the three-way handshake
  // completes)." On by default; turning it off is a deliberate departure from the RFC
  // (e.g. for simulations that want the 1 s value throughout).
  bool syn_timeout_rto_reset = true;
};

class RttEstimator {
 public:
  // RFC 6298 §2: alpha = 1/8, beta = 1/4, K = 4.
  static constexpr int64_t kAlphaDen = 8;
  static constexpr int64_t kBetaDen = 4;
  static constexpr int64_t kK = 4;
  // RFC 6298 §5.7's value (RFC 2988's initial RTO, and RFC 1122's before it).
  static constexpr Duration kSynTimeoutRto = Duration::seconds(3);

  // Requires 0 <= min_rto <= max_rto and clock_granularity > 0. The initial RTO, like every
  // RTO after it, is clamped into [min_rto, max_rto].
  explicit RttEstimator(const RttConfig& config = {});

  // A valid RTT measurement R (Karn's rule already applied by the caller), R >= 0.
  // The first one initialises SRTT and RTTVAR (§2.2), later ones smooth them (§2.3); either
  // way RTO is recomputed, which also "collapses" any backoff (§5, after rule 5.7).
  void on_sample(Duration rtt);

  // The retransmission timer expired: RTO <- RTO * 2, capped at max_rto (§5.5, §2.5).
  // Before on_handshake_complete() this is a timeout awaiting the ACK of our SYN (or
  // SYN-ACK), which arms the §5.7 rule.
  void on_timeout();

  // Undo the backoff without a new sample: RTO returns to the value last computed from
  // SRTT and RTTVAR (or to the initial RTO when there is none). RFC 6298 itself only
  // collapses the backoff on a new sample, which on_sample() does; this is for callers that
  // have other evidence the path is alive (e.g. RFC 6069's ICMP-based reversion).
  void reset_backoff();

  // The three-way handshake has completed and data transmission begins: applies §5.7 if a
  // timeout happened before it and the initial RTO is under 3 s (the RFC's "using an RTO
  // less than 3 seconds"). Then RTO becomes 3 s with no backoff, and stays the base value
  // until the next sample; SRTT and RTTVAR, if any, are kept, so that sample is smoothed in
  // by §2.3. Linux applies the rule only when the handshake produced no RTT sample
  // (tcp_init_metrics); the RFC's MUST has no such exception, and neither does synack.
  // Calls after the first do nothing.
  void on_handshake_complete();

  // SRTT and RTTVAR; zero until has_sample().
  Duration srtt() const { return srtt_; }
  Duration rttvar() const { return rttvar_; }
  // The current RTO, backoff included; always within [min_rto, max_rto].
  Duration rto() const { return rto_; }
  bool has_sample() const { return has_sample_; }
  // Timeouts since the last sample, reset_backoff() or §5.7 reset — e.g. for the caller's
  // R1/R2 retransmission thresholds (RFC 9293 §3.8.3).
  uint32_t backoff_count() const { return backoff_count_; }
  const RttConfig& config() const { return config_; }

 private:
  Duration clamp(Duration rto) const;

  RttConfig config_;
  Duration srtt_;
  Duration rttvar_;
  Duration base_rto_;  // RTO as last computed (or initialised), before any backoff
  Duration rto_;       // base_rto_ doubled once per timeout, capped at max_rto
  uint32_t backoff_count_ = 0;
  bool has_sample_ = false;
  bool handshake_complete_ = false;
  bool timed_out_in_handshake_ = false;
};

}  // namespace synack::tcp
