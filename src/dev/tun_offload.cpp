#include "synack/dev/tun_offload.hpp"

#include "synack/wire/checksum.hpp"

namespace synack::dev {

namespace vnet {

Header load(const std::byte* p) {
  Header h;
  h.flags = static_cast<uint8_t>(p[0]);
  h.gso_type = static_cast<uint8_t>(p[1]);
  std::memcpy(&h.hdr_len, p + 2, 2);
  std::memcpy(&h.gso_size, p + 4, 2);
  std::memcpy(&h.csum_start, p + 6, 2);
  std::memcpy(&h.csum_offset, p + 8, 2);
  return h;
}

void store(std::byte* p, const Header& h) {
  p[0] = static_cast<std::byte>(h.flags);
  p[1] = static_cast<std::byte>(h.gso_type);
  std::memcpy(p + 2, &h.hdr_len, 2);
  std::memcpy(p + 4, &h.gso_size, 2);
  std::memcpy(p + 6, &h.csum_start, 2);
  std::memcpy(p + 8, &h.csum_offset, 2);
}

std::string_view to_string(RxError e) {
  switch (e) {
    case RxError::kShort:
      return "shorter than its virtio-net header";
    case RxError::kBadChecksum:
      return "partial checksum outside the packet";
    case RxError::kUnknownGso:
      return "unknown GSO type";
  }
  return "?";
}

namespace {
bool is_tcp(wire::Bytes packet) {
  return packet.size() >= 20 && (static_cast<uint8_t>(packet[0]) >> 4) == 4 &&
         static_cast<uint8_t>(packet[9]) == 6;
}
}  // namespace

bool checksum_trusted(const Header& h, wire::Bytes packet) {
  return (h.flags & (kNeedsCsum | kDataValid)) != 0 && is_tcp(packet);
}

std::optional<RxError> accept_packet(const Header& h, wire::MutableBytes packet, bool complete) {
  const uint8_t gso = h.gso_type & static_cast<uint8_t>(~kGsoEcn);
  if (gso != kGsoNone && gso != kGsoTcpV4) return RxError::kUnknownGso;
  if ((h.flags & kNeedsCsum) != 0) {
    // The checksum field holds the pseudo-header's sum; the sum of everything from
    // csum_start (the field included) completes it, as a NIC would on transmit.
    const size_t start = h.csum_start;
    const size_t field = start + h.csum_offset;
    if (start > packet.size() || field + 2 > packet.size()) return RxError::kBadChecksum;
    if (!complete && is_tcp(packet)) return std::nullopt;
    wire::ChecksumAccumulator sum;
    sum.add(wire::Bytes(packet.data() + start, packet.size() - start));
    wire::store_be16(packet.data() + field, sum.checksum());
  }
  return std::nullopt;
}

}  // namespace vnet

namespace {

constexpr uint8_t kTcpProtocol = 6;
constexpr size_t kIpv4HeaderLen = 20;  // only option-less IPv4 headers are merged
constexpr std::byte kPsh{0x08};
constexpr std::byte kAck{0x10};
constexpr size_t kMaxFrame = vnet::kHeaderSize + 65535;

// The layout of an option-less IPv4 packet carrying TCP: header length (IPv4 + TCP), or 0
// when the packet is not one.
size_t tcp_headers(wire::Bytes p) {
  if (p.size() < kIpv4HeaderLen + 20) return 0;
  if (p[0] != std::byte{0x45}) return 0;  // version 4, no options
  if (static_cast<uint8_t>(p[9]) != kTcpProtocol) return 0;
  if ((wire::load_be16(p.data() + 6) & 0x3fff) != 0) return 0;  // MF or a fragment offset
  if (wire::load_be16(p.data() + 2) != p.size()) return 0;
  const size_t tcp_len = (static_cast<size_t>(p[kIpv4HeaderLen + 12]) >> 4) * 4;
  if (tcp_len < 20 || kIpv4HeaderLen + tcp_len > p.size()) return 0;
  return kIpv4HeaderLen + tcp_len;
}

std::byte tcp_flags(wire::Bytes p) {
  return p[kIpv4HeaderLen + 13];
}

bool same(wire::Bytes a, wire::Bytes b, size_t from, size_t to) {
  return std::memcmp(a.data() + from, b.data() + from, to - from) == 0;
}

}  // namespace

const std::byte TsoCoalescer::kPlainHeader[vnet::kHeaderSize] = {};

TsoCoalescer::TsoCoalescer() : buf_(kMaxFrame) {}

bool TsoCoalescer::start(wire::Bytes packet) {
  const size_t headers = tcp_headers(packet);
  // Only a plain ACK-flagged data segment can be continued: one with PSH (or FIN, SYN, RST,
  // URG, ECE, CWR) goes out alone.
  if (headers == 0 || headers == packet.size() || tcp_flags(packet) != kAck) return false;
  std::memcpy(buf_.data() + vnet::kHeaderSize, packet.data(), packet.size());
  size_ = vnet::kHeaderSize + packet.size();
  header_len_ = headers;
  gso_size_ = static_cast<uint16_t>(packet.size() - headers);
  next_seq_ = wire::load_be32(packet.data() + kIpv4HeaderLen + 4) + gso_size_;
  segments_ = 1;
  closed_ = false;
  return true;
}

bool TsoCoalescer::append(wire::Bytes packet) {
  if (closed_ || segments_ == kMaxSegments) return false;
  if (tcp_headers(packet) != header_len_) return false;
  const size_t payload = packet.size() - header_len_;
  if (payload == 0 || payload > gso_size_ || size_ + payload > kMaxFrame) return false;
  const std::byte flags = tcp_flags(packet);
  if ((flags & ~kPsh) != kAck) return false;
  const wire::Bytes first(buf_.data() + vnet::kHeaderSize, header_len_);
  constexpr size_t t = kIpv4HeaderLen;
  // Everything but the IPv4 total length, id and checksum, and the TCP sequence number,
  // flags (PSH) and checksum must be the same: the kernel's GSO copies the first header
  // onto every segment. The TCP options (timestamps, SACK blocks) too.
  if (!same(first, packet, 0, 2) || !same(first, packet, 6, 10) ||
      !same(first, packet, 12, t + 4) || !same(first, packet, t + 8, t + 13) ||
      !same(first, packet, t + 14, t + 16) || !same(first, packet, t + 18, header_len_)) {
    return false;
  }
  if (wire::load_be32(packet.data() + t + 4) != next_seq_) return false;
  std::memcpy(buf_.data() + size_, packet.data() + header_len_, payload);
  size_ += payload;
  next_seq_ += static_cast<uint32_t>(payload);
  ++segments_;
  // A short segment or a push ends the run; the PSH goes on the super-segment, which the
  // kernel's GSO leaves on the last segment only.
  if (payload < gso_size_ || flags != kAck) {
    closed_ = true;
    buf_[vnet::kHeaderSize + t + 13] |= flags & kPsh;
  }
  return true;
}

void TsoCoalescer::finish() {
  std::byte* ip = buf_.data() + vnet::kHeaderSize;
  if (segments_ == 1) {
    // The stack's packet as it was: nothing for the kernel to do.
    std::memcpy(buf_.data(), kPlainHeader, vnet::kHeaderSize);
    return;
  }
  const auto total = static_cast<uint16_t>(size_ - vnet::kHeaderSize);
  wire::store_be16(ip + 2, total);
  wire::store_be16(ip + 10, 0);
  wire::store_be16(ip + 10, wire::internet_checksum(wire::Bytes(ip, kIpv4HeaderLen)));
  // CHECKSUM_PARTIAL: the field holds the pseudo-header's sum (RFC 9293 §3.1), not
  // complemented; the kernel adds the segment's bytes for each segment it cuts.
  wire::ChecksumAccumulator pseudo;
  pseudo.add(wire::Bytes(ip + 12, 8));  // source and destination addresses
  pseudo.add_u16(kTcpProtocol);
  pseudo.add_u16(static_cast<uint16_t>(total - kIpv4HeaderLen));
  wire::store_be16(ip + kIpv4HeaderLen + 16, pseudo.sum());
  vnet::store(buf_.data(), vnet::Header{.flags = vnet::kNeedsCsum,
                                        .gso_type = vnet::kGsoTcpV4,
                                        .hdr_len = static_cast<uint16_t>(header_len_),
                                        .gso_size = gso_size_,
                                        .csum_start = kIpv4HeaderLen,
                                        .csum_offset = 16});
  ++counters_.super_segments;
  counters_.segments += segments_;
}

}  // namespace synack::dev
