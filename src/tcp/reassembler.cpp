#include "synack/tcp/reassembler.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>

namespace synack::tcp {

bool SackRanges::push_back(OffsetRange r) {
  if (count_ == ranges_.size()) return false;
  ranges_[count_++] = r;
  return true;
}

bool OutOfOrderRanges::add(OffsetRange r, uint64_t arrival) {
  assert(r.begin < r.end);
  if (!entries_) entries_ = std::make_unique<Entry[]>(kCapacity);
  // The entries [first, last) overlap or touch r. Touching ranges merge too: a SACK block
  // describes bytes that are "contiguous and isolated" (RFC 2018 §3).
  size_t first = 0;
  while (first < count_ && entries_[first].range.end < r.begin)
    ++first;
  size_t last = first;
  while (last < count_ && entries_[last].range.begin <= r.end)
    ++last;

  if (first == last) {
    if (full()) return false;
    std::move_backward(entries_.get() + static_cast<std::ptrdiff_t>(first),
                       entries_.get() + static_cast<std::ptrdiff_t>(count_),
                       entries_.get() + static_cast<std::ptrdiff_t>(count_ + 1));
    entries_[first] = Entry{r, arrival};
    ++count_;
    return true;
  }

  // The merged range holds the segment that just arrived, so it is the most recent.
  const OffsetRange merged{std::min(r.begin, entries_[first].range.begin),
                           std::max(r.end, entries_[last - 1].range.end)};
  entries_[first] = Entry{merged, arrival};
  std::move(entries_.get() + static_cast<std::ptrdiff_t>(last),
            entries_.get() + static_cast<std::ptrdiff_t>(count_),
            entries_.get() + static_cast<std::ptrdiff_t>(first + 1));
  count_ -= last - first - 1;
  return true;
}

bool OutOfOrderRanges::pop_front_if_begins_by(uint64_t offset, OffsetRange& out) {
  if (count_ == 0 || entries_[0].range.begin > offset) return false;
  out = entries_[0].range;
  std::move(entries_.get() + 1, entries_.get() + static_cast<std::ptrdiff_t>(count_),
            entries_.get());
  --count_;
  return true;
}

Reassembler::Reassembler(size_t capacity) : ring_(capacity) {}

Reassembler::InsertResult Reassembler::insert(uint64_t offset, wire::Bytes data) {
  // RFC 9293 §3.10.7.4: trim the segment to the part that is new and inside the window.
  // Computed without offset + size, which could overflow for a hostile offset.
  const uint64_t window_end = read_offset_ + capacity();
  if (offset >= window_end) return {};
  const uint64_t end = offset + std::min<uint64_t>(data.size(), window_end - offset);
  const uint64_t begin = std::max(offset, next_expected_);
  if (begin >= end) return {};
  const wire::Bytes fresh =
      data.subspan(static_cast<size_t>(begin - offset), static_cast<size_t>(end - begin));

  if (begin > next_expected_) {
    // A gap precedes it. If it cannot be tracked, keep nothing: bytes held but not described
    // by a range could never be delivered, and the sender retransmits whatever we neither
    // ACK nor SACK.
    if (!ooo_.add({begin, end}, ++arrivals_)) return {.advanced = 0, .dropped_no_range = true};
    ring_.store(begin, fresh);
    return {};
  }

  // In order: extend the prefix, then absorb the out-of-order ranges it now reaches. The
  // bytes of a range the segment overlaps are rewritten with the segment's copy, which a
  // correct sender makes identical.
  ring_.store(begin, fresh);
  const uint64_t before = next_expected_;
  next_expected_ = end;
  OffsetRange absorbed;
  while (ooo_.pop_front_if_begins_by(next_expected_, absorbed)) {
    next_expected_ = std::max(next_expected_, absorbed.end);
  }
  return {.advanced = static_cast<size_t>(next_expected_ - before)};
}

std::pair<wire::Bytes, wire::Bytes> Reassembler::peek_readable() const {
  return ring_.view(read_offset_, readable());
}

size_t Reassembler::consume(size_t n) {
  const size_t taken = std::min(n, readable());
  read_offset_ += taken;
  return taken;
}

size_t Reassembler::read(wire::MutableBytes out) {
  const auto [first, second] = peek_readable();
  const size_t n1 = std::min(out.size(), first.size());
  const size_t n2 = std::min(out.size() - n1, second.size());
  if (n1 != 0) std::memcpy(out.data(), first.data(), n1);
  if (n2 != 0) std::memcpy(out.data() + n1, second.data(), n2);
  return consume(n1 + n2);
}

SackRanges Reassembler::sack_ranges(size_t max_blocks) const {
  // Repeated selection of the most recent remaining range: at most 4 passes over at most 32
  // entries, with no sorting buffer to allocate.
  SackRanges out;
  const size_t want = std::min({max_blocks, wire::kMaxSackBlocks, ooo_.size()});
  uint64_t newer_than_next = std::numeric_limits<uint64_t>::max();  // stamps are distinct
  while (out.size() < want) {
    const OutOfOrderRanges::Entry* best = nullptr;
    for (const auto& e : ooo_) {
      if (e.last_arrival < newer_than_next && (!best || e.last_arrival > best->last_arrival)) {
        best = &e;
      }
    }
    assert(best != nullptr);
    out.push_back(best->range);
    newer_than_next = best->last_arrival;
  }
  return out;
}

bool Reassembler::resize(size_t capacity) {
  if (readable() != 0 || has_out_of_order()) return false;
  // Only before the connection carries data (SO_RCVBUF before connect), never per segment.
  ring_.reset(capacity);
  return true;
}

}  // namespace synack::tcp
