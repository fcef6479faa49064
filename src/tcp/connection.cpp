// tcp::Connection: RFC 9293 §3.10 event processing. The user calls come first, then
// SEGMENT ARRIVES (§3.10.7) step by step, then the output side and the timeouts (§3.10.8).
#include "synack/tcp/connection.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cstring>
#include <limits>
#include <span>

#include "synack/tcp/reset.hpp"

namespace synack::tcp {

using wire::after;
using wire::after_eq;
using wire::before;
using wire::before_eq;
using wire::SeqLen;
using wire::SeqNum;
using wire::TcpFlags;
using wire::TcpRepr;

namespace {

constexpr uint8_t kMaxWindowScale = 14;  // RFC 7323 §2.3
constexpr uint32_t kMaxUnscaledWindow = 0xffff;
// RFC 7323 §5.5: TS.Recent is invalid after 24 days of idleness.
constexpr Duration kPawsIdle = Duration::seconds(24LL * 24 * 3600);

// The smallest scale that lets the window cover the whole receive buffer (RFC 7323 §2.2).
uint8_t window_scale_for(size_t buffer) {
  uint8_t shift = 0;
  while (shift < kMaxWindowScale && (size_t{kMaxUnscaledWindow} << shift) < buffer)
    ++shift;
  return shift;
}

// Modular comparison of timestamp values (RFC 7323 §5.2 treats them as 32-bit serial
// numbers, like sequence numbers).
bool ts_before(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) < 0;
}

}  // namespace

std::string_view to_string(EventKind k) {
  switch (k) {
    case EventKind::kStateChanged:
      return "state-changed";
    case EventKind::kConnected:
      return "connected";
    case EventKind::kReadable:
      return "readable";
    case EventKind::kWritable:
      return "writable";
    case EventKind::kPeerClosed:
      return "peer-closed";
    case EventKind::kClosed:
      return "closed";
    case EventKind::kError:
      return "error";
    case EventKind::kRecovery:
      return "recovery";
  }
  return "?";
}

void EventQueue::push(const Event& e) {
  if (e.kind == EventKind::kReadable || e.kind == EventKind::kWritable) {
    for (size_t i = 0; i < size_; ++i) {
      if (ring_[(head_ + i) % kCapacity].kind == e.kind) return;  // already pending
    }
  }
  if (size_ == kCapacity) {
    head_ = (head_ + 1) % kCapacity;
    --size_;
    ++dropped_;
  }
  ring_[(head_ + size_) % kCapacity] = e;
  ++size_;
}

std::optional<Event> EventQueue::pop() {
  if (size_ == 0) return std::nullopt;
  Event e = ring_[head_];
  head_ = (head_ + 1) % kCapacity;
  --size_;
  return e;
}

Connection::Connection(const Config& config)
    : cfg_(config),
      sndbuf_(config.send_buffer),
      rcvbuf_(config.receive_buffer),
      rtt_(config.rtt),
      cc_(config.congestion, config.mss) {}

std::optional<Instant> Connection::next_deadline() const {
  // Asked after every packet (the stack keeps its wheel in step): a plain minimum over the
  // nine deadlines, without building optionals along the way.
  int64_t t = std::numeric_limits<int64_t>::max();
  bool any = false;
  const auto take = [&](const std::optional<Instant>& d) {
    if (d) {
      t = std::min(t, d->as_micros());
      any = true;
    }
  };
  for (Timer timer : kTimerPriority)
    take(timers_.deadline(timer));
  take(reo_deadline_);
  take(tlp_deadline_);
  take(pace_wait_);
  if (!any) return std::nullopt;
  return Instant::from_micros(t);
}

// --- Helpers ---------------------------------------------------------------------------

uint64_t Connection::send_offset(SeqNum s) const {
  return wire::unwrap(s, iss_ + SeqLen(1), sndbuf_.begin_offset());
}

SeqNum Connection::send_seq(uint64_t offset) const {
  return wire::wrap(offset, iss_ + SeqLen(1));
}

bool Connection::fin_acked() const {
  return fin_queued_ && snd_una_ == fin_seq() + SeqLen(1);
}

bool Connection::can_send() const {
  if (fin_queued_) return false;
  switch (state_) {
    case State::kSynSent:
    case State::kSynRcvd:
    case State::kEstablished:
    case State::kCloseWait:
      return true;
    default:
      return false;
  }
}

uint16_t Connection::effective_mss() const {
  // RFC 9293 §3.7.1: Eff.snd.MSS = min(SendMSS + 20, MMS_S) - TCPhdrsize - IPoptionsize,
  // with our own MSS standing for MMS_S - 20. Options are subtracted per segment.
  return std::min(peer_mss_, cfg_.mss);
}

uint32_t Connection::ts_now(Instant now) const {
  // RFC 7323 §5.4: a 1 ms clock, offset per connection so values reveal nothing.
  return static_cast<uint32_t>(now.as_micros() / 1000) + ts_offset_;
}

void Connection::set_state(State to, std::string_view cause) {
  if (to == state_) return;
  events_.push(Event{
      .kind = EventKind::kStateChanged, .from = state_, .to = to, .cause = cause, .error = {}});
  const State from = state_;
  state_ = to;
  if (to == State::kEstablished && (from == State::kSynSent || from == State::kSynRcvd)) {
    events_.push(
        Event{.kind = EventKind::kConnected, .from = from, .to = to, .cause = cause, .error = {}});
  }
}

void Connection::notify(EventKind kind, std::string_view cause) {
  events_.push(Event{.kind = kind, .from = state_, .to = state_, .cause = cause, .error = {}});
}

void Connection::close_connection(std::string_view cause) {
  timers_.cancel_all();
  reo_deadline_ = tlp_deadline_ = pace_wait_ = std::nullopt;
  tlp_pending_ = false;
  syn_pending_ = ack_pending_ = probe_pending_ = keepalive_pending_ = false;
  const State from = state_;
  set_state(State::kClosed, cause);
  if (from != State::kClosed) {
    events_.push(Event{.kind = EventKind::kClosed,
                       .from = from,
                       .to = State::kClosed,
                       .cause = cause,
                       .error = error_});
  }
}

void Connection::fail(std::error_code e, std::string_view cause) {
  error_ = e;
  events_.push(Event{
      .kind = EventKind::kError, .from = state_, .to = State::kClosed, .cause = cause, .error = e});
  close_connection(cause);
}

void Connection::enter_time_wait(Instant now, std::string_view cause) {
  set_state(State::kTimeWait, cause);
  // RFC 9293 §3.10.7.4 eighth step: "Start the time-wait timer, turn off the other timers."
  timers_.cancel_all();
  reo_deadline_ = tlp_deadline_ = pace_wait_ = std::nullopt;
  tlp_pending_ = false;
  timers_.set(Timer::kTimeWait, now + cfg_.msl * 2);
}

void Connection::queue_rst(SeqNum seq, std::optional<SeqNum> ack) {
  rst_pending_ = PendingRst{seq, ack};
}

void Connection::schedule_ack(bool immediate) {
  if (immediate) {
    ack_pending_ = true;
  } else if (!timers_.is_armed(Timer::kDelayedAck)) {
    timers_.set(Timer::kDelayedAck, last_now_ + cfg_.delayed_ack);
  }
}

void Connection::send_challenge_ack(Instant now) {
  // RFC 5961 §7: at most challenge_acks_per_second, so the ACKs cannot be used to
  // amplify or to probe (RFC 5961 §10 and the CVE-2016-5696 side channel).
  if (now - challenge_window_start_ >= Duration::seconds(1)) {
    challenge_window_start_ = now;
    challenge_acks_in_window_ = 0;
  }
  if (challenge_acks_in_window_ >= cfg_.challenge_acks_per_second) return;
  ++challenge_acks_in_window_;
  ++stats_.challenge_acks;
  ack_pending_ = true;
}

void Connection::restart_keepalive(Instant now) {
  if (!cfg_.keepalive.enabled) return;
  keepalive_probes_ = 0;
  timers_.set(Timer::kKeepalive, now + cfg_.keepalive.idle);
}

// --- User calls (RFC 9293 §3.10.1–3.10.6) ---------------------------------------------

std::error_code Connection::connect(const FourTuple& tuple, SeqNum iss, Instant now) {
  if (state_ != State::kClosed) return std::make_error_code(std::errc::already_connected);
  last_now_ = now;
  tuple_ = tuple;
  passive_ = false;
  error_ = {};
  iss_ = iss;
  snd_una_ = snd_nxt_ = snd_max_ = snd_sml_ = iss;
  ts_offset_ = iss.value() * 2654435761u;  // any per-connection value unrelated to time
  offered_rcv_wscale_ = cfg_.window_scaling ? window_scale_for(rcvbuf_.capacity()) : 0;
  set_state(State::kSynSent, "connect() (active open)");
  syn_pending_ = true;
  return {};
}

std::error_code Connection::listen(const Endpoint& local, IsnSource isn) {
  if (state_ != State::kClosed) return std::make_error_code(std::errc::already_connected);
  tuple_ = FourTuple{local, {}};
  isn_source_ = std::move(isn);
  passive_ = true;
  error_ = {};
  set_state(State::kListen, "listen() (passive open)");
  return {};
}

expected<size_t, std::error_code> Connection::send(wire::Bytes data, Instant now, bool urgent) {
  last_now_ = now;
  if (state_ == State::kClosed || state_ == State::kListen) {
    // RFC 9293 §3.10.2: in LISTEN a SEND may turn the connection active; synack requires
    // connect() for that.
    return unexpected(error_ ? error_ : std::make_error_code(std::errc::not_connected));
  }
  if (!can_send()) return unexpected(std::make_error_code(std::errc::broken_pipe));
  const size_t n = sndbuf_.write(data);
  if (n == 0 && !data.empty()) {
    return unexpected(std::make_error_code(std::errc::resource_unavailable_try_again));
  }
  // RFC 9293 §3.8.5 and RFC 6093 §4: the urgent pointer names the octet after the urgent
  // data, here the end of this write.
  if (urgent && n > 0) snd_up_ = sndbuf_.end_offset();
  return n;
}

size_t Connection::recv(wire::MutableBytes out, Instant now) {
  last_now_ = now;
  const size_t n = rcvbuf_.read(out);
  if (n > 0) maybe_window_update();
  return n;
}

std::optional<uint64_t> Connection::urgent_mark() const {
  if (!rcv_up_ || *rcv_up_ <= rcvbuf_.read_offset()) return std::nullopt;
  return *rcv_up_ - rcvbuf_.read_offset();
}

std::error_code Connection::close(Instant now) {
  last_now_ = now;
  switch (state_) {
    case State::kClosed:
      return std::make_error_code(std::errc::not_connected);
    case State::kListen:
    case State::kSynSent:
      // §3.10.4: delete the TCB; in SYN-SENT queued SENDs get "closing" errors.
      close_connection("close() before the connection was established");
      return {};
    case State::kSynRcvd:
      // §3.10.4 sends the FIN at once when nothing is queued. synack always waits for
      // ESTABLISHED (the FIN then follows any data): until the peer acknowledges our SYN,
      // a FIN would need SYN-ACK retransmission from FIN_WAIT_1, which only this corner
      // would use. The peer sees the same close, one round trip later.
      fin_queued_ = true;
      return {};
    case State::kEstablished:
      fin_queued_ = true;
      set_state(State::kFinWait1, "close(): FIN queued after the data");
      return {};
    case State::kCloseWait:
      fin_queued_ = true;
      set_state(State::kLastAck, "close() after the peer's FIN");
      return {};
    default:
      return {};  // already closing: CLOSE is idempotent here
  }
}

