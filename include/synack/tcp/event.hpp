// What a connection tells the layer above: state changes (old, new and why) and readiness.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>

#include "synack/tcp/state.hpp"

namespace synack::tcp {

enum class EventKind : uint8_t {
  kStateChanged,  // from -> to, with a cause
  kConnected,     // the handshake completed (ESTABLISHED)
  kReadable,      // new in-order data can be read
  kWritable,      // send buffer space was freed
  kPeerClosed,    // the peer's FIN arrived in order: reads return end of stream after the data
  kClosed,        // the connection reached CLOSED; error says why if it failed
  kError,         // a failure with a POSIX meaning (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ...)
  kRecovery,      // the sender entered or left loss recovery: status().recovery says where
                  // it is now, cause why ("fast recovery", "retransmission timeout", ...)
};

std::string_view to_string(EventKind k);

// The cause of the TIME_WAIT -> CLOSED change when 2*MSL has run out (counted by the stack).
inline constexpr std::string_view kTimeWaitExpired = "2MSL timeout in TIME_WAIT";

struct Event {
  EventKind kind = EventKind::kStateChanged;
  State from = State::kClosed;
  State to = State::kClosed;
  std::string_view cause;  // a static string, e.g. "SYN-ACK received"
  std::error_code error;
};

// A bounded FIFO of events, held inline. Readable and writable coalesce with an identical
// event not yet taken, so a slow consumer cannot make it overflow through them; if it fills
// anyway the oldest event is dropped and counted.
class EventQueue {
 public:
  void push(const Event& e);
  std::optional<Event> pop();
  bool empty() const { return size_ == 0; }
  uint32_t dropped() const { return dropped_; }

 private:
  // The stack takes a connection's events after every packet and call, so a few suffice
  // (a segment changes state at most twice and adds readable/writable/connected).
  static constexpr size_t kCapacity = 8;
  std::array<Event, kCapacity> ring_{};
  size_t head_ = 0;
  size_t size_ = 0;
  uint32_t dropped_ = 0;
};

}  // namespace synack::tcp
