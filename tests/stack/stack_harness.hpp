// A packet-level harness for stack::Stack: the test plays a remote host. It builds IPv4
// datagrams byte-exactly with the wire reprs (checksums and all), feeds them to
// Stack::receive at virtual times, and expects exactly the datagrams the stack sends back
// (every one parsed again and its checksums verified) — and nothing else. On failure the
// step log is printed in RFC 9293 notation: <SEQ=..><ACK=..><CTL=..>.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "../common/segment_notation.hpp"
#include "synack/stack/stack.hpp"
#include "synack/wire/checksum.hpp"
#include "synack/wire/icmp.hpp"
#include "synack/wire/ipv4.hpp"
#include "synack/wire/tcp.hpp"

namespace synack::stack::testing {

using wire::Ipv4Address;
using wire::SeqLen;
using wire::SeqNum;
using wire::TcpFlags;

using synack::testing::ACK;
using synack::testing::ctl_string;
using synack::testing::FIN;
using synack::testing::PSH;
using synack::testing::RST;
using synack::testing::SYN;

// The stack's two addresses, the remote host, and an address that is nobody's here.
inline constexpr Ipv4Address kLocal = Ipv4Address::from_octets(10, 0, 0, 1);
inline constexpr Ipv4Address kLocal2 = Ipv4Address::from_octets(10, 0, 0, 3);
inline constexpr Ipv4Address kPeer = Ipv4Address::from_octets(10, 0, 0, 2);
inline constexpr Ipv4Address kForeign = Ipv4Address::from_octets(10, 9, 9, 9);
inline constexpr uint16_t kLocalPort = 80;
inline constexpr uint16_t kPeerPort = 40000;

// A segment the remote host sends. Sequence numbers are absolute; `ack` is used only with
// ACK in `ctl`.
struct Seg {
  Ipv4Address src = kPeer;
  Ipv4Address dst = kLocal;
  uint16_t sport = kPeerPort;
  uint16_t dport = kLocalPort;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint16_t ctl = 0;
  uint16_t wnd = 65535;
  std::string data;
  wire::TcpOptions options;
  uint8_t ecn = wire::ecn::kNotEct;  // the IP header's ECN field
};

// A segment expected from the stack. Unset optionals are not checked.
struct Want {
  Ipv4Address src = kLocal;
  Ipv4Address dst = kPeer;
  uint16_t sport = kLocalPort;
  uint16_t dport = kPeerPort;
  std::optional<uint32_t> seq;
  uint32_t ack = 0;
  uint16_t ctl = 0;
  std::string data;
  std::optional<uint16_t> wnd;
};

struct IcmpHeader {
  uint8_t type = 0;
  uint8_t code = 0;
  uint32_t rest = 0;  // identifier << 16 | sequence for echo
};

// A datagram the stack sent, parsed back (checksums verified).
struct Packet {
  std::vector<std::byte> raw;
  wire::Ipv4Repr ip;
  std::optional<wire::TcpRepr> tcp;  // payload cleared: see `data`
  std::optional<IcmpHeader> icmp;
  std::string data;  // the TCP payload, or the ICMP payload after the 8-byte header

