// The eleven states of a TCP connection (RFC 9293 §3.3.2), with their classic names.
#pragma once

#include <cstdint>
#include <string_view>

namespace synack::tcp {

enum class State : uint8_t {
  kClosed,
  kListen,
  kSynSent,
  kSynRcvd,
  kEstablished,
  kFinWait1,
  kFinWait2,
  kCloseWait,
  kClosing,
  kLastAck,
  kTimeWait,
};

inline constexpr std::string_view to_string(State s) {
  switch (s) {
    case State::kClosed:
      return "CLOSED";
    case State::kListen:
      return "LISTEN";
    case State::kSynSent:
      return "SYN_SENT";
    case State::kSynRcvd:
      return "SYN_RCVD";
    case State::kEstablished:
      return "ESTABLISHED";
    case State::kFinWait1:
      return "FIN_WAIT_1";
    case State::kFinWait2:
      return "FIN_WAIT_2";
    case State::kCloseWait:
      return "CLOSE_WAIT";
    case State::kClosing:
      return "CLOSING";
    case State::kLastAck:
      return "LAST_ACK";
    case State::kTimeWait:
      return "TIME_WAIT";
  }
  return "?";
}

// RFC 9293 §3.3.2: the states after the handshake has synchronized both sequence spaces.
inline constexpr bool is_synchronized(State s) {
  return s != State::kClosed && s != State::kListen && s != State::kSynSent;
}

}  // namespace synack::tcp
