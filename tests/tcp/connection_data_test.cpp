// Packet-level tests of data transfer in ESTABLISHED: RFC 9293 §3.10.7.4 segment by segment
// (sequence check, RST, SYN, ACK, text), the sender (segmentation, Nagle, SWS avoidance,
// the persist timer, RFC 6298 retransmission), the receiver (delayed ACKs, window updates),
// the options in use (RFC 7323 window scaling, timestamps and PAWS; RFC 2018 SACK), urgent
// data (RFC 6093), keep-alive (RFC 1122 §4.2.3.6) and the statistics.
//
// The test plays the peer. snd(n) is the sequence number of our data octet n (0 is the first
// after our SYN), rcv(n) the peer's; so after Harness::established() SND.NXT = snd(0) and
// RCV.NXT = rcv(0).
#include <optional>
#include <string>
#include <vector>

#include "harness.hpp"

namespace synack::tcp::testing {
namespace {

constexpr uint32_t kIss = Harness::kIss;
constexpr uint32_t kPeerIss = Harness::kPeerIss;

Config small_window_config() {
  Config c = Harness::plain_config();
  c.receive_buffer = 4000;
  return c;
}

wire::TcpOptions mss_option(uint16_t mss) {
  wire::TcpOptions o;
  o.mss = mss;
  return o;
}

// ESTABLISHED by active open, as Harness::established(), but the SYN-ACK carries `options`
// and `wnd` and arrives `rtt` after our SYN (the handshake's RTT sample, RFC 6298 §2.2).
// Returns our ACK of the SYN-ACK.
Sent establish(Harness& h, const wire::TcpOptions& options, uint16_t wnd = 65535,
               Duration rtt = {}) {
  h.syn_sent();
  h.send(Seg{.seq = kPeerIss, .ack = snd(0), .ctl = SYN | ACK, .wnd = wnd, .options = options},
         rtt);
  Sent ack = h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  return ack;
}

// The peer fills our 4000-octet window (small_window_config) with four full-sized segments
// acknowledging `peer_ack`. Every second full-sized segment is acknowledged at once
// (RFC 9293 §3.8.6.3), the last one with a zero window.
void fill_window(Harness& h, uint32_t peer_ack) {
  const uint32_t our_seq = h.conn.snd_nxt().value();
  for (uint32_t i = 0; i < 4; ++i) {
    h.send(Seg{.seq = rcv(i * 1000), .ack = peer_ack, .ctl = ACK, .data = stream(i * 1000, 1000)});
    if (i % 2 == 1) {
      h.expect(Seg{.seq = our_seq,
                   .ack = rcv((i + 1) * 1000),
                   .ctl = ACK,
                   .wnd = static_cast<uint16_t>(4000 - (i + 1) * 1000)},
               true);
    }
  }
  h.expect_nothing();
  ASSERT_EQ(h.conn.readable(), 4000u);
}

// --- §3.10.7.4 first step: check the sequence number -----------------------------------------

// Case 1: SEG.LEN = 0, RCV.WND = 0: acceptable only if SEG.SEQ = RCV.NXT.
TEST(DataSequenceCheck, ZeroLengthSegmentWithZeroWindowAcceptableOnlyAtRcvNxt) {
  Harness h(small_window_config());
  h.established();
  h.write("abc");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "abc"});
  fill_window(h, snd(0));

  // Not acceptable: answered with <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, the ACK field unused.
  h.send(Seg{.seq = rcv(4001), .ack = snd(3), .ctl = ACK});
  h.expect(Seg{.seq = snd(3), .ack = rcv(4000), .ctl = ACK, .wnd = 0}, true);
  h.send(Seg{.seq = rcv(3999), .ack = snd(3), .ctl = ACK});
  h.expect(Seg{.seq = snd(3), .ack = rcv(4000), .ctl = ACK, .wnd = 0}, true);
  h.expect_nothing();
  EXPECT_EQ(h.conn.snd_una().value(), snd(0));

  // Acceptable: processed (the ACK of "abc" is taken), nothing to answer.
  h.send(Seg{.seq = rcv(4000), .ack = snd(3), .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.snd_una().value(), snd(3));
  EXPECT_EQ(h.conn.status().stats.dropped_out_of_window, 2u);
}

// Case 2: SEG.LEN = 0, RCV.WND > 0: acceptable if RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND.
TEST(DataSequenceCheck, ZeroLengthSegmentWithOpenWindowAcceptableInsideWindow) {
  Harness h;  // RCV.WND = 65535
  h.established();
  h.write("abc");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "abc"});

  h.send(Seg{.seq = rcv(65535), .ack = snd(3), .ctl = ACK});  // just past the window
  h.expect(Seg{.seq = snd(3), .ack = rcv(0), .ctl = ACK});
  h.send(Seg{.seq = rcv(0) - 1, .ack = snd(3), .ctl = ACK});  // just before RCV.NXT
  h.expect(Seg{.seq = snd(3), .ack = rcv(0), .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.snd_una().value(), snd(0));

  h.send(Seg{.seq = rcv(65534), .ack = snd(3), .ctl = ACK});  // the last number in the window
  h.expect_nothing();
  EXPECT_EQ(h.conn.snd_una().value(), snd(3));
}

// Case 3: SEG.LEN > 0, RCV.WND = 0: not acceptable (the zero-window probe at RCV.NXT is the
// special allowance, tested below).
TEST(DataSequenceCheck, DataWithZeroWindowNotAcceptable) {
  Harness h(small_window_config());
  h.established();
  fill_window(h, snd(0));

  h.send(Seg{.seq = rcv(4001), .ack = snd(0), .ctl = ACK, .data = "x"});
  h.expect(Seg{.seq = snd(0), .ack = rcv(4000), .ctl = ACK, .wnd = 0}, true);
  h.send(Seg{.seq = rcv(3995), .ack = snd(0), .ctl = ACK, .data = "old"});
  h.expect(Seg{.seq = snd(0), .ack = rcv(4000), .ctl = ACK, .wnd = 0}, true);
  h.expect_nothing();
  EXPECT_EQ(h.conn.readable(), 4000u);
  EXPECT_EQ(h.read(), stream(0, 4000));
}

// "If the RCV.WND is zero, no segments will be acceptable, but special allowance should be
// made to accept valid ACKs, URGs, and RSTs": a zero-window probe at RCV.NXT has its ACK
// processed, its text dropped, and is answered with an ACK showing the (zero) window.
TEST(DataSequenceCheck, ZeroWindowProbeProcessedForAckTextDropped) {
  Harness h(small_window_config());
  h.established();
  h.write("abc");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "abc"});
  fill_window(h, snd(0));
  // The application frees a little room, too little for a window update: RCV.WND stays 0
  // (the buffer could hold the probe's octet, the window does not).
  EXPECT_EQ(h.read(100), stream(0, 100));
  h.expect_nothing();

  h.send(Seg{.seq = rcv(4000), .ack = snd(3), .ctl = ACK, .data = "z"});
  h.expect(Seg{.seq = snd(3), .ack = rcv(4000), .ctl = ACK});  // its window: see below
  h.expect_nothing();
  EXPECT_EQ(h.conn.snd_una().value(), snd(3));  // the ACK field was used
  EXPECT_EQ(h.conn.rcv_nxt().value(), rcv(4000));
  EXPECT_EQ(h.read(), stream(100, 3900));  // the 'z' is not in the stream
  EXPECT_EQ(h.conn.status().stats.bytes_in, 4000u);
}

// Case 4: SEG.LEN > 0, RCV.WND > 0: acceptable if the first or the last octet is in the
// window; what lies outside it is trimmed.
TEST(DataSequenceCheck, DataWithOpenWindowAcceptableIfAnyOctetInWindow) {
  Harness h(small_window_config());
  h.established();
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK, .data = stream(0, 10)});
  h.advance(Duration::millis(40));
  h.expect(Seg{.seq = snd(0), .ack = rcv(10), .ctl = ACK, .wnd = 3990}, true);  // edge rcv(4000)

  h.send(Seg{.seq = rcv(4000), .ack = snd(0), .ctl = ACK, .data = "x"});  // past the window
  h.expect(Seg{.seq = snd(0), .ack = rcv(10), .ctl = ACK, .wnd = 3990}, true);
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK, .data = stream(0, 10)});  // before it
  h.expect(Seg{.seq = snd(0), .ack = rcv(10), .ctl = ACK, .wnd = 3990}, true);
  h.expect_nothing();
  EXPECT_EQ(h.conn.readable(), 10u);

  // [5, 15): the last five octets are new; they are taken, the first five trimmed.
  h.send(Seg{.seq = rcv(5), .ack = snd(0), .ctl = ACK, .data = stream(5, 10)});
  h.expect_nothing();
  h.advance(Duration::millis(40));
  h.expect(Seg{.seq = snd(0), .ack = rcv(15), .ctl = ACK, .wnd = 3985}, true);
  h.expect_nothing();
  EXPECT_EQ(h.read(), stream(0, 15));
}

