// Closing a connection, packet by packet: RFC 9293 §3.10.4 CLOSE, §3.10.5 ABORT, the closing
// states of §3.10.7.4 SEGMENT ARRIVES and the §3.10.8 timeouts, with RFC 5961's challenge
// ACKs, RFC 7323's PAWS and RFC 1122 §4.2.3.5's retransmission limit.
//
// One suite per state: FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT, each
// hit with a SYN, a SYN-ACK, an ACK, data, a FIN, RSTs, an out-of-window segment and an
// unacceptable ACK; the old-timestamp column is ClosePaws (it needs timestamps negotiated).
//
// The numbers are those of the harness fixtures: our ISS is 1000, so a FIN sent without data
// is <SEQ=1001> and is acknowledged by 1002; the peer's ISS is 50000, its FIN <SEQ=50001>,
// acknowledged by 50002. The handshake's RTT sample is zero, so the RTO is min_rto (200 ms).
#include <string>
#include <system_error>
#include <vector>

#include "harness.hpp"

namespace synack::tcp::testing {
namespace {

constexpr uint32_t kIss = Harness::kIss;
constexpr uint32_t kPeerIss = Harness::kPeerIss;
constexpr Duration kRto = Duration::millis(200);        // min_rto after a zero RTT sample
constexpr Duration kDelayedAck = Duration::millis(40);  // Config.delayed_ack
constexpr Duration kTwoMsl = Duration::seconds(60);     // 2 * Config.msl (30 s)
constexpr Duration kTick = Duration::micros(1);

// The earliest timer of the connection in microseconds, -1 when none is armed.
int64_t deadline_us(const Harness& h) {
  const auto d = h.conn.next_deadline();
  return d ? d->as_micros() : -1;
}

std::string error_name(std::error_code e) {
  if (!e) return "";
  if (e == std::errc::connection_reset) return "ECONNRESET";
  if (e == std::errc::timed_out) return "ETIMEDOUT";
  if (e == std::errc::connection_refused) return "ECONNREFUSED";
  return "errno " + std::to_string(e.value());
}

// The events from index `first` on, one line each: "FROM -> TO: cause", "peer-closed",
// "closed", "closed ECONNRESET", "error ECONNRESET".
std::vector<std::string> events_since(const Harness& h, size_t first) {
  std::vector<std::string> out;
  for (size_t i = first; i < h.events.size(); ++i) {
    const Event& e = h.events[i];
    std::string line;
    if (e.kind == EventKind::kStateChanged) {
      line = std::string(to_string(e.from)) + " -> " + std::string(to_string(e.to)) + ": " +
             std::string(e.cause);
    } else {
      line = std::string(to_string(e.kind));
      if (e.error) line.append(" ").append(error_name(e.error));
    }
    out.push_back(line);
  }
  return out;
}

size_t count(const Harness& h, EventKind k) {
  size_t n = 0;
  for (const auto& e : h.events)
    n += e.kind == k ? 1 : 0;
  return n;
}

// The closed event, which must be the last event.
void expect_closed_event(const Harness& h, std::error_code error) {
  ASSERT_FALSE(h.events.empty());
  const Event& last = h.events.back();
  EXPECT_EQ(last.kind, EventKind::kClosed);
  EXPECT_EQ(last.to, State::kClosed);
  EXPECT_EQ(error_name(last.error), error_name(error));
  EXPECT_EQ(count(h, EventKind::kClosed), 1u);
}

std::error_code send_error(Harness& h, const std::string& data) {
  const auto r = h.conn.send(std::as_bytes(std::span(data.data(), data.size())), h.now);
  return r ? std::error_code{} : r.error();
}

const std::error_code kReset = std::make_error_code(std::errc::connection_reset);
const std::error_code kNoError{};

// ==========================================================================================
// The four-way close, both ways (RFC 9293 §3.6, Figures 12 and 13 of §3.6)
// ==========================================================================================

// RFC 9293 §3.6 case 1 (the local user closes first): ESTABLISHED -> FIN_WAIT_1 -> FIN_WAIT_2
// -> TIME_WAIT, and §3.10.8 "If the time-wait timeout expires on a connection, delete the
// TCB, enter the CLOSED state" after 2 MSL.
TEST(CloseActive, FourWayCloseThroughFinWait2AndTimeWait_Rfc9293_3_6) {
  Harness h;
  h.established();
  ASSERT_FALSE(h.conn.close(h.now));
  h.collect();
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = FIN | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait1);

  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait2);

  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = FIN | ACK}, Duration::millis(5));
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  const Instant entered = h.now;
  EXPECT_EQ(deadline_us(h), (entered + kTwoMsl).as_micros());

  h.advance(kTwoMsl - kTick);
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  h.expect_nothing();
  h.advance(kTick);
  EXPECT_EQ(h.conn.state(), State::kClosed);
  h.expect_nothing();
  EXPECT_FALSE(h.conn.error());
  EXPECT_EQ(deadline_us(h), -1);
  expect_closed_event(h, kNoError);
}

// RFC 9293 §3.4.2: TIME_WAIT lasts 2 * MSL, with MSL as configured.
TEST(CloseActive, TimeWaitLastsTwiceTheConfiguredMsl_Rfc9293_3_4_2) {
  Config cfg = Harness::plain_config();
  cfg.msl = Duration::seconds(5);
  Harness h(cfg);
  h.time_wait();
  EXPECT_EQ(deadline_us(h), (h.now + Duration::seconds(10)).as_micros());
  h.advance(Duration::seconds(10) - kTick);
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  h.advance(kTick);
  EXPECT_EQ(h.conn.state(), State::kClosed);
  h.expect_nothing();
  expect_closed_event(h, kNoError);
}

// A FIN that also acknowledges our FIN: one ACK, and TIME-WAIT with no exchange in
// FIN-WAIT-2. RFC 9293 §3.10.7.4 processes the segment step by step: the fifth step (ACK)
// "if the FIN segment is now acknowledged, then enter FIN-WAIT-2 and continue processing in
// that state", then the eighth step (FIN) in FIN-WAIT-2: "Enter the TIME-WAIT state. Start
// the time-wait timer, turn off the other timers." (The FIN-WAIT-1 branch of the eighth step,
// "If our FIN has been ACKed (perhaps in this segment), then enter TIME-WAIT", says the same.)
TEST(CloseActive, FinWithAckOfOurFinGoesToTimeWaitAtOnce_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_1();
  const size_t mark = h.events.size();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = FIN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  EXPECT_EQ(h.conn.snd_una().value(), kIss + 2);
  // The retransmission timer is off: only the time-wait timer runs.
  EXPECT_EQ(deadline_us(h), (h.now + kTwoMsl).as_micros());
  EXPECT_EQ(events_since(h, mark),
            (std::vector<std::string>{"FIN_WAIT_1 -> FIN_WAIT_2: ACK of FIN received",
                                      "peer-closed", "FIN_WAIT_2 -> TIME_WAIT: FIN received"}));
}

