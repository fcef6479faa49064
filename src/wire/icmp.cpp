#include "synack/wire/icmp.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "synack/wire/ipv4.hpp"

namespace synack::wire {

expected<IcmpView, ParseError> IcmpView::parse(Bytes message, ChecksumPolicy policy) {
  if (message.size() < kIcmpHeaderLen) return unexpected(ParseError::kIcmpTruncated);
  // RFC 792: the checksum covers the whole ICMP message.
  if (policy == ChecksumPolicy::kVerify) {
    ChecksumAccumulator acc;
    acc.add(message);
    if (!acc.verifies()) return unexpected(ParseError::kIcmpBadChecksum);
  }
  return IcmpView(message);
}

expected<QuotedDatagram, ParseError> QuotedDatagram::parse(Bytes quoted) {
  // RFC 792: "Internet Header + 64 bits of Original Data Datagram". The quoted header's
  // total length describes the original datagram, not what was quoted, so Ipv4View (which
  // checks it against the buffer) does not apply.
  if (quoted.size() < kIpv4MinHeaderLen) return unexpected(ParseError::kIcmpBadQuotedPacket);
  const uint8_t version_ihl = load_u8(quoted.data());
  const size_t header_len = size_t{version_ihl & 0x0fu} * 4;
  if ((version_ihl >> 4) != 4 || header_len < kIpv4MinHeaderLen || quoted.size() < header_len + 8) {
    return unexpected(ParseError::kIcmpBadQuotedPacket);
  }
  return QuotedDatagram{
      .src = Ipv4Address(load_be32(quoted.data() + 12)),
      .dst = Ipv4Address(load_be32(quoted.data() + 16)),
      .protocol = load_u8(quoted.data() + 9),
      .total_length = load_be16(quoted.data() + 2),
      .transport = quoted.subspan(header_len),
  };
}

bool IcmpEcho::operator==(const IcmpEcho& o) const {
  return identifier == o.identifier && sequence == o.sequence && std::ranges::equal(data, o.data);
}

bool IcmpDestUnreachable::operator==(const IcmpDestUnreachable& o) const {
  return code == o.code && next_hop_mtu == o.next_hop_mtu && std::ranges::equal(quoted, o.quoted);
}

expected<IcmpRepr, ParseError> IcmpRepr::parse(const IcmpView& view) {
  const uint32_t rest = view.rest_of_header();
  const IcmpEcho echo{static_cast<uint16_t>(rest >> 16), static_cast<uint16_t>(rest),
                      view.payload()};
  switch (view.type()) {
    case icmp_type::kEchoRequest:
      if (view.code() != 0) break;
      return IcmpRepr{IcmpEchoRequest{echo}};
    case icmp_type::kEchoReply:
      if (view.code() != 0) break;
      return IcmpRepr{IcmpEchoReply{echo}};
    case icmp_type::kDestUnreachable: {
      if (auto quoted = QuotedDatagram::parse(view.payload()); !quoted) {
        return unexpected(quoted.error());
      }
      return IcmpRepr{IcmpDestUnreachable{
          .code = view.code(),
          .next_hop_mtu =
              view.code() == icmp_unreach::kFragNeeded ? static_cast<uint16_t>(rest) : uint16_t{0},
          .quoted = view.payload(),
      }};
    }
    default:
      break;
  }
  return unexpected(ParseError::kIcmpUnsupportedType);
}

size_t IcmpRepr::size() const {
  return std::visit(
      [](const auto& m) -> size_t {
        if constexpr (std::is_same_v<std::decay_t<decltype(m)>, IcmpDestUnreachable>) {
          return kIcmpHeaderLen + m.quoted.size();
        } else {
          return kIcmpHeaderLen + m.data.size();
        }
      },
      message);
}

void IcmpRepr::emit(MutableBytes out) const {
  assert(out.size() >= size());
  std::byte* p = out.data();
  Bytes body;
  std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, IcmpDestUnreachable>) {
          store_u8(p, icmp_type::kDestUnreachable);
          store_u8(p + 1, m.code);
          store_be16(p + 4, 0);  // unused (RFC 792); RFC 1191 puts the MTU in the low half
          store_be16(p + 6, m.next_hop_mtu);
          body = m.quoted;
        } else {
          store_u8(p, std::is_same_v<M, IcmpEchoRequest> ? icmp_type::kEchoRequest
                                                         : icmp_type::kEchoReply);
          store_u8(p + 1, 0);
          store_be16(p + 4, m.identifier);
          store_be16(p + 6, m.sequence);
          body = m.data;
        }
      },
      message);
  store_be16(p + 2, 0);
  if (!body.empty()) std::memcpy(p + kIcmpHeaderLen, body.data(), body.size());
  store_be16(p + 2, internet_checksum(out.first(size())));
}

}  // namespace synack::wire
