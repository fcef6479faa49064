// tcp::Connection — one TCP connection as a deterministic, sans-I/O state machine.
//
// It takes segments (on_segment), application calls (send, recv, close, abort) and the
// current time, and produces segments (poll_transmit) and events (poll_event). It owns no
// sockets, clocks or threads: the caller — the stack, a test, the simulator — moves
// segments and time. Segment processing follows RFC 9293 §3.10.7 step by step.
//
// Driving it:
//   conn.on_segment(seg, from, now);                 // or send()/recv()/close()/on_timeout()
//   while (auto out = conn.poll_transmit(now)) put_on_the_wire(*out);
//   while (auto ev = conn.poll_event()) tell_the_application(*ev);
//   sleep_until(conn.next_deadline());               // then conn.on_timeout(now)
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "synack/expected.hpp"
#include "synack/tcp/config.hpp"
#include "synack/tcp/congestion.hpp"
#include "synack/tcp/event.hpp"
#include "synack/tcp/four_tuple.hpp"
#include "synack/tcp/reassembler.hpp"
#include "synack/tcp/rtt_estimator.hpp"
#include "synack/tcp/scoreboard.hpp"
#include "synack/tcp/send_buffer.hpp"
#include "synack/tcp/state.hpp"
#include "synack/tcp/timer_table.hpp"
#include "synack/time.hpp"
#include "synack/wire/tcp.hpp"

namespace synack::tcp {

// Chooses the initial send sequence number when a SYN reaches a listening connection
// (RFC 6528; IsnGenerator in production, a constant in tests).
using IsnSource = std::function<wire::SeqNum(const FourTuple&, Instant)>;

struct ConnectionStats {
  uint64_t segments_in = 0;
  uint64_t segments_out = 0;
  uint64_t bytes_in = 0;   // payload bytes accepted in order
  uint64_t bytes_out = 0;  // payload bytes sent, retransmissions included
  uint64_t retransmitted_segments = 0;
  uint64_t retransmitted_bytes = 0;
  uint64_t timeouts = 0;  // retransmission timer expiries
  uint64_t dropped_out_of_window = 0;
  uint64_t challenge_acks = 0;  // RFC 5961
  uint64_t paws_rejected = 0;   // RFC 7323 §5
  // Loss recovery.
  uint64_t fast_recoveries = 0;      // recovery episodes entered on loss (RFC 6675, RFC 6582)
  uint64_t rto_recoveries = 0;       // episodes started by a retransmission timeout
  uint64_t fast_retransmits = 0;     // segments retransmitted in fast recovery
  uint64_t rack_losses = 0;          // segments RACK marked lost (RFC 8985 §6)
  uint64_t tlp_probes = 0;           // tail loss probes sent (RFC 8985 §7)
  uint64_t tlp_recoveries = 0;       // losses a probe repaired (RFC 8985 §7.4.2)
  uint64_t dsacks_received = 0;      // D-SACK blocks received (RFC 2883)
  uint64_t spurious_recoveries = 0;  // episodes undone (RFC 3522, RFC 4015, D-SACK)
  // ACKs of new data outside recovery on which cwnd could not grow: the sender was not
  // using its window (application-limited, RFC 7661 §4.3, RFC 9438 §5.8).
  uint64_t app_limited_acks = 0;
  uint64_t ecn_ce_received = 0;  // CE-marked segments received (RFC 3168)
  uint64_t ecn_reductions = 0;   // window reductions on ECE (RFC 3168 §6.1.2)
};

// Where the sender's loss recovery is.
enum class RecoveryState : uint8_t {
  kOpen,     // no recovery
  kFast,     // fast recovery: RFC 6675 with SACK, RFC 6582 NewReno without
  kTimeout,  // after a retransmission timeout, until the recovery point is acknowledged
};

// "open", "fast" or "timeout" (synack ss -i, the sim's JSON).
inline constexpr std::string_view to_string(RecoveryState r) {
  switch (r) {
    case RecoveryState::kOpen:
      return "open";
    case RecoveryState::kFast:
      return "fast";
    case RecoveryState::kTimeout:
      return "timeout";
  }
  return "?";
}

// STATUS (RFC 9293 §3.10.6): a snapshot for `ss`-style listings.
struct ConnectionStatus {
  State state = State::kClosed;
  FourTuple tuple;
  size_t recv_queue = 0;  // bytes received, not yet read
  size_t send_queue = 0;  // bytes written, not yet acknowledged
  uint32_t snd_wnd = 0;   // peer's window, scaled
  uint32_t rcv_wnd = 0;   // our window as last advertised, scaled
  uint16_t snd_mss = 0;
  uint8_t snd_wscale = 0;
  uint8_t rcv_wscale = 0;
  bool timestamps = false;
  bool sack = false;
  Duration srtt;
  Duration rttvar;
  Duration rto;
  // The congestion window (bytes); ssthresh is nullopt while still "arbitrarily high"
  // (RFC 5681 §3.1). During fast recovery cwnd is proportional rate reduction's (RFC 6937
  // §3: pipe + sndcnt as of the last ACK, as Linux reports it); it ends at ssthresh.
  std::optional<uint32_t> cwnd;
  std::optional<uint32_t> ssthresh;
  uint64_t in_flight = 0;    // RFC 6675 pipe (FlightSize without SACK), bytes
  uint64_t pacing_rate = 0;  // bytes per second; 0: not pacing
  Duration min_rtt;          // smallest RTT seen (RACK.min_RTT)
  size_t sack_holes = 0;     // holes in the scoreboard below the highest SACKed octet
  size_t lost_segments = 0;  // segments marked lost and not yet acknowledged
  RecoveryState recovery = RecoveryState::kOpen;
  bool reordering_seen = false;  // RFC 8985 RACK.reordering_seen
  bool ecn = false;              // RFC 3168 negotiated
  ConnectionStats stats;
};

class Connection {
 public:
  explicit Connection(const Config& config = {});

