#include "synack/tcp/rtt_estimator.hpp"

#include <algorithm>
#include <cassert>

namespace synack::tcp {

RttEstimator::RttEstimator(const RttConfig& config) : config_(config) {
  assert(Duration{} <= config_.min_rto && config_.min_rto <= config_.max_rto);
  assert(config_.clock_granularity > Duration{});
  base_rto_ = clamp(config_.initial_rto);  // §2.1
  rto_ = base_rto_;
}

Duration RttEstimator::clamp(Duration rto) const {
  // §2.4 lower bound (synack's min_rto, see RttConfig), §2.5 upper bound.
  return std::min(std::max(rto, config_.min_rto), config_.max_rto);
}

void RttEstimator::on_sample(Duration rtt) {
  assert(rtt >= Duration{});
  const int64_t r = std::max<int64_t>(rtt.as_micros(), 0);

  if (!has_sample_) {
    // §2.2: SRTT <- R, RTTVAR <- R/2.
    srtt_ = Duration::micros(r);
    rttvar_ = Duration::micros(r / 2);
    has_sample_ = true;
  } else {
    // §2.3: RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'| with the SRTT from before
    // this sample, then SRTT <- (1 - alpha) * SRTT + alpha * R'. One division each, so
    // each result is truncated once.
    const int64_t srtt = srtt_.as_micros();
    const int64_t rttvar = rttvar_.as_micros();
    const int64_t deviation = srtt > r ? srtt - r : r - srtt;
    rttvar_ = Duration::micros(((kBetaDen - 1) * rttvar + deviation) / kBetaDen);
    srtt_ = Duration::micros(((kAlphaDen - 1) * srtt + r) / kAlphaDen);
  }

  // §2.2/§2.3: RTO <- SRTT + max(G, K * RTTVAR); §4: a zero variance term rounds up to G.
  base_rto_ = clamp(srtt_ + std::max(config_.clock_granularity, rttvar_ * kK));
  // §5: a new measurement recomputes RTO, "collapsing" it after exponential backoff.
  rto_ = base_rto_;
  backoff_count_ = 0;
}

void RttEstimator::on_timeout() {
  // §5.5: RTO <- RTO * 2, bounded by the §2.5 maximum. rto_ <= max_rto always holds, so
  // testing 2 * rto_ > max_rto as rto_ > max_rto - rto_ cannot overflow.
  rto_ = rto_ > config_.max_rto - rto_ ? config_.max_rto : rto_ * 2;
  ++backoff_count_;
  if (!handshake_complete_) timed_out_in_handshake_ = true;
}

void RttEstimator::reset_backoff() {
  rto_ = base_rto_;
  backoff_count_ = 0;
}

void RttEstimator::on_handshake_complete() {
  if (handshake_complete_) return;
  handshake_complete_ = true;
  // §5.7: only a timeout while awaiting the ACK of a SYN triggers it, and only for an
  // implementation whose RTO (the initial one, §2.1) is below 3 seconds.
  if (config_.syn_timeout_rto_reset && timed_out_in_handshake_ &&
      config_.initial_rto < kSynTimeoutRto) {
    base_rto_ = clamp(kSynTimeoutRto);
    rto_ = base_rto_;
    backoff_count_ = 0;
  }
}

}  // namespace synack::tcp
