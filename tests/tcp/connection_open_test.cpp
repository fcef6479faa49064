// Opening a connection, packet by packet: RFC 9293 §3.10.7.1–§3.10.7.4 for the states before
// and at the handshake (CLOSED, LISTEN, SYN_SENT, SYN_RCVD), the options negotiated there
// (RFC 9293 §3.7.1, RFC 7323, RFC 2018) and the first RTT sample (RFC 6298, Karn).
//
// One suite per state. Each test plays the peer, names the rule it checks and asserts every
// segment the connection emits (then that nothing else left) and the resulting state.
#include <algorithm>
#include <optional>
#include <ostream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "harness.hpp"
#include "synack/tcp/reset.hpp"

namespace synack::tcp {
// gtest prints a State by name (internal linkage: other test files may print it too).
[[maybe_unused]] static void PrintTo(State s, std::ostream* os) {
  *os << to_string(s);
}
}  // namespace synack::tcp

namespace synack::tcp::testing {
namespace {

constexpr uint32_t kIss = Harness::kIss;
constexpr uint32_t kPeerIss = Harness::kPeerIss;

// Every event since the last clear, as "FROM->TO" for state changes and the kind otherwise.
std::vector<std::string> events(const Harness& h) {
  std::vector<std::string> out;
  for (const auto& e : h.events) {
    if (e.kind == EventKind::kStateChanged) {
      out.push_back(std::string(to_string(e.from)) + "->" + std::string(to_string(e.to)));
    } else {
      out.push_back(std::string(to_string(e.kind)));
    }
  }
  return out;
}

// The error reported by an error event, if one was.
std::error_code reported_error(const Harness& h) {
  for (const auto& e : h.events) {
    if (e.kind == EventKind::kError) return e.error;
  }
  return {};
}

std::error_code errc(std::errc e) {
  return std::make_error_code(e);
}

// Options a peer puts in its SYN or SYN-ACK (or a later segment).
struct Offer {
  std::optional<uint16_t> mss;
  std::optional<uint8_t> wscale;
  bool sack_ok = false;
  std::optional<wire::TcpTimestamps> ts;
};

wire::TcpOptions options(const Offer& o) {
  wire::TcpOptions opts;
  opts.mss = o.mss;
  opts.window_scale = o.wscale;
  opts.sack_permitted = o.sack_ok;
  opts.timestamps = o.ts;
  return opts;
}

wire::TcpOptions ts(uint32_t tsval, uint32_t tsecr) {
  return options(Offer{.ts = wire::TcpTimestamps{tsval, tsecr}});
}

// plain_config() with timestamps on: the configuration for RFC 7323 §3–§5 tests.
Config ts_config() {
  Config c = Harness::plain_config();
  c.timestamps = true;
  return c;
}

// plain_config() with window scaling on and a 1 MiB receive buffer (shift 5).
Config wscale_config() {
  Config c = Harness::plain_config();
  c.window_scaling = true;
  c.receive_buffer = 1024 * 1024;
  return c;
}

// Active open that keeps our SYN (the fixture drops it): CLOSED -> SYN_SENT.
Sent connect(Harness& h) {
  EXPECT_FALSE(h.conn.connect(h.tuple, SeqNum(kIss), h.now));
  h.collect();
  return h.expect(Seg{.seq = kIss, .ctl = SYN});
}

// Passive open: CLOSED -> LISTEN, with our ISS from the IsnSource always kIss.
void listen(Harness& h) {
  EXPECT_FALSE(
      h.conn.listen(h.tuple.local, [](const FourTuple&, Instant) { return SeqNum(kIss); }));
  h.collect();
  EXPECT_EQ(h.conn.state(), State::kListen);
}

// ===========================================================================================
// CLOSED (RFC 9293 §3.10.7.1): "all data in the incoming segment is discarded. An incoming
// segment containing a RST is discarded. An incoming segment not containing a RST causes a
// RST to be sent in response."
// ===========================================================================================

struct ClosedCase {
  const char* what;
  Seg in;
  std::optional<Seg> reply;
};

// "If the ACK bit is off, sequence number zero is used, <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
// <CTL=RST,ACK>. If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>."
const ClosedCase kClosedCases[] = {
    {"SYN", Seg{.seq = 7000, .ctl = SYN}, Seg{.seq = 0, .ack = 7001, .ctl = RST | ACK}},
    {"SYN-ACK", Seg{.seq = 7000, .ack = 3000, .ctl = SYN | ACK}, Seg{.seq = 3000, .ctl = RST}},
    {"ACK", Seg{.seq = 7000, .ack = 3000, .ctl = ACK}, Seg{.seq = 3000, .ctl = RST}},
    {"data with ACK", Seg{.seq = 7000, .ack = 3000, .ctl = PSH | ACK, .data = "hello"},
     Seg{.seq = 3000, .ctl = RST}},
    {"data without ACK", Seg{.seq = 7000, .ctl = PSH, .data = "hello"},
     Seg{.seq = 0, .ack = 7005, .ctl = RST | ACK}},
    {"SYN with data and FIN (SEG.LEN = 1 + 5 + 1)",
     Seg{.seq = 7000, .ctl = SYN | FIN, .data = "hello"},
     Seg{.seq = 0, .ack = 7007, .ctl = RST | ACK}},
    {"FIN without ACK", Seg{.seq = 7000, .ctl = FIN}, Seg{.seq = 0, .ack = 7001, .ctl = RST | ACK}},
    {"FIN-ACK", Seg{.seq = 7000, .ack = 3000, .ctl = FIN | ACK}, Seg{.seq = 3000, .ctl = RST}},
    {"RST", Seg{.seq = 7000, .ctl = RST}, std::nullopt},
    {"RST-ACK", Seg{.seq = 7000, .ack = 3000, .ctl = RST | ACK}, std::nullopt},
};

TEST(OpenClosed, FreshConnectionAnswersEverySegmentButRstWithRst_3_10_7_1) {
  for (const auto& c : kClosedCases) {
    SCOPED_TRACE(c.what);
    Harness h;
    h.send(c.in);
    if (c.reply) h.expect(*c.reply);
    h.expect_nothing();
    EXPECT_EQ(h.conn.state(), State::kClosed);
    EXPECT_TRUE(h.events.empty());
  }
}

TEST(OpenClosed, AfterAbortAnswersWithRst_3_10_7_1) {
  for (const auto& c : kClosedCases) {
    SCOPED_TRACE(c.what);
    Harness h;
    h.established();
    h.conn.abort(h.now);
    h.collect();
    // §3.10.5 ABORT in ESTABLISHED: <SEQ=SND.NXT><CTL=RST>.
    h.expect(Seg{.seq = kIss + 1, .ctl = RST});
    h.expect_nothing();
    ASSERT_EQ(h.conn.state(), State::kClosed);
    h.send(c.in);
    if (c.reply) h.expect(*c.reply);
    h.expect_nothing();
    EXPECT_EQ(h.conn.state(), State::kClosed);
  }
}

TEST(OpenClosed, AfterCloseInSynSentTheLateSynAckGetsRst_3_10_7_1) {
  Harness h;
  h.syn_sent();
  EXPECT_FALSE(h.conn.close(h.now));
  h.collect();
  h.expect_nothing();
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK});
  h.expect(Seg{.seq = kIss + 1, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
}

wire::TcpRepr repr(uint32_t seq, std::optional<uint32_t> ack, uint16_t flags,
                   const std::string& payload = "") {
  wire::TcpRepr r;
  r.src_port = 80;
  r.dst_port = 4000;
  r.seq = SeqNum(seq);
  if (ack) r.ack = SeqNum(*ack);
  r.flags = TcpFlags(flags);
  r.window = 1234;
  r.payload = std::as_bytes(std::span(payload.data(), payload.size()));
  return r;
}

TEST(OpenClosed, ResetForWithoutAckIsSeqZeroAckSegSeqPlusSegLen_3_10_7_1) {
  const std::string payload = "hello";
  const auto rst = reset_for(repr(7000, std::nullopt, SYN | FIN, payload));
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->src_port, 4000);
  EXPECT_EQ(rst->dst_port, 80);
  EXPECT_EQ(rst->seq, SeqNum(0));
  ASSERT_TRUE(rst->ack);
  EXPECT_EQ(*rst->ack, SeqNum(7000 + 1 + 5 + 1));
  EXPECT_EQ(rst->wire_flags().bits(), RST | ACK);
  EXPECT_TRUE(rst->payload.empty());
  EXPECT_TRUE(rst->options == wire::TcpOptions{});
}

TEST(OpenClosed, ResetForWithAckIsSeqSegAck_3_10_7_1) {
  const std::string payload = "hello";
  const auto rst = reset_for(repr(7000, 3000, PSH, payload));
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->src_port, 4000);
  EXPECT_EQ(rst->dst_port, 80);
  EXPECT_EQ(rst->seq, SeqNum(3000));
  EXPECT_FALSE(rst->ack);
  EXPECT_EQ(rst->wire_flags().bits(), RST);
  EXPECT_TRUE(rst->payload.empty());
}

