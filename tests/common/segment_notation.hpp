// RFC 9293 notation for segments in test logs: the control bits by name, as in
// <SEQ=100><ACK=300><CTL=SYN,ACK>. Shared by the engine's and the stack's harnesses.
#pragma once

#include <cstdint>
#include <string>

#include "synack/wire/tcp.hpp"

namespace synack::testing {

inline constexpr uint16_t FIN = wire::TcpFlags::kFin;
inline constexpr uint16_t SYN = wire::TcpFlags::kSyn;
inline constexpr uint16_t RST = wire::TcpFlags::kRst;
inline constexpr uint16_t PSH = wire::TcpFlags::kPsh;
inline constexpr uint16_t ACK = wire::TcpFlags::kAck;
inline constexpr uint16_t URG = wire::TcpFlags::kUrg;

// "SYN,ACK": the set control bits, in RFC order of discussion.
inline std::string ctl_string(uint16_t ctl) {
  std::string s;
  auto add = [&](uint16_t bit, const char* name) {
    if (ctl & bit) {
      s += s.empty() ? name : std::string(",") + name;
    }
  };
  add(SYN, "SYN");
  add(FIN, "FIN");
  add(RST, "RST");
  add(PSH, "PSH");
  add(ACK, "ACK");
  add(URG, "URG");
  return s;
}

}  // namespace synack::testing