void Connection::abort(Instant now) {
  last_now_ = now;
  switch (state_) {
    case State::kSynRcvd:
    case State::kEstablished:
    case State::kFinWait1:
    case State::kFinWait2:
    case State::kCloseWait:
      // §3.10.5: "Send a reset segment: <SEQ=SND.NXT><CTL=RST>".
      queue_rst(snd_max_, std::nullopt);
      break;
    default:
      break;
  }
  close_connection("abort()");
}

void Connection::set_keepalive(const KeepaliveConfig& k, Instant now) {
  cfg_.keepalive = k;
  if (k.enabled && is_synchronized(state_)) {
    restart_keepalive(now);
  } else {
    timers_.cancel(Timer::kKeepalive);
  }
}

ConnectionStatus Connection::status() const {
  return ConnectionStatus{
      .state = state_,
      .tuple = tuple_,
      .recv_queue = rcvbuf_.readable(),
      .send_queue = sndbuf_.size(),
      .snd_wnd = snd_wnd_,
      .rcv_wnd = before(rcv_nxt_, rcv_adv_) ? (rcv_adv_ - rcv_nxt_).value() : 0,
      .snd_mss = effective_mss(),
      .snd_wscale = snd_wscale_,
      .rcv_wscale = rcv_wscale_,
      .timestamps = ts_ok_,
      .sack = sack_ok_,
      .srtt = rtt_.srtt(),
      .rttvar = rtt_.rttvar(),
      .rto = rtt_.rto(),
      .cwnd = static_cast<uint32_t>(std::min<uint64_t>(send_window(), UINT32_MAX)),
      .ssthresh = cc_.ssthresh() == CongestionControl::kInfiniteSsthresh
                      ? std::nullopt
                      : std::optional<uint32_t>(
                            static_cast<uint32_t>(std::min<uint64_t>(cc_.ssthresh(), UINT32_MAX))),
      .in_flight = in_flight(),
      .pacing_rate = cc_.pacing_rate(rtt_.srtt()),
      .min_rtt = min_rtt_,
      .sack_holes = sb_.holes(),
      .lost_segments = sb_.lost_segments(),
      .recovery = recovery_,
      .reordering_seen = rack_.reordering_seen,
      .ecn = ecn_ok_,
      .stats = stats_,
  };
}

// --- SEGMENT ARRIVES (RFC 9293 §3.10.7) -------------------------------------------------

void Connection::on_segment(const TcpRepr& seg, const Endpoint& from, Instant now, bool ce) {
  last_now_ = now;
  ++stats_.segments_in;
  if (ecn_ok_ && is_synchronized(state_) && state_ != State::kSynRcvd) {
    // RFC 3168 §6.1.3: the receiver sets ECE in every ACK after a CE-marked segment until
    // a segment with CWR arrives (CWR first: a CE mark on the CWR segment itself restarts
    // the echo).
    if (seg.flags.cwr()) ece_pending_ = false;
    if (ce) {
      ++stats_.ecn_ce_received;
      ece_pending_ = true;
    }
  }
  switch (state_) {
    case State::kClosed:
      segment_in_closed(seg);
      return;
    case State::kListen:
      segment_in_listen(seg, from, now);
      return;
    case State::kSynSent:
      segment_in_syn_sent(seg, now);
      return;
    default:
      segment_in_synchronized(seg, now);
      return;
  }
}

// §3.10.7.1: "all data in the incoming segment is discarded ... An incoming segment
// containing a RST is discarded. An incoming segment not containing a RST causes a RST to
// be sent in response."
void Connection::segment_in_closed(const TcpRepr& seg) {
  if (auto rst = reset_for(seg)) queue_rst(rst->seq, rst->ack);
}

// §3.10.7.2 LISTEN.
void Connection::segment_in_listen(const TcpRepr& seg, const Endpoint& from, Instant now) {
  // First, check for a RST: "An incoming RST segment could not be valid since it could not
  // have been sent in response to anything sent by this incarnation. Ignore it."
  if (seg.flags.rst()) return;
  // Second, check for an ACK: "Any acknowledgment is bad if it arrives on a connection
  // still in the LISTEN state. An acceptable reset segment should be formed ...
  // <SEQ=SEG.ACK><CTL=RST>".
  if (seg.ack) {
    tuple_.remote = from;  // the reset goes back to the sender
    queue_rst(*seg.ack, std::nullopt);
    return;
  }
  // Third, check for a SYN. (Anything else: "drop the segment and return".)
  if (!seg.flags.syn()) return;
  tuple_.remote = from;
  begin_passive(seg, isn_source_ ? isn_source_(tuple_, now) : SeqNum(0), now);
}

// The LISTEN state's answer to a SYN (§3.10.7.2 third step): "Set RCV.NXT to SEG.SEQ+1,
// IRS is set to SEG.SEQ ... ISS should be selected and a SYN segment sent ... SND.NXT is
// set to ISS+1 and SND.UNA to ISS. The connection state should be changed to SYN-RECEIVED."
void Connection::begin_passive(const TcpRepr& syn, SeqNum iss, Instant now) {
  passive_ = true;
  irs_ = syn.seq;
  rcv_nxt_ = syn.seq + SeqLen(1);
  rcv_adv_ = rcv_nxt_;  // nothing advertised yet: the SYN-ACK sets the first edge
  iss_ = iss;
  snd_una_ = snd_nxt_ = snd_max_ = snd_sml_ = iss_;
  ts_offset_ = iss_.value() * 2654435761u;
  offered_rcv_wscale_ = cfg_.window_scaling ? window_scale_for(rcvbuf_.capacity()) : 0;
  accept_syn_options(syn.options, now);
  // RFC 3168 §6.1.1: an ECN-setup SYN has ECE and CWR set; we accept it with ECE alone.
  ecn_ok_ = cfg_.ecn && syn.flags.ece() && syn.flags.cwr();
  // RFC 7323 §2.2: the window in a SYN is never scaled.
  snd_wnd_ = syn.window;
  max_snd_wnd_ = snd_wnd_;
  snd_wl1_ = syn.seq;
  set_state(State::kSynRcvd, "SYN received");
  syn_pending_ = true;
  // Data or FIN on the SYN is not acknowledged by our SYN-ACK (which acks SEG.SEQ + 1 only),
  // so the peer sends it again once the connection is synchronized.
}

std::error_code Connection::accept_syn(const FourTuple& tuple, const TcpRepr& syn, SeqNum iss,
                                       Instant now) {
  if (state_ != State::kClosed) return std::make_error_code(std::errc::already_connected);
  if (!syn.flags.syn() || syn.ack || syn.flags.rst()) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  last_now_ = now;
  tuple_ = tuple;
  error_ = {};
  ++stats_.segments_in;
  begin_passive(syn, iss, now);
  return {};
}

std::error_code Connection::accept_cookie(const FourTuple& tuple, const TcpRepr& syn, SeqNum iss,
                                          const TcpRepr& ack, Instant now) {
  if (auto e = accept_syn(tuple, syn, iss, now)) return e;
  // The SYN-ACK went out statelessly (RFC 4987 §3.6); account for it as if it were ours.
  syn_pending_ = false;
  snd_nxt_ = snd_max_ = iss_ + SeqLen(1);
  last_ack_sent_ = rcv_nxt_;  // the SYN-ACK acknowledged the SYN
  rcv_adv_ =
      rcv_nxt_ +
      SeqLen(static_cast<uint32_t>(std::min<size_t>(rcvbuf_.free_window(), kMaxUnscaledWindow)));
  on_segment(ack, tuple.remote, now);
  // The echoed timestamp carried the cookie's option bits, not a clean send time: start
  // RTT estimation afresh rather than from that first sample.
  rtt_ = RttEstimator(cfg_.rtt);
  if (state_ != State::kEstablished && state_ != State::kCloseWait) {
    return std::make_error_code(std::errc::connection_refused);
  }
  return {};
}

void Connection::on_icmp_unreachable(std::error_code error, bool hard, SeqNum quoted_seq,
                                     Instant now) {
  last_now_ = now;
  // RFC 5927 §4.1: only an error quoting a sequence number we have sent and not yet had
  // acknowledged can be about this connection; anything else may be forged.
  if (!(wire::after_eq(quoted_seq, snd_una_) && before(quoted_seq, snd_max_))) return;
  // RFC 1122 §4.2.3.9: while connecting, the attempt fails (what Linux does for every
  // unreachable code); afterwards only hard errors (protocol or port unreachable) abort,
  // soft ones (network, host, source route) must not.
  if (state_ == State::kSynSent || (state_ == State::kSynRcvd && !passive_)) {
    fail(error, "ICMP destination unreachable");
  } else if (hard && is_synchronized(state_)) {
    fail(error, "ICMP destination unreachable (hard error)");
  } else {
    soft_error_ = error;
  }
}

bool Connection::accepts_syn_in_time_wait(const TcpRepr& syn) const {
  if (state_ != State::kTimeWait || !syn.flags.syn() || syn.ack) return false;
  // RFC 6191 §2: with timestamps, a SYN whose TSval is newer than TS.Recent cannot belong to
  // the old incarnation; without them, RFC 1122 §4.2.2.13: its sequence number must be
  // beyond the old connection's RCV.NXT.
  if (ts_ok_ && syn.options.timestamps) {
    return ts_before(ts_recent_, syn.options.timestamps->value);
  }
  return after(syn.seq, rcv_nxt_);
}

void Connection::accept_syn_options(const wire::TcpOptions& o, Instant now) {
  // RFC 9293 §3.7.1: without an MSS option the peer can take 536 octets.
  peer_mss_ = o.mss.value_or(536);
  if (peer_mss_ == 0) peer_mss_ = 536;
  // RFC 7323 §2.2: scaling is in effect only if both SYNs carried the option; in our
  // SYN-ACK we send it only if the peer's SYN did (accept_syn_options runs before it).
  ws_ok_ = cfg_.window_scaling && o.window_scale.has_value();
  snd_wscale_ = ws_ok_ ? std::min(*o.window_scale, kMaxWindowScale) : 0;  // §2.3: clamp to 14
  rcv_wscale_ = ws_ok_ ? offered_rcv_wscale_ : 0;
  // RFC 7323 §3.2: timestamps in use only if both SYNs carried them.
  ts_ok_ = cfg_.timestamps && o.timestamps.has_value();
  if (ts_ok_) {
    ts_recent_ = o.timestamps->value;
    ts_recent_time_ = now;
  }
  // RFC 2018 §2: SACK-permitted in both SYNs.
  sack_ok_ = cfg_.sack && o.sack_permitted;
}

