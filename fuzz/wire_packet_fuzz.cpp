// Fuzzes the wire parsers with arbitrary bytes as an IPv4 datagram (and as a bare TCP
// segment), asserting the round-trip invariant: whatever parses re-emits to bytes that parse
// back to the same repr, with checksums that verify; and as a captured frame whose IPv4
// datagram trace::ipv4_in_frame looks for.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "fuzz_util.hpp"
#include "synack/trace/pcap.hpp"
#include "synack/trace/tcpdump.hpp"
#include "synack/wire/icmp.hpp"
#include "synack/wire/ipv4.hpp"
#include "synack/wire/tcp.hpp"

namespace {

using namespace synack::wire;

void tcp_round_trip(Bytes segment, const PseudoHeader& pseudo) {
  auto view = TcpView::parse(segment);
  if (!view) return;
  // Touch every accessor: none may read outside the segment.
  (void)view->src_port(), (void)view->dst_port(), (void)view->seq(), (void)view->ack_number();
  (void)view->flags(), (void)view->window(), (void)view->checksum(), (void)view->urgent_pointer();
  FUZZ_CHECK(view->header_len() + view->payload().size() == segment.size());
  TcpOptionWalker walker(view->options());
  while (walker.next()) {
  }

  const TcpRepr repr = TcpRepr::parse(*view);
  FUZZ_CHECK(repr.fits());
  FUZZ_CHECK(repr.wire_flags() == view->flags());
  std::vector<std::byte> out(repr.size());
  repr.emit(out, pseudo);
  auto again = TcpView::parse(out, pseudo);  // checksum must verify
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(TcpRepr::parse(*again) == repr);
}

void icmp_round_trip(Bytes message) {
  auto view = IcmpView::parse(message, ChecksumPolicy::kIgnore);
  if (!view) return;
  auto repr = IcmpRepr::parse(*view);
  if (!repr) return;
  std::vector<std::byte> out(repr->size());
  repr->emit(out);
  auto again = IcmpView::parse(out);
  FUZZ_CHECK(again.has_value());
  auto repr2 = IcmpRepr::parse(*again);
  FUZZ_CHECK(repr2.has_value() && *repr2 == *repr);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Bytes bytes = std::as_bytes(std::span(data, size));

  // The input as a bare TCP segment between two fixed addresses.
  tcp_round_trip(bytes,
                 PseudoHeader::ipv4(Ipv4Address::from_octets(10, 0, 0, 1),
                                    Ipv4Address::from_octets(10, 0, 0, 2), ip_protocol::kTcp));

  // The input as a captured frame of each link type `synack trace --plot` reads: what it
  // finds lies inside the frame.
  for (int dlt : {synack::trace::link_type::kEthernet, synack::trace::link_type::kLinuxSll,
                  synack::trace::link_type::kLinuxSll2, synack::trace::link_type::kNull,
                  synack::trace::link_type::kRaw}) {
    if (auto inner = synack::trace::ipv4_in_frame(dlt, bytes)) {
      FUZZ_CHECK(inner->data() >= bytes.data() &&
                 inner->data() + inner->size() == bytes.data() + bytes.size());
    }
  }

  auto ip = Ipv4View::parse(bytes, ChecksumPolicy::kIgnore);
  if (!ip) return 0;
  FUZZ_CHECK(ip->bytes().size() == ip->total_length());
  FUZZ_CHECK(ip->header_len() + ip->payload().size() == ip->total_length());
  (void)ip->options(), (void)ip->is_fragment();

  const Ipv4Repr repr = Ipv4Repr::parse(*ip);
  std::vector<std::byte> out(repr.total_len());
  repr.emit(out);
  if (!ip->payload().empty()) {
    std::memcpy(out.data() + repr.header_len(), ip->payload().data(), ip->payload().size());
  }
  auto again = Ipv4View::parse(out);  // header checksum must verify
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(Ipv4Repr::parse(*again) == repr);

  if (ip->is_fragment()) return 0;
  if (ip->protocol() == ip_protocol::kTcp) tcp_round_trip(ip->payload(), ip->pseudo_header());
  if (ip->protocol() == ip_protocol::kIcmp) icmp_round_trip(ip->payload());
  return 0;
}