  // --- User calls (RFC 9293 §3.10.1–3.10.6) -------------------------------------------

  // Active OPEN: CLOSED -> SYN_SENT; the SYN goes out on the next poll_transmit().
  std::error_code connect(const FourTuple& tuple, wire::SeqNum iss, Instant now);
  // Passive OPEN: CLOSED -> LISTEN on tuple.local; a SYN from anyone moves it to SYN_RCVD.
  std::error_code listen(const Endpoint& local, IsnSource isn);

  // SEND: queues as much as the send buffer takes. `urgent` marks the end of the data as
  // the urgent point (RFC 9293 §3.8.5, RFC 6093: the pointer names the octet after it).
  expected<size_t, std::error_code> send(wire::Bytes data, Instant now, bool urgent = false);
  // RECEIVE: copies in-order data out. 0 with eof() true means the peer closed.
  size_t recv(wire::MutableBytes out, Instant now);
  size_t readable() const { return rcvbuf_.readable(); }
  // The peer's FIN has been received and every byte before it read.
  bool eof() const { return fin_received_ && rcvbuf_.readable() == 0; }
  size_t send_space() const { return can_send() ? sndbuf_.free_space() : 0; }
  // The urgent mark (RFC 6093: urgent data stays in the stream): how many readable bytes
  // precede the end of the most recent urgent data, if it is still ahead of the reader.
  std::optional<uint64_t> urgent_mark() const;

  // LISTEN's answer to a SYN without a listening Connection (the stack keeps listeners and
  // SYN queues itself): CLOSED -> SYN_RCVD with our ISS, the SYN-ACK on the next poll. A
  // RST later closes the connection (there is no LISTEN to return to).
  std::error_code accept_syn(const FourTuple& tuple, const wire::TcpRepr& syn, wire::SeqNum iss,
                             Instant now);
  // A handshake carried by a SYN cookie (RFC 4987 §3.6): `syn` is the SYN as the cookie
  // reconstructs it (options decoded), `iss` the cookie, `ack` the final ACK. Ends in
  // ESTABLISHED (or fails with ECONNREFUSED if the ACK does not complete the handshake).
  std::error_code accept_cookie(const FourTuple& tuple, const wire::TcpRepr& syn, wire::SeqNum iss,
                                const wire::TcpRepr& ack, Instant now);
  // An ICMP destination unreachable quoting one of our segments (RFC 1122 §4.2.3.9,
  // RFC 5927). `hard`: protocol or port unreachable.
  void on_icmp_unreachable(std::error_code error, bool hard, wire::SeqNum quoted_seq, Instant now);
  // The last soft ICMP error seen (reported by the socket layer like SO_ERROR's soft error).
  std::error_code soft_error() const { return soft_error_; }
  // RFC 6191: whether a new SYN may end this TIME_WAIT and start a new incarnation.
  bool accepts_syn_in_time_wait(const wire::TcpRepr& syn) const;

  // CLOSE: no more data from us; FIN after what is queued (a half-close: reading goes on).
  std::error_code close(Instant now);
  // ABORT: RST to the peer (in synchronized states) and CLOSED at once.
  void abort(Instant now);
  ConnectionStatus status() const;
  const ConnectionStats& stats() const { return stats_; }
  bool sack_enabled() const { return sack_ok_; }