// §3.10.7.3 SYN-SENT.
void Connection::segment_in_syn_sent(const TcpRepr& seg, Instant now) {
  // First, check the ACK bit.
  if (seg.ack) {
    // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the RST bit is set, if
    // so drop the segment and return) <SEQ=SEG.ACK><CTL=RST> and discard the segment."
    // This is the answer to an old duplicate SYN-ACK: the reason the handshake has three
    // steps.
    if (before_eq(*seg.ack, iss_) || after(*seg.ack, snd_max_)) {
      if (!seg.flags.rst()) queue_rst(*seg.ack, std::nullopt);
      return;
    }
  }
  // Second, check the RST bit.
  if (seg.flags.rst()) {
    // "If the ACK was acceptable, then signal to the user 'error: connection reset', drop
    // the segment, enter CLOSED state ... Otherwise (no ACK), drop the segment and return."
    // RFC 5961 §3.2 adds nothing here: an acceptable ACK already proves the RST is genuine.
    if (seg.ack)
      fail(std::make_error_code(std::errc::connection_refused),
           "RST received (connection refused)");
    return;
  }
  // Third (security) does not apply. Fourth, check the SYN bit.
  if (!seg.flags.syn()) return;  // fifth: "drop the segment and return"
  // RFC 3168 §6.1.1: an ECN-setup SYN-ACK has ECE set and CWR clear.
  ecn_ok_ = cfg_.ecn && seg.flags.ece() && !seg.flags.cwr();
  irs_ = seg.seq;
  rcv_nxt_ = seg.seq + SeqLen(1);
  accept_syn_options(seg.options, now);
  if (!ws_ok_) rcv_wscale_ = 0;
  // The window we advertised in our SYN (unscaled) is the edge we promised so far.
  rcv_adv_ = rcv_nxt_ + SeqLen(std::min<uint32_t>(static_cast<uint32_t>(rcvbuf_.free_window()),
                                                  kMaxUnscaledWindow));
  if (seg.ack) {
    acknowledge(*seg.ack, seg, now);  // our SYN is acknowledged
  }
  if (after(snd_una_, iss_)) {
    // "If SND.UNA > ISS (our SYN has been ACKed), change the connection state to
    // ESTABLISHED, form an ACK segment <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and send it."
    snd_wnd_ = seg.window;  // RFC 7323 §2.2: not scaled in a SYN
    max_snd_wnd_ = snd_wnd_;
    snd_wl1_ = seg.seq;
    snd_wl2_ = *seg.ack;
    rtt_.on_handshake_complete();
    start_sender();
    set_state(State::kEstablished, "SYN-ACK received");
    ack_pending_ = true;
    restart_keepalive(now);
    // "If there are other controls or text in the segment, then continue processing at
    // the sixth step below where the URG bit is checked."
    if (!seg.payload.empty() || seg.flags.fin() || seg.urgent) {
      process_urgent(seg);
      process_text(seg, now);
    }
    return;
  }
  // "Otherwise, enter SYN-RECEIVED, form a SYN,ACK segment <SEQ=ISS><ACK=RCV.NXT>
  // <CTL=SYN,ACK> and send it" — simultaneous open. "Set the variables: SND.WND <- SEG.WND,
  // SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK".
  snd_wnd_ = seg.window;
  max_snd_wnd_ = snd_wnd_;
  snd_wl1_ = seg.seq;
  set_state(State::kSynRcvd, "SYN received in SYN_SENT (simultaneous open)");
  syn_pending_ = true;
  syn_transmissions_ = 0;
  timers_.cancel(Timer::kRetransmit);
  retries_ = 0;
}

// §3.10.7.4: SYN-RECEIVED and every state after it.
void Connection::segment_in_synchronized(const TcpRepr& seg, Instant now) {
  // A retransmitted SYN in SYN_RCVD means our SYN-ACK was lost: send it again rather than
  // the bare ACK the sequence check would produce (which a peer in SYN_SENT ignores).
  if (state_ == State::kSynRcvd && seg.flags.syn() && !seg.ack && seg.seq == irs_) {
    syn_pending_ = true;
    return;
  }
  // Simultaneous open (§3.5 Figure 7): in SYN_RCVD after SYN_SENT, the peer's SYN-ACK
  // repeats its SYN. Only the new parts are processed (§3.10.7.4 "first check sequence
  // number"): the SYN is trimmed off and what remains — the ACK — completes the handshake.
  if (state_ == State::kSynRcvd && !passive_ && seg.flags.syn() && seg.ack && !seg.flags.rst() &&
      seg.seq == irs_) {
    TcpRepr trimmed = seg;
    trimmed.seq = irs_ + SeqLen(1);
    trimmed.flags = seg.flags.without(TcpFlags::kSyn);
    segment_in_synchronized(trimmed, now);
    return;
  }
  // First, check the sequence number (RFC 7323 §5.3 PAWS comes before it).
  if (!check_paws(seg, now)) return;
  // TIME-WAIT: "The only thing that can arrive in this state is a retransmission of the
  // remote FIN. Acknowledge it, and restart the 2 MSL timeout."
  if (state_ == State::kTimeWait && seg.flags.fin() && !seg.flags.rst() &&
      seg.seq + seg.segment_len() == rcv_nxt_ && (!ts_ok_ || seg.options.timestamps)) {
    timers_.set(Timer::kTimeWait, now + cfg_.msl * 2);
    ack_pending_ = true;
    return;
  }
  drop_text_ = false;
  if (!check_sequence(seg)) return;
  update_ts_recent(seg, now);
  restart_keepalive(now);
  // Second, check the RST bit.
  if (seg.flags.rst()) {
    check_rst(seg, now);
    return;
  }
  // Third: security and precedence do not apply. Fourth, check the SYN bit.
  if (seg.flags.syn()) {
    check_syn(seg, now);
    return;
  }
  // Fifth, check the ACK field: "if the ACK bit is off, drop the segment and return".
  if (!seg.ack) return;
  // RFC 7323 §3.2: once negotiated, "If a non-<RST> segment is received without a TSopt,
  // a TCP SHOULD silently drop the segment."
  if (ts_ok_ && !seg.options.timestamps) return;
  if (!check_ack(seg, now)) return;
  // Sixth, check the URG bit; seventh, process the segment text; eighth, check the FIN bit.
  process_urgent(seg);
  process_text(seg, now);
}

bool Connection::check_paws(const TcpRepr& seg, Instant now) {
  // RFC 7323 §5.3 R1: a segment whose TSval is older than TS.Recent is an old duplicate,
  // "not acceptable": send an ACK in reply (unless it is a RST) and drop it. §5.5: after
  // 24 days of idleness TS.Recent is no longer valid.
  if (!ts_ok_ || !seg.options.timestamps || seg.flags.rst()) return true;
  if (!ts_before(seg.options.timestamps->value, ts_recent_)) return true;
  if (now - ts_recent_time_ > kPawsIdle) return true;
  ++stats_.paws_rejected;
  schedule_ack(true);
  return false;
}

bool Connection::check_sequence(const TcpRepr& seg) {
  const uint32_t seg_len = seg.segment_len().value();
  const uint32_t rcv_wnd = before(rcv_nxt_, rcv_adv_) ? (rcv_adv_ - rcv_nxt_).value() : 0;
  // The four cases of §3.10.7.4 "first, check sequence number".
  bool acceptable;
  if (seg_len == 0) {
    acceptable =
        rcv_wnd == 0 ? seg.seq == rcv_nxt_ : wire::in_window(seg.seq, rcv_nxt_, SeqLen(rcv_wnd));
  } else if (rcv_wnd == 0) {
    acceptable = false;
  } else {
    acceptable = wire::in_window(seg.seq, rcv_nxt_, SeqLen(rcv_wnd)) ||
                 wire::in_window(seg.seq + SeqLen(seg_len - 1), rcv_nxt_, SeqLen(rcv_wnd));
  }
  if (acceptable) return true;
  // "If the RCV.WND is zero, no segments will be acceptable, but special allowance should
  // be made to accept valid ACKs, URGs, and RSTs": a zero-window probe at RCV.NXT is
  // processed without its text (and answered with an ACK showing the window).
  if (rcv_wnd == 0 && seg.seq == rcv_nxt_) {
    drop_text_ = true;
    schedule_ack(true);
    return true;
  }
  // "If an incoming segment is not acceptable, an acknowledgment should be sent in reply
  // (unless the RST bit is set, if so drop the segment and return)".
  ++stats_.dropped_out_of_window;
  if (!seg.flags.rst()) schedule_ack(true);
  return false;
}

void Connection::check_rst(const TcpRepr& seg, Instant now) {
  // RFC 5961 §3.2: reset only if SEG.SEQ exactly matches RCV.NXT; an in-window RST that
  // does not is answered with a challenge ACK (a genuine peer then sends an exact RST).
  if (seg.seq != rcv_nxt_) {
    send_challenge_ack(now);
    return;
  }
  switch (state_) {
    case State::kSynRcvd:
      if (passive_) {
        // "If this connection was initiated with a passive OPEN, then return this connection
        // to the LISTEN state and return." A connection made by a listener elsewhere (the
        // stack's SYN queue) simply goes away.
        if (isn_source_) {
          return_to_listen("RST received in SYN_RCVD");
        } else {
          close_connection("RST received in SYN_RCVD");
        }
        return;
      }
      fail(std::make_error_code(std::errc::connection_refused),
           "RST received (connection refused)");
      return;
    case State::kEstablished:
    case State::kFinWait1:
    case State::kFinWait2:
    case State::kCloseWait:
      fail(std::make_error_code(std::errc::connection_reset), "RST received");
      return;
    default:
      // CLOSING, LAST-ACK, TIME-WAIT: "enter the CLOSED state, delete the TCB, and return".
      // (RFC 1337's TIME-WAIT assassination hazard is why Linux offers tcp_rfc1337.)
      close_connection("RST received");
      return;
  }
}

void Connection::check_syn(const TcpRepr& seg, Instant now) {
  (void)seg;
  // "If in SYN-RECEIVED state and the connection was initiated with a passive OPEN, then
  // return this connection to the LISTEN state and return."
  if (state_ == State::kSynRcvd && passive_) {
    if (isn_source_) {
      return_to_listen("SYN received in SYN_RCVD");
    } else {
      close_connection("SYN received in SYN_RCVD");
    }
    return;
  }
  // RFC 5961 §4.2: in synchronized states any SYN gets a challenge ACK, whatever its
  // sequence number; a peer that really restarted answers it with a RST.
  send_challenge_ack(now);
}

void Connection::return_to_listen(std::string_view cause) {
  timers_.cancel_all();
  syn_pending_ = ack_pending_ = false;
  const Endpoint local = tuple_.local;
  IsnSource isn = std::move(isn_source_);
  const Config cfg = cfg_;
  const EventQueue events = events_;
  const ConnectionStats stats = stats_;
  *this = Connection(cfg);
  events_ = events;
  stats_ = stats;
  state_ = State::kSynRcvd;
  tuple_ = FourTuple{local, {}};
  isn_source_ = std::move(isn);
  passive_ = true;
  set_state(State::kListen, cause);
}

bool Connection::check_ack(const TcpRepr& seg, Instant now) {
  const SeqNum ack = *seg.ack;
  if (state_ == State::kSynRcvd) {
    // "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state and continue
    // processing with the variables below set to: SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ,
    // SND.WL2 <- SEG.ACK. If the segment acknowledgment is not acceptable, form a reset
    // segment <SEQ=SEG.ACK><CTL=RST> and send it."
    if (!(before(snd_una_, ack) && before_eq(ack, snd_max_))) {
      queue_rst(ack, std::nullopt);
      return false;
    }
    snd_wnd_ = uint32_t{seg.window} << snd_wscale_;
    max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
    snd_wl1_ = seg.seq;
    snd_wl2_ = ack;
    rtt_.on_handshake_complete();
    start_sender();
    set_state(State::kEstablished, "ACK of SYN-ACK received");
    if (fin_queued_) set_state(State::kFinWait1, "close() queued in SYN_RCVD");
  }
  // "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send an ACK, drop
  // the segment, and return." RFC 5961 §5.2 also drops ACKs older than the largest window
  // the peer has offered: (SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT, answering with a
  // (rate-limited) challenge ACK.
  if (after(ack, snd_max_) || before(ack, snd_una_ - SeqLen(max_snd_wnd_))) {
    send_challenge_ack(now);
    return false;
  }
  ack_rtt_.reset();
  const bool advanced = after(ack, snd_una_);
  if (advanced) acknowledge(ack, seg, now);
  // "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be updated."
  const uint32_t wnd_before = snd_wnd_;
  if (before_eq(snd_una_, ack)) update_window(seg);
  if (syn_acked_ && ack == snd_una_) sender_on_ack(seg, advanced, snd_wnd_ != wnd_before, now);

  switch (state_) {
    case State::kFinWait1:
      // "In addition to the processing for the ESTABLISHED state, if the FIN segment is now
      // acknowledged, then enter FIN-WAIT-2 and continue processing in that state."
      if (fin_acked()) set_state(State::kFinWait2, "ACK of FIN received");
      break;
    case State::kClosing:
      // "... if the ACK acknowledges our FIN, then enter the TIME-WAIT state".
      if (fin_acked()) enter_time_wait(now, "ACK of FIN received");
      break;
    case State::kLastAck:
      // "The only thing that can arrive in this state is an acknowledgment of our FIN. If
      // our FIN is now acknowledged, delete the TCB, enter the CLOSED state, and return."
      if (fin_acked()) {
        close_connection("ACK of FIN received");
        return false;
      }
      break;
    default:
      break;
  }
  return true;
}