// RFC 9293 §3.6 case 2, simultaneous close (Figure 13): FIN_WAIT_1 -> CLOSING -> TIME_WAIT.
TEST(CloseActive, SimultaneousCloseThroughClosing_Rfc9293_3_6) {
  Harness h;
  h.established();
  ASSERT_FALSE(h.conn.close(h.now));
  h.collect();
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = FIN | ACK});
  // The peer's FIN crossed ours: it does not acknowledge our FIN.
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = FIN | ACK}, Duration::millis(10));
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosing);
  // The peer's ACK of our FIN: "if the ACK acknowledges our FIN, then enter the TIME-WAIT
  // state". Nothing is sent: the peer's FIN is already acknowledged.
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 2, .ctl = ACK}, Duration::millis(10));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  EXPECT_EQ(deadline_us(h), (h.now + kTwoMsl).as_micros());
  h.advance(kTwoMsl);
  EXPECT_EQ(h.conn.state(), State::kClosed);
  h.expect_nothing();
  expect_closed_event(h, kNoError);
}

// RFC 9293 §3.10.4 CLOSE in FIN-WAIT-1/2: "Strictly speaking, this is an error" — in any
// case no second FIN.
TEST(CloseActive, SecondCloseSendsNoSecondFin_Rfc9293_3_10_4) {
  Harness h;
  h.fin_wait_1();
  h.conn.close(h.now);
  h.collect();
  h.expect_nothing();
  h.advance(kRto - kTick);
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait1);
}

// RFC 9293 §3.6 (Figure 12, TCP Peer B): CLOSE-WAIT -> LAST-ACK -> CLOSED.
TEST(ClosePassive, FourWayCloseThroughCloseWaitAndLastAck_Rfc9293_3_6) {
  Harness h;
  h.established();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = FIN | ACK});
  h.expect_nothing();  // delayed: a FIN of ours may still carry it (three-segment close)
  EXPECT_EQ(h.conn.state(), State::kCloseWait);
  EXPECT_TRUE(h.saw(EventKind::kPeerClosed));
  EXPECT_TRUE(h.conn.eof());
  h.advance(kDelayedAck);
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();

  ASSERT_FALSE(h.conn.close(h.now));
  h.collect();
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = FIN | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kLastAck);

  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 2, .ctl = ACK}, Duration::millis(10));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_FALSE(h.conn.error());
  EXPECT_EQ(deadline_us(h), -1);  // no TIME_WAIT on this side
  expect_closed_event(h, kNoError);
}

// ==========================================================================================
// The three-segment close (RFC 9293 §3.8.6.3 delayed ACK; the FIN carries the ACK)
// ==========================================================================================

// The application closes within the delayed-ACK time: the FIN rides on the ACK of the peer's
// FIN — FIN, FIN-ACK, ACK: three segments in all.
TEST(CloseThreeSegment, CloseWithinDelayedAckTimeFinCarriesTheAck_Rfc9293_3_8_6_3) {
  Harness h;
  h.established();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = FIN | ACK});
  h.advance(kDelayedAck - kTick);
  h.expect_nothing();
  ASSERT_FALSE(h.conn.close(h.now));
  h.collect();
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = FIN | ACK});
  h.expect_nothing();
  h.advance(kDelayedAck);  // the delayed ACK was carried: nothing left to send
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kLastAck);
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  expect_closed_event(h, kNoError);
}

// The application closes once the delayed-ACK timer has fired: ACK and FIN go separately.
TEST(CloseThreeSegment, CloseAfterDelayedAckTimeSendsFourSegments_Rfc9293_3_8_6_3) {
  Harness h;
  h.established();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = FIN | ACK});
  h.advance(kDelayedAck);
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  ASSERT_FALSE(h.conn.close(h.now));
  h.collect();
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = FIN | ACK});
  h.expect_nothing();
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
}

// ==========================================================================================
// FIN_WAIT_1: our FIN (SEQ=1001) sent, not acknowledged; RCV.NXT = 50001
// ==========================================================================================

// §3.10.7.4 fifth step, FIN-WAIT-1: "if the FIN segment is now acknowledged, then enter
// FIN-WAIT-2". No reply to a pure ACK; the retransmission timer stops.
TEST(CloseFinWait1, AckOfFinEntersFinWait2_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_1();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait2);
  EXPECT_EQ(h.conn.snd_una().value(), kIss + 2);
  h.advance(kRto * 10);  // no FIN retransmission now
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait2);
}

// An ACK that does not cover the FIN (a duplicate) leaves us in FIN-WAIT-1, silently.
TEST(CloseFinWait1, AckNotCoveringFinStaysInFinWait1_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_1();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait1);
  EXPECT_EQ(h.conn.snd_una().value(), kIss + 1);
}

// Half-close, §3.10.7.4 seventh step, FIN-WAIT-1: data is delivered and acknowledged as in
// ESTABLISHED.
TEST(CloseFinWait1, DataIsDeliveredAndAcked_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_1();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = PSH | ACK, .data = "hello"});
  h.expect_nothing();  // delayed ACK
  EXPECT_TRUE(h.saw(EventKind::kReadable));
  h.advance(kDelayedAck);
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 6, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.read(), "hello");
  EXPECT_FALSE(h.conn.eof());
  EXPECT_EQ(h.conn.state(), State::kFinWait1);
}

// Eighth step, FIN-WAIT-1: a FIN that does not acknowledge ours -> CLOSING, acknowledged.
TEST(CloseFinWait1, FinWithoutAckOfOurFinEntersClosing_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_1();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = FIN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosing);
  EXPECT_TRUE(h.saw(EventKind::kPeerClosed));
}

// Fourth step / RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK
// <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, whatever its sequence number.
TEST(CloseFinWait1, SynGetsChallengeAck_Rfc5961_4_2) {
  Harness h;
  h.fin_wait_1();
  h.send(Seg{.seq = kPeerIss + 1001, .ctl = SYN});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait1);
}

// First step: an old duplicate SYN-ACK is not acceptable: ACK it and drop it.
TEST(CloseFinWait1, OldSynAckGetsAck_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_1();
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait1);
}

// Second step, FIN-WAIT-1: an exact RST (RFC 5961 §3.2: SEG.SEQ = RCV.NXT) -> "connection
// reset", CLOSED.
TEST(CloseFinWait1, ExactRstResetsTheConnection_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_1();
  const size_t mark = h.events.size();
  h.send(Seg{.seq = kPeerIss + 1, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(h.conn.error(), kReset);
  EXPECT_EQ(events_since(h, mark),
            (std::vector<std::string>{"error ECONNRESET", "FIN_WAIT_1 -> CLOSED: RST received",
                                      "closed ECONNRESET"}));
  h.advance(kRto * 10);  // no FIN retransmission after the reset
  h.expect_nothing();
}

// RFC 5961 §3.2: an in-window RST that is not exactly at RCV.NXT gets a challenge ACK.
TEST(CloseFinWait1, InexactRstGetsChallengeAck_Rfc5961_3_2) {
  Harness h;
  h.fin_wait_1();
  h.send(Seg{.seq = kPeerIss + 101, .ctl = RST});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait1);
  EXPECT_FALSE(h.conn.error());
}

// First step: an out-of-window RST is dropped silently.
TEST(CloseFinWait1, OutOfWindowRstIsDropped_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_1();
  h.send(Seg{.seq = kPeerIss + 1 + 100000, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait1);
}

// First step: an out-of-window segment gets <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and is
// dropped — its ACK of our FIN does not count.
TEST(CloseFinWait1, OutOfWindowSegmentGetsAckAndIsDropped_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_1();
  h.send(Seg{.seq = kPeerIss + 1 + 100000, .ack = kIss + 2, .ctl = PSH | ACK, .data = "x"});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait1);
  EXPECT_EQ(h.conn.snd_una().value(), kIss + 1);
}

// Fifth step: "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send an ACK,
// drop the segment, and return" — its data is not delivered.
TEST(CloseFinWait1, UnacceptableAckGetsAckAndIsDropped_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_1();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 3, .ctl = PSH | ACK, .data = "x"});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait1);
  EXPECT_EQ(h.conn.readable(), 0u);
  EXPECT_EQ(h.conn.snd_una().value(), kIss + 1);
}

