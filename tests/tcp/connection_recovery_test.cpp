// Packet-level tests of the sender under loss: congestion window limits (RFC 5681),
// fast retransmit and NewReno (RFC 5681 §3.2, RFC 6582), limited transmit (RFC 3042),
// SACK-based recovery (RFC 6675), RACK-TLP (RFC 8985), undo of spurious retransmissions
// (RFC 3522, RFC 4015, D-SACK per RFC 2883), pacing, and ECN (RFC 3168).
//
// The test plays the peer. snd(n) is the sequence number of our data octet n (0 is the first
// after our SYN), rcv(n) the peer's. Segments are 1000 octets (the peer's MSS).
#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "harness.hpp"

namespace synack::tcp::testing {
namespace {

constexpr uint32_t kIss = Harness::kIss;
constexpr uint32_t kPeerIss = Harness::kPeerIss;
constexpr uint16_t ECE = TcpFlags::kEce;
constexpr uint16_t CWR = TcpFlags::kCwr;

struct Options {
  bool sack = true;
  bool timestamps = false;
  bool tlp = true;
  bool rack = true;
  bool pacing = false;
  bool ecn = false;
  CongestionAlgorithm algorithm = CongestionAlgorithm::kCubic;
  RecoveryRate recovery_rate = RecoveryRate::kPrrSsrb;
};

Config config(const Options& o) {
  Config c = Harness::plain_config();
  c.sack = o.sack;
  c.timestamps = o.timestamps;
  c.tlp = o.tlp;
  c.rack = o.rack;
  c.ecn = o.ecn;
  c.congestion.pacing = o.pacing;
  c.congestion.algorithm = o.algorithm;
  c.recovery_rate = o.recovery_rate;
  c.send_buffer = 256 * 1024;
  return c;
}

// The peer: SACK and timestamps as configured, MSS 1000, a handshake RTT of 100 ms.
class Peer {
 public:
  explicit Peer(const Options& o = {}) : opt(o), h(config(o)) {}

  Options opt;
  Harness h;
  uint32_t peer_ts = 5000;

  void establish(Duration rtt = Duration::millis(100), uint16_t extra_ctl = 0) {
    EXPECT_FALSE(h.conn.connect(h.tuple, SeqNum(kIss), h.now));
    h.collect();
    const Sent syn = h.expect(Seg{.seq = kIss, .ctl = SYN});
    wire::TcpOptions o;
    o.mss = 1000;
    o.sack_permitted = opt.sack;
    if (opt.timestamps) {
      o.timestamps = wire::TcpTimestamps{peer_ts, syn.tcp.options.timestamps->value};
    }
    h.send(Seg{.seq = kPeerIss,
               .ack = snd(0),
               .ctl = static_cast<uint16_t>(SYN | ACK | extra_ctl),
               .options = o},
           rtt);
    h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
    ASSERT_EQ(h.conn.state(), State::kEstablished);
  }

  // An ACK from the peer of our octet `ack`, with SACK blocks (offsets, most recent first)
  // and, with timestamps, echoing `tsecr`.
  Seg ack_seg(uint32_t ack, std::vector<std::pair<uint32_t, uint32_t>> blocks = {},
              std::optional<uint32_t> tsecr = std::nullopt) {
    Seg s{.seq = rcv(0), .ack = snd(ack), .ctl = ACK};
    for (auto [l, r] : blocks)
      s.options.sack.push_back(wire::SackBlock{SeqNum(snd(l)), SeqNum(snd(r))});
    if (opt.timestamps) s.options.timestamps = wire::TcpTimestamps{++peer_ts, tsecr.value_or(0)};
    return s;
  }
  void ack(uint32_t a, std::vector<std::pair<uint32_t, uint32_t>> blocks = {}, Duration after = {},
           std::optional<uint32_t> tsecr = std::nullopt) {
    h.send(ack_seg(a, std::move(blocks), tsecr), after);
  }

  // Writes `n` octets from offset `at` and expects them in 1000-octet segments.
  void write_and_expect(uint32_t at, uint32_t n, uint32_t expected_segments) {
    h.write(stream(at, n));
    for (uint32_t i = 0; i < expected_segments; ++i) {
      const Sent s = h.take();
      EXPECT_EQ(s.seq(), snd(at + i * 1000)) << h.steps();
    }
    h.expect_nothing();
  }

  // Data offsets of everything sent since the last call.
  std::vector<uint32_t> sent_offsets() {
    h.collect();
    std::vector<uint32_t> out;
    for (const auto& s : h.sent) {
      if (!s.data.empty()) out.push_back(s.seq() - snd(0));
    }
    h.sent.clear();
    return out;
  }