  uint32_t seq() const { return tcp ? tcp->seq.value() : 0; }
  uint32_t ack() const { return tcp && tcp->ack ? tcp->ack->value() : 0; }
  uint16_t ctl() const { return tcp ? tcp->wire_flags().bits() : 0; }
  bool is_tcp() const { return tcp.has_value(); }
};

inline std::string describe(Ipv4Address src, uint16_t sport, Ipv4Address dst, uint16_t dport,
                            uint32_t seq, std::optional<uint32_t> ack, uint16_t ctl, int wnd,
                            size_t len) {
  std::string s = src.to_string() + ":" + std::to_string(sport) + " > " + dst.to_string() + ":" +
                  std::to_string(dport) + " <SEQ=" + std::to_string(seq) + ">";
  if (ack) s += "<ACK=" + std::to_string(*ack) + ">";
  s += "<CTL=" + ctl_string(ctl) + ">";
  if (wnd >= 0) s += "<WND=" + std::to_string(wnd) + ">";  // -1: not shown
  if (len) s += "<DATA=" + std::to_string(len) + ">";
  return s;
}

inline std::string describe(const Seg& s) {
  return describe(s.src, s.sport, s.dst, s.dport, s.seq,
                  (s.ctl & ACK) ? std::optional(s.ack) : std::nullopt, s.ctl, int{s.wnd},
                  s.data.size());
}

inline std::string describe(const Packet& p) {
  if (p.tcp) {
    return describe(p.ip.src, p.tcp->src_port, p.ip.dst, p.tcp->dst_port, p.seq(),
                    p.tcp->ack ? std::optional(p.ack()) : std::nullopt, p.ctl(), int{p.tcp->window},
                    p.data.size());
  }
  if (p.icmp) {
    return p.ip.src.to_string() + " > " + p.ip.dst.to_string() +
           " ICMP type=" + std::to_string(p.icmp->type) + " code=" + std::to_string(p.icmp->code) +
           " len=" + std::to_string(p.data.size());
  }
  return p.ip.src.to_string() + " > " + p.ip.dst.to_string() +
         " proto=" + std::to_string(p.ip.protocol);
}

inline wire::Bytes as_bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// An IPv4 datagram carrying `payload_len` bytes written by `emit_payload`.
template <class F>
std::vector<std::byte> ipv4_packet(Ipv4Address src, Ipv4Address dst, uint8_t protocol,
                                   size_t payload_len, F&& emit_payload, uint8_t tos = 0) {
  static uint16_t ip_id = 0;
  const wire::Ipv4Repr ip{.src = src,
                          .dst = dst,
                          .protocol = protocol,
                          .ttl = 64,
                          .tos = tos,
                          .identification = ip_id++,
                          .payload_len = static_cast<uint16_t>(payload_len)};
  std::vector<std::byte> bytes(ip.total_len());
  ip.emit(bytes);
  emit_payload(wire::MutableBytes(bytes).subspan(ip.header_len()), ip.pseudo_header());
  return bytes;
}

inline wire::TcpRepr tcp_repr(const Seg& s) {
  wire::TcpRepr t;
  t.src_port = s.sport;
  t.dst_port = s.dport;
  t.seq = SeqNum(s.seq);
  if (s.ctl & ACK) t.ack = SeqNum(s.ack);
  t.flags = TcpFlags(s.ctl).without(TcpFlags::kAck | TcpFlags::kUrg);
  t.window = s.wnd;
  t.options = s.options;
  t.payload = as_bytes(s.data);
  return t;
}

// The segment as an IPv4 datagram, byte-exact, with correct IPv4 and TCP checksums.
inline std::vector<std::byte> tcp_packet(const Seg& s) {
  const wire::TcpRepr t = tcp_repr(s);
  return ipv4_packet(
      s.src, s.dst, wire::ip_protocol::kTcp, t.size(),
      [&](wire::MutableBytes out, const wire::PseudoHeader& ph) { t.emit(out, ph); }, s.ecn);
}

inline std::vector<std::byte> icmp_packet(Ipv4Address src, Ipv4Address dst,
                                          const wire::IcmpRepr& m) {
  return ipv4_packet(src, dst, wire::ip_protocol::kIcmp, m.size(),
                     [&](wire::MutableBytes out, const wire::PseudoHeader&) { m.emit(out); });
}

inline size_t ipv4_header_len(const std::vector<std::byte>& p) {
  return size_t{static_cast<uint8_t>(p[0]) & 0x0fu} * 4;
}

// Recomputes the IPv4 header checksum after a test changed header bytes on purpose.
inline void refresh_ipv4_checksum(std::vector<std::byte>& p) {
  const size_t hlen = ipv4_header_len(p);
  wire::store_be16(p.data() + 10, 0);
  wire::store_be16(p.data() + 10, wire::internet_checksum(wire::Bytes(p.data(), hlen)));
}

// Recomputes the TCP checksum (over the pseudo-header) after a test changed segment bytes.
inline void refresh_tcp_checksum(std::vector<std::byte>& p) {
  const size_t hlen = ipv4_header_len(p);
  const size_t total = wire::load_be16(p.data() + 2);
  const Ipv4Address src(wire::load_be32(p.data() + 12));
  const Ipv4Address dst(wire::load_be32(p.data() + 16));
  std::byte* tcp = p.data() + hlen;
  wire::store_be16(tcp + 16, 0);
  wire::ChecksumAccumulator acc = wire::PseudoHeader::ipv4(src, dst, wire::ip_protocol::kTcp)
                                      .start(static_cast<uint32_t>(total - hlen));
  acc.add(wire::Bytes(tcp, total - hlen));
  wire::store_be16(tcp + 16, acc.checksum());
}

class StackHarness {
 public:
  // Deterministic secrets, small buffers (windows stay unscaled-sized), two local addresses.
  static StackConfig config() {
    StackConfig c;
    c.secret_seed = 0x5eed;
    c.tcp.send_buffer = 16 * 1024;
    c.tcp.receive_buffer = 16 * 1024;
    return c;
  }

