#include "synack/wire/parse_error.hpp"

#include <string>

namespace synack::wire {

std::string_view to_string(ParseError e) {
  switch (e) {
    case ParseError::kIpv4Truncated:
      return "ipv4-truncated";
    case ParseError::kIpv4BadVersion:
      return "ipv4-bad-version";
    case ParseError::kIpv4BadHeaderLength:
      return "ipv4-bad-header-length";
    case ParseError::kIpv4BadTotalLength:
      return "ipv4-bad-total-length";
    case ParseError::kIpv4TotalLengthOverrun:
      return "ipv4-total-length-overrun";
    case ParseError::kIpv4BadChecksum:
      return "ipv4-bad-checksum";
    case ParseError::kIpv4BadOption:
      return "ipv4-bad-option";
    case ParseError::kTcpTruncated:
      return "tcp-truncated";
    case ParseError::kTcpBadDataOffset:
      return "tcp-bad-data-offset";
    case ParseError::kTcpBadChecksum:
      return "tcp-bad-checksum";
    case ParseError::kTcpOptionBadLength:
      return "tcp-option-bad-length";
    case ParseError::kTcpOptionOverrun:
      return "tcp-option-overrun";
    case ParseError::kTcpOptionWrongLength:
      return "tcp-option-wrong-length";
    case ParseError::kTcpOptionBadSackLength:
      return "tcp-option-bad-sack-length";
    case ParseError::kIcmpTruncated:
      return "icmp-truncated";
    case ParseError::kIcmpBadChecksum:
      return "icmp-bad-checksum";
    case ParseError::kIcmpBadQuotedPacket:
      return "icmp-bad-quoted-packet";
    case ParseError::kIcmpUnsupportedType:
      return "icmp-unsupported-type";
    case ParseError::kUdpTruncated:
      return "udp-truncated";
  }
  return "unknown-parse-error";
}

namespace {

class ParseErrorCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "synack.wire"; }
  std::string message(int value) const override {
    return std::string(to_string(static_cast<ParseError>(value)));
  }
};

}  // namespace

const std::error_category& parse_error_category() {
  static const ParseErrorCategory category;
  return category;
}

}  // namespace synack::wire
