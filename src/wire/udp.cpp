#include "synack/wire/udp.hpp"

namespace synack::wire {

expected<UdpView, ParseError> UdpView::parse(Bytes datagram) {
  if (datagram.size() < kUdpHeaderLen) return unexpected(ParseError::kUdpTruncated);
  const uint16_t length = load_be16(datagram.data() + 4);
  if (length < kUdpHeaderLen || length > datagram.size()) {
    return unexpected(ParseError::kUdpTruncated);
  }
  return UdpView(datagram);
}

}  // namespace synack::wire