// RFC 9293 §3.8.1 / RFC 6298 §5.4–5.5: the FIN is retransmitted on RTO, the timer doubling
// each time (200, 400, 800 ms).
TEST(CloseFinWait1, FinRetransmittedOnRtoWithBackoff_Rfc6298_5_5) {
  Harness h;
  h.fin_wait_1();
  ASSERT_EQ(h.conn.rtt().rto(), kRto);
  Duration wait = kRto;
  for (int i = 0; i < 3; ++i) {
    h.advance(wait - kTick);
    h.expect_nothing();
    h.advance(kTick);
    h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = FIN | ACK});
    h.expect_nothing();
    EXPECT_EQ(h.conn.state(), State::kFinWait1);
    wait = wait * 2;
  }
  // The retransmitted FIN is acknowledged: FIN-WAIT-2, no more retransmissions.
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait2);
  h.advance(wait * 4);
  h.expect_nothing();
}

// RFC 1122 §4.2.3.5 R2 (RFC 9293 §3.8.3): after max_retransmits retransmissions of the FIN
// the connection is closed with ETIMEDOUT.
TEST(CloseFinWait1, FinRetransmissionLimitTimesOut_Rfc1122_4_2_3_5) {
  Config cfg = Harness::plain_config();
  cfg.max_retransmits = 3;
  Harness h(cfg);
  h.fin_wait_1();
  const size_t mark = h.events.size();
  h.advance(kRto);  // t+200 ms
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = FIN | ACK});
  h.advance(kRto * 2);  // t+600 ms
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = FIN | ACK});
  h.advance(kRto * 4);  // t+1400 ms
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = FIN | ACK});
  h.expect_nothing();
  h.advance(kRto * 8 - kTick);
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait1);
  h.advance(kTick);  // t+3000 ms: the fourth expiry gives up
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(h.conn.error(), std::make_error_code(std::errc::timed_out));
  // The first expiry started timeout recovery (the FIN is what it resends).
  EXPECT_EQ(events_since(h, mark),
            (std::vector<std::string>{"recovery", "error ETIMEDOUT",
                                      "FIN_WAIT_1 -> CLOSED: retransmission limit reached",
                                      "closed ETIMEDOUT"}));
}

// RFC 9293 §3.10.2 SEND in FIN-WAIT-1: "Return 'error: connection closing'" (EPIPE).
TEST(CloseFinWait1, SendAfterCloseFailsWithEpipe_Rfc9293_3_10_2) {
  Harness h;
  h.fin_wait_1();
  EXPECT_EQ(send_error(h, "late"), std::make_error_code(std::errc::broken_pipe));
  h.expect_nothing();
  EXPECT_EQ(h.conn.send_space(), 0u);
}

// ==========================================================================================
// FIN_WAIT_2: our FIN acknowledged; SND.NXT = 1002, RCV.NXT = 50001
// ==========================================================================================

// Half-close: in FIN-WAIT-2 we keep receiving, delivering and acknowledging data (every
// second full segment at once, RFC 9293 §3.8.6.3) until the peer's FIN; recv() returns the
// data, then end of stream.
TEST(CloseFinWait2, DataIsDeliveredAndAckedUntilThePeersFin_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_2();
  const std::string a(1000, 'a');
  const std::string b(1000, 'b');
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = ACK, .data = a});
  h.expect_nothing();
  h.send(Seg{.seq = kPeerIss + 1001, .ack = kIss + 2, .ctl = ACK, .data = b});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2001, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait2);
  EXPECT_FALSE(h.saw(EventKind::kPeerClosed));

  h.send(Seg{.seq = kPeerIss + 2001, .ack = kIss + 2, .ctl = FIN | PSH | ACK, .data = "end"});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2005, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  EXPECT_TRUE(h.saw(EventKind::kPeerClosed));

  EXPECT_FALSE(h.conn.eof());
  EXPECT_EQ(h.read(), a + b + "end");
  EXPECT_TRUE(h.conn.eof());
  EXPECT_EQ(h.read(), "");
}

// A plain ACK (here a window update) needs no reply.
TEST(CloseFinWait2, AckIsNotAnswered_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_2();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = ACK, .wnd = 30000});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait2);
  EXPECT_EQ(h.conn.snd_wnd(), 30000u);
}

// Eighth step, FIN-WAIT-2: "Enter the TIME-WAIT state. Start the time-wait timer, turn off
// the other timers." The FIN is acknowledged at once.
TEST(CloseFinWait2, FinEntersTimeWaitAndIsAckedAtOnce_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_2();
  const size_t mark = h.events.size();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = FIN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  EXPECT_EQ(deadline_us(h), (h.now + kTwoMsl).as_micros());
  EXPECT_EQ(events_since(h, mark),
            (std::vector<std::string>{"peer-closed", "FIN_WAIT_2 -> TIME_WAIT: FIN received"}));
}

// RFC 5961 §4.2: SYN -> challenge ACK.
TEST(CloseFinWait2, SynGetsChallengeAck_Rfc5961_4_2) {
  Harness h;
  h.fin_wait_2();
  h.send(Seg{.seq = kPeerIss + 1001, .ctl = SYN});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait2);
}

TEST(CloseFinWait2, OldSynAckGetsAck_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_2();
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait2);
}

// Second step, FIN-WAIT-2: exact RST -> "connection reset", CLOSED.
TEST(CloseFinWait2, ExactRstResetsTheConnection_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_2();
  const size_t mark = h.events.size();
  h.send(Seg{.seq = kPeerIss + 1, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(h.conn.error(), kReset);
  EXPECT_EQ(events_since(h, mark),
            (std::vector<std::string>{"error ECONNRESET", "FIN_WAIT_2 -> CLOSED: RST received",
                                      "closed ECONNRESET"}));
}

TEST(CloseFinWait2, InexactRstGetsChallengeAck_Rfc5961_3_2) {
  Harness h;
  h.fin_wait_2();
  h.send(Seg{.seq = kPeerIss + 2, .ctl = RST});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait2);
}

TEST(CloseFinWait2, OutOfWindowRstIsDropped_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_2();
  h.send(Seg{.seq = kPeerIss - 1000, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait2);
}

// First step: an out-of-window FIN gets an ACK and does not end the peer's stream.
TEST(CloseFinWait2, OutOfWindowFinGetsAckAndIsDropped_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_2();
  h.send(Seg{.seq = kPeerIss + 1 + 100000, .ack = kIss + 2, .ctl = FIN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait2);
  EXPECT_FALSE(h.saw(EventKind::kPeerClosed));
}

// Fifth step: SEG.ACK > SND.NXT -> ACK and drop: the FIN on it is not processed.
TEST(CloseFinWait2, UnacceptableAckGetsAckAndFinIsDropped_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_2();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 3, .ctl = FIN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait2);
  EXPECT_FALSE(h.saw(EventKind::kPeerClosed));
}

TEST(CloseFinWait2, SendAfterCloseFailsWithEpipe_Rfc9293_3_10_2) {
  Harness h;
  h.fin_wait_2();
  EXPECT_EQ(send_error(h, "late"), std::make_error_code(std::errc::broken_pipe));
  h.expect_nothing();
}

// ==========================================================================================
// CLOSE_WAIT: the peer's FIN received and acknowledged; SND.NXT = 1001, RCV.NXT = 50002
// ==========================================================================================

// Half-close, the other way: in CLOSE-WAIT we keep sending.
TEST(CloseCloseWait, WeKeepSendingData_Rfc9293_3_10_2) {
  Harness h;
  h.close_wait();
  EXPECT_EQ(h.write("abc"), 3u);
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = PSH | ACK, .data = "abc"});
  h.expect_nothing();
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 4, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.snd_una().value(), kIss + 4);
  EXPECT_EQ(h.conn.state(), State::kCloseWait);
  ASSERT_FALSE(h.conn.close(h.now));
  h.collect();
  h.expect(Seg{.seq = kIss + 4, .ack = kPeerIss + 2, .ctl = FIN | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kLastAck);
}