  void set_nodelay(bool on) { cfg_.nodelay = on; }
  void set_keepalive(const KeepaliveConfig& k, Instant now);

  // --- The network and time -------------------------------------------------------------

  // SEGMENT ARRIVES (RFC 9293 §3.10.7). `from` is the sender's endpoint (used in LISTEN).
  // `ce`: the IP header carried the Congestion Experienced codepoint (RFC 3168 §5); the
  // receiver then echoes ECE until the sender's CWR (§6.1.3).
  void on_segment(const wire::TcpRepr& seg, const Endpoint& from, Instant now, bool ce = false);
  // The next segment to send, if any; call until it returns nothing. The payload points
  // into the connection's buffers and stays valid until the next call on this connection.
  std::optional<wire::TcpRepr> poll_transmit(Instant now);
  std::optional<Instant> next_deadline() const;
  void on_timeout(Instant now);
  std::optional<Event> poll_event() { return events_.pop(); }

  State state() const { return state_; }
  const FourTuple& tuple() const { return tuple_; }
  // Why the connection failed, if it did (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ...).
  std::error_code error() const { return error_; }

  // RFC 9293 §3.3.1 variables, for tests and tracing.
  wire::SeqNum iss() const { return iss_; }
  wire::SeqNum irs() const { return irs_; }
  wire::SeqNum snd_una() const { return snd_una_; }
  wire::SeqNum snd_nxt() const { return snd_nxt_; }
  wire::SeqNum rcv_nxt() const { return rcv_nxt_; }
  uint32_t snd_wnd() const { return snd_wnd_; }
  const RttEstimator& rtt() const { return rtt_; }
  const CongestionControl& congestion() const { return cc_; }
  const Scoreboard& scoreboard() const { return sb_; }
  RecoveryState recovery() const { return recovery_; }
  // RFC 3168 §6.1.2: whether the segment poll_transmit() just returned may be sent ECN-capable
  // (ECT(0) in its IP header): new data once ECN is negotiated; never SYNs, pure ACKs,
  // retransmissions or window probes (§6.1.1, §6.1.5).
  bool last_segment_ect() const { return last_ect_; }

 private:
  // §3.10.7 SEGMENT ARRIVES, one function per state group and per numbered step.
  void segment_in_closed(const wire::TcpRepr& seg);
  void segment_in_listen(const wire::TcpRepr& seg, const Endpoint& from, Instant now);
  void segment_in_syn_sent(const wire::TcpRepr& seg, Instant now);
  void segment_in_synchronized(const wire::TcpRepr& seg, Instant now);
  bool check_paws(const wire::TcpRepr& seg, Instant now);
  bool check_sequence(const wire::TcpRepr& seg);
  void check_rst(const wire::TcpRepr& seg, Instant now);
  void check_syn(const wire::TcpRepr& seg, Instant now);
  bool check_ack(const wire::TcpRepr& seg, Instant now);
  void process_urgent(const wire::TcpRepr& seg);
  void process_text(const wire::TcpRepr& seg, Instant now);
  void process_fin(Instant now);

  void accept_syn_options(const wire::TcpOptions& o, Instant now);
  void begin_passive(const wire::TcpRepr& syn, wire::SeqNum iss, Instant now);
  void acknowledge(wire::SeqNum ack, const wire::TcpRepr& seg, Instant now);
  void update_window(const wire::TcpRepr& seg);
  void update_ts_recent(const wire::TcpRepr& seg, Instant now);
  void schedule_ack(bool immediate);
  void send_challenge_ack(Instant now);
  void queue_rst(wire::SeqNum seq, std::optional<wire::SeqNum> ack);

  void set_state(State to, std::string_view cause);
  void notify(EventKind kind, std::string_view cause);
  void fail(std::error_code e, std::string_view cause);
  void enter_time_wait(Instant now, std::string_view cause);
  void close_connection(std::string_view cause);
  void return_to_listen(std::string_view cause);

  std::optional<wire::TcpRepr> transmit_syn(Instant now);
  std::optional<wire::TcpRepr> transmit_probe(Instant now);
  std::optional<wire::TcpRepr> transmit_data(Instant now, bool loss_probe = false);
  // A segment from us with ACK (if in flags), timestamps and SACK blocks as negotiated.
  wire::TcpRepr make_segment(wire::SeqNum seq, uint16_t flags);
  // Sets the window and does the bookkeeping of a segment about to leave.
  void finish_segment(wire::TcpRepr& seg);
  uint32_t receive_window_to_advertise();
  uint32_t sws_threshold() const;
  void arm_retransmit(Instant now);
  void arm_persist(Instant now);
  void on_retransmit_timeout(Instant now);
  void on_persist_timeout(Instant now);
  void on_keepalive_timeout(Instant now);
  void maybe_window_update();

