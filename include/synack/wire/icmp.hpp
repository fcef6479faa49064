// ICMPv4 (RFC 792): echo request/reply and destination unreachable.
#pragma once

#include <cstdint>
#include <variant>

#include "synack/expected.hpp"
#include "synack/wire/bytes.hpp"
#include "synack/wire/ipv4_address.hpp"
#include "synack/wire/parse_error.hpp"
#include "synack/wire/pseudo_header.hpp"

namespace synack::wire {

namespace icmp_type {
inline constexpr uint8_t kEchoReply = 0;
inline constexpr uint8_t kDestUnreachable = 3;
inline constexpr uint8_t kEchoRequest = 8;
inline constexpr uint8_t kTimeExceeded = 11;
}  // namespace icmp_type

// Destination unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1).
namespace icmp_unreach {
inline constexpr uint8_t kNet = 0;
inline constexpr uint8_t kHost = 1;
inline constexpr uint8_t kProtocol = 2;
inline constexpr uint8_t kPort = 3;
inline constexpr uint8_t kFragNeeded = 4;  // carries the next-hop MTU (RFC 1191)
inline constexpr uint8_t kSourceRouteFailed = 5;
inline constexpr uint8_t kAdminProhibited = 13;
}  // namespace icmp_unreach

inline constexpr size_t kIcmpHeaderLen = 8;

// A validated ICMPv4 message of any type: at least 8 bytes and (by policy) a checksum that
// verifies over the whole message.
class IcmpView {
 public:
  static expected<IcmpView, ParseError> parse(Bytes message,
                                              ChecksumPolicy policy = ChecksumPolicy::kVerify);

  uint8_t type() const { return load_u8(bytes_.data()); }
  uint8_t code() const { return load_u8(bytes_.data() + 1); }
  uint16_t checksum() const { return load_be16(bytes_.data() + 2); }
  // The 4 bytes after the checksum (identifier + sequence for echo, MTU for code 4, ...).
  uint32_t rest_of_header() const { return load_be32(bytes_.data() + 4); }
  Bytes payload() const { return bytes_.subspan(kIcmpHeaderLen); }
  Bytes bytes() const { return bytes_; }

 private:
  explicit IcmpView(Bytes bytes) : bytes_(bytes) {}
  Bytes bytes_;
};

// The head of the datagram an ICMP error quotes: its IPv4 header and first 8 transport bytes
// (enough for TCP/UDP ports and the TCP sequence number, RFC 1122 §3.2.2).
struct QuotedDatagram {
  Ipv4Address src;
  Ipv4Address dst;
  uint8_t protocol = 0;
  uint16_t total_length = 0;  // as the quoted header claims (more than was quoted)
  Bytes transport;            // at least 8 bytes
  uint16_t src_port() const { return load_be16(transport.data()); }
  uint16_t dst_port() const { return load_be16(transport.data() + 2); }
  uint32_t tcp_seq() const { return load_be32(transport.data() + 4); }

  static expected<QuotedDatagram, ParseError> parse(Bytes quoted);
};

struct IcmpEcho {
  uint16_t identifier = 0;
  uint16_t sequence = 0;
  Bytes data;
  bool operator==(const IcmpEcho& o) const;
};

struct IcmpEchoRequest : IcmpEcho {};
struct IcmpEchoReply : IcmpEcho {};

struct IcmpDestUnreachable {
  uint8_t code = icmp_unreach::kPort;
  uint16_t next_hop_mtu = 0;  // only for kFragNeeded
  Bytes quoted;               // the offending datagram's IPv4 header and at least 8 bytes
  bool operator==(const IcmpDestUnreachable& o) const;
};

struct IcmpRepr {
  std::variant<IcmpEchoRequest, IcmpEchoReply, IcmpDestUnreachable> message;

  // Echo request/reply and destination unreachable; other types are kIcmpUnsupportedType.
  static expected<IcmpRepr, ParseError> parse(const IcmpView& view);

  size_t size() const;
  // Writes size() bytes, checksum included.
  void emit(MutableBytes out) const;

  bool operator==(const IcmpRepr&) const = default;
};

}  // namespace synack::wire