TEST(OpenClosed, ResetForNeverAnswersRst_3_10_7_1) {
  EXPECT_FALSE(reset_for(repr(7000, std::nullopt, RST)));
  EXPECT_FALSE(reset_for(repr(7000, 3000, RST)));
}

TEST(OpenClosed, ResetForAckWrapsModulo2To32_3_10_7_1) {
  const std::string payload = "abc";
  const auto rst = reset_for(repr(0xffffffffu, std::nullopt, PSH, payload));
  ASSERT_TRUE(rst);
  ASSERT_TRUE(rst->ack);
  EXPECT_EQ(*rst->ack, SeqNum(2));
}

// ===========================================================================================
// LISTEN (RFC 9293 §3.10.7.2)
// ===========================================================================================

TEST(OpenListen, RstIsIgnored_3_10_7_2_First) {
  for (uint16_t ctl : {uint16_t{RST}, uint16_t{RST | ACK}}) {
    Harness h;
    listen(h);
    h.send(Seg{.seq = kPeerIss, .ack = 3000, .ctl = ctl});
    h.expect_nothing();
    EXPECT_EQ(h.conn.state(), State::kListen);
  }
}

TEST(OpenListen, AckIsAnsweredWithRstSeqSegAck_3_10_7_2_Second) {
  Harness h;
  listen(h);
  h.events.clear();
  h.send(Seg{.seq = kPeerIss, .ack = 3000, .ctl = ACK});
  h.expect(Seg{.seq = 3000, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kListen);
  EXPECT_TRUE(h.events.empty());
}

TEST(OpenListen, SynAckIsAnsweredWithRstSeqSegAck_3_10_7_2_Second) {
  Harness h;
  listen(h);
  h.send(Seg{.seq = kPeerIss, .ack = 3000, .ctl = SYN | ACK});
  h.expect(Seg{.seq = 3000, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kListen);
}

TEST(OpenListen, DataOrFinWithoutSynIsDropped_3_10_7_2_Fourth) {
  for (const Seg& s : {Seg{.seq = kPeerIss, .ctl = PSH, .data = "hello"},
                       Seg{.seq = kPeerIss, .ctl = FIN}, Seg{.seq = kPeerIss}}) {
    Harness h;
    listen(h);
    h.send(s);
    h.expect_nothing();
    EXPECT_EQ(h.conn.state(), State::kListen);
    EXPECT_EQ(h.conn.readable(), 0u);
  }
}

TEST(OpenListen, SynIsAnsweredWithSynAckFromTheIsnSource_3_10_7_2_Third) {
  Harness h;
  std::vector<FourTuple> asked_for;
  std::vector<Instant> asked_at;
  EXPECT_FALSE(h.conn.listen(h.tuple.local, [&](const FourTuple& t, Instant at) {
    asked_for.push_back(t);
    asked_at.push_back(at);
    return SeqNum(777777);
  }));
  h.collect();
  EXPECT_TRUE(asked_for.empty());  // chosen when the SYN arrives, not at listen()
  h.events.clear();
  h.send(Seg{.seq = kPeerIss, .ctl = SYN}, Duration::millis(5));
  // "ISS should be selected and a SYN segment sent of the form:
  // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>", RCV.NXT = SEG.SEQ + 1.
  h.expect(Seg{.seq = 777777, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynRcvd);
  EXPECT_EQ(events(h), (std::vector<std::string>{"LISTEN->SYN_RCVD"}));
  ASSERT_EQ(asked_for.size(), 1u);
  EXPECT_TRUE(asked_for[0] == h.tuple);  // the peer's endpoint filled in
  EXPECT_TRUE(asked_at[0] == h.now);
  EXPECT_EQ(h.conn.irs(), SeqNum(kPeerIss));
  EXPECT_EQ(h.conn.rcv_nxt(), SeqNum(kPeerIss + 1));
  // "SND.NXT is set to ISS+1 and SND.UNA to ISS."
  EXPECT_EQ(h.conn.iss(), SeqNum(777777));
  EXPECT_EQ(h.conn.snd_una(), SeqNum(777777));
  EXPECT_EQ(h.conn.snd_nxt(), SeqNum(777778));
  EXPECT_TRUE(h.conn.tuple() == h.tuple);
}

TEST(OpenListen, SynCarryingDataIsAcknowledgedWithoutItsData_3_10_7_2_Third) {
  Harness h;
  listen(h);
  h.send(Seg{.seq = kPeerIss, .ctl = SYN, .data = "early"});
  h.expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynRcvd);
  // The peer sees its data unacknowledged and sends it again once the ACK completes the
  // handshake.
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = PSH | ACK, .data = "early"});
  EXPECT_EQ(h.read(), "early");
  h.advance(Duration::millis(40));
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 6, .ctl = ACK});
  h.expect_nothing();
}

TEST(OpenListen, StillListensAfterAnsweringAnAckWithRst_3_10_7_2) {
  Harness h;
  listen(h);
  h.send(Seg{.seq = kPeerIss, .ack = 3000, .ctl = ACK});
  h.expect(Seg{.seq = 3000, .ctl = RST});
  h.send(Seg{.seq = kPeerIss, .ctl = SYN});
  h.expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynRcvd);
}

// ===========================================================================================
// SYN_SENT (RFC 9293 §3.10.7.3)
// ===========================================================================================

TEST(OpenSynSent, ConnectSendsSynAndReportsTheStateChange_3_10_1) {
  Harness h;
  h.syn_sent();
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynSent);
  EXPECT_EQ(events(h), (std::vector<std::string>{"CLOSED->SYN_SENT"}));
  // §3.10.1: "SND.UNA to ISS, SND.NXT to ISS+1".
  EXPECT_EQ(h.conn.snd_una(), SeqNum(kIss));
  EXPECT_EQ(h.conn.snd_nxt(), SeqNum(kIss + 1));
}

TEST(OpenSynSent, SynAckEstablishesAndIsAcknowledged_3_10_7_3_Fourth) {
  Harness h;
  h.syn_sent();
  h.events.clear();
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK, .wnd = 4096});
  // "form an ACK segment <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and send it".
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  EXPECT_EQ(events(h), (std::vector<std::string>{"SYN_SENT->ESTABLISHED", "connected"}));
  EXPECT_EQ(h.conn.irs(), SeqNum(kPeerIss));
  EXPECT_EQ(h.conn.rcv_nxt(), SeqNum(kPeerIss + 1));
  EXPECT_EQ(h.conn.snd_una(), SeqNum(kIss + 1));
  EXPECT_EQ(h.conn.snd_wnd(), 4096u);
  // The SYN is acknowledged: no retransmission follows.
  h.advance(Duration::seconds(200));
  h.expect_nothing();
}