// RFC 9293 §3.10.4 CLOSE in CLOSE-WAIT: "Queue this request until all preceding SENDs have
// been segmentized; then send a FIN segment". The peer sent no MSS option (536, §3.7.1): of
// 1500 octets two full segments go, Nagle holds the last 428 when close() comes, and the FIN
// goes on that segment, after the data.
TEST(CloseCloseWait, FinFollowsQueuedData_Rfc9293_3_10_4) {
  Harness h;
  h.close_wait();
  const std::string data(1500, 'd');
  EXPECT_EQ(h.write(data), 1500u);
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = ACK, .data = data.substr(0, 536)});
  h.expect(Seg{.seq = kIss + 537, .ack = kPeerIss + 2, .ctl = ACK, .data = data.substr(536, 536)});
  // Minshall's Nagle: full segments in flight do not hold back the write's last, partial
  // segment.
  h.expect(
      Seg{.seq = kIss + 1073, .ack = kPeerIss + 2, .ctl = PSH | ACK, .data = data.substr(1072)});
  h.expect_nothing();
  ASSERT_FALSE(h.conn.close(h.now));
  h.collect();
  h.expect(Seg{.seq = kIss + 1501, .ack = kPeerIss + 2, .ctl = FIN | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kLastAck);
  EXPECT_EQ(send_error(h, "more"), std::make_error_code(std::errc::broken_pipe));
  // Everything, FIN included, acknowledged: CLOSED.
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 1502, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  expect_closed_event(h, kNoError);
}

// RFC 9293 §3.10.3 RECEIVE in CLOSE-WAIT: "return any remaining text"; then end of stream.
TEST(CloseCloseWait, RecvReturnsTheDataThenEof_Rfc9293_3_10_3) {
  Harness h;
  h.established();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = PSH | ACK, .data = "hello"});
  h.send(Seg{.seq = kPeerIss + 6, .ack = kIss + 1, .ctl = FIN | ACK});
  EXPECT_EQ(h.conn.state(), State::kCloseWait);
  EXPECT_TRUE(h.saw(EventKind::kPeerClosed));
  EXPECT_FALSE(h.conn.eof());  // data still to read
  EXPECT_EQ(h.read(), "hello");
  EXPECT_TRUE(h.conn.eof());
  EXPECT_EQ(h.read(), "");
  EXPECT_TRUE(h.conn.eof());
}

TEST(CloseCloseWait, SynGetsChallengeAck_Rfc5961_4_2) {
  Harness h;
  h.close_wait();
  h.send(Seg{.seq = kPeerIss + 1002, .ctl = SYN});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kCloseWait);
}

TEST(CloseCloseWait, OldSynAckGetsAck_Rfc9293_3_10_7_4) {
  Harness h;
  h.close_wait();
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kCloseWait);
}

// A duplicate ACK needs no reply.
TEST(CloseCloseWait, AckIsNotAnswered_Rfc9293_3_10_7_4) {
  Harness h;
  h.close_wait();
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kCloseWait);
}

// A retransmitted FIN is a duplicate (first step: ACK it); eighth step, CLOSE-WAIT: "Remain
// in the CLOSE-WAIT state". The application hears of the FIN once.
TEST(CloseCloseWait, RetransmittedFinIsAckedAgain_Rfc9293_3_10_7_4) {
  Harness h;
  h.close_wait();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = FIN | ACK});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kCloseWait);
  EXPECT_EQ(count(h, EventKind::kPeerClosed), 1u);
}

// Seventh step, CLOSE-WAIT: "This should not occur since a FIN has been received from the
// remote side. Ignore the segment text."
TEST(CloseCloseWait, DataAfterThePeersFinIsIgnored_Rfc9293_3_10_7_4) {
  Harness h;
  h.close_wait();
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 1, .ctl = PSH | ACK, .data = "late"});
  h.expect_nothing();
  h.advance(kDelayedAck);
  h.expect_nothing();
  EXPECT_EQ(h.conn.readable(), 0u);
  EXPECT_EQ(h.conn.rcv_nxt().value(), kPeerIss + 2);
  EXPECT_EQ(h.conn.state(), State::kCloseWait);
}

// Second step, CLOSE-WAIT: exact RST -> "connection reset", CLOSED.
TEST(CloseCloseWait, ExactRstResetsTheConnection_Rfc9293_3_10_7_4) {
  Harness h;
  h.close_wait();
  const size_t mark = h.events.size();
  h.send(Seg{.seq = kPeerIss + 2, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(h.conn.error(), kReset);
  EXPECT_EQ(events_since(h, mark),
            (std::vector<std::string>{"error ECONNRESET", "CLOSE_WAIT -> CLOSED: RST received",
                                      "closed ECONNRESET"}));
}

TEST(CloseCloseWait, InexactRstGetsChallengeAck_Rfc5961_3_2) {
  Harness h;
  h.close_wait();
  h.send(Seg{.seq = kPeerIss + 3, .ctl = RST});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kCloseWait);
}

TEST(CloseCloseWait, OutOfWindowSegmentGetsAck_Rfc9293_3_10_7_4) {
  Harness h;
  h.close_wait();
  h.send(Seg{.seq = kPeerIss + 2 + 100000, .ack = kIss + 1, .ctl = ACK});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kCloseWait);
}

TEST(CloseCloseWait, UnacceptableAckGetsAck_Rfc9293_3_10_7_4) {
  Harness h;
  h.close_wait();
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 50, .ctl = ACK});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kCloseWait);
  EXPECT_EQ(h.conn.snd_una().value(), kIss + 1);
}

// ==========================================================================================
// CLOSING: both FINs crossed, ours (SEQ=1001) unacknowledged; RCV.NXT = 50002
// ==========================================================================================

// Fifth step, CLOSING: "if the ACK acknowledges our FIN, then enter the TIME-WAIT state".
// A pure ACK gets no reply: the peer's FIN was acknowledged when it arrived.
TEST(CloseClosing, AckOfFinEntersTimeWait_Rfc9293_3_10_7_4) {
  Harness h;
  h.closing();
  const size_t mark = h.events.size();
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 2, .ctl = ACK}, Duration::millis(10));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  EXPECT_EQ(deadline_us(h), (h.now + kTwoMsl).as_micros());
  EXPECT_EQ(events_since(h, mark),
            (std::vector<std::string>{"CLOSING -> TIME_WAIT: ACK of FIN received"}));
}

