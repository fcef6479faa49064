// TUN offloads: the coalescing of segments into TSO super-segments, checked against a
// reference of what the kernel's GSO does with them (cut at gso_size, the first header on
// every segment with its sequence number advanced, PSH on the last only, checksums
// completed), and the completion of partial checksums on receive.
#include "synack/dev/tun_offload.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "synack/wire/checksum.hpp"
#include "synack/wire/ipv4.hpp"
#include "synack/wire/tcp.hpp"

namespace synack::dev {
namespace {

using Packet = std::vector<std::byte>;

constexpr auto kSrc = wire::Ipv4Address::from_octets(10, 0, 0, 2);
constexpr auto kDst = wire::Ipv4Address::from_octets(10, 0, 0, 1);
constexpr uint16_t kMss = 1448;

struct Seg {
  uint32_t seq = 1000;
  size_t len = kMss;
  uint16_t flags = wire::TcpFlags::kAck;
  uint32_t ack = 5000;
  uint32_t tsval = 77;
  uint16_t ip_id = 1;
};

// A segment as synack's stack emits it: option-less IPv4, TCP with timestamps.
Packet make(const Seg& s) {
  std::vector<std::byte> payload(s.len);
  for (size_t i = 0; i < s.len; ++i)
    payload[i] = static_cast<std::byte>((s.seq + i) * 7);
  wire::TcpRepr tcp{.src_port = 40000,
                    .dst_port = 80,
                    .seq = wire::SeqNum(s.seq),
                    .ack = wire::SeqNum(s.ack),
                    .flags = wire::TcpFlags(s.flags).without(wire::TcpFlags::kAck),
                    .window = 512};
  tcp.options.timestamps = wire::TcpTimestamps{.value = s.tsval, .echo_reply = 3};
  tcp.payload = payload;
  wire::Ipv4Repr ip{.src = kSrc,
                    .dst = kDst,
                    .identification = s.ip_id,
                    .payload_len = static_cast<uint16_t>(tcp.size())};
  Packet out(ip.total_len());
  ip.emit(out);
  tcp.emit(wire::MutableBytes(out).subspan(20), ip.pseudo_header());
  return out;
}

struct Frame {
  vnet::Header header;
  Packet packet;
};

struct Capture {
  std::vector<Frame> frames;
  void operator()(wire::Bytes header, wire::Bytes packet) {
    frames.push_back({vnet::load(header.data()), Packet(packet.begin(), packet.end())});
  }
};

std::vector<Frame> coalesce(const std::vector<Packet>& packets) {
  TsoCoalescer tso;
  Capture out;
  for (const auto& p : packets)
    tso.add(p, std::ref(out));
  tso.flush(std::ref(out));
  EXPECT_FALSE(tso.pending());
  return out.frames;
}

// What the kernel's GSO makes of a frame (tcp_gso_segment, inet_gso_segment): the packets
// with completed checksums. Frames without GSO are the packet itself.
std::vector<Packet> segment(const Frame& f) {
  if (f.header.gso_type == vnet::kGsoNone) return {f.packet};
  EXPECT_EQ(f.header.flags, vnet::kNeedsCsum);
  EXPECT_EQ(f.header.csum_start, 20);
  EXPECT_EQ(f.header.csum_offset, 16);
  const size_t hl = f.header.hdr_len;
  const size_t mss = f.header.gso_size;
  std::vector<Packet> out;
  const uint32_t seq0 = wire::load_be32(f.packet.data() + 24);
  const auto flags0 = f.packet[33];
  const uint16_t id0 = wire::load_be16(f.packet.data() + 4);
  for (size_t at = hl, i = 0; at < f.packet.size(); at += mss, ++i) {
    const size_t len = std::min(mss, f.packet.size() - at);
    Packet p(f.packet.begin(), f.packet.begin() + static_cast<ptrdiff_t>(hl));
    p.insert(p.end(), f.packet.begin() + static_cast<ptrdiff_t>(at),
             f.packet.begin() + static_cast<ptrdiff_t>(at + len));
    const bool last = at + len == f.packet.size();
    wire::store_be16(p.data() + 2, static_cast<uint16_t>(p.size()));
    wire::store_be16(p.data() + 4, static_cast<uint16_t>(id0 + i));
    wire::store_be16(p.data() + 10, 0);
    wire::store_be16(p.data() + 10, wire::internet_checksum(wire::Bytes(p.data(), 20)));
    wire::store_be32(p.data() + 24, seq0 + static_cast<uint32_t>(at - hl));
    p[33] = last ? flags0 : (flags0 & ~std::byte{0x09});  // FIN and PSH on the last only
    // The kernel completes the checksum from the pseudo-header with this segment's length.
    wire::ChecksumAccumulator sum =
        wire::PseudoHeader::ipv4(kSrc, kDst, 6).start(static_cast<uint32_t>(p.size() - 20));
    wire::store_be16(p.data() + 36, 0);
    sum.add(wire::Bytes(p.data() + 20, p.size() - 20));
    wire::store_be16(p.data() + 36, sum.checksum());
    out.push_back(std::move(p));
  }
  return out;
}

// Byte for byte what the stack sent, but for the IP id the kernel numbers (and so the IP
// checksum).
void expect_same_segments(const std::vector<Packet>& sent, const std::vector<Frame>& frames) {
  std::vector<Packet> wire_packets;
  for (const auto& f : frames)
    for (auto& p : segment(f))
      wire_packets.push_back(std::move(p));
  ASSERT_EQ(wire_packets.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    Packet a = sent[i];
    Packet b = wire_packets[i];
    ASSERT_EQ(a.size(), b.size()) << "packet " << i;
    for (auto* p : {&a, &b})
      std::memset(p->data() + 4, 0, 2), std::memset(p->data() + 10, 0, 2);
    EXPECT_EQ(a, b) << "packet " << i;
    // And the reference's packet parses, checksums verified, as the stack parses.
    auto ip = wire::Ipv4View::parse(wire_packets[i]);
    ASSERT_TRUE(ip.has_value()) << "packet " << i;
  }
}

std::vector<Packet> run(uint32_t seq, size_t count, size_t len = kMss) {
  std::vector<Packet> out;
  for (size_t i = 0; i < count; ++i)
    out.push_back(make({.seq = seq + static_cast<uint32_t>(i * len),
                        .len = len,
                        .ip_id = static_cast<uint16_t>(i + 1)}));
  return out;
}

TEST(TsoCoalescer, MergesConsecutiveFullSegmentsIntoOneTsoFrame) {
  const auto sent = run(1000, 10);
  const auto frames = coalesce(sent);
  ASSERT_EQ(frames.size(), 1u);
  const Frame& f = frames[0];
  EXPECT_EQ(f.header.gso_type, vnet::kGsoTcpV4);
  EXPECT_EQ(f.header.gso_size, kMss);
  EXPECT_EQ(f.header.hdr_len, 20 + 32);  // timestamps: 12 bytes of options
  EXPECT_EQ(f.packet.size(), 52 + 10 * kMss);
  EXPECT_EQ(wire::load_be16(f.packet.data() + 2), f.packet.size());
  EXPECT_EQ(wire::internet_checksum(wire::Bytes(f.packet.data(), 20)), 0);  // IP header valid
  expect_same_segments(sent, frames);
}

TEST(TsoCoalescer, CompletedPartialChecksumMakesAValidLargeSegment) {
  // What a capture of the frame (or the kernel's receive path, for the other direction)
  // sees after vnet::accept_packet: one TCP segment of 10 MSS with a correct checksum.
  auto frames = coalesce(run(1000, 10));
  ASSERT_EQ(frames.size(), 1u);
  ASSERT_FALSE(vnet::accept_packet(frames[0].header, frames[0].packet));
  auto ip = wire::Ipv4View::parse(frames[0].packet);
  ASSERT_TRUE(ip.has_value());
  auto tcp = wire::TcpView::parse(ip->payload(), wire::PseudoHeader::ipv4(kSrc, kDst, 6));
  ASSERT_TRUE(tcp.has_value());
  EXPECT_EQ(tcp->payload().size(), 10u * kMss);
}

TEST(TsoCoalescer, PushEndsTheRunAndStaysOnTheLastSegmentOnly) {
  auto sent = run(1000, 4);
  sent[2] = make(
      {.seq = 1000 + 2 * kMss, .flags = wire::TcpFlags::kAck | wire::TcpFlags::kPsh, .ip_id = 3});
  const auto frames = coalesce(sent);
  ASSERT_EQ(frames.size(), 2u);  // 3 merged (PSH last), then the 4th alone
  EXPECT_EQ(frames[0].packet.size(), 52 + 3 * kMss);
  EXPECT_EQ(frames[1].header.gso_type, vnet::kGsoNone);
  expect_same_segments(sent, frames);
}

TEST(TsoCoalescer, AShortSegmentEndsTheRun) {
  std::vector<Packet> sent = run(1000, 3);
  sent.push_back(make({.seq = 1000 + 3 * kMss, .len = 100, .ip_id = 4}));
  for (auto& p : run(1000 + 3 * kMss + 100, 2))
    sent.push_back(p);
  const auto frames = coalesce(sent);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].packet.size(), 52 + 3 * kMss + 100);
  expect_same_segments(sent, frames);
}