  explicit StackHarness(const StackConfig& cfg = config()) : stack(cfg) {
    stack.add_address(kLocal);
    stack.add_address(kLocal2);
  }

  Stack stack;
  Instant now = Instant::from_micros(1'000'000);
  std::deque<Packet> sent;
  std::vector<StackEvent> events;
  std::vector<std::string> log;
  bool quiet = false;  // many-connection tests keep the log short

  // --- The remote host --------------------------------------------------------------------

  void send(const Seg& s, Duration after = {}) {
    now = now + after;
    note("peer -> " + describe(s));
    const auto bytes = tcp_packet(s);
    stack.receive(bytes, now);
    collect();
  }

  // Any bytes at all, described by `what` in the log.
  void send_raw(const std::vector<std::byte>& bytes, const std::string& what) {
    note("peer -> " + what);
    stack.receive(bytes, now);
    collect();
  }

  // --- Time -----------------------------------------------------------------------------

  // Moves virtual time forward by `d`, firing the stack's timers at their deadlines.
  void advance(Duration d) {
    const Instant until = now + d;
    collect();
    for (int guard = 0; guard < 100'000; ++guard) {
      const auto deadline = stack.next_deadline();
      if (!deadline || *deadline > until) break;
      now = std::max(now, *deadline);
      stack.on_timeout(now);
      collect();
    }
    now = until;
    collect();
  }

  // --- What the stack sends ----------------------------------------------------------------

  void collect() {
    while (auto out = stack.poll_transmit(now)) {
      Packet p = parse(*out);
      note("stack -> " + describe(p));
      sent.push_back(std::move(p));
    }
    while (auto e = stack.poll_event())
      events.push_back(*e);
  }

  Packet take() {
    collect();
    if (sent.empty()) {
      ADD_FAILURE() << "expected a packet, got nothing\n" << steps();
      return Packet{};
    }
    Packet p = std::move(sent.front());
    sent.pop_front();
    return p;
  }

  // The next packet must be this TCP segment (addresses, ports, SEQ, ACK, CTL, data).
  Packet expect(const Want& w) {
    Packet p = take();
    if (p.raw.empty()) return p;  // take() reported it
    if (!p.tcp) {
      ADD_FAILURE() << "expected a TCP segment, got " << describe(p) << "\n" << steps();
      return p;
    }
    const uint32_t seq = w.seq.value_or(p.seq());
    const int want_wnd = w.wnd ? int{*w.wnd} : -1;
    const int wnd = w.wnd ? int{p.tcp->window} : -1;
    EXPECT_EQ(
        describe(p.ip.src, p.tcp->src_port, p.ip.dst, p.tcp->dst_port, p.seq(),
                 p.tcp->ack ? std::optional(p.ack()) : std::nullopt, p.ctl(), wnd, p.data.size()),
        describe(w.src, w.sport, w.dst, w.dport, seq,
                 (w.ctl & ACK) ? std::optional(w.ack) : std::nullopt, w.ctl, want_wnd,
                 w.data.size()))
        << steps();
    EXPECT_EQ(p.data, w.data) << steps();
    return p;
  }

  void expect_nothing() {
    collect();
    EXPECT_TRUE(sent.empty()) << "unexpected " << (sent.empty() ? "" : describe(sent.front()))
                              << "\n"
                              << steps();
  }

  std::string steps() const {
    std::string s = "steps:\n";
    const size_t first = log.size() > 200 ? log.size() - 200 : 0;
    if (first > 0) s += "  ... (" + std::to_string(first) + " earlier steps)\n";
    for (size_t i = first; i < log.size(); ++i)
      s += "  " + log[i] + "\n";
    return s;
  }