TEST(OpenSynSent, SynAckCarryingDataEstablishesAndAcknowledgesTheData_3_10_7_3_Fourth) {
  Harness h;
  h.syn_sent();
  // "If there are other controls or text in the segment, then continue processing at the
  // sixth step".
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK | PSH, .data = "hi"});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 3, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  EXPECT_EQ(h.read(), "hi");
}

TEST(OpenSynSent, AckAtOrBelowIssIsAnsweredWithRst_3_10_7_3_First) {
  for (uint32_t bad_ack : {kIss, kIss - 1, kIss - 100000}) {
    Harness h;
    h.syn_sent();
    h.send(Seg{.seq = kPeerIss, .ack = bad_ack, .ctl = ACK});
    // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset <SEQ=SEG.ACK><CTL=RST>".
    h.expect(Seg{.seq = bad_ack, .ctl = RST});
    h.expect_nothing();
    EXPECT_EQ(h.conn.state(), State::kSynSent);
  }
}

TEST(OpenSynSent, AckAboveSndNxtIsAnsweredWithRst_3_10_7_3_First) {
  for (uint32_t bad_ack : {kIss + 2, kIss + 100000}) {
    Harness h;
    h.syn_sent();
    h.send(Seg{.seq = kPeerIss, .ack = bad_ack, .ctl = SYN | ACK});
    h.expect(Seg{.seq = bad_ack, .ctl = RST});
    h.expect_nothing();
    EXPECT_EQ(h.conn.state(), State::kSynSent);
  }
}

TEST(OpenSynSent, RstWithUnacceptableAckIsDropped_3_10_7_3_First) {
  Harness h;
  h.syn_sent();
  // "(unless the RST bit is set, if so drop the segment and return)".
  h.send(Seg{.seq = 0, .ack = kIss + 5, .ctl = RST | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynSent);
}

// RFC 9293 §3.5 Figure 8, the active side: an old duplicate SYN-ACK (acknowledging an older
// incarnation's SYN, ISS - 9) is refused with a reset, and the peer's answer to our own SYN
// then completes the handshake. This is why the handshake has three steps.
TEST(OpenSynSent, OldDuplicateSynAckIsResetThenTheRealOneEstablishes_3_10_7_3_Figure8) {
  Harness h;
  h.syn_sent();
  h.send(Seg{.seq = 90000, .ack = kIss - 9, .ctl = SYN | ACK});
  h.expect(Seg{.seq = kIss - 9, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynSent);
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  EXPECT_EQ(h.conn.irs(), SeqNum(kPeerIss));
}

TEST(OpenSynSent, RstWithAcceptableAckRefusesTheConnection_3_10_7_3_Second) {
  Harness h;
  h.syn_sent();
  h.events.clear();
  // What a closed port sends back (§3.10.7.1): <SEQ=0><ACK=ISS+1><CTL=RST,ACK>.
  h.send(Seg{.seq = 0, .ack = kIss + 1, .ctl = RST | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(h.conn.error(), errc(std::errc::connection_refused));
  EXPECT_EQ(reported_error(h), errc(std::errc::connection_refused));
  EXPECT_TRUE(h.saw_state(State::kClosed));
  EXPECT_TRUE(h.saw(EventKind::kClosed));
  EXPECT_FALSE(h.saw(EventKind::kConnected));
  // The TCB is gone: no SYN retransmission.
  h.advance(Duration::seconds(200));
  h.expect_nothing();
}

TEST(OpenSynSent, RstWithoutAckIsIgnored_3_10_7_3_Second) {
  Harness h;
  h.syn_sent();
  h.send(Seg{.seq = kPeerIss, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynSent);
  EXPECT_FALSE(h.conn.error());
  // The handshake goes on: the SYN is retransmitted at the initial RTO.
  h.advance(Duration::seconds(1));
  h.expect(Seg{.seq = kIss, .ctl = SYN});
  h.expect_nothing();
}

TEST(OpenSynSent, SegmentWithNeitherSynNorRstIsDropped_3_10_7_3_Fifth) {
  const Seg cases[] = {
      Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK},
      Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = PSH | ACK, .data = "data"},
      Seg{.seq = kPeerIss + 1, .ctl = PSH, .data = "data"},
      Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = FIN | ACK},
      Seg{.seq = kPeerIss + 1, .ctl = FIN},
  };
  for (const auto& s : cases) {
    Harness h;
    h.syn_sent();
    h.send(s);
    h.expect_nothing();
    EXPECT_EQ(h.conn.state(), State::kSynSent);
    EXPECT_EQ(h.conn.snd_una(), SeqNum(kIss));  // an ACK without SYN acknowledges nothing
    EXPECT_EQ(h.conn.readable(), 0u);
  }
}

// RFC 9293 §3.5 Figure 7, simultaneous open: our SYN and the peer's cross.
TEST(OpenSynSent, SimultaneousOpenThroughSynRcvdOnThePeersAck_3_10_7_3_Fourth) {
  Harness h;
  h.syn_sent();
  h.send(Seg{.seq = kPeerIss, .ctl = SYN, .wnd = 4096});
  // "Otherwise, enter SYN-RECEIVED, form a SYN,ACK segment <SEQ=ISS><ACK=RCV.NXT>
  // <CTL=SYN,ACK> and send it."
  h.expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynRcvd);
  EXPECT_EQ(h.conn.snd_wnd(), 4096u);  // "SND.WND <- SEG.WND"
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  EXPECT_EQ(events(h), (std::vector<std::string>{"CLOSED->SYN_SENT", "SYN_SENT->SYN_RCVD",
                                                 "SYN_RCVD->ESTABLISHED", "connected"}));
}

// Figure 7 line 6: "ESTABLISHED <-- <SEQ=300><ACK=101><CTL=SYN,ACK>" — the peer's SYN-ACK,
// which acknowledges our SYN, completes the simultaneous open; A sends nothing in return
// (its SYN-ACK of line 5 already acknowledged the peer's SYN). Linux does the same since
// 2024 (tcp_validate_incoming: "accept a bare SYN+ACK for active-open TCP_SYN_RECV").
TEST(OpenSynSent, SimultaneousOpenThroughSynRcvdOnThePeersSynAck_3_5_Figure7) {
  Harness h;
  h.syn_sent();
  h.send(Seg{.seq = kPeerIss, .ctl = SYN});
  h.expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  EXPECT_EQ(events(h), (std::vector<std::string>{"CLOSED->SYN_SENT", "SYN_SENT->SYN_RCVD",
                                                 "SYN_RCVD->ESTABLISHED", "connected"}));
}

TEST(OpenSynSent, SimultaneousOpenSynAckIsRetransmittedOnTimeout_3_8_1) {
  Harness h;
  h.syn_sent();
  h.send(Seg{.seq = kPeerIss, .ctl = SYN}, Duration::millis(300));
  h.expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  h.advance(Duration::millis(999));
  h.expect_nothing();
  h.advance(Duration::millis(1));
  h.expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  h.expect_nothing();
}

// RFC 6298 §5.5 (backoff) and RFC 1122 §4.2.3.5 (R2 for a SYN): the SYN is retransmitted at
// 1, 2, 4, 8, 16 and 32 s intervals (syn_retries = 6); the next timeout gives up.
TEST(OpenSynSent, SynIsRetransmittedWithExponentialBackoffThenTimesOut_RFC6298_5_5) {
  Harness h;
  ASSERT_EQ(Config{}.syn_retries, 6);
  h.syn_sent();
  const Instant start = h.now;
  int64_t interval_ms = 1000;
  int64_t elapsed_ms = 0;
  for (int retry = 1; retry <= 6; ++retry) {
    SCOPED_TRACE("retransmission " + std::to_string(retry));
    h.advance(Duration::millis(interval_ms - 1));
    h.expect_nothing();
    h.advance(Duration::millis(1));
    elapsed_ms += interval_ms;
    EXPECT_EQ((h.now - start).as_millis(), elapsed_ms);
    h.expect(Seg{.seq = kIss, .ctl = SYN});
    h.expect_nothing();
    EXPECT_EQ(h.conn.state(), State::kSynSent);
    interval_ms *= 2;
  }
  EXPECT_EQ(elapsed_ms, 63'000);
  h.events.clear();
  h.advance(Duration::millis(interval_ms - 1));  // 127 s after the first SYN
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynSent);
  h.advance(Duration::millis(1));
  h.expect_nothing();  // no reset in SYN_SENT: nothing of ours is synchronized
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(h.conn.error(), errc(std::errc::timed_out));
  EXPECT_EQ(reported_error(h), errc(std::errc::timed_out));
  EXPECT_TRUE(h.saw_state(State::kClosed));
  EXPECT_TRUE(h.saw(EventKind::kClosed));
  EXPECT_FALSE(h.conn.next_deadline());
}

TEST(OpenSynSent, SynRetriesLimitIsConfigurable_RFC1122_4_2_3_5) {
  Config c = Harness::plain_config();
  c.syn_retries = 1;
  Harness h(c);
  h.syn_sent();
  h.advance(Duration::seconds(1));
  h.expect(Seg{.seq = kIss, .ctl = SYN});
  h.advance(Duration::millis(1999));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynSent);
  h.advance(Duration::millis(1));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(h.conn.error(), errc(std::errc::timed_out));
}