void Connection::acknowledge(SeqNum ack, const TcpRepr& seg, Instant now) {
  // RTT measurement: from the echoed timestamp (RFC 7323 §4.1, valid even for
  // retransmissions) or from the one timed segment (RFC 6298 §3, Karn's rule: the timed
  // segment is forgotten whenever anything is retransmitted).
  if (ts_ok_ && seg.options.timestamps && seg.options.timestamps->echo_reply != 0) {
    const uint32_t elapsed_ms = ts_now(now) - seg.options.timestamps->echo_reply;
    if (elapsed_ms < 0x7fffffff) ack_rtt_ = Duration::millis(elapsed_ms);
    rtt_probe_.reset();
  } else if (rtt_probe_ && after_eq(ack, rtt_probe_->seq)) {
    ack_rtt_ = now - rtt_probe_->sent;
    rtt_probe_.reset();
  }
  if (ack_rtt_) {
    rtt_.on_sample(*ack_rtt_);
    if (min_rtt_ == Duration{} || *ack_rtt_ < min_rtt_) min_rtt_ = *ack_rtt_;
  }
  snd_una_ = ack;
  if (before(snd_nxt_, snd_una_)) snd_nxt_ = snd_una_;  // after go-back-N
  if (snd_up_ && send_offset(snd_una_) >= *snd_up_) snd_up_.reset();
  // The SYN occupies ISS and the FIN the number after the data; neither is in the buffer.
  // Once SND.UNA has moved past ISS it never comes back; but after 2 GiB it is no longer
  // "after" ISS modulo 2^32, so the test is whether it left ISS, not where it is.
  size_t freed = 0;
  if (snd_una_ != iss_ || syn_acked_) {
    syn_acked_ = true;
    freed = sndbuf_.acknowledge(std::min(send_offset(snd_una_), sndbuf_.end_offset()));
  }
  retries_ = 0;
  persist_backoff_ = 0;
  // RFC 6298 §5.2: all outstanding data acknowledged -> stop the timer; §5.3: new data
  // acknowledged -> restart it.
  if (snd_una_ == snd_max_) {
    timers_.cancel(Timer::kRetransmit);
    timers_.cancel(Timer::kUserTimeout);
    idle_since_ = now;  // RFC 7661 / RFC 5681 §4.1: the flight is empty
  } else {
    arm_retransmit(now);
    if (cfg_.user_timeout) timers_.set(Timer::kUserTimeout, now + *cfg_.user_timeout);
  }
  if (freed > 0 && can_send()) {
    notify(EventKind::kWritable, "ACK");
  }
}

void Connection::update_window(const TcpRepr& seg) {
  const SeqNum ack = *seg.ack;
  // §3.10.7.4: "If (SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)), set
  // SND.WND <- SEG.WND, set SND.WL1 <- SEG.SEQ, and set SND.WL2 <- SEG.ACK." — so an old
  // reordered segment cannot roll the window back.
  if (!(before(snd_wl1_, seg.seq) || (snd_wl1_ == seg.seq && before_eq(snd_wl2_, ack)))) return;
  const bool was_zero = snd_wnd_ == 0;
  snd_wnd_ = uint32_t{seg.window} << snd_wscale_;  // RFC 7323 §2.3
  max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
  snd_wl1_ = seg.seq;
  snd_wl2_ = ack;
  if (was_zero && snd_wnd_ > 0) {
    // The window opened: persisting is over. Bytes sent as probes that the peer did not
    // take are sent again from SND.UNA.
    timers_.cancel(Timer::kPersist);
    persist_backoff_ = 0;
    if (syn_acked_) sb_.mark_all_lost();
  }
}

void Connection::update_ts_recent(const TcpRepr& seg, Instant now) {
  // RFC 7323 §4.3 (2): "If SEG.TSval >= TS.Recent and SEG.SEQ =< Last.ACK.sent, then
  // SEG.TSval is copied to TS.Recent" — only a segment that fills the left edge counts.
  if (!ts_ok_ || !seg.options.timestamps) return;
  const uint32_t tsval = seg.options.timestamps->value;
  if (!ts_before(tsval, ts_recent_) && before_eq(seg.seq, last_ack_sent_)) {
    ts_recent_ = tsval;
    ts_recent_time_ = now;
  }
}

// Sixth, check the URG bit.
void Connection::process_urgent(const TcpRepr& seg) {
  if (!seg.urgent || *seg.urgent == 0) return;
  if (state_ != State::kEstablished && state_ != State::kFinWait1 && state_ != State::kFinWait2) {
    return;  // "This should not occur since a FIN has been received from the remote side."
  }
  // "RCV.UP <- max(RCV.UP,SEG.UP)"; the pointer names the octet after the urgent data
  // (RFC 9293 §3.8.5, RFC 6093 §4), and the data stays in the stream (RFC 6093 §5).
  const SeqNum text_start = seg.seq + SeqLen(seg.flags.syn() ? 1 : 0);
  const uint64_t up = recv_offset(text_start) + *seg.urgent;
  if (!rcv_up_ || up > *rcv_up_) rcv_up_ = up;
}

// Seventh, process the segment text; then the eighth step, the FIN, once it is in order.
void Connection::process_text(const TcpRepr& seg, Instant now) {
  const bool receiving =
      state_ == State::kEstablished || state_ == State::kFinWait1 || state_ == State::kFinWait2;
  if (!receiving || drop_text_) return;  // after a FIN: "ignore the segment text"
  const SeqNum text_start = seg.seq + SeqLen(seg.flags.syn() ? 1 : 0);
  const uint64_t offset = recv_offset(text_start);
  if (!seg.payload.empty()) {
    const bool out_of_order = after(text_start, rcv_nxt_);
    const bool had_hole = rcvbuf_.has_out_of_order() || (fin_offset_ && !fin_received_);
    const auto result = rcvbuf_.insert(offset, seg.payload);
    if (result.advanced > 0) {
      rcv_nxt_ = rcv_nxt_ + SeqLen(static_cast<uint32_t>(result.advanced));
      stats_.bytes_in += result.advanced;
      notify(EventKind::kReadable, "data");
    }
    // RFC 5681 §4.2 / RFC 9293 §3.8.6.3: out-of-order data and data that fills a hole are
    // acknowledged at once (the duplicate ACKs drive the sender's fast retransmit); in-order
    // data at least every second full-sized segment, or when the delayed-ACK timer fires.
    const bool two_full_segments = (rcv_nxt_ - last_ack_sent_).value() >= 2u * uint32_t{cfg_.mss};
    schedule_ack(out_of_order || had_hole || result.advanced == 0 || two_full_segments);
  }
  if (seg.flags.fin()) {
    const uint64_t fin_offset = offset + seg.payload.size();
    // Only a FIN whose preceding data all fits in the buffer can be recorded.
    if (fin_offset <= rcvbuf_.read_offset() + rcvbuf_.capacity()) fin_offset_ = fin_offset;
    if (!fin_offset_ || rcvbuf_.next_expected() != *fin_offset_) schedule_ack(true);
  }
  if (fin_offset_ && !fin_received_ && rcvbuf_.next_expected() == *fin_offset_) process_fin(now);
}

// Eighth, check the FIN bit (called once the FIN is in order).
void Connection::process_fin(Instant now) {
  fin_received_ = true;
  rcv_nxt_ = rcv_nxt_ + SeqLen(1);  // "advance RCV.NXT over the FIN"
  notify(EventKind::kPeerClosed, "FIN");
  switch (state_) {
    case State::kSynRcvd:
    case State::kEstablished:
      set_state(State::kCloseWait, "FIN received");
      // The ACK of the FIN waits for the delayed-ACK timer, so that a FIN of ours sent
      // within that time carries it: the three-segment close.
      schedule_ack(false);
      break;
    case State::kFinWait1:
      // "If our FIN has been ACKed (perhaps in this segment), then enter TIME-WAIT ...
      // otherwise, enter the CLOSING state."
      if (fin_acked()) {
        enter_time_wait(now, "FIN received");
        ack_pending_ = true;  // acknowledge the FIN at once: nothing of ours will carry it
      } else {
        set_state(State::kClosing, "FIN received (simultaneous close)");
        schedule_ack(true);
      }
      break;
    case State::kFinWait2:
      enter_time_wait(now, "FIN received");
      ack_pending_ = true;
      break;
    default:
      break;
  }
}

uint64_t Connection::recv_offset(SeqNum s) const {
  return wire::unwrap(s, irs_ + SeqLen(1), rcvbuf_.next_expected());
}

// --- Output -------------------------------------------------------------------------------

uint32_t Connection::receive_window_to_advertise() {
  const uint32_t free = static_cast<uint32_t>(
      std::min<size_t>(rcvbuf_.free_window(), size_t{kMaxUnscaledWindow} << rcv_wscale_));
  SeqNum right = rcv_nxt_ + SeqLen(free);
  if (before(right, rcv_adv_)) {
    // RFC 9293 §3.8.6: the right edge is never moved back (no shrinking).
    right = rcv_adv_;
  } else if (after(right, rcv_adv_) && (right - rcv_adv_).value() < sws_threshold()) {
    // RFC 9293 §3.8.6.2.2 receiver SWS avoidance: move the edge only by at least
    // min(RCV.BUFF / 2, Eff.snd.MSS) — in particular a closed window stays closed until
    // that much space is free.
    right = rcv_adv_;
  }
  return before(rcv_nxt_, right) ? (right - rcv_nxt_).value() : 0;
}

void Connection::maybe_window_update() {
  if (state_ != State::kEstablished && state_ != State::kFinWait1 && state_ != State::kFinWait2) {
    return;
  }
  // Reading opened the window: tell the peer at once when the edge moves by the SWS
  // threshold (a sender stalled on a small or zero window is waiting for exactly this).
  const SeqNum right = rcv_nxt_ + SeqLen(static_cast<uint32_t>(rcvbuf_.free_window()));
  if (after(right, rcv_adv_) && (right - rcv_adv_).value() >= sws_threshold()) ack_pending_ = true;
}

uint32_t Connection::sws_threshold() const {
  return std::min<uint32_t>(static_cast<uint32_t>(rcvbuf_.capacity() / 2), effective_mss());
}

