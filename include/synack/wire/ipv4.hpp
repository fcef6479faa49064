// IPv4 (RFC 791): a checked view over received bytes and a plain value to emit.
#pragma once

#include <cstdint>

#include "synack/expected.hpp"
#include "synack/wire/bytes.hpp"
#include "synack/wire/ipv4_address.hpp"
#include "synack/wire/parse_error.hpp"
#include "synack/wire/pseudo_header.hpp"

namespace synack::wire {

namespace ip_protocol {
inline constexpr uint8_t kIcmp = 1;
inline constexpr uint8_t kTcp = 6;
inline constexpr uint8_t kUdp = 17;
}  // namespace ip_protocol

inline constexpr size_t kIpv4MinHeaderLen = 20;
inline constexpr size_t kIpv4MaxHeaderLen = 60;

// A validated IPv4 datagram. parse() checks the version, IHL, options, total length against
// the buffer and (by policy) the header checksum; after that no accessor can fail. Bytes
// past the total length (link-layer padding) are not part of the view.
class Ipv4View {
 public:
  static expected<Ipv4View, ParseError> parse(Bytes packet,
                                              ChecksumPolicy policy = ChecksumPolicy::kVerify);

  uint8_t version() const { return load_u8(p()) >> 4; }
  size_t header_len() const { return size_t{load_u8(p()) & 0x0fu} * 4; }
  uint8_t tos() const { return load_u8(p() + 1); }  // DSCP (6 bits) + ECN (2 bits)
  uint8_t dscp() const { return tos() >> 2; }
  uint8_t ecn() const { return tos() & 0x03; }
  uint16_t total_length() const { return load_be16(p() + 2); }
  uint16_t identification() const { return load_be16(p() + 4); }
  bool reserved_flag() const { return (load_u8(p() + 6) & 0x80) != 0; }
  bool dont_fragment() const { return (load_u8(p() + 6) & 0x40) != 0; }
  bool more_fragments() const { return (load_u8(p() + 6) & 0x20) != 0; }
  // Offset of this fragment's data in the original datagram, in bytes.
  uint16_t fragment_offset() const {
    return static_cast<uint16_t>((load_be16(p() + 6) & 0x1fff) * 8);
  }
  // A fragment of a larger datagram (RFC 791 §3.2). synack does not reassemble.
  bool is_fragment() const { return more_fragments() || fragment_offset() != 0; }
  uint8_t ttl() const { return load_u8(p() + 8); }
  uint8_t protocol() const { return load_u8(p() + 9); }
  uint16_t header_checksum() const { return load_be16(p() + 10); }
  Ipv4Address src() const { return Ipv4Address(load_be32(p() + 12)); }
  Ipv4Address dst() const { return Ipv4Address(load_be32(p() + 16)); }

  Bytes options() const {
    return bytes_.subspan(kIpv4MinHeaderLen, header_len() - kIpv4MinHeaderLen);
  }
  Bytes payload() const { return bytes_.subspan(header_len()); }
  // Header and payload: exactly total_length() bytes.
  Bytes bytes() const { return bytes_; }

  // The pseudo-header for checksumming this datagram's transport payload.
  PseudoHeader pseudo_header() const { return PseudoHeader::ipv4(src(), dst(), protocol()); }

 private:
  explicit Ipv4View(Bytes bytes) : bytes_(bytes) {}
  const std::byte* p() const { return bytes_.data(); }

  Bytes bytes_;
};

// The ECN field, the low two bits of the TOS octet (RFC 3168 §5).
namespace ecn {
inline constexpr uint8_t kNotEct = 0b00;
inline constexpr uint8_t kEct1 = 0b01;
inline constexpr uint8_t kEct0 = 0b10;
inline constexpr uint8_t kCe = 0b11;
}  // namespace ecn

// The fields synack sets when it sends a datagram. Options are never emitted (received
// options are validated and skipped).
struct Ipv4Repr {
  Ipv4Address src;
  Ipv4Address dst;
  uint8_t protocol = ip_protocol::kTcp;
  uint8_t ttl = 64;
  uint8_t tos = 0;
  uint16_t identification = 0;
  bool dont_fragment = true;
  bool more_fragments = false;
  uint16_t fragment_offset = 0;  // bytes; a multiple of 8
  uint16_t payload_len = 0;

  static Ipv4Repr parse(const Ipv4View& view);

  static constexpr size_t header_len() { return kIpv4MinHeaderLen; }
  size_t total_len() const { return header_len() + payload_len; }
  PseudoHeader pseudo_header() const { return PseudoHeader::ipv4(src, dst, protocol); }

  // Writes the 20-byte header, checksum included, to out[0, 20). out.size() >= 20.
  void emit(MutableBytes out) const;

  bool operator==(const Ipv4Repr&) const = default;
};

}  // namespace synack::wire
