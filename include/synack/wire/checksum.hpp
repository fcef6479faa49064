// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
#pragma once

#include <cstdint>

#include "synack/wire/bytes.hpp"

namespace synack::wire {

// Ones'-complement sum of 16-bit big-endian words over any sequence of byte ranges, as if they
// were one contiguous buffer (a range may end on an odd byte; RFC 1071 §2(B) byte-order
// independence handles the shift). Sums 8 bytes per step.
class ChecksumAccumulator {
 public:
  void add(Bytes data);
  // add(data) that also copies `data` to `dst` (data.size() bytes; no overlap) in the same
  // pass over the bytes.
  void add_copy(Bytes data, std::byte* dst);
  void add_u16(uint16_t v) { add_word(v); }
  void add_u32(uint32_t v) {
    add_word(static_cast<uint16_t>(v >> 16));
    add_word(static_cast<uint16_t>(v));
  }

  // The folded 16-bit sum.
  uint16_t sum() const;
  // The value that goes into a header's checksum field: the complement of the sum.
  uint16_t checksum() const { return static_cast<uint16_t>(~sum()); }
  // True when the covered bytes include a correct checksum field (the sum is all ones).
  bool verifies() const { return sum() == 0xffff; }

 private:
  void add_word(uint16_t v);
  void add_native_sum(uint16_t native, size_t len);

  uint64_t acc_ = 0;  // big-endian-word sum, folded lazily
  bool odd_ = false;  // an odd number of bytes has been added so far
};

// The checksum of one buffer.
uint16_t internet_checksum(Bytes data);

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), updating checksum `hc` when a 16-bit word of
// the covered data changes from `old_word` to `new_word`.
uint16_t checksum_update16(uint16_t hc, uint16_t old_word, uint16_t new_word);
// The same for an aligned 32-bit field (an address, a sequence number).
uint16_t checksum_update32(uint16_t hc, uint32_t old_value, uint32_t new_value);

}  // namespace synack::wire
