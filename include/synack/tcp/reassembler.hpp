// The receive buffer with out-of-order reassembly.
//
// Bytes are counted with 64-bit stream offsets (offset 0 is the first data byte after the
// SYN); the engine converts sequence numbers at the wire edge and keeps the FIN itself.
// The buffer covers the fixed span [read_offset(), read_offset() + capacity()):
//
//   read_offset          next_expected                          read_offset + capacity
//   |-- in order, unread --|-- gap --|== ooo ==|-- gap --|== ooo ==|--------------------|
//                          '<------------------ free_window() ------------------------->'
//
// In-order bytes wait for the application; past them, out-of-order ranges wait for the gaps
// to fill. next_expected() is RCV.NXT as an offset and free_window() is RCV.WND (RFC 9293
// §3.3.1): out-of-order bytes sit inside the advertised window and do not shrink it, so the
// window edge never moves left (RFC 9293 §3.8.6: receivers SHOULD NOT shrink it).
//
// Memory is bounded by the window and allocated once: a byte ring of capacity() bytes and
// an inline table of at most kMaxOutOfOrderRanges disjoint ranges. Nothing allocates per
// segment; data that does not fit is dropped, and TCP's retransmission brings it back.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "synack/tcp/byte_ring.hpp"
#include "synack/wire/bytes.hpp"
#include "synack/wire/tcp_options.hpp"

namespace synack::tcp {

// A half-open range of stream offsets [begin, end).
struct OffsetRange {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t size() const { return end - begin; }
  bool operator==(const OffsetRange&) const = default;
};

// Up to kMaxSackBlocks ranges to report in a SACK option (RFC 2018 §3), in the order they
// go on the wire. Offsets: the engine wraps them into SackBlocks of sequence numbers.
class SackRanges {
 public:
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  const OffsetRange& operator[](size_t i) const { return ranges_[i]; }
  const OffsetRange* begin() const { return ranges_.data(); }
  const OffsetRange* end() const { return ranges_.data() + count_; }
  // Appends a range; false when kMaxSackBlocks are already held.
  bool push_back(OffsetRange r);

 private:
  std::array<OffsetRange, wire::kMaxSackBlocks> ranges_{};
  size_t count_ = 0;
};

// Disjoint, non-adjacent ranges in ascending order, each stamped with the arrival order of
// the newest segment that added to it (for the RFC 2018 §4 block order). The table (at most
// kCapacity entries) is allocated by the first out-of-order segment and kept: a connection
// that never sees one — most of them — pays a pointer for it.
class OutOfOrderRanges {
 public:
  static constexpr size_t kCapacity = 32;

  struct Entry {
    OffsetRange range;
    uint64_t last_arrival = 0;  // larger is more recent
  };

  OutOfOrderRanges() = default;
  OutOfOrderRanges(const OutOfOrderRanges& o) : count_(o.count_) {
    if (o.entries_) {
      entries_ = std::make_unique<Entry[]>(kCapacity);
      std::copy(o.begin(), o.end(), entries_.get());
    }
  }
  OutOfOrderRanges& operator=(const OutOfOrderRanges& o) {
    if (this != &o) *this = OutOfOrderRanges(o);
    return *this;
  }
  OutOfOrderRanges(OutOfOrderRanges&&) noexcept = default;
  OutOfOrderRanges& operator=(OutOfOrderRanges&&) noexcept = default;

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  bool full() const { return count_ == kCapacity; }
  const Entry& operator[](size_t i) const { return entries_[i]; }
  const Entry* begin() const { return entries_.get(); }
  const Entry* end() const { return entries_.get() + count_; }

  // Adds `r` (non-empty), merging it with every range it overlaps or touches; the merged
  // range takes `arrival`. False, changing nothing, when `r` would need a new entry and all
  // kCapacity are in use.
  bool add(OffsetRange r, uint64_t arrival);
  // Removes the lowest range if it begins at or before `offset`, returning it.
  bool pop_front_if_begins_by(uint64_t offset, OffsetRange& out);
  void clear() { count_ = 0; }

 private:
  std::unique_ptr<Entry[]> entries_;
  size_t count_ = 0;
};

class Reassembler {
 public:
  static constexpr size_t kMaxOutOfOrderRanges = OutOfOrderRanges::kCapacity;

  struct InsertResult {
    // How far next_expected() moved: the bytes that just became readable.
    size_t advanced = 0;
    // Out-of-order bytes were dropped because they would have needed a range beyond
    // kMaxOutOfOrderRanges. The sender retransmits them (they are neither ACKed nor SACKed);
    // the engine counts this like Linux's TcpExtTCPOFODrop.
    bool dropped_no_range = false;
  };

  explicit Reassembler(size_t capacity);

  size_t capacity() const { return ring_.capacity(); }
  // Whether buffer memory has been allocated: not until the first byte is held.
  bool allocated() const { return ring_.allocated(); }

  // Stores the part of `data` (which starts at stream offset `offset`) that falls inside
  // [next_expected(), read_offset() + capacity()): bytes before next_expected() are
  // duplicates and are trimmed, bytes beyond the window are dropped (RFC 9293 §3.10.7.4
  // trims segments to the window). Returns how far the contiguous prefix advanced.
  InsertResult insert(uint64_t offset, wire::Bytes data);

  // RCV.NXT as an offset: one past the last byte of the contiguous prefix.
  uint64_t next_expected() const { return next_expected_; }
  // Offset of the next byte the application reads.
  uint64_t read_offset() const { return read_offset_; }

  // In-order bytes waiting for the application.
  size_t readable() const { return static_cast<size_t>(next_expected_ - read_offset_); }
  // Copies up to out.size() readable bytes out, frees their space, returns the count.
  size_t read(wire::MutableBytes out);
  // The readable bytes as up to two views (the ring may wrap), valid until the next
  // insert, read, consume or resize. Pair with consume() to read without a copy.
  std::pair<wire::Bytes, wire::Bytes> peek_readable() const;
  // Frees up to n readable bytes without copying them; returns the count.
  size_t consume(size_t n);

  // Bytes the engine may advertise (RCV.WND): capacity minus the unread in-order bytes.
  size_t free_window() const { return capacity() - readable(); }

  bool has_out_of_order() const { return !ooo_.empty(); }
  const OutOfOrderRanges& out_of_order() const { return ooo_; }

  // The out-of-order ranges to report as SACK blocks, at most `max_blocks` (at most
  // wire::kMaxSackBlocks; 3 when timestamps share the options area). RFC 2018 §4: the first
  // block holds the most recently received segment, and the rest follow by most recent
  // arrival, so that the blocks a lost ACK carried are repeated in later ACKs. Every range
  // held is current (ranges merged into the prefix are gone), so none is stale.
  SackRanges sack_ranges(size_t max_blocks = wire::kMaxSackBlocks) const;

  // Changes the capacity (SO_RCVBUF before connect). Only allowed while nothing is held:
  // returns false and changes nothing otherwise. Offsets carry on where they were.
  bool resize(size_t capacity);

 private:
  ByteRing ring_;  // allocated when the first byte arrives
  uint64_t read_offset_ = 0;
  uint64_t next_expected_ = 0;
  uint64_t arrivals_ = 0;  // out-of-order segments accepted so far, for recency
  OutOfOrderRanges ooo_;
};

}  // namespace synack::tcp