// A duplicate (all of it below RCV.NXT) is not acceptable: ACK at once, nothing delivered.
TEST(DataSequenceCheck, DuplicateSegmentAckedNotDeliveredAgain) {
  Harness h;
  h.established();
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = PSH | ACK, .data = "hello"});
  h.expect_nothing();  // delayed ACK
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = PSH | ACK, .data = "hello"});
  h.expect(Seg{.seq = snd(0), .ack = rcv(5), .ctl = ACK});
  h.advance(Duration::millis(40));
  h.expect_nothing();  // that ACK also answered the first segment
  EXPECT_EQ(h.read(), "hello");
  EXPECT_EQ(h.conn.status().stats.bytes_in, 5u);
}

// Overlapping segments are trimmed to what is new: each octet is delivered once.
TEST(DataSequenceCheck, OverlappingSegmentsDeliverEachOctetOnce) {
  Harness h;
  h.established();
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK, .data = stream(0, 5)});
  h.expect_nothing();
  h.send(Seg{.seq = rcv(7), .ack = snd(0), .ctl = ACK, .data = stream(7, 5)});  // out of order
  h.expect(Seg{.seq = snd(0), .ack = rcv(5), .ctl = ACK});
  // [3, 9) overlaps the in-order [0, 5) and the held [7, 12), and fills the hole.
  h.send(Seg{.seq = rcv(3), .ack = snd(0), .ctl = ACK, .data = stream(3, 6)});
  h.expect(Seg{.seq = snd(0), .ack = rcv(12), .ctl = ACK});
  h.advance(Duration::millis(40));
  h.expect_nothing();
  EXPECT_EQ(h.read(), stream(0, 12));
  EXPECT_EQ(h.conn.status().stats.bytes_in, 12u);
}

// "Segments with higher beginning sequence numbers may be held for later processing":
// nothing is readable until the hole fills, then all of it.
TEST(DataSequenceCheck, OutOfOrderDataHeldUntilHoleFills) {
  Harness h;
  h.established();
  h.events.clear();
  h.send(Seg{.seq = rcv(5), .ack = snd(0), .ctl = PSH | ACK, .data = "world"});
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});  // duplicate ACK
  EXPECT_EQ(h.conn.readable(), 0u);
  EXPECT_FALSE(h.saw(EventKind::kReadable));

  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK, .data = "hello"});
  h.expect(Seg{.seq = snd(0), .ack = rcv(10), .ctl = ACK});
  h.expect_nothing();
  EXPECT_TRUE(h.saw(EventKind::kReadable));
  EXPECT_EQ(h.read(), "helloworld");
}

// Text beyond the receive window (the buffer) is dropped; the sender sends it again later.
TEST(DataSequenceCheck, DataBeyondReceiveWindowTrimmed) {
  Harness h(small_window_config());
  h.established();
  // [3500, 4500) straddles the right edge (4000): [3500, 4000) is held, the rest dropped.
  h.send(Seg{.seq = rcv(3500), .ack = snd(0), .ctl = ACK, .data = stream(3500, 1000)});
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK, .wnd = 4000}, true);
  // The in-order data fills the hole part by part: each is acknowledged at once (RFC 5681
  // §4.2).
  for (uint32_t i = 0; i < 3; ++i) {
    h.send(Seg{.seq = rcv(i * 1000), .ack = snd(0), .ctl = ACK, .data = stream(i * 1000, 1000)});
    h.expect(Seg{.seq = snd(0),
                 .ack = rcv((i + 1) * 1000),
                 .ctl = ACK,
                 .wnd = static_cast<uint16_t>(3000 - i * 1000)},
             true);
  }
  h.send(Seg{.seq = rcv(3000), .ack = snd(0), .ctl = ACK, .data = stream(3000, 500)});
  h.expect(Seg{.seq = snd(0), .ack = rcv(4000), .ctl = ACK, .wnd = 0}, true);
  h.expect_nothing();
  EXPECT_EQ(h.read(), stream(0, 4000));
  h.expect(Seg{.seq = snd(0), .ack = rcv(4000), .ctl = ACK, .wnd = 4000}, true);  // update

  // The peer sends the dropped octets again.
  h.send(Seg{.seq = rcv(4000), .ack = snd(0), .ctl = ACK, .data = stream(4000, 500)});
  EXPECT_EQ(h.read(), stream(4000, 500));
}

// --- §3.10.7.4 fifth step: check the ACK field -------------------------------------------------

// "If SND.UNA < SEG.ACK =< SND.NXT, then set SND.UNA <- SEG.ACK. Any segments on the
// retransmission queue that are thereby entirely acknowledged are removed."
TEST(DataAck, AdvanceFreesSendBufferAndSignalsWritable) {
  Harness h;
  h.established();
  h.write("hello");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "hello"});
  EXPECT_EQ(h.conn.status().send_queue, 5u);
  const size_t space = h.conn.send_space();
  h.events.clear();

  h.send(Seg{.seq = rcv(0), .ack = snd(2), .ctl = ACK});
  EXPECT_EQ(h.conn.snd_una().value(), snd(2));
  EXPECT_EQ(h.conn.status().send_queue, 3u);
  EXPECT_EQ(h.conn.send_space(), space + 2);
  EXPECT_TRUE(h.saw(EventKind::kWritable));

  h.send(Seg{.seq = rcv(0), .ack = snd(5), .ctl = ACK});
  EXPECT_EQ(h.conn.snd_una().value(), snd(5));
  EXPECT_EQ(h.conn.status().send_queue, 0u);
  h.advance(Duration::seconds(10));
  h.expect_nothing();  // nothing left to retransmit
}

// Sequence numbers are compared modulo 2^32 (RFC 9293 §3.4): a connection that has sent
// more than 2 GiB, and then more than 4 GiB (SND.UNA back around to ISS), must go on freeing
// its send buffer with every ACK. The test plays a peer that acknowledges each flight, with
// 65000-octet segments so the 4 GiB pass quickly.
TEST(DataAck, AcksKeepFreeingTheSendBufferPastTwoAndFourGibibytes) {
  Harness h;
  h.syn_sent();
  Seg synack{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK};
  synack.options.mss = 65000;
  h.send(synack);
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  const std::vector<std::byte> chunk(64 * 1024, std::byte{'x'});
  const uint64_t target = (uint64_t{1} << 32) + (uint64_t{1} << 20);
  uint64_t written = 0;
  for (int round = 0; written < target && round < 200'000; ++round) {
    auto n = h.conn.send(chunk, h.now);
    ASSERT_TRUE(n) << n.error().message() << " after " << written << " octets";
    ASSERT_GT(*n, 0u) << "the send buffer stayed full after " << written << " octets";
    written += *n;
    std::optional<SeqNum> edge;
    while (auto out = h.conn.poll_transmit(h.now))
      edge = out->seq + SeqLen(static_cast<uint32_t>(out->payload.size()));
    ASSERT_TRUE(edge) << "nothing sent after " << written << " octets";
    wire::TcpRepr ack;
    ack.src_port = h.tuple.remote.port;
    ack.dst_port = h.tuple.local.port;
    ack.seq = SeqNum(rcv(0));
    ack.ack = *edge;
    ack.window = 65535;
    h.conn.on_segment(ack, h.tuple.remote, h.now);
  }
  EXPECT_GE(written, target);
  while (auto out = h.conn.poll_transmit(h.now)) {
  }
  const ConnectionStatus st = h.conn.status();
  EXPECT_EQ(st.stats.bytes_out, written);
  EXPECT_LT(st.send_queue, 65536u);  // at most what the last window left unsent
  EXPECT_EQ(h.conn.state(), State::kEstablished);
}

// "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send an ACK, drop the
// segment, and return" — a challenge ACK in RFC 5961 §5.2 terms.
TEST(DataAck, AckOfUnsentDataGetsChallengeAckAndIsDropped) {
  Harness h;
  h.established();
  h.write("hello");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "hello"});

  h.send(Seg{.seq = rcv(0), .ack = snd(6), .ctl = PSH | ACK, .data = "data"});
  h.expect(Seg{.seq = snd(5), .ack = rcv(0), .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.snd_una().value(), snd(0));
  EXPECT_EQ(h.conn.readable(), 0u);  // the text went with the segment
  EXPECT_EQ(h.conn.status().stats.challenge_acks, 1u);
}

// RFC 5961 §5.2: an ACK is acceptable only if (SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT;
// an older one gets a challenge ACK and the segment is dropped.
TEST(DataAck, AckOlderThanMaxSndWndGetsChallengeAck) {
  Harness h;
  h.established();  // MAX.SND.WND = 65535
  h.send(Seg{.seq = rcv(0), .ack = snd(0) - 65536u, .ctl = PSH | ACK, .data = "data"});
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.readable(), 0u);
  EXPECT_EQ(h.conn.status().stats.challenge_acks, 1u);

  // At SND.UNA - MAX.SND.WND it is an old duplicate ACK: ignored, the text processed.
  h.send(Seg{.seq = rcv(0), .ack = snd(0) - 65535u, .ctl = PSH | ACK, .data = "data"});
  h.expect_nothing();
  EXPECT_EQ(h.read(), "data");
  h.advance(Duration::millis(40));
  h.expect(Seg{.seq = snd(0), .ack = rcv(4), .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.snd_una().value(), snd(0));
}

