// A connection's timers as data: one optional deadline per kind of timer.
//
// The connection never owns a running timer. It records deadlines here, reports
// next_deadline() to the stack's timer wheel, and when called back with `now` asks which
// timers are due (expired / take_expired) and handles each. Arming, moving and cancelling
// are plain assignments — no callbacks, no allocation, trivially copyable.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "synack/time.hpp"

namespace synack::tcp {

enum class Timer : uint8_t {
  kRetransmit,   // RFC 6298 §5, RFC 9293 §3.8.1
  kDelayedAck,   // RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2
  kPersist,      // zero-window probing, RFC 9293 §3.8.6.1
  kKeepalive,    // RFC 9293 §3.8.4, RFC 1122 §4.2.3.6
  kTimeWait,     // 2*MSL in TIME-WAIT, RFC 9293 §3.10.8
  kUserTimeout,  // RFC 9293 §3.10.8 "USER TIMEOUT", RFC 5482
  kCount,
};

inline constexpr size_t kTimerCount = static_cast<size_t>(Timer::kCount);

constexpr std::string_view to_string(Timer timer) {
  switch (timer) {
    case Timer::kRetransmit:
      return "retransmit";
    case Timer::kDelayedAck:
      return "delayed-ack";
    case Timer::kPersist:
      return "persist";
    case Timer::kKeepalive:
      return "keepalive";
    case Timer::kTimeWait:
      return "time-wait";
    case Timer::kUserTimeout:
      return "user-timeout";
    case Timer::kCount:
      break;
  }
  return "unknown";
}

// The order in which timers due at the same instant are handled.
//  - user-timeout first: RFC 9293 §3.10.8 aborts the connection ("flush all queues, signal
//    the user ... enter the CLOSED state"), so nothing else due with it should still send.
//  - time-wait next: its expiry deletes the TCB (§3.10.8); in TIME-WAIT no data timer runs.
//  - retransmit, persist, keepalive: each sends a segment, and every segment carries the
//    current acknowledgment (RFC 9293 §3.1, Acknowledgment Number: "Once a connection is
//    established, this is always sent").
//  - delayed-ack last: by then any segment sent above has carried the ACK it was waiting
//    to send, so the handler may find nothing left to do.
inline constexpr std::array<Timer, kTimerCount> kTimerPriority = {
    Timer::kUserTimeout, Timer::kTimeWait,  Timer::kRetransmit,
    Timer::kPersist,     Timer::kKeepalive, Timer::kDelayedAck,
};

// The timers due at some instant, in kTimerPriority order. Fixed capacity: no allocation.
class ExpiredTimers {
 public:
  using const_iterator = const Timer*;

  constexpr const_iterator begin() const { return timers_.data(); }
  constexpr const_iterator end() const { return timers_.data() + size_; }
  constexpr size_t size() const { return size_; }
  constexpr bool empty() const { return size_ == 0; }
  constexpr bool contains(Timer timer) const {
    for (Timer t : *this) {
      if (t == timer) return true;
    }
    return false;
  }

  constexpr void push_back(Timer timer) { timers_[size_++] = timer; }

 private:
  std::array<Timer, kTimerCount> timers_{};
  size_t size_ = 0;
};

class TimerTable {
 public:
  // Arms `timer` for `at`, replacing any earlier deadline.
  constexpr void set(Timer timer, Instant at) { slots_[index(timer)] = at; }
  constexpr void cancel(Timer timer) { slots_[index(timer)] = std::nullopt; }
  constexpr void cancel_all() { slots_.fill(std::nullopt); }

  constexpr bool is_armed(Timer timer) const { return slots_[index(timer)].has_value(); }
  constexpr std::optional<Instant> deadline(Timer timer) const { return slots_[index(timer)]; }

  // The earliest armed deadline: what the connection reports to the stack's timer wheel.
  constexpr std::optional<Instant> next_deadline() const {
    std::optional<Instant> earliest;
    for (const auto& slot : slots_) {
      if (slot && (!earliest || *slot < *earliest)) earliest = slot;
    }
    return earliest;
  }

  // Timers whose deadline is at or before `now`, in kTimerPriority order. They stay armed:
  // the caller cancels or re-arms each as it handles it.
  constexpr ExpiredTimers expired(Instant now) const {
    ExpiredTimers due;
    for (Timer timer : kTimerPriority) {
      if (is_due(timer, now)) due.push_back(timer);
    }
    return due;
  }

  // Like expired(), but disarms what it returns, so a handler that does not re-arm its
  // timer leaves it off — a due deadline left behind would make next_deadline() lie in the
  // past and the event loop spin.
  constexpr ExpiredTimers take_expired(Instant now) {
    const ExpiredTimers due = expired(now);
    for (Timer timer : due)
      cancel(timer);
    return due;
  }

 private:
  static constexpr size_t index(Timer timer) { return static_cast<size_t>(timer); }
  constexpr bool is_due(Timer timer, Instant now) const {
    const auto& slot = slots_[index(timer)];
    return slot && *slot <= now;
  }

  std::array<std::optional<Instant>, kTimerCount> slots_{};
};

}  // namespace synack::tcp