// "... otherwise, ignore the segment."
TEST(CloseClosing, AckNotCoveringFinIsIgnored_Rfc9293_3_10_7_4) {
  Harness h;
  h.closing();
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosing);
}

// RFC 9293 §3.8.1: our FIN is retransmitted on RTO in CLOSING too.
TEST(CloseClosing, FinRetransmittedOnRto_Rfc6298_5_4) {
  Harness h;
  h.closing();
  h.advance(kRto - kTick);
  h.expect_nothing();
  h.advance(kTick);
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = FIN | ACK});
  h.expect_nothing();
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
}

// The peer retransmits its FIN (our ACK was lost): first step, a duplicate — ACK it.
// Eighth step, CLOSING: "Remain in the CLOSING state".
TEST(CloseClosing, RetransmittedFinIsAcked_Rfc9293_3_10_7_4) {
  Harness h;
  h.closing();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = FIN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosing);
}

TEST(CloseClosing, SynGetsChallengeAck_Rfc5961_4_2) {
  Harness h;
  h.closing();
  h.send(Seg{.seq = kPeerIss + 1002, .ctl = SYN});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosing);
}

TEST(CloseClosing, OldSynAckGetsAck_Rfc9293_3_10_7_4) {
  Harness h;
  h.closing();
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosing);
}

// Seventh step, CLOSING: "Ignore the segment text."
TEST(CloseClosing, DataAfterThePeersFinIsIgnored_Rfc9293_3_10_7_4) {
  Harness h;
  h.closing();
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 1, .ctl = PSH | ACK, .data = "late"});
  h.expect_nothing();
  EXPECT_EQ(h.conn.readable(), 0u);
  EXPECT_EQ(h.conn.state(), State::kClosing);
}

// Second step, CLOSING: "If the RST bit is set, then enter the CLOSED state, delete the TCB,
// and return" — no error for the user, who has closed already.
TEST(CloseClosing, ExactRstClosesWithoutError_Rfc9293_3_10_7_4) {
  Harness h;
  h.closing();
  const size_t mark = h.events.size();
  h.send(Seg{.seq = kPeerIss + 2, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_FALSE(h.conn.error());
  EXPECT_EQ(events_since(h, mark),
            (std::vector<std::string>{"CLOSING -> CLOSED: RST received", "closed"}));
  h.advance(kRto * 10);
  h.expect_nothing();
}

TEST(CloseClosing, InexactRstGetsChallengeAck_Rfc5961_3_2) {
  Harness h;
  h.closing();
  h.send(Seg{.seq = kPeerIss + 500, .ctl = RST});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosing);
}

TEST(CloseClosing, OutOfWindowSegmentGetsAck_Rfc9293_3_10_7_4) {
  Harness h;
  h.closing();
  h.send(Seg{.seq = kPeerIss + 2 + 100000, .ack = kIss + 2, .ctl = ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosing);
}

TEST(CloseClosing, UnacceptableAckGetsAck_Rfc9293_3_10_7_4) {
  Harness h;
  h.closing();
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 3, .ctl = ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosing);
}

TEST(CloseClosing, SendAfterCloseFailsWithEpipe_Rfc9293_3_10_2) {
  Harness h;
  h.closing();
  EXPECT_EQ(send_error(h, "late"), std::make_error_code(std::errc::broken_pipe));
  h.expect_nothing();
}

// ==========================================================================================
// LAST_ACK: our FIN (SEQ=1001) sent after the peer's; RCV.NXT = 50002
// ==========================================================================================

// Fifth step, LAST-ACK: "If our FIN is now acknowledged, delete the TCB, enter the CLOSED
// state, and return."
TEST(CloseLastAck, AckOfFinCloses_Rfc9293_3_10_7_4) {
  Harness h;
  h.last_ack();
  const size_t mark = h.events.size();
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_FALSE(h.conn.error());
  EXPECT_EQ(deadline_us(h), -1);
  EXPECT_EQ(events_since(h, mark),
            (std::vector<std::string>{"LAST_ACK -> CLOSED: ACK of FIN received", "closed"}));
}

TEST(CloseLastAck, AckNotCoveringFinKeepsLastAck_Rfc9293_3_10_7_4) {
  Harness h;
  h.last_ack();
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kLastAck);
}

// RFC 9293 §3.8.1 / RFC 6298 §5.5: our FIN is retransmitted on RTO, with backoff.
TEST(CloseLastAck, FinRetransmittedOnRtoWithBackoff_Rfc6298_5_5) {
  Harness h;
  h.last_ack();
  h.advance(kRto - kTick);
  h.expect_nothing();
  h.advance(kTick);
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = FIN | ACK});
  h.expect_nothing();
  h.advance(kRto * 2 - kTick);
  h.expect_nothing();
  h.advance(kTick);
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = FIN | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kLastAck);
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
}

// The peer retransmits its FIN: ACK it (first step, duplicate); stay in LAST-ACK.
TEST(CloseLastAck, RetransmittedFinIsAcked_Rfc9293_3_10_7_4) {
  Harness h;
  h.last_ack();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = FIN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kLastAck);
}

TEST(CloseLastAck, SynGetsChallengeAck_Rfc5961_4_2) {
  Harness h;
  h.last_ack();
  h.send(Seg{.seq = kPeerIss + 1002, .ctl = SYN});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kLastAck);
}

TEST(CloseLastAck, OldSynAckGetsAck_Rfc9293_3_10_7_4) {
  Harness h;
  h.last_ack();
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kLastAck);
}

// Seventh step, LAST-ACK: "Ignore the segment text."
TEST(CloseLastAck, DataAfterThePeersFinIsIgnored_Rfc9293_3_10_7_4) {
  Harness h;
  h.last_ack();
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 1, .ctl = PSH | ACK, .data = "late"});
  h.expect_nothing();
  EXPECT_EQ(h.conn.readable(), 0u);
  EXPECT_EQ(h.conn.state(), State::kLastAck);
}