  // --- The application ---------------------------------------------------------------------

  size_t write(ConnId id, const std::string& data) {
    auto n = stack.send(id, as_bytes(data), now);
    collect();
    return n ? *n : 0;
  }

  std::string read(ConnId id, size_t max = 1 << 16) {
    std::string out(max, '\0');
    out.resize(stack.recv(id, std::as_writable_bytes(std::span(out.data(), out.size())), now));
    collect();
    return out;
  }

  // The stack events of kind kConnection for `id` whose tcp event has `kind`.
  std::vector<tcp::Event> connection_events(ConnId id, tcp::EventKind kind) const {
    std::vector<tcp::Event> out;
    for (const auto& e : events) {
      if (e.kind == StackEvent::Kind::kConnection && e.conn == id && e.event.kind == kind) {
        out.push_back(e.event);
      }
    }
    return out;
  }

  // The state of the connection with this remote port in table(), if it is listed.
  std::optional<tcp::State> state_of(uint16_t peer_port) const {
    for (const auto& row : stack.table()) {
      if (row.status.tuple.remote.port == peer_port) return row.status.state;
    }
    return std::nullopt;
  }

  // --- Handshakes the RFC way ----------------------------------------------------------------

  // The remote host opens a connection to a listener on dst:dport: SYN, our SYN-ACK, its
  // ACK. Returns our ISS.
  uint32_t open_from(uint16_t peer_port, uint32_t peer_isn, Ipv4Address dst = kLocal,
                     uint16_t dport = kLocalPort) {
    const uint32_t iss = syn_from(peer_port, peer_isn, dst, dport);
    send({.dst = dst,
          .sport = peer_port,
          .dport = dport,
          .seq = peer_isn + 1,
          .ack = iss + 1,
          .ctl = ACK});
    expect_nothing();
    return iss;
  }

  // SYN from the remote host; expects our SYN-ACK and returns our ISS.
  uint32_t syn_from(uint16_t peer_port, uint32_t peer_isn, Ipv4Address dst = kLocal,
                    uint16_t dport = kLocalPort) {
    send({.dst = dst, .sport = peer_port, .dport = dport, .seq = peer_isn, .ctl = SYN});
    const Packet synack = expect(
        {.src = dst, .sport = dport, .dport = peer_port, .ack = peer_isn + 1, .ctl = SYN | ACK});
    return synack.seq();
  }

 private:
  void note(const std::string& what) {
    if (quiet) return;
    log.push_back("t=" + std::to_string(now.as_micros()) + " " + what);
  }

  Packet parse(wire::Bytes bytes) {
    Packet p;
    p.raw.assign(bytes.begin(), bytes.end());
    auto ip = wire::Ipv4View::parse(p.raw);
    if (!ip) {
      ADD_FAILURE() << "the stack sent a bad IPv4 datagram: " << wire::to_string(ip.error());
      return p;
    }
    p.ip = wire::Ipv4Repr::parse(*ip);
    EXPECT_TRUE(stack.is_local(p.ip.src)) << "sent from " << p.ip.src.to_string();
    EXPECT_EQ(p.ip.ttl, stack.config().ttl);
    EXPECT_EQ(ip->total_length(), p.raw.size());
    if (p.ip.protocol == wire::ip_protocol::kTcp) {
      auto tcp = wire::TcpView::parse(ip->payload(), ip->pseudo_header());
      if (!tcp) {
        ADD_FAILURE() << "the stack sent a bad TCP segment: " << wire::to_string(tcp.error());
        return p;
      }
      p.tcp = wire::TcpRepr::parse(*tcp);
      p.data.assign(reinterpret_cast<const char*>(p.tcp->payload.data()), p.tcp->payload.size());
      p.tcp->payload = {};
    } else if (p.ip.protocol == wire::ip_protocol::kIcmp) {
      auto icmp = wire::IcmpView::parse(ip->payload());
      if (!icmp) {
        ADD_FAILURE() << "the stack sent a bad ICMP message: " << wire::to_string(icmp.error());
        return p;
      }
      p.icmp = IcmpHeader{icmp->type(), icmp->code(), icmp->rest_of_header()};
      p.data.assign(reinterpret_cast<const char*>(icmp->payload().data()), icmp->payload().size());
    }
    return p;
  }
};

}  // namespace synack::stack::testing
