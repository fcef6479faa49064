// Big-endian field access over bytes. Every header field is read and written through these:
// never reinterpret_cast bytes into a struct (alignment, aliasing and byte order all bite).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace synack::wire {

using Bytes = std::span<const std::byte>;
using MutableBytes = std::span<std::byte>;

inline uint8_t load_u8(const std::byte* p) {
  return static_cast<uint8_t>(p[0]);
}

inline uint16_t load_be16(const std::byte* p) {
  return static_cast<uint16_t>((static_cast<unsigned>(p[0]) << 8) | static_cast<unsigned>(p[1]));
}

inline uint32_t load_be32(const std::byte* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}

inline void store_u8(std::byte* p, uint8_t v) {
  p[0] = std::byte{v};
}

inline void store_be16(std::byte* p, uint16_t v) {
  p[0] = static_cast<std::byte>(v >> 8);
  p[1] = static_cast<std::byte>(v);
}

inline void store_be32(std::byte* p, uint32_t v) {
  p[0] = static_cast<std::byte>(v >> 24);
  p[1] = static_cast<std::byte>(v >> 16);
  p[2] = static_cast<std::byte>(v >> 8);
  p[3] = static_cast<std::byte>(v);
}

}  // namespace synack::wire