TcpRepr Connection::make_segment(SeqNum seq, uint16_t flags) {
  TcpRepr seg;
  seg.src_port = tuple_.local.port;
  seg.dst_port = tuple_.remote.port;
  seg.seq = seq;
  seg.flags = TcpFlags(flags).without(TcpFlags::kAck | TcpFlags::kUrg);
  if (flags & TcpFlags::kAck) seg.ack = rcv_nxt_;
  // RFC 3168 §6.1.3: ECE on every ACK while a CE mark waits for the sender's CWR.
  if (ecn_ok_ && ece_pending_ && (flags & TcpFlags::kAck) && !(flags & TcpFlags::kSyn)) {
    seg.flags = seg.flags.with(TcpFlags::kEce);
  }
  if (ts_ok_) {
    seg.options.timestamps = wire::TcpTimestamps{ts_now(last_now_), ts_recent_};
  }
  // RFC 2018 §4: SACK blocks in every ACK while out-of-order data is held, most recent first.
  if (sack_ok_ && seg.ack && rcvbuf_.has_out_of_order()) {
    const size_t max_blocks = ts_ok_ ? 3 : wire::kMaxSackBlocks;
    for (const auto& r : rcvbuf_.sack_ranges(max_blocks)) {
      seg.options.sack.push_back(wire::SackBlock{wire::wrap(r.begin, irs_ + SeqLen(1)),
                                                 wire::wrap(r.end, irs_ + SeqLen(1))});
    }
  }
  return seg;
}

void Connection::finish_segment(TcpRepr& seg) {
  if (seg.ack) {
    const uint32_t wnd = receive_window_to_advertise();
    // RFC 7323 §2.2: windows in SYN segments are not scaled. A scaled window is rounded up
    // when that keeps the advertised edge where it was — but only as far as the receive
    // buffer reaches: an edge past the buffer's end would invite data that cannot be kept.
    // Otherwise it is rounded down, and the edge may seem to retreat by less than one unit
    // of the scale (RFC 7323 §2.4 and appendix F); every edge advertised so far lies
    // within the buffer, so nothing the peer sent up to it is lost.
    uint32_t field;
    if (seg.flags.syn()) {
      field = std::min(wnd, kMaxUnscaledWindow);
      rcv_adv_ = rcv_nxt_ + SeqLen(field);
    } else {
      const uint32_t unit = uint32_t{1} << rcv_wscale_;
      const bool keep_edge = rcv_nxt_ + SeqLen(wnd) == rcv_adv_;
      const uint64_t rounded_up = (uint64_t{wnd} + unit - 1) & ~uint64_t{unit - 1};
      const bool round_up = keep_edge && rounded_up <= rcvbuf_.free_window();
      field = std::min(static_cast<uint32_t>((round_up ? rounded_up : wnd) >> rcv_wscale_),
                       kMaxUnscaledWindow);
      const SeqNum edge = rcv_nxt_ + SeqLen(field << rcv_wscale_);
      if (after(edge, rcv_adv_)) rcv_adv_ = edge;
    }
    seg.window = static_cast<uint16_t>(field);
    last_ack_sent_ = rcv_nxt_;
    ack_pending_ = false;
    timers_.cancel(Timer::kDelayedAck);
  }
  ++stats_.segments_out;
}

std::optional<TcpRepr> Connection::poll_transmit(Instant now) {
  last_now_ = now;
  last_ect_ = false;
  if (rst_pending_) {
    TcpRepr rst;
    rst.src_port = tuple_.local.port;
    rst.dst_port = tuple_.remote.port;
    rst.seq = rst_pending_->seq;
    rst.ack = rst_pending_->ack;
    rst.flags = TcpFlags(TcpFlags::kRst);
    rst_pending_.reset();
    ++stats_.segments_out;
    return rst;
  }
  switch (state_) {
    case State::kClosed:
    case State::kListen:
      return std::nullopt;
    case State::kSynSent:
    case State::kSynRcvd:
      if (syn_pending_) return transmit_syn(now);
      if (state_ == State::kSynSent || !ack_pending_) return std::nullopt;
      break;
    default:
      break;
  }
  if (state_ != State::kSynRcvd) {
    if (probe_pending_) return transmit_probe(now);
    if (keepalive_pending_) {
      // RFC 1122 §4.2.3.6: a probe the peer must answer: <SEQ=SND.UNA-1>, no data.
      keepalive_pending_ = false;
      TcpRepr seg = make_segment(snd_una_ - SeqLen(1), TcpFlags::kAck);
      finish_segment(seg);
      return seg;
    }
    if (tlp_pending_) {
      tlp_pending_ = false;
      if (auto seg = transmit_tlp(now)) return seg;
    }
    if (auto seg = transmit_data(now)) return seg;
  }
  if (ack_pending_) {
    // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
    TcpRepr seg = make_segment(snd_nxt_, TcpFlags::kAck);
    finish_segment(seg);
    return seg;
  }
  return std::nullopt;
}

std::optional<TcpRepr> Connection::transmit_syn(Instant now) {
  syn_pending_ = false;
  const bool syn_ack = state_ == State::kSynRcvd;
  TcpRepr seg = make_segment(iss_, syn_ack ? (TcpFlags::kSyn | TcpFlags::kAck) : TcpFlags::kSyn);
  seg.options.sack.clear();
  // RFC 3168 §6.1.1: an ECN-setup SYN carries ECE and CWR, an ECN-setup SYN-ACK ECE only.
  if (!syn_ack && cfg_.ecn) seg.flags = seg.flags.with(TcpFlags::kEce | TcpFlags::kCwr);
  if (syn_ack && ecn_ok_) seg.flags = seg.flags.with(TcpFlags::kEce);
  seg.options.mss = cfg_.mss;
  // In a SYN we offer what is configured; in a SYN-ACK we answer only what the SYN offered.
  if (syn_ack ? ws_ok_ : cfg_.window_scaling) seg.options.window_scale = offered_rcv_wscale_;
  seg.options.sack_permitted = syn_ack ? sack_ok_ : cfg_.sack;
  if (syn_ack ? ts_ok_ : cfg_.timestamps) {
    seg.options.timestamps = wire::TcpTimestamps{ts_now(now), syn_ack ? ts_recent_ : 0};
  }
  if (syn_ack) {
    finish_segment(seg);
  } else {
    seg.window = static_cast<uint16_t>(std::min<size_t>(rcvbuf_.free_window(), kMaxUnscaledWindow));
    ++stats_.segments_out;
  }
  // The first SYN (or the first SYN-ACK, also after a simultaneous open's SYN) is a new
  // transmission; another one in the same state is a retransmission.
  const bool retransmission = syn_transmissions_ > 0;
  if (retransmission) {
    ++stats_.retransmitted_segments;
  } else if (!ts_ok_ && !after(snd_max_, iss_)) {
    rtt_probe_ = RttProbe{iss_ + SeqLen(1), now};  // Karn: ISS never sent before
  }
  ++syn_transmissions_;
  snd_nxt_ = iss_ + SeqLen(1);
  if (after(snd_nxt_, snd_max_)) snd_max_ = snd_nxt_;
  if (!timers_.is_armed(Timer::kRetransmit)) arm_retransmit(now);
  return seg;
}

std::optional<TcpRepr> Connection::transmit_probe(Instant now) {
  // RFC 9293 §3.8.6.1: probe a zero window with one octet of new data (or retransmit the one
  // already sent as a probe), so the peer's answer carries its current window.
  probe_pending_ = false;
  if (sndbuf_.empty()) return std::nullopt;
  TcpRepr seg = make_segment(snd_una_, TcpFlags::kAck);
  scratch_.resize(std::max<size_t>(scratch_.size(), 1));
  const size_t n = sndbuf_.copy_out(send_offset(snd_una_), wire::MutableBytes(scratch_.data(), 1));
  if (n == 0) return std::nullopt;
  seg.payload = wire::Bytes(scratch_.data(), 1);
  const SeqNum end = snd_una_ + SeqLen(1);
  if (syn_acked_) {
    const uint64_t una = send_offset(snd_una_);
    sb_.on_transmit(una, una + 1, now, ts_ok_ ? ts_now(now) : 0);
  }
  if (after(snd_max_, snd_una_)) {
    ++stats_.retransmitted_segments;
    ++stats_.retransmitted_bytes;
  }
  if (before(snd_nxt_, end)) snd_nxt_ = end;
  if (before(snd_max_, end)) snd_max_ = end;
  stats_.bytes_out += 1;
  finish_segment(seg);
  return seg;
}

size_t Connection::payload_room() const {
  // Eff.snd.MSS less this segment's options (RFC 9293 §3.7.1): timestamps and any SACK
  // blocks ride on every data segment, as make_segment() adds them; their length is
  // computed from that shape, without building the options.
  size_t sack_blocks = 0;
  if (sack_ok_ && rcvbuf_.has_out_of_order()) {
    sack_blocks = rcvbuf_.sack_ranges(ts_ok_ ? 3 : wire::kMaxSackBlocks).size();
  }
  const size_t options_len =
      wire::TcpOptions::size_of({.timestamps = ts_ok_, .sack_blocks = sack_blocks});
  return effective_mss() > options_len ? effective_mss() - options_len : 1;
}

std::optional<TcpRepr> Connection::transmit_data(Instant now, bool loss_probe) {
  switch (state_) {
    case State::kEstablished:
    case State::kCloseWait:
    case State::kFinWait1:
    case State::kClosing:
    case State::kLastAck:
      break;
    default:
      return std::nullopt;
  }
  // RFC 6675 §4 NextSeg() rule 1 (and after a timeout RFC 5681 §3.1): segments the
  // scoreboard holds lost go first; while one waits, no new data goes out.
  if (!loss_probe && sb_.next_lost()) return transmit_lost(now);

  const uint64_t data_end = sndbuf_.end_offset();
  if (fin_queued_ && !before(snd_nxt_, fin_seq() + SeqLen(1))) return std::nullopt;  // all sent
  const uint64_t next = send_offset(snd_nxt_);
  const uint64_t unsent = data_end - std::min(next, data_end);

  const SeqNum window_end = snd_una_ + SeqLen(snd_wnd_);
  const uint64_t usable = after(window_end, snd_nxt_) ? (window_end - snd_nxt_).value() : 0;
  // Nothing to send (the common case on every poll) costs no look at the options.
  const size_t max_payload = unsent > 0 && usable > 0 ? payload_room() : 1;
  const size_t len = static_cast<size_t>(std::min<uint64_t>({unsent, usable, max_payload}));
  const bool send_fin = fin_queued_ && next + len == data_end;

  if (len == 0 && !send_fin) {
    if (unsent > 0 && snd_wnd_ == 0 && !timers_.is_armed(Timer::kRetransmit) &&
        !timers_.is_armed(Timer::kPersist)) {
      arm_persist(now);
    }
    return std::nullopt;
  }
  if (!loss_probe && !force_send_ && !send_fin && len < max_payload) {
    if (len < unsent) {
      // RFC 9293 §3.8.6.2.1 sender SWS avoidance: a window-limited segment smaller than a
      // full one goes only if it is at least half the largest window the peer offered;
      // otherwise wait for the window to open (the persist timer is the override).
      if (len < max_snd_wnd_ / 2) {
        if (snd_una_ == snd_max_ && !timers_.is_armed(Timer::kPersist)) arm_persist(now);
        return std::nullopt;
      }
    } else if (!cfg_.nodelay && after(snd_sml_, snd_una_)) {
      // Nagle (RFC 1122 §4.2.3.4) with Minshall's refinement (as Linux): while a partial
      // segment is unacknowledged, hold the next one until the ACK arrives or a full
      // segment's worth is queued. Full segments in flight do not hold back the last,
      // partial one of a write — which would otherwise wait for a delayed ACK.
      return std::nullopt;
    }
  }
  const uint64_t seq_len = len + (send_fin ? 1 : 0);
  if (!loss_probe) {
    // The sender was idle: RFC 7661 (or RFC 5681 §4.1's restart window) before sending.
    if (sb_.empty() && idle_since_) {
      cc_.on_idle_restart(now, now - *idle_since_, rtt_.rto());
      idle_since_.reset();
    }
    // RFC 5681 §3.1, RFC 6675 §5: never more than cwnd in flight (pipe with SACK,
    // FlightSize without). An empty flight always allows one segment.
    const uint64_t pipe = in_flight();
    if (pipe > 0 && pipe + seq_len > send_window()) {
      cwnd_limited_ = true;
      return std::nullopt;
    }
    if (!pacing_allows(seq_len, now)) return std::nullopt;
  }
  force_send_ = false;
  TcpRepr seg = emit_range(next, next + seq_len, now, false);
  if (!loss_probe) {
    paced(seq_len);
    arm_tlp(now);
  }
  return seg;
}