TEST(OpenSynSent, CloseDeletesTheTcbWithoutASegment_3_10_4) {
  Harness h;
  h.syn_sent();
  h.events.clear();
  // §3.10.4 SYN-SENT: "Delete the TCB and return 'error: closing' responses to any queued
  // SENDs, or RECEIVEs."
  EXPECT_FALSE(h.conn.close(h.now));
  h.collect();
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(events(h), (std::vector<std::string>{"SYN_SENT->CLOSED", "closed"}));
  h.advance(Duration::seconds(200));
  h.expect_nothing();
}

TEST(OpenSynSent, AbortSendsNoRst_3_10_5) {
  Harness h;
  h.syn_sent();
  // §3.10.5 SYN-SENT: "All queued SENDs and RECEIVEs should be given 'connection reset'
  // notification. Delete the TCB" — no reset: the peer holds no state for us.
  h.conn.abort(h.now);
  h.collect();
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  h.advance(Duration::seconds(200));
  h.expect_nothing();
}

// ===========================================================================================
// SYN_RCVD (RFC 9293 §3.10.7.4 for SYN-RECEIVED)
// ===========================================================================================

TEST(OpenSynRcvd, AckOfSynAckEstablishes_3_10_7_4_Fifth) {
  Harness h;
  h.syn_rcvd();
  h.events.clear();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK, .wnd = 8000});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  EXPECT_EQ(events(h), (std::vector<std::string>{"SYN_RCVD->ESTABLISHED", "connected"}));
  EXPECT_EQ(h.conn.snd_una(), SeqNum(kIss + 1));
  EXPECT_EQ(h.conn.snd_wnd(), 8000u);  // "SND.WND <- SEG.WND"
  h.advance(Duration::seconds(200));
  h.expect_nothing();  // the SYN-ACK is acknowledged: no retransmission
}

TEST(OpenSynRcvd, UnacceptableAckIsAnsweredWithRst_3_10_7_4_Fifth) {
  // "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED ... If the segment
  // acknowledgment is not acceptable, form a reset segment <SEQ=SEG.ACK><CTL=RST>".
  for (uint32_t bad_ack : {kIss, kIss - 1, kIss + 2, kIss + 5000}) {
    SCOPED_TRACE(bad_ack);
    Harness h;
    h.syn_rcvd();
    h.send(Seg{.seq = kPeerIss + 1, .ack = bad_ack, .ctl = ACK});
    h.expect(Seg{.seq = bad_ack, .ctl = RST});
    h.expect_nothing();
    EXPECT_EQ(h.conn.state(), State::kSynRcvd);
    // The genuine ACK still completes the handshake.
    h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK});
    h.expect_nothing();
    EXPECT_EQ(h.conn.state(), State::kEstablished);
  }
}

// RFC 9293 §3.5 Figure 8, the passive side: an old duplicate SYN draws our SYN-ACK, the
// peer resets it (<SEQ=SEG.ACK>, exactly RCV.NXT), we return to LISTEN and the peer's real
// SYN then opens the connection.
TEST(OpenSynRcvd, ExactRstReturnsAPassiveOpenToListen_3_10_7_4_Second_Figure8) {
  Harness h;
  int isn_calls = 0;
  EXPECT_FALSE(h.conn.listen(h.tuple.local, [&](const FourTuple&, Instant) {
    ++isn_calls;
    return SeqNum(isn_calls == 1 ? kIss : 3000);
  }));
  h.send(Seg{.seq = kPeerIss - 10, .ctl = SYN});  // the old duplicate
  h.expect(Seg{.seq = kIss, .ack = kPeerIss - 9, .ctl = SYN | ACK});
  h.events.clear();
  h.send(Seg{.seq = kPeerIss - 9, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kListen);
  EXPECT_EQ(events(h), (std::vector<std::string>{"SYN_RCVD->LISTEN"}));
  EXPECT_FALSE(h.conn.error());
  // No SYN-ACK retransmission is left behind.
  h.advance(Duration::seconds(3));
  h.expect_nothing();
  h.send(Seg{.seq = kPeerIss, .ctl = SYN});
  h.expect(Seg{.seq = 3000, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  h.expect_nothing();
  EXPECT_EQ(isn_calls, 2);
  h.send(Seg{.seq = kPeerIss + 1, .ack = 3001, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
}

TEST(OpenSynRcvd, ExactRstWithAckAlsoReturnsToListen_3_10_7_4_Second) {
  Harness h;
  h.syn_rcvd();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = RST | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kListen);
}

TEST(OpenSynRcvd, InWindowInexactRstGetsAChallengeAck_RFC5961_3_2) {
  Harness h;
  h.syn_rcvd();
  h.send(Seg{.seq = kPeerIss + 100, .ctl = RST});
  // RFC 5961 §3.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynRcvd);
  EXPECT_EQ(h.conn.status().stats.challenge_acks, 1u);
  // A genuine peer answers with the exact RST.
  h.send(Seg{.seq = kPeerIss + 1, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kListen);
}

TEST(OpenSynRcvd, OutOfWindowRstIsSilentlyDropped_RFC5961_3_2) {
  for (uint32_t seq : {kPeerIss, kPeerIss + 1 + 65535, kPeerIss + 1000000}) {
    SCOPED_TRACE(seq);
    Harness h;
    h.syn_rcvd();
    h.send(Seg{.seq = seq, .ctl = RST});
    h.expect_nothing();
    EXPECT_EQ(h.conn.state(), State::kSynRcvd);
  }
}

TEST(OpenSynRcvd, OutOfWindowSegmentIsAnsweredWithAckAndNotProcessed_3_10_7_4_First) {
  Harness h;
  h.syn_rcvd();
  // Beyond RCV.NXT + RCV.WND (65535): "an acknowledgment should be sent in reply ...
  // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>", and the segment (its ACK too) is dropped.
  h.send(Seg{.seq = kPeerIss + 1 + 70000, .ack = kIss + 1, .ctl = PSH | ACK, .data = "x"});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynRcvd);
  EXPECT_EQ(h.conn.snd_una(), SeqNum(kIss));
}

TEST(OpenSynRcvd, SynInWindowReturnsAPassiveOpenToListen_3_10_7_4_Fourth) {
  Harness h;
  h.syn_rcvd();
  h.events.clear();
  // "If the SYN bit is set, irrespective of the sequence number ... If the connection was
  // initiated with a passive OPEN, then return this connection to the LISTEN state".
  h.send(Seg{.seq = kPeerIss + 100, .ctl = SYN});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kListen);
  EXPECT_EQ(events(h), (std::vector<std::string>{"SYN_RCVD->LISTEN"}));
  h.advance(Duration::seconds(3));
  h.expect_nothing();
  h.send(Seg{.seq = 90000, .ctl = SYN});
  h.expect(Seg{.seq = kIss, .ack = 90001, .ctl = SYN | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynRcvd);
}

TEST(OpenSynRcvd, RetransmittedSynIsAnsweredWithTheSynAckAgain) {
  Harness h;
  h.syn_rcvd();
  // Our SYN-ACK was lost and the peer, still in SYN_SENT, sends its SYN (same ISN) again: a
  // bare ACK would be dropped there (§3.10.7.3 fifth), so the SYN-ACK is repeated.
  h.send(Seg{.seq = kPeerIss, .ctl = SYN}, Duration::millis(500));
  h.expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynRcvd);
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
}

TEST(OpenSynRcvd, SegmentWithoutAckIsDropped_3_10_7_4_Fifth) {
  Harness h;
  h.syn_rcvd();
  // "if the ACK bit is off, drop the segment and return".
  h.send(Seg{.seq = kPeerIss + 1, .ctl = PSH, .data = "hello"});
  h.send(Seg{.seq = kPeerIss + 1, .ctl = FIN});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynRcvd);
  EXPECT_EQ(h.conn.readable(), 0u);
  EXPECT_EQ(h.conn.rcv_nxt(), SeqNum(kPeerIss + 1));
}

TEST(OpenSynRcvd, DataWithTheAckEstablishesAndIsReceived_3_10_7_4_Seventh) {
  Harness h;
  h.syn_rcvd();
  h.events.clear();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = PSH | ACK, .data = "hello"});
  h.expect_nothing();  // acknowledged after the delayed-ACK time (RFC 1122 §4.2.3.2)
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  EXPECT_EQ(events(h),
            (std::vector<std::string>{"SYN_RCVD->ESTABLISHED", "connected", "readable"}));
  EXPECT_EQ(h.read(), "hello");
  h.advance(Duration::millis(39));
  h.expect_nothing();
  h.advance(Duration::millis(1));
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 6, .ctl = ACK});
  h.expect_nothing();
}