// Second step, LAST-ACK: RST -> CLOSED, no error.
TEST(CloseLastAck, ExactRstClosesWithoutError_Rfc9293_3_10_7_4) {
  Harness h;
  h.last_ack();
  const size_t mark = h.events.size();
  h.send(Seg{.seq = kPeerIss + 2, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_FALSE(h.conn.error());
  EXPECT_EQ(events_since(h, mark),
            (std::vector<std::string>{"LAST_ACK -> CLOSED: RST received", "closed"}));
  h.advance(kRto * 10);  // no FIN retransmission after it
  h.expect_nothing();
}

TEST(CloseLastAck, InexactRstGetsChallengeAck_Rfc5961_3_2) {
  Harness h;
  h.last_ack();
  h.send(Seg{.seq = kPeerIss + 3, .ctl = RST});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kLastAck);
}

TEST(CloseLastAck, OutOfWindowSegmentGetsAck_Rfc9293_3_10_7_4) {
  Harness h;
  h.last_ack();
  h.send(Seg{.seq = kPeerIss + 2 + 100000, .ack = kIss + 2, .ctl = ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kLastAck);  // its ACK of our FIN does not count
}

// RFC 5961 §5.2 (all synchronized states): SEG.ACK > SND.NXT -> ACK and drop.
TEST(CloseLastAck, UnacceptableAckGetsAck_Rfc5961_5_2) {
  Harness h;
  h.last_ack();
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 3, .ctl = ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kLastAck);
}

TEST(CloseLastAck, SendAfterCloseFailsWithEpipe_Rfc9293_3_10_2) {
  Harness h;
  h.last_ack();
  EXPECT_EQ(send_error(h, "late"), std::make_error_code(std::errc::broken_pipe));
  h.expect_nothing();
}

// ==========================================================================================
// TIME_WAIT: SND.NXT = 1002, RCV.NXT = 50002, the 2 MSL timer running
// ==========================================================================================

// Fifth/eighth step, TIME-WAIT: "The only thing that can arrive in this state is a
// retransmission of the remote FIN. Acknowledge it, and restart the 2 MSL timeout."
TEST(CloseTimeWait, RetransmittedFinIsAckedAndRestartsTheTimer_Rfc9293_3_10_7_4) {
  Harness h;
  h.time_wait();
  h.advance(Duration::seconds(10));
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = FIN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  const Instant restarted = h.now;
  EXPECT_EQ(deadline_us(h), (restarted + kTwoMsl).as_micros());
  h.advance(kTwoMsl - kTick);  // past the original expiry (50 s from here)
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  h.expect_nothing();
  h.advance(kTick);
  EXPECT_EQ(h.conn.state(), State::kClosed);
  h.expect_nothing();
  expect_closed_event(h, kNoError);
}

// Second step, TIME-WAIT: "If the RST bit is set, then enter the CLOSED state, delete the
// TCB, and return." RFC 1337 describes the TIME-WAIT assassination this allows and
// recommends ignoring RSTs in TIME-WAIT; synack follows RFC 9293 (as Linux does by default,
// tcp_rfc1337 = 0).
TEST(CloseTimeWait, ExactRstCloses_Rfc9293_3_10_7_4_NotRfc1337) {
  Harness h;
  h.time_wait();
  const size_t mark = h.events.size();
  h.send(Seg{.seq = kPeerIss + 2, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_FALSE(h.conn.error());
  EXPECT_EQ(deadline_us(h), -1);
  EXPECT_EQ(events_since(h, mark),
            (std::vector<std::string>{"TIME_WAIT -> CLOSED: RST received", "closed"}));
}

TEST(CloseTimeWait, InexactRstGetsChallengeAck_Rfc5961_3_2) {
  Harness h;
  h.time_wait();
  const int64_t expiry = deadline_us(h);
  h.send(Seg{.seq = kPeerIss + 10, .ctl = RST});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  EXPECT_EQ(deadline_us(h), expiry);
}

// Fourth step / RFC 5961 §4.2: a SYN in TIME-WAIT gets a challenge ACK and does not restart
// the timer. A peer that really started a new connection answers the ACK with an exact RST,
// which closes the TIME-WAIT connection (second step) so that its next SYN can succeed.
TEST(CloseTimeWait, SynGetsChallengeAckThenThePeersRstCloses_Rfc5961_4_2) {
  Harness h;
  h.time_wait();
  const int64_t expiry = deadline_us(h);
  h.send(Seg{.seq = kPeerIss + 1002, .ctl = SYN}, Duration::seconds(1));
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  EXPECT_EQ(deadline_us(h), expiry);
  h.send(Seg{.seq = kPeerIss + 2, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_FALSE(h.conn.error());
}

// A SYN with a new ISN beyond the window: not acceptable, answered by an ACK (first step;
// RFC 5961 §4.2 sends the same segment "irrespective of the sequence number").
TEST(CloseTimeWait, SynBeyondTheWindowGetsAck_Rfc5961_4_2) {
  Harness h;
  h.time_wait();
  const int64_t expiry = deadline_us(h);
  h.send(Seg{.seq = kPeerIss + 1'000'000, .ctl = SYN});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  EXPECT_EQ(deadline_us(h), expiry);
}

TEST(CloseTimeWait, OldSynAckGetsAck_Rfc9293_3_10_7_4) {
  Harness h;
  h.time_wait();
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
}

// An ACK is not a FIN retransmission: no reply, the timer is not restarted.
TEST(CloseTimeWait, AckIsIgnoredAndDoesNotRestartTheTimer_Rfc9293_3_10_7_4) {
  Harness h;
  h.time_wait();
  const int64_t expiry = deadline_us(h);
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 2, .ctl = ACK}, Duration::seconds(5));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  EXPECT_EQ(deadline_us(h), expiry);
}

// The peer sent "hello"+FIN and retransmits "hello" (our ACK was lost or delayed): a
// duplicate, acknowledged (first step). The timer restarts only for the FIN.
TEST(CloseTimeWait, RetransmittedDataGetsAck_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_2();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = FIN | PSH | ACK, .data = "hello"});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 7, .ctl = ACK});
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  const int64_t expiry = deadline_us(h);

  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = PSH | ACK, .data = "hello"},
         Duration::seconds(1));
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 7, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(deadline_us(h), expiry);

  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = FIN | PSH | ACK, .data = "hello"},
         Duration::seconds(1));
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 7, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(deadline_us(h), (h.now + kTwoMsl).as_micros());
  EXPECT_EQ(h.read(), "hello");
  EXPECT_TRUE(h.conn.eof());
}

// Seventh step, TIME-WAIT: new text after the FIN is ignored.
TEST(CloseTimeWait, DataAfterThePeersFinIsIgnored_Rfc9293_3_10_7_4) {
  Harness h;
  h.time_wait();
  const int64_t expiry = deadline_us(h);
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 2, .ctl = PSH | ACK, .data = "late"});
  h.expect_nothing();
  EXPECT_EQ(h.conn.readable(), 0u);
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  EXPECT_EQ(deadline_us(h), expiry);
}

TEST(CloseTimeWait, OutOfWindowSegmentGetsAck_Rfc9293_3_10_7_4) {
  Harness h;
  h.time_wait();
  const int64_t expiry = deadline_us(h);
  h.send(Seg{.seq = kPeerIss + 2 + 100000, .ack = kIss + 2, .ctl = FIN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  EXPECT_EQ(deadline_us(h), expiry);
}

// RFC 5961 §5.2 (all synchronized states): SEG.ACK > SND.NXT -> ACK and drop.
TEST(CloseTimeWait, UnacceptableAckGetsAck_Rfc5961_5_2) {
  Harness h;
  h.time_wait();
  const int64_t expiry = deadline_us(h);
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 3, .ctl = ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  EXPECT_EQ(deadline_us(h), expiry);
}

TEST(CloseTimeWait, SendFailsWithEpipe_Rfc9293_3_10_2) {
  Harness h;
  h.time_wait();
  EXPECT_EQ(send_error(h, "late"), std::make_error_code(std::errc::broken_pipe));
  h.expect_nothing();
}

// ==========================================================================================
// A FIN after a hole (RFC 9293 §3.10.7.4 eighth step: "If the FIN bit is set, signal the
// user ... advance RCV.NXT over the FIN" — only once everything before it has arrived)
// ==========================================================================================

// The data before a bare FIN was lost: the FIN waits; when the hole fills, CLOSE_WAIT. The
// segment that fills the gap is acknowledged at once (RFC 5681 §4.2: "a TCP receiver SHOULD
// send an immediate ACK when the incoming segment fills in all or part of a gap").
TEST(CloseOutOfOrderFin, BareFinWaitsForTheHole_Rfc9293_3_10_7_4) {
  Harness h;
  h.established();
  h.send(Seg{.seq = kPeerIss + 6, .ack = kIss + 1, .ctl = FIN | ACK});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});  // duplicate ACK
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  EXPECT_FALSE(h.saw(EventKind::kPeerClosed));
  EXPECT_FALSE(h.conn.eof());

  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = PSH | ACK, .data = "hello"});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 7, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kCloseWait);
  EXPECT_TRUE(h.saw(EventKind::kPeerClosed));
  EXPECT_EQ(h.read(), "hello");
  EXPECT_TRUE(h.conn.eof());
}