// "If SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK), set SND.WND <- SEG.WND"
// — so an old segment overtaken by a newer one cannot roll the window back.
TEST(DataAck, OldReorderedSegmentCannotShrinkSendWindow) {
  Harness h;
  h.established();
  // The peer sent "abc" with WND=5000, then "def" with WND=6000; they arrive swapped.
  h.send(Seg{.seq = rcv(3), .ack = snd(0), .ctl = ACK, .wnd = 6000, .data = "def"});
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
  EXPECT_EQ(h.conn.snd_wnd(), 6000u);
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK, .wnd = 5000, .data = "abc"});
  h.expect(Seg{.seq = snd(0), .ack = rcv(6), .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.snd_wnd(), 6000u);
  EXPECT_EQ(h.read(), "abcdef");
}

// Same SEG.SEQ with SND.WL2 =< SEG.ACK is newer: a pure window update (even a smaller one the
// peer chose) is taken; an older ACK (below SND.UNA) is not.
TEST(DataAck, WindowUpdateFollowsWl1AndWl2) {
  Harness h;
  h.established();
  h.write("hello");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "hello"});

  h.send(Seg{.seq = rcv(0), .ack = snd(2), .ctl = ACK, .wnd = 3000});
  EXPECT_EQ(h.conn.snd_wnd(), 3000u);
  h.send(Seg{.seq = rcv(0), .ack = snd(5), .ctl = ACK, .wnd = 2000});
  EXPECT_EQ(h.conn.snd_wnd(), 2000u);
  h.send(Seg{.seq = rcv(0), .ack = snd(5), .ctl = ACK, .wnd = 8000});
  EXPECT_EQ(h.conn.snd_wnd(), 8000u);
  h.send(Seg{.seq = rcv(0), .ack = snd(2), .ctl = ACK, .wnd = 100});  // reordered, older
  EXPECT_EQ(h.conn.snd_wnd(), 8000u);
  h.expect_nothing();
}

// RFC 5961 §7: challenge ACKs are rate-limited (Config::challenge_acks_per_second), whatever
// provoked them: SYN, inexact RST, ACK of unsent data.
TEST(DataAck, ChallengeAcksRateLimited) {
  Config c = Harness::plain_config();
  c.challenge_acks_per_second = 2;
  Harness h(c);
  h.established();

  h.send(Seg{.seq = rcv(0), .ctl = SYN});
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
  h.send(Seg{.seq = rcv(100), .ctl = RST}, Duration::millis(200));
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
  h.send(Seg{.seq = rcv(0), .ack = snd(10), .ctl = ACK}, Duration::millis(200));
  h.send(Seg{.seq = rcv(0), .ctl = SYN}, Duration::millis(200));
  h.send(Seg{.seq = rcv(100), .ctl = RST}, Duration::millis(199));
  h.expect_nothing();
  EXPECT_EQ(h.conn.status().stats.challenge_acks, 2u);

  // One second after the first, a new allowance.
  h.send(Seg{.seq = rcv(0), .ctl = SYN}, Duration::millis(201));
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.status().stats.challenge_acks, 3u);
  EXPECT_EQ(h.conn.state(), State::kEstablished);
}

// --- §3.10.7.4 second and fourth steps: RST and SYN (RFC 5961 §3, §4) ------------------------

// RFC 5961 §3.2: "If the RST bit is set and the sequence number exactly matches the next
// expected sequence number (RCV.NXT), then TCP MUST reset the connection"; RFC 9293: in
// ESTABLISHED "any outstanding RECEIVEs and SEND should receive 'reset' responses ... Enter
// the CLOSED state".
TEST(DataReset, ExactRstResetsConnection) {
  Harness h;
  h.established();
  h.write("hello");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "hello"});
  h.events.clear();

  h.send(Seg{.seq = rcv(0), .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(h.conn.error(), std::make_error_code(std::errc::connection_reset));
  EXPECT_TRUE(h.saw(EventKind::kError));
  EXPECT_TRUE(h.saw(EventKind::kClosed));
  EXPECT_TRUE(h.saw_state(State::kClosed));
  h.advance(Duration::seconds(60));
  h.expect_nothing();  // no retransmission of "hello"
}

// RFC 5961 §3.2: an in-window RST that does not match RCV.NXT exactly gets a challenge ACK
// <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>; the genuine peer answers it with an exact RST.
TEST(DataReset, InWindowInexactRstGetsChallengeAck) {
  Harness h;
  h.established();
  h.send(Seg{.seq = rcv(1000), .ctl = RST});
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  EXPECT_EQ(h.conn.status().stats.challenge_acks, 1u);

  h.send(Seg{.seq = rcv(0), .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(h.conn.error(), std::make_error_code(std::errc::connection_reset));
}

// "If an incoming segment is not acceptable ... (unless the RST bit is set, if so drop the
// segment and return)": a RST outside the window is dropped silently.
TEST(DataReset, OutOfWindowRstIgnored) {
  Harness h;
  h.established();
  h.send(Seg{.seq = rcv(65535), .ctl = RST});
  h.send(Seg{.seq = rcv(0) - 1, .ctl = RST});
  h.send(Seg{.seq = rcv(0) + 0x80000000u, .ack = snd(0), .ctl = RST | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  EXPECT_EQ(h.conn.error(), std::error_code{});
}

// RFC 5961 §4.2: "If the SYN bit is set, irrespective of the sequence number, TCP MUST send
// an ACK (also referred to as challenge ACK) to the remote peer" — no RST, no state change.
TEST(DataSyn, SynInEstablishedGetsChallengeAck) {
  Harness h;
  h.established();
  h.send(Seg{.seq = rcv(100), .ctl = SYN});  // in the window
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
  h.send(Seg{.seq = kPeerIss + 1'000'000, .ctl = SYN});  // outside it (a restarted peer)
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = SYN | ACK});  // at RCV.NXT
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  EXPECT_EQ(h.conn.rcv_nxt().value(), rcv(0));
}

// --- Sending -----------------------------------------------------------------------------------

// RFC 9293 §3.7.1: a peer that sends no MSS option can take 536 octets.
TEST(DataSend, PeerWithoutMssOptionGets536OctetSegments) {
  Harness h;
  h.established();  // the fixture's SYN-ACK has no options
  h.write(stream(0, 1072));
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK, .data = stream(0, 536)});
  h.expect(Seg{.seq = snd(536), .ack = rcv(0), .ctl = PSH | ACK, .data = stream(536, 536)});
  h.expect_nothing();
  EXPECT_EQ(h.conn.status().snd_mss, 536);
}

// Segments are cut at the effective send MSS, min(the peer's MSS, ours) (§3.7.1); PSH goes on
// the segment that ends the written data (§3.9.1.2).
TEST(DataSend, SegmentsAtEffectiveMssPshOnLast) {
  Harness h;
  establish(h, mss_option(1000));
  h.write(stream(0, 3000));
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK, .data = stream(0, 1000)});
  h.expect(Seg{.seq = snd(1000), .ack = rcv(0), .ctl = ACK, .data = stream(1000, 1000)});
  h.expect(Seg{.seq = snd(2000), .ack = rcv(0), .ctl = PSH | ACK, .data = stream(2000, 1000)});
  h.expect_nothing();

  Harness small;
  establish(small, mss_option(700));  // smaller than our 1000
  small.write(stream(0, 1400));
  small.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK, .data = stream(0, 700)});
  small.expect(Seg{.seq = snd(700), .ack = rcv(0), .ctl = PSH | ACK, .data = stream(700, 700)});
  small.expect_nothing();
}

// Nagle (RFC 1122 §4.2.3.4): while data is unacknowledged, small writes are held until the
// ACK arrives (or a full segment can be sent).
TEST(DataSend, NagleHoldsSmallWriteUntilAck) {
  Harness h;
  h.established();
  h.write("a");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "a"});
  h.write("b");
  h.write("c");
  h.expect_nothing();
  h.advance(Duration::millis(100));
  h.expect_nothing();

  h.send(Seg{.seq = rcv(0), .ack = snd(1), .ctl = ACK});
  h.expect(Seg{.seq = snd(1), .ack = rcv(0), .ctl = PSH | ACK, .data = "bc"});
  h.expect_nothing();
}

TEST(DataSend, NagleLetsFullSegmentGo) {
  Harness h;
  establish(h, mss_option(1000));
  h.write("a");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "a"});
  h.write(stream(1, 1500));
  h.expect(Seg{.seq = snd(1), .ack = rcv(0), .ctl = ACK, .data = stream(1, 1000)});
  h.expect_nothing();  // the 500-octet tail waits
  h.send(Seg{.seq = rcv(0), .ack = snd(1001), .ctl = ACK});
  h.expect(Seg{.seq = snd(1001), .ack = rcv(0), .ctl = PSH | ACK, .data = stream(1001, 500)});
  h.expect_nothing();
}

// TCP_NODELAY: Nagle off, each write goes at once.
TEST(DataSend, NodelaySendsSmallWritesAtOnce) {
  Harness h;
  h.established();
  h.conn.set_nodelay(true);
  h.write("a");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "a"});
  h.write("b");
  h.expect(Seg{.seq = snd(1), .ack = rcv(0), .ctl = PSH | ACK, .data = "b"});
  h.expect_nothing();
}