TEST(TsoCoalescer, SegmentsThatDifferBeyondTheSequenceNumberAreNotMerged) {
  std::vector<Packet> sent;
  sent.push_back(make({.seq = 1000}));
  sent.push_back(make({.seq = 1000 + kMss, .ack = 6000}));                   // another ACK number
  sent.push_back(make({.seq = 1000 + 2 * kMss, .ack = 6000, .tsval = 78}));  // timestamp
  sent.push_back(make({.seq = 1000 + 2 * kMss, .ack = 6000, .tsval = 78}));  // not contiguous
  const auto frames = coalesce(sent);
  EXPECT_EQ(frames.size(), 4u);
  for (const auto& f : frames)
    EXPECT_EQ(f.header.gso_type, vnet::kGsoNone);
  expect_same_segments(sent, frames);
}

TEST(TsoCoalescer, PacketsThatCannotStartARunGoOutAloneInOrder) {
  std::vector<Packet> sent = run(1000, 3);
  sent.push_back(make({.seq = 9999, .len = 0}));  // a pure ACK
  sent.push_back(
      make({.seq = 1000 + 3 * kMss, .flags = wire::TcpFlags::kAck | wire::TcpFlags::kFin}));
  for (auto& p : run(500000, 2))
    sent.push_back(p);
  const auto frames = coalesce(sent);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[0].header.gso_type, vnet::kGsoTcpV4);
  EXPECT_EQ(frames[1].header.gso_type, vnet::kGsoNone);
  EXPECT_EQ(frames[2].header.gso_type, vnet::kGsoNone);
  EXPECT_EQ(frames[3].header.gso_type, vnet::kGsoTcpV4);
  expect_same_segments(sent, frames);
}

