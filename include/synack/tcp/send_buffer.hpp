// The send buffer: bytes the application wrote that the peer has not yet acknowledged.
//
// A fixed-capacity byte ring over 64-bit stream offsets (offset 0 is the first data byte
// after the SYN). It holds [begin_offset(), end_offset()): in RFC 9293 §3.3.1 terms, SND.UNA
// to the end of what the application wrote, so both the bytes in flight (up to SND.NXT) and
// the bytes not yet sent. The engine converts offsets to sequence numbers at the wire edge.
//
// Memory is allocated once, on the first write (a connection that never sends costs none); write,
// acknowledge and the reads never allocate. Segments are built from peek(), which hands out views
// into the ring rather than copies (STYLE.md §13).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "synack/tcp/byte_ring.hpp"
#include "synack/wire/bytes.hpp"

namespace synack::tcp {

class SendBuffer {
 public:
  explicit SendBuffer(size_t capacity);

  size_t capacity() const { return ring_.capacity(); }
  // Whether buffer memory has been allocated: not until the first byte is held.
  bool allocated() const { return ring_.allocated(); }
  // Bytes held: written and not yet acknowledged.
  size_t size() const { return static_cast<size_t>(end_offset_ - begin_offset_); }
  bool empty() const { return end_offset_ == begin_offset_; }
  size_t free_space() const { return capacity() - size(); }

  // Stream offset of the oldest unacknowledged byte (SND.UNA as an offset).
  uint64_t begin_offset() const { return begin_offset_; }
  // Stream offset one past the last byte written.
  uint64_t end_offset() const { return end_offset_; }

  // Appends as much of `data` as fits; returns how many bytes were taken.
  size_t write(wire::Bytes data);

  // Drops the bytes before `up_to_offset` and returns how many were dropped. An offset at or
  // before begin_offset() (an old or duplicate ACK) drops nothing. An offset past
  // end_offset() is clamped to it: the engine rejects ACKs of unsent data (RFC 9293
  // §3.10.7.4) before calling here, but the FIN's sequence number lies one past the last
  // data byte, so an ACK of the FIN may legitimately reach one beyond.
  size_t acknowledge(uint64_t up_to_offset);

  // Views of the bytes [offset, offset + len), clipped to end_offset(). The ring may wrap, so
  // the bytes come as up to two spans, first then second (the second is empty unless the
  // range wraps). Both are empty if `offset` is outside [begin_offset(), end_offset()).
  // The views stay valid until the next write, acknowledge or resize.
  std::pair<wire::Bytes, wire::Bytes> peek(uint64_t offset, size_t len) const;

  // Copies the bytes from `offset` into `out` (as many as fit, clipped to end_offset()) and
  // returns the count; 0 if `offset` is outside [begin_offset(), end_offset()). For the rare
  // caller that needs one contiguous span.
  size_t copy_out(uint64_t offset, wire::MutableBytes out) const;

  // Changes the capacity (SO_SNDBUF before connect). Only allowed while empty: returns false
  // and changes nothing otherwise. Offsets carry on where they were.
  bool resize(size_t capacity);

 private:
  ByteRing ring_;  // allocated on the first write
  uint64_t begin_offset_ = 0;
  uint64_t end_offset_ = 0;
};

}  // namespace synack::tcp