// The send window: nothing beyond SND.UNA + SND.WND (RFC 9293 §3.8.6).
TEST(DataSend, NeverBeyondSendWindow) {
  Harness h;
  establish(h, mss_option(1000), 2500);
  h.write(stream(0, 5000));
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK, .data = stream(0, 1000)});
  h.expect(Seg{.seq = snd(1000), .ack = rcv(0), .ctl = ACK, .data = stream(1000, 1000)});
  h.expect_nothing();  // 500 usable: too little (sender SWS avoidance)
  EXPECT_EQ(h.conn.snd_nxt().value(), snd(2000));

  h.send(Seg{.seq = rcv(0), .ack = snd(1000), .ctl = ACK, .wnd = 2500});  // edge: 3500
  h.expect(Seg{.seq = snd(2000), .ack = rcv(0), .ctl = ACK, .data = stream(2000, 1000)});
  h.expect_nothing();
  h.send(Seg{.seq = rcv(0), .ack = snd(3000), .ctl = ACK, .wnd = 2500});  // edge: 5500
  h.expect(Seg{.seq = snd(3000), .ack = rcv(0), .ctl = ACK, .data = stream(3000, 1000)});
  h.expect(Seg{.seq = snd(4000), .ack = rcv(0), .ctl = PSH | ACK, .data = stream(4000, 1000)});
  h.expect_nothing();
}

// RFC 9293 §3.8.6.2.1 sender SWS avoidance: send when a full segment can go, or at least
// Fs = 1/2 of the largest window the peer offered; a smaller usable window waits.
TEST(DataSend, SenderSwsAvoidance) {
  Harness h;
  establish(h, mss_option(1000), 4000);  // max(SND.WND) = 4000
  h.write(stream(0, 5000));
  for (uint32_t i = 0; i < 4; ++i) {
    h.expect(Seg{.seq = snd(i * 1000), .ack = rcv(0), .ctl = ACK, .data = stream(i * 1000, 1000)});
  }
  h.expect_nothing();
  h.send(Seg{.seq = rcv(0), .ack = snd(1000), .ctl = ACK, .wnd = 3300});  // 300 usable
  h.expect_nothing();
  h.send(Seg{.seq = rcv(0), .ack = snd(2000), .ctl = ACK, .wnd = 3300});  // 1300 usable
  h.expect(Seg{.seq = snd(4000), .ack = rcv(0), .ctl = PSH | ACK, .data = stream(4000, 1000)});
  h.expect_nothing();
}

TEST(DataSend, SenderSwsSendsHalfTheMaxWindow) {
  Harness h;
  establish(h, mss_option(1000), 1200);  // max(SND.WND) = 1200: Fs * 1200 = 600
  h.write(stream(0, 1700));
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK, .data = stream(0, 1000)});
  h.expect_nothing();  // 200 usable
  h.send(Seg{.seq = rcv(0), .ack = snd(1000), .ctl = ACK, .wnd = 600});
  h.expect(Seg{.seq = snd(1000), .ack = rcv(0), .ctl = ACK, .data = stream(1000, 600)});
  h.expect_nothing();
  h.send(Seg{.seq = rcv(0), .ack = snd(1600), .ctl = ACK, .wnd = 1200});
  h.expect(Seg{.seq = snd(1600), .ack = rcv(0), .ctl = PSH | ACK, .data = stream(1600, 100)});
  h.expect_nothing();
}

// §3.8.6.2.1 (4): the override timeout sends what the small window allows when nothing is
// in flight. synack uses the RTO (200 ms here) — within the RFC's suggested 0.1–1 s.
TEST(DataSend, SenderSwsOverrideTimeout) {
  Harness h;
  establish(h, mss_option(1000), 4000);
  h.write(stream(0, 5000));
  for (uint32_t i = 0; i < 4; ++i) {
    h.expect(Seg{.seq = snd(i * 1000), .ack = rcv(0), .ctl = ACK, .data = stream(i * 1000, 1000)});
  }
  h.send(Seg{.seq = rcv(0), .ack = snd(4000), .ctl = ACK, .wnd = 300});
  h.expect_nothing();
  ASSERT_EQ(h.conn.status().rto.as_micros(), 200'000);
  h.advance(Duration::millis(199));
  h.expect_nothing();
  h.advance(Duration::millis(1));
  h.expect(Seg{.seq = snd(4000), .ack = rcv(0), .ctl = ACK, .data = stream(4000, 300)});
  h.expect_nothing();
  h.send(Seg{.seq = rcv(0), .ack = snd(4300), .ctl = ACK, .wnd = 4000});
  h.expect(Seg{.seq = snd(4300), .ack = rcv(0), .ctl = PSH | ACK, .data = stream(4300, 700)});
  h.expect_nothing();
}

// --- The persist timer (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17) ---------------------------------

// A zero window: after an RTO, a one-octet probe; the interval doubles while the peer keeps
// the window shut; when it opens, the data goes from SND.UNA.
TEST(DataPersist, ZeroWindowProbesBackOffUntilWindowOpens) {
  Harness h;
  h.established();
  h.write("hello");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "hello"});
  h.send(Seg{.seq = rcv(0), .ack = snd(5), .ctl = ACK, .wnd = 0});
  h.write("world");
  h.expect_nothing();
  ASSERT_EQ(h.conn.status().rto.as_micros(), 200'000);

  for (int64_t interval_ms : {200, 400, 800}) {
    h.advance(Duration::millis(interval_ms - 1));
    h.expect_nothing();
    h.advance(Duration::millis(1));
    h.expect(Seg{.seq = snd(5), .ack = rcv(0), .ctl = ACK, .data = "w"});
    h.send(Seg{.seq = rcv(0), .ack = snd(5), .ctl = ACK, .wnd = 0});  // still closed
    h.expect_nothing();
  }
  h.send(Seg{.seq = rcv(0), .ack = snd(5), .ctl = ACK, .wnd = 65535});
  h.expect(Seg{.seq = snd(5), .ack = rcv(0), .ctl = PSH | ACK, .data = "world"});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
}

// RFC 1122 §4.2.2.17: the interval is capped (at the maximum RTO, 120 s) and the sender keeps
// probing as long as the peer answers — far past max_retransmits.
TEST(DataPersist, ProbesCappedAndNeverGiveUpWhileAnswered) {
  Config c = Harness::plain_config();
  c.max_retransmits = 3;
  Harness h(c);
  h.established();
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK, .wnd = 0});
  h.write("x");
  h.expect_nothing();
  for (int i = 0; i < 15; ++i) {
    const Duration interval = std::min(Duration::millis(200LL << i), Duration::seconds(120));
    h.advance(interval - Duration::millis(1));
    h.expect_nothing();
    h.advance(Duration::millis(1));
    h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK, .data = "x"});
    h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK, .wnd = 0});
  }
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
}

// --- Receiving: ACK generation (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2, RFC 5681 §4.2) ----------

TEST(DataDelayedAck, SingleSegmentAckedAfter40ms) {
  Harness h;
  h.established();
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = PSH | ACK, .data = "hi"});
  h.advance(Duration::millis(39));
  h.expect_nothing();
  h.advance(Duration::millis(1));
  h.expect(Seg{.seq = snd(0), .ack = rcv(2), .ctl = ACK});
  h.expect_nothing();
}

// "an ACK SHOULD be generated for at least every second full-sized segment".
TEST(DataDelayedAck, SecondFullSizedSegmentAckedAtOnce) {
  Harness h;
  h.established();
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK, .data = stream(0, 1000)});
  h.expect_nothing();
  h.send(Seg{.seq = rcv(1000), .ack = snd(0), .ctl = ACK, .data = stream(1000, 1000)});
  h.expect(Seg{.seq = snd(0), .ack = rcv(2000), .ctl = ACK});
  h.advance(Duration::millis(40));
  h.expect_nothing();
}

// RFC 5681 §4.2: out-of-order data is acknowledged at once (the duplicate ACKs drive fast
// retransmit), and so is a segment that fills all or part of a gap.
TEST(DataDelayedAck, OutOfOrderAndHoleFillingAckedAtOnce) {
  Harness h;
  h.established();
  h.send(Seg{.seq = rcv(10), .ack = snd(0), .ctl = ACK, .data = stream(10, 10)});
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
  h.send(Seg{.seq = rcv(30), .ack = snd(0), .ctl = ACK, .data = stream(30, 10)});
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK, .data = stream(0, 5)});  // part of a gap
  h.expect(Seg{.seq = snd(0), .ack = rcv(5), .ctl = ACK});
  h.send(Seg{.seq = rcv(5), .ack = snd(0), .ctl = ACK, .data = stream(5, 5)});
  h.expect(Seg{.seq = snd(0), .ack = rcv(20), .ctl = ACK});
  h.send(Seg{.seq = rcv(20), .ack = snd(0), .ctl = ACK, .data = stream(20, 10)});
  h.expect(Seg{.seq = snd(0), .ack = rcv(40), .ctl = ACK});
  h.advance(Duration::millis(40));
  h.expect_nothing();
  EXPECT_EQ(h.read(), stream(0, 40));
}

