// Mermaid sequence diagrams of TCP exchanges, as TCP tutorials draw them.
#pragma once

#include <cstdint>
#include <string>

#include "synack/wire/tcp.hpp"

namespace synack::trace {

// The message on a segment's arrow: its flags (SYN, FIN, RST, PSH, URG, ACK joined by '-',
// "none" without any), seq and ack relative to each side's ISN, and len when it carries
// data — e.g. "SYN-ACK seq=0 ack=1" or "PSH-ACK seq=1 ack=1 len=100".
std::string mermaid_segment_label(const wire::TcpView& seg, uint32_t sender_isn,
                                  uint32_t receiver_isn);

}  // namespace synack::trace
