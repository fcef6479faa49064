// A packet-level harness for tcp::Connection: a test plays the peer, sends segments at
// virtual times and expects exactly the segments the connection emits — and nothing else.
// On failure the step log is printed in RFC 9293 notation: <SEQ=..><ACK=..><CTL=..>.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "../common/segment_notation.hpp"
#include "synack/tcp/connection.hpp"

namespace synack::tcp::testing {

using wire::SeqLen;
using wire::SeqNum;
using wire::TcpFlags;

using synack::testing::ACK;
using synack::testing::ctl_string;
using synack::testing::FIN;
using synack::testing::PSH;
using synack::testing::RST;
using synack::testing::SYN;
using synack::testing::URG;

// A segment as a test writes it. Fields left out take the values below; `ack` is used only
// when ACK is in `ctl`, `up` only with URG. Sequence numbers are absolute.
struct Seg {
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint16_t ctl = 0;
  uint16_t wnd = 65535;
  std::string data;
  uint16_t up = 0;
  wire::TcpOptions options;
};

// A segment the connection emitted, with its payload copied out.
struct Sent {
  wire::TcpRepr tcp;
  std::string data;
  uint16_t ctl() const { return tcp.wire_flags().bits(); }
  uint32_t seq() const { return tcp.seq.value(); }
  uint32_t ack() const { return tcp.ack ? tcp.ack->value() : 0; }
};

inline std::string describe(uint32_t seq, std::optional<uint32_t> ack, uint16_t ctl, size_t len,
                            uint16_t wnd) {
  std::string s = "<SEQ=" + std::to_string(seq) + ">";
  if (ack) s += "<ACK=" + std::to_string(*ack) + ">";
  s += "<CTL=" + ctl_string(ctl) + "><WND=" + std::to_string(wnd) + ">";
  if (len) s += "<DATA=" + std::to_string(len) + ">";
  return s;
}

inline std::string describe(const Sent& s) {
  return describe(s.seq(), s.tcp.ack ? std::optional(s.ack()) : std::nullopt, s.ctl(),
                  s.data.size(), s.tcp.window);
}

class Harness {
 public:
  static constexpr uint32_t kIss = 1000;       // our ISS in every fixture
  static constexpr uint32_t kPeerIss = 50000;  // the peer's

  explicit Harness(Config cfg = plain_config()) : conn(cfg) {}

  // A configuration without options, so that tests about the state machine read like the
  // RFC's examples; option tests turn them on.
  static Config plain_config() {
    Config c;
    c.window_scaling = false;
    c.timestamps = false;
    c.sack = false;
    c.mss = 1000;
    c.send_buffer = 64 * 1024;
    c.receive_buffer = 64 * 1024;
    return c;
  }

  FourTuple tuple{Endpoint{wire::Ipv4Address::from_octets(10, 0, 0, 1), 4000},
                  Endpoint{wire::Ipv4Address::from_octets(10, 0, 0, 2), 80}};
  Connection conn;
  Instant now = Instant::from_micros(1'000'000);
  std::vector<std::string> log;

  // The peer sends `s` at now + after; `ce`: its IP header arrives marked Congestion
  // Experienced (RFC 3168).
  void send(const Seg& s, Duration after = {}, bool ce = false) {
    now = now + after;
    wire::TcpRepr r;
    r.src_port = tuple.remote.port;
    r.dst_port = tuple.local.port;
    r.seq = SeqNum(s.seq);
    if (s.ctl & ACK) r.ack = SeqNum(s.ack);
    if (s.ctl & URG) r.urgent = s.up;
    r.flags = TcpFlags(s.ctl).without(TcpFlags::kAck | TcpFlags::kUrg);
    r.window = s.wnd;
    r.options = s.options;
    r.payload = std::as_bytes(std::span(s.data.data(), s.data.size()));
    log.push_back("t=" + std::to_string(now.as_micros()) + " peer -> " +
                  describe(s.seq, (s.ctl & ACK) ? std::optional(s.ack) : std::nullopt, s.ctl,
                           s.data.size(), s.wnd));
    conn.on_segment(r, tuple.remote, now, ce);
    collect();
  }

  // Moves time forward, firing the connection's timers on the way.
  void advance(Duration d) {
    const Instant until = now + d;
    while (auto deadline = conn.next_deadline()) {
      if (*deadline > until) break;
      now = std::max(now, *deadline);
      conn.on_timeout(now);
      collect();
    }
    now = until;
    collect();
  }

  // Everything the connection wants to send now, in order.
  void collect() {
    while (auto out = conn.poll_transmit(now)) {
      Sent s{*out,
             std::string(reinterpret_cast<const char*>(out->payload.data()), out->payload.size())};
      s.tcp.payload = {};
      log.push_back("t=" + std::to_string(now.as_micros()) + " synack -> " + describe(s));
      sent.push_back(std::move(s));
    }
    while (auto ev = conn.poll_event())
      events.push_back(*ev);
  }

  // Takes the oldest emitted segment; fails the test if there is none.
  Sent take() {
    collect();
    if (sent.empty()) {
      ADD_FAILURE() << "expected a segment, got nothing\n" << steps();
      return Sent{};
    }
    Sent s = std::move(sent.front());
    sent.pop_front();
    return s;
  }