// The delayed ACK rides on our next data segment instead.
TEST(DataDelayedAck, AckPiggybacksOnData) {
  Harness h;
  h.established();
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = PSH | ACK, .data = "ping"});
  h.advance(Duration::millis(10));
  h.expect_nothing();
  h.write("pong");
  h.expect(Seg{.seq = snd(0), .ack = rcv(4), .ctl = PSH | ACK, .data = "pong"});
  h.advance(Duration::millis(40));
  h.expect_nothing();
}

// --- Receiving: the window (RFC 9293 §3.8.6, §3.8.6.2.2) ----------------------------------------

// Reading reopens a zero window: once the application has freed enough, an ACK tells the
// peer (it is stalled on the zero window and would otherwise wait for its persist timer).
TEST(DataReceive, WindowUpdateAfterReadReopensZeroWindow) {
  Harness h(small_window_config());
  h.established();
  fill_window(h, snd(0));
  EXPECT_EQ(h.read(500), stream(0, 500));
  h.expect_nothing();  // 500 < min(RCV.BUFF / 2, MSS): no update
  EXPECT_EQ(h.read(1500), stream(500, 1500));
  h.expect(Seg{.seq = snd(0), .ack = rcv(4000), .ctl = ACK, .wnd = 2000}, true);
  h.expect_nothing();
}

// Receiver SWS avoidance: "keep RCV.NXT+RCV.WND fixed until the reduction satisfies
// RCV.BUFF - RCV.USER - RCV.WND >= min(Fr * RCV.BUFF, Eff.snd.MSS)", Fr = 1/2 (here
// min(2000, 1000) = 1000). Nor does the right edge ever move left.
TEST(DataReceive, ReceiverSwsAvoidanceAndNoShrinking) {
  Harness h(small_window_config());
  establish(h, mss_option(1000));  // Eff.snd.MSS = 1000; our window 4000, edge rcv(4000)
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK, .data = stream(0, 1000)});
  h.advance(Duration::millis(40));
  h.expect(Seg{.seq = snd(0), .ack = rcv(1000), .ctl = ACK, .wnd = 3000}, true);

  EXPECT_EQ(h.read(500), stream(0, 500));  // 500 free beyond the edge: too little to offer
  h.expect_nothing();
  h.send(Seg{.seq = rcv(1000), .ack = snd(0), .ctl = ACK, .data = stream(1000, 1000)});
  h.advance(Duration::millis(40));
  h.expect(Seg{.seq = snd(0), .ack = rcv(2000), .ctl = ACK, .wnd = 2000}, true);  // edge kept

  // The window fills: 500 octets are free, but offering them would be silly-window: zero.
  h.send(Seg{.seq = rcv(2000), .ack = snd(0), .ctl = ACK, .data = stream(2000, 1000)});
  h.send(Seg{.seq = rcv(3000), .ack = snd(0), .ctl = ACK, .data = stream(3000, 1000)});
  h.expect(Seg{.seq = snd(0), .ack = rcv(4000), .ctl = ACK, .wnd = 0}, true);
  h.expect_nothing();

  EXPECT_EQ(h.read(), stream(500, 3500));
  h.expect(Seg{.seq = snd(0), .ack = rcv(4000), .ctl = ACK, .wnd = 4000}, true);
  h.expect_nothing();
}

// The same rule when the window is already zero: a probe is answered with a zero window until
// at least min(Fr * RCV.BUFF, Eff.snd.MSS) can be offered.
TEST(DataReceive, ZeroWindowNotReopenedBySmallAmount) {
  Harness h(small_window_config());
  h.established();
  fill_window(h, snd(0));
  EXPECT_EQ(h.read(500), stream(0, 500));
  h.expect_nothing();
  h.send(Seg{.seq = rcv(4000), .ack = snd(0), .ctl = ACK, .data = "z"});  // zero-window probe
  h.expect(Seg{.seq = snd(0), .ack = rcv(4000), .ctl = ACK, .wnd = 0}, true);
  h.expect_nothing();
  EXPECT_EQ(h.conn.readable(), 3500u);  // the probe's octet was not taken

  EXPECT_EQ(h.read(1500), stream(500, 1500));
  h.expect(Seg{.seq = snd(0), .ack = rcv(4000), .ctl = ACK, .wnd = 2000}, true);
  h.expect_nothing();
}

// --- Retransmission (RFC 6298) -------------------------------------------------------------

// §2.2: the handshake's RTT R gives SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 * RTTVAR; §5.4:
// on expiry, retransmit the earliest unacknowledged segment.
TEST(DataRetransmit, RtoFromHandshakeSample) {
  Harness h;
  establish(h, mss_option(1000), 65535, Duration::millis(100));
  EXPECT_EQ(h.conn.rtt().srtt().as_micros(), 100'000);
  EXPECT_EQ(h.conn.rtt().rttvar().as_micros(), 50'000);
  EXPECT_EQ(h.conn.rtt().rto().as_micros(), 300'000);
  h.write("a");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "a"});
  h.advance(Duration::millis(299));
  h.expect_nothing();
  h.advance(Duration::millis(1));
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "a"});
  h.expect_nothing();
}

// With the RFC's 1 s floor (§2.4; synack's default is Linux's 200 ms): the first timeout at
// 1 s, then §5.5 doubles it each time.
TEST(DataRetransmit, OneSecondFloorAndExponentialBackoff) {
  Config c = Harness::plain_config();
  c.rtt.min_rto = Duration::seconds(1);
  Harness h(c);
  h.established();
  h.write("hello");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "hello"});
  for (int64_t rto_ms : {1000, 2000, 4000, 8000}) {
    h.advance(Duration::millis(rto_ms - 1));
    h.expect_nothing();
    h.advance(Duration::millis(1));
    h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "hello"});
  }
  h.send(Seg{.seq = rcv(0), .ack = snd(5), .ctl = ACK});
  h.advance(Duration::seconds(60));
  h.expect_nothing();  // §5.2: all acknowledged, the timer is off
  EXPECT_EQ(h.conn.status().stats.timeouts, 4u);
}

// After an RTO the sender goes back to SND.UNA (§5.4) with the loss window of one segment
// (RFC 5681 §3.1) and slow start sends the rest as ACKs come back; §5.3: an ACK of new
// data restarts the timer.
TEST(DataRetransmit, RtoResendsFromSndUnaInSlowStart_Rfc5681_3_1) {
  Harness h;
  establish(h, mss_option(1000));
  h.write(stream(0, 3000));
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK, .data = stream(0, 1000)});
  h.expect(Seg{.seq = snd(1000), .ack = rcv(0), .ctl = ACK, .data = stream(1000, 1000)});
  h.expect(Seg{.seq = snd(2000), .ack = rcv(0), .ctl = PSH | ACK, .data = stream(2000, 1000)});
  h.send(Seg{.seq = rcv(0), .ack = snd(1000), .ctl = ACK}, Duration::millis(50));
  ASSERT_EQ(h.conn.status().rto.as_micros(), 200'000);  // SRTT 6.25 ms: the 200 ms floor
  h.advance(Duration::millis(199));
  h.expect_nothing();
  h.advance(Duration::millis(1));
  h.expect(Seg{.seq = snd(1000), .ack = rcv(0), .ctl = ACK, .data = stream(1000, 1000)});
  h.expect_nothing();  // cwnd = 1 segment
  EXPECT_EQ(h.conn.status().cwnd, 1000u);
  EXPECT_EQ(h.conn.recovery(), RecoveryState::kTimeout);
  h.send(Seg{.seq = rcv(0), .ack = snd(2000), .ctl = ACK}, Duration::millis(10));
  h.expect(Seg{.seq = snd(2000), .ack = rcv(0), .ctl = PSH | ACK, .data = stream(2000, 1000)});
  h.expect_nothing();
  h.send(Seg{.seq = rcv(0), .ack = snd(3000), .ctl = ACK});
  EXPECT_EQ(h.conn.recovery(), RecoveryState::kOpen);
  h.advance(Duration::seconds(10));
  h.expect_nothing();
  const auto stats = h.conn.status().stats;
  EXPECT_EQ(stats.timeouts, 1u);
  EXPECT_EQ(stats.rto_recoveries, 1u);
  EXPECT_EQ(stats.retransmitted_segments, 2u);
  EXPECT_EQ(stats.retransmitted_bytes, 2000u);
}

