// TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018): parsing, validation and emission.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "synack/expected.hpp"
#include "synack/wire/bytes.hpp"
#include "synack/wire/parse_error.hpp"
#include "synack/wire/seq.hpp"

namespace synack::wire {

namespace tcp_option {
inline constexpr uint8_t kEol = 0;
inline constexpr uint8_t kNop = 1;
inline constexpr uint8_t kMss = 2;            // RFC 9293 §3.7.1
inline constexpr uint8_t kWindowScale = 3;    // RFC 7323 §2
inline constexpr uint8_t kSackPermitted = 4;  // RFC 2018 §2
inline constexpr uint8_t kSack = 5;           // RFC 2018 §3
inline constexpr uint8_t kTimestamps = 8;     // RFC 7323 §3
}  // namespace tcp_option

inline constexpr size_t kTcpMaxOptionsLen = 40;
inline constexpr size_t kMaxSackBlocks = 4;

// One option as it stands on the wire: kind and the bytes after the length byte (empty for
// EOL and NOP).
struct RawTcpOption {
  uint8_t kind = 0;
  Bytes data;
};

// Walks an options area that validate_tcp_options() accepted, in wire order, stopping after
// EOL. Used by the parser and by the tracer (which prints options in the order they came).
class TcpOptionWalker {
 public:
  explicit TcpOptionWalker(Bytes options) : rest_(options) {}
  std::optional<RawTcpOption> next();

 private:
  Bytes rest_;
  bool ended_ = false;
};

// Checks an options area: every option has a length byte of at least 2 that stays inside
// the area, and the fixed-length options have their fixed length.
expected<void, ParseError> validate_tcp_options(Bytes options);

struct TcpTimestamps {
  uint32_t value = 0;       // TSval
  uint32_t echo_reply = 0;  // TSecr
  bool operator==(const TcpTimestamps&) const = default;
};

struct SackBlock {
  SeqNum left;   // first sequence number of the block
  SeqNum right;  // sequence number just past the block
  bool operator==(const SackBlock&) const = default;
};

// Up to four SACK blocks held inline (no allocation on the segment path).
class SackBlocks {
 public:
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  bool full() const { return count_ == kMaxSackBlocks; }
  const SackBlock& operator[](size_t i) const { return blocks_[i]; }
  const SackBlock* begin() const { return blocks_.data(); }
  const SackBlock* end() const { return blocks_.data() + count_; }
  void clear() { count_ = 0; }
  // Appends a block; false when four are already held.
  bool push_back(SackBlock b);

  bool operator==(const SackBlocks& o) const;

 private:
  std::array<SackBlock, kMaxSackBlocks> blocks_{};
  uint8_t count_ = 0;
};

// Options synack does not interpret, kept as (kind, bytes) in arrival order so they can be
// shown and re-emitted. Stored inline: they fit in the 40-byte options area by construction.
class UnknownTcpOptions {
 public:
  // Appends an option; false if the total would not fit in an options area.
  bool push_back(uint8_t kind, Bytes data);
  bool empty() const { return len_ == 0; }
  // The options as TLV bytes (kind, length, data), ready to emit.
  Bytes encoded() const { return Bytes(bytes_.data(), len_); }
  TcpOptionWalker walk() const { return TcpOptionWalker(encoded()); }

  bool operator==(const UnknownTcpOptions& o) const;

 private:
  std::array<std::byte, kTcpMaxOptionsLen> bytes_{};
  uint8_t len_ = 0;
};

// Which options a TCP header carries, without their values: enough to know its length.
struct TcpOptionsShape {
  bool mss = false;
  bool window_scale = false;
  bool sack_permitted = false;
  bool timestamps = false;
  size_t sack_blocks = 0;
  size_t unknown_len = 0;  // TLV bytes of the options synack does not interpret
};

struct TcpOptions {
  std::optional<uint16_t> mss;
  std::optional<uint8_t> window_scale;  // as received; RFC 7323 §2.3 clamping is the engine's
  bool sack_permitted = false;
  std::optional<TcpTimestamps> timestamps;
  SackBlocks sack;
  UnknownTcpOptions unknown;

  // Parses a validated options area. A repeated option replaces the earlier one.
  static TcpOptions parse_validated(Bytes options);
  static expected<TcpOptions, ParseError> parse(Bytes options);

  // Bytes emit() writes: a multiple of 4. Options are laid out as Linux lays them out
  // (MSS; SACK-permitted + timestamps; NOP-aligned window scale; NOP-aligned SACK blocks),
  // or packed without alignment NOPs when that would exceed 40 bytes.
  size_t size() const { return size_of(shape()); }
  // size() for options of this shape, computed without laying them out (once per segment
  // on the send path: what room the payload has).
  static size_t size_of(const TcpOptionsShape& shape);
  TcpOptionsShape shape() const;
  // Writes exactly size() bytes, padding with EOL (zero) bytes.
  void emit(MutableBytes out) const;
  // Whether the options fit in the 40-byte options area.
  bool fits() const { return size() <= kTcpMaxOptionsLen; }

  bool operator==(const TcpOptions&) const = default;

 private:
  size_t layout(std::byte* out, bool aligned) const;
};

}  // namespace synack::wire
