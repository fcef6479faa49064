// The stack's timer wheel: one deadline per connection, for hundreds of thousands of
// connections, and which of them are due.
//
// Each connection keeps its timers as data (tcp::TimerTable) and reports next_deadline();
// the stack files that one Instant here under the connection's slot index, calls
// expire(now) when the event loop wakes, and sleeps until next_deadline().
//
// A hierarchical timing wheel (Varghese & Lauck, "Hashed and Hierarchical Timing Wheels",
// scheme 7; the Linux and tokio timer wheels). Time is cut into ticks (1 ms by default).
// Level L has 64 slots of 64^L ticks each. An entry due at tick t sits at the level of the
// highest 6-bit digit in which t differs from the wheel's current tick, in the slot named
// by that digit of t. So every occupied slot lies ahead of the current tick, the levels'
// slots cover disjoint, increasing ranges of time, and the earliest entries are always in
// the lowest occupied slot of the lowest occupied level (found with a bit scan per level).
// When time reaches a slot at level L >= 1 its entries cascade to lower levels; an entry
// moves at most once per level it started above 0. Eleven levels cover every 64-bit tick,
// so no deadline is clamped and none needs an overflow list.
//
// Entries keep their exact Instant: the slot only says where to look, the Instant says
// whether it is due, so nothing fires early or late, whatever the tick.
//
// Storage: a std::vector of nodes indexed by id, linked into per-slot intrusive doubly
// linked lists. schedule() and cancel() are O(1) and never allocate, except to grow the
// vector the first time an id beyond it appears (reserve() avoids even that).
//
// Costs (k = entries in the slot in question):
//  - expire(now) when nothing is due: O(1) once next_deadline() is known (it is cached).
//  - expire(now) otherwise: O(levels) per occupied slot passed, O(1) per entry cascaded or
//    split off the current tick, and O(d log d) to sort the d due ids.
//  - next_deadline(): cached; recomputed after expire() or after the entry that defined it
//    is cancelled or moved. Recomputing is O(levels) plus, when the earliest slot is a
//    single tick (level 0) or holds at most kExactScanLimit entries, a walk of that slot
//    to find the exact minimum. A larger slot at level >= 1 yields its start instead:
//    early, never late. Waking then cascades that slot (work expire() must do anyway),
//    so the loop wakes early at most once per level before it sleeps until an exact
//    deadline. Within one tick the value is always exact, so the loop never spins.
//
// Not thread-safe: one wheel per Stack, one Stack per thread.
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "synack/time.hpp"

namespace synack::stack {

// How much work the wheel has done, for counters and for tests of its cost.
struct TimerWheelStats {
  uint64_t expired = 0;   // on_due callbacks made
  uint64_t cascaded = 0;  // entries moved from a slot at level >= 1 down towards level 0
  uint64_t scanned = 0;   // entries walked to find a slot's exact minimum deadline
};

class TimerWheel {
 public:
  static constexpr Duration kDefaultTick = Duration::millis(1);
  static constexpr unsigned kSlotBits = 6;
  static constexpr unsigned kSlotsPerLevel = 1u << kSlotBits;
  static constexpr unsigned kLevels = (64 + kSlotBits - 1) / kSlotBits;  // every uint64 tick
  // next_deadline() walks a level >= 1 slot for its exact minimum up to this size.
  static constexpr uint32_t kExactScanLimit = 64;
  // Ids are 0 .. kMaxId; kMaxId + 1 marks the end of a list.
  static constexpr uint32_t kMaxId = UINT32_MAX - 1;

  // `tick` > 0 is the slot granularity (not a precision: deadlines are exact). `start` is
  // the wheel's initial current time; pass the time of creation so the first deadlines
  // land in low levels (any value is correct, a distant one only costs cascades).
  explicit TimerWheel(Duration tick = kDefaultTick, Instant start = Instant{});

  // Files `id` under `deadline`, replacing any deadline it had (the same deadline again
  // costs a comparison). A deadline at or before the wheel's current time fires on the
  // next expire(). O(1).
  void schedule(uint32_t id, Instant deadline);
  // Removes `id`'s deadline, if any. O(1).
  void cancel(uint32_t id);

  bool scheduled(uint32_t id) const { return id < nodes_.size() && nodes_[id].slot != kNone; }
  // The exact deadline `id` was scheduled for.
  std::optional<Instant> deadline(uint32_t id) const;