// Karn (§3): no RTT sample from a retransmitted segment, and the backed-off RTO stays until
// a sample from new data collapses it (§5.7's note).
TEST(DataRetransmit, KarnNoSampleFromRetransmittedSegment) {
  Harness h;
  establish(h, mss_option(1000), 65535, Duration::millis(100));  // RTO 300 ms
  h.write("a");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "a"});
  h.advance(Duration::millis(300));
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "a"});
  h.send(Seg{.seq = rcv(0), .ack = snd(1), .ctl = ACK}, Duration::millis(50));
  EXPECT_EQ(h.conn.rtt().srtt().as_micros(), 100'000);  // unchanged
  EXPECT_EQ(h.conn.rtt().rttvar().as_micros(), 50'000);

  h.write("b");
  h.expect(Seg{.seq = snd(1), .ack = rcv(0), .ctl = PSH | ACK, .data = "b"});
  h.advance(Duration::millis(599));  // the backed-off 600 ms, not 300
  h.expect_nothing();
  h.advance(Duration::millis(1));
  h.expect(Seg{.seq = snd(1), .ack = rcv(0), .ctl = PSH | ACK, .data = "b"});
  h.send(Seg{.seq = rcv(0), .ack = snd(2), .ctl = ACK}, Duration::millis(10));
  EXPECT_EQ(h.conn.rtt().srtt().as_micros(), 100'000);

  // A clean exchange: R = 100 ms, RTTVAR = 3/4 * 50 + 1/4 * 0, RTO = 100 + 4 * 37.5 = 250.
  h.write("c");
  h.expect(Seg{.seq = snd(2), .ack = rcv(0), .ctl = PSH | ACK, .data = "c"});
  h.send(Seg{.seq = rcv(0), .ack = snd(3), .ctl = ACK}, Duration::millis(100));
  EXPECT_EQ(h.conn.rtt().srtt().as_micros(), 100'000);
  EXPECT_EQ(h.conn.rtt().rttvar().as_micros(), 37'500);
  EXPECT_EQ(h.conn.rtt().rto().as_micros(), 250'000);
}

// §2.2 on data: the handshake gave no sample (our SYN was retransmitted, Karn), so RTO is 3 s
// (§5.7); the first clean data exchange sets SRTT <- R, RTTVAR <- R/2.
TEST(DataRetransmit, FirstSampleSetsSrttAndRttvar) {
  Harness h;
  h.syn_sent();
  h.advance(Duration::millis(999));
  h.expect_nothing();
  h.advance(Duration::millis(1));  // §2.1: the initial RTO, 1 s
  h.expect(Seg{.seq = kIss, .ctl = SYN});
  h.send(Seg{.seq = kPeerIss, .ack = snd(0), .ctl = SYN | ACK, .options = mss_option(1000)},
         Duration::millis(100));
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
  EXPECT_FALSE(h.conn.rtt().has_sample());
  EXPECT_EQ(h.conn.rtt().rto().as_micros(), 3'000'000);

  h.write("a");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "a"});
  h.send(Seg{.seq = rcv(0), .ack = snd(1), .ctl = ACK}, Duration::millis(100));
  EXPECT_EQ(h.conn.rtt().srtt().as_micros(), 100'000);
  EXPECT_EQ(h.conn.rtt().rttvar().as_micros(), 50'000);
  EXPECT_EQ(h.conn.status().rto.as_micros(), 300'000);

  h.write("b");
  h.expect(Seg{.seq = snd(1), .ack = rcv(0), .ctl = PSH | ACK, .data = "b"});
  h.advance(Duration::millis(299));
  h.expect_nothing();
  h.advance(Duration::millis(1));
  h.expect(Seg{.seq = snd(1), .ack = rcv(0), .ctl = PSH | ACK, .data = "b"});
  h.expect_nothing();
}

// §2.3: later samples are smoothed: RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|, then
// SRTT <- 7/8 SRTT + 1/8 R'.
TEST(DataRetransmit, LaterSamplesSmoothed) {
  Harness h;
  establish(h, mss_option(1000), 65535, Duration::millis(100));  // SRTT 100, RTTVAR 50
  h.write("a");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "a"});
  h.send(Seg{.seq = rcv(0), .ack = snd(1), .ctl = ACK}, Duration::millis(200));
  EXPECT_EQ(h.conn.rtt().rttvar().as_micros(), 62'500);  // 3/4 * 50 + 1/4 * 100
  EXPECT_EQ(h.conn.rtt().srtt().as_micros(), 112'500);   // 7/8 * 100 + 1/8 * 200
  h.write("b");
  h.expect(Seg{.seq = snd(1), .ack = rcv(0), .ctl = PSH | ACK, .data = "b"});
  h.advance(Duration::micros(362'499));  // RTO = 112.5 + 4 * 62.5 ms
  h.expect_nothing();
  h.advance(Duration::micros(1));
  h.expect(Seg{.seq = snd(1), .ack = rcv(0), .ctl = PSH | ACK, .data = "b"});
  h.expect_nothing();
}

// RFC 1122 §4.2.3.5 R2 (RFC 9293 §3.8.3): after max_retransmits, give up with ETIMEDOUT.
TEST(DataRetransmit, GivesUpAfterMaxRetransmits) {
  Config c = Harness::plain_config();
  c.max_retransmits = 3;
  Harness h(c);
  h.established();  // RTO 200 ms
  h.write("a");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "a"});
  for (int64_t rto_ms : {200, 400, 800}) {
    h.advance(Duration::millis(rto_ms));
    h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "a"});
  }
  h.events.clear();
  h.advance(Duration::millis(1599));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  h.advance(Duration::millis(1));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(h.conn.error(), std::make_error_code(std::errc::timed_out));
  EXPECT_TRUE(h.saw(EventKind::kError));
  EXPECT_TRUE(h.saw(EventKind::kClosed));
}

// RFC 9293 §3.10.8 USER TIMEOUT: data unacknowledged for user_timeout aborts the connection.
TEST(DataRetransmit, UserTimeoutAborts) {
  Config c = Harness::plain_config();
  c.user_timeout = Duration::seconds(5);
  Harness h(c);
  h.established();
  h.write("a");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "a"});
  for (int64_t rto_ms : {200, 400, 800, 1600}) {  // at 0.2, 0.6, 1.4 and 3.0 s
    h.advance(Duration::millis(rto_ms));
    h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "a"});
  }
  h.advance(Duration::millis(1999));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  h.advance(Duration::millis(1));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(h.conn.error(), std::make_error_code(std::errc::timed_out));
}

// --- Window scaling (RFC 7323 §2) -------------------------------------------------------------

Config window_scale_config() {
  Config c = Harness::plain_config();
  c.window_scaling = true;
  c.receive_buffer = 256 * 1024;  // our shift: 3 (65535 << 2 falls 4 octets short)
  return c;
}

wire::TcpOptions window_scale_options(uint8_t shift) {
  wire::TcpOptions o = mss_option(1000);
  o.window_scale = shift;
  return o;
}

// §2.3: SND.WND <- SEG.WND << Snd.Wind.Shift (not in the SYN-ACK itself, §2.2).
TEST(DataWindowScale, ReceivedWindowShiftedByPeerScale) {
  Harness h(window_scale_config());
  establish(h, window_scale_options(2), 1000);
  EXPECT_EQ(h.conn.snd_wnd(), 1000u);  // the SYN-ACK's window is not scaled
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK, .wnd = 1000});
  EXPECT_EQ(h.conn.snd_wnd(), 4000u);
  h.write(stream(0, 5000));
  for (uint32_t i = 0; i < 4; ++i) {
    h.expect(Seg{.seq = snd(i * 1000), .ack = rcv(0), .ctl = ACK, .data = stream(i * 1000, 1000)});
  }
  h.expect_nothing();
}

// Our window field is RCV.WND >> Rcv.Wind.Shift. The edge it names stays within the receive
// buffer: when the window is no multiple of the unit and rounding up would name octets the
// buffer cannot hold, it is rounded down, and the edge seems to retreat by less than one
// unit (RFC 7323 §2.4, appendix F).
TEST(DataWindowScale, AdvertisedWindowShiftedByOurScale) {
  Harness h(window_scale_config());
  const Sent ack = establish(h, window_scale_options(2));
  EXPECT_EQ(ack.tcp.window, 262144 >> 3);
  EXPECT_EQ(h.conn.status().rcv_wscale, 3);

  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK, .data = stream(0, 1000)});
  h.advance(Duration::millis(40));
  h.expect(Seg{.seq = snd(0), .ack = rcv(1000), .ctl = ACK, .wnd = (262144 - 1000) >> 3}, true);

  // 100 more octets, unread: the window (261044) is no multiple of 8, and the buffer ends
  // at rcv(262144). Rounding up would name rcv(262148): the field rounds down instead.
  h.send(Seg{.seq = rcv(1000), .ack = snd(0), .ctl = ACK, .data = stream(1000, 100)});
  h.advance(Duration::millis(40));
  const Sent next = h.take();
  EXPECT_EQ(next.ack(), rcv(1100));
  EXPECT_EQ(next.ack() + (uint32_t{next.tcp.window} << 3), rcv(262140));
  h.expect_nothing();

  // Once the application reads, the window is a multiple of 8 again: rounding up (to keep
  // an edge) happens only while it stays within the buffer.
  EXPECT_EQ(h.read().size(), 1100u);
  h.send(Seg{.seq = rcv(1100), .ack = snd(0), .ctl = ACK, .data = stream(1100, 5)});
  h.advance(Duration::millis(40));
  const Sent after_read = h.take();
  EXPECT_LE(after_read.ack() + (uint32_t{after_read.tcp.window} << 3), rcv(1100 + 262144));
}

// --- Timestamps (RFC 7323 §3–5) and SACK (RFC 2018) ----------------------------------------

constexpr uint32_t kPeerTs = 5000;  // the peer's TSval in its SYN-ACK

Config options_config() {
  Config c = Harness::plain_config();
  c.timestamps = true;
  c.sack = true;
  return c;
}