TEST(TsoCoalescer, AFrameHoldsAtMost64KiB) {
  const auto sent = run(1000, 100);
  const auto frames = coalesce(sent);
  ASSERT_GE(frames.size(), 3u);
  for (const auto& f : frames)
    EXPECT_LE(f.packet.size(), 65535u);
  EXPECT_EQ(frames[0].packet.size(), 52 + 45 * kMss);  // 45 x 1448 + 52 <= 65535 < 46 x ...
  expect_same_segments(sent, frames);
}

TEST(TsoCoalescer, ALoneDataSegmentGoesOutAsItWas) {
  const auto sent = run(1000, 1);
  const auto frames = coalesce(sent);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].header.gso_type, vnet::kGsoNone);
  EXPECT_EQ(frames[0].header.flags, 0);
  EXPECT_EQ(frames[0].packet, sent[0]);
}

TEST(VnetAcceptPacket, RefusesWhatItCannotTrust) {
  Packet p = make({});
  EXPECT_EQ(vnet::accept_packet({.flags = vnet::kNeedsCsum,
                                 .csum_start = 20,
                                 .csum_offset = static_cast<uint16_t>(p.size())},
                                p),
            vnet::RxError::kBadChecksum);
  EXPECT_EQ(vnet::accept_packet({.flags = vnet::kNeedsCsum, .csum_start = 60000}, p),
            vnet::RxError::kBadChecksum);
  EXPECT_EQ(vnet::accept_packet({.gso_type = 4 /* UDP */}, p), vnet::RxError::kUnknownGso);
  EXPECT_FALSE(vnet::accept_packet({.gso_type = vnet::kGsoTcpV4 | vnet::kGsoEcn}, p));
  EXPECT_FALSE(vnet::accept_packet({}, p));
}

TEST(VnetAcceptPacket, CompletesAPartialChecksum) {
  Packet p = make({.len = 3000});
  // As the kernel sends it: the field holds the pseudo-header's sum only.
  wire::ChecksumAccumulator pseudo =
      wire::PseudoHeader::ipv4(kSrc, kDst, 6).start(static_cast<uint32_t>(p.size() - 20));
  wire::store_be16(p.data() + 36, pseudo.sum());
  auto before = wire::Ipv4View::parse(p);
  ASSERT_TRUE(before.has_value());
  EXPECT_FALSE(wire::TcpView::parse(before->payload(), wire::PseudoHeader::ipv4(kSrc, kDst, 6)));
  ASSERT_FALSE(vnet::accept_packet(
      {.flags = vnet::kNeedsCsum, .gso_type = vnet::kGsoTcpV4, .csum_start = 20, .csum_offset = 16},
      p));
  auto after = wire::Ipv4View::parse(p);
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(wire::TcpView::parse(after->payload(), wire::PseudoHeader::ipv4(kSrc, kDst, 6)));
}

}  // namespace
}  // namespace synack::dev

namespace synack::dev {
namespace {

TEST(VnetAcceptPacket, LeavesAPartialTcpChecksumForTheStackToTrustUnlessAsked) {
  Packet p = make({.len = 3000});
  wire::store_be16(p.data() + 36, 0x1234);  // as partial as it gets
  const vnet::Header h{.flags = vnet::kNeedsCsum, .csum_start = 20, .csum_offset = 16};
  ASSERT_FALSE(vnet::accept_packet(h, p, /*complete=*/false));
  EXPECT_EQ(wire::load_be16(p.data() + 36), 0x1234) << "left as the kernel sent it";
  EXPECT_TRUE(vnet::checksum_trusted(h, p));
  EXPECT_TRUE(vnet::checksum_trusted({.flags = vnet::kDataValid}, p));
  EXPECT_FALSE(vnet::checksum_trusted({}, p)) << "a packet the kernel says nothing about";
  Packet icmp = p;
  icmp[9] = std::byte{1};
  EXPECT_FALSE(vnet::checksum_trusted(h, icmp)) << "only TCP's checksum is skipped";
}

}  // namespace
}  // namespace synack::dev
