// Every way untrusted bytes can fail to parse, one enum value each, with a readable name.
// The stack counts drops per value, so the names are stable (they appear in counters).
#pragma once

#include <cstdint>
#include <string_view>
#include <system_error>

namespace synack::wire {

// Values start at 1: zero is "no error" for std::error_code.
enum class ParseError : uint8_t {
  // IPv4 (RFC 791)
  kIpv4Truncated = 1,       // fewer than 20 bytes
  kIpv4BadVersion,          // version field is not 4
  kIpv4BadHeaderLength,     // IHL < 5, or the header is longer than the buffer
  kIpv4BadTotalLength,      // total length smaller than the header
  kIpv4TotalLengthOverrun,  // total length larger than the bytes received
  kIpv4BadChecksum,         // header checksum does not verify
  kIpv4BadOption,           // malformed option list (zero/short length, overrun)
  // TCP (RFC 9293 §3.1)
  kTcpTruncated,            // fewer than 20 bytes
  kTcpBadDataOffset,        // data offset < 5, or beyond the segment
  kTcpBadChecksum,          // checksum over pseudo-header + segment does not verify
  kTcpOptionBadLength,      // option length byte 0 or 1
  kTcpOptionOverrun,        // option runs past the header, or its length byte is missing
  kTcpOptionWrongLength,    // MSS/window scale/SACK-permitted/timestamps with a wrong length
  kTcpOptionBadSackLength,  // SACK option not 2 + 8n bytes with n >= 1
  // ICMPv4 (RFC 792)
  kIcmpTruncated,        // fewer than 8 bytes
  kIcmpBadChecksum,      // checksum does not verify
  kIcmpBadQuotedPacket,  // an error message that does not quote an IPv4 header + 8 bytes
  kIcmpUnsupportedType,  // a type synack does not interpret
  // UDP (RFC 768), parsed only for tracing and ICMP quotes
  kUdpTruncated,  // fewer than 8 bytes, or a length field beyond the datagram
};

inline constexpr size_t kParseErrorCount = static_cast<size_t>(ParseError::kUdpTruncated);

// 0 .. kParseErrorCount - 1, for tables of counters indexed by error.
constexpr size_t index_of(ParseError e) {
  return static_cast<size_t>(e) - 1;
}

// "ipv4-bad-checksum", "tcp-option-overrun", ...
std::string_view to_string(ParseError e);

const std::error_category& parse_error_category();
inline std::error_code make_error_code(ParseError e) {
  return {static_cast<int>(e), parse_error_category()};
}

}  // namespace synack::wire

template <>
struct std::is_error_code_enum<synack::wire::ParseError> : std::true_type {};