  // The sender's congestion control and loss recovery (RFC 5681, 6675, 6582, 8985, 3522,
  // 4015, 3168).
  void start_sender();
  void sender_on_ack(const wire::TcpRepr& seg, bool advanced, bool window_changed, Instant now);
  void detect_losses(Instant now, bool may_enter_recovery);
  void enter_fast_recovery(Instant now);
  void exit_recovery(Instant now);
  void undo_recovery(std::string_view why);
  void begin_undo_episode();
  void exit_rack_episode();
  std::optional<wire::TcpRepr> transmit_tlp(Instant now);
  void on_reordering_timeout(Instant now);
  void on_tlp_timeout(Instant now);
  void arm_tlp(Instant now);
  Duration reo_wnd() const;
  uint64_t in_flight() const;
  // The window the sender fills: PRR's during fast recovery, cwnd otherwise.
  uint64_t send_window() const;
  void prr_on_ack(uint64_t delivered);  // RFC 6937 §3, DeliveredData of this ACK
  // Sends [begin, end) of the send stream (the FIN counts as the octet after the data).
  wire::TcpRepr emit_range(uint64_t begin, uint64_t end, Instant now, bool retransmission);
  std::optional<wire::TcpRepr> transmit_lost(Instant now);
  bool pacing_allows(uint64_t len, Instant now);
  void paced(uint64_t len);
  size_t payload_room() const;  // payload bytes of a full data segment, options considered
  void restart_keepalive(Instant now);

  bool can_send() const;
  bool fin_acked() const;
  uint64_t send_offset(wire::SeqNum s) const;  // sequence number -> send stream offset
  wire::SeqNum send_seq(uint64_t offset) const;
  uint64_t recv_offset(wire::SeqNum s) const;  // sequence number -> receive stream offset
  wire::SeqNum fin_seq() const { return send_seq(sndbuf_.end_offset()); }
  uint16_t effective_mss() const;
  uint32_t ts_now(Instant now) const;

  Config cfg_;
  Instant last_now_;  // the time of the call in progress (delayed-ACK and TS clocks)
  State state_ = State::kClosed;
  FourTuple tuple_;
  IsnSource isn_source_;
  bool passive_ = false;  // reached SYN_RCVD from LISTEN (an RST returns it there)
  std::error_code error_;
  std::error_code soft_error_;

  // Send sequence space (RFC 9293 §3.3.1). snd_max_ is the highest sequence number sent
  // plus one: after a retransmission timeout snd_nxt_ goes back to snd_una_ (go-back-N)
  // while snd_max_ remembers what the peer may acknowledge.
  wire::SeqNum iss_, snd_una_, snd_nxt_, snd_max_, snd_wl1_, snd_wl2_;
  bool syn_acked_ = false;  // SND.UNA has moved past ISS (it stays true across the wrap)
  uint32_t snd_wnd_ = 0;
  uint32_t max_snd_wnd_ = 0;        // RFC 5961 §5.2 MAX.SND.WND
  std::optional<uint64_t> snd_up_;  // send offset just past the urgent data

  // Receive sequence space.
  wire::SeqNum irs_, rcv_nxt_;
  wire::SeqNum rcv_adv_;                // right edge of the window last advertised
  std::optional<uint64_t> rcv_up_;      // receive offset just past the peer's urgent data
  std::optional<uint64_t> fin_offset_;  // receive offset of a FIN seen out of order
  bool fin_received_ = false;

  // Negotiated at the handshake.
  uint16_t peer_mss_ = 536;  // RFC 9293 §3.7.1: 536 when the peer sends no MSS option
  uint8_t snd_wscale_ = 0;
  uint8_t rcv_wscale_ = 0;
  uint8_t offered_rcv_wscale_ = 0;
  bool ts_ok_ = false;
  bool sack_ok_ = false;
  bool ws_ok_ = false;
  uint32_t ts_recent_ = 0;
  Instant ts_recent_time_;
  uint32_t ts_offset_ = 0;
  wire::SeqNum last_ack_sent_;

  // Close.
  bool fin_queued_ = false;  // CLOSE called: FIN follows the queued data

  SendBuffer sndbuf_;
  Reassembler rcvbuf_;
  std::vector<std::byte> scratch_;  // a contiguous copy of a payload that wraps the ring
                                    // (sized on first use)