TEST(OpenSynRcvd, FinWithTheAckGoesToCloseWait_3_10_7_4_Eighth) {
  Harness h;
  h.syn_rcvd();
  h.events.clear();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = FIN | ACK});
  EXPECT_EQ(h.conn.state(), State::kCloseWait);
  EXPECT_EQ(events(h), (std::vector<std::string>{"SYN_RCVD->ESTABLISHED", "connected",
                                                 "peer-closed", "ESTABLISHED->CLOSE_WAIT"}));
  EXPECT_TRUE(h.conn.eof());
  h.expect_nothing();  // the FIN's ACK waits for a FIN of ours (three-segment close)
  h.advance(Duration::millis(40));
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
}

TEST(OpenSynRcvd, OldTimestampIsRejectedByPaws_RFC7323_5_3) {
  Harness h(ts_config());
  listen(h);
  h.send(Seg{.seq = kPeerIss, .ctl = SYN, .options = ts(5000, 0)});
  const Sent synack = h.expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  ASSERT_TRUE(synack.tcp.options.timestamps);
  const uint32_t our_tsval = synack.tcp.options.timestamps->value;
  // TSval 4000 < TS.Recent 5000: "treat the arriving segment as not acceptable: Send an
  // acknowledgment in reply as specified in ... Section 3.10.7.4 and drop the segment."
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK, .options = ts(4000, our_tsval)});
  const Sent ack = h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynRcvd);
  EXPECT_EQ(h.conn.status().stats.paws_rejected, 1u);
  ASSERT_TRUE(ack.tcp.options.timestamps);
  EXPECT_EQ(ack.tcp.options.timestamps->echo_reply, 5000u);
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK, .options = ts(5001, our_tsval)});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
}

// RFC 6298 §5.5 backoff of the SYN-ACK; synack_retries = 5 (Linux tcp_synack_retries).
TEST(OpenSynRcvd, SynAckIsRetransmittedWithBackoffThenAbandoned_RFC6298_5_5) {
  Harness h;
  ASSERT_EQ(Config{}.synack_retries, 5);
  h.syn_rcvd();
  const Instant start = h.now;
  int64_t interval_ms = 1000;
  int64_t elapsed_ms = 0;
  for (int retry = 1; retry <= 5; ++retry) {
    SCOPED_TRACE("retransmission " + std::to_string(retry));
    h.advance(Duration::millis(interval_ms - 1));
    h.expect_nothing();
    h.advance(Duration::millis(1));
    elapsed_ms += interval_ms;
    EXPECT_EQ((h.now - start).as_millis(), elapsed_ms);
    h.expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
    h.expect_nothing();
    EXPECT_EQ(h.conn.state(), State::kSynRcvd);
    interval_ms *= 2;
  }
  EXPECT_EQ(elapsed_ms, 31'000);
  h.events.clear();
  h.advance(Duration::millis(interval_ms - 1));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynRcvd);
  h.advance(Duration::millis(1));
  h.expect_nothing();
  // Documented in on_retransmit_timeout: the half-open connection has no user to tell, so
  // it goes away without an error — a listen()ed one back to LISTEN, like after a RST.
  EXPECT_EQ(h.conn.state(), State::kListen);
  EXPECT_FALSE(h.saw(EventKind::kError));
  EXPECT_FALSE(h.conn.next_deadline());
  // And it still listens: a new SYN is answered.
  h.send(Seg{.seq = kPeerIss + 7, .ctl = SYN});
  h.expect(Seg{.seq = kIss, .ack = kPeerIss + 8, .ctl = SYN | ACK});
}

TEST(OpenSynRcvd, CloseWithDataQueuedSendsFinAfterEstablished_3_10_4) {
  Harness h;
  h.syn_rcvd();
  EXPECT_EQ(h.write("bye"), 3u);
  // §3.10.4 SYN-RECEIVED: with data pending, "queue for processing after entering
  // ESTABLISHED state".
  EXPECT_FALSE(h.conn.close(h.now));
  h.collect();
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynRcvd);
  h.events.clear();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = FIN | PSH | ACK, .data = "bye"});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait1);
  EXPECT_EQ(events(h), (std::vector<std::string>{"SYN_RCVD->ESTABLISHED", "connected",
                                                 "ESTABLISHED->FIN_WAIT_1"}));
}

// §3.10.4 SYN-RECEIVED says: "If no SENDs have been issued and there is no pending data to
// send, then form a FIN segment and send it, and enter FIN-WAIT-1 state". synack documents a
// different choice in Connection::close (the FIN waits for ESTABLISHED, so that it never
// goes out before our SYN is acknowledged); this tests that choice. The FIN still follows
// the ACK of the SYN-ACK at once.
TEST(OpenSynRcvd, CloseWithNothingQueuedSendsFinOnceEstablished_3_10_4) {
  Harness h;
  h.syn_rcvd();
  h.events.clear();
  EXPECT_FALSE(h.conn.close(h.now));
  h.collect();
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynRcvd);
  EXPECT_TRUE(h.events.empty());
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK}, Duration::millis(10));
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = FIN | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait1);
  EXPECT_EQ(events(h), (std::vector<std::string>{"SYN_RCVD->ESTABLISHED", "connected",
                                                 "ESTABLISHED->FIN_WAIT_1"}));
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kFinWait2);
}