std::optional<TcpRepr> Connection::transmit_lost(Instant now) {
  const SentSegment* s = sb_.next_lost();
  if (!s) return std::nullopt;
  const uint64_t data_end = sndbuf_.end_offset();
  const size_t room = payload_room();
  const uint64_t b = s->begin;
  uint64_t e = std::min(s->end, b + room + (s->end > data_end ? 1 : 0));
  // Adjacent lost segments go out together, up to a full segment; so does data not sent
  // yet after the last one (e.g. a zero-window probe's octet and what follows it).
  for (const SentSegment& n : sb_.segments()) {
    if (n.end <= e || n.begin < e) continue;
    if (n.begin != e || !n.lost || n.retrans_in_flight || n.sacked) break;
    if (std::min(n.end, data_end) - b > room) break;
    e = n.end;
  }
  if (e == sb_.high_data() && e < data_end && e - b < room) {
    e = std::min(data_end, b + room);
    if (fin_queued_ && e == data_end) ++e;
  }
  // The receive window still applies (RFC 9293 §3.8.6); a closed window is probed instead.
  const uint64_t window_end = send_offset(snd_una_) + snd_wnd_;
  if (b >= window_end && !(b == data_end && fin_queued_)) return std::nullopt;
  if (e > window_end && window_end > b) e = std::min(e, std::max(window_end, b + 1));
  const uint64_t pipe = in_flight();
  if (!fast_retransmit_pending_) {
    if (pipe > 0 && pipe + (e - b) > send_window()) {
      cwnd_limited_ = true;
      return std::nullopt;
    }
    if (!pacing_allows(e - b, now)) return std::nullopt;
  }
  fast_retransmit_pending_ = false;
  if (recovery_ == RecoveryState::kFast) ++stats_.fast_retransmits;
  TcpRepr seg = emit_range(b, e, now, true);
  paced(e - b);
  return seg;
}

TcpRepr Connection::emit_range(uint64_t begin, uint64_t end, Instant now, bool retransmission) {
  const uint64_t data_end = sndbuf_.end_offset();
  const size_t len = static_cast<size_t>(std::min(end, data_end) - std::min(begin, data_end));
  const bool send_fin = fin_queued_ && end > data_end;
  TcpRepr seg = make_segment(send_seq(begin), TcpFlags::kAck);
  uint16_t flags = TcpFlags::kAck | (seg.flags.ece() ? TcpFlags::kEce : 0);
  if (len > 0 && begin + len == data_end) flags |= TcpFlags::kPsh;  // the end of what was written
  if (send_fin) flags |= TcpFlags::kFin;
  // RFC 3168 §6.1.2: CWR on the first new data segment after the window was reduced.
  if (ecn_ok_ && cwr_pending_ && !retransmission && len > 0) {
    flags |= TcpFlags::kCwr;
    cwr_pending_ = false;
    // ECEs the peer sends before it sees this CWR belong to the same congestion event.
    if (ecn_recover_) ecn_recover_ = std::max(*ecn_recover_, end);
  }
  seg.flags = TcpFlags(flags).without(TcpFlags::kAck);
  if (len > 0) {
    auto [first, second] = sndbuf_.peek(begin, len);
    if (second.empty()) {
      seg.payload = first;
    } else {
      // The range wraps the ring: one copy into scratch, the rare case.
      scratch_.resize(std::max(scratch_.size(), len));
      sndbuf_.copy_out(begin, wire::MutableBytes(scratch_.data(), len));
      seg.payload = wire::Bytes(scratch_.data(), len);
    }
  }
  // RFC 9293 §3.8.5: the urgent pointer rides on every segment until the data before it is
  // acknowledged; it is an offset from SEG.SEQ.
  if (snd_up_ && *snd_up_ > begin && *snd_up_ - begin <= 0xffff) {
    seg.urgent = static_cast<uint16_t>(*snd_up_ - begin);
  }
  // RFC 3168 §6.1.5: retransmissions are not sent ECN-capable.
  last_ect_ = ecn_ok_ && !retransmission && len > 0;

  const uint32_t tsval = ts_ok_ ? ts_now(now) : 0;
  const uint64_t high_before = sb_.high_data();
  sb_.on_transmit(begin, end, now, tsval);
  // RFC 6937 §3: "on any data transmission or retransmission: prr_out += (data sent)".
  if (prr_ && recovery_ == RecoveryState::kFast) prr_->out += end - begin;
  const SeqNum seq_end = send_seq(end);
  if (len < payload_room() && after(seq_end, snd_sml_)) snd_sml_ = seq_end;
  if (retransmission) {
    ++stats_.retransmitted_segments;
    stats_.retransmitted_bytes +=
        std::min<uint64_t>(len, high_before - std::min(high_before, begin));
    rtt_probe_.reset();  // Karn (RFC 6298 §3)
    if (undo_armed_ && !tlp_pending_) {
      ++undo_retrans_;
      undo_ranges_.push_back(SackRange{begin, end});
      if (!undo_tsval_) undo_tsval_ = tsval;  // RFC 3522 §3.2 RetransmitTS
    }
  } else if (!ts_ok_ && !rtt_probe_) {
    rtt_probe_ = RttProbe{seq_end, now};
  }
  // New data (also when a retransmission carries some along) moves SND.NXT.
  if (after(seq_end, snd_nxt_)) snd_nxt_ = seq_end;
  if (after(snd_nxt_, snd_max_)) snd_max_ = snd_nxt_;
  stats_.bytes_out += len;
  timers_.cancel(Timer::kPersist);
  if (!timers_.is_armed(Timer::kRetransmit)) arm_retransmit(now);
  if (cfg_.user_timeout && !timers_.is_armed(Timer::kUserTimeout)) {
    timers_.set(Timer::kUserTimeout, now + *cfg_.user_timeout);
  }
  finish_segment(seg);
  return seg;
}

// --- Pacing ---------------------------------------------------------------------------------

bool Connection::pacing_allows(uint64_t len, Instant now) {
  const uint64_t rate = cc_.pacing_rate(rtt_.srtt());
  if (rate == 0) {
    pace_wait_.reset();
    return true;
  }
  // A token bucket filled at the pacing rate, holding at most two segments or 1 ms worth
  // (Linux's pacing quantum), so that bursts stay that small. Tokens are kept in millionths
  // of a byte (bytes/s times microseconds), so no fraction is lost between polls.
  __extension__ using i128 = __int128;
  constexpr i128 kMicro = 1'000'000;
  const i128 quantum =
      static_cast<i128>(std::max<uint64_t>(uint64_t{2} * effective_mss(),
                                           std::min<uint64_t>(rate / 1000, 1u << 20))) *
      kMicro;
  if (!pace_refill_) {
    pace_tokens_ = quantum;
  } else if (now > *pace_refill_) {
    const i128 add = static_cast<i128>(rate) * (now - *pace_refill_).as_micros();
    pace_tokens_ = std::min(quantum, pace_tokens_ + add);
  }
  pace_refill_ = now;
  const i128 need = static_cast<i128>(len) * kMicro;
  if (pace_tokens_ >= need) return true;
  const i128 wait_us =
      (need - pace_tokens_ + static_cast<i128>(rate) - 1) / static_cast<i128>(rate);
  pace_wait_ = now + Duration::micros(static_cast<int64_t>(std::max<i128>(wait_us, 1)));
  return false;
}

void Connection::paced(uint64_t len) {
  if (!pace_refill_) return;  // not pacing
  __extension__ using i128 = __int128;
  pace_tokens_ -= static_cast<i128>(len) * 1'000'000;
  pace_wait_.reset();
}

void Connection::arm_retransmit(Instant now) {
  timers_.set(Timer::kRetransmit, now + rtt_.rto());
}

void Connection::arm_persist(Instant now) {
  // The persist interval backs off like the RTO (RFC 1122 §4.2.2.17), capped at max_rto.
  Duration interval = rtt_.rto();
  for (uint8_t i = 0; i < persist_backoff_ && interval < rtt_.config().max_rto; ++i) {
    interval = interval * 2;
  }
  timers_.set(Timer::kPersist, now + std::min(interval, rtt_.config().max_rto));
}

// --- Congestion control and loss recovery ------------------------------------------------

namespace {
// RFC 8985 §7.2: WCDelAckT, the worst-case delayed-ACK time a lone segment may wait for.
constexpr Duration kWorstCaseDelayedAck = Duration::millis(200);
// RFC 8985 §7.2: PTO before any RTT sample.
constexpr Duration kInitialPto = Duration::seconds(1);
// Added to 2*SRTT for a flight of several segments. Linux adds TCP_TIMEOUT_MIN, two
// jiffies (8 ms at the HZ=250 of distribution kernels); synack adds 10 ms, its timers firing
// from an event loop that may share a busy CPU. On a path of microseconds (TUN to the local
// kernel) anything less fires probes on scheduling jitter alone.
constexpr Duration kPtoSlack = Duration::millis(10);
// RFC 8985 §6.2 step 4: recoveries the reordering window stays widened for after a D-SACK.
constexpr int kReoWndPersist = 16;
}  // namespace

void Connection::start_sender() {
  CongestionConfig cc = cfg_.congestion;
  // RFC 5681 §3.1 (and RFC 6928 §2): "if the SYN or SYN/ACK is lost, the initial window
  // used by a sender after a correctly transmitted SYN MUST be one segment".
  if (syn_transmissions_ > 1) cc.initial_window_segments = 1;
  cc_ = CongestionControl(cc, effective_mss());
  sb_.reset(0);
  recovery_ = RecoveryState::kOpen;
  recovery_point_ = 0;
  dupacks_ = 0;
  reno_credit_ = 0;
  prr_.reset();
  idle_since_.reset();
}

uint64_t Connection::in_flight() const {
  const uint64_t pipe = sb_.pipe();
  if (sack_ok_) return pipe;
  // Without SACK each duplicate ACK says a segment has left the network (RFC 5681 §3.2
  // step 4's window inflation, and RFC 3042's limited transmit, counted as Linux does:
  // as if the duplicate ACKs were SACKs).
  return pipe > reno_credit_ ? pipe - reno_credit_ : 0;
}

uint64_t Connection::send_window() const {
  return recovery_ == RecoveryState::kFast && prr_ ? prr_->window : cc_.cwnd();
}