  RttEstimator rtt_;
  struct RttProbe {
    wire::SeqNum seq;  // timed once this is acknowledged (Karn: never a retransmission)
    Instant sent;
  };
  std::optional<RttProbe> rtt_probe_;
  TimerTable timers_;
  uint8_t retries_ = 0;            // consecutive retransmission timeouts
  uint8_t syn_transmissions_ = 0;  // SYNs or SYN-ACKs sent in the current state
  wire::SeqNum snd_sml_;           // end of the last partial segment sent (Minshall's Nagle)
  uint8_t persist_backoff_ = 0;
  uint8_t keepalive_probes_ = 0;

  // What poll_transmit owes.
  bool syn_pending_ = false;
  bool ack_pending_ = false;    // an ACK must go out now
  bool probe_pending_ = false;  // zero-window probe
  bool keepalive_pending_ = false;
  bool force_send_ = false;  // the SWS override timer fired: send a small segment
  bool drop_text_ = false;   // this segment is a zero-window probe: process all but text
  struct PendingRst {
    wire::SeqNum seq;
    std::optional<wire::SeqNum> ack;
  };
  std::optional<PendingRst> rst_pending_;
  Instant challenge_window_start_;
  uint32_t challenge_acks_in_window_ = 0;

  // Congestion control and loss recovery.
  Scoreboard sb_;
  CongestionControl cc_;
  RecoveryState recovery_ = RecoveryState::kOpen;
  uint64_t recovery_point_ = 0;           // RFC 6675 RecoveryPoint / RFC 6582 "recover" (offset)
  bool fast_retransmit_pending_ = false;  // the episode's first retransmission is owed
  uint32_t dupacks_ = 0;                  // RFC 5681 duplicate ACKs in a row (without SACK)
  uint64_t reno_credit_ = 0;              // without SACK: bytes duplicate ACKs say have left
  // RFC 6937 §3 proportional rate reduction, for the fast recovery in progress (bytes).
  struct Prr {
    uint64_t recover_fs = 0;  // RecoverFS: FlightSize when recovery began
    uint64_t delivered = 0;   // prr_delivered
    uint64_t out = 0;         // prr_out
    uint64_t window = 0;      // pipe + sndcnt as of the last ACK: what may be in flight
  };
  std::optional<Prr> prr_;
  std::optional<Duration> ack_rtt_;  // the RTT sample the ACK being processed gave
  Duration min_rtt_;
  bool cwnd_limited_ = false;          // the last send attempt found cwnd full
  std::optional<Instant> idle_since_;  // when the flight last became empty
  struct Rack {                        // RFC 8985 §6.1
    std::optional<Instant> xmit_ts;
    uint64_t end_seq = 0;
    Duration rtt;
    bool reordering_seen = false;
    uint32_t reo_wnd_mult = 1;
    int reo_wnd_persist = 0;
    std::optional<uint64_t> dsack_round;
  } rack_;
  std::optional<Instant> reo_deadline_;  // RACK's reordering timer
  std::optional<Instant> tlp_deadline_;  // RFC 8985 §7.2 PTO
  bool tlp_pending_ = false;
  struct TlpProbe {
    uint64_t end = 0;
    bool retransmission = false;
  };
  std::optional<TlpProbe> tlp_out_;  // RFC 8985 TLP.end_seq / TLP.is_retrans
  // Undo (RFC 3522, RFC 4015; D-SACK as in RFC 3708 / Linux's undo_retrans).
  bool undo_armed_ = false;
  uint64_t undo_marker_ = 0;            // SND.UNA when the episode began
  uint32_t undo_retrans_ = 0;           // retransmissions of the episode not yet D-SACKed
  std::vector<SackRange> undo_ranges_;  // what the episode retransmitted, not yet D-SACKed
  std::optional<uint32_t> undo_tsval_;  // TSval of the episode's first retransmission
  bool eifel_pending_ = false;          // the first ACK of a retransmission is still awaited
  // Pacing: a token bucket, in millionths of a byte.
  __extension__ __int128 pace_tokens_ = 0;
  std::optional<Instant> pace_refill_;
  std::optional<Instant> pace_wait_;  // data waits for the pacer until then
  // ECN (RFC 3168).
  bool ecn_ok_ = false;
  bool ece_pending_ = false;             // receiver: echo ECE until CWR arrives
  bool cwr_pending_ = false;             // sender: set CWR on the next new data segment
  std::optional<uint64_t> ecn_recover_;  // no new ECN response until this is acknowledged
  bool last_ect_ = false;

  EventQueue events_;
  ConnectionStats stats_;
};

}  // namespace synack::tcp