  ConnectionStatus st() const { return h.conn.status(); }
};

// --- Congestion window (RFC 5681 §3.1, RFC 6928) ------------------------------------------

// RFC 6928: the initial window is min(10*MSS, max(2*MSS, 14600)) = 10 segments here; the
// eleventh waits for an ACK. Each ACK in slow start opens the window further.
TEST(RecoveryCwnd, InitialWindowIsTenSegments_Rfc6928_2) {
  Peer p;
  p.establish();
  EXPECT_EQ(p.st().cwnd, 10'000u);
  EXPECT_FALSE(p.st().ssthresh.has_value());  // "arbitrarily high" (RFC 5681 §3.1)
  p.write_and_expect(0, 12'000, 10);
  EXPECT_EQ(p.st().in_flight, 10'000u);
  p.ack(2000, {}, Duration::millis(100));
  // Slow start: +2000 (RFC 3465 L = 2), and 2000 left the network: four new segments.
  EXPECT_EQ(p.st().cwnd, 12'000u);
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{10'000, 11'000}));  // all there is
}

// RFC 5681 §3.1 / RFC 6928 §2: after a lost SYN the initial window is one segment.
TEST(RecoveryCwnd, OneSegmentAfterARetransmittedSyn_Rfc5681_3_1) {
  Peer p;
  EXPECT_FALSE(p.h.conn.connect(p.h.tuple, SeqNum(kIss), p.h.now));
  p.h.collect();
  p.h.expect(Seg{.seq = kIss, .ctl = SYN});
  p.h.advance(Duration::seconds(1));
  p.h.expect(Seg{.seq = kIss, .ctl = SYN});
  wire::TcpOptions o;
  o.mss = 1000;
  o.sack_permitted = true;
  p.h.send(Seg{.seq = kPeerIss, .ack = snd(0), .ctl = SYN | ACK, .options = o});
  p.h.expect(Seg{.seq = snd(0), .ack = rcv(0), .ctl = ACK});
  EXPECT_EQ(p.st().cwnd, 1000u);
  p.write_and_expect(0, 3000, 1);
}

// The window is never exceeded: across slow start, losses, SACK recovery and congestion
// avoidance, the bytes in flight (RFC 6675 pipe) stay within cwnd after every event.
TEST(RecoveryCwnd, NeverMoreThanCwndInFlight_Rfc5681_3_1_Rfc6675_5) {
  Peer p({.tlp = false});
  p.establish(Duration::millis(20));
  std::string data = stream(0, 200'000);
  size_t written = 0;
  uint32_t cum = 0;  // the peer's RCV.NXT (offset)
  std::set<uint32_t> have;
  uint64_t n = 0;
  for (int round = 0; round < 200 && cum < data.size(); ++round) {
    if (written < data.size()) {
      auto w = p.h.conn.send(std::as_bytes(std::span(data.data() + written, data.size() - written)),
                             p.h.now);
      if (w) written += *w;
    }
    p.h.collect();
    std::vector<Sent> batch(p.h.sent.begin(), p.h.sent.end());
    p.h.sent.clear();
    p.h.now = p.h.now + Duration::millis(20);
    for (const auto& s : batch) {
      if (s.data.empty()) continue;
      const uint32_t off = s.seq() - snd(0);
      if (++n % 13 == 0) continue;  // lost
      for (uint32_t o = off; o < off + s.data.size(); o += 1000)
        have.insert(o);
      while (have.count(cum))
        cum += 1000;
      std::vector<std::pair<uint32_t, uint32_t>> blocks;
      for (uint32_t o : have) {
        if (o <= cum) continue;
        if (!blocks.empty() && blocks.back().second == o) {
          blocks.back().second += 1000;
        } else {
          blocks.push_back({o, o + 1000});
        }
      }
      std::reverse(blocks.begin(), blocks.end());
      if (blocks.size() > 4) blocks.resize(4);
      // Right after a reduction pipe may exceed the new cwnd: then nothing is sent until it
      // falls below (except the one fast retransmission RFC 5681 §3.2 step 4 requires).
      const size_t sent_before = p.h.sent.size();
      const uint64_t episodes = p.st().stats.fast_recoveries;
      p.h.send(p.ack_seg(cum, blocks));
      const auto after = p.st();
      if (p.h.sent.size() > sent_before && after.stats.fast_recoveries == episodes) {
        ASSERT_LE(after.in_flight, *after.cwnd) << p.h.steps();
      }
      ASSERT_TRUE(p.h.conn.scoreboard().consistent());
    }
    p.h.advance(Duration::millis(1));
    p.h.collect();
  }
  EXPECT_EQ(cum, data.size());
  EXPECT_GT(p.st().stats.fast_recoveries, 0u);
}

// --- Fast retransmit, NewReno, limited transmit (no SACK) --------------------------------

// RFC 5681 §3.2: the third duplicate ACK retransmits the missing segment at once (no
// timeout) and sets ssthresh = max(FlightSize / 2, 2*SMSS) (NewReno), cwnd = ssthresh.
// RFC 3042: the first two duplicate ACKs each send one new segment (limited transmit).
TEST(RecoveryNewReno, FastRetransmitAfterThreeDuplicateAcks_Rfc5681_3_2_Rfc3042) {
  Peer p({.sack = false, .algorithm = CongestionAlgorithm::kNewReno});
  p.establish();
  p.write_and_expect(0, 12'000, 10);
  p.ack(0, {}, Duration::millis(100));  // segment 0 lost; segment 1 arrived
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{10'000}));  // limited transmit
  p.ack(0);
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{11'000}));
  p.ack(0);
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{0}));  // fast retransmit
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kFast);
  EXPECT_EQ(p.st().ssthresh, 5000u);  // FlightSize (capped at cwnd, 10000) / 2
  EXPECT_EQ(p.st().stats.timeouts, 0u);
  EXPECT_EQ(p.st().stats.fast_retransmits, 1u);
  p.ack(12'000, {}, Duration::millis(100));  // the retransmission filled the hole
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kOpen);
  EXPECT_EQ(p.st().cwnd, 5000u);
}

// RFC 6582 §3.2 step 5: a partial ACK (it covers the retransmission but not the recovery
// point) retransmits the next unacknowledged segment at once and recovery goes on.
TEST(RecoveryNewReno, PartialAckRetransmitsTheNextHole_Rfc6582_3_2) {
  Peer p({.sack = false, .algorithm = CongestionAlgorithm::kNewReno});
  p.establish();
  p.write_and_expect(0, 10'000, 10);
  // Segments 0 and 4 lost: 1, 2, 3 bring three duplicate ACKs.
  p.ack(0, {}, Duration::millis(100));
  p.ack(0);
  p.ack(0);
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{0}));
  p.ack(0);  // 5..9 arrive: more duplicates (window inflation; no new data to send)
  p.ack(0);
  EXPECT_EQ(p.sent_offsets(), std::vector<uint32_t>{});
  p.ack(4000, {}, Duration::millis(100));  // partial ACK: up to the second hole
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{4000}));
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kFast);
  p.ack(10'000, {}, Duration::millis(100));
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kOpen);
  EXPECT_EQ(p.st().stats.fast_recoveries, 1u);  // one episode for both losses
  EXPECT_EQ(p.st().stats.retransmitted_segments, 2u);
  EXPECT_EQ(p.st().stats.timeouts, 0u);
}

// --- SACK loss recovery (RFC 6675) ---------------------------------------------------------

// RFC 3042 with SACK: SACKed segments leave the pipe, so the first duplicate ACKs send new
// data while the window is full.
TEST(RecoverySack, LimitedTransmitWithSack_Rfc3042_Rfc6675_5) {
  Peer p;
  p.establish();
  p.write_and_expect(0, 12'000, 10);
  p.ack(0, {{1000, 2000}}, Duration::millis(100));
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{10'000}));
  p.ack(0, {{1000, 3000}});
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{11'000}));
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kOpen);
}

// RFC 6675 §5: one loss event, three holes, all repaired within the same round trip —
// NextSeg() hands out every lost segment as pipe falls below cwnd.
TEST(RecoverySack, SeveralHolesRepairedInOneRoundTrip_Rfc6675_5) {
  Peer p;
  p.establish();
  p.write_and_expect(0, 10'000, 10);
  // 0, 3 and 6 lost; the others arrive and are SACKed.
  p.ack(0, {{1000, 2000}}, Duration::millis(100));
  p.ack(0, {{1000, 3000}});
  p.ack(0, {{4000, 5000}, {1000, 3000}});
  p.ack(0, {{4000, 6000}, {1000, 3000}});
  p.ack(0, {{7000, 8000}, {4000, 6000}, {1000, 3000}});
  p.ack(0, {{7000, 9000}, {4000, 6000}, {1000, 3000}});
  p.ack(0, {{7000, 10000}, {4000, 6000}, {1000, 3000}});
  std::vector<uint32_t> sent = p.sent_offsets();
  std::sort(sent.begin(), sent.end());
  EXPECT_EQ(sent, (std::vector<uint32_t>{0, 3000, 6000})) << p.h.steps();
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kFast);
  EXPECT_EQ(p.st().sack_holes, 3u);
  EXPECT_EQ(p.st().ssthresh, 7000u);  // CUBIC: beta 0.7 of FlightSize 10000
  p.ack(10'000, {}, Duration::millis(100));
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kOpen);
  EXPECT_EQ(p.st().stats.fast_recoveries, 1u);
  EXPECT_EQ(p.st().stats.retransmitted_segments, 3u);
  EXPECT_EQ(p.st().stats.timeouts, 0u);
}

// Entering and leaving recovery is an event (kRecovery, the cause saying which), so a
// trace can show each episode where it happens.
TEST(RecoverySack, EpisodesAreEvents_Rfc6675_5) {
  Peer p;
  p.establish();
  p.write_and_expect(0, 10'000, 10);
  const auto recovery_events = [&p] {
    std::vector<std::string> causes;
    for (const Event& e : p.h.events)
      if (e.kind == EventKind::kRecovery) causes.emplace_back(e.cause);
    return causes;
  };
  p.ack(0, {{1000, 2000}}, Duration::millis(100));
  p.ack(0, {{1000, 3000}});
  EXPECT_TRUE(recovery_events().empty());
  p.ack(0, {{1000, 4000}});  // DupThresh: the third SACKed segment above the hole
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kFast);
  EXPECT_EQ(recovery_events(), (std::vector<std::string>{"fast recovery"}));
  p.ack(10'000, {}, Duration::millis(100));
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kOpen);
  EXPECT_EQ(recovery_events(), (std::vector<std::string>{"fast recovery", "recovered"}));
}

// RFC 6675 §5.1 (RFC 5681 §3.1): after a retransmission timeout what the peer SACKed is
// not sent again; the holes are, in slow start.
TEST(RecoverySack, TimeoutResendsOnlyWhatIsNotSacked_Rfc6675_5_1) {
  Peer p({.tlp = false});
  p.establish();
  p.write_and_expect(0, 4000, 4);
  p.ack(0, {{2000, 3000}}, Duration::millis(100));  // 1 SACKed: not enough for recovery
  EXPECT_EQ(p.sent_offsets(), std::vector<uint32_t>{});
  p.h.advance(Duration::millis(25));  // RACK's reordering window: 0 and 1 are lost
  // The fast retransmission of 0; 1 waits for pipe to fall below cwnd (2800 = 0.7 * 4000).
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{0}));
  p.h.advance(Duration::seconds(1));  // the retransmissions are lost too: RTO
  std::vector<uint32_t> sent = p.sent_offsets();
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent.front(), 0u);
  EXPECT_GE(p.st().stats.timeouts, 1u);
  p.ack(1000, {{2000, 3000}}, Duration::millis(10));
  p.h.advance(Duration::millis(1));
  sent = p.sent_offsets();
  EXPECT_EQ(std::count(sent.begin(), sent.end(), 2000u), 0) << p.h.steps();
}

