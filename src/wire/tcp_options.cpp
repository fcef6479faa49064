#include "synack/wire/tcp_options.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace synack::wire {
namespace {

// Fixed lengths (kind + length byte + data) of the options synack interprets.
constexpr size_t kMssLen = 4;            // RFC 9293 §3.2
constexpr size_t kWindowScaleLen = 3;    // RFC 7323 §2.2
constexpr size_t kSackPermittedLen = 2;  // RFC 2018 §2
constexpr size_t kTimestampsLen = 10;    // RFC 7323 §3.2
constexpr size_t kSackBlockLen = 8;      // RFC 2018 §3

// Appends bytes at `out` (which may be null when only measuring) and advances the cursor.
class Writer {
 public:
  explicit Writer(std::byte* out) : out_(out) {}
  void u8(uint8_t v) {
    if (out_) store_u8(out_ + n_, v);
    n_ += 1;
  }
  void be16(uint16_t v) {
    if (out_) store_be16(out_ + n_, v);
    n_ += 2;
  }
  void be32(uint32_t v) {
    if (out_) store_be32(out_ + n_, v);
    n_ += 4;
  }
  void bytes(Bytes b) {
    if (out_ && !b.empty()) std::memcpy(out_ + n_, b.data(), b.size());
    n_ += b.size();
  }
  size_t size() const { return n_; }

 private:
  std::byte* out_;
  size_t n_ = 0;
};

}  // namespace

std::optional<RawTcpOption> TcpOptionWalker::next() {
  if (ended_ || rest_.empty()) return std::nullopt;
  const uint8_t kind = load_u8(rest_.data());
  if (kind == tcp_option::kEol) {
    ended_ = true;  // RFC 9293 §3.2: the end of the option list; what follows is padding
    return RawTcpOption{kind, {}};
  }
  if (kind == tcp_option::kNop) {
    rest_ = rest_.subspan(1);
    return RawTcpOption{kind, {}};
  }
  // Defensive even on validated input: never step outside the area.
  const size_t len = rest_.size() >= 2 ? load_u8(rest_.data() + 1) : 0;
  if (len < 2 || len > rest_.size()) {
    ended_ = true;
    return std::nullopt;
  }
  RawTcpOption option{kind, rest_.subspan(2, len - 2)};
  rest_ = rest_.subspan(len);
  return option;
}

expected<void, ParseError> validate_tcp_options(Bytes options) {
  if (options.size() > kTcpMaxOptionsLen) return unexpected(ParseError::kTcpOptionOverrun);
  size_t i = 0;
  while (i < options.size()) {
    const uint8_t kind = load_u8(&options[i]);
    if (kind == tcp_option::kEol) break;
    if (kind == tcp_option::kNop) {
      ++i;
      continue;
    }
    if (i + 1 >= options.size()) return unexpected(ParseError::kTcpOptionOverrun);
    const size_t len = load_u8(&options[i + 1]);
    // RFC 9293 §3.1: every option but EOL and NOP has a length octet counting kind and
    // length, so 0 and 1 are impossible (and 0 would loop forever).
    if (len < 2) return unexpected(ParseError::kTcpOptionBadLength);
    if (len > options.size() - i) return unexpected(ParseError::kTcpOptionOverrun);
    switch (kind) {
      case tcp_option::kMss:
        if (len != kMssLen) return unexpected(ParseError::kTcpOptionWrongLength);
        break;
      case tcp_option::kWindowScale:
        if (len != kWindowScaleLen) return unexpected(ParseError::kTcpOptionWrongLength);
        break;
      case tcp_option::kSackPermitted:
        if (len != kSackPermittedLen) return unexpected(ParseError::kTcpOptionWrongLength);
        break;
      case tcp_option::kTimestamps:
        if (len != kTimestampsLen) return unexpected(ParseError::kTcpOptionWrongLength);
        break;
      case tcp_option::kSack:
        if (len < 2 + kSackBlockLen || (len - 2) % kSackBlockLen != 0) {
          return unexpected(ParseError::kTcpOptionBadSackLength);
        }
        break;
      default:
        break;
    }
    i += len;
  }
  return {};
}

bool SackBlocks::push_back(SackBlock b) {
  if (full()) return false;
  blocks_[count_++] = b;
  return true;
}

bool SackBlocks::operator==(const SackBlocks& o) const {
  return std::equal(begin(), end(), o.begin(), o.end());
}

bool UnknownTcpOptions::push_back(uint8_t kind, Bytes data) {
  const size_t need = 2 + data.size();
  // EOL and NOP have no length byte: stored as TLVs they would emit a malformed area.
  if (kind == tcp_option::kEol || kind == tcp_option::kNop || need > 255 ||
      len_ + need > bytes_.size())
    return false;
  store_u8(&bytes_[len_], kind);
  store_u8(&bytes_[size_t{len_} + 1], static_cast<uint8_t>(need));
  if (!data.empty()) std::memcpy(&bytes_[size_t{len_} + 2], data.data(), data.size());
  len_ = static_cast<uint8_t>(len_ + need);
  return true;
}

bool UnknownTcpOptions::operator==(const UnknownTcpOptions& o) const {
  return std::ranges::equal(encoded(), o.encoded());
}