  // Expects the next emitted segment to match seq/ack/ctl (and data and window when given).
  Sent expect(const Seg& e, bool check_window = false) {
    Sent s = take();
    EXPECT_EQ(describe(s.seq(), s.tcp.ack ? std::optional(s.ack()) : std::nullopt, s.ctl(),
                       s.data.size(), check_window ? s.tcp.window : e.wnd),
              describe(e.seq, (e.ctl & ACK) ? std::optional(e.ack) : std::nullopt, e.ctl,
                       e.data.size(), e.wnd))
        << steps();
    if (!e.data.empty()) {
      EXPECT_EQ(s.data, e.data) << steps();
    }
    return s;
  }

  void expect_nothing() {
    collect();
    EXPECT_TRUE(sent.empty()) << "unexpected " << (sent.empty() ? "" : describe(sent.front()))
                              << "\n"
                              << steps();
  }

  bool saw_state(State s) const {
    for (const auto& e : events) {
      if (e.kind == EventKind::kStateChanged && e.to == s) return true;
    }
    return false;
  }

  bool saw(EventKind k) const {
    for (const auto& e : events) {
      if (e.kind == k) return true;
    }
    return false;
  }

  std::string steps() const {
    std::string s = "steps:\n";
    for (const auto& l : log)
      s += "  " + l + "\n";
    return s;
  }

  size_t write(const std::string& data) {
    auto n = conn.send(std::as_bytes(std::span(data.data(), data.size())), now);
    collect();
    return n ? *n : 0;
  }

  std::string read(size_t max = 1 << 20) {
    std::string out(max, '\0');
    const size_t n = conn.recv(std::as_writable_bytes(std::span(out.data(), out.size())), now);
    out.resize(n);
    collect();
    return out;
  }

  // --- Fixtures: the connection brought into a state the RFC way --------------------

  // Active open: CLOSED -> SYN_SENT (our SYN taken).
  void syn_sent() {
    EXPECT_FALSE(conn.connect(tuple, SeqNum(kIss), now));
    collect();
    expect(Seg{.seq = kIss, .ctl = SYN});
  }

  // Passive open: LISTEN -> SYN_RCVD (our SYN-ACK taken).
  void syn_rcvd() {
    EXPECT_FALSE(conn.listen(tuple.local, [](const FourTuple&, Instant) { return SeqNum(kIss); }));
    send(Seg{.seq = kPeerIss, .ctl = SYN});
    expect(Seg{.seq = kIss, .ack = kPeerIss + 1, .ctl = SYN | ACK});
  }

  // ESTABLISHED by active open; snd.nxt = kIss + 1, rcv.nxt = kPeerIss + 1.
  void established() {
    syn_sent();
    send(Seg{.seq = kPeerIss, .ack = kIss + 1, .ctl = SYN | ACK});
    expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = ACK});
    EXPECT_EQ(conn.state(), State::kEstablished);
  }

  // FIN_WAIT_1: we closed; our FIN (seq kIss + 1) is unacknowledged.
  void fin_wait_1() {
    established();
    EXPECT_FALSE(conn.close(now));
    collect();
    expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 1, .ctl = FIN | ACK});
    EXPECT_EQ(conn.state(), State::kFinWait1);
  }

  // FIN_WAIT_2: our FIN acknowledged.
  void fin_wait_2() {
    fin_wait_1();
    send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = ACK});
    expect_nothing();
    EXPECT_EQ(conn.state(), State::kFinWait2);
  }

  // CLOSE_WAIT: the peer's FIN received and acknowledged (after the delayed-ACK time).
  void close_wait() {
    established();
    send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = FIN | ACK});
    EXPECT_EQ(conn.state(), State::kCloseWait);
    advance(Duration::millis(40));
    expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = ACK});
  }

  // LAST_ACK: CLOSE_WAIT, then our FIN.
  void last_ack() {
    close_wait();
    EXPECT_FALSE(conn.close(now));
    collect();
    expect(Seg{.seq = kIss + 1, .ack = kPeerIss + 2, .ctl = FIN | ACK});
    EXPECT_EQ(conn.state(), State::kLastAck);
  }

  // CLOSING: both FINs crossed (simultaneous close); ours not yet acknowledged.
  void closing() {
    fin_wait_1();
    send(Seg{.seq = kPeerIss + 1, .ack = kIss + 1, .ctl = FIN | ACK});
    expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
    EXPECT_EQ(conn.state(), State::kClosing);
  }

  // TIME_WAIT: we closed first, the peer acknowledged and sent its FIN.
  void time_wait() {
    fin_wait_2();
    send(Seg{.seq = kPeerIss + 1, .ack = kIss + 2, .ctl = FIN | ACK});
    expect(Seg{.seq = kIss + 2, .ack = kPeerIss + 2, .ctl = ACK});
    EXPECT_EQ(conn.state(), State::kTimeWait);
  }

  std::deque<Sent> sent;
  std::vector<Event> events;
};

// Sequence numbers of the Nth byte of our stream and of the peer's, after the SYNs.
constexpr uint32_t snd(uint32_t offset) {
  return Harness::kIss + 1 + offset;
}
constexpr uint32_t rcv(uint32_t offset) {
  return Harness::kPeerIss + 1 + offset;
}

// `n` octets of a stream starting at `offset`: each octet tells its offset (mod 26), so a
// byte delivered twice, skipped or misplaced shows in the text read.
inline std::string stream(size_t offset, size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>('a' + (offset + i) % 26);
  return s;
}

}  // namespace synack::tcp::testing
