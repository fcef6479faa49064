#include "synack/wire/tcp.hpp"

#include <algorithm>
#include <cassert>

namespace synack::wire {

expected<TcpView, ParseError> TcpView::parse(Bytes segment) {
  return parse_checked(segment, nullptr);
}

expected<TcpView, ParseError> TcpView::parse(Bytes segment, const PseudoHeader& pseudo) {
  return parse_checked(segment, &pseudo);
}

expected<TcpView, ParseError> TcpView::parse_checked(Bytes segment, const PseudoHeader* pseudo) {
  if (segment.size() < kTcpMinHeaderLen) return unexpected(ParseError::kTcpTruncated);
  const size_t header_len = (size_t{load_u8(segment.data() + 12)} >> 4) * 4;
  if (header_len < kTcpMinHeaderLen || header_len > segment.size()) {
    return unexpected(ParseError::kTcpBadDataOffset);
  }
  if (pseudo != nullptr) {
    // RFC 9293 §3.1: the checksum covers the pseudo-header, the header and the data.
    ChecksumAccumulator acc = pseudo->start(static_cast<uint32_t>(segment.size()));
    acc.add(segment);
    if (!acc.verifies()) return unexpected(ParseError::kTcpBadChecksum);
  }
  const Bytes options = segment.subspan(kTcpMinHeaderLen, header_len - kTcpMinHeaderLen);
  if (auto valid = validate_tcp_options(options); !valid) return unexpected(valid.error());
  return TcpView(segment);
}

TcpRepr TcpRepr::parse(const TcpView& view) {
  const TcpFlags flags = view.flags();
  return TcpRepr{
      .src_port = view.src_port(),
      .dst_port = view.dst_port(),
      .seq = view.seq(),
      .ack = flags.ack() ? std::optional(view.ack_number()) : std::nullopt,
      .flags = flags.without(TcpFlags::kAck | TcpFlags::kUrg),
      .window = view.window(),
      .urgent = flags.urg() ? std::optional(view.urgent_pointer()) : std::nullopt,
      .options = TcpOptions::parse_validated(view.options()),
      .payload = view.payload(),
  };
}

TcpFlags TcpRepr::wire_flags() const {
  TcpFlags f = flags.without(TcpFlags::kAck | TcpFlags::kUrg);
  if (ack) f = f.with(TcpFlags::kAck);
  if (urgent) f = f.with(TcpFlags::kUrg);
  return f;
}

SeqLen TcpRepr::segment_len() const {
  return SeqLen(
      static_cast<uint32_t>(payload.size() + (flags.syn() ? 1 : 0) + (flags.fin() ? 1 : 0)));
}

void TcpRepr::emit_header(MutableBytes out, const PseudoHeader& pseudo) const {
  emit_impl(out, pseudo, false);
}

void TcpRepr::emit(MutableBytes out, const PseudoHeader& pseudo) const {
  assert(out.size() >= size());
  emit_impl(out, pseudo, true);
}

void TcpRepr::emit_impl(MutableBytes out, const PseudoHeader& pseudo, bool copy_payload) const {
  const size_t hlen = header_len();
  assert(fits() && out.size() >= hlen);
  std::byte* p = out.data();
  store_be16(p, src_port);
  store_be16(p + 2, dst_port);
  store_be32(p + 4, seq.value());
  store_be32(p + 8, ack ? ack->value() : 0);
  store_be16(p + 12, static_cast<uint16_t>(((hlen / 4) << 12) | wire_flags().bits()));
  store_be16(p + 14, window);
  store_be16(p + 16, 0);
  store_be16(p + 18, urgent.value_or(0));
  options.emit(out.subspan(kTcpMinHeaderLen, hlen - kTcpMinHeaderLen));
  ChecksumAccumulator acc = pseudo.start(static_cast<uint32_t>(hlen + payload.size()));
  acc.add(out.first(hlen));
  // The payload is read once: copied and summed in the same pass.
  if (copy_payload) {
    acc.add_copy(payload, p + hlen);
  } else {
    acc.add(payload);
  }
  store_be16(p + 16, acc.checksum());
}

bool TcpRepr::operator==(const TcpRepr& o) const {
  return src_port == o.src_port && dst_port == o.dst_port && seq == o.seq && ack == o.ack &&
         flags == o.flags && window == o.window && urgent == o.urgent && options == o.options &&
         std::ranges::equal(payload, o.payload);
}

}  // namespace synack::wire
