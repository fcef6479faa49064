// ByteRing: the storage under SendBuffer and Reassembler — a fixed-capacity ring addressed by
// 64-bit stream offsets (byte o lives at o % capacity), allocated on first store.
//
// Allocating lazily keeps a connection that never carries data small: a SYN_RCVD entry in a
// listener's SYN queue, or an idle connection, costs no buffer memory. The owner guarantees
// that live offsets span at most capacity() bytes, so they never collide.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>

#include "synack/wire/bytes.hpp"

namespace synack::tcp {

class ByteRing {
 public:
  explicit ByteRing(size_t capacity) : capacity_(capacity) {}
  ByteRing(const ByteRing& o) : capacity_(o.capacity_) {
    if (o.bytes_) {
      bytes_ = std::make_unique_for_overwrite<std::byte[]>(capacity_);
      std::memcpy(bytes_.get(), o.bytes_.get(), capacity_);
    }
  }
  ByteRing& operator=(const ByteRing& o) {
    if (this != &o) *this = ByteRing(o);
    return *this;
  }
  ByteRing(ByteRing&&) noexcept = default;
  ByteRing& operator=(ByteRing&&) noexcept = default;

  size_t capacity() const { return capacity_; }
  // Whether memory has been allocated (for tests and memory accounting).
  bool allocated() const { return bytes_ != nullptr; }

  // Copies `data` (at most capacity() bytes) to the ring at stream offset `offset`.
  void store(uint64_t offset, wire::Bytes data) {
    if (data.empty()) return;
    if (!bytes_) bytes_ = std::make_unique_for_overwrite<std::byte[]>(capacity_);
    const size_t at = index_of(offset);
    const size_t first = std::min(data.size(), capacity_ - at);
    std::memcpy(bytes_.get() + at, data.data(), first);
    std::memcpy(bytes_.get(), data.data() + first, data.size() - first);
  }

  // The `len` bytes from `offset` as up to two views (the second non-empty only when the
  // range wraps). The caller asks only for bytes it stored.
  std::pair<wire::Bytes, wire::Bytes> view(uint64_t offset, size_t len) const {
    if (len == 0 || !bytes_) return {};
    const size_t at = index_of(offset);
    const size_t first = std::min(len, capacity_ - at);
    return {wire::Bytes(bytes_.get() + at, first), wire::Bytes(bytes_.get(), len - first)};
  }

  // Copies the `out.size()` bytes from `offset` into `out`.
  void copy_out(uint64_t offset, wire::MutableBytes out) const {
    const auto [first, second] = view(offset, out.size());
    if (!first.empty()) std::memcpy(out.data(), first.data(), first.size());
    if (!second.empty()) std::memcpy(out.data() + first.size(), second.data(), second.size());
  }

  // A new capacity; the caller holds no bytes (SO_SNDBUF/SO_RCVBUF before connect).
  void reset(size_t capacity) {
    capacity_ = capacity;
    bytes_.reset();
  }

 private:
  size_t index_of(uint64_t offset) const { return static_cast<size_t>(offset % capacity_); }

  size_t capacity_;
  std::unique_ptr<std::byte[]> bytes_;
};

}  // namespace synack::tcp