TEST(OpenSynRcvd, AbortSendsRstSeqSndNxt_3_10_5) {
  Harness h;
  h.syn_rcvd();
  h.conn.abort(h.now);
  h.collect();
  // §3.10.5 SYN-RECEIVED: "Send a reset segment: <SEQ=SND.NXT><CTL=RST>".
  h.expect(Seg{.seq = kIss + 1, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
}

// SYN_RCVD reached by simultaneous open (an active OPEN): RST and SYN are handled as in the
// synchronized states, not by returning to LISTEN.
void simultaneous_syn_rcvd(Harness& h) {
  h.syn_sent();
  h.send(Seg{.seq = kPeerIss, .ctl = SYN});
  h.expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  EXPECT_EQ(h.conn.state(), State::kSynRcvd);
}

TEST(OpenSynRcvd, ExactRstRefusesAnActiveOpen_3_10_7_4_Second) {
  Harness h;
  simultaneous_syn_rcvd(h);
  h.events.clear();
  // "If this connection was initiated with an active OPEN (i.e., came from SYN-SENT state),
  // then the connection was refused; signal the user 'connection refused'."
  h.send(Seg{.seq = kPeerIss + 1, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(h.conn.error(), errc(std::errc::connection_refused));
  EXPECT_EQ(reported_error(h), errc(std::errc::connection_refused));
  h.advance(Duration::seconds(200));
  h.expect_nothing();
}

TEST(OpenSynRcvd, SynOnAnActiveOpenGetsAChallengeAck_3_10_7_4_Fourth_RFC5961_4_2) {
  Harness h;
  simultaneous_syn_rcvd(h);
  // "Otherwise, handle per the directions for synchronized states below": a challenge ACK.
  h.send(Seg{.seq = kPeerIss + 100, .ctl = SYN});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynRcvd);
}

TEST(OpenSynRcvd, SynAckBelowRcvNxtOnAPassiveOpenIsAnsweredWithAck_3_10_7_4_First) {
  Harness h;
  h.syn_rcvd();
  // SEG.SEQ + SEG.LEN - 1 = RCV.NXT - 1: not acceptable. (Only an active open takes the
  // peer's SYN-ACK as Figure 7 does.)
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kSynRcvd);
}

// ===========================================================================================
// Options at the handshake: MSS (RFC 9293 §3.7.1), window scale and timestamps (RFC 7323),
// SACK-permitted (RFC 2018).
// ===========================================================================================

TEST(OpenOptions, SynOffersEveryConfiguredOption) {
  Config c;  // the defaults: MSS 1460, 256 KiB receive buffer, WS, TS and SACK on
  Harness h(c);
  const Sent syn = connect(h);
  const auto& o = syn.tcp.options;
  EXPECT_EQ(o.mss, std::optional<uint16_t>(1460));
  // 65535 << 2 < 256 KiB <= 65535 << 3.
  EXPECT_EQ(o.window_scale, std::optional<uint8_t>(3));
  EXPECT_TRUE(o.sack_permitted);
  ASSERT_TRUE(o.timestamps);
  EXPECT_EQ(o.timestamps->echo_reply, 0u);  // RFC 7323 §3.2: TSecr is 0 without ACK
  EXPECT_TRUE(o.sack.empty());
  EXPECT_EQ(syn.tcp.window, 65535);  // RFC 7323 §2.2: never scaled in a SYN
}

TEST(OpenOptions, SynOffersOnlyWhatIsConfigured) {
  Harness h;  // plain_config(): no WS, TS, SACK
  const Sent syn = connect(h);
  const auto& o = syn.tcp.options;
  EXPECT_EQ(o.mss, std::optional<uint16_t>(1000));
  EXPECT_FALSE(o.window_scale);
  EXPECT_FALSE(o.sack_permitted);
  EXPECT_FALSE(o.timestamps);
}

TEST(OpenOptions, WindowScaleIsTheSmallestThatCoversTheReceiveBuffer_RFC7323_2_2) {
  const std::pair<size_t, uint8_t> cases[] = {
      {65535, 0}, {65536, 1}, {256 * 1024, 3}, {1024 * 1024, 5}, {1024 * 1024 + 1, 5}};
  for (const auto& [buffer, shift] : cases) {
    SCOPED_TRACE(buffer);
    Config c = Harness::plain_config();
    c.window_scaling = true;
    c.receive_buffer = buffer;
    Harness h(c);
    const Sent syn = connect(h);
    EXPECT_EQ(syn.tcp.options.window_scale, std::optional<uint8_t>(shift));
    EXPECT_EQ(syn.tcp.window, static_cast<uint16_t>(std::min<size_t>(buffer, 65535)));
  }
}

TEST(OpenOptions, SynAckAnswersOnlyWhatTheSynOffered_RFC7323_RFC2018) {
  Config c;  // everything on
  Harness h(c);
  listen(h);
  h.send(Seg{.seq = kPeerIss, .ctl = SYN, .options = options(Offer{.mss = 1400})});
  const Sent synack = h.expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  h.expect_nothing();
  const auto& o = synack.tcp.options;
  EXPECT_EQ(o.mss, std::optional<uint16_t>(1460));  // MSS is always sent in a SYN
  EXPECT_FALSE(o.window_scale);                     // RFC 7323 §2.2
  EXPECT_FALSE(o.sack_permitted);                   // RFC 2018 §2
  EXPECT_FALSE(o.timestamps);                       // RFC 7323 §3.2
  const ConnectionStatus s = h.conn.status();
  EXPECT_FALSE(s.timestamps);
  EXPECT_FALSE(s.sack);
  EXPECT_EQ(s.snd_wscale, 0);
  EXPECT_EQ(s.rcv_wscale, 0);
  EXPECT_EQ(s.snd_mss, 1400);
}

TEST(OpenOptions, SynAckAnswersEveryOfferedOption_RFC7323_RFC2018) {
  Config c;
  Harness h(c);
  listen(h);
  h.send(Seg{.seq = kPeerIss,
             .ctl = SYN,
             .options = options(Offer{
                 .mss = 1400, .wscale = 7, .sack_ok = true, .ts = wire::TcpTimestamps{4242, 0}})});
  const Sent synack = h.expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  h.expect_nothing();
  const auto& o = synack.tcp.options;
  EXPECT_EQ(o.mss, std::optional<uint16_t>(1460));
  EXPECT_EQ(o.window_scale, std::optional<uint8_t>(3));
  EXPECT_TRUE(o.sack_permitted);
  ASSERT_TRUE(o.timestamps);
  EXPECT_EQ(o.timestamps->echo_reply, 4242u);  // RFC 7323 §3.2: TSecr echoes the SYN's TSval
  EXPECT_EQ(synack.tcp.window, 65535);         // not scaled in a SYN
  const ConnectionStatus s = h.conn.status();
  EXPECT_TRUE(s.timestamps);
  EXPECT_TRUE(s.sack);
  EXPECT_EQ(s.snd_wscale, 7);
  EXPECT_EQ(s.rcv_wscale, 3);
}

TEST(OpenOptions, SynAckAnswersEachOptionOnItsOwn_RFC7323_RFC2018) {
  struct Case {
    const char* what;
    Offer offer;
    bool wscale, sack_ok, ts;
  };
  const Case cases[] = {
      {"window scale only", Offer{.wscale = 0}, true, false, false},
      {"SACK-permitted only", Offer{.sack_ok = true}, false, true, false},
      {"timestamps only", Offer{.ts = wire::TcpTimestamps{99, 0}}, false, false, true},
      {"nothing, not even MSS", Offer{}, false, false, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    Harness h(Config{});
    listen(h);
    h.send(Seg{.seq = kPeerIss, .ctl = SYN, .options = options(c.offer)});
    const Sent synack = h.expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
    h.expect_nothing();
    const auto& o = synack.tcp.options;
    EXPECT_EQ(o.mss, std::optional<uint16_t>(1460));
    EXPECT_EQ(o.window_scale.has_value(), c.wscale);
    EXPECT_EQ(o.sack_permitted, c.sack_ok);
    EXPECT_EQ(o.timestamps.has_value(), c.ts);
    if (c.ts && o.timestamps) {
      EXPECT_EQ(o.timestamps->echo_reply, 99u);
    }
  }
}

TEST(OpenOptions, NoScalingWhenOnlyWeOfferedIt_RFC7323_2_2) {
  Harness h(wscale_config());
  const Sent syn = connect(h);
  EXPECT_EQ(syn.tcp.options.window_scale, std::optional<uint8_t>(5));
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK, .wnd = 1000});
  const Sent ack = h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(ack.tcp.window, 65535);  // our 1 MiB window, unscaled: capped at 65535
  EXPECT_EQ(h.conn.status().snd_wscale, 0);
  EXPECT_EQ(h.conn.status().rcv_wscale, 0);
  EXPECT_EQ(h.conn.snd_wnd(), 1000u);
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK, .wnd = 2000});
  h.expect_nothing();
  EXPECT_EQ(h.conn.snd_wnd(), 2000u);  // not shifted
}

