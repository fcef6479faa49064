#include "synack/wire/ipv4.hpp"

#include <cassert>

namespace synack::wire {
namespace {

// RFC 791 §3.1 options: EOL and NOP are single bytes; every other option is
// (type, length >= 2, data) and must stay inside the header.
bool options_well_formed(Bytes options) {
  size_t i = 0;
  while (i < options.size()) {
    const uint8_t type = load_u8(&options[i]);
    if (type == 0) return true;  // end of option list: the rest is padding
    if (type == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= options.size()) return false;
    const uint8_t len = load_u8(&options[i + 1]);
    if (len < 2 || len > options.size() - i) return false;
    i += len;
  }
  return true;
}

}  // namespace

expected<Ipv4View, ParseError> Ipv4View::parse(Bytes packet, ChecksumPolicy policy) {
  if (packet.size() < kIpv4MinHeaderLen) return unexpected(ParseError::kIpv4Truncated);
  const uint8_t version_ihl = load_u8(packet.data());
  if ((version_ihl >> 4) != 4) return unexpected(ParseError::kIpv4BadVersion);
  const size_t header_len = size_t{version_ihl & 0x0fu} * 4;
  if (header_len < kIpv4MinHeaderLen || header_len > packet.size()) {
    return unexpected(ParseError::kIpv4BadHeaderLength);
  }
  const uint16_t total_length = load_be16(packet.data() + 2);
  if (total_length < header_len) return unexpected(ParseError::kIpv4BadTotalLength);
  if (total_length > packet.size()) return unexpected(ParseError::kIpv4TotalLengthOverrun);
  const Bytes header = packet.first(header_len);
  if (policy == ChecksumPolicy::kVerify) {
    ChecksumAccumulator acc;
    acc.add(header);
    if (!acc.verifies()) return unexpected(ParseError::kIpv4BadChecksum);
  }
  if (!options_well_formed(header.subspan(kIpv4MinHeaderLen))) {
    return unexpected(ParseError::kIpv4BadOption);
  }
  return Ipv4View(packet.first(total_length));
}

Ipv4Repr Ipv4Repr::parse(const Ipv4View& view) {
  return Ipv4Repr{
      .src = view.src(),
      .dst = view.dst(),
      .protocol = view.protocol(),
      .ttl = view.ttl(),
      .tos = view.tos(),
      .identification = view.identification(),
      .dont_fragment = view.dont_fragment(),
      .more_fragments = view.more_fragments(),
      .fragment_offset = view.fragment_offset(),
      .payload_len = static_cast<uint16_t>(view.payload().size()),
  };
}

void Ipv4Repr::emit(MutableBytes out) const {
  assert(out.size() >= header_len());
  assert(total_len() <= 0xffff && fragment_offset % 8 == 0);
  std::byte* p = out.data();
  store_u8(p, 0x45);  // version 4, IHL 5: synack sends no IP options
  store_u8(p + 1, tos);
  store_be16(p + 2, static_cast<uint16_t>(total_len()));
  store_be16(p + 4, identification);
  const uint16_t flags_offset =
      static_cast<uint16_t>((dont_fragment ? 0x4000 : 0) | (more_fragments ? 0x2000 : 0) |
                            ((fragment_offset / 8) & 0x1fff));
  store_be16(p + 6, flags_offset);
  store_u8(p + 8, ttl);
  store_u8(p + 9, protocol);
  store_be16(p + 10, 0);
  store_be32(p + 12, src.value());
  store_be32(p + 16, dst.value());
  store_be16(p + 10, internet_checksum(out.first(header_len())));
}

}  // namespace synack::wire
