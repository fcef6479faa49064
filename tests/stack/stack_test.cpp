// Packet-level tests of stack::Stack. The test is the remote host: it writes IPv4 datagrams
// byte by byte with the wire reprs, hands them to Stack::receive at virtual times, and
// checks every datagram the stack sends back — and that nothing else is sent. Each test reads
// like the RFC text it checks; counters are compared with Linux's nstat meaning.
#include <functional>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include "stack_harness.hpp"

namespace synack::stack {
namespace {

using namespace testing;  // synack::stack::testing: the harness
using tcp::Endpoint;
using tcp::EventKind;
using tcp::State;

Endpoint local(uint16_t port = kLocalPort, Ipv4Address addr = kLocal) {
  return Endpoint{addr, port};
}
Endpoint wildcard(uint16_t port = kLocalPort) {
  return Endpoint{Ipv4Address(), port};
}

StackConfig with_cookies(SynCookieMode mode) {
  StackConfig c = StackHarness::config();
  c.syncookies = mode;
  return c;
}

// Cookie tests: a receive buffer large enough that we offer a window scale (shift 5).
StackConfig cookie_config(SynCookieMode mode) {
  StackConfig c = with_cookies(mode);
  c.tcp.receive_buffer = 1024 * 1024;
  return c;
}

template <class T>
std::error_code error_of(const expected<T, std::error_code>& r) {
  return r ? std::error_code{} : r.error();
}

uint64_t drops(const Stack& s, wire::ParseError e) {
  return s.counters().parse_drops[wire::index_of(e)];
}

wire::TcpOptions syn_options(std::optional<uint16_t> mss, std::optional<uint8_t> wscale = {},
                             bool sack = false, std::optional<uint32_t> tsval = {}) {
  wire::TcpOptions o;
  o.mss = mss;
  o.window_scale = wscale;
  o.sack_permitted = sack;
  if (tsval) o.timestamps = wire::TcpTimestamps{*tsval, 0};
  return o;
}

wire::TcpOptions ts(uint32_t tsval, uint32_t tsecr) {
  wire::TcpOptions o;
  o.timestamps = wire::TcpTimestamps{tsval, tsecr};
  return o;
}

ListenerId listen_or_fail(StackHarness& h, const Endpoint& ep, uint32_t backlog = 16) {
  auto lid = h.stack.listen(ep, backlog);
  EXPECT_TRUE(lid.has_value()) << ep.to_string();
  return lid ? *lid : ListenerId{};
}

// An active open the test answers as the server on kPeer:peer_port (our SYN taken).
struct ActiveOpen {
  ConnId id;
  uint16_t port = 0;  // our ephemeral port
  uint32_t iss = 0;
  Packet syn;
};

ActiveOpen connect_to(StackHarness& h, uint16_t peer_port = 80) {
  ActiveOpen a;
  auto id = h.stack.connect(Endpoint{kPeer, peer_port}, h.now);
  EXPECT_TRUE(id.has_value());
  if (!id) return a;
  a.id = *id;
  a.syn = h.take();
  EXPECT_TRUE(a.syn.is_tcp());
  if (!a.syn.tcp) return a;
  a.port = a.syn.tcp->src_port;
  a.iss = a.syn.seq();
  EXPECT_EQ(a.syn.ctl(), SYN);
  EXPECT_EQ(a.syn.tcp->dst_port, peer_port);
  EXPECT_EQ(a.syn.ip.src, kLocal);
  EXPECT_EQ(a.syn.ip.dst, kPeer);
  return a;
}

// =========================================================================================
// RFC 9293 §3.10.7.1: CLOSED. "An incoming segment not containing a RST causes a RST to be
// sent in response."
// =========================================================================================

// "If the ACK bit is off, sequence number zero is used, <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
// <CTL=RST,ACK>".
TEST(StackClosedPort, SynGetsRstAck) {
  StackHarness h;
  h.send({.seq = 1000, .ctl = SYN});
  const Packet rst = h.expect({.seq = 0, .ack = 1001, .ctl = RST | ACK, .wnd = 0});
  EXPECT_EQ(rst.ip.protocol, wire::ip_protocol::kTcp);
  EXPECT_TRUE(rst.tcp->options == wire::TcpOptions{});
  h.expect_nothing();
  const Counters& c = h.stack.counters();
  EXPECT_EQ(c.IpInReceives, 1u);
  EXPECT_EQ(c.IpInDelivers, 1u);
  EXPECT_EQ(c.TcpInSegs, 1u);
  EXPECT_EQ(c.TcpOutRsts, 1u);
  EXPECT_EQ(c.TcpOutSegs, 1u);
  EXPECT_EQ(c.IpOutRequests, 1u);
  EXPECT_EQ(h.stack.connection_count(), 0u);
}

// SEG.LEN counts the SYN, the FIN and the data, modulo 2^32.
TEST(StackClosedPort, RstAckAcknowledgesSynFinAndData) {
  StackHarness h;
  h.send({.seq = 0xfffffffe, .ctl = SYN | FIN, .data = "hello"});
  h.expect({.seq = 0, .ack = 5, .ctl = RST | ACK});  // 0xfffffffe + 7, wrapped
  h.send({.seq = 300, .ctl = FIN, .data = "abc"});
  h.expect({.seq = 0, .ack = 304, .ctl = RST | ACK});
  h.expect_nothing();
}

// "If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>".
TEST(StackClosedPort, AckGetsRstAtSegAck) {
  StackHarness h;
  h.send({.seq = 1000, .ack = 777777, .ctl = ACK, .data = "x"});
  h.expect({.seq = 777777, .ctl = RST, .wnd = 0});
  h.send({.sport = 5555, .dport = 443, .seq = 1, .ack = 0xffffffff, .ctl = FIN | ACK});
  h.expect({.sport = 443, .dport = 5555, .seq = 0xffffffff, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.stack.counters().TcpOutRsts, 2u);
}

TEST(StackClosedPort, NeverARstForARst) {
  StackHarness h;
  h.send({.seq = 1000, .ctl = RST});
  h.send({.seq = 1000, .ack = 1, .ctl = RST | ACK});
  h.send({.seq = 1000, .ctl = RST | SYN});
  h.send({.seq = 1000, .ack = 1, .ctl = RST | FIN | ACK, .data = "x"});
  h.expect_nothing();
  EXPECT_EQ(h.stack.counters().TcpOutRsts, 0u);
  EXPECT_EQ(h.stack.counters().TcpInSegs, 4u);
}

// Addresses and ports are swapped: the reset leaves from the address the segment reached.
TEST(StackClosedPort, RstLeavesFromTheAddressTheSegmentReached) {
  StackHarness h;
  h.send({.dst = kLocal2, .sport = 1234, .dport = 22, .seq = 1, .ctl = SYN});
  h.expect({.src = kLocal2, .sport = 22, .dport = 1234, .seq = 0, .ack = 2, .ctl = RST | ACK});
  h.expect_nothing();
}

// §3.10.7.2 LISTEN: "An incoming RST segment could not be valid ... Ignore it"; "Any
// acknowledgment is bad ... <SEQ=SEG.ACK><CTL=RST>"; no SYN and no ACK: "drop the segment".
TEST(StackListener, ListenStateAnswersAsTheRfcSays) {
  StackHarness h(with_cookies(SynCookieMode::kOff));
  listen_or_fail(h, wildcard());
  h.send({.seq = 1, .ctl = RST});
  h.send({.seq = 1, .ack = 5, .ctl = RST | ACK});
  h.expect_nothing();
  h.send({.seq = 1, .ack = 99, .ctl = SYN | ACK});
  h.expect({.seq = 99, .ctl = RST});
  h.send({.seq = 1, .ack = 1234, .ctl = ACK, .data = "x"});
  h.expect({.seq = 1234, .ctl = RST});
  h.send({.seq = 1, .ctl = FIN});
  h.send({.seq = 1, .data = "no flags"});
  h.expect_nothing();
  EXPECT_EQ(h.stack.connection_count(), 0u);
}

// =========================================================================================
// Validation: malformed datagrams are dropped and counted by reason, never answered (every
// one below, well formed, would reach a closed port and draw a RST).
// =========================================================================================

class StackMalformed : public ::testing::Test {
 protected:
  StackHarness h;

  // <SEQ=1000><CTL=SYN> with an MSS option: 20 + 24 bytes.
  static std::vector<std::byte> syn() {
    return tcp_packet({.seq = 1000, .ctl = SYN, .options = syn_options(1460)});
  }
  static constexpr size_t kTcp = 20;  // offset of the TCP header in syn()

  void expect_dropped() {
    h.expect_nothing();
    EXPECT_EQ(h.stack.counters().TcpOutRsts, 0u);
    EXPECT_EQ(h.stack.counters().IpOutRequests, 0u);
    EXPECT_EQ(h.stack.connection_count(), 0u);
  }
};

TEST_F(StackMalformed, WellFormedSynIsAnswered) {
  h.send_raw(syn(), "SYN");
  h.expect({.seq = 0, .ack = 1001, .ctl = RST | ACK});
}

TEST_F(StackMalformed, BadIpv4Checksum) {
  auto p = syn();
  p[10] ^= std::byte{0x55};
  h.send_raw(p, "SYN, IPv4 checksum broken");
  expect_dropped();
  EXPECT_EQ(h.stack.counters().IpInHdrErrors, 1u);
  EXPECT_EQ(drops(h.stack, wire::ParseError::kIpv4BadChecksum), 1u);
  EXPECT_EQ(h.stack.counters().IpInDelivers, 0u);
  EXPECT_EQ(h.stack.counters().TcpInErrs, 0u);
}

TEST_F(StackMalformed, BadTcpChecksum) {
  auto p = syn();
  p[kTcp + 16] ^= std::byte{0x01};
  h.send_raw(p, "SYN, TCP checksum broken");
  expect_dropped();
  const Counters& c = h.stack.counters();
  EXPECT_EQ(c.TcpInErrs, 1u);
  EXPECT_EQ(c.TcpInCsumErrors, 1u);
  EXPECT_EQ(drops(h.stack, wire::ParseError::kTcpBadChecksum), 1u);
  EXPECT_EQ(c.IpInHdrErrors, 0u);
}

// A device that vouches for the TCP checksum (the kernel's own segment over TUN with
// offloads: the field holds only the pseudo-header's sum) is believed; nothing else is.
TEST_F(StackMalformed, TcpChecksumTrustedOnlyWhenTheDeviceVouchesForIt) {
  ASSERT_TRUE(h.stack.listen({kLocal, kLocalPort}, 16));
  auto p = syn();
  p[kTcp + 16] ^= std::byte{0x01};
  h.stack.receive(p, h.now, /*checksum_trusted=*/true);
  EXPECT_EQ(h.stack.counters().TcpInCsumErrors, 0u);
  EXPECT_EQ(h.stack.listeners()[0].syn_queue, 1u) << "the SYN reached the listener";
  auto q = syn();
  q[kTcp + 16] ^= std::byte{0x01};
  q[kTcp + 1] ^= std::byte{0x01};  // another source port: another connection
  h.stack.receive(q, h.now);
  EXPECT_EQ(h.stack.counters().TcpInCsumErrors, 1u);
  EXPECT_EQ(h.stack.listeners()[0].syn_queue, 1u);
}

// A payload byte changed: the checksum covers the data as well as the header.
TEST_F(StackMalformed, BadTcpChecksumOverData) {
  auto p = tcp_packet({.seq = 1000, .ack = 1, .ctl = ACK, .data = "payload"});
  p.back() ^= std::byte{0x20};
  h.send_raw(p, "ACK with data, one data bit flipped");
  expect_dropped();
  EXPECT_EQ(h.stack.counters().TcpInCsumErrors, 1u);
}

// RFC 4022 tcpInSegs: "The total number of segments received, including those received in
// error" (Linux tcp_v4_rcv: "Count it even if it's bad", before the checksum check).
TEST_F(StackMalformed, TcpInSegsCountsSegmentsReceivedInError) {
  auto p = syn();
  p[kTcp + 16] ^= std::byte{0x01};
  h.send_raw(p, "SYN, TCP checksum broken");
  expect_dropped();
  EXPECT_EQ(h.stack.counters().TcpInSegs, 1u)
      << "a segment with a bad checksum is still a segment received (RFC 4022, Linux)";
}

TEST_F(StackMalformed, TruncatedIpv4Header) {
  auto p = syn();
  p.resize(19);
  h.send_raw(p, "19 bytes");
  expect_dropped();
  EXPECT_EQ(drops(h.stack, wire::ParseError::kIpv4Truncated), 1u);
  EXPECT_EQ(h.stack.counters().IpInHdrErrors, 1u);
}

TEST_F(StackMalformed, TotalLengthBeyondTheBytesReceived) {
  auto p = syn();
  p.pop_back();
  h.send_raw(p, "SYN, last byte missing");
  expect_dropped();
  EXPECT_EQ(drops(h.stack, wire::ParseError::kIpv4TotalLengthOverrun), 1u);
}

TEST_F(StackMalformed, BadIpVersionAndHeaderLength) {
  auto v5 = syn();
  v5[0] = std::byte{0x55};
  refresh_ipv4_checksum(v5);
  h.send_raw(v5, "version 5");
  auto ihl4 = syn();
  ihl4[0] = std::byte{0x44};
  h.send_raw(ihl4, "IHL 4");
  expect_dropped();
  EXPECT_EQ(drops(h.stack, wire::ParseError::kIpv4BadVersion), 1u);
  EXPECT_EQ(drops(h.stack, wire::ParseError::kIpv4BadHeaderLength), 1u);
  EXPECT_EQ(h.stack.counters().IpInHdrErrors, 2u);
}

TEST_F(StackMalformed, Ipv6IsIgnoredNotAnIpv4HeaderError) {
  // A TUN interface carries the kernel's IPv6 (router solicitations) as soon as it is up.
  auto v6 = syn();
  v6[0] = std::byte{0x60};
  h.send_raw(v6, "IPv6");
  expect_dropped();
  EXPECT_EQ(h.stack.counters().Ip6InReceives, 1u);
  EXPECT_EQ(h.stack.counters().IpInReceives, 0u);
  EXPECT_EQ(h.stack.counters().IpInHdrErrors, 0u);
}

TEST_F(StackMalformed, TruncatedTcpHeader) {
  const auto whole = syn();
  auto p = ipv4_packet(kPeer, kLocal, wire::ip_protocol::kTcp, 12,
                       [&](wire::MutableBytes out, const wire::PseudoHeader&) {
                         std::copy_n(whole.begin() + kTcp, 12, out.begin());
                       });
  h.send_raw(p, "12 bytes of TCP header");
  expect_dropped();
  EXPECT_EQ(drops(h.stack, wire::ParseError::kTcpTruncated), 1u);
  EXPECT_EQ(h.stack.counters().TcpInErrs, 1u);
}

TEST_F(StackMalformed, BadDataOffset) {
  auto small = syn();  // data offset 4: a header shorter than 20 bytes
  small[kTcp + 12] = (small[kTcp + 12] & std::byte{0x0f}) | std::byte{0x40};
  refresh_tcp_checksum(small);
  h.send_raw(small, "SYN, data offset 4");
  auto large = syn();  // data offset 15: 60 bytes of header in a 24-byte segment
  large[kTcp + 12] = (large[kTcp + 12] & std::byte{0x0f}) | std::byte{0xf0};
  refresh_tcp_checksum(large);
  h.send_raw(large, "SYN, data offset 15");
  expect_dropped();
  EXPECT_EQ(drops(h.stack, wire::ParseError::kTcpBadDataOffset), 2u);
  EXPECT_EQ(h.stack.counters().TcpInErrs, 2u);
  EXPECT_EQ(h.stack.counters().TcpInCsumErrors, 0u);
}

// The MSS option's length byte (kTcp + 21) made impossible; checksums made right again so
// that the options are the only fault.
TEST_F(StackMalformed, BadOptions) {
  const std::pair<uint8_t, wire::ParseError> cases[] = {
      {0, wire::ParseError::kTcpOptionBadLength},
      {1, wire::ParseError::kTcpOptionBadLength},
      {3, wire::ParseError::kTcpOptionWrongLength},
      {8, wire::ParseError::kTcpOptionOverrun},
  };
  for (const auto& [len, error] : cases) {
    auto p = syn();
    p[kTcp + 21] = std::byte{len};
    refresh_tcp_checksum(p);
    h.send_raw(p, "SYN, MSS option length " + std::to_string(len));
    EXPECT_GE(drops(h.stack, error), 1u) << "length " << int{len};
  }
  expect_dropped();
  EXPECT_EQ(h.stack.counters().TcpInErrs, 4u);
}

// synack does not forward: a datagram for an address that is not ours is counted and ignored.
TEST_F(StackMalformed, NotForUsIsIgnored) {
  h.send({.dst = kForeign, .seq = 1, .ctl = SYN});
  h.send({.dst = kForeign, .seq = 1, .ack = 2, .ctl = ACK});
  expect_dropped();
  EXPECT_EQ(h.stack.counters().IpInAddrErrors, 2u);
  EXPECT_EQ(h.stack.counters().IpInDelivers, 0u);
  EXPECT_EQ(h.stack.counters().TcpInSegs, 0u);
}

// No reassembly: a first fragment (MF) and a later one (offset != 0) are counted and dropped.
TEST_F(StackMalformed, FragmentsAreCountedAndDropped) {
  auto first = syn();
  wire::store_be16(first.data() + 6, 0x2000);  // MF, offset 0
  refresh_ipv4_checksum(first);
  h.send_raw(first, "SYN, first fragment");
  auto later = syn();
  wire::store_be16(later.data() + 6, 0x0003);  // offset 24, last fragment
  refresh_ipv4_checksum(later);
  h.send_raw(later, "a later fragment");
  expect_dropped();
  EXPECT_EQ(h.stack.counters().IpReasmReqds, 2u);
  EXPECT_EQ(h.stack.counters().IpReasmFails, 2u);
  EXPECT_EQ(h.stack.counters().TcpInSegs, 0u);
}

TEST_F(StackMalformed, UnknownProtocolIsCounted) {
  auto p = ipv4_packet(kPeer, kLocal, 99, 8, [](wire::MutableBytes, const wire::PseudoHeader&) {});
  h.send_raw(p, "protocol 99");
  EXPECT_EQ(h.stack.counters().IpInUnknownProtos, 1u);
  EXPECT_EQ(h.stack.counters().TcpInSegs, 0u);
}

// IPv4 options are validated and skipped: the segment behind them is processed.
TEST_F(StackMalformed, Ipv4OptionsAreSkipped) {
  auto p = syn();
  const std::byte options[4] = {std::byte{1}, std::byte{1}, std::byte{1}, std::byte{0}};
  p.insert(p.begin() + 20, std::begin(options), std::end(options));
  p[0] = std::byte{0x46};
  wire::store_be16(p.data() + 2, static_cast<uint16_t>(p.size()));
  refresh_ipv4_checksum(p);
  h.send_raw(p, "SYN behind 4 bytes of IPv4 options");
  h.expect({.seq = 0, .ack = 1001, .ctl = RST | ACK});
  h.expect_nothing();
}

// Bytes past the total length (Ethernet padding) are not TCP data.
TEST_F(StackMalformed, LinkLayerPaddingIsNotPayload) {
  auto p = tcp_packet({.seq = 1000, .ctl = SYN});
  p.resize(p.size() + 6, std::byte{0xaa});
  h.send_raw(p, "SYN + 6 bytes of padding");
  h.expect({.seq = 0, .ack = 1001, .ctl = RST | ACK});
  h.expect_nothing();
}

// =========================================================================================
// Listeners: one per address and port, the wildcard covering every address.
// =========================================================================================

TEST(StackListen, AddressInUseRules) {
  StackHarness h;
  Stack& s = h.stack;
  ASSERT_TRUE(s.listen(wildcard(80), 8));
  EXPECT_EQ(error_of(s.listen(wildcard(80), 8)), std::errc::address_in_use);
  // The wildcard covers every local address, so a specific listener on its port conflicts
  // (as on Linux without SO_REUSEPORT): a specific listener can never shadow the wildcard.
  EXPECT_EQ(error_of(s.listen(local(80), 8)), std::errc::address_in_use);
  EXPECT_EQ(error_of(s.listen(local(80, kLocal2), 8)), std::errc::address_in_use);
  ASSERT_TRUE(s.listen(local(81), 8));
  EXPECT_EQ(error_of(s.listen(local(81), 8)), std::errc::address_in_use);
  EXPECT_EQ(error_of(s.listen(wildcard(81), 8)), std::errc::address_in_use);
  EXPECT_TRUE(s.listen(local(81, kLocal2), 8));  // the same port on the other address
  EXPECT_EQ(error_of(s.listen(local(82, kForeign), 8)), std::errc::address_not_available);
  EXPECT_EQ(error_of(s.listen(wildcard(0), 8)), std::errc::invalid_argument);
  EXPECT_EQ(s.listener_count(), 3u);
}

TEST(StackListen, SpecificAddressListenersTakeOnlyTheirAddress) {
  StackHarness h;
  const ListenerId a = listen_or_fail(h, local(80, kLocal));
  const ListenerId b = listen_or_fail(h, local(80, kLocal2));
  h.open_from(40001, 100, kLocal);
  h.open_from(40002, 200, kLocal2);
  auto ca = h.stack.accept(a);
  ASSERT_TRUE(ca);
  EXPECT_EQ(h.stack.connection(*ca)->tuple().local, local(80, kLocal));
  EXPECT_EQ(h.stack.connection(*ca)->tuple().remote, (Endpoint{kPeer, 40001}));
  EXPECT_FALSE(h.stack.accept(a));
  auto cb = h.stack.accept(b);
  ASSERT_TRUE(cb);
  EXPECT_EQ(h.stack.connection(*cb)->tuple().local, local(80, kLocal2));
  EXPECT_EQ(h.stack.connection(*cb)->tuple().remote, (Endpoint{kPeer, 40002}));
  EXPECT_FALSE(h.stack.accept(b));
}

TEST(StackListen, SpecificListenerLeavesOtherAddressesClosed) {
  StackHarness h;
  listen_or_fail(h, local(80, kLocal));
  h.send({.dst = kLocal2, .seq = 7, .ctl = SYN});
  h.expect({.src = kLocal2, .seq = 0, .ack = 8, .ctl = RST | ACK});
  h.syn_from(kPeerPort, 7, kLocal);
  h.expect_nothing();
}

TEST(StackListen, WildcardListenerAnswersOnEveryAddress) {
  StackHarness h;
  const ListenerId lid = listen_or_fail(h, wildcard());
  h.open_from(40001, 100, kLocal);
  h.open_from(40002, 200, kLocal2);  // the SYN-ACK leaves from kLocal2 (open_from checks)
  std::set<uint32_t> locals;
  while (auto id = h.stack.accept(lid))
    locals.insert(h.stack.connection(*id)->tuple().local.addr.value());
  EXPECT_EQ(locals, (std::set<uint32_t>{kLocal.value(), kLocal2.value()}));
}

TEST(StackListen, ClosedListenerFreesItsPort) {
  StackHarness h;
  const ListenerId lid = listen_or_fail(h, wildcard());
  h.stack.close_listener(lid, h.now);
  EXPECT_EQ(h.stack.listener_count(), 0u) << "a closed listener is no longer a listener";
  h.send({.seq = 10, .ctl = SYN});
  h.expect({.seq = 0, .ack = 11, .ctl = RST | ACK});
  listen_or_fail(h, wildcard());
  h.syn_from(kPeerPort, 10);
}

// Closing a listener resets the connections nobody accepted. One that completed its
// handshake is ESTABLISHED: RFC 9293 §3.10.5 ABORT sends <SEQ=SND.NXT><CTL=RST>.
TEST(StackListen, CloseListenerResetsConnectionsNotYetAccepted) {
  StackHarness h;
  const ListenerId lid = listen_or_fail(h, wildcard());
  const uint32_t iss_a = h.open_from(40001, 100);  // in the accept queue
  const uint32_t iss_b = h.syn_from(40002, 200);   // in the SYN queue
  h.stack.close_listener(lid, h.now);
  h.collect();
  int rsts_to_a = 0;
  for (const Packet& p : h.sent) {
    ASSERT_TRUE(p.is_tcp());
    EXPECT_EQ(p.ctl(), RST) << describe(p);
    if (p.tcp->dst_port == 40001) {
      ++rsts_to_a;
      EXPECT_EQ(p.seq(), iss_a + 1);
    } else {
      EXPECT_EQ(p.tcp->dst_port, 40002);
      EXPECT_EQ(p.seq(), iss_b + 1);
    }
  }
  EXPECT_EQ(rsts_to_a, 1) << "the established, unaccepted connection must be reset\n" << h.steps();
  EXPECT_EQ(h.stack.connection_count(), 0u);
  EXPECT_FALSE(h.stack.accept(lid));
}

// ABORT sends <SEQ=SND.NXT><CTL=RST> even when the application lets go of the handle at
// once (SO_LINGER 0 then close() on a socket): the reset must still leave.
TEST(StackHandles, AbortThenReleaseStillSendsTheRst) {
  StackHarness h;
  const ListenerId lid = listen_or_fail(h, wildcard());
  const uint32_t iss = h.open_from(kPeerPort, 100);
  auto id = h.stack.accept(lid);
  ASSERT_TRUE(id);
  h.stack.abort(*id, h.now);
  h.stack.release(*id);
  h.expect({.seq = iss + 1, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.stack.connection_count(), 0u);
  EXPECT_EQ(h.stack.connection(*id), nullptr);
}

// A handle names a slot and its generation: once released, it never reaches the
// connection that reuses the slot.
TEST(StackHandles, StaleHandlesReachNothing) {
  StackHarness h;
  const ActiveOpen first = connect_to(h);
  h.stack.abort(first.id, h.now);
  h.stack.release(first.id);
  h.expect_nothing();
  const ActiveOpen second = connect_to(h, 81);
  EXPECT_NE(first.id, second.id);
  EXPECT_EQ(h.stack.connection(first.id), nullptr);
  ASSERT_NE(h.stack.connection(second.id), nullptr);
  EXPECT_EQ(error_of(h.stack.send(first.id, as_bytes(std::string("x")), h.now)),
            std::errc::bad_file_descriptor);
  EXPECT_EQ(h.stack.close(first.id, h.now), std::errc::bad_file_descriptor);
  h.stack.abort(first.id, h.now);  // nothing happens to the second connection
  h.stack.release(first.id);
  h.expect_nothing();
  EXPECT_EQ(h.stack.connection(second.id)->state(), State::kSynSent);
}

// =========================================================================================
// Ephemeral ports (RFC 6056): from the configured range, distinct per connection.
// =========================================================================================

TEST(StackPorts, ConnectSendsASynFromAnEphemeralPort) {
  StackHarness h;
  const ActiveOpen a = connect_to(h);
  EXPECT_TRUE(PortRange{}.contains(a.port)) << a.port;
  const wire::TcpOptions& o = a.syn.tcp->options;
  EXPECT_EQ(o.mss, std::optional<uint16_t>(1460));
  EXPECT_TRUE(o.window_scale.has_value());
  EXPECT_TRUE(o.sack_permitted);
  EXPECT_TRUE(o.timestamps.has_value());
  EXPECT_EQ(h.stack.connection(a.id)->tuple().local, (Endpoint{kLocal, a.port}));
  EXPECT_EQ(h.stack.counters().TcpActiveOpens, 1u);
  h.expect_nothing();
}

TEST(StackPorts, EphemeralPortsComeFromTheRangeAndDiffer) {
  StackConfig cfg = StackHarness::config();
  cfg.ephemeral_ports = *PortRange::make(50000, 50099);
  StackHarness h(cfg);
  std::set<uint16_t> ports;
  for (int i = 0; i < 100; ++i) {
    const ActiveOpen a = connect_to(h);
    EXPECT_TRUE(cfg.ephemeral_ports.contains(a.port)) << a.port;
    ports.insert(a.port);
  }
  EXPECT_EQ(ports.size(), 100u);
  EXPECT_EQ(error_of(h.stack.connect(Endpoint{kPeer, 80}, h.now)),
            std::errc::address_not_available);
  // Another destination makes other 4-tuples: the range serves it again.
  const ActiveOpen other = connect_to(h, 81);
  EXPECT_TRUE(cfg.ephemeral_ports.contains(other.port));
  EXPECT_EQ(h.stack.counters().TcpActiveOpens, 101u);
  EXPECT_EQ(h.stack.connection_count(), 101u);
}

TEST(StackPorts, ExhaustedRangeIsAddressNotAvailableUntilAPortIsFree) {
  StackConfig cfg = StackHarness::config();
  cfg.ephemeral_ports = *PortRange::make(50000, 50002);
  StackHarness h(cfg);
  std::vector<ActiveOpen> opens;
  for (int i = 0; i < 3; ++i)
    opens.push_back(connect_to(h));
  std::set<uint16_t> ports;
  for (const auto& a : opens)
    ports.insert(a.port);
  EXPECT_EQ(ports, (std::set<uint16_t>{50000, 50001, 50002}));
  EXPECT_EQ(error_of(h.stack.connect(Endpoint{kPeer, 80}, h.now)),
            std::errc::address_not_available);
  h.expect_nothing();
  // ABORT in SYN_SENT sends nothing and frees the 4-tuple.
  h.stack.abort(opens[1].id, h.now);
  h.stack.release(opens[1].id);
  h.expect_nothing();
  const ActiveOpen again = connect_to(h);
  EXPECT_EQ(again.port, opens[1].port);
}

// A port a listener holds is not ephemeral material.
TEST(StackPorts, ListenerPortsAreSkipped) {
  StackConfig cfg = StackHarness::config();
  cfg.ephemeral_ports = *PortRange::make(50000, 50001);
  StackHarness h(cfg);
  listen_or_fail(h, wildcard(50000));
  EXPECT_EQ(connect_to(h).port, 50001);
  EXPECT_EQ(error_of(h.stack.connect(Endpoint{kPeer, 80}, h.now)),
            std::errc::address_not_available);
}

TEST(StackPorts, ExplicitLocalPortInUse) {
  StackHarness h;
  const Endpoint remote{kPeer, 80};
  ASSERT_TRUE(h.stack.connect(remote, h.now, Endpoint{kLocal, 50000}));
  EXPECT_EQ(error_of(h.stack.connect(remote, h.now, Endpoint{kLocal, 50000})),
            std::errc::address_in_use);
  ASSERT_TRUE(h.stack.connect(remote, h.now, Endpoint{kLocal2, 50000}));
  EXPECT_EQ(error_of(h.stack.connect(remote, h.now, Endpoint{kForeign, 50000})),
            std::errc::address_not_available);
  const Packet s1 = h.take();
  const Packet s2 = h.take();
  std::set<uint32_t> sources{s1.ip.src.value(), s2.ip.src.value()};
  EXPECT_EQ(sources, (std::set<uint32_t>{kLocal.value(), kLocal2.value()}));
  EXPECT_EQ(s1.tcp->src_port, 50000);
  EXPECT_EQ(s2.tcp->src_port, 50000);
  h.expect_nothing();
}

// =========================================================================================
// The SYN queue: backlog K holds K half-open connections.
// =========================================================================================

TEST(StackSynQueue, FullQueueDropsSynsWithoutCookies) {
  StackHarness h(with_cookies(SynCookieMode::kOff));
  listen_or_fail(h, wildcard(), 3);
  std::vector<uint32_t> iss;
  for (uint16_t i = 0; i < 3; ++i)
    iss.push_back(h.syn_from(static_cast<uint16_t>(40001 + i), 1000u * (i + 1u)));
  h.send({.sport = 40004, .seq = 4000, .ctl = SYN});
  h.expect_nothing();
  const Counters& c = h.stack.counters();
  EXPECT_EQ(c.TcpExtListenDrops, 1u);
  EXPECT_EQ(c.TcpExtTCPReqQFullDrop, 1u);
  EXPECT_EQ(c.TcpExtListenOverflows, 0u);
  EXPECT_EQ(c.TcpExtSyncookiesSent, 0u);
  EXPECT_EQ(h.stack.connection_count(), 3u);
  // A completed handshake leaves the SYN queue: the client's retransmitted SYN now gets in.
  h.send({.sport = 40001, .seq = 1001, .ack = iss[0] + 1, .ctl = ACK});
  h.expect_nothing();
  h.syn_from(40004, 4000);
  EXPECT_EQ(c.TcpExtListenDrops, 1u);
  EXPECT_EQ(h.stack.connection_count(), 4u);
}

TEST(StackSynQueue, FullQueueAnswersWithACookieInAutoMode) {
  StackHarness h;  // SynCookieMode::kAuto
  const ListenerId lid = listen_or_fail(h, wildcard(), 2);
  h.syn_from(40001, 1000);
  h.syn_from(40002, 2000);
  const uint32_t cookie = h.syn_from(40003, 3000);
  const Counters& c = h.stack.counters();
  EXPECT_EQ(c.TcpExtSyncookiesSent, 1u);
  EXPECT_EQ(c.TcpExtListenDrops, 0u);
  EXPECT_EQ(c.TcpExtTCPReqQFullDrop, 0u);
  EXPECT_EQ(h.stack.connection_count(), 2u) << "a cookie keeps no state";
  // The final ACK brings the connection back from the cookie alone.
  h.send({.sport = 40003, .seq = 3001, .ack = cookie + 1, .ctl = ACK | PSH, .data = "hello"});
  if (!h.sent.empty()) h.expect({.dport = 40003, .seq = cookie + 1, .ack = 3006, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(c.TcpExtSyncookiesRecv, 1u);
  EXPECT_EQ(c.TcpExtSyncookiesFailed, 0u);
  EXPECT_EQ(c.TcpPassiveOpens, 1u);
  EXPECT_EQ(h.stack.connection_count(), 3u);
  auto id = h.stack.accept(lid);
  ASSERT_TRUE(id);
  EXPECT_EQ(h.stack.connection(*id)->tuple().remote, (Endpoint{kPeer, 40003}));
  EXPECT_EQ(h.stack.connection(*id)->state(), State::kEstablished);
  EXPECT_EQ(h.read(*id), "hello");
  h.write(*id, "world");
  h.expect({.dport = 40003, .seq = cookie + 1, .ack = 3006, .ctl = ACK | PSH, .data = "world"});
  h.expect_nothing();
  EXPECT_EQ(h.state_of(40001), State::kSynRcvd);
  EXPECT_EQ(h.state_of(40002), State::kSynRcvd);
}

// =========================================================================================
// SYN cookies (RFC 4987 §3.6).
// =========================================================================================

// With timestamps, the options the ISN cannot hold ride in the low bits of our TSval and
// come back in the client's TSecr.
TEST(StackSynCookies, TimestampCarriesWindowScaleAndSack) {
  StackHarness h(cookie_config(SynCookieMode::kOn));
  const ListenerId lid = listen_or_fail(h, wildcard());
  h.send({.seq = 5000, .ctl = SYN, .options = syn_options(1460, 7, true, 100000)});
  const Packet synack = h.expect({.ack = 5001, .ctl = SYN | ACK});
  const uint32_t cookie = synack.seq();
  EXPECT_EQ(h.stack.connection_count(), 0u);
  EXPECT_EQ(h.stack.counters().TcpExtSyncookiesSent, 1u);
  const wire::TcpOptions& o = synack.tcp->options;
  ASSERT_TRUE(o.timestamps && o.window_scale);
  EXPECT_EQ(o.mss, std::optional<uint16_t>(1460));
  EXPECT_TRUE(o.sack_permitted);
  EXPECT_EQ(o.timestamps->echo_reply, 100000u);
  const uint32_t tsval = o.timestamps->value;
  EXPECT_EQ(tsval & kSynCookieTsMask,
            syn_cookie_option_bits({.window_scale = 7, .sack_permitted = true}));

  h.send({.seq = 5001, .ack = cookie + 1, .ctl = ACK, .wnd = 100, .options = ts(100001, tsval)});
  h.expect_nothing();
  EXPECT_EQ(h.stack.counters().TcpExtSyncookiesRecv, 1u);
  auto id = h.stack.accept(lid);
  ASSERT_TRUE(id);
  const tcp::ConnectionStatus st = h.stack.connection(*id)->status();
  EXPECT_EQ(st.state, State::kEstablished);
  EXPECT_EQ(st.snd_wscale, 7);
  EXPECT_EQ(st.rcv_wscale, *o.window_scale);
  EXPECT_TRUE(st.sack);
  EXPECT_TRUE(st.timestamps);
  EXPECT_EQ(st.snd_mss, 1460);
  EXPECT_EQ(st.snd_wnd, 100u << 7);

  // Data both ways. RFC 7323 §4.3: the segment at Last.ACK.sent updates TS.Recent, so our
  // next segment echoes its TSval.
  h.send({.seq = 5001,
          .ack = cookie + 1,
          .ctl = ACK | PSH,
          .wnd = 100,
          .data = "ping",
          .options = ts(100002, tsval)});
  EXPECT_EQ(h.read(*id), "ping");
  while (!h.sent.empty())  // an ACK, now or as the window opens after the read: both fine
    h.expect({.seq = cookie + 1, .ack = 5005, .ctl = ACK});
  h.write(*id, "pong");
  const Packet pong = h.expect({.seq = cookie + 1, .ack = 5005, .ctl = ACK | PSH, .data = "pong"});
  ASSERT_TRUE(pong.tcp->options.timestamps);
  EXPECT_EQ(pong.tcp->options.timestamps->echo_reply, 100002u)
      << "TS.Recent must follow the client's TSval on a cookie connection too";
  h.expect_nothing();
}

// Without timestamps there is nowhere to keep window scale and SACK-permitted, so the
// SYN-ACK must not offer them (Linux: tcp_clear_options when a cookie SYN has no TSopt):
// RFC 7323 §2.2, the window is scaled only if both SYNs said so.
TEST(StackSynCookies, WithoutTimestampsTheSynAckOffersNoWindowScaleOrSack) {
  StackHarness h(cookie_config(SynCookieMode::kOn));
  const ListenerId lid = listen_or_fail(h, wildcard());
  h.send({.seq = 5000, .ctl = SYN, .options = syn_options(1460, 7, true)});
  const Packet synack = h.expect({.ack = 5001, .ctl = SYN | ACK});
  const wire::TcpOptions& o = synack.tcp->options;
  EXPECT_EQ(o.mss, std::optional<uint16_t>(1460));
  EXPECT_FALSE(o.timestamps);
  EXPECT_FALSE(o.window_scale) << "offered a scale the cookie connection will not use";
  EXPECT_FALSE(o.sack_permitted) << "offered SACK the cookie connection will not use";

  h.send({.seq = 5001, .ack = synack.seq() + 1, .ctl = ACK, .wnd = 1000});
  auto id = h.stack.accept(lid);
  ASSERT_TRUE(id);
  const tcp::ConnectionStatus st = h.stack.connection(*id)->status();
  // Whatever the SYN-ACK said, the connection must do the same.
  EXPECT_EQ(st.rcv_wscale, o.window_scale.value_or(0));
  EXPECT_EQ(st.sack, o.sack_permitted);
  EXPECT_EQ(st.snd_wscale, 0);
  EXPECT_FALSE(st.timestamps);
}

TEST(StackSynCookies, WithoutTimestampsMssIsRoundedDownAndDataFlows) {
  StackHarness h(with_cookies(SynCookieMode::kOn));
  const ListenerId lid = listen_or_fail(h, wildcard());
  h.send({.seq = 9000, .ctl = SYN, .options = syn_options(1400)});
  const uint32_t cookie = h.expect({.ack = 9001, .ctl = SYN | ACK}).seq();
  h.send({.seq = 9001, .ack = cookie + 1, .ctl = ACK, .wnd = 30000});
  h.expect_nothing();
  auto id = h.stack.accept(lid);
  ASSERT_TRUE(id);
  const tcp::ConnectionStatus st = h.stack.connection(*id)->status();
  EXPECT_EQ(st.snd_mss, 1300) << "1400 rounds down to the cookie table's 1300";
  EXPECT_EQ(st.snd_wnd, 30000u);
  EXPECT_FALSE(st.timestamps);
  h.send({.seq = 9001, .ack = cookie + 1, .ctl = ACK | PSH, .wnd = 30000, .data = "abc"});
  h.collect();
  h.sent.clear();  // an ACK now or after the delayed-ACK timer: both are fine
  EXPECT_EQ(h.read(*id), "abc");
  h.write(*id, "defg");
  h.expect({.seq = cookie + 1, .ack = 9004, .ctl = ACK | PSH, .data = "defg"});
  h.send({.seq = 9004, .ack = cookie + 5, .ctl = ACK, .wnd = 30000});
  h.expect_nothing();
  EXPECT_EQ(h.stack.connection(*id)->snd_una(), SeqNum(cookie + 5));
}

TEST(StackSynCookies, WrongCookieFailsWithRst) {
  StackHarness h(with_cookies(SynCookieMode::kOn));
  const ListenerId lid = listen_or_fail(h, wildcard());
  const uint32_t cookie = h.syn_from(kPeerPort, 7000);
  // 2^20 off in the low 24 bits: the hash no longer strips to an MSS index (or, with a
  // carry, the counter is wrong) — never valid.
  const uint32_t forged = cookie + 1 + (1u << 20);
  h.send({.seq = 7001, .ack = forged, .ctl = ACK});
  h.expect({.seq = forged, .ctl = RST});
  h.expect_nothing();
  const Counters& c = h.stack.counters();
  EXPECT_EQ(c.TcpExtSyncookiesFailed, 1u);
  EXPECT_EQ(c.TcpExtSyncookiesRecv, 0u);
  EXPECT_EQ(h.stack.connection_count(), 0u);
  EXPECT_FALSE(h.stack.accept(lid));
  // Cookies are stateless: the genuine ACK still completes the handshake.
  h.send({.seq = 7001, .ack = cookie + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(c.TcpExtSyncookiesRecv, 1u);
  EXPECT_TRUE(h.stack.accept(lid));
}

// A cookie lives while its counter is less than kMaxAge (2) periods old.
TEST(StackSynCookies, CookieExpiresAfterTwoCounterPeriods) {
  StackHarness h(with_cookies(SynCookieMode::kOn));
  const ListenerId lid = listen_or_fail(h, wildcard());
  ASSERT_EQ(SynCookies::counter(h.now), 0u);
  const uint32_t young = h.syn_from(40001, 100);
  const uint32_t old = h.syn_from(40002, 200);
  h.advance(SynCookies::kCounterPeriod);  // one period later: still valid
  h.send({.sport = 40001, .seq = 101, .ack = young + 1, .ctl = ACK});
  h.expect_nothing();
  EXPECT_TRUE(h.stack.accept(lid));
  // Cookies keep being sent (so the listener checks cookie ACKs, as Linux does while it
  // has overflowed within the last two periods).
  h.syn_from(40003, 300);
  h.advance(SynCookies::kCounterPeriod + Duration::seconds(1));  // > 2 periods after the SYN
  h.send({.sport = 40002, .seq = 201, .ack = old + 1, .ctl = ACK});
  h.expect({.sport = kLocalPort, .dport = 40002, .seq = old + 1, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.stack.counters().TcpExtSyncookiesRecv, 1u);
  EXPECT_EQ(h.stack.counters().TcpExtSyncookiesFailed, 1u);
  EXPECT_FALSE(h.stack.accept(lid));
}

// Linux checks a cookie only while the listener has overflowed recently
// (tcp_synq_no_recent_overflow in cookie_v4_check): a stray ACK to a listener that never
// sent a cookie is answered with a RST but is not a failed cookie in nstat.
TEST(StackSynCookies, StrayAckIsNoCookieFailureWhenNoCookieWasSent) {
  StackHarness h;  // kAuto, and the SYN queue never fills
  listen_or_fail(h, wildcard());
  h.send({.seq = 1, .ack = 4242, .ctl = ACK});
  h.expect({.seq = 4242, .ctl = RST});
  EXPECT_EQ(h.stack.counters().TcpExtSyncookiesSent, 0u);
  EXPECT_EQ(h.stack.counters().TcpExtSyncookiesFailed, 0u);
}

// =========================================================================================
// The accept queue: backlog K holds K established connections.
// =========================================================================================

TEST(StackAcceptQueue, FullQueueDropsTheFinalAckUntilAcceptMakesRoom) {
  StackHarness h;
  const ListenerId lid = listen_or_fail(h, wildcard(), 2);
  h.open_from(40001, 1000);                        // accepted later
  const uint32_t iss_b = h.syn_from(40002, 2000);  //
  const uint32_t iss_c = h.syn_from(40003, 3000);  // the one that finds the queue full
  h.send({.sport = 40002, .seq = 2001, .ack = iss_b + 1, .ctl = ACK});
  h.expect_nothing();
  // The accept queue is full (2): C's final ACK is dropped and C stays in SYN_RCVD.
  h.send({.sport = 40003, .seq = 3001, .ack = iss_c + 1, .ctl = ACK | PSH, .data = "late"});
  h.expect_nothing();
  const Counters& c = h.stack.counters();
  EXPECT_EQ(c.TcpExtListenOverflows, 1u);
  EXPECT_EQ(c.TcpExtListenDrops, 1u);
  EXPECT_EQ(c.TcpPassiveOpens, 2u);
  EXPECT_EQ(h.state_of(40003), State::kSynRcvd);
  // Linux drops a new SYN too while the accept queue is full.
  h.send({.sport = 40004, .seq = 4000, .ctl = SYN});
  h.expect_nothing();
  EXPECT_EQ(c.TcpExtListenOverflows, 2u);
  EXPECT_EQ(c.TcpExtListenDrops, 2u);
  EXPECT_FALSE(h.state_of(40004));

  auto a = h.stack.accept(lid);
  ASSERT_TRUE(a);
  EXPECT_EQ(h.stack.connection(*a)->tuple().remote.port, 40001);
  // C's SYN-ACK times out and goes again; the client answers it with its ACK and data.
  h.advance(Duration::seconds(1));
  h.expect({.dport = 40003, .seq = iss_c, .ack = 3001, .ctl = SYN | ACK});
  h.expect_nothing();
  h.send({.sport = 40003, .seq = 3001, .ack = iss_c + 1, .ctl = ACK | PSH, .data = "late"});
  EXPECT_EQ(h.state_of(40003), State::kEstablished);
  EXPECT_EQ(c.TcpPassiveOpens, 3u);
  EXPECT_EQ(c.TcpExtListenOverflows, 2u);
  auto b = h.stack.accept(lid);
  auto cc = h.stack.accept(lid);
  ASSERT_TRUE(b && cc);
  EXPECT_EQ(h.stack.connection(*b)->tuple().remote.port, 40002);
  EXPECT_EQ(h.stack.connection(*cc)->tuple().remote.port, 40003);
  EXPECT_EQ(h.read(*cc), "late");
  EXPECT_FALSE(h.stack.accept(lid));
}

// =========================================================================================
// ICMP (RFC 792, RFC 1122 §3.2.2, §4.2.3.9).
// =========================================================================================

wire::IcmpRepr echo_request(uint16_t identifier, uint16_t sequence, const std::string& data) {
  wire::IcmpEchoRequest r;
  r.identifier = identifier;
  r.sequence = sequence;
  r.data = as_bytes(data);
  return wire::IcmpRepr{r};
}

// An ICMP destination unreachable quoting the first 28 bytes of `quoted` (IPv4 header and
// the first 8 TCP bytes), after `edit` had its way with them.
std::vector<std::byte> unreachable(uint8_t code, const std::vector<std::byte>& quoted,
                                   const std::function<void(std::vector<std::byte>&)>& edit = {},
                                   Ipv4Address from = Ipv4Address::from_octets(10, 0, 0, 254)) {
  std::vector<std::byte> head(quoted.begin(), quoted.begin() + 28);
  if (edit) edit(head);
  wire::IcmpDestUnreachable u;
  u.code = code;
  u.quoted = head;
  return icmp_packet(from, kLocal, wire::IcmpRepr{u});
}

TEST(StackIcmp, EchoRequestGetsEchoReply) {
  StackHarness h;
  std::string data;
  for (int i = 0; i < 56; ++i)
    data += static_cast<char>('a' + i % 26);
  h.send_raw(icmp_packet(kPeer, kLocal, echo_request(0x1234, 7, data)), "ICMP echo request");
  const Packet reply = h.take();
  ASSERT_TRUE(reply.icmp);  // parsed with its checksum verified
  EXPECT_EQ(reply.ip.src, kLocal);
  EXPECT_EQ(reply.ip.dst, kPeer);
  EXPECT_EQ(reply.ip.protocol, wire::ip_protocol::kIcmp);
  EXPECT_EQ(reply.icmp->type, wire::icmp_type::kEchoReply);
  EXPECT_EQ(reply.icmp->code, 0);
  EXPECT_EQ(reply.icmp->rest, 0x12340007u);
  EXPECT_EQ(reply.data, data);
  // Byte for byte what an IcmpRepr would emit.
  const auto expected = icmp_packet(kLocal, kPeer, [&] {
    wire::IcmpEchoReply r;
    r.identifier = 0x1234;
    r.sequence = 7;
    r.data = as_bytes(data);
    return wire::IcmpRepr{r};
  }());
  EXPECT_TRUE(
      std::equal(reply.raw.begin() + 20, reply.raw.end(), expected.begin() + 20, expected.end()));
  h.expect_nothing();
  const Counters& c = h.stack.counters();
  EXPECT_EQ(c.IcmpInMsgs, 1u);
  EXPECT_EQ(c.IcmpInEchos, 1u);
  EXPECT_EQ(c.IcmpOutEchoReps, 1u);
  EXPECT_EQ(c.IcmpOutMsgs, 1u);
  EXPECT_EQ(c.IpOutRequests, 1u);
}

TEST(StackIcmp, EchoToTheSecondAddressIsAnsweredFromIt) {
  StackHarness h;
  h.send_raw(icmp_packet(kPeer, kLocal2, echo_request(1, 2, "")), "ICMP echo request, no data");
  const Packet reply = h.take();
  ASSERT_TRUE(reply.icmp);
  EXPECT_EQ(reply.ip.src, kLocal2);
  EXPECT_EQ(reply.icmp->rest, 0x00010002u);
  EXPECT_EQ(reply.data, "");
  h.expect_nothing();
}

TEST(StackIcmp, BadOrForeignEchoRequestsAreNotAnswered) {
  StackHarness h;
  auto bad = icmp_packet(kPeer, kLocal, echo_request(1, 1, "data"));
  bad.back() ^= std::byte{1};
  h.send_raw(bad, "echo request, checksum broken");
  auto truncated = ipv4_packet(kPeer, kLocal, wire::ip_protocol::kIcmp, 4,
                               [](wire::MutableBytes out, const wire::PseudoHeader&) {
                                 out[0] = std::byte{wire::icmp_type::kEchoRequest};
                               });
  h.send_raw(truncated, "4 bytes of ICMP");
  h.send_raw(icmp_packet(kPeer, kForeign, echo_request(1, 1, "data")), "echo request, not ours");
  h.expect_nothing();
  const Counters& c = h.stack.counters();
  EXPECT_EQ(c.IcmpInCsumErrors, 1u);
  EXPECT_EQ(c.IcmpInErrors, 2u);
  EXPECT_EQ(drops(h.stack, wire::ParseError::kIcmpTruncated), 1u);
  EXPECT_EQ(c.IpInAddrErrors, 1u);
  EXPECT_EQ(c.IcmpInEchos, 0u);
  EXPECT_EQ(c.IcmpOutEchoReps, 0u);
}

// RFC 1122 §4.2.3.9 / RFC 5927: an unreachable quoting our SYN ends the attempt.
TEST(StackIcmp, PortUnreachableQuotingOurSynRefusesTheConnect) {
  StackHarness h;
  const ActiveOpen a = connect_to(h);
  h.send_raw(unreachable(wire::icmp_unreach::kPort, a.syn.raw), "ICMP port unreachable");
  h.expect_nothing();
  const tcp::Connection* conn = h.stack.connection(a.id);
  ASSERT_TRUE(conn);
  EXPECT_EQ(conn->state(), State::kClosed);
  EXPECT_EQ(conn->error(), std::errc::connection_refused);
  const auto errors = h.connection_events(a.id, EventKind::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].error, std::errc::connection_refused);
  const Counters& c = h.stack.counters();
  EXPECT_EQ(c.IcmpInDestUnreachs, 1u);
  EXPECT_EQ(c.TcpAttemptFails, 1u);
  EXPECT_EQ(c.TcpCurrEstab, 0u);
  h.advance(Duration::seconds(10));  // no SYN retransmission
  h.expect_nothing();
  h.stack.release(a.id);
  EXPECT_EQ(h.stack.connection_count(), 0u);
  EXPECT_EQ(h.stack.connection(a.id), nullptr);
}

TEST(StackIcmp, HostUnreachableQuotingOurSynFailsWithEhostunreach) {
  StackHarness h;
  const ActiveOpen a = connect_to(h);
  h.send_raw(unreachable(wire::icmp_unreach::kHost, a.syn.raw), "ICMP host unreachable");
  h.expect_nothing();
  EXPECT_EQ(h.stack.connection(a.id)->state(), State::kClosed);
  EXPECT_EQ(h.stack.connection(a.id)->error(), std::errc::host_unreachable);
  const auto errors = h.connection_events(a.id, EventKind::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].error, std::errc::host_unreachable);
}

TEST(StackIcmp, UnreachableForAnUnknownConnectionIsIgnored) {
  StackHarness h;
  const ActiveOpen a = connect_to(h);
  const uint16_t other_port = static_cast<uint16_t>(a.port + 1);
  h.send_raw(unreachable(wire::icmp_unreach::kPort, a.syn.raw,
                         [&](std::vector<std::byte>& q) {
                           wire::store_be16(q.data() + 20, other_port);  // our port, changed
                         }),
             "ICMP port unreachable, another source port");
  h.send_raw(unreachable(wire::icmp_unreach::kPort, a.syn.raw,
                         [&](std::vector<std::byte>& q) {
                           wire::store_be16(q.data() + 22, 81);  // the destination port
                         }),
             "ICMP port unreachable, another destination port");
  h.expect_nothing();
  EXPECT_EQ(h.stack.connection(a.id)->state(), State::kSynSent);
  EXPECT_TRUE(h.connection_events(a.id, EventKind::kError).empty());
  h.advance(Duration::seconds(1));
  h.expect({.src = kLocal, .dst = kPeer, .sport = a.port, .dport = 80, .seq = a.iss, .ctl = SYN});
}

// RFC 5927 §4.1: only a quoted sequence number in SND.UNA =< SEQ < SND.NXT can be ours.
TEST(StackIcmp, UnreachableQuotingASequenceNumberOutsideTheWindowIsIgnored) {
  StackHarness h;
  const ActiveOpen a = connect_to(h);
  for (uint32_t seq : {a.iss + 1, a.iss - 1, a.iss + 100000}) {
    h.send_raw(
        unreachable(wire::icmp_unreach::kPort, a.syn.raw,
                    [&](std::vector<std::byte>& q) { wire::store_be32(q.data() + 24, seq); }),
        "ICMP port unreachable quoting SEQ=" + std::to_string(seq));
  }
  h.expect_nothing();
  EXPECT_EQ(h.stack.connection(a.id)->state(), State::kSynSent);
  EXPECT_EQ(h.stack.counters().IcmpInDestUnreachs, 3u);
  h.send_raw(unreachable(wire::icmp_unreach::kPort, a.syn.raw), "ICMP port unreachable");
  EXPECT_EQ(h.stack.connection(a.id)->state(), State::kClosed);
}

// After the handshake only hard errors (port, protocol) abort (RFC 1122 §4.2.3.9); a host
// unreachable is a soft error the connection remembers and carries on. Fragmentation needed
// is left alone (no path MTU discovery yet).
TEST(StackIcmp, SoftErrorsDoNotAbortAnEstablishedConnection) {
  StackHarness h;
  const ActiveOpen a = connect_to(h);
  h.send({.sport = 80, .dport = a.port, .seq = 9000, .ack = a.iss + 1, .ctl = SYN | ACK});
  h.expect({.sport = a.port, .dport = 80, .seq = a.iss + 1, .ack = 9001, .ctl = ACK});
  h.write(a.id, "data in flight");
  const Packet data = h.expect({.sport = a.port,
                                .dport = 80,
                                .seq = a.iss + 1,
                                .ack = 9001,
                                .ctl = ACK | PSH,
                                .data = "data in flight"});
  h.send_raw(unreachable(wire::icmp_unreach::kHost, data.raw), "ICMP host unreachable");
  h.send_raw(unreachable(wire::icmp_unreach::kFragNeeded, data.raw), "ICMP fragmentation needed");
  h.expect_nothing();
  const tcp::Connection* conn = h.stack.connection(a.id);
  EXPECT_EQ(conn->state(), State::kEstablished);
  EXPECT_EQ(conn->soft_error(), std::errc::host_unreachable);
  EXPECT_TRUE(h.connection_events(a.id, EventKind::kError).empty());
  // A port unreachable quoting the same unacknowledged data is a hard error.
  h.send_raw(unreachable(wire::icmp_unreach::kPort, data.raw), "ICMP port unreachable");
  EXPECT_EQ(conn->state(), State::kClosed);
  EXPECT_EQ(conn->error(), std::errc::connection_refused);
  EXPECT_EQ(h.stack.counters().TcpCurrEstab, 0u);
}

// =========================================================================================
// Demux: thousands of connections on one listener, each with its own bytes.
// =========================================================================================

TEST(StackDemux, FiveThousandConnectionsEachGetTheirOwnData) {
  constexpr int kConnections = 5000;
  StackConfig cfg = StackHarness::config();
  cfg.somaxconn = 8192;
  cfg.syncookies = SynCookieMode::kOff;
  cfg.tcp.send_buffer = cfg.tcp.receive_buffer = 4096;
  StackHarness h(cfg);
  h.quiet = true;
  const ListenerId lid = listen_or_fail(h, wildcard(), 8192);
  auto peer_isn = [](uint16_t port) { return uint32_t{port} * 2'654'435'761u; };
  auto port_of = [](int i) { return static_cast<uint16_t>(10000 + i); };
  auto hello = [](uint16_t port) { return "hello from " + std::to_string(port); };

  for (int i = 0; i < kConnections; ++i)
    h.send({.sport = port_of(i), .seq = peer_isn(port_of(i)), .ctl = SYN});
  ASSERT_EQ(h.sent.size(), size_t{kConnections});
  std::unordered_map<uint16_t, uint32_t> iss;
  for (const Packet& p : h.sent) {
    ASSERT_TRUE(p.is_tcp());
    EXPECT_EQ(p.ctl(), SYN | ACK);
    EXPECT_EQ(p.ip.dst, kPeer);
    EXPECT_EQ(p.ack(), peer_isn(p.tcp->dst_port) + 1);
    iss[p.tcp->dst_port] = p.seq();
  }
  h.sent.clear();
  ASSERT_EQ(iss.size(), size_t{kConnections});
  EXPECT_EQ(h.stack.connection_count(), size_t{kConnections});
  EXPECT_EQ(h.stack.counters().TcpPassiveOpens, 0u);

  for (int i = 0; i < kConnections; ++i) {
    const uint16_t port = port_of(i);
    h.send({.sport = port,
            .seq = peer_isn(port) + 1,
            .ack = iss[port] + 1,
            .ctl = ACK | PSH,
            .data = hello(port)});
  }
  h.expect_nothing();  // the ACKs of the data wait for the delayed-ACK timer
  EXPECT_EQ(h.stack.connection_count(), size_t{kConnections});
  EXPECT_EQ(h.stack.counters().TcpPassiveOpens, uint64_t{kConnections});
  EXPECT_EQ(h.stack.counters().TcpCurrEstab, uint64_t{kConnections});
  const auto table = h.stack.table();
  EXPECT_EQ(table.size(), size_t{kConnections});
  EXPECT_TRUE(std::all_of(table.begin(), table.end(), [](const ConnectionRow& r) {
    return r.status.state == State::kEstablished;
  }));

  std::map<uint16_t, ConnId> by_port;
  while (auto id = h.stack.accept(lid)) {
    const uint16_t port = h.stack.connection(*id)->tuple().remote.port;
    EXPECT_TRUE(by_port.emplace(port, *id).second);
    EXPECT_EQ(h.read(*id), hello(port));
  }
  ASSERT_EQ(by_port.size(), size_t{kConnections});

  // Replies on a few connections chosen at random go to exactly the right 4-tuple.
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<int> pick(0, kConnections - 1);
  for (int k = 0; k < 25; ++k) {
    const uint16_t port = port_of(pick(rng));
    const std::string reply = "reply to " + std::to_string(port);
    h.write(by_port[port], reply);
    h.expect({.dport = port,
              .seq = iss[port] + 1,
              .ack = peer_isn(port) + 1 + static_cast<uint32_t>(hello(port).size()),
              .ctl = ACK | PSH,
              .data = reply});
    h.expect_nothing();
  }

  // A RST for one connection touches no other.
  const uint16_t victim = port_of(1234);
  h.send({.sport = victim,
          .seq = peer_isn(victim) + 1 + static_cast<uint32_t>(hello(victim).size()),
          .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.stack.connection(by_port[victim])->state(), State::kClosed);
  EXPECT_EQ(h.stack.connection(by_port[port_of(1233)])->state(), State::kEstablished);
  EXPECT_EQ(h.stack.connection(by_port[port_of(1235)])->state(), State::kEstablished);
  EXPECT_EQ(h.stack.connection_count(), size_t{kConnections - 1});
  EXPECT_EQ(h.stack.counters().TcpCurrEstab, uint64_t{kConnections - 1});
  EXPECT_EQ(h.stack.counters().TcpEstabResets, 1u);
}

// Connections differing only in the local address, or only in the remote port, are
// different connections.
TEST(StackDemux, TuplesDifferingInOneFieldAreDistinct) {
  StackHarness h;
  const ListenerId lid = listen_or_fail(h, wildcard());
  const uint32_t iss1 = h.open_from(kPeerPort, 100, kLocal);
  const uint32_t iss2 = h.open_from(kPeerPort, 200, kLocal2);
  const uint32_t iss3 = h.open_from(kPeerPort + 1, 300, kLocal);
  std::map<std::string, ConnId> ids;
  while (auto id = h.stack.accept(lid))
    ids[h.stack.connection(*id)->tuple().to_string()] = *id;
  ASSERT_EQ(ids.size(), 3u);
  h.send({.dst = kLocal2, .seq = 201, .ack = iss2 + 1, .ctl = ACK | PSH, .data = "two"});
  h.send({.sport = kPeerPort + 1, .seq = 301, .ack = iss3 + 1, .ctl = ACK | PSH, .data = "three"});
  h.send({.seq = 101, .ack = iss1 + 1, .ctl = ACK | PSH, .data = "one"});
  EXPECT_EQ(h.read(ids["10.0.0.1:80 -> 10.0.0.2:40000"]), "one");
  EXPECT_EQ(h.read(ids["10.0.0.3:80 -> 10.0.0.2:40000"]), "two");
  EXPECT_EQ(h.read(ids["10.0.0.1:80 -> 10.0.0.2:40001"]), "three");
  const auto table = h.stack.table();
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(h.stack.connection_count(), 3u);
}

// =========================================================================================
// TIME_WAIT and RFC 6191: a new SYN may end our TIME_WAIT when it is provably new.
// =========================================================================================

struct TimeWait {
  StackHarness h;
  ListenerId lid = 0;
  ConnId id;
  uint32_t iss = 0;
  uint32_t peer_isn = 50000;
  uint32_t server_tsval = 0;  // our latest TSval (timestamps only)
};

// A passive connection that we close first: ESTABLISHED -> FIN_WAIT_1 -> FIN_WAIT_2 ->
// TIME_WAIT. With timestamps the peer's TSvals run 1000, 1001, ..., 1003.
void into_time_wait(TimeWait& t, bool timestamps) {
  StackHarness& h = t.h;
  t.lid = listen_or_fail(h, wildcard());
  auto opts = [&](uint32_t tsval) {
    return timestamps ? ts(tsval, t.server_tsval) : wire::TcpOptions{};
  };
  h.send({.seq = t.peer_isn,
          .ctl = SYN,
          .options = timestamps ? syn_options(1460, {}, false, 1000) : syn_options(1460)});
  const Packet synack = h.expect({.ack = t.peer_isn + 1, .ctl = SYN | ACK});
  t.iss = synack.seq();
  ASSERT_EQ(synack.tcp->options.timestamps.has_value(), timestamps);
  if (timestamps) t.server_tsval = synack.tcp->options.timestamps->value;
  h.send({.seq = t.peer_isn + 1, .ack = t.iss + 1, .ctl = ACK, .options = opts(1001)});
  auto id = h.stack.accept(t.lid);
  ASSERT_TRUE(id);
  t.id = *id;
  EXPECT_FALSE(h.stack.close(t.id, h.now));
  const Packet fin = h.expect({.seq = t.iss + 1, .ack = t.peer_isn + 1, .ctl = FIN | ACK});
  if (timestamps) t.server_tsval = fin.tcp->options.timestamps->value;
  h.send({.seq = t.peer_isn + 1, .ack = t.iss + 2, .ctl = ACK, .options = opts(1002)},
         Duration::millis(10));
  h.expect_nothing();
  EXPECT_EQ(h.stack.connection(t.id)->state(), State::kFinWait2);
  h.send({.seq = t.peer_isn + 1, .ack = t.iss + 2, .ctl = FIN | ACK, .options = opts(1003)},
         Duration::millis(10));
  h.expect({.seq = t.iss + 2, .ack = t.peer_isn + 2, .ctl = ACK});
  ASSERT_EQ(h.stack.connection(t.id)->state(), State::kTimeWait);
  h.advance(Duration::seconds(1));
  h.expect_nothing();
}

TEST(StackTimeWait, SynWithANewerTimestampStartsANewIncarnation) {
  TimeWait t;
  into_time_wait(t, true);
  StackHarness& h = t.h;
  // RFC 6191: the timestamp, not the ISN, proves it new — this ISN is even older.
  const uint32_t isn = t.peer_isn - 5000;
  h.send({.seq = isn, .ctl = SYN, .options = syn_options(1460, {}, false, 2000)});
  const Packet synack = h.expect({.ack = isn + 1, .ctl = SYN | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.stack.counters().TcpExtTWRecycled, 1u);
  EXPECT_EQ(h.stack.connection(t.id)->state(), State::kClosed);
  EXPECT_FALSE(h.connection_events(t.id, EventKind::kClosed).empty());
  EXPECT_EQ(h.stack.connection_count(), 1u);
  h.send({.seq = isn + 1,
          .ack = synack.seq() + 1,
          .ctl = ACK,
          .options = ts(2001, synack.tcp->options.timestamps->value)});
  h.expect_nothing();
  auto fresh = h.stack.accept(t.lid);
  ASSERT_TRUE(fresh);
  EXPECT_NE(*fresh, t.id);
  EXPECT_EQ(h.stack.connection(*fresh)->state(), State::kEstablished);
  EXPECT_EQ(h.stack.connection(*fresh)->irs(), SeqNum(isn));
}

// RFC 7323 §5.3 PAWS: an older TSval marks an old duplicate; TIME_WAIT answers it with an
// ACK <SEQ=SND.NXT><ACK=RCV.NXT> and goes on.
TEST(StackTimeWait, SynWithAnOlderTimestampGetsAnAck) {
  TimeWait t;
  into_time_wait(t, true);
  StackHarness& h = t.h;
  h.send({.seq = t.peer_isn + 100000, .ctl = SYN, .options = syn_options(1460, {}, false, 500)});
  h.expect({.seq = t.iss + 2, .ack = t.peer_isn + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.stack.counters().TcpExtTWRecycled, 0u);
  EXPECT_EQ(h.stack.connection(t.id)->state(), State::kTimeWait);
  EXPECT_EQ(h.stack.connection_count(), 1u);
}

// Without timestamps, RFC 1122 §4.2.2.13: a SYN beyond RCV.NXT may reopen. The application
// has let go of its handle: TIME_WAIT went on without it.
TEST(StackTimeWait, SynWithALargerIsnStartsANewIncarnationWithoutTimestamps) {
  TimeWait t;
  into_time_wait(t, false);
  StackHarness& h = t.h;
  h.stack.release(t.id);
  EXPECT_EQ(h.stack.connection_count(), 1u);
  const uint32_t isn = t.peer_isn + 100000;
  h.send({.seq = isn, .ctl = SYN});
  const Packet synack = h.expect({.ack = isn + 1, .ctl = SYN | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.stack.counters().TcpExtTWRecycled, 1u);
  EXPECT_EQ(h.stack.connection(t.id), nullptr);
  h.send({.seq = isn + 1, .ack = synack.seq() + 1, .ctl = ACK});
  auto fresh = h.stack.accept(t.lid);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(h.stack.connection(*fresh)->state(), State::kEstablished);
  EXPECT_EQ(h.stack.connection_count(), 1u);
}

TEST(StackTimeWait, SynWithAnOlderIsnGetsAnAckWithoutTimestamps) {
  TimeWait t;
  into_time_wait(t, false);
  StackHarness& h = t.h;
  h.send({.seq = t.peer_isn - 100, .ctl = SYN});
  h.expect({.seq = t.iss + 2, .ack = t.peer_isn + 2, .ctl = ACK});
  h.expect_nothing();
  EXPECT_EQ(h.stack.counters().TcpExtTWRecycled, 0u);
  EXPECT_EQ(h.stack.connection(t.id)->state(), State::kTimeWait);
  // 2 MSL later TIME_WAIT ends by itself.
  h.advance(Duration::seconds(60));
  EXPECT_EQ(h.stack.connection(t.id)->state(), State::kClosed);
  h.expect_nothing();
}

// =========================================================================================
// Counters with Linux's (RFC 4022's) meaning.
// =========================================================================================

// connect() -> ESTABLISHED, then the peer resets the connection.
TEST(StackCounters, ActiveOpenThenReset) {
  StackHarness h;
  const ActiveOpen a = connect_to(h);
  const Counters& c = h.stack.counters();
  EXPECT_EQ(c.TcpActiveOpens, 1u);
  EXPECT_EQ(c.TcpCurrEstab, 0u);
  h.send({.sport = 80, .dport = a.port, .seq = 9000, .ack = a.iss + 1, .ctl = SYN | ACK});
  h.expect({.sport = a.port, .dport = 80, .seq = a.iss + 1, .ack = 9001, .ctl = ACK});
  EXPECT_EQ(c.TcpCurrEstab, 1u);
  h.send({.sport = 80, .dport = a.port, .seq = 9001, .ctl = RST});
  h.expect_nothing();
  EXPECT_EQ(h.stack.connection(a.id)->error(), std::errc::connection_reset);
  EXPECT_EQ(c.TcpCurrEstab, 0u);
  EXPECT_EQ(c.TcpEstabResets, 1u);
  EXPECT_EQ(c.TcpAttemptFails, 0u);
  EXPECT_EQ(c.TcpPassiveOpens, 0u);
}

TEST(StackCounters, RefusedActiveOpenIsAnAttemptFail) {
  StackHarness h;
  const ActiveOpen a = connect_to(h);
  h.send({.sport = 80, .dport = a.port, .seq = 0, .ack = a.iss + 1, .ctl = RST | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.stack.connection(a.id)->error(), std::errc::connection_refused);
  const auto errors = h.connection_events(a.id, EventKind::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].error, std::errc::connection_refused);
  const Counters& c = h.stack.counters();
  EXPECT_EQ(c.TcpActiveOpens, 1u);
  EXPECT_EQ(c.TcpAttemptFails, 1u);
  EXPECT_EQ(c.TcpEstabResets, 0u);
  EXPECT_EQ(c.TcpCurrEstab, 0u);
}

// A passive open counts when the handshake completes (Linux: tcp_create_openreq_child);
// CLOSE_WAIT still counts as established (RFC 4022 tcpCurrEstab).
TEST(StackCounters, PassiveOpenAndOrderlyClose) {
  StackHarness h;
  const ListenerId lid = listen_or_fail(h, wildcard());
  const uint32_t iss = h.syn_from(kPeerPort, 100);
  const Counters& c = h.stack.counters();
  EXPECT_EQ(c.TcpPassiveOpens, 0u);
  EXPECT_EQ(c.TcpCurrEstab, 0u);
  h.send({.seq = 101, .ack = iss + 1, .ctl = ACK});
  EXPECT_EQ(c.TcpPassiveOpens, 1u);
  EXPECT_EQ(c.TcpCurrEstab, 1u);
  auto id = h.stack.accept(lid);
  ASSERT_TRUE(id);
  h.send({.seq = 101, .ack = iss + 1, .ctl = FIN | ACK});
  EXPECT_EQ(h.stack.connection(*id)->state(), State::kCloseWait);
  EXPECT_EQ(c.TcpCurrEstab, 1u);
  EXPECT_FALSE(h.stack.close(*id, h.now));
  h.expect({.seq = iss + 1, .ack = 102, .ctl = FIN | ACK});
  EXPECT_EQ(c.TcpCurrEstab, 0u);
  h.send({.seq = 102, .ack = iss + 2, .ctl = ACK});
  EXPECT_EQ(h.stack.connection(*id)->state(), State::kClosed);
  EXPECT_EQ(c.TcpEstabResets, 0u);
  EXPECT_EQ(c.TcpAttemptFails, 0u);
  EXPECT_EQ(c.TcpActiveOpens, 0u);
  h.stack.release(*id);
  EXPECT_EQ(h.stack.connection_count(), 0u);
}

// RFC 9293 §3.10.7.4: a RST in SYN_RCVD from a passive open ends it; RFC 4022 and Linux
// (tcp_check_req) count an attempt that failed, and no passive open.
TEST(StackCounters, EmbryonicResetIsAnAttemptFail) {
  StackHarness h;
  listen_or_fail(h, wildcard());
  h.syn_from(kPeerPort, 100);
  h.send({.seq = 101, .ctl = RST});
  h.expect_nothing();
  const Counters& c = h.stack.counters();
  EXPECT_EQ(c.TcpAttemptFails, 1u);
  EXPECT_EQ(c.TcpPassiveOpens, 0u);
  EXPECT_EQ(c.TcpCurrEstab, 0u);
  EXPECT_EQ(h.stack.connection_count(), 0u);
  h.syn_from(kPeerPort, 100);  // the SYN queue has its place back
}

TEST(StackCounters, ResetInCloseWaitIsAnEstablishedReset) {
  StackHarness h;
  const ListenerId lid = listen_or_fail(h, wildcard());
  const uint32_t iss = h.open_from(kPeerPort, 100);
  auto id = h.stack.accept(lid);
  ASSERT_TRUE(id);
  h.send({.seq = 101, .ack = iss + 1, .ctl = FIN | ACK});
  ASSERT_EQ(h.stack.connection(*id)->state(), State::kCloseWait);
  h.send({.seq = 102, .ctl = RST});
  EXPECT_EQ(h.stack.connection(*id)->state(), State::kClosed);
  EXPECT_EQ(h.stack.counters().TcpEstabResets, 1u);
  EXPECT_EQ(h.stack.counters().TcpCurrEstab, 0u);
}

// RFC 4022 tcpEstabResets: "the number of times that TCP connections have made a direct
// transition to the CLOSED state from either the ESTABLISHED state or the CLOSE-WAIT state"
// — whoever sent the RST (Linux counts it in tcp_set_state(TCP_CLOSE)).
TEST(StackCounters, AbortFromEstablishedIsAnEstablishedReset) {
  StackHarness h;
  const ListenerId lid = listen_or_fail(h, wildcard());
  const uint32_t iss = h.open_from(kPeerPort, 100);
  auto id = h.stack.accept(lid);
  ASSERT_TRUE(id);
  h.stack.abort(*id, h.now);
  h.expect({.seq = iss + 1, .ctl = RST});  // §3.10.5: <SEQ=SND.NXT><CTL=RST>
  h.expect_nothing();
  const Counters& c = h.stack.counters();
  EXPECT_EQ(c.TcpCurrEstab, 0u);
  EXPECT_EQ(c.TcpOutRsts, 1u);
  EXPECT_EQ(c.TcpEstabResets, 1u) << "ESTABLISHED -> CLOSED directly, by our RST";
}

// The engine counts challenge ACKs (RFC 5961) and PAWS rejections (RFC 7323 §5); the
// stack's TcpExtTCPChallengeACK and TcpExtPAWSEstab must show them.
TEST(StackCounters, ChallengeAcksAndPawsRejectionsAreCounted) {
  StackHarness h;
  const ListenerId lid = listen_or_fail(h, wildcard());
  h.send({.seq = 100, .ctl = SYN, .options = syn_options(1460, {}, false, 1000)});
  const Packet synack = h.expect({.ack = 101, .ctl = SYN | ACK});
  const uint32_t iss = synack.seq();
  const uint32_t tsval = synack.tcp->options.timestamps->value;
  h.send({.seq = 101, .ack = iss + 1, .ctl = ACK, .options = ts(1001, tsval)});
  ASSERT_TRUE(h.stack.accept(lid));
  // RFC 5961 §4.2: a SYN in ESTABLISHED draws a challenge ACK.
  h.send({.seq = 101, .ctl = SYN, .options = syn_options(1460, {}, false, 1002)});
  h.expect({.seq = iss + 1, .ack = 101, .ctl = ACK});
  EXPECT_EQ(h.stack.counters().TcpExtTCPChallengeACK, 1u);
  // RFC 7323 §5.3: a TSval older than TS.Recent is an old duplicate: ACK and drop.
  h.send({.seq = 101, .ack = iss + 1, .ctl = ACK | PSH, .data = "old", .options = ts(900, tsval)});
  h.expect({.seq = iss + 1, .ack = 101, .ctl = ACK});
  EXPECT_EQ(h.stack.counters().TcpExtPAWSEstab, 1u);
}

// =========================================================================================
// Timers: next_deadline() and on_timeout() drive retransmissions.
// =========================================================================================

// RFC 6298 §5.5 backoff from an initial RTO of 1 s: SYN-ACKs at 0, 1, 3, 7, 15 and 31 s;
// after synack_retries (5) retransmissions the half-open connection goes at 63 s (Linux:
// tcp_synack_retries).
TEST(StackTimers, SynAckRetransmittedWithBackoffThenDropped) {
  StackHarness h(with_cookies(SynCookieMode::kOff));
  listen_or_fail(h, wildcard(), 1);
  const Instant t0 = h.now;
  const uint32_t iss = h.syn_from(40001, 100);
  EXPECT_EQ(h.stack.next_deadline(), t0 + Duration::seconds(1));
  h.send({.sport = 40002, .seq = 200, .ctl = SYN}, Duration::millis(500));  // SYN queue full
  h.expect_nothing();
  for (int64_t at : {1, 3, 7, 15, 31}) {
    h.advance((t0 + Duration::seconds(at) - Duration::millis(1)) - h.now);
    h.expect_nothing();
    h.advance(Duration::millis(1));
    h.expect({.dport = 40001, .seq = iss, .ack = 101, .ctl = SYN | ACK});
    EXPECT_EQ(h.now, t0 + Duration::seconds(at));
  }
  EXPECT_EQ(h.stack.counters().TcpRetransSegs, 5u);
  EXPECT_EQ(h.stack.counters().TcpOutSegs, 1u);
  h.advance((t0 + Duration::seconds(63) - Duration::millis(1)) - h.now);
  EXPECT_EQ(h.state_of(40001), State::kSynRcvd);
  h.advance(Duration::millis(1));
  h.expect_nothing();
  EXPECT_FALSE(h.state_of(40001));
  EXPECT_EQ(h.stack.connection_count(), 0u);
  EXPECT_EQ(h.stack.next_deadline(), std::nullopt);
  // The SYN queue has room again; the late final ACK meets no connection.
  h.syn_from(40002, 200);
  h.send({.sport = 40001, .seq = 101, .ack = iss + 1, .ctl = ACK});
  h.expect({.dport = 40001, .seq = iss + 1, .ctl = RST});
}

// A retransmitted SYN in SYN_RCVD means our SYN-ACK was lost: it is sent again at once.
TEST(StackTimers, DuplicateSynGetsTheSynAckAgain) {
  StackHarness h;
  listen_or_fail(h, wildcard());
  const uint32_t iss = h.syn_from(kPeerPort, 100);
  h.send({.seq = 100, .ctl = SYN}, Duration::millis(300));
  h.expect({.seq = iss, .ack = 101, .ctl = SYN | ACK});
  h.expect_nothing();
  EXPECT_EQ(h.stack.connection_count(), 1u);
}

// SYN_SENT: SYNs at 0, 1, 3, 7, 15, 31, 63 s, then ETIMEDOUT at 127 s (syn_retries = 6).
TEST(StackTimers, ConnectGivesUpAfterSynRetries) {
  StackHarness h;
  const Instant t0 = h.now;
  const ActiveOpen a = connect_to(h);
  for (int64_t at : {1, 3, 7, 15, 31, 63}) {
    h.advance((t0 + Duration::seconds(at)) - h.now);
    h.expect({.sport = a.port, .dport = 80, .seq = a.iss, .ctl = SYN});
  }
  h.advance((t0 + Duration::seconds(127)) - h.now);
  h.expect_nothing();
  EXPECT_EQ(h.stack.connection(a.id)->state(), State::kClosed);
  EXPECT_EQ(h.stack.connection(a.id)->error(), std::errc::timed_out);
  const Counters& c = h.stack.counters();
  EXPECT_EQ(c.TcpRetransSegs, 6u);
  EXPECT_EQ(c.TcpAttemptFails, 1u);
  EXPECT_EQ(c.TcpExtTCPAbortOnTimeout, 1u);
  EXPECT_EQ(h.stack.next_deadline(), std::nullopt);
}

}  // namespace
}  // namespace synack::stack

namespace synack::stack::testing {
namespace {

constexpr uint16_t ECE = wire::TcpFlags::kEce;
constexpr uint16_t CWR = wire::TcpFlags::kCwr;

// RFC 3168 at the IP layer: with ECN negotiated, the stack sends new data as ECT(0) (and
// pure ACKs as not ECN-capable, §6.1.4), and a CE mark on an arriving segment reaches the
// engine, which echoes ECE.
TEST(StackEcn, DataIsEct0AndACeMarkIsEchoed_Rfc3168_6_1) {
  StackConfig cfg = StackHarness::config();
  cfg.tcp.ecn = true;
  StackHarness h(cfg);
  const ListenerId lid = listen_or_fail(h, wildcard());
  h.send({.seq = 100, .ctl = SYN | ECE | CWR});
  const Packet synack = h.expect({.ack = 101, .ctl = SYN | ACK | ECE});
  EXPECT_EQ(synack.ip.tos & 0x03, wire::ecn::kNotEct);  // §6.1.1: never on a SYN-ACK
  const uint32_t iss = synack.seq();
  h.send({.seq = 101, .ack = iss + 1, .ctl = ACK});
  auto id = h.stack.accept(lid);
  ASSERT_TRUE(id);

  ASSERT_TRUE(h.stack.send(*id, as_bytes("hello"), h.now));
  const Packet data = h.expect({.seq = iss + 1, .ack = 101, .ctl = PSH | ACK, .data = "hello"});
  EXPECT_EQ(data.ip.tos & 0x03, wire::ecn::kEct0);

  h.send({.seq = 101, .ack = iss + 6, .ctl = ACK, .data = "marked", .ecn = wire::ecn::kCe});
  h.advance(Duration::millis(200));
  const Packet ack = h.expect({.seq = iss + 6, .ack = 107, .ctl = ACK | ECE});
  EXPECT_EQ(ack.ip.tos & 0x03, wire::ecn::kNotEct);  // a pure ACK is not ECN-capable
  EXPECT_EQ(h.stack.counters().SynackEcnCeRecv, 1u);
}

// Without ECN configured, a CE mark changes nothing and nothing is ECN-capable.
TEST(StackEcn, OffByDefault_Rfc3168_6_1) {
  StackHarness h;
  const ListenerId lid = listen_or_fail(h, wildcard());
  h.send({.seq = 100, .ctl = SYN | ECE | CWR});
  const uint32_t iss = h.expect({.ack = 101, .ctl = SYN | ACK}).seq();
  h.send({.seq = 101, .ack = iss + 1, .ctl = ACK});
  auto id = h.stack.accept(lid);
  ASSERT_TRUE(id);
  ASSERT_TRUE(h.stack.send(*id, as_bytes("hello"), h.now));
  EXPECT_EQ(h.expect({.seq = iss + 1, .ack = 101, .ctl = PSH | ACK, .data = "hello"}).ip.tos, 0);
  h.send({.seq = 101, .ack = iss + 6, .ctl = ACK, .data = "marked", .ecn = wire::ecn::kCe});
  h.advance(Duration::millis(200));
  h.expect({.seq = iss + 6, .ack = 107, .ctl = ACK});
}

}  // namespace
}  // namespace synack::stack::testing