TEST(OpenOptions, NoScalingWhenOnlyThePeerOfferedIt_RFC7323_2_2) {
  Harness h;  // plain: we do not offer window scaling
  connect(h);
  h.send(Seg{.seq = kPeerIss,
             .ack = kIss + 1,
             .ctl = SYN | ACK,
             .wnd = 1000,
             .options = options(Offer{.wscale = 4})});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.status().snd_wscale, 0);
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK, .wnd = 2000});
  EXPECT_EQ(h.conn.snd_wnd(), 2000u);
}

TEST(OpenOptions, ScalingWhenBothOfferedItButNotInTheSynAck_RFC7323_2_2) {
  Harness h(wscale_config());
  connect(h);
  h.send(Seg{.seq = kPeerIss,
             .ack = kIss + 1,
             .ctl = SYN | ACK,
             .wnd = 1000,
             .options = options(Offer{.wscale = 2})});
  const Sent ack = h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.conn.snd_wnd(), 1000u);          // the SYN-ACK's window is not scaled
  EXPECT_EQ(ack.tcp.window, (1u << 20) >> 5);  // ours is: 1 MiB >> 5
  EXPECT_EQ(h.conn.status().snd_wscale, 2);
  EXPECT_EQ(h.conn.status().rcv_wscale, 5);
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK, .wnd = 1000});
  h.expect_nothing();
  EXPECT_EQ(h.conn.snd_wnd(), 4000u);  // 1000 << 2
}

TEST(OpenOptions, PassiveScalingAppliesAfterTheSynAck_RFC7323_2_2) {
  Harness h(wscale_config());
  listen(h);
  h.send(Seg{.seq = kPeerIss, .ctl = SYN, .wnd = 1000, .options = options(Offer{.wscale = 2})});
  const Sent synack = h.expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  EXPECT_EQ(synack.tcp.window, 65535);  // not scaled in a SYN
  EXPECT_EQ(synack.tcp.options.window_scale, std::optional<uint8_t>(5));
  EXPECT_EQ(h.conn.snd_wnd(), 1000u);  // the SYN's window is not scaled
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK, .wnd = 1000});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  EXPECT_EQ(h.conn.snd_wnd(), 4000u);
  h.write("x");
  const Sent data =
      h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = PSH | ACK, .data = "x"});
  EXPECT_EQ(data.tcp.window, (1u << 20) >> 5);
  h.expect_nothing();
}

TEST(OpenOptions, PeerShiftAbove14IsClampedTo14_RFC7323_2_3) {
  Harness h(wscale_config());
  connect(h);
  h.send(Seg{.seq = kPeerIss,
             .ack = kIss + 1,
             .ctl = SYN | ACK,
             .wnd = 1000,
             .options = options(Offer{.wscale = 15})});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  EXPECT_EQ(h.conn.status().snd_wscale, 14);
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK, .wnd = 3});
  EXPECT_EQ(h.conn.snd_wnd(), 3u << 14);
}

TEST(OpenOptions, PeerWithoutMssGets536ByteSegments_3_7_1) {
  Harness h;        // our MSS 1000
  h.established();  // the SYN-ACK carries no MSS option
  EXPECT_EQ(h.conn.status().snd_mss, 536);
  h.write(std::string(1072, 'a'));
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK, .data = std::string(536, 'a')});
  h.expect(
      Seg{.seq = kIss + 537, .ack = kPeerIss + 1, .ctl = PSH | ACK, .data = std::string(536, 'a')});
  h.expect_nothing();
}

TEST(OpenOptions, PeersMssLimitsOurSegments_3_7_1) {
  Harness h;
  connect(h);
  h.send(Seg{
      .seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK, .options = options(Offer{.mss = 300})});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  EXPECT_EQ(h.conn.status().snd_mss, 300);
  h.write(std::string(600, 'b'));
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK, .data = std::string(300, 'b')});
  h.expect(
      Seg{.seq = kIss + 301, .ack = kPeerIss + 1, .ctl = PSH | ACK, .data = std::string(300, 'b')});
  h.expect_nothing();
}

TEST(OpenOptions, PassivePeersMssLimitsOurSegments_3_7_1) {
  Harness h;
  listen(h);
  h.send(Seg{.seq = kPeerIss, .ctl = SYN, .options = options(Offer{.mss = 400})});
  h.expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK});
  h.write(std::string(800, 'c'));
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK, .data = std::string(400, 'c')});
  h.expect(
      Seg{.seq = kIss + 401, .ack = kPeerIss + 1, .ctl = PSH | ACK, .data = std::string(400, 'c')});
  h.expect_nothing();
}

TEST(OpenOptions, TimestampOptionCountsAgainstTheMss_3_7_1) {
  // RFC 9293 §3.7.1: the MSS excludes TCP options, so with timestamps (12 bytes) in every
  // segment, a peer MSS of 500 leaves 488 bytes of data.
  Harness h(ts_config());
  const Sent syn = connect(h);
  const uint32_t our_tsval = syn.tcp.options.timestamps->value;
  h.send(Seg{.seq = kPeerIss,
             .ack = kIss + 1,
             .ctl = SYN | ACK,
             .options = options(Offer{.mss = 500, .ts = wire::TcpTimestamps{100, our_tsval}})});
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  h.write(std::string(976, 'd'));
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK, .data = std::string(488, 'd')});
  h.expect(
      Seg{.seq = kIss + 489, .ack = kPeerIss + 1, .ctl = PSH | ACK, .data = std::string(488, 'd')});
  h.expect_nothing();
}

