// The TCP header (RFC 9293 §3.1): a checked view over received bytes and a plain value.
#pragma once

#include <cstdint>
#include <optional>

#include "synack/expected.hpp"
#include "synack/wire/bytes.hpp"
#include "synack/wire/parse_error.hpp"
#include "synack/wire/pseudo_header.hpp"
#include "synack/wire/seq.hpp"
#include "synack/wire/tcp_options.hpp"

namespace synack::wire {

inline constexpr size_t kTcpMinHeaderLen = 20;
inline constexpr size_t kTcpMaxHeaderLen = 60;

// The 12 bits after the data offset: reserved (3), AE (RFC 9768, formerly NS), CWR, ECE
// (RFC 3168), URG, ACK, PSH, RST, SYN, FIN.
class TcpFlags {
 public:
  static constexpr uint16_t kFin = 0x001;
  static constexpr uint16_t kSyn = 0x002;
  static constexpr uint16_t kRst = 0x004;
  static constexpr uint16_t kPsh = 0x008;
  static constexpr uint16_t kAck = 0x010;
  static constexpr uint16_t kUrg = 0x020;
  static constexpr uint16_t kEce = 0x040;
  static constexpr uint16_t kCwr = 0x080;
  static constexpr uint16_t kAe = 0x100;
  static constexpr uint16_t kReserved = 0xe00;
  static constexpr uint16_t kAll = 0xfff;

  constexpr TcpFlags() = default;
  constexpr explicit TcpFlags(uint16_t bits) : bits_(bits & kAll) {}
  constexpr uint16_t bits() const { return bits_; }
  constexpr bool has(uint16_t f) const { return (bits_ & f) == f; }
  constexpr bool fin() const { return has(kFin); }
  constexpr bool syn() const { return has(kSyn); }
  constexpr bool rst() const { return has(kRst); }
  constexpr bool psh() const { return has(kPsh); }
  constexpr bool ack() const { return has(kAck); }
  constexpr bool urg() const { return has(kUrg); }
  constexpr bool ece() const { return has(kEce); }
  constexpr bool cwr() const { return has(kCwr); }
  constexpr TcpFlags with(uint16_t f) const { return TcpFlags(bits_ | f); }
  constexpr TcpFlags without(uint16_t f) const { return TcpFlags(bits_ & ~f & kAll); }
  constexpr bool operator==(const TcpFlags&) const = default;

 private:
  uint16_t bits_ = 0;
};

// A validated TCP segment: data offset inside the segment, options well formed and (by
// policy) the checksum verified over pseudo-header, header and payload.
class TcpView {
 public:
  // Without a pseudo-header the checksum is not verified (ChecksumPolicy::kIgnore).
  static expected<TcpView, ParseError> parse(Bytes segment);
  static expected<TcpView, ParseError> parse(Bytes segment, const PseudoHeader& pseudo);

  uint16_t src_port() const { return load_be16(p()); }
  uint16_t dst_port() const { return load_be16(p() + 2); }
  SeqNum seq() const { return SeqNum(load_be32(p() + 4)); }
  // The acknowledgment field as sent; meaningful only when flags().ack().
  SeqNum ack_number() const { return SeqNum(load_be32(p() + 8)); }
  size_t header_len() const { return (size_t{load_u8(p() + 12)} >> 4) * 4; }
  TcpFlags flags() const { return TcpFlags(load_be16(p() + 12) & TcpFlags::kAll); }
  uint16_t window() const { return load_be16(p() + 14); }
  uint16_t checksum() const { return load_be16(p() + 16); }
  uint16_t urgent_pointer() const { return load_be16(p() + 18); }
  Bytes options() const {
    return bytes_.subspan(kTcpMinHeaderLen, header_len() - kTcpMinHeaderLen);
  }
  Bytes payload() const { return bytes_.subspan(header_len()); }
  Bytes bytes() const { return bytes_; }

 private:
  explicit TcpView(Bytes bytes) : bytes_(bytes) {}
  static expected<TcpView, ParseError> parse_checked(Bytes segment, const PseudoHeader* pseudo);
  const std::byte* p() const { return bytes_.data(); }

  Bytes bytes_;
};

// A TCP segment as values. The ACK and URG flags are not stored: they are set exactly when
// `ack` and `urgent` hold a value, so a segment with an ACK flag but no acknowledgment
// number cannot be built.
struct TcpRepr {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  SeqNum seq;
  std::optional<SeqNum> ack;
  TcpFlags flags;  // every bit but ACK and URG (kept clear)
  uint16_t window = 0;
  std::optional<uint16_t> urgent;
  TcpOptions options;
  Bytes payload;  // not owned: points into the received packet or the send buffer

  static TcpRepr parse(const TcpView& view);

  // The flags as they go on the wire.
  TcpFlags wire_flags() const;
  // SEG.LEN (RFC 9293 §3.4): payload bytes plus one for SYN and one for FIN.
  SeqLen segment_len() const;

  size_t header_len() const { return kTcpMinHeaderLen + options.size(); }
  size_t size() const { return header_len() + payload.size(); }
  // Whether the options fit (the header is at most 60 bytes).
  bool fits() const { return options.fits(); }

  // Writes header_len() bytes to `out` with the checksum computed over the pseudo-header,
  // the header and `payload` — the payload itself is not copied (it may live in the send
  // buffer until the device writes it).
  void emit_header(MutableBytes out, const PseudoHeader& pseudo) const;
  // Writes header and payload: size() bytes.
  void emit(MutableBytes out, const PseudoHeader& pseudo) const;

  // Field-wise equality, payload compared by content.
  bool operator==(const TcpRepr& o) const;

 private:
  void emit_impl(MutableBytes out, const PseudoHeader& pseudo, bool copy_payload) const;
};

}  // namespace synack::wire