  // When the event loop should next call expire(): never later than the earliest
  // scheduled deadline, exact in the cases (and at the cost) described above; nullopt
  // when nothing is scheduled. After expire(now) it is later than `now`, unless an
  // on_due callback scheduled something at or before `now`.
  std::optional<Instant> next_deadline() const;

  // Calls on_due(id) for every id whose deadline is at or before `now`, in order of
  // (deadline, id). Which ids are due is decided on entry: each is unscheduled just
  // before its callback, and the callback may schedule or cancel any id — cancelling or
  // rescheduling an id still waiting for its callback withdraws that callback, and an id
  // scheduled at or before `now` from a callback fires on the next expire(), not this
  // one, so a handler that keeps re-arming in the past cannot trap the loop here.
  // Advances the wheel's current time to `now` (an earlier `now` than before does not
  // move it back). Not reentrant: do not call expire() from on_due. If on_due throws, the
  // ids still waiting stay scheduled and fire on the next expire().
  template <class F>
  void expire(Instant now, F&& on_due);

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  Duration tick() const { return Duration::micros(tick_us_); }
  // Sizes the id-indexed storage for ids below `ids` up front.
  void reserve(size_t ids);
  const TimerWheelStats& stats() const { return stats_; }

 private:
  static constexpr unsigned kSlots = kLevels * kSlotsPerLevel;
  static constexpr uint32_t kNil = UINT32_MAX;
  static constexpr uint16_t kNone = UINT16_MAX;         // not scheduled
  static constexpr uint16_t kPending = UINT16_MAX - 1;  // due, waiting for its callback
  static_assert(kSlots < kPending);

  struct Node {
    Instant deadline;
    uint32_t prev = kNil;
    uint32_t next = kNil;
    uint16_t slot = kNone;  // a slot index, kPending or kNone
  };

  struct Due {
    Instant deadline;
    uint32_t id;
    auto operator<=>(const Due&) const = default;
  };

  // What next_deadline() reports, and the slot it came from.
  struct Earliest {
    std::optional<Instant> at;
    uint16_t slot = kNone;
  };

  // Ends a run of callbacks even when one throws.
  struct FinishExpire {
    TimerWheel& wheel;
    ~FinishExpire() { wheel.finish_expire(); }
  };

  uint64_t tick_of(Instant t) const;
  Instant start_of(uint64_t tick) const;
  uint64_t slot_start(unsigned level, unsigned index) const;

  void place(uint32_t id);
  void link(uint32_t id, uint16_t slot);
  void unlink(uint32_t id);
  void remove(uint32_t id);
  void grow(uint32_t id);

  Earliest earliest() const;
  bool nothing_due(Instant now);
  void collect_due(Instant now);
  void cascade(uint16_t slot);
  void take_due(uint16_t slot, Instant now, bool all);
  bool start_callback(uint32_t id);
  void finish_expire() noexcept;

  int64_t tick_us_;
  uint64_t now_;  // the current tick: every entry in the wheel is due at or after it
  std::vector<Node> nodes_;
  std::array<uint32_t, kSlots> heads_;
  std::array<uint32_t, kSlots> counts_{};
  std::array<uint64_t, kLevels> occupied_{};  // bit i of level L: slot i is non-empty
  size_t size_ = 0;

  mutable bool cache_valid_ = true;  // an empty wheel's answer is known
  mutable Earliest cache_;

  std::vector<Due> due_;  // the ids one expire() call found due, sorted; reused
  size_t cursor_ = 0;     // the entry of due_ whose callback runs
  bool expiring_ = false;

  mutable TimerWheelStats stats_;
};

template <class F>
void TimerWheel::expire(Instant now, F&& on_due) {
  assert(!expiring_ && "TimerWheel::expire is not reentrant");
  if (nothing_due(now)) return;
  expiring_ = true;
  const FinishExpire finish{*this};
  collect_due(now);
  for (cursor_ = 0; cursor_ < due_.size(); ++cursor_) {
    const uint32_t id = due_[cursor_].id;
    if (start_callback(id)) on_due(id);
  }
}

inline bool TimerWheel::start_callback(uint32_t id) {
  Node& node = nodes_[id];
  if (node.slot != kPending) return false;  // cancelled or rescheduled by an earlier callback
  node.slot = kNone;
  --size_;
  ++stats_.expired;
  return true;
}

}  // namespace synack::stack
