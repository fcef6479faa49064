// TCP sequence numbers (RFC 9293 §3.4): 32-bit values compared modulo 2^32.
//
// SeqNum deliberately has no ordering operators: modular order is not transitive, so
// std::map/std::sort over it would be wrong. Use the named predicates, which read like the
// RFC ("SND.UNA < SEG.ACK =< SND.NXT" is `before(snd_una, ack) && before_eq(ack, snd_nxt)`).
// Inside buffers synack counts bytes with 64-bit stream offsets and converts at the wire
// edge with wrap()/unwrap().
#pragma once

#include <cstdint>
#include <functional>

namespace synack::wire {

// A length in sequence space (bytes, plus one for each SYN and FIN).
class SeqLen {
 public:
  constexpr SeqLen() = default;
  constexpr explicit SeqLen(uint32_t n) : n_(n) {}
  constexpr uint32_t value() const { return n_; }

  constexpr SeqLen operator+(SeqLen o) const { return SeqLen(n_ + o.n_); }
  constexpr SeqLen operator-(SeqLen o) const { return SeqLen(n_ - o.n_); }
  // Lengths are plain non-negative counts, so ordering them is meaningful.
  constexpr auto operator<=>(const SeqLen&) const = default;

 private:
  uint32_t n_ = 0;
};

class SeqNum {
 public:
  constexpr SeqNum() = default;
  constexpr explicit SeqNum(uint32_t v) : v_(v) {}
  constexpr uint32_t value() const { return v_; }

  constexpr SeqNum operator+(SeqLen n) const { return SeqNum(v_ + n.value()); }
  constexpr SeqNum operator-(SeqLen n) const { return SeqNum(v_ - n.value()); }
  constexpr SeqNum& operator+=(SeqLen n) { return *this = *this + n; }
  // The distance from `o` forward to this number, modulo 2^32.
  constexpr SeqLen operator-(SeqNum o) const { return SeqLen(v_ - o.v_); }
  constexpr bool operator==(const SeqNum&) const = default;

 private:
  uint32_t v_ = 0;
};

// Signed distance a - b: negative when a is before b (valid while |a - b| < 2^31).
constexpr int32_t seq_diff(SeqNum a, SeqNum b) {
  return static_cast<int32_t>(a.value() - b.value());
}

constexpr bool before(SeqNum a, SeqNum b) {
  return seq_diff(a, b) < 0;
}
constexpr bool before_eq(SeqNum a, SeqNum b) {
  return seq_diff(a, b) <= 0;
}
constexpr bool after(SeqNum a, SeqNum b) {
  return seq_diff(a, b) > 0;
}
constexpr bool after_eq(SeqNum a, SeqNum b) {
  return seq_diff(a, b) >= 0;
}

// first <= x < first + size, modulo 2^32. An empty window contains nothing.
constexpr bool in_window(SeqNum x, SeqNum first, SeqLen size) {
  return (x - first).value() < size.value();
}

// lo <= x <= hi, modulo 2^32 (the RFC's "=<" on both sides), with lo <= hi.
constexpr bool in_range_inclusive(SeqNum x, SeqNum lo, SeqNum hi) {
  return (x - lo).value() <= (hi - lo).value();
}

constexpr SeqNum seq_max(SeqNum a, SeqNum b) {
  return before(a, b) ? b : a;
}
constexpr SeqNum seq_min(SeqNum a, SeqNum b) {
  return before(a, b) ? a : b;
}

// Stream offset (bytes since the zero point `zero`, usually ISN + 1) to sequence number.
constexpr SeqNum wrap(uint64_t offset, SeqNum zero) {
  return zero + SeqLen(static_cast<uint32_t>(offset));
}

// Sequence number to the 64-bit stream offset closest to `checkpoint` (typically the offset
// of the last byte seen), so that a connection may carry more than 4 GiB.
constexpr uint64_t unwrap(SeqNum seq, SeqNum zero, uint64_t checkpoint) {
  constexpr uint64_t kSpan = uint64_t{1} << 32;
  const uint64_t low = (seq - zero).value();
  // Candidate in the same 2^32 block as the checkpoint, then the nearer neighbour block
  // if that is closer. Distances are compared, never sums, so nothing overflows near 2^64.
  uint64_t candidate = (checkpoint & ~(kSpan - 1)) | low;
  if (candidate < checkpoint && checkpoint - candidate > kSpan / 2 &&
      candidate <= UINT64_MAX - kSpan) {
    candidate += kSpan;  // the checkpoint is far above: the next block is closer
  } else if (candidate > checkpoint && candidate - checkpoint > kSpan / 2 && candidate >= kSpan) {
    candidate -= kSpan;  // the candidate is far above: the previous block is closer
  }
  return candidate;
}

}  // namespace synack::wire

template <>
struct std::hash<synack::wire::SeqNum> {
  size_t operator()(synack::wire::SeqNum s) const noexcept {
    return std::hash<uint32_t>{}(s.value());
  }
};