// The same with data on the FIN segment: "hello" lost, "world"+FIN held out of order.
TEST(CloseOutOfOrderFin, DataAndFinWaitForTheHole_Rfc9293_3_10_7_4) {
  Harness h;
  h.established();
  h.send(Seg{.seq = kPeerIss + 6, .ack = kIss + 1, .ctl = FIN | PSH | ACK, .data = "world"});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  EXPECT_EQ(h.conn.readable(), 0u);

  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = PSH | ACK, .data = "hello"});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 12, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kCloseWait);
  EXPECT_EQ(h.read(), "helloworld");
  EXPECT_TRUE(h.conn.eof());
}

// The same hole in FIN-WAIT-2: the FIN moves us to TIME-WAIT only once the hole fills.
TEST(CloseOutOfOrderFin, InFinWait2TimeWaitWaitsForTheHole_Rfc9293_3_10_7_4) {
  Harness h;
  h.fin_wait_2();
  h.send(Seg{.seq = kPeerIss + 6, .ack = kIss + 2, .ctl = FIN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait2);
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = PSH | ACK, .data = "hello"});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 7, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kTimeWait);
  EXPECT_EQ(deadline_us(h), (h.now + kTwoMsl).as_micros());
}

// ==========================================================================================
// ABORT (RFC 9293 §3.10.5)
// ==========================================================================================

// "ESTABLISHED STATE, FIN-WAIT-1 STATE, FIN-WAIT-2 STATE, CLOSE-WAIT STATE: Send a reset
// segment: <SEQ=SND.NXT><CTL=RST> ... enter CLOSED state".
void expect_abort_sends_rst(Harness& h, uint32_t snd_nxt) {
  const State from = h.conn.state();
  h.conn.abort(h.now);
  h.collect();
  h.expect(Seg{.seq = snd_nxt, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(deadline_us(h), -1);
  ASSERT_GE(h.events.size(), 2u);
  const Event& change = h.events[h.events.size() - 2];
  EXPECT_EQ(change.kind, EventKind::kStateChanged);
  EXPECT_EQ(change.from, from);
  expect_closed_event(h, kNoError);
  h.advance(Duration::seconds(10));
  h.expect_nothing();
}

// "CLOSING STATE, LAST-ACK STATE, TIME-WAIT STATE: Respond with 'ok' and delete the TCB".
void expect_abort_is_silent(Harness& h) {
  h.conn.abort(h.now);
  h.collect();
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(deadline_us(h), -1);
  expect_closed_event(h, kNoError);
  h.advance(kTwoMsl);
  h.expect_nothing();
}

TEST(CloseAbort, InEstablishedSendsRst_Rfc9293_3_10_5) {
  Harness h;
  h.established();
  expect_abort_sends_rst(h, kIss + 1);
}

TEST(CloseAbort, InCloseWaitSendsRst_Rfc9293_3_10_5) {
  Harness h;
  h.close_wait();
  expect_abort_sends_rst(h, kIss + 1);
}

TEST(CloseAbort, InFinWait1SendsRstAtSndNxt_Rfc9293_3_10_5) {
  Harness h;
  h.fin_wait_1();
  expect_abort_sends_rst(h, kIss + 2);
}

TEST(CloseAbort, InFinWait2SendsRst_Rfc9293_3_10_5) {
  Harness h;
  h.fin_wait_2();
  expect_abort_sends_rst(h, kIss + 2);
}

TEST(CloseAbort, InTimeWaitIsSilent_Rfc9293_3_10_5) {
  Harness h;
  h.time_wait();
  expect_abort_is_silent(h);
}

TEST(CloseAbort, InLastAckIsSilent_Rfc9293_3_10_5) {
  Harness h;
  h.last_ack();
  expect_abort_is_silent(h);
}

TEST(CloseAbort, InClosingIsSilent_Rfc9293_3_10_5) {
  Harness h;
  h.closing();
  expect_abort_is_silent(h);
}

// ==========================================================================================
// Events: peer-closed on the peer's FIN, closed at the end, state changes with causes
// ==========================================================================================

TEST(CloseEvents, ActiveCloseInOrder_Rfc9293_3_6) {
  Harness h;
  h.established();
  const size_t mark = h.events.size();
  h.conn.close(h.now);
  h.collect();
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = FIN | ACK});
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = ACK});
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = FIN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.advance(kTwoMsl);
  h.expect_nothing();
  EXPECT_EQ(events_since(h, mark),
            (std::vector<std::string>{
                "ESTABLISHED -> FIN_WAIT_1: close(): FIN queued after the data",
                "FIN_WAIT_1 -> FIN_WAIT_2: ACK of FIN received",
                "peer-closed",
                "FIN_WAIT_2 -> TIME_WAIT: FIN received",
                "TIME_WAIT -> CLOSED: 2MSL timeout in TIME_WAIT",
                "closed",
            }));
}

TEST(CloseEvents, PassiveCloseInOrder_Rfc9293_3_6) {
  Harness h;
  h.established();
  const size_t mark = h.events.size();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = FIN | ACK});
  h.conn.close(h.now);
  h.collect();
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = FIN | ACK});
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(events_since(h, mark), (std::vector<std::string>{
                                       "peer-closed",
                                       "ESTABLISHED -> CLOSE_WAIT: FIN received",
                                       "CLOSE_WAIT -> LAST_ACK: close() after the peer's FIN",
                                       "LAST_ACK -> CLOSED: ACK of FIN received",
                                       "closed",
                                   }));
}

TEST(CloseEvents, SimultaneousCloseInOrder_Rfc9293_3_6) {
  Harness h;
  h.fin_wait_1();
  const size_t mark = h.events.size();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = FIN | ACK});
  h.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  h.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 2, .ctl = ACK});
  h.advance(kTwoMsl);
  EXPECT_EQ(events_since(h, mark), (std::vector<std::string>{
                                       "peer-closed",
                                       "FIN_WAIT_1 -> CLOSING: FIN received (simultaneous close)",
                                       "CLOSING -> TIME_WAIT: ACK of FIN received",
                                       "TIME_WAIT -> CLOSED: 2MSL timeout in TIME_WAIT",
                                       "closed",
                                   }));
}

// ==========================================================================================
// Old timestamps (RFC 7323 §5.3 PAWS) in every closing state
// ==========================================================================================

// The harness fixtures with RFC 7323 timestamps negotiated. Every segment of the peer
// carries TSopt: TSval from the peer's clock (one tick per segment) and TSecr echoing the
// last TSval we sent. send_old() sends a TSval older than TS.Recent: an old duplicate that
// PAWS must reject — "Send an acknowledgment in reply ... and drop the segment" (§5.3 R1).
class TsPeer {
 public:
  static Config ts_config() {
    Config c = Harness::plain_config();
    c.timestamps = true;
    return c;
  }

  Harness h{ts_config()};