void Connection::prr_on_ack(uint64_t delivered) {
  // RFC 6937 §3, on every ACK in fast recovery, after the scoreboard and the loss marks
  // took it in. An ACK that delivered nothing changes nothing (as Linux's
  // tcp_cwnd_reduction()): losses marked later (the reordering timer) free room in the
  // same window.
  if (delivered == 0) return;
  Prr& p = *prr_;
  p.delivered += delivered;  // "prr_delivered += DeliveredData"
  const uint64_t pipe = in_flight();
  const uint64_t ssthresh = cc_.ssthresh();
  uint64_t sndcnt = 0;
  if (pipe > ssthresh) {
    // Proportional rate reduction: "sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) -
    // prr_out": the flight shrinks to ssthresh in step with what is delivered.
    __extension__ using u128 = unsigned __int128;
    const u128 fs = std::max<uint64_t>(p.recover_fs, 1);
    const u128 target = (static_cast<u128>(p.delivered) * ssthresh + fs - 1) / fs;
    sndcnt = target > p.out ? static_cast<uint64_t>(target - p.out) : 0;
  } else {
    // pipe at or below ssthresh (more was lost than the reduction asks): a reduction bound.
    // PRR-CRB: "limit = prr_delivered - prr_out" (packet conservation). PRR-SSRB: "limit =
    // MAX(prr_delivered - prr_out, DeliveredData) + MSS", slow start back to ssthresh on
    // every ACK. (Linux and RFC 9937 add the MSS only on an ACK that advances SND.UNA and
    // shows no new loss; in simulation at 10 % loss that cost a third more timeouts: most
    // ACKs there show a new loss, and recovery crawls at packet conservation.)
    const uint64_t banked = p.delivered > p.out ? p.delivered - p.out : 0;
    uint64_t limit = banked;
    if (cfg_.recovery_rate == RecoveryRate::kPrrSsrb) {
      limit = std::max(banked, delivered) + effective_mss();
    }
    sndcnt = std::min(ssthresh - pipe, limit);
  }
  // "cwnd = pipe + sndcnt": what may be in flight until the next ACK.
  p.window = pipe + sndcnt;
}

Duration Connection::reo_wnd() const {
  // RFC 8985 §6.2 step 4, RACK_update_reo_wnd(): without reordering seen, no window in
  // recovery or once DupThresh segments are SACKed (so RACK is at least as quick as
  // RFC 6675); otherwise min(reo_wnd_mult * min_RTT / 4, SRTT).
  if (!rack_.reordering_seen) {
    if (recovery_ != RecoveryState::kOpen) return {};
    if (sb_.sacked_bytes() >= uint64_t{Scoreboard::kDupThresh} * effective_mss()) return {};
  }
  const Duration base = min_rtt_ > Duration{} ? min_rtt_ : rtt_.srtt();
  const Duration wnd = Duration::micros(base.as_micros() / 4) * rack_.reo_wnd_mult;
  return rtt_.has_sample() ? std::min(wnd, rtt_.srtt()) : wnd;
}

void Connection::begin_undo_episode() {
  undo_armed_ = true;
  undo_marker_ = sb_.una();
  undo_retrans_ = 0;
  undo_ranges_.clear();
  undo_tsval_.reset();
  eifel_pending_ = ts_ok_;
}

void Connection::enter_fast_recovery(Instant now) {
  // RFC 6675 §5 step (4) / RFC 6582 §3.2 step 2: RecoveryPoint = HighData, ssthresh and
  // cwnd from FlightSize (the controller's arithmetic).
  recovery_ = RecoveryState::kFast;
  notify(EventKind::kRecovery, "fast recovery");
  recovery_point_ = sb_.high_data();
  ++stats_.fast_recoveries;
  begin_undo_episode();
  if (ecn_recover_) {
    ecn_recover_.reset();  // the window was already reduced for this window of data
  } else {
    cc_.on_congestion_event(now, sb_.high_data() - sb_.una());
  }
  // RFC 6937 §3 "on entering recovery": prr_delivered = prr_out = 0, RecoverFS = snd.nxt -
  // snd.una. Until the first ACK sets it, the window is what is in flight (only the fast
  // retransmission below goes).
  prr_.reset();
  if (cfg_.recovery_rate != RecoveryRate::kRfc6675) {
    prr_ = Prr{.recover_fs = sb_.high_data() - sb_.una(), .window = in_flight()};
  }
  tlp_deadline_.reset();
  // RFC 5681 §3.2 step 4 (RFC 6675 §5 step (4.3)): the first lost segment is retransmitted
  // at once, whatever pipe and the reduced cwnd say.
  fast_retransmit_pending_ = true;
}

void Connection::exit_rack_episode() {
  // RFC 8985 §6.2 step 4: "else if exiting Fast or RTO recovery: RACK.reo_wnd_persist -= 1;
  // if RACK.reo_wnd_persist <= 0: RACK.reo_wnd_mult = 1".
  if (--rack_.reo_wnd_persist <= 0) {
    rack_.reo_wnd_persist = 0;
    rack_.reo_wnd_mult = 1;
  }
}

void Connection::exit_recovery(Instant now) {
  if (recovery_ == RecoveryState::kFast) cc_.on_recovery_exit(now);
  exit_rack_episode();
  recovery_ = RecoveryState::kOpen;
  notify(EventKind::kRecovery, "recovered");
  reno_credit_ = 0;
  dupacks_ = 0;
  fast_retransmit_pending_ = false;
  prr_.reset();  // RFC 6937 §3: recovery ends with cwnd = ssthresh (the controller's)
}

void Connection::undo_recovery(std::string_view why) {
  (void)why;
  if (!undo_armed_) return;
  // RFC 4015 §2 (the Eifel response) and RFC 3708: the retransmissions were spurious. The
  // window and ssthresh from before come back, nothing is lost after all, and the RTO
  // backoff goes (the path did not slow down).
  undo_armed_ = false;
  eifel_pending_ = false;
  cc_.undo();
  sb_.clear_lost();
  if (recovery_ != RecoveryState::kOpen) {
    exit_rack_episode();
    recovery_ = RecoveryState::kOpen;
    notify(EventKind::kRecovery, "undone: the retransmissions were spurious");
    reno_credit_ = 0;
    dupacks_ = 0;
  }
  prr_.reset();
  rtt_.reset_backoff();
  ++stats_.spurious_recoveries;
}

void Connection::detect_losses(Instant now, bool may_enter_recovery) {
  uint64_t lost = 0;
  // RFC 6675 §4 IsLost(): kept while the path has not been seen to reorder (RFC 8985 §6.2
  // step 4 sets the reordering window to zero in that case for the same reason); once it
  // has, RACK's reordering window decides.
  if (!cfg_.rack || !rack_.reordering_seen) lost += sb_.mark_lost_dupthresh(effective_mss());
  if (cfg_.rack && rack_.xmit_ts) {
    const auto r = sb_.rack_detect_loss(now, *rack_.xmit_ts, rack_.end_seq, rack_.rtt, reo_wnd());
    lost += r.lost;
    stats_.rack_losses += r.segments;
    reo_deadline_ = r.timeout;
  }
  if (lost > 0 && may_enter_recovery && recovery_ == RecoveryState::kOpen) {
    enter_fast_recovery(now);
  }
}

void Connection::sender_on_ack(const TcpRepr& seg, bool advanced, bool window_changed,
                               Instant now) {
  const uint64_t una = send_offset(snd_una_);
  // What was in flight before this ACK (the scoreboard has not seen it yet).
  const uint64_t pipe_before = in_flight();
  std::array<SackRange, wire::kMaxSackBlocks> blocks{};
  size_t nblocks = 0;
  if (sack_ok_) {
    for (const auto& b : seg.options.sack) {
      if (!after(b.right, b.left) || nblocks == blocks.size()) continue;
      const uint64_t left = send_offset(b.left);
      blocks[nblocks++] = SackRange{left, left + (b.right - b.left).value()};
    }
  }
  const uint32_t tsecr = ts_ok_ && seg.options.timestamps ? seg.options.timestamps->echo_reply : 0;
  const auto r = sb_.on_ack(una, std::span(blocks.data(), nblocks), now, min_rtt_, tsecr);
  const uint64_t delivered = r.acked + r.sacked;

  // RFC 8985 §6.2 step 2: the most recently sent segment delivered, and its RTT.
  if (r.newest_sent && (!rack_.xmit_ts || *r.newest_sent > *rack_.xmit_ts ||
                        (*r.newest_sent == *rack_.xmit_ts && r.newest_end > rack_.end_seq))) {
    rack_.xmit_ts = r.newest_sent;
    rack_.end_seq = r.newest_end;
    rack_.rtt = *r.newest_rtt;
    if (min_rtt_ == Duration{} || rack_.rtt < min_rtt_) min_rtt_ = rack_.rtt;
  }
  // Step 3: reordering.
  if (r.reordering) rack_.reordering_seen = true;

  // D-SACK (RFC 2883): RACK widens its reordering window (RFC 8985 §6.2 step 4), a probe
  // or a retransmission turns out to have been unnecessary.
  if (rack_.dsack_round && una >= *rack_.dsack_round) rack_.dsack_round.reset();
  if (r.dsack) {
    ++stats_.dsacks_received;
    if (!rack_.dsack_round) {
      rack_.dsack_round = sb_.high_data();
      ++rack_.reo_wnd_mult;
      rack_.reo_wnd_persist = kReoWndPersist;
    }
    if (tlp_out_ && tlp_out_->retransmission && r.dsack->end == tlp_out_->end) {
      // RFC 8985 §7.4.2: the probe's retransmission was a duplicate: nothing was lost.
      tlp_out_.reset();
    } else if (undo_armed_ && r.dsack->begin >= undo_marker_ && undo_retrans_ > 0) {
      // Every retransmission of the episode D-SACKed: it was all spurious (RFC 3708 §3).
      // Only a D-SACK of something retransmitted counts (a path that duplicates packets
      // makes D-SACKs of originals too), and each retransmission once.
      const auto hit = std::find_if(
          undo_ranges_.begin(), undo_ranges_.end(),
          [&](const SackRange& x) { return r.dsack->begin < x.end && x.begin < r.dsack->end; });
      if (hit != undo_ranges_.end()) {
        undo_ranges_.erase(hit);
        if (--undo_retrans_ == 0) undo_recovery("D-SACK");
      }
    }
  }
  // RFC 3522 §3.2 Eifel detection: the first ACK for a retransmitted segment echoes the
  // timestamp of the original transmission — the original arrived; the retransmission was
  // spurious.
  if (eifel_pending_ && r.retransmitted_tsval_acked) {
    eifel_pending_ = false;
    if (undo_tsval_ && tsecr != 0 && ts_before(tsecr, *undo_tsval_)) undo_recovery("timestamps");
  }
  // RFC 8985 §7.4.2 TLP_process_ack(): a probe of new data needs nothing more; a
  // retransmitted probe was unnecessary if the peer D-SACKs it (handled above) or answers
  // with a bare duplicate ACK; an ACK beyond it means it repaired a loss, and the window is
  // reduced once for that loss. An ACK of exactly the probe's end waits for the D-SACK.
  if (tlp_out_ && una >= tlp_out_->end) {
    if (!tlp_out_->retransmission) {
      tlp_out_.reset();
    } else if (una > tlp_out_->end) {
      if (recovery_ == RecoveryState::kOpen) {
        cc_.on_congestion_event(now, pipe_before);
        cc_.on_recovery_exit(now);
        ++stats_.tlp_recoveries;
      }
      tlp_out_.reset();
    } else if (!advanced && seg.options.sack.empty() && seg.payload.empty()) {
      tlp_out_.reset();
    }
  }

  // Recovery ends when the RecoveryPoint is acknowledged (RFC 6675 §5 step (C) note,
  // RFC 6582 §3.2 step 3, RFC 6675 §5.1 after a timeout).
  const bool exits_fast_recovery =
      advanced && recovery_ == RecoveryState::kFast && una >= recovery_point_;
  if (advanced && recovery_ != RecoveryState::kOpen && una >= recovery_point_) exit_recovery(now);

  // RFC 3168 §6.1.2: ECE makes the sender reduce its window once per window of data, and
  // say so with CWR.
  if (ecn_ok_ && seg.flags.ece() && recovery_ == RecoveryState::kOpen && !ecn_recover_ &&
      una >= recovery_point_) {
    cc_.on_congestion_event(now, pipe_before);
    ecn_recover_ = sb_.high_data();
    cwr_pending_ = true;
    ++stats_.ecn_reductions;
  } else if (ecn_recover_ && una >= *ecn_recover_ && advanced) {
    cc_.on_recovery_exit(now);
    ecn_recover_.reset();
  }

  // RFC 6937 §3 DeliveredData.
  uint64_t prr_delivered = delivered;
  if (sack_ok_) {
    detect_losses(now, true);
  } else {
    // RFC 6582 NewReno. A duplicate ACK (RFC 5681 §2): nothing new acknowledged, no data,
    // the same window, data outstanding.
    const bool dupack = !advanced && seg.payload.empty() && !seg.flags.fin() && !window_changed &&
                        snd_una_ != snd_max_;
    if (advanced) {
      if (recovery_ == RecoveryState::kFast) {
        // §3.2 step 5, a partial ACK: retransmit the first unacknowledged segment; the
        // window deflates by the amount acknowledged.
        const uint64_t deflated = std::min(reno_credit_, r.acked);
        reno_credit_ -= deflated;
        sb_.mark_first_lost();
        // RFC 6937 §3 without SACK: the duplicate ACKs already counted what this ACK
        // covers, beyond them (at least one segment, as Linux) is delivered now.
        prr_delivered =
            r.acked > deflated ? r.acked - deflated : std::min<uint64_t>(r.acked, effective_mss());
      } else {
        dupacks_ = 0;
        reno_credit_ = 0;
      }
    } else if (dupack) {
      ++dupacks_;
      const uint64_t flight = sb_.high_data() - sb_.una();
      const uint64_t cap = flight > effective_mss() ? flight - effective_mss() : 0;
      reno_credit_ = std::min(reno_credit_ + effective_mss(), cap);
      prr_delivered = effective_mss();  // RFC 6937 §3: a duplicate ACK delivered one MSS
      // §3.2 step 2: the third duplicate ACK starts fast retransmit, if the ACK covers
      // more than "recover" (no recovery started for this window yet).
      if (recovery_ == RecoveryState::kOpen && dupacks_ >= Scoreboard::kDupThresh &&
          (una >= recovery_point_ || recovery_point_ == 0)) {
        sb_.mark_first_lost();
        enter_fast_recovery(now);
      }
    }
  }
  if (recovery_ == RecoveryState::kFast && prr_) prr_on_ack(prr_delivered);

  // Slow start or congestion avoidance: on ACKs outside fast recovery that acknowledge new
  // data cumulatively (RFC 5681 §3.1; duplicate ACKs never open the window), counting what
  // they and their SACK blocks delivered.
  // (Not on the ACK that ends fast recovery: RFC 6582 §3.2 step 3 and RFC 6675 leave cwnd
  // at ssthresh then.)
  if (advanced && delivered > 0 && recovery_ != RecoveryState::kFast && !ecn_recover_ &&
      !exits_fast_recovery) {
    const uint64_t cwnd = cc_.cwnd();
    const bool cwnd_limited =
        cwnd_limited_ ||
        (cc_.in_slow_start() ? pipe_before * 2 >= cwnd : pipe_before + effective_mss() >= cwnd);
    if (!cwnd_limited) ++stats_.app_limited_acks;
    cc_.on_ack(AckSample{
        .now = now,
        .acked_bytes = delivered,
        .in_flight = pipe_before,
        .rtt = ack_rtt_,
        .min_rtt = min_rtt_,
        .srtt = rtt_.srtt(),
        .app_limited = !cwnd_limited,
        .delivered_seq = una,
        .sent_seq = sb_.high_data(),
    });
  }
  cwnd_limited_ = false;

  if (snd_una_ == snd_max_) {
    reo_deadline_.reset();
    tlp_deadline_.reset();
  } else if (advanced) {
    arm_tlp(now);  // RFC 8985 §7.2: restarted by an ACK of new data
  }
}

