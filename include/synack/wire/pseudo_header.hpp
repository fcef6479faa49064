// The IP pseudo-header that TCP, UDP and (for IPv6) ICMP checksums cover.
//
// A PseudoHeader is the partial sum of the addresses and protocol; the transport length is
// added when a checksum is computed, so one type serves IPv4 (RFC 9293 §3.1: 16-bit length)
// and IPv6 later (RFC 8200 §8.1: 32-bit length) without a rewrite of the transports.
#pragma once

#include <cstdint>

#include "synack/wire/checksum.hpp"
#include "synack/wire/ipv4_address.hpp"

namespace synack::wire {

enum class ChecksumPolicy : uint8_t {
  kVerify,  // reject bytes whose checksum does not verify
  kIgnore,  // accept them: captures from loopback carry unfinished (offloaded) checksums
};

class PseudoHeader {
 public:
  static PseudoHeader ipv4(Ipv4Address src, Ipv4Address dst, uint8_t protocol) {
    PseudoHeader p;
    p.acc_.add_u32(src.value());
    p.acc_.add_u32(dst.value());
    p.acc_.add_u16(protocol);
    return p;
  }

  // An accumulator holding the pseudo-header for a transport of `length` bytes; add the
  // transport bytes to it.
  ChecksumAccumulator start(uint32_t length) const {
    ChecksumAccumulator acc = acc_;
    acc.add_u32(length);
    return acc;
  }

 private:
  ChecksumAccumulator acc_;
};

}  // namespace synack::wire