  void send(Seg s, Duration after = {}) {
    s.options.timestamps = wire::TcpTimestamps{++peer_clock_, echo_};
    h.send(s, after);
  }
  void send_old(Seg s) {
    s.options.timestamps = wire::TcpTimestamps{peer_clock_ - 1000, echo_};
    h.send(s);
  }
  Sent expect(const Seg& e) {
    Sent s = h.expect(e);
    if (s.tcp.options.timestamps) {
      echo_ = s.tcp.options.timestamps->value;
    } else {
      ADD_FAILURE() << "no TSopt on our segment\n" << h.steps();
    }
    return s;
  }

  void established() {
    EXPECT_FALSE(h.conn.connect(h.tuple, SeqNum(kIss), h.now));
    h.collect();
    expect(Seg{.seq = kIss, .ctl = SYN});
    send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK});
    expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
    EXPECT_EQ(h.conn.state(), State::kEstablished);
    EXPECT_TRUE(h.conn.status().timestamps);
  }
  void fin_wait_1() {
    established();
    EXPECT_FALSE(h.conn.close(h.now));
    h.collect();
    expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = FIN | ACK});
    EXPECT_EQ(h.conn.state(), State::kFinWait1);
  }
  void fin_wait_2() {
    fin_wait_1();
    send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = ACK});
    h.expect_nothing();
    EXPECT_EQ(h.conn.state(), State::kFinWait2);
  }
  void close_wait() {
    established();
    send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = FIN | ACK});
    h.advance(kDelayedAck);
    expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = ACK});
    EXPECT_EQ(h.conn.state(), State::kCloseWait);
  }
  void last_ack() {
    close_wait();
    EXPECT_FALSE(h.conn.close(h.now));
    h.collect();
    expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = FIN | ACK});
    EXPECT_EQ(h.conn.state(), State::kLastAck);
  }
  void closing() {
    fin_wait_1();
    send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = FIN | ACK});
    expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
    EXPECT_EQ(h.conn.state(), State::kClosing);
  }
  void time_wait() {
    fin_wait_2();
    send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = FIN | ACK});
    expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
    EXPECT_EQ(h.conn.state(), State::kTimeWait);
  }

 private:
  uint32_t peer_clock_ = 70000;
  uint32_t echo_ = 0;
};

// An old ACK of our FIN does not move FIN-WAIT-1 to FIN-WAIT-2.
TEST(ClosePaws, FinWait1OldAckOfFinIsRejected_Rfc7323_5_3) {
  TsPeer p;
  p.fin_wait_1();
  p.send_old(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = ACK});
  p.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 1, .ctl = ACK});
  p.h.expect_nothing();
  EXPECT_EQ(p.h.conn.state(), State::kFinWait1);
  EXPECT_EQ(p.h.conn.snd_una().value(), kIss + 1);
  EXPECT_EQ(p.h.conn.status().stats.paws_rejected, 1u);
  // The same ACK with a current timestamp is accepted.
  p.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = ACK});
  p.h.expect_nothing();
  EXPECT_EQ(p.h.conn.state(), State::kFinWait2);
}

// Old data in FIN-WAIT-1 is not delivered.
TEST(ClosePaws, FinWait1OldDataIsRejected_Rfc7323_5_3) {
  TsPeer p;
  p.fin_wait_1();
  p.send_old(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = PSH | ACK, .data = "old"});
  p.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 1, .ctl = ACK});
  p.h.expect_nothing();
  EXPECT_EQ(p.h.conn.readable(), 0u);
  EXPECT_EQ(p.h.conn.state(), State::kFinWait1);
}

// An old FIN does not move FIN-WAIT-2 to TIME-WAIT.
TEST(ClosePaws, FinWait2OldFinIsRejected_Rfc7323_5_3) {
  TsPeer p;
  p.fin_wait_2();
  p.send_old(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = FIN | ACK});
  p.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 1, .ctl = ACK});
  p.h.expect_nothing();
  EXPECT_EQ(p.h.conn.state(), State::kFinWait2);
  EXPECT_FALSE(p.h.saw(EventKind::kPeerClosed));
}

// In CLOSE-WAIT an old ACK of our data does not advance SND.UNA.
TEST(ClosePaws, CloseWaitOldAckIsRejected_Rfc7323_5_3) {
  TsPeer p;
  p.close_wait();
  EXPECT_EQ(p.h.write("abc"), 3u);
  p.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = PSH | ACK, .data = "abc"});
  p.send_old(Seg{.seq = kPeerIss + 2, .ack = kIss + 4, .ctl = ACK});
  p.expect(Seg{.seq = kIss + 4, .ack = kPeerIss + 2, .ctl = ACK});
  p.h.expect_nothing();
  EXPECT_EQ(p.h.conn.snd_una().value(), kIss + 1);
  EXPECT_EQ(p.h.conn.state(), State::kCloseWait);
}

// An old ACK of our FIN does not move CLOSING to TIME-WAIT.
TEST(ClosePaws, ClosingOldAckOfFinIsRejected_Rfc7323_5_3) {
  TsPeer p;
  p.closing();
  p.send_old(Seg{.seq = kPeerIss + 2, .ack = kIss + 2, .ctl = ACK});
  p.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  p.h.expect_nothing();
  EXPECT_EQ(p.h.conn.state(), State::kClosing);
}

// An old ACK of our FIN does not close LAST-ACK.
TEST(ClosePaws, LastAckOldAckOfFinIsRejected_Rfc7323_5_3) {
  TsPeer p;
  p.last_ack();
  p.send_old(Seg{.seq = kPeerIss + 2, .ack = kIss + 2, .ctl = ACK});
  p.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  p.h.expect_nothing();
  EXPECT_EQ(p.h.conn.state(), State::kLastAck);
  // With a current timestamp it does.
  p.send(Seg{.seq = kPeerIss + 2, .ack = kIss + 2, .ctl = ACK});
  p.h.expect_nothing();
  EXPECT_EQ(p.h.conn.state(), State::kClosed);
}

// An old duplicate of the peer's FIN in TIME-WAIT is rejected by PAWS before the TIME-WAIT
// rule: it is acknowledged (§5.3 R1) but does not restart the 2 MSL timer — only a genuine
// retransmission of the FIN does.
TEST(ClosePaws, TimeWaitOldFinDoesNotRestartTheTimer_Rfc7323_5_3) {
  TsPeer p;
  p.time_wait();
  const int64_t expiry = deadline_us(p.h);
  p.h.advance(Duration::seconds(10));
  p.send_old(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = FIN | ACK});
  p.expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
  p.h.expect_nothing();
  EXPECT_EQ(p.h.conn.state(), State::kTimeWait);
  EXPECT_EQ(deadline_us(p.h), expiry);
  EXPECT_EQ(p.h.conn.status().stats.paws_rejected, 1u);
}

// The PAWS check does not apply to a RST (§5.3 R1: "and the RST bit is not set"): an exact
// RST with an old timestamp still closes TIME-WAIT.
TEST(ClosePaws, TimeWaitRstWithOldTimestampCloses_Rfc7323_5_3) {
  TsPeer p;
  p.time_wait();
  p.send_old(Seg{.seq = kPeerIss + 2, .ctl = RST});
  p.h.expect_nothing();
  EXPECT_EQ(p.h.conn.state(), State::kClosed);
}

}  // namespace
}  // namespace synack::tcp::testing