void Connection::on_reordering_timeout(Instant now) {
  // RFC 8985 §6.3: the reordering window of a segment passed without its ACK.
  if (!syn_acked_ || snd_una_ == snd_max_) return;
  detect_losses(now, recovery_ == RecoveryState::kOpen);
}

void Connection::arm_tlp(Instant now) {
  // RFC 8985 §7.2: with SACK, outside recovery, one probe at a time.
  tlp_deadline_.reset();
  if (!cfg_.tlp || !sack_ok_ || recovery_ != RecoveryState::kOpen || snd_una_ == snd_max_ ||
      tlp_out_) {
    return;
  }
  Duration pto = kInitialPto;
  if (rtt_.has_sample()) {
    pto = rtt_.srtt() * 2;
    // FlightSize of one segment: the peer may hold its ACK for a delayed-ACK time.
    pto = pto + (sb_.size() == 1 ? kWorstCaseDelayedAck
                                 : std::max(kPtoSlack, rtt_.config().clock_granularity * 2));
  }
  const Instant at = now + pto;
  // "If the RTO timer would expire first, it is used instead" (PTO = min(PTO, RTO)).
  if (auto rto = timers_.deadline(Timer::kRetransmit); rto && *rto <= at) return;
  tlp_deadline_ = at;
}

void Connection::on_tlp_timeout(Instant now) {
  (void)now;
  if (!syn_acked_ || recovery_ != RecoveryState::kOpen || snd_una_ == snd_max_ || tlp_out_) {
    return;
  }
  tlp_pending_ = true;
}

std::optional<TcpRepr> Connection::transmit_tlp(Instant now) {
  // RFC 8985 §7.3: new data if the receive window allows it (cwnd does not count here),
  // otherwise the highest-sequenced segment again. Then the RTO is restarted.
  tlp_pending_ = true;  // retransmissions below are the probe's, not recovery's
  std::optional<TcpRepr> seg = transmit_data(now, true);
  bool retransmission = false;
  if (!seg) {
    const SentSegment* last = sb_.last();
    if (!last) {
      tlp_pending_ = false;
      return std::nullopt;
    }
    // At most a full segment's payload (the FIN, if the last record holds it, comes on top).
    const uint64_t payload_end = std::min(last->end, sndbuf_.end_offset());
    const uint64_t begin =
        std::max(last->begin, payload_end - std::min<uint64_t>(payload_end, payload_room()));
    seg = emit_range(begin, last->end, now, true);
    retransmission = true;
  }
  tlp_pending_ = false;
  tlp_out_ = TlpProbe{.end = sb_.high_data(), .retransmission = retransmission};
  ++stats_.tlp_probes;
  arm_retransmit(now);
  return seg;
}

// --- Timeouts (RFC 9293 §3.10.8) -------------------------------------------------------

void Connection::on_timeout(Instant now) {
  last_now_ = now;
  for (Timer timer : timers_.take_expired(now)) {
    if (state_ == State::kClosed) return;
    switch (timer) {
      case Timer::kUserTimeout:
        // "flush all queues, signal the user 'error: connection aborted due to user
        // timeout' ... enter the CLOSED state".
        fail(std::make_error_code(std::errc::timed_out), "user timeout");
        return;
      case Timer::kTimeWait:
        close_connection(kTimeWaitExpired);
        return;
      case Timer::kRetransmit:
        on_retransmit_timeout(now);
        break;
      case Timer::kPersist:
        on_persist_timeout(now);
        break;
      case Timer::kKeepalive:
        on_keepalive_timeout(now);
        break;
      case Timer::kDelayedAck:
        ack_pending_ = true;
        break;
      case Timer::kCount:
        break;
    }
  }
  if (state_ == State::kClosed) return;
  if (pace_wait_ && *pace_wait_ <= now) pace_wait_.reset();  // poll_transmit sends
  if (reo_deadline_ && *reo_deadline_ <= now) {
    reo_deadline_.reset();
    on_reordering_timeout(now);
  }
  if (tlp_deadline_ && *tlp_deadline_ <= now) {
    tlp_deadline_.reset();
    on_tlp_timeout(now);
  }
}

void Connection::on_retransmit_timeout(Instant now) {
  ++stats_.timeouts;
  const uint8_t limit = state_ == State::kSynSent   ? cfg_.syn_retries
                        : state_ == State::kSynRcvd ? cfg_.synack_retries
                                                    : cfg_.max_retransmits;
  if (retries_ >= limit) {
    // RFC 1122 §4.2.3.5 R2 (RFC 9293 §3.8.3): give up and report ETIMEDOUT. A half-open
    // connection made by a listener has no user to tell: it just goes away.
    if (state_ == State::kSynRcvd && passive_) {
      if (isn_source_) {
        return_to_listen("SYN-ACK retransmission limit");
      } else {
        close_connection("SYN-ACK retransmission limit");
      }
    } else {
      fail(std::make_error_code(std::errc::timed_out), "retransmission limit reached");
    }
    return;
  }
  ++retries_;
  rtt_.on_timeout();   // RFC 6298 §5.5: back off the timer
  rtt_probe_.reset();  // Karn: the timed segment is about to be retransmitted
  if (state_ == State::kSynSent || state_ == State::kSynRcvd) {
    syn_pending_ = true;
  } else if (snd_wnd_ == 0) {
    // The peer closed its window with data in flight: that is persisting, not loss. What
    // was sent is sent again once the window opens.
    retries_ = 0;
    sb_.mark_all_lost();
    arm_persist(now);
    return;
  } else {
    // RFC 6298 §5.4: retransmit the earliest unacknowledged segment. RFC 5681 §3.1: the
    // window falls to one segment (the loss window) and slow start repairs the rest;
    // RFC 6675 §5.1: RecoveryPoint becomes HighData, and no fast recovery starts before it
    // is acknowledged. Every segment not SACKed is lost; what the peer SACKed is not sent
    // again — unless the timer expires twice in a row: then the peer may have reneged on
    // its SACKs (RFC 2018 §8), and they are forgotten.
    const uint64_t flight = sb_.high_data() - sb_.una();
    if (recovery_ == RecoveryState::kOpen) begin_undo_episode();
    if (recovery_ != RecoveryState::kTimeout) ++stats_.rto_recoveries;
    if (ecn_recover_) ecn_recover_.reset();
    cc_.on_rto(now, flight);
    if (retries_ >= 2) sb_.forget_sacks();
    sb_.mark_all_lost();
    if (recovery_ == RecoveryState::kFast) exit_rack_episode();
    if (recovery_ != RecoveryState::kTimeout) {
      notify(EventKind::kRecovery, "retransmission timeout");
    }
    recovery_ = RecoveryState::kTimeout;
    prr_.reset();
    recovery_point_ = sb_.high_data();
    fast_retransmit_pending_ = false;
    reno_credit_ = 0;
    dupacks_ = 0;
    tlp_out_.reset();
    tlp_deadline_.reset();
    reo_deadline_.reset();
  }
  arm_retransmit(now);
}

void Connection::on_persist_timeout(Instant now) {
  if (snd_wnd_ == 0) {
    probe_pending_ = true;
    if (persist_backoff_ < 16) ++persist_backoff_;
  } else {
    force_send_ = true;  // the SWS override timeout: send what the window allows
  }
  if (!sndbuf_.empty()) arm_persist(now);
}

void Connection::on_keepalive_timeout(Instant now) {
  const bool idle_state =
      state_ == State::kEstablished || state_ == State::kCloseWait || state_ == State::kFinWait2;
  if (!cfg_.keepalive.enabled || !idle_state) return;
  if (snd_una_ != snd_max_) {
    // Data is outstanding: the retransmission timer watches the peer.
    timers_.set(Timer::kKeepalive, now + cfg_.keepalive.idle);
    return;
  }
  if (keepalive_probes_ >= cfg_.keepalive.probes) {
    fail(std::make_error_code(std::errc::timed_out), "keep-alive timeout");
    return;
  }
  ++keepalive_probes_;
  keepalive_pending_ = true;
  timers_.set(Timer::kKeepalive, now + cfg_.keepalive.interval);
}

}  // namespace synack::tcp