// RFC 2018 §8: a receiver may renege on what it SACKed. When the timer expires a second
// time in a row, the SACKs are forgotten and the SACKed data is sent again too.
TEST(RecoverySack, SacksAreForgottenAfterASecondTimeout_Rfc2018_8) {
  Peer p({.tlp = false, .rack = false});
  p.establish();
  p.write_and_expect(0, 4000, 4);
  p.ack(0, {{2000, 3000}}, Duration::millis(100));
  p.h.advance(p.h.conn.rtt().rto());
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{0}));  // RTO 1: SACKed data kept
  p.h.advance(p.h.conn.rtt().rto());
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{0}));  // RTO 2: the SACKs go
  EXPECT_EQ(p.st().stats.timeouts, 2u);
  p.ack(1000, {}, Duration::millis(100));
  p.ack(2000, {}, Duration::millis(100));
  std::vector<uint32_t> sent = p.sent_offsets();
  EXPECT_EQ(std::count(sent.begin(), sent.end(), 2000u), 1) << p.h.steps();
}

// --- Proportional rate reduction (RFC 6937) -----------------------------------------------

// Twenty segments in flight (offsets 10000..29999) with more queued: the first ten go out
// with the initial window and each of their ACKs opens cwnd by one segment (slow start).
void twenty_in_flight(Peer& p) {
  p.establish(Duration::millis(100));
  p.h.write(stream(0, 60'000));
  p.h.collect();
  p.h.sent.clear();
  for (uint32_t a = 1000; a <= 10'000; a += 1000)
    p.ack(a, {}, a == 1000 ? Duration::millis(100) : Duration{});
  ASSERT_EQ(p.sent_offsets().size(), 20u) << p.h.steps();
  ASSERT_EQ(p.st().cwnd, 20'000u);
  ASSERT_EQ(p.st().in_flight, 20'000u);
}

// 10000 lost, 11000.. SACKed one segment at a time up to `upto`: what each ACK sent.
std::vector<std::vector<uint32_t>> sack_one_by_one(Peer& p, uint32_t upto) {
  std::vector<std::vector<uint32_t>> out;
  for (uint32_t r = 12'000; r <= upto; r += 1000) {
    p.ack(10'000, {{11'000, r}}, r == 12'000 ? Duration::millis(100) : Duration{});
    out.push_back(p.sent_offsets());
  }
  return out;
}

using Sends = std::vector<std::vector<uint32_t>>;

// RFC 6937 §3: while pipe > ssthresh, "sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS)
// - prr_out". Two SACKs send new data (limited transmit, RFC 3042), the third starts
// recovery with FlightSize 22 segments: ssthresh = 0.7 * cwnd (20) = 14, RecoverFS = 22.
// From then on about 14 segments go for every 22 delivered, spread over the ACKs, until
// pipe reaches ssthresh; then one for one.
TEST(RecoveryPrr, SendsInProportionToWhatIsDelivered_Rfc6937_3) {
  Peer p({.tlp = false});
  twenty_in_flight(p);
  const Sends sent = sack_one_by_one(p, 30'000);
  EXPECT_EQ(sent, (Sends{{30'000},
                         {31'000},
                         {10'000},  // fast retransmit (prr_out was 0)
                         {},
                         {},
                         {32'000},  // prr_delivered 4: ceil(4 * 14 / 22) = 3 > prr_out 2
                         {33'000},
                         {},
                         {34'000},
                         {35'000},
                         {},
                         {},  // pipe = ssthresh: from now on one for one
                         {36'000},
                         {37'000},
                         {38'000},
                         {39'000},
                         {40'000},
                         {41'000},
                         {42'000}}))
      << p.h.steps();
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kFast);
  EXPECT_EQ(p.st().ssthresh, 14'000u);
  EXPECT_EQ(p.st().in_flight, 14'000u);
}

// RFC 6937 §3 without SACK: each duplicate ACK counts as one MSS delivered (RFC 6675's
// pipe is FlightSize less what the duplicate ACKs took out, RFC 5681 §3.2), and the
// reduction follows the same proportion as with SACK.
TEST(RecoveryPrr, WithoutSackEachDuplicateAckDeliversOneSegment_Rfc6937_3) {
  Peer p({.sack = false, .tlp = false});
  twenty_in_flight(p);
  Sends sent;
  for (int i = 0; i < 12; ++i) {
    p.ack(10'000, {}, i == 0 ? Duration::millis(100) : Duration{});
    sent.push_back(p.sent_offsets());
  }
  EXPECT_EQ(sent, (Sends{{30'000},
                         {31'000},
                         {10'000},
                         {},
                         {},
                         {32'000},
                         {33'000},
                         {},
                         {34'000},
                         {35'000},
                         {},
                         {}}))
      << p.h.steps();
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kFast);
  EXPECT_EQ(p.st().ssthresh, 14'000u);
}

// RFC 6675 §5 alone (the configuration without PRR): nothing but the fast retransmission
// goes until pipe has fallen below the reduced cwnd, then one segment per ACK. The same
// amount is sent by the end, in a burst after a silence.
TEST(RecoveryPrr, WithoutPrrRfc6675WaitsForPipeToFallBelowCwnd_Rfc6675_5) {
  Peer p({.tlp = false, .recovery_rate = RecoveryRate::kRfc6675});
  twenty_in_flight(p);
  const Sends sent = sack_one_by_one(p, 30'000);
  EXPECT_EQ(sent, (Sends{{30'000},
                         {31'000},
                         {10'000},
                         {},
                         {},
                         {},
                         {},
                         {},
                         {32'000},
                         {33'000},
                         {34'000},
                         {35'000},
                         {36'000},
                         {37'000},
                         {38'000},
                         {39'000},
                         {40'000},
                         {41'000},
                         {42'000}}))
      << p.h.steps();
}

// RFC 6937 §3: recovery ends with cwnd = ssthresh, and the flight is already there: the
// ACK that ends it sends what it frees, no more (no burst, no stall).
TEST(RecoveryPrr, RecoveryEndsWithCwndAtSsthresh_Rfc6937_3) {
  Peer p({.tlp = false});
  twenty_in_flight(p);
  sack_one_by_one(p, 30'000);
  ASSERT_EQ(p.st().in_flight, 14'000u);
  // The retransmission of 10000 arrives, and with it the ACK reaches the recovery point
  // (32000, HighData when recovery began: the limited-transmit segments included).
  p.ack(32'000, {}, Duration::millis(100));
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kOpen);
  EXPECT_EQ(p.st().cwnd, 14'000u);
  EXPECT_EQ(p.st().ssthresh, 14'000u);
  // 10000, 30000 and 31000 left the network; three new segments take their place.
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{43'000, 44'000, 45'000}));
  EXPECT_EQ(p.st().in_flight, 14'000u);
}

// Ten segments lost at once (10000..19999), the ten after them SACKed one by one: pipe
// falls below ssthresh. PRR-SSRB (the default): "limit = MAX(prr_delivered - prr_out,
// DeliveredData) + MSS" — two segments per ACK, one more than delivered, until pipe is
// back at ssthresh (RFC 6675 alone sends a burst of five at once; PRR-CRB stays at ten).
TEST(RecoveryPrr, SlowStartBoundRegrowsToSsthresh_Rfc6937_3) {
  Peer p({.tlp = false});
  twenty_in_flight(p);
  Sends sent;
  for (uint32_t r = 21'000; r <= 30'000; r += 1000) {
    p.ack(10'000, {{20'000, r}}, r == 21'000 ? Duration::millis(100) : Duration{});
    sent.push_back(p.sent_offsets());
  }
  for (uint32_t a = 11'000; a <= 12'000; a += 1000) {
    p.ack(a, {{20'000, 30'000}}, a == 11'000 ? Duration::millis(100) : Duration{});
    sent.push_back(p.sent_offsets());
  }
  EXPECT_EQ(sent, (Sends{{30'000},
                         {31'000},
                         {10'000, 11'000},  // ssthresh 14 segments, pipe 9: the reduction bound
                         {12'000, 13'000},
                         {14'000, 15'000},
                         {16'000, 17'000},  // pipe = ssthresh
                         {18'000},
                         {19'000},
                         {32'000},
                         {33'000},
                         {34'000},
                         {35'000}}))
      << p.h.steps();
  EXPECT_EQ(p.st().in_flight, 14'000u);
}

// The same losses with PRR-CRB: "limit = prr_delivered - prr_out", strict packet
// conservation: the flight stays where the losses left it until recovery ends.
TEST(RecoveryPrr, ConservativeBoundSendsWhatIsDelivered_Rfc6937_3) {
  Peer p({.tlp = false, .recovery_rate = RecoveryRate::kPrrCrb});
  twenty_in_flight(p);
  for (uint32_t r = 21'000; r <= 30'000; r += 1000) {
    p.ack(10'000, {{20'000, r}}, r == 21'000 ? Duration::millis(100) : Duration{});
  }
  EXPECT_EQ(p.sent_offsets().size(), 10u);  // limited transmit 2, then one per SACK
  for (uint32_t a = 11'000; a <= 16'000; a += 1000) {
    p.ack(a, {{20'000, 30'000}}, a == 11'000 ? Duration::millis(100) : Duration{});
    EXPECT_EQ(p.sent_offsets().size(), 1u) << p.h.steps();
  }
  EXPECT_EQ(p.st().in_flight, 10'000u);
  EXPECT_EQ(p.st().ssthresh, 14'000u);
}

// --- RACK (RFC 8985 §6) ----------------------------------------------------------------------

// Reordering shorter than the reordering window (min_RTT / 4 = 25 ms here) is not loss:
// the late segment arrives and nothing is retransmitted.
TEST(RecoveryRack, ReorderingWithinTheWindowIsNotLoss_Rfc8985_6_2) {
  Peer p;
  p.establish();
  p.write_and_expect(0, 4000, 4);
  p.ack(0, {{1000, 2000}}, Duration::millis(100));  // 1 overtook 0
  p.h.advance(Duration::millis(24));
  EXPECT_EQ(p.sent_offsets(), std::vector<uint32_t>{});
  p.ack(2000);  // 0 arrives, 24 ms late
  p.ack(4000);
  p.h.advance(Duration::seconds(2));
  EXPECT_EQ(p.sent_offsets(), std::vector<uint32_t>{});
  EXPECT_EQ(p.st().stats.retransmitted_segments, 0u);
  EXPECT_TRUE(p.st().reordering_seen);
}

// Beyond the window the segment is lost: the reordering timer fires exactly at
// xmit_ts + RACK.rtt + reo_wnd and the segment is retransmitted (fast recovery, no RTO).
TEST(RecoveryRack, ReorderingBeyondTheWindowIsLoss_Rfc8985_6_2_6_3) {
  Peer p;
  p.establish();
  p.write_and_expect(0, 4000, 4);
  p.ack(0, {{1000, 2000}}, Duration::millis(100));
  ASSERT_TRUE(p.h.conn.next_deadline().has_value());
  EXPECT_EQ(*p.h.conn.next_deadline(), p.h.now + Duration::millis(25));
  p.h.advance(Duration::millis(24));
  EXPECT_EQ(p.sent_offsets(), std::vector<uint32_t>{});
  p.h.advance(Duration::millis(1));
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{0}));
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kFast);
  EXPECT_EQ(p.st().stats.rack_losses, 1u);
  EXPECT_EQ(p.st().stats.timeouts, 0u);
}

// Once reordering has been seen, DupThresh SACKed segments no longer mark a loss by
// themselves: RACK's window decides (RFC 8985 §6.2 step 4).
TEST(RecoveryRack, AfterReorderingDupThreshAloneIsNotLoss_Rfc8985_6_2) {
  Peer p;
  p.establish();
  p.write_and_expect(0, 2000, 2);
  p.ack(0, {{1000, 2000}}, Duration::millis(100));
  p.ack(2000, {}, Duration::millis(1));  // 0 was only late: reordering
  ASSERT_TRUE(p.st().reordering_seen);
  p.write_and_expect(2000, 5000, 5);
  p.ack(2000, {{3000, 4000}}, Duration::millis(100));
  p.ack(2000, {{3000, 5000}});
  p.ack(2000, {{3000, 6000}});  // three SACKed above 2000
  EXPECT_EQ(p.sent_offsets(), std::vector<uint32_t>{});
  p.ack(7000, {}, Duration::millis(10));
  EXPECT_EQ(p.st().stats.retransmitted_segments, 0u);
}

// --- Tail loss probe (RFC 8985 §7) ----------------------------------------------------------

// The tail of a flight is lost and no ACK will come to start recovery: after PTO = 2*SRTT
// (+ 10 ms of slack, as Linux adds two jiffies) the last segment is sent again as a probe; its SACK
// lets RACK find the other loss, which is repaired by fast recovery instead of an RTO.
TEST(RecoveryTlp, ProbeRetransmitsTheLastSegmentAfterTwoSrtt_Rfc8985_7_2_7_3) {
  Peer p;
  p.establish();
  p.write_and_expect(0, 3000, 3);
  p.ack(1000, {}, Duration::millis(100));  // 1 and 2 lost
  ASSERT_EQ(p.h.conn.rtt().srtt().as_micros(), 100'000);
  p.h.advance(Duration::millis(209));
  EXPECT_EQ(p.sent_offsets(), std::vector<uint32_t>{});
  p.h.advance(Duration::millis(1));
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{2000}));
  EXPECT_EQ(p.st().stats.tlp_probes, 1u);
  EXPECT_EQ(p.st().stats.timeouts, 0u);
  p.ack(1000, {{2000, 3000}}, Duration::millis(100));
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{1000}));
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kFast);
  p.ack(3000, {}, Duration::millis(100));
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kOpen);
  EXPECT_EQ(p.st().stats.timeouts, 0u);
}

// With new data waiting (held back by cwnd), the probe is new data (RFC 8985 §7.3).
TEST(RecoveryTlp, ProbeSendsNewDataWhenThereIsSome_Rfc8985_7_3) {
  Peer p;
  p.establish();
  p.write_and_expect(0, 11'000, 10);
  p.h.advance(Duration::millis(210));  // PTO = 2 * SRTT + 10 ms after the last send
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{10'000}));
  EXPECT_EQ(p.st().stats.tlp_probes, 1u);
  EXPECT_EQ(p.st().stats.retransmitted_segments, 0u);
}

// §7.4.2: the probe retransmitted a segment the peer already had (only its ACK was late):
// the D-SACK for it shows nothing was lost, and the window is left alone.
TEST(RecoveryTlp, UnnecessaryProbeIsDsackedAndCostsNothing_Rfc8985_7_4_2) {
  Peer p;
  p.establish();
  p.write_and_expect(0, 3000, 3);
  p.h.advance(Duration::millis(210));  // no ACK at all: PTO
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{2000}));
  p.ack(3000, {}, Duration::millis(10));  // the late ACK of everything
  p.ack(3000, {{2000, 3000}});            // and the D-SACK of the probe
  EXPECT_EQ(p.h.conn.congestion().congestion_events(), 0u);
  EXPECT_FALSE(p.st().ssthresh.has_value());
  EXPECT_EQ(p.st().stats.tlp_recoveries, 0u);
}

// §7.4.2: the probe repaired the last segment's loss (no D-SACK; the next ACK goes beyond
// it): one congestion response, without fast recovery or a timeout.
TEST(RecoveryTlp, ProbeThatRepairedALossReducesTheWindowOnce_Rfc8985_7_4_2) {
  Peer p;
  p.establish();
  p.write_and_expect(0, 4000, 4);
  p.ack(2000, {}, Duration::millis(100));  // 2 arrived (its ACK delayed), 3 lost
  p.h.advance(Duration::millis(210));
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{3000}));
  p.ack(4000, {}, Duration::millis(100));  // exactly the probe's end: wait for a D-SACK
  EXPECT_EQ(p.h.conn.congestion().congestion_events(), 0u);
  p.write_and_expect(4000, 1000, 1);
  p.ack(5000, {}, Duration::millis(100));
  EXPECT_EQ(p.h.conn.congestion().congestion_events(), 1u);
  EXPECT_EQ(p.st().stats.tlp_recoveries, 1u);
  EXPECT_EQ(p.st().stats.fast_recoveries, 0u);
  EXPECT_EQ(p.st().stats.timeouts, 0u);
}

// RFC 8985 §6.2 step 4: a D-SACK widens the reordering window (reo_wnd_mult += 1): after a
// spurious retransmission caused by 25 ms of reordering, 40 ms of reordering is tolerated.
TEST(RecoveryRack, DsackWidensTheReorderingWindow_Rfc8985_6_2) {
  Peer p;
  p.establish();
  p.write_and_expect(0, 2000, 2);
  p.ack(0, {{1000, 2000}}, Duration::millis(100));
  p.h.advance(Duration::millis(25));
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{0}));  // spurious, as it turns out
  p.ack(2000, {}, Duration::millis(5));
  p.ack(2000, {{0, 1000}});  // D-SACK
  EXPECT_EQ(p.st().stats.dsacks_received, 1u);
  p.write_and_expect(2000, 2000, 2);
  p.ack(2000, {{3000, 4000}}, Duration::millis(100));
  p.h.advance(Duration::millis(40));  // within 2 * min_RTT / 4 = 50 ms
  EXPECT_EQ(p.sent_offsets(), std::vector<uint32_t>{});
  p.ack(4000);
  p.h.advance(Duration::seconds(1));
  EXPECT_EQ(p.sent_offsets(), std::vector<uint32_t>{});
  EXPECT_EQ(p.st().stats.retransmitted_segments, 1u);
}

// --- Undo (RFC 3522, RFC 4015, RFC 2883) ---------------------------------------------------

constexpr uint32_t kTsPayload = 988;  // 1000 less the timestamps option (RFC 7323)

// A fast retransmission the peer reports as a duplicate (D-SACK) was spurious: the window
// and ssthresh from before the episode come back.
TEST(RecoveryUndo, DsackOfTheOnlyRetransmissionUndoesTheReduction_Rfc2883_Rfc3708) {
  Peer p({.tlp = false});
  p.establish();
  p.write_and_expect(0, 5000, 5);
  p.ack(0, {{1000, 2000}}, Duration::millis(100));
  p.ack(0, {{1000, 3000}});
  p.ack(0, {{1000, 4000}});  // DupThresh: 0 is "lost"
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{0}));
  EXPECT_EQ(p.st().ssthresh, 3500u);  // CUBIC: 0.7 * FlightSize
  p.ack(5000);                        // the original 0 was only delayed
  p.ack(5000, {{0, 1000}});           // and the retransmission arrives as a duplicate: D-SACK
  EXPECT_EQ(p.st().stats.dsacks_received, 1u);
  EXPECT_EQ(p.st().stats.spurious_recoveries, 1u);
  EXPECT_GE(*p.st().cwnd, 10'000u);
  EXPECT_FALSE(p.st().ssthresh.has_value());
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kOpen);
}

// A D-SACK of a segment that was never retransmitted (the path duplicated it) says
// nothing about the retransmissions: the reduction stays.
TEST(RecoveryUndo, DsackOfAnOriginalDoesNotUndo_Rfc2883_4) {
  Peer p({.tlp = false});
  p.establish();
  p.write_and_expect(0, 5000, 5);
  p.ack(0, {{1000, 2000}}, Duration::millis(100));
  p.ack(0, {{1000, 3000}});
  p.ack(0, {{1000, 4000}});
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{0}));
  p.ack(0, {{2000, 3000}, {1000, 5000}});  // a duplicate of 2 arrived: D-SACK inside
  EXPECT_EQ(p.st().stats.dsacks_received, 1u);
  EXPECT_EQ(p.st().stats.spurious_recoveries, 0u);
  p.ack(5000, {}, Duration::millis(100));  // the retransmission repaired a real loss
  EXPECT_EQ(p.st().stats.spurious_recoveries, 0u);
  EXPECT_EQ(p.st().cwnd, 3500u);
}

// RFC 3522 Eifel detection after a timeout: the ACK of the retransmitted segment echoes
// the timestamp of the original transmission, so the original arrived (the ACK was only
// late). RFC 4015: the window, ssthresh and the RTO come back.
TEST(RecoveryUndo, TimestampsShowASpuriousTimeout_Rfc3522_Rfc4015) {
  Peer p({.timestamps = true, .tlp = false});
  p.establish();
  p.h.write(stream(0, 2 * kTsPayload));
  const Sent first = p.h.take();
  const uint32_t original_ts = first.tcp.options.timestamps->value;
  p.h.take();
  const Duration rto = p.h.conn.rtt().rto();
  p.h.advance(rto);
  const Sent again = p.h.take();
  EXPECT_EQ(again.seq(), snd(0));
  EXPECT_GT(again.tcp.options.timestamps->value, original_ts);
  EXPECT_EQ(p.st().cwnd, 1000u);
  // echoes the original's TSval
  p.ack(2 * kTsPayload, {}, Duration::millis(10), original_ts);
  EXPECT_EQ(p.st().stats.spurious_recoveries, 1u);
  EXPECT_GE(*p.st().cwnd, 10'000u);
  EXPECT_FALSE(p.st().ssthresh.has_value());
  EXPECT_EQ(p.h.conn.recovery(), RecoveryState::kOpen);
}

// The same timeout, but the ACK echoes the retransmission's timestamp: a real loss, no undo.
TEST(RecoveryUndo, TimestampsOfTheRetransmissionKeepTheReduction_Rfc3522) {
  Peer p({.timestamps = true, .tlp = false});
  p.establish();
  p.h.write(stream(0, 2 * kTsPayload));
  p.h.take();
  p.h.take();
  p.h.advance(p.h.conn.rtt().rto());
  const Sent again = p.h.take();
  p.ack(kTsPayload, {}, Duration::millis(10), again.tcp.options.timestamps->value);
  EXPECT_EQ(p.st().stats.spurious_recoveries, 0u);
  EXPECT_LT(*p.st().cwnd, 10'000u);
}

// --- Pacing --------------------------------------------------------------------------------

// With pacing on, data leaves no faster than pacing_rate(): cwnd / SRTT times 2 in slow
// start = 10000 / 100 ms * 2 = 200 kB/s, one 1000-octet segment per 5 ms after a burst of
// two; next_deadline() names the time the next one may go.
TEST(RecoveryPacing, SegmentsAreSpacedAtThePacingRate) {
  Peer p({.pacing = true});
  p.establish();
  ASSERT_EQ(p.st().pacing_rate, 200'000u);
  p.h.write(stream(0, 5000));
  EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{0, 1000}));  // the burst allowance
  ASSERT_TRUE(p.h.conn.next_deadline().has_value());
  EXPECT_EQ(*p.h.conn.next_deadline(), p.h.now + Duration::millis(5));
  for (uint32_t off : {2000u, 3000u, 4000u}) {
    p.h.advance(Duration::micros(4999));
    EXPECT_EQ(p.sent_offsets(), std::vector<uint32_t>{});
    p.h.advance(Duration::micros(1));
    EXPECT_EQ(p.sent_offsets(), (std::vector<uint32_t>{off}));
  }
}

// --- ECN (RFC 3168) ---------------------------------------------------------------------------

// §6.1.1: the SYN carries ECE and CWR; a SYN-ACK with ECE alone agrees.
TEST(RecoveryEcn, ActiveOpenNegotiates_Rfc3168_6_1_1) {
  Peer p({.ecn = true});
  EXPECT_FALSE(p.h.conn.connect(p.h.tuple, SeqNum(kIss), p.h.now));
  p.h.collect();
  const Sent syn = p.h.take();
  EXPECT_TRUE(syn.tcp.flags.ece());
  EXPECT_TRUE(syn.tcp.flags.cwr());
  p.h.send(Seg{.seq = kPeerIss, .ack = snd(0), .ctl = SYN | ACK | ECE});
  EXPECT_TRUE(p.st().ecn);
}

TEST(RecoveryEcn, PeerWithoutEcnLeavesItOff_Rfc3168_6_1_1) {
  Peer p({.ecn = true});
  p.establish(Duration::millis(100));  // SYN-ACK without ECE
  EXPECT_FALSE(p.st().ecn);
  p.h.write(stream(0, 1000));
  p.h.take();
  EXPECT_FALSE(p.h.conn.last_segment_ect());
}

// §6.1.1 passive side: a SYN with ECE and CWR is answered with ECE only; without ECN
// configured, with neither.
TEST(RecoveryEcn, PassiveOpenAnswersWithEceOnly_Rfc3168_6_1_1) {
  for (bool on : {true, false}) {
    Harness h(config({.ecn = on}));
    EXPECT_FALSE(
        h.conn.listen(h.tuple.local, [](const FourTuple&, Instant) { return SeqNum(kIss); }));
    h.send(Seg{.seq = kPeerIss, .ctl = SYN | ECE | CWR});
    const Sent synack = h.take();
    EXPECT_EQ(synack.tcp.flags.ece(), on);
    EXPECT_FALSE(synack.tcp.flags.cwr());
    EXPECT_EQ(h.conn.status().ecn, on);
  }
}

// §6.1.3: after a CE-marked segment the receiver sets ECE on its ACKs until a segment with
// CWR arrives.
TEST(RecoveryEcn, ReceiverEchoesCeUntilCwr_Rfc3168_6_1_3) {
  Peer p({.ecn = true});
  p.establish(Duration::millis(100), ECE);
  ASSERT_TRUE(p.st().ecn);
  p.h.send(Seg{.seq = rcv(0), .ack = snd(0), .ctl = ACK, .data = stream(0, 1000)}, {}, true);
  p.h.advance(Duration::millis(40));
  Sent a = p.h.take();
  EXPECT_TRUE(a.tcp.flags.ece());
  p.h.send(Seg{.seq = rcv(1000), .ack = snd(0), .ctl = ACK, .data = stream(1000, 1000)});
  p.h.advance(Duration::millis(40));
  a = p.h.take();  // still ECE: no CWR yet
  EXPECT_TRUE(a.tcp.flags.ece());
  p.h.send(Seg{.seq = rcv(2000), .ack = snd(0), .ctl = ACK | CWR, .data = stream(2000, 1000)});
  p.h.advance(Duration::millis(40));
  a = p.h.take();
  EXPECT_FALSE(a.tcp.flags.ece());
  EXPECT_EQ(p.st().stats.ecn_ce_received, 1u);
}

// §6.1.2: ECE halves the window (the congestion controller's reduction) once per window of
// data, and the next new data segment carries CWR. New data goes out ECN-capable.
TEST(RecoveryEcn, SenderReducesOncePerWindowAndSetsCwr_Rfc3168_6_1_2) {
  Peer p({.ecn = true, .algorithm = CongestionAlgorithm::kNewReno});
  p.establish(Duration::millis(100), ECE);
  p.h.write(stream(0, 4000));
  for (int i = 0; i < 4; ++i) {
    const Sent s = p.h.take();
    EXPECT_FALSE(s.tcp.flags.cwr());
  }
  EXPECT_EQ(p.st().cwnd, 10'000u);
  p.h.send(Seg{.seq = rcv(0), .ack = snd(1000), .ctl = ACK | ECE}, Duration::millis(100));
  EXPECT_EQ(p.st().stats.ecn_reductions, 1u);
  EXPECT_EQ(p.st().ssthresh, 2000u);  // max(FlightSize / 2, 2 * SMSS), FlightSize 4000
  EXPECT_EQ(p.st().cwnd, 2000u);
  p.h.write(stream(4000, 2000));  // waits: pipe 3000 > cwnd
  EXPECT_EQ(p.sent_offsets(), std::vector<uint32_t>{});
  p.h.send(Seg{.seq = rcv(0), .ack = snd(2000), .ctl = ACK | ECE});
  EXPECT_EQ(p.st().stats.ecn_reductions, 1u);  // the same window: no second reduction
  p.h.send(Seg{.seq = rcv(0), .ack = snd(4000), .ctl = ACK});
  p.h.collect();
  ASSERT_FALSE(p.h.sent.empty());
  EXPECT_EQ(p.h.sent.front().seq(), snd(4000));
  EXPECT_TRUE(p.h.sent.front().tcp.flags.cwr()) << p.h.steps();
  if (p.h.sent.size() > 1) {
    EXPECT_FALSE(p.h.sent[1].tcp.flags.cwr());
  }
}

// §6.1.2, §6.1.5: new data goes out ECN-capable (ECT), a retransmission does not. The Stack
// reads last_segment_ect() right after each poll_transmit().
TEST(RecoveryEcn, NewDataIsEctRetransmissionsAreNot_Rfc3168_6_1_2_6_1_5) {
  Peer p({.tlp = false, .ecn = true});
  p.establish(Duration::millis(100), ECE);
  const std::string data = stream(0, 1000);
  ASSERT_TRUE(p.h.conn.send(std::as_bytes(std::span(data.data(), data.size())), p.h.now));
  auto seg = p.h.conn.poll_transmit(p.h.now);
  ASSERT_TRUE(seg && !seg->payload.empty());
  EXPECT_TRUE(p.h.conn.last_segment_ect());
  EXPECT_FALSE(p.h.conn.poll_transmit(p.h.now));
  p.h.now = *p.h.conn.next_deadline();
  p.h.conn.on_timeout(p.h.now);
  seg = p.h.conn.poll_transmit(p.h.now);
  ASSERT_TRUE(seg && !seg->payload.empty());
  EXPECT_EQ(p.st().stats.retransmitted_segments, 1u);
  EXPECT_FALSE(p.h.conn.last_segment_ect());
}

}  // namespace
}  // namespace synack::tcp::testing