TEST(OpenOptions, TimestampsEchoThePeersTsval_RFC7323_3_2) {
  Harness h(ts_config());
  const Sent syn = connect(h);
  ASSERT_TRUE(syn.tcp.options.timestamps);
  const uint32_t syn_tsval = syn.tcp.options.timestamps->value;
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK, .options = ts(777, syn_tsval)},
         Duration::millis(20));
  const Sent ack = h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_TRUE(h.conn.status().timestamps);
  ASSERT_TRUE(ack.tcp.options.timestamps);
  EXPECT_EQ(ack.tcp.options.timestamps->echo_reply, 777u);
  // RFC 7323 §5.4: the TSval clock runs at 1 ms per tick here.
  EXPECT_EQ(ack.tcp.options.timestamps->value - syn_tsval, 20u);
  // Later segments echo the most recent in-order TSval (§4.3).
  h.send(Seg{.seq = kPeerIss + 1,
             .ack = kIss + 1,
             .ctl = PSH | ACK,
             .data = "x",
             .options = ts(900, ack.tcp.options.timestamps->value)});
  h.advance(Duration::millis(40));
  const Sent ack2 = h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  ASSERT_TRUE(ack2.tcp.options.timestamps);
  EXPECT_EQ(ack2.tcp.options.timestamps->echo_reply, 900u);
}

TEST(OpenOptions, NoTimestampsWhenTheSynAckHasNone_RFC7323_3_2) {
  Harness h(ts_config());
  connect(h);
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK});
  const Sent ack = h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  EXPECT_FALSE(ack.tcp.options.timestamps);
  EXPECT_FALSE(h.conn.status().timestamps);
  // Segments without TSopt are then normal.
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = PSH | ACK, .data = "x"});
  EXPECT_EQ(h.read(), "x");
  h.advance(Duration::millis(40));
  const Sent ack2 = h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = ACK});
  EXPECT_FALSE(ack2.tcp.options.timestamps);
  h.expect_nothing();
}

// Establishes with timestamps: the peer's SYN-ACK carries TSval 100. Returns our last TSval.
uint32_t established_with_timestamps(Harness& h) {
  const Sent syn = connect(h);
  h.send(Seg{.seq = kPeerIss,
             .ack = kIss + 1,
             .ctl = SYN | ACK,
             .options = ts(100, syn.tcp.options.timestamps->value)});
  const Sent ack = h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  return ack.tcp.options.timestamps ? ack.tcp.options.timestamps->value : 0;
}

TEST(OpenOptions, PawsDropsAnOldTsvalWithAnAck_RFC7323_5_3) {
  Harness h(ts_config());
  const uint32_t our_tsval = established_with_timestamps(h);
  h.send(Seg{.seq = kPeerIss + 1,
             .ack = kIss + 1,
             .ctl = PSH | ACK,
             .data = "a",
             .options = ts(200, our_tsval)});
  h.advance(Duration::millis(40));
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  // An old duplicate: in the window, but TSval 150 < TS.Recent 200. R1: "Send an
  // acknowledgment in reply ... and drop the segment."
  h.send(Seg{.seq = kPeerIss + 2,
             .ack = kIss + 1,
             .ctl = PSH | ACK,
             .data = "b",
             .options = ts(150, our_tsval)});
  const Sent ack = h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = ACK});
  h.expect_nothing();
  ASSERT_TRUE(ack.tcp.options.timestamps);
  EXPECT_EQ(ack.tcp.options.timestamps->echo_reply, 200u);
  EXPECT_EQ(h.read(), "a");
  EXPECT_EQ(h.conn.rcv_nxt(), SeqNum(kPeerIss + 2));
  EXPECT_EQ(h.conn.status().stats.paws_rejected, 1u);
  // The same data with a current TSval is accepted.
  h.send(Seg{.seq = kPeerIss + 2,
             .ack = kIss + 1,
             .ctl = PSH | ACK,
             .data = "b",
             .options = ts(201, our_tsval)});
  EXPECT_EQ(h.read(), "b");
}

TEST(OpenOptions, PawsDoesNotApplyToRst_RFC7323_5_3) {
  Harness h(ts_config());
  established_with_timestamps(h);
  // R1 applies only when "the RST bit is not set".
  h.send(Seg{.seq = kPeerIss + 1, .ctl = RST, .options = ts(50, 0)});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
  EXPECT_EQ(h.conn.error(), errc(std::errc::connection_reset));
}

TEST(OpenOptions, SegmentWithoutTimestampsAfterNegotiationIsDropped_RFC7323_3_2) {
  Harness h(ts_config());
  established_with_timestamps(h);
  // "If a non-<RST> segment is received without a TSopt, a TCP SHOULD silently drop the
  // segment."
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = PSH | ACK, .data = "x"});
  h.advance(Duration::millis(200));
  h.expect_nothing();
  EXPECT_EQ(h.conn.readable(), 0u);
  EXPECT_EQ(h.conn.rcv_nxt(), SeqNum(kPeerIss + 1));
  // "A received <RST> segment ... without a TSopt" is still processed.
  h.send(Seg{.seq = kPeerIss + 1, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kClosed);
}

// ===========================================================================================
// RTT from the handshake (RFC 6298 §2–§3, §5.7; Karn's algorithm)
// ===========================================================================================

TEST(OpenRtt, SynAckGivesTheFirstSample_RFC6298_2_2) {
  Harness h;
  h.syn_sent();
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK}, Duration::millis(123));
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  EXPECT_TRUE(h.conn.rtt().has_sample());
  EXPECT_EQ(h.conn.rtt().srtt(), Duration::millis(123));
  EXPECT_EQ(h.conn.rtt().rttvar(), Duration::micros(61'500));  // R/2
  EXPECT_EQ(h.conn.rtt().rto(), Duration::millis(369));        // SRTT + 4 * RTTVAR
}

TEST(OpenRtt, AckOfSynAckGivesTheFirstSample_RFC6298_2_2) {
  Harness h;
  h.syn_rcvd();
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK}, Duration::millis(77));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  EXPECT_TRUE(h.conn.rtt().has_sample());
  EXPECT_EQ(h.conn.rtt().srtt(), Duration::millis(77));
}

TEST(OpenRtt, RetransmittedSynGivesNoSample_Karn_RFC6298_3) {
  Harness h;
  h.syn_sent();
  h.advance(Duration::seconds(1));
  h.expect(Seg{.seq = kIss, .ctl = SYN});
  h.send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK}, Duration::millis(100));
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_FALSE(h.conn.rtt().has_sample());
  EXPECT_EQ(h.conn.rtt().srtt(), Duration{});
  // RFC 6298 §5.7: a SYN timed out, so data starts with RTO = 3 s.
  EXPECT_EQ(h.conn.rtt().rto(), Duration::seconds(3));
}

TEST(OpenRtt, RetransmittedSynAckGivesNoSample_Karn_RFC6298_3) {
  Harness h;
  h.syn_rcvd();
  h.advance(Duration::seconds(1));
  h.expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  h.send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = ACK}, Duration::millis(100));
  h.expect_nothing();
  EXPECT_EQ(h.conn.state(), State::kEstablished);
  EXPECT_FALSE(h.conn.rtt().has_sample());
  EXPECT_EQ(h.conn.rtt().rto(), Duration::seconds(3));
}

TEST(OpenRtt, EchoedTimestampTimesEvenARetransmittedSyn_RFC7323_4_1) {
  Harness h(ts_config());
  connect(h);
  h.advance(Duration::seconds(1));
  const Sent again = h.expect(Seg{.seq = kIss, .ctl = SYN});
  ASSERT_TRUE(again.tcp.options.timestamps);
  // The SYN-ACK echoes the retransmission's TSval: the sample is unambiguous.
  h.send(Seg{.seq = kPeerIss,
             .ack = kIss + 1,
             .ctl = SYN | ACK,
             .options = ts(100, again.tcp.options.timestamps->value)},
         Duration::millis(100));
  h.expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_TRUE(h.conn.rtt().has_sample());
  EXPECT_EQ(h.conn.rtt().srtt(), Duration::millis(100));
}

}  // namespace
}  // namespace synack::tcp::testing
