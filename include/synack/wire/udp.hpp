// UDP (RFC 768), parsed for tracing and for the datagrams ICMP errors quote. synack has no
// UDP sockets.
#pragma once

#include <cstdint>

#include "synack/expected.hpp"
#include "synack/wire/bytes.hpp"
#include "synack/wire/parse_error.hpp"

namespace synack::wire {

inline constexpr size_t kUdpHeaderLen = 8;

// A UDP datagram whose length field is at least 8 and within the bytes given. The checksum is
// not verified.
class UdpView {
 public:
  static expected<UdpView, ParseError> parse(Bytes datagram);

  uint16_t src_port() const { return load_be16(bytes_.data()); }
  uint16_t dst_port() const { return load_be16(bytes_.data() + 2); }
  uint16_t length() const { return load_be16(bytes_.data() + 4); }
  uint16_t checksum() const { return load_be16(bytes_.data() + 6); }
  // The payload as the length field delimits it.
  Bytes payload() const { return bytes_.subspan(kUdpHeaderLen, length() - kUdpHeaderLen); }

 private:
  explicit UdpView(Bytes bytes) : bytes_(bytes) {}
  Bytes bytes_;
};

}  // namespace synack::wire
