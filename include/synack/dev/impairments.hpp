// The impairments of a simulated path (latency, rate, MTU, loss, duplication, reordering,
// corruption, seed), their CLI form, and ImpairedQueue: one direction of such a path.
//
// Everything is driven by virtual time and a seed: an ImpairedQueue never reads a clock, and
// the same impairments, seed and pushes always give the same deliveries, on every platform
// (SplitMix64 and integer arithmetic; no std:: distributions, whose output varies).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "synack/expected.hpp"
#include "synack/time.hpp"
#include "synack/wire/bytes.hpp"

namespace synack::dev {

// SplitMix64: tiny, fast, and the same on every platform.
class SplitMix64 {
 public:
  explicit constexpr SplitMix64(uint64_t seed) : state_(seed) {}

  constexpr uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // True with probability p. Draws a number only when p > 0, so a zero probability leaves
  // the stream untouched.
  bool chance(double p) { return p > 0 && static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }
  // Uniform in [0, n) (modulo bias below n / 2^64); 0 when n is 0.
  constexpr uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }

 private:
  uint64_t state_;
};

// Number `stream` of the SplitMix64 sequence from `seed`: independent seeds for the parts of
// one run (the two directions of a link, the impairments of one direction) from one seed.
constexpr uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  SplitMix64 rng(seed + 0x9e3779b97f4a7c15ULL * stream);
  return rng.next();
}

struct Impairments {
  Duration latency;        // one way: every packet takes this long after leaving the bottleneck
  uint64_t rate_bps = 0;   // bottleneck rate in bit/s of IP bytes; 0: unlimited
  size_t queue_bytes = 0;  // the bottleneck's buffer (drop-tail) with a rate; 0: unbounded
  size_t mtu = 1500;       // largest IP packet carried, larger ones are dropped; 0: no limit
  double loss = 0;         // probability a packet is lost (after it used the bottleneck)
  double duplicate = 0;    // probability a packet arrives twice
  double reorder = 0;      // probability a copy is held back (see ImpairedQueue)
  double corrupt = 0;      // probability a copy has one bit flipped
  uint64_t seed = 0;

  bool operator==(const Impairments&) const = default;
};

// Parses the CLI form, e.g. "loss=1%,delay=10ms,rate=100mbit,queue=64K,dup=0.5%,reorder=1%,
// corrupt=0.1%,mtu=1500,seed=7", on top of `base` (items not given keep base's values).
//   loss, dup (duplicate), reorder, corrupt: a percentage "5%" or a fraction "0.05"
//   delay (latency): a number with a unit, us, ms or s ("10ms", "1.5ms", "250us")
//   rate: bit/s, bare or with kbit, mbit or gbit (powers of 1000, as tc); 0 is unlimited
//   queue: the bottleneck's buffer in bytes, bare or with K, M, G (powers of 1024); 0 is
//     unbounded (it matters only with a rate)
//   mtu: 68 (RFC 791's minimum) to 65535, or 0 for no limit
//   seed: a 64-bit unsigned integer, decimal or 0x-hex
// Items are comma-separated, spaces around them are ignored, each may appear once. Errors
// quote the item at fault: `bad impairment "loss=150%": ...`.
expected<Impairments, std::string> parse_impairments(std::string_view spec,
                                                     const Impairments& base = {});

// The CLI form of every field, which parse_impairments reads back to equal impairments:
// "delay=10ms,rate=100mbit,queue=0,mtu=1500,loss=1%,dup=0%,reorder=0%,corrupt=0%,seed=7".
std::string to_string(const Impairments& imp);

struct QueueCounters {
  uint64_t sent = 0;             // packets pushed
  uint64_t delivered = 0;        // copies handed to pop_due's callback
  uint64_t lost = 0;             // packets lost to `loss`
  uint64_t duplicated = 0;       // packets sent twice (each adds one extra copy)
  uint64_t reordered = 0;        // copies held back
  uint64_t corrupted = 0;        // copies with a bit flipped
  uint64_t dropped_mtu = 0;      // packets larger than the MTU
  uint64_t dropped_queue = 0;    // packets that found the bottleneck's buffer full
  uint64_t bytes_sent = 0;       // bytes of all packets pushed
  uint64_t bytes_delivered = 0;  // bytes of all copies delivered

  bool operator==(const QueueCounters&) const = default;
};

