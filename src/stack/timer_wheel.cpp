#include "synack/stack/timer_wheel.hpp"

#include <algorithm>
#include <bit>
#include <limits>

namespace synack::stack {

namespace {

constexpr uint64_t kDigitMask = TimerWheel::kSlotsPerLevel - 1;
// Ticks are unsigned and Instants signed: tick t is the floor of instant / tick, with the
// sign bit flipped. That keeps the order over the whole range of Instant, so no origin
// needs choosing, and keeps instant zero (a simulation's start, the Unix epoch) on a tick
// and on a slot boundary of every level.
constexpr uint64_t kSignBit = uint64_t{1} << 63;

}  // namespace

TimerWheel::TimerWheel(Duration tick, Instant start)
    : tick_us_(std::max<int64_t>(tick.as_micros(), 1)), now_(tick_of(start)) {
  assert(tick > Duration{});
  heads_.fill(kNil);
}

uint64_t TimerWheel::tick_of(Instant t) const {
  const int64_t us = t.as_micros();
  const int64_t floor = us / tick_us_ - (us % tick_us_ < 0 ? 1 : 0);
  return static_cast<uint64_t>(floor) ^ kSignBit;
}

// The first microsecond of `tick` (the first tick may begin before the earliest Instant;
// then the earliest Instant).
Instant TimerWheel::start_of(uint64_t tick) const {
  const auto floor = static_cast<int64_t>(tick ^ kSignBit);
  if (floor < std::numeric_limits<int64_t>::min() / tick_us_) {
    return Instant::from_micros(std::numeric_limits<int64_t>::min());
  }
  return Instant::from_micros(floor * tick_us_);
}

// The first tick of slot `index` at `level`: the current tick's digits above `level`,
// `index` as the digit at `level`, zeros below.
uint64_t TimerWheel::slot_start(unsigned level, unsigned index) const {
  const unsigned shift = level * kSlotBits;
  const unsigned above = shift + kSlotBits;
  const uint64_t upper = above >= 64 ? 0 : (now_ >> above) << above;
  return upper | (uint64_t{index} << shift);
}

void TimerWheel::reserve(size_t ids) {
  nodes_.reserve(ids);
}

void TimerWheel::grow(uint32_t id) {
  assert(id <= kMaxId);
  const size_t needed = size_t{id} + 1;
  if (needed > nodes_.capacity()) nodes_.reserve(std::max(needed, 2 * nodes_.capacity()));
  nodes_.resize(needed);
}

void TimerWheel::link(uint32_t id, uint16_t slot) {
  Node& node = nodes_[id];
  node.slot = slot;
  node.prev = kNil;
  node.next = heads_[slot];
  if (node.next != kNil) nodes_[node.next].prev = id;
  heads_[slot] = id;
  ++counts_[slot];
  occupied_[slot / kSlotsPerLevel] |= uint64_t{1} << (slot % kSlotsPerLevel);
}

void TimerWheel::unlink(uint32_t id) {
  const Node& node = nodes_[id];
  if (node.prev != kNil) {
    nodes_[node.prev].next = node.next;
  } else {
    heads_[node.slot] = node.next;
  }
  if (node.next != kNil) nodes_[node.next].prev = node.prev;
  if (--counts_[node.slot] == 0) {
    occupied_[node.slot / kSlotsPerLevel] &= ~(uint64_t{1} << (node.slot % kSlotsPerLevel));
  }
}

// Files a node under the level of the highest digit in which its tick differs from the
// current tick. A tick already passed counts as the current one: due at the next expire().
void TimerWheel::place(uint32_t id) {
  const uint64_t tick = std::max(tick_of(nodes_[id].deadline), now_);
  const auto width = static_cast<unsigned>(std::bit_width((tick ^ now_) | kDigitMask));
  const unsigned level = (width - 1) / kSlotBits;
  const auto index = static_cast<unsigned>((tick >> (level * kSlotBits)) & kDigitMask);
  link(id, static_cast<uint16_t>(level * kSlotsPerLevel + index));
}

// Takes a scheduled node out of the wheel (or out of the due list) and forgets the cached
// next deadline if the node may have defined it.
void TimerWheel::remove(uint32_t id) {
  Node& node = nodes_[id];
  if (node.slot != kPending) {
    const uint16_t slot = node.slot;
    unlink(id);
    if (cache_valid_ && slot == cache_.slot && (node.deadline == cache_.at || counts_[slot] == 0)) {
      cache_valid_ = false;
    }
  }
  node.slot = kNone;
}

void TimerWheel::schedule(uint32_t id, Instant deadline) {
  if (id >= nodes_.size()) grow(id);
  const uint16_t current = nodes_[id].slot;
  // The stack re-files a connection's deadline after every segment, mostly unchanged:
  // leave it (and the cached next deadline) alone. A waiting id is still moved back into
  // the wheel, which withdraws its callback.
  if (current != kNone && current != kPending && nodes_[id].deadline == deadline) return;
  if (current == kNone) {
    ++size_;
  } else {
    remove(id);
  }
  Node& node = nodes_[id];
  node.deadline = deadline;
  place(id);
  // The cache is at or before every deadline, so one earlier still is the new minimum,
  // and its slot the earliest. A later one changes neither.
  if (cache_valid_ && (!cache_.at || deadline < *cache_.at)) cache_ = {deadline, node.slot};
}

void TimerWheel::cancel(uint32_t id) {
  if (!scheduled(id)) return;
  remove(id);
  --size_;
}

std::optional<Instant> TimerWheel::deadline(uint32_t id) const {
  if (!scheduled(id)) return std::nullopt;
  return nodes_[id].deadline;
}

TimerWheel::Earliest TimerWheel::earliest() const {
  for (unsigned level = 0; level < kLevels; ++level) {
    if (occupied_[level] == 0) continue;
    const auto index = static_cast<unsigned>(std::countr_zero(occupied_[level]));
    const auto slot = static_cast<uint16_t>(level * kSlotsPerLevel + index);
    if (level > 0 && counts_[slot] > kExactScanLimit) {
      return {start_of(slot_start(level, index)), slot};
    }
    Instant best = nodes_[heads_[slot]].deadline;
    for (uint32_t id = heads_[slot]; id != kNil; id = nodes_[id].next) {
      best = std::min(best, nodes_[id].deadline);
    }
    stats_.scanned += counts_[slot];
    return {best, slot};
  }
  return {};
}

std::optional<Instant> TimerWheel::next_deadline() const {
  if (expiring_) {
    // Called from on_due: the ids still waiting for their callbacks are out of the slots,
    // and the first of them (due_ is sorted) is at or before all the others.
    std::optional<Instant> at = earliest().at;
    if (cursor_ + 1 < due_.size() && (!at || due_[cursor_ + 1].deadline < *at)) {
      at = due_[cursor_ + 1].deadline;
    }
    return at;
  }
  if (!cache_valid_) {
    cache_ = earliest();
    cache_valid_ = true;
  }
  return cache_.at;
}

// Answers from the cached next deadline whether expire(now) has nothing to do. If so, it
// moves the current tick towards `now`'s without touching an entry — but not past the
// start of the earliest slot (only a level-0 slot may become the current tick in place),
// so every entry stays where place() would now put it.
bool TimerWheel::nothing_due(Instant now) {
  const std::optional<Instant> next = next_deadline();
  if (next && *next <= now) return false;
  uint64_t tick = tick_of(now);
  if (next) {
    const unsigned level = cache_.slot / kSlotsPerLevel;
    const uint64_t start = slot_start(level, cache_.slot % kSlotsPerLevel);
    tick = std::min(tick, level == 0 ? start : start - 1);
  }
  now_ = std::max(now_, tick);
  return true;
}

void TimerWheel::cascade(uint16_t slot) {
  uint32_t id = heads_[slot];
  heads_[slot] = kNil;
  counts_[slot] = 0;
  occupied_[slot / kSlotsPerLevel] &= ~(uint64_t{1} << (slot % kSlotsPerLevel));
  while (id != kNil) {
    const uint32_t next = nodes_[id].next;
    place(id);
    ++stats_.cascaded;
    id = next;
  }
}

// Moves the due entries of a level-0 slot (a single tick) to due_: all of them, or for the
// tick `now` falls in, those at or before `now`. Each is in due_ before it leaves its slot,
// so an exception (due_ growing) loses none: finish_expire() puts them back.
void TimerWheel::take_due(uint16_t slot, Instant now, bool all) {
  if (!all) stats_.scanned += counts_[slot];
  uint32_t id = heads_[slot];
  while (id != kNil) {
    const uint32_t next = nodes_[id].next;
    if (all || nodes_[id].deadline <= now) {
      due_.push_back({nodes_[id].deadline, id});
      unlink(id);
      nodes_[id].slot = kPending;
    }
    id = next;
  }
}

// Advances the current tick to `now`'s, cascading every slot it reaches, and fills due_
// with what is due, in callback order.
void TimerWheel::collect_due(Instant now) {
  cache_valid_ = false;
  const uint64_t target = std::max(tick_of(now), now_);
  for (;;) {
    unsigned level = 0;
    while (level < kLevels && occupied_[level] == 0)
      ++level;
    if (level == kLevels) break;
    const auto index = static_cast<unsigned>(std::countr_zero(occupied_[level]));
    const uint64_t start = slot_start(level, index);
    if (start > target) break;
    // Every slot before this one is empty, so the wheel may stand at its start.
    now_ = start;
    const auto slot = static_cast<uint16_t>(level * kSlotsPerLevel + index);
    if (level > 0) {
      cascade(slot);
    } else if (start < target) {
      take_due(slot, now, /*all=*/true);  // a whole tick before `now`'s
    } else {
      take_due(slot, now, /*all=*/false);  // `now`'s own tick: compare exact deadlines
      break;
    }
  }
  now_ = target;
  std::sort(due_.begin(), due_.end());
}

void TimerWheel::finish_expire() noexcept {
  // Normally every entry has had its turn; after an exception, the ones left stay
  // scheduled and fire on the next expire().
  for (size_t i = cursor_; i < due_.size(); ++i) {
    const uint32_t id = due_[i].id;
    if (nodes_[id].slot == kPending) place(id);
  }
  due_.clear();
  cursor_ = 0;
  expiring_ = false;
}

}  // namespace synack::stack