TcpOptions TcpOptions::parse_validated(Bytes options) {
  TcpOptions parsed;
  TcpOptionWalker walker(options);
  while (auto option = walker.next()) {
    const Bytes d = option->data;
    switch (option->kind) {
      case tcp_option::kEol:
      case tcp_option::kNop:
        break;
      case tcp_option::kMss:
        parsed.mss = load_be16(d.data());
        break;
      case tcp_option::kWindowScale:
        parsed.window_scale = load_u8(d.data());
        break;
      case tcp_option::kSackPermitted:
        parsed.sack_permitted = true;
        break;
      case tcp_option::kTimestamps:
        parsed.timestamps = TcpTimestamps{load_be32(d.data()), load_be32(d.data() + 4)};
        break;
      case tcp_option::kSack:
        parsed.sack.clear();
        for (size_t i = 0; i + kSackBlockLen <= d.size(); i += kSackBlockLen) {
          parsed.sack.push_back(
              SackBlock{SeqNum(load_be32(d.data() + i)), SeqNum(load_be32(d.data() + i + 4))});
        }
        break;
      default:
        // Always fits: the unknown options are a subset of a 40-byte area.
        parsed.unknown.push_back(option->kind, d);
        break;
    }
  }
  return parsed;
}

expected<TcpOptions, ParseError> TcpOptions::parse(Bytes options) {
  if (auto valid = validate_tcp_options(options); !valid) return unexpected(valid.error());
  return parse_validated(options);
}

size_t TcpOptions::layout(std::byte* out, bool aligned) const {
  Writer w(out);
  if (mss) {
    w.u8(tcp_option::kMss);
    w.u8(kMssLen);
    w.be16(*mss);
  }
  if (timestamps) {
    // Linux pairs SACK-permitted with the timestamps so both fit in 12 bytes.
    if (sack_permitted) {
      w.u8(tcp_option::kSackPermitted);
      w.u8(kSackPermittedLen);
    } else if (aligned) {
      w.u8(tcp_option::kNop);
      w.u8(tcp_option::kNop);
    }
    w.u8(tcp_option::kTimestamps);
    w.u8(kTimestampsLen);
    w.be32(timestamps->value);
    w.be32(timestamps->echo_reply);
  } else if (sack_permitted) {
    if (aligned) {
      w.u8(tcp_option::kNop);
      w.u8(tcp_option::kNop);
    }
    w.u8(tcp_option::kSackPermitted);
    w.u8(kSackPermittedLen);
  }
  if (window_scale) {
    if (aligned) w.u8(tcp_option::kNop);
    w.u8(tcp_option::kWindowScale);
    w.u8(kWindowScaleLen);
    w.u8(*window_scale);
  }
  if (!sack.empty()) {
    if (aligned) {
      w.u8(tcp_option::kNop);
      w.u8(tcp_option::kNop);
    }
    w.u8(tcp_option::kSack);
    w.u8(static_cast<uint8_t>(2 + kSackBlockLen * sack.size()));
    for (const SackBlock& b : sack) {
      w.be32(b.left.value());
      w.be32(b.right.value());
    }
  }
  w.bytes(unknown.encoded());
  // Pad to a 32-bit boundary with EOL bytes (RFC 9293 §3.1: the header is padded with zeros).
  while (w.size() % 4 != 0)
    w.u8(tcp_option::kEol);
  return w.size();
}

namespace {

size_t round_up4(size_t n) {
  return (n + 3) & ~size_t{3};
}

// What layout() writes, computed: with alignment NOPs (Linux's layout) or packed.
size_t aligned_size(const TcpOptionsShape& o) {
  size_t n = o.mss ? kMssLen : 0;
  if (o.timestamps) {
    n += 2 + kTimestampsLen;  // SACK-permitted or two NOPs in front
  } else if (o.sack_permitted) {
    n += 2 + kSackPermittedLen;
  }
  if (o.window_scale) n += 1 + kWindowScaleLen;
  if (o.sack_blocks > 0) n += 2 + 2 + kSackBlockLen * o.sack_blocks;
  return round_up4(n + o.unknown_len);
}

size_t packed_size(const TcpOptionsShape& o) {
  size_t n = o.mss ? kMssLen : 0;
  if (o.timestamps) n += kTimestampsLen;
  if (o.sack_permitted) n += kSackPermittedLen;
  if (o.window_scale) n += kWindowScaleLen;
  if (o.sack_blocks > 0) n += 2 + kSackBlockLen * o.sack_blocks;
  return round_up4(n + o.unknown_len);
}

}  // namespace

TcpOptionsShape TcpOptions::shape() const {
  return TcpOptionsShape{.mss = mss.has_value(),
                         .window_scale = window_scale.has_value(),
                         .sack_permitted = sack_permitted,
                         .timestamps = timestamps.has_value(),
                         .sack_blocks = sack.size(),
                         .unknown_len = unknown.encoded().size()};
}

size_t TcpOptions::size_of(const TcpOptionsShape& shape) {
  const size_t aligned = aligned_size(shape);
  return aligned <= kTcpMaxOptionsLen ? aligned : packed_size(shape);
}

void TcpOptions::emit(MutableBytes out) const {
  const TcpOptionsShape sh = shape();
  const bool aligned = aligned_size(sh) <= kTcpMaxOptionsLen;
  assert(out.size() >= size_of(sh));
  [[maybe_unused]] const size_t written = layout(out.data(), aligned);
  assert(written == size_of(sh));
}

}  // namespace synack::wire
