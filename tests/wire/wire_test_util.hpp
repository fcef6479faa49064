// Helpers shared by the wire tests: hex literals, a naive RFC 1071 reference checksum that
// does not use the code under test, error matchers, and gtest printers for wire types.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "synack/expected.hpp"
#include "synack/wire/bytes.hpp"
#include "synack/wire/ipv4_address.hpp"
#include "synack/wire/parse_error.hpp"
#include "synack/wire/seq.hpp"

namespace synack::wire {

// gtest printers, so that failures show values rather than raw object bytes.
inline void PrintTo(SeqNum s, std::ostream* os) {
  *os << "SeqNum(" << s.value() << ")";
}
inline void PrintTo(SeqLen n, std::ostream* os) {
  *os << "SeqLen(" << n.value() << ")";
}
inline void PrintTo(Ipv4Address a, std::ostream* os) {
  *os << a.to_string();
}
inline void PrintTo(ParseError e, std::ostream* os) {
  *os << to_string(e);
}

}  // namespace synack::wire

namespace synack::wire::test {

using ByteVec = std::vector<std::byte>;

// "45 00 00 3c" or "4500003c" to bytes; whitespace is ignored, anything else is a test bug.
inline ByteVec hex(std::string_view text) {
  ByteVec out;
  int high = -1;
  for (const char c : text) {
    int v = 0;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else if (c == ' ' || c == '\n' || c == '\t') {
      continue;
    } else {
      ADD_FAILURE() << "bad hex character '" << c << "'";
      return {};
    }
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::byte>((high << 4) | v));
      high = -1;
    }
  }
  if (high >= 0) ADD_FAILURE() << "odd number of hex digits";
  return out;
}

// Bytes as lowercase hex pairs separated by spaces: the form the expectations are written in.
inline std::string to_hex(Bytes data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < data.size(); ++i) {
    if (i > 0) out.push_back(' ');
    const auto b = std::to_integer<unsigned>(data[i]);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

inline ByteVec bytes_of(std::initializer_list<unsigned> values) {
  ByteVec out;
  for (const unsigned v : values)
    out.push_back(static_cast<std::byte>(v));
  return out;
}

inline ByteVec bytes_of(std::string_view text) {
  ByteVec out;
  for (const char c : text)
    out.push_back(static_cast<std::byte>(c));
  return out;
}

inline uint8_t u8_at(Bytes data, size_t i) {
  return std::to_integer<uint8_t>(data[i]);
}
inline uint16_t be16_at(Bytes data, size_t i) {
  return static_cast<uint16_t>((u8_at(data, i) << 8) | u8_at(data, i + 1));
}
inline void put_be16(ByteVec& data, size_t i, uint16_t v) {
  data[i] = static_cast<std::byte>(v >> 8);
  data[i + 1] = static_cast<std::byte>(v & 0xff);
}
inline void put_be32(ByteVec& data, size_t i, uint32_t v) {
  put_be16(data, i, static_cast<uint16_t>(v >> 16));
  put_be16(data, i + 2, static_cast<uint16_t>(v & 0xffff));
}

// RFC 1071 §4.1, written the slow obvious way: big-endian 16-bit words, an odd last byte
// padded with zero, carries folded at the end. Independent of synack's ChecksumAccumulator.
inline uint16_t reference_sum(Bytes data) {
  uint64_t sum = 0;
  for (size_t i = 0; i < data.size(); i += 2) {
    const uint64_t high = u8_at(data, i);
    const uint64_t low = i + 1 < data.size() ? u8_at(data, i + 1) : 0;
    sum += (high << 8) | low;
  }
  while (sum > 0xffff)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

inline uint16_t reference_checksum(Bytes data) {
  return static_cast<uint16_t>(~reference_sum(data));
}

// The TCP/UDP pseudo-header of RFC 9293 §3.1 as bytes, for the reference checksum.
inline ByteVec reference_pseudo_header(Ipv4Address src, Ipv4Address dst, uint8_t protocol,
                                       uint16_t length) {
  ByteVec out(12);
  put_be32(out, 0, src.value());
  put_be32(out, 4, dst.value());
  out[8] = std::byte{0};
  out[9] = static_cast<std::byte>(protocol);
  put_be16(out, 10, length);
  return out;
}

inline ByteVec concat(Bytes a, Bytes b) {
  ByteVec out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// EXPECT_TRUE(fails_with(Ipv4View::parse(bytes), ParseError::kIpv4Truncated)).
template <class T>
::testing::AssertionResult fails_with(const expected<T, ParseError>& result, ParseError want) {
  if (result.has_value()) {
    return ::testing::AssertionFailure() << "parsed successfully, wanted " << to_string(want);
  }
  if (result.error() != want) {
    return ::testing::AssertionFailure()
           << "failed with " << to_string(result.error()) << ", wanted " << to_string(want);
  }
  return ::testing::AssertionSuccess();
}

template <class T>
::testing::AssertionResult parses(const expected<T, ParseError>& result) {
  if (result.has_value()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "failed with " << to_string(result.error());
}

}  // namespace synack::wire::test