// ESTABLISHED with timestamps and SACK. Our TSval runs on a 1 ms clock from the value in our
// SYN; the peer's segments carry its TSval and echo ours.
class OptionPeer {
 public:
  Harness h{options_config()};

  void establish(Duration rtt = {}) {
    EXPECT_FALSE(h.conn.connect(h.tuple, SeqNum(kIss), h.now));
    h.collect();
    const Sent syn = h.expect(Seg{.seq = kIss, .ctl = SYN});
    EXPECT_TRUE(syn.tcp.options.sack_permitted);
    ASSERT_TRUE(syn.tcp.options.timestamps.has_value());
    ts0_ = syn.tcp.options.timestamps->value;
    t0_ = h.now;
    wire::TcpOptions o = mss_option(1000);
    o.sack_permitted = true;
    o.timestamps = wire::TcpTimestamps{kPeerTs, ts0_};
    h.send(Seg{.seq = kPeerIss, .ack = snd(0), .ctl = SYN | ACK, .options = o}, rtt);
    const Sent ack = h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
    expect_ts(ack, kPeerTs);
    ASSERT_EQ(h.conn.state(), State::kEstablished);
  }

  // Our TSval now.
  uint32_t our_ts() const { return ts0_ + static_cast<uint32_t>((h.now - t0_).as_millis()); }

  // `s` with the peer's TSval `tsval`, echoing `tsecr` (by default our TSval now).
  Seg ts(Seg s, uint32_t tsval, std::optional<uint32_t> tsecr = std::nullopt) const {
    s.options.timestamps = wire::TcpTimestamps{tsval, tsecr.value_or(our_ts())};
    return s;
  }

  // A segment from us carries TSval = our clock now and TSecr = `tsecr`.
  void expect_ts(const Sent& s, uint32_t tsecr) const {
    ASSERT_TRUE(s.tcp.options.timestamps.has_value()) << describe(s);
    EXPECT_EQ(s.tcp.options.timestamps->value, our_ts()) << describe(s);
    EXPECT_EQ(s.tcp.options.timestamps->echo_reply, tsecr) << describe(s);
  }

  // The SACK blocks of `s`, as (left, right) offsets of the peer's stream.
  static std::vector<std::pair<uint32_t, uint32_t>> sack(const Sent& s) {
    std::vector<std::pair<uint32_t, uint32_t>> out;
    for (const auto& b : s.tcp.options.sack) {
      out.emplace_back(b.left.value() - rcv(0), b.right.value() - rcv(0));
    }
    return out;
  }

 private:
  uint32_t ts0_ = 0;
  Instant t0_;
};

// §3.2: once negotiated, every segment carries TSopt: TSval from our clock, TSecr = TS.Recent.
TEST(DataTimestamps, EverySegmentCarriesTimestamps) {
  OptionPeer p;
  p.establish();
  Harness& h = p.h;
  h.advance(Duration::millis(10));
  h.write("hello");
  p.expect_ts(h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "hello"}),
              kPeerTs);
  h.send(p.ts(Seg{.seq = rcv(0), .ack = snd(5), .ctl = PSH | ACK, .data = "world"}, kPeerTs + 7),
         Duration::millis(5));
  h.advance(Duration::millis(40));
  p.expect_ts(h.expect(Seg{.seq = snd(5), .ack = rcv(5), .ctl = ACK}), kPeerTs + 7);
  // A duplicate is not acceptable: its ACK echoes TS.Recent, and its TSval is not taken.
  h.send(p.ts(Seg{.seq = rcv(0), .ack = snd(5), .ctl = PSH | ACK, .data = "world"}, kPeerTs + 8),
         Duration::millis(5));
  p.expect_ts(h.expect(Seg{.seq = snd(5), .ack = rcv(5), .ctl = ACK}), kPeerTs + 7);
  h.expect_nothing();
}

// §4.3: "If SEG.TSval >= TS.Recent and SEG.SEQ =< Last.ACK.sent, then SEG.TSval is copied to
// TS.Recent" — so a delayed ACK echoes the earliest unacknowledged segment (case A), and the
// ACK of a filled hole echoes the segment that filled it, not the later out-of-order one (C).
TEST(DataTimestamps, TsRecentUpdatedOnlyAtLeftEdge) {
  OptionPeer p;
  p.establish();
  Harness& h = p.h;
  h.send(p.ts(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK, .data = stream(0, 100)}, 6001));
  h.send(p.ts(Seg{.seq = rcv(100), .ack = snd(0), .ctl = ACK, .data = stream(100, 100)}, 6002));
  h.advance(Duration::millis(40));
  p.expect_ts(h.expect(Seg{.seq = snd(0), .ack = rcv(200), .ctl = ACK}), 6001);

  h.send(p.ts(Seg{.seq = rcv(300), .ack = snd(0), .ctl = ACK, .data = stream(300, 100)}, 6003));
  p.expect_ts(h.expect(Seg{.seq = snd(0), .ack = rcv(200), .ctl = ACK}), 6001);
  h.send(p.ts(Seg{.seq = rcv(200), .ack = snd(0), .ctl = ACK, .data = stream(200, 100)}, 6004));
  p.expect_ts(h.expect(Seg{.seq = snd(0), .ack = rcv(400), .ctl = ACK}), 6004);
  h.expect_nothing();
  EXPECT_EQ(h.read(), stream(0, 400));
}

// §5.3 R1: a segment whose TSval is older than TS.Recent is an old duplicate: ACK and drop.
TEST(DataTimestamps, PawsDropsOldSegment) {
  OptionPeer p;
  p.establish();
  Harness& h = p.h;
  h.send(p.ts(Seg{.seq = rcv(0), .ack = snd(0), .ctl = PSH | ACK, .data = "old"}, kPeerTs - 1));
  p.expect_ts(h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK}), kPeerTs);
  h.expect_nothing();
  EXPECT_EQ(h.conn.readable(), 0u);
  EXPECT_EQ(h.conn.status().stats.paws_rejected, 1u);

  h.send(p.ts(Seg{.seq = rcv(0), .ack = snd(0), .ctl = PSH | ACK, .data = "new"}, kPeerTs + 1));
  EXPECT_EQ(h.read(), "new");
}

// §5.3 R1 applies "if the RST bit is not set": an exact RST with an old TSval still resets.
TEST(DataTimestamps, PawsDoesNotApplyToRst) {
  OptionPeer p;
  p.establish();
  Harness& h = p.h;
  h.send(p.ts(Seg{.seq = rcv(0), .ctl = RST}, kPeerTs - 100));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(h.conn.error(), std::make_error_code(std::errc::connection_reset));
}

// §3.2 (synack's documented choice): "If a non-<RST> segment is received without a TSopt, a
// TCP SHOULD silently drop the segment."
TEST(DataTimestamps, SegmentWithoutTimestampsDropped) {
  OptionPeer p;
  p.establish();
  Harness& h = p.h;
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = PSH | ACK, .data = "bare"});
  h.advance(Duration::millis(100));
  h.expect_nothing();
  EXPECT_EQ(h.conn.readable(), 0u);
}

// §4.1: the RTT is measured from TSecr, even for a retransmitted segment (the echoed TSval
// says which transmission is acknowledged, so Karn's restriction is not needed).
TEST(DataTimestamps, RttFromTsecrEvenAfterRetransmission) {
  OptionPeer p;
  p.establish(Duration::millis(100));  // SRTT 100, RTTVAR 50, RTO 300 (from TSecr)
  Harness& h = p.h;
  EXPECT_EQ(h.conn.rtt().srtt().as_micros(), 100'000);
  h.write("a");
  p.expect_ts(h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "a"}), kPeerTs);
  h.advance(Duration::millis(300));
  const uint32_t retransmission_ts = p.our_ts();
  p.expect_ts(h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "a"}), kPeerTs);
  h.send(p.ts(Seg{.seq = rcv(0), .ack = snd(1), .ctl = ACK}, kPeerTs + 1, retransmission_ts),
         Duration::millis(50));
  EXPECT_EQ(h.conn.rtt().rttvar().as_micros(), 50'000);  // 3/4 * 50 + 1/4 * 50
  EXPECT_EQ(h.conn.rtt().srtt().as_micros(), 93'750);    // 7/8 * 100 + 1/8 * 50
  h.expect_nothing();
}

// RFC 2018 §4: while out-of-order data is held, every ACK carries SACK blocks; "the first SACK
// block MUST specify the contiguous block of data containing the segment which triggered this
// ACK", then the most recently reported ones; §3: at most 3 blocks beside timestamps.
TEST(DataSack, BlocksMostRecentFirstAtMostThreeWithTimestamps) {
  OptionPeer p;
  p.establish();
  Harness& h = p.h;
  using Blocks = std::vector<std::pair<uint32_t, uint32_t>>;
  auto ooo = [&](uint32_t offset) {
    h.send(p.ts(Seg{.seq = rcv(offset), .ack = snd(0), .ctl = ACK, .data = stream(offset, 100)},
                kPeerTs + offset));
    return h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
  };
  EXPECT_EQ(OptionPeer::sack(ooo(100)), (Blocks{{100, 200}}));
  EXPECT_EQ(OptionPeer::sack(ooo(300)), (Blocks{{300, 400}, {100, 200}}));
  EXPECT_EQ(OptionPeer::sack(ooo(500)), (Blocks{{500, 600}, {300, 400}, {100, 200}}));
  EXPECT_EQ(OptionPeer::sack(ooo(700)), (Blocks{{700, 800}, {500, 600}, {300, 400}}));
  // [200, 300) joins [100, 200) and [300, 400): the merged block comes first.
  EXPECT_EQ(OptionPeer::sack(ooo(200)), (Blocks{{100, 400}, {700, 800}, {500, 600}}));

  // The hole at the left edge fills: the ACK moves, the rest is still reported.
  h.send(p.ts(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK, .data = stream(0, 100)}, kPeerTs));
  const Sent filled = h.expect(Seg{.seq = snd(0), .ack = rcv(400), .ctl = ACK});
  EXPECT_EQ(OptionPeer::sack(filled), (Blocks{{700, 800}, {500, 600}}));
  h.expect_nothing();
  EXPECT_EQ(h.read(), stream(0, 400));
}

