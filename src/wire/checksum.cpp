#include "synack/wire/checksum.hpp"

#include <bit>
#include <cstring>

namespace synack::wire {
namespace {

uint64_t fold32(uint64_t s) {
  while (s >> 32)
    s = (s & 0xffffffff) + (s >> 32);
  return s;
}

uint16_t fold16(uint64_t s) {
  s = fold32(s);
  while (s >> 16)
    s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

// Ones'-complement sum of `data` as 16-bit words in *native* byte order, folded to 16 bits.
// The sum of native-order words is the byte-swap of the sum of big-endian words
// (RFC 1071 §2(B)), so the caller swaps once at the end on little-endian hosts. With kCopy
// the bytes are also written to `dst` in the same pass (as Linux's csum_partial_copy), so a
// payload is read once to be both copied and summed.
template <bool kCopy>
uint16_t native_sum(const std::byte* p, size_t n, std::byte* dst) {
  uint64_t acc = 0;
  // Fast path: 32 bytes per iteration, 8 bytes per load. Each 64-bit word is added as two
  // 32-bit halves so the 64-bit accumulator cannot overflow for any buffer below 2^32 words.
  while (n >= 32) {
    uint64_t w[4];
    std::memcpy(w, p, sizeof w);
    if constexpr (kCopy) {
      std::memcpy(dst, w, sizeof w);
      dst += sizeof w;
    }
    acc += (w[0] & 0xffffffff) + (w[0] >> 32) + (w[1] & 0xffffffff) + (w[1] >> 32);
    acc += (w[2] & 0xffffffff) + (w[2] >> 32) + (w[3] & 0xffffffff) + (w[3] >> 32);
    p += 32;
    n -= 32;
  }
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, sizeof w);
    if constexpr (kCopy) {
      std::memcpy(dst, &w, sizeof w);
      dst += sizeof w;
    }
    acc += (w & 0xffffffff) + (w >> 32);
    p += 8;
    n -= 8;
  }
  while (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, sizeof w);
    if constexpr (kCopy) {
      std::memcpy(dst, &w, sizeof w);
      dst += sizeof w;
    }
    acc += w;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    if constexpr (kCopy) *dst = *p;
    // A trailing odd byte is the high-order byte of a big-endian word padded with zero.
    const uint16_t last = static_cast<uint16_t>(static_cast<uint8_t>(*p));
    acc += std::endian::native == std::endian::little ? last : static_cast<uint16_t>(last << 8);
  }
  return fold16(acc);
}

uint16_t to_big_endian_sum(uint16_t native) {
  if constexpr (std::endian::native == std::endian::little) {
    return static_cast<uint16_t>((native >> 8) | (native << 8));
  }
  return native;
}

}  // namespace

void ChecksumAccumulator::add(Bytes data) {
  if (data.empty()) return;
  add_native_sum(native_sum<false>(data.data(), data.size(), nullptr), data.size());
}

void ChecksumAccumulator::add_copy(Bytes data, std::byte* dst) {
  if (data.empty()) return;
  add_native_sum(native_sum<true>(data.data(), data.size(), dst), data.size());
}

void ChecksumAccumulator::add_native_sum(uint16_t native, size_t len) {
  uint16_t s = to_big_endian_sum(native);
  // Bytes that start at an odd offset of the whole stream sit in the low half of each
  // word: their sum is the byte-swapped sum (RFC 1071 §2(B)).
  if (odd_) s = static_cast<uint16_t>((s >> 8) | (s << 8));
  acc_ += s;
  if (len % 2 != 0) odd_ = !odd_;
}

void ChecksumAccumulator::add_word(uint16_t v) {
  // A word added after an odd number of bytes is still positioned on the stream: swap it too.
  acc_ += odd_ ? static_cast<uint16_t>((v >> 8) | (v << 8)) : v;
}

uint16_t ChecksumAccumulator::sum() const {
  return fold16(acc_);
}

uint16_t internet_checksum(Bytes data) {
  ChecksumAccumulator acc;
  acc.add(data);
  return acc.checksum();
}

uint16_t checksum_update16(uint16_t hc, uint16_t old_word, uint16_t new_word) {
  // RFC 1624 §3, eqn. 3. Unlike eqn. 2 it never produces the -0 (0x0000) ambiguity of
  // RFC 1141 for a sum that is not zero.
  uint64_t s = static_cast<uint16_t>(~hc);
  s += static_cast<uint16_t>(~old_word);
  s += new_word;
  return static_cast<uint16_t>(~fold16(s));
}

uint16_t checksum_update32(uint16_t hc, uint32_t old_value, uint32_t new_value) {
  uint64_t s = static_cast<uint16_t>(~hc);
  s += uint64_t{static_cast<uint16_t>(~(old_value >> 16))} + static_cast<uint16_t>(~old_value);
  s += (new_value >> 16) + (new_value & 0xffff);
  return static_cast<uint16_t>(~fold16(s));
}

}  // namespace synack::wire
