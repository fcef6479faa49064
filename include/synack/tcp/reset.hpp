// The reset a TCP sends for a segment that reaches no connection (RFC 9293 §3.10.7.1).
#pragma once

#include <optional>

#include "synack/wire/tcp.hpp"

namespace synack::tcp {

// "If the ACK bit is off, sequence number zero is used, <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
// <CTL=RST,ACK>. If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>." Never a reset for a reset.
// Ports are swapped; the caller swaps the addresses.
inline std::optional<wire::TcpRepr> reset_for(const wire::TcpRepr& seg) {
  if (seg.flags.rst()) return std::nullopt;
  wire::TcpRepr rst;
  rst.src_port = seg.dst_port;
  rst.dst_port = seg.src_port;
  rst.flags = wire::TcpFlags(wire::TcpFlags::kRst);
  if (seg.ack) {
    rst.seq = *seg.ack;
  } else {
    rst.seq = wire::SeqNum(0);
    rst.ack = seg.seq + seg.segment_len();
  }
  return rst;
}

}  // namespace synack::tcp