// --- Urgent data (RFC 9293 §3.8.5, RFC 6093) ---------------------------------------------------

size_t send_urgent(Harness& h, const std::string& data) {
  auto n = h.conn.send(std::as_bytes(std::span(data.data(), data.size())), h.now, true);
  h.collect();
  return n ? *n : 0;
}

// The urgent pointer is the offset from SEG.SEQ of the octet after the urgent data (RFC 6093
// §4), and URG goes on every segment carrying data before it until that is acknowledged.
TEST(DataUrgent, SendSetsUrgAndPointerUntilAcknowledged) {
  Harness h;
  h.established();
  EXPECT_EQ(send_urgent(h, "abc"), 3u);
  EXPECT_EQ(
      h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = URG | PSH | ACK, .data = "abc"}).tcp.urgent,
      3);
  h.advance(Duration::millis(200));  // the retransmission still carries it
  EXPECT_EQ(
      h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = URG | PSH | ACK, .data = "abc"}).tcp.urgent,
      3);
  h.send(Seg{.seq = rcv(0), .ack = snd(3), .ctl = ACK});
  h.write("d");
  h.expect(Seg{.seq = snd(3), .ack = rcv(0), .ctl = PSH | ACK, .data = "d"});
  h.expect_nothing();
}

TEST(DataUrgent, PointerOnEverySegmentOfUrgentWrite) {
  Harness h;
  establish(h, mss_option(1000));
  h.conn.set_nodelay(true);
  EXPECT_EQ(send_urgent(h, stream(0, 1500)), 1500u);
  EXPECT_EQ(h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = URG | ACK, .data = stream(0, 1000)})
                .tcp.urgent,
            1500);
  EXPECT_EQ(
      h.expect(
           Seg{.seq = snd(1000), .ack = rcv(0), .ctl = URG | PSH | ACK, .data = stream(1000, 500)})
          .tcp.urgent,
      500);
  h.expect_nothing();
}

// Receiving URG: "RCV.UP <- max(RCV.UP, SEG.UP)" and the user is told (urgent_mark); the
// urgent data stays in the stream (RFC 6093 §5: no out-of-band byte).
TEST(DataUrgent, ReceivedUrgSetsMarkDataStaysInStream) {
  Harness h;
  h.established();
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = URG | PSH | ACK, .data = "xyzabc", .up = 3});
  ASSERT_TRUE(h.conn.urgent_mark().has_value());
  EXPECT_EQ(*h.conn.urgent_mark(), 3u);
  EXPECT_EQ(h.read(2), "xy");
  ASSERT_TRUE(h.conn.urgent_mark().has_value());
  EXPECT_EQ(*h.conn.urgent_mark(), 1u);
  EXPECT_EQ(h.read(), "zabc");
  EXPECT_FALSE(h.conn.urgent_mark().has_value());
  h.advance(Duration::millis(40));
  h.expect(Seg{.seq = snd(0), .ack = rcv(6), .ctl = ACK});
  h.expect_nothing();
}

// --- Keep-alive (RFC 1122 §4.2.3.6) -----------------------------------------------------------

// "Keep-alive packets MUST only be sent when ... enabled"; "It MUST default to off."
TEST(DataKeepalive, OffByDefault) {
  Harness h;
  h.established();
  h.advance(Duration::seconds(3 * 3600));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
}

// A probe is <SEQ=SND.UNA-1><ACK=RCV.NXT><CTL=ACK> without data, which the peer must answer;
// any segment from the peer restarts the idle time.
TEST(DataKeepalive, ProbeAfterIdleAnswerRestartsIt) {
  Harness h;
  h.established();
  h.conn.set_keepalive({.enabled = true,
                        .idle = Duration::seconds(10),
                        .interval = Duration::seconds(2),
                        .probes = 3},
                       h.now);
  h.advance(Duration::millis(9999));
  h.expect_nothing();
  h.advance(Duration::millis(1));
  h.expect(Seg{.seq = snd(0) - 1, .ack = rcv(0), .ctl = ACK});
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK});  // the answer
  h.expect_nothing();
  h.advance(Duration::millis(9999));
  h.expect_nothing();
  h.advance(Duration::millis(1));
  h.expect(Seg{.seq = snd(0) - 1, .ack = rcv(0), .ctl = ACK});
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK});
  h.advance(Duration::seconds(5));
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = PSH | ACK, .data = "hi"});  // traffic
  h.advance(Duration::millis(40));
  h.expect(Seg{.seq = snd(0), .ack = rcv(2), .ctl = ACK});
  h.advance(Duration::millis(9959));
  h.expect_nothing();
  h.advance(Duration::millis(1));
  h.expect(Seg{.seq = snd(0) - 1, .ack = rcv(2), .ctl = ACK});
  EXPECT_EQ(h.conn.state(), State::kEstablished);
}

// Unanswered probes, `probes` of them `interval` apart: then ETIMEDOUT.
TEST(DataKeepalive, UnansweredProbesTimeOut) {
  Harness h;
  h.established();
  h.conn.set_keepalive({.enabled = true,
                        .idle = Duration::seconds(10),
                        .interval = Duration::seconds(2),
                        .probes = 3},
                       h.now);
  h.advance(Duration::seconds(10));
  h.expect(Seg{.seq = snd(0) - 1, .ack = rcv(0), .ctl = ACK});
  h.advance(Duration::seconds(2));
  h.expect(Seg{.seq = snd(0) - 1, .ack = rcv(0), .ctl = ACK});
  h.advance(Duration::seconds(2));
  h.expect(Seg{.seq = snd(0) - 1, .ack = rcv(0), .ctl = ACK});
  h.advance(Duration::millis(1999));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  h.advance(Duration::millis(1));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(h.conn.error(), std::make_error_code(std::errc::timed_out));
  EXPECT_TRUE(h.saw(EventKind::kError));
}

// --- Statistics (RFC 9293 §3.10.6 STATUS) ------------------------------------------------------

TEST(DataStats, CountsSegmentsBytesAndRetransmissions) {
  Harness h;
  h.established();
  auto stats = [&] { return h.conn.status().stats; };
  EXPECT_EQ(stats().segments_out, 2u);  // SYN, ACK
  EXPECT_EQ(stats().segments_in, 1u);   // SYN-ACK

  h.write("hello");
  h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = PSH | ACK, .data = "hello"});
  h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = PSH | ACK, .data = "world"});
  h.advance(Duration::millis(40));
  h.expect(Seg{.seq = snd(5), .ack = rcv(5), .ctl = ACK});
  h.advance(Duration::millis(160));  // RTO 200 ms
  h.expect(Seg{.seq = snd(0), .ack = rcv(5), .ctl = PSH | ACK, .data = "hello"});
  h.send(Seg{.seq = rcv(5), .ack = snd(5), .ctl = ACK});
  h.send(Seg{.seq = rcv(0), .ack = snd(5), .ctl = PSH | ACK, .data = "world"});  // duplicate
  h.expect(Seg{.seq = snd(5), .ack = rcv(5), .ctl = ACK});
  h.send(Seg{.seq = rcv(5), .ctl = SYN});
  h.expect(Seg{.seq = snd(5), .ack = rcv(5), .ctl = ACK});
  h.expect_nothing();

  const ConnectionStatus s = h.conn.status();
  EXPECT_EQ(s.state, State::kEstablished);
  EXPECT_EQ(s.stats.segments_out, 7u);
  EXPECT_EQ(s.stats.segments_in, 5u);
  EXPECT_EQ(s.stats.bytes_out, 10u);  // retransmissions included
  EXPECT_EQ(s.stats.bytes_in, 5u);
  EXPECT_EQ(s.stats.retransmitted_segments, 1u);
  EXPECT_EQ(s.stats.retransmitted_bytes, 5u);
  EXPECT_EQ(s.stats.timeouts, 1u);
  EXPECT_EQ(s.stats.dropped_out_of_window, 1u);
  EXPECT_EQ(s.stats.challenge_acks, 1u);
  EXPECT_EQ(s.send_queue, 0u);
  EXPECT_EQ(s.recv_queue, 5u);
}

}  // namespace
}  // namespace synack::tcp::testing