// One direction of a path. A pushed packet goes through, in this order:
//   1. MTU: larger than the MTU, it is dropped (and does not use the bottleneck);
//   2. the bottleneck: it is serialized at `rate_bps`, queueing behind earlier packets (a
//      FIFO of `queue_bytes`, unbounded when 0: a packet that does not fit is dropped at
//      the tail); its departure is when its last bit leaves. Fractions of a
//      microsecond are carried to the next packet, so the average rate is exact;
//   3. loss: it is lost after using the bottleneck (as if dropped downstream of it);
//   4. duplication: it becomes two copies;
//   5. per copy, arrival = departure + latency, plus, when reordered, an extra hold-back
//      drawn uniformly from [1us, max(1us, 2 x latency)]: later packets overtake it;
//   6. per copy, corruption flips one uniformly chosen bit (a receiver's checksum check
//      then drops the copy, as a real one would).
// Each of loss, duplication, reordering and corruption draws from its own SplitMix64
// stream, all derived from (impairments.seed, stream): the nth packet's fate under one
// impairment does not change when another impairment's setting does.
//
// Copies are delivered in arrival order, ties in send order. In flight they sit in a
// binary min-heap of small entries (O(log n) push and pop at 100k packets in flight); the
// bytes sit in buffers that are reused once delivered, so after warm-up pushing a
// wire::Bytes allocates nothing (memory stays at the peak in flight).
class ImpairedQueue {
 public:
  explicit ImpairedQueue(const Impairments& impairments, uint64_t stream = 0);

  // Sends a copy of `packet` (an IP packet) at `now`.
  void push(wire::Bytes packet, Instant now);
  // Sends `packet`, taking its buffer.
  void push(std::vector<std::byte>&& packet, Instant now);

  // When the next copy arrives; nullopt when nothing is in flight.
  std::optional<Instant> next_arrival() const {
    return heap_.empty() ? std::nullopt : std::optional<Instant>(heap_.top().arrival);
  }

  // Hands every copy arriving at or before `now` to `deliver`, in arrival order (ties in
  // send order), as deliver(wire::Bytes packet, Instant arrival) or deliver(wire::Bytes
  // packet). The bytes are valid only during the call. `deliver` may push onto this queue;
  // a copy it pushes that is already due is delivered in this same call.
  template <class F>
  void pop_due(Instant now, F&& deliver);

  const Impairments& impairments() const { return impairments_; }
  const QueueCounters& counters() const { return counters_; }
  // Copies pushed and not yet delivered.
  size_t in_flight() const { return heap_.size(); }

 private:
  struct Entry {
    Instant arrival;
    uint64_t order;  // send order: breaks ties between equal arrivals
    size_t slot;     // index into slots_
  };
  struct Later {
    bool operator()(const Entry& x, const Entry& y) const {
      return x.arrival != y.arrival ? x.arrival > y.arrival : x.order > y.order;
    }
  };
  // Gives a slot back to the free list when a delivery ends, even by an exception.
  struct SlotReturn {
    ImpairedQueue& queue;
    size_t slot;
    ~SlotReturn() { queue.release(slot); }
  };

  // Steps 1-4; the departure time, or nullopt when the packet is dropped or lost.
  std::optional<Instant> transmit(size_t size, Instant now);
  bool duplicated();
  // Steps 5-6 for the copy in `slot`.
  void schedule(size_t slot, Instant departure);
  size_t acquire();
  void release(size_t slot);

  Impairments impairments_;
  SplitMix64 loss_rng_;
  SplitMix64 duplicate_rng_;
  SplitMix64 reorder_rng_;
  SplitMix64 corrupt_rng_;
  // The bottleneck is busy until busy_until_ + busy_carry_ / rate_bps microseconds.
  Instant busy_until_;
  uint64_t busy_carry_ = 0;
  uint64_t next_order_ = 0;
  std::priority_queue<Entry, std::vector<Entry>, Later> heap_;
  std::vector<std::vector<std::byte>> slots_;  // packet bytes; a slot keeps its capacity
  std::vector<size_t> free_slots_;
  QueueCounters counters_;
};

template <class F>
void ImpairedQueue::pop_due(Instant now, F&& deliver) {
  while (!heap_.empty() && heap_.top().arrival <= now) {
    const Entry entry = heap_.top();
    heap_.pop();
    // A span over the slot's own buffer: it stays put even if `deliver` pushes and slots_
    // grows (moving a vector keeps its storage), and the slot is not reused until released.
    const wire::Bytes packet(slots_[entry.slot]);
    ++counters_.delivered;
    counters_.bytes_delivered += packet.size();
    const SlotReturn slot_return{*this, entry.slot};
    if constexpr (std::is_invocable_v<F&, wire::Bytes, Instant>) {
      deliver(packet, entry.arrival);
    } else {
      deliver(packet);
    }
  }
}

}  // namespace synack::dev
