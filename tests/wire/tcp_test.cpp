#include "synack/wire/tcp.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>
#include <vector>

#include "kernel_packets.hpp"
#include "synack/wire/ipv4.hpp"
#include "wire_test_util.hpp"

namespace synack::wire {
namespace {

using test::bytes_of;
using test::ByteVec;
using test::fails_with;
using test::hex;
using test::parses;
using test::put_be16;
using test::to_hex;

const Ipv4Address kHostA = Ipv4Address::from_octets(10, 0, 0, 1);
const Ipv4Address kHostB = Ipv4Address::from_octets(10, 0, 0, 2);

// A kernel-captured TCP segment with its addresses. Move-only: `tcp` points into `packet`.
struct KernelSegment {
  ByteVec packet;
  Ipv4Address src;
  Ipv4Address dst;
  Bytes tcp;

  PseudoHeader pseudo() const { return PseudoHeader::ipv4(src, dst, ip_protocol::kTcp); }
  ByteVec tcp_copy() const { return ByteVec(tcp.begin(), tcp.end()); }
};

KernelSegment kernel_segment(std::string_view golden) {
  KernelSegment s{hex(golden), {}, {}, {}};
  const auto ip = Ipv4View::parse(s.packet);
  EXPECT_TRUE(parses(ip));
  if (ip) {
    EXPECT_EQ(ip->protocol(), ip_protocol::kTcp);
    s.src = ip->src();
    s.dst = ip->dst();
    s.tcp = ip->payload();
  }
  return s;
}

// The checksum of pseudo-header + segment by the test's own reference code.
uint16_t reference_tcp_sum(Ipv4Address src, Ipv4Address dst, Bytes segment) {
  const ByteVec all =
      test::concat(test::reference_pseudo_header(src, dst, ip_protocol::kTcp,
                                                 static_cast<uint16_t>(segment.size())),
                   segment);
  return test::reference_sum(all);
}

TcpRepr parse_repr(const KernelSegment& s) {
  const auto view = TcpView::parse(s.tcp, s.pseudo());
  EXPECT_TRUE(parses(view));
  return view ? TcpRepr::parse(*view) : TcpRepr{};
}

// ---- golden kernel segments ----

TEST(TcpView, KernelSyn) {
  const KernelSegment s = kernel_segment(test::kernel::kSyn);
  const auto view = TcpView::parse(s.tcp, s.pseudo());
  ASSERT_TRUE(parses(view));
  EXPECT_EQ(view->src_port(), 40000);
  EXPECT_EQ(view->dst_port(), 5555);
  EXPECT_EQ(view->seq(), SeqNum(2459123363));
  EXPECT_EQ(view->ack_number(), SeqNum(0));
  EXPECT_EQ(view->flags(), TcpFlags(TcpFlags::kSyn));
  EXPECT_EQ(view->window(), 64240);
  EXPECT_EQ(view->checksum(), 0xb15d);
  EXPECT_EQ(view->urgent_pointer(), 0);
  EXPECT_EQ(view->header_len(), 40u);
  EXPECT_EQ(view->options().size(), 20u);
  EXPECT_TRUE(view->payload().empty());
  EXPECT_EQ(view->bytes().size(), 40u);

  const TcpRepr repr = TcpRepr::parse(*view);
  EXPECT_EQ(repr.src_port, 40000);
  EXPECT_EQ(repr.dst_port, 5555);
  EXPECT_EQ(repr.seq, SeqNum(2459123363));
  EXPECT_FALSE(repr.ack.has_value());
  EXPECT_FALSE(repr.urgent.has_value());
  EXPECT_EQ(repr.flags, TcpFlags(TcpFlags::kSyn));
  EXPECT_EQ(repr.window, 64240);
  EXPECT_EQ(repr.options.mss, 1460);
  EXPECT_TRUE(repr.options.sack_permitted);
  EXPECT_EQ(repr.options.timestamps, (TcpTimestamps{3764855834, 0}));
  EXPECT_EQ(repr.options.window_scale, 10);
  EXPECT_TRUE(repr.payload.empty());
  EXPECT_EQ(repr.segment_len(), SeqLen(1));
  EXPECT_EQ(repr.wire_flags(), view->flags());
}

TEST(TcpView, KernelSynAck) {
  const KernelSegment s = kernel_segment(test::kernel::kSynAck);
  const TcpRepr repr = parse_repr(s);
  EXPECT_EQ(repr.src_port, 5555);
  EXPECT_EQ(repr.dst_port, 40000);
  EXPECT_EQ(repr.seq, SeqNum(3456866686));
  EXPECT_EQ(repr.ack, SeqNum(2459123364));  // the SYN's seq + 1
  EXPECT_EQ(repr.flags, TcpFlags(TcpFlags::kSyn));
  EXPECT_EQ(repr.wire_flags(), TcpFlags(TcpFlags::kSyn | TcpFlags::kAck));
  EXPECT_EQ(repr.window, 65160);
  EXPECT_EQ(repr.options.mss, 1460);
  EXPECT_EQ(repr.options.timestamps, (TcpTimestamps{2382602817, 3764855834}));
  EXPECT_EQ(repr.options.window_scale, 10);
  EXPECT_EQ(repr.segment_len(), SeqLen(1));
}

TEST(TcpView, KernelDataSegments) {
  {
    const KernelSegment s = kernel_segment(test::kernel::kData);
    const TcpRepr repr = parse_repr(s);
    EXPECT_EQ(repr.seq, SeqNum(2459123364));
    EXPECT_EQ(repr.ack, SeqNum(3456866687));
    EXPECT_EQ(repr.flags, TcpFlags(TcpFlags::kPsh));
    EXPECT_EQ(repr.window, 63);
    EXPECT_EQ(repr.options.timestamps, (TcpTimestamps{3764855834, 2382602817}));
    EXPECT_FALSE(repr.options.mss.has_value());
    EXPECT_EQ(to_hex(repr.payload), to_hex(bytes_of("hello, synack\n")));
    EXPECT_EQ(repr.segment_len(), SeqLen(14));
  }
  {
    // An odd-length payload: the checksum pads the last byte.
    const KernelSegment s = kernel_segment(test::kernel::kOddData);
    const TcpRepr repr = parse_repr(s);
    EXPECT_EQ(repr.seq, SeqNum(3456866687));
    EXPECT_EQ(repr.ack, SeqNum(2459123378));
    EXPECT_EQ(to_hex(repr.payload), to_hex(bytes_of("odd!!")));
    EXPECT_EQ(repr.segment_len(), SeqLen(5));
  }
}

TEST(TcpView, KernelFinAndRst) {
  {
    const TcpRepr fin = parse_repr(kernel_segment(test::kernel::kFin));
    EXPECT_EQ(fin.seq, SeqNum(2459123378));
    EXPECT_EQ(fin.ack, SeqNum(3456866692));
    EXPECT_EQ(fin.flags, TcpFlags(TcpFlags::kFin));
    EXPECT_EQ(fin.segment_len(), SeqLen(1));
  }
  {
    const KernelSegment s = kernel_segment(test::kernel::kRst);
    const auto view = TcpView::parse(s.tcp, s.pseudo());
    ASSERT_TRUE(parses(view));
    EXPECT_EQ(view->header_len(), 20u);
    EXPECT_TRUE(view->options().empty());
    const TcpRepr rst = TcpRepr::parse(*view);
    EXPECT_EQ(rst.src_port, 5556);
    EXPECT_EQ(rst.dst_port, 40001);
    EXPECT_EQ(rst.seq, SeqNum(0));
    EXPECT_EQ(rst.ack, SeqNum(3367789514));
    EXPECT_EQ(rst.flags, TcpFlags(TcpFlags::kRst));
    EXPECT_EQ(rst.window, 0);
    EXPECT_EQ(rst.options, TcpOptions{});
    EXPECT_EQ(rst.segment_len(), SeqLen(0));
  }
}

TEST(TcpView, KernelSynWithoutTimestamps) {
  const TcpRepr syn = parse_repr(kernel_segment(test::kernel::kSynNoTimestamps));
  EXPECT_EQ(syn.options.mss, 1460);
  EXPECT_TRUE(syn.options.sack_permitted);
  EXPECT_EQ(syn.options.window_scale, 10);
  EXPECT_FALSE(syn.options.timestamps.has_value());
}

TEST(TcpRepr, EmitReproducesKernelSegments) {
  for (const std::string_view golden :
       {test::kernel::kSyn, test::kernel::kSynAck, test::kernel::kAck, test::kernel::kData,
        test::kernel::kOddData, test::kernel::kFin, test::kernel::kRst,
        test::kernel::kSynNoTimestamps}) {
    const KernelSegment s = kernel_segment(golden);
    const TcpRepr repr = parse_repr(s);
    ASSERT_EQ(repr.size(), s.tcp.size());
    ByteVec out(repr.size());
    repr.emit(out, s.pseudo());
    EXPECT_EQ(to_hex(out), to_hex(s.tcp));
  }
}

// ---- checksum ----

TEST(TcpView, ChecksumNeedsTheRightPseudoHeader) {
  const KernelSegment s = kernel_segment(test::kernel::kData);
  const Ipv4Address other = Ipv4Address::from_octets(10, 0, 0, 3);
  EXPECT_TRUE(parses(TcpView::parse(s.tcp, s.pseudo())));
  EXPECT_TRUE(fails_with(TcpView::parse(s.tcp, PseudoHeader::ipv4(other, s.dst, ip_protocol::kTcp)),
                         ParseError::kTcpBadChecksum));
  EXPECT_TRUE(fails_with(TcpView::parse(s.tcp, PseudoHeader::ipv4(s.src, other, ip_protocol::kTcp)),
                         ParseError::kTcpBadChecksum));
  EXPECT_TRUE(fails_with(TcpView::parse(s.tcp, PseudoHeader::ipv4(s.src, s.dst, ip_protocol::kUdp)),
                         ParseError::kTcpBadChecksum));
  // The pseudo-header's length is the segment's: one byte fewer no longer verifies.
  EXPECT_TRUE(fails_with(TcpView::parse(s.tcp.first(s.tcp.size() - 1), s.pseudo()),
                         ParseError::kTcpBadChecksum));
  // Without a pseudo-header nothing is verified.
  EXPECT_TRUE(parses(TcpView::parse(s.tcp)));
  // Swapping source and destination cannot be detected: the ones'-complement sum commutes.
  EXPECT_TRUE(parses(TcpView::parse(s.tcp, PseudoHeader::ipv4(s.dst, s.src, ip_protocol::kTcp))));
}

TEST(TcpView, AnyFlippedBitFailsTheChecksum) {
  for (const std::string_view golden : {test::kernel::kData, test::kernel::kOddData}) {
    const KernelSegment s = kernel_segment(golden);
    const ByteVec segment = s.tcp_copy();
    for (size_t i = 0; i < segment.size(); ++i) {
      for (unsigned bit = 0; bit < 8; ++bit) {
        if (i == 12 && bit >= 4) continue;  // the data offset is checked first
        ByteVec bad = segment;
        bad[i] ^= static_cast<std::byte>(1u << bit);
        EXPECT_TRUE(fails_with(TcpView::parse(bad, s.pseudo()), ParseError::kTcpBadChecksum))
            << "byte " << i << " bit " << bit;
      }
    }
  }
}

TEST(TcpView, ChecksumOfOddSegmentAgreesWithReference) {
  const KernelSegment s = kernel_segment(test::kernel::kOddData);
  EXPECT_EQ(s.tcp.size() % 2, 1u);
  EXPECT_EQ(reference_tcp_sum(s.src, s.dst, s.tcp), 0xffff);
}

// ---- header validation ----

TEST(TcpView, ShorterThanTwentyBytesIsTruncated) {
  const KernelSegment s = kernel_segment(test::kernel::kRst);
  for (size_t n = 0; n < kTcpMinHeaderLen; ++n) {
    EXPECT_TRUE(fails_with(TcpView::parse(s.tcp.first(n)), ParseError::kTcpTruncated)) << n;
    EXPECT_TRUE(fails_with(TcpView::parse(s.tcp.first(n), s.pseudo()), ParseError::kTcpTruncated))
        << n;
  }
}

TEST(TcpView, DataOffsetBelowFiveOrBeyondTheSegment) {
  const KernelSegment s = kernel_segment(test::kernel::kSyn);  // 40 bytes, data offset 10
  for (unsigned offset = 0; offset < 16; ++offset) {
    ByteVec segment = s.tcp_copy();
    segment[12] =
        static_cast<std::byte>((offset << 4) | (std::to_integer<unsigned>(segment[12]) & 0xf));
    const auto view = TcpView::parse(segment);
    if (offset >= 5 && offset * 4 <= segment.size()) {
      // In range: either valid, or the options it now covers are judged.
      if (view) {
        EXPECT_EQ(view->header_len(), offset * 4);
      } else {
        EXPECT_NE(view.error(), ParseError::kTcpBadDataOffset) << "offset " << offset;
      }
    } else {
      EXPECT_TRUE(fails_with(view, ParseError::kTcpBadDataOffset)) << "offset " << offset;
      EXPECT_TRUE(fails_with(TcpView::parse(segment, s.pseudo()), ParseError::kTcpBadDataOffset))
          << "offset " << offset;
    }
  }
  // A header exactly filling the segment is fine; one byte less is not.
  const ByteVec syn = s.tcp_copy();
  EXPECT_TRUE(parses(TcpView::parse(syn)));
  EXPECT_TRUE(fails_with(TcpView::parse(Bytes(syn).first(39)), ParseError::kTcpBadDataOffset));
}

TEST(TcpView, OptionErrorsAreReported) {
  const KernelSegment s = kernel_segment(test::kernel::kSyn);
  struct Case {
    size_t at;
    unsigned value;
    ParseError error;
  };
  // Options start at byte 20: 02 04 05 b4 04 02 08 0a ...
  for (const Case& c : {Case{21, 0x00, ParseError::kTcpOptionBadLength},
                        Case{21, 0x03, ParseError::kTcpOptionWrongLength},
                        Case{21, 0x30, ParseError::kTcpOptionOverrun},
                        Case{27, 0x09, ParseError::kTcpOptionWrongLength},
                        Case{24, 0x05, ParseError::kTcpOptionBadSackLength}}) {
    ByteVec segment = s.tcp_copy();
    segment[c.at] = static_cast<std::byte>(c.value);
    EXPECT_TRUE(fails_with(TcpView::parse(segment), c.error)) << "byte " << c.at;
  }
}

// ---- flags ----

TEST(TcpFlagsWire, EachBitSitsWhereTheRfcsPutIt) {
  // RFC 9293 §3.1 (URG..FIN), RFC 3168 §6.1 (CWR, ECE), RFC 9768 (AE, formerly NS), and
  // the three reserved bits: byte 12 holds data offset, reserved, AE; byte 13 the rest.
  struct Case {
    uint16_t flag;
    unsigned byte12;
    unsigned byte13;
  };
  for (const Case& c : {Case{TcpFlags::kFin, 0x00, 0x01}, Case{TcpFlags::kSyn, 0x00, 0x02},
                        Case{TcpFlags::kRst, 0x00, 0x04}, Case{TcpFlags::kPsh, 0x00, 0x08},
                        Case{TcpFlags::kEce, 0x00, 0x40}, Case{TcpFlags::kCwr, 0x00, 0x80},
                        Case{TcpFlags::kAe, 0x01, 0x00}, Case{0x200, 0x02, 0x00},
                        Case{0x400, 0x04, 0x00}, Case{0x800, 0x08, 0x00}}) {
    TcpRepr repr;
    repr.flags = TcpFlags(c.flag);
    ByteVec out(repr.size());
    repr.emit(out, PseudoHeader::ipv4(kHostA, kHostB, ip_protocol::kTcp));
    EXPECT_EQ(std::to_integer<unsigned>(out[12]), 0x50 | c.byte12) << "flag " << c.flag;
    EXPECT_EQ(std::to_integer<unsigned>(out[13]), c.byte13) << "flag " << c.flag;
    const auto view = TcpView::parse(out);
    ASSERT_TRUE(parses(view));
    EXPECT_EQ(view->flags().bits(), c.flag);
    EXPECT_EQ(TcpRepr::parse(*view), repr);
  }
  // ACK and URG come from the optionals.
  TcpRepr repr;
  repr.ack = SeqNum(1);
  repr.urgent = 1;
  ByteVec out(repr.size());
  repr.emit(out, PseudoHeader::ipv4(kHostA, kHostB, ip_protocol::kTcp));
  EXPECT_EQ(std::to_integer<unsigned>(out[13]), 0x10u | 0x20u);
}

// emit() copies and checksums the payload in one pass: the same bytes as emit_header()
// followed by the payload, for every payload length parity and header length.
TEST(TcpEmit, EmitEqualsHeaderThenPayloadForAnyLength) {
  const auto pseudo = PseudoHeader::ipv4(kHostA, kHostB, ip_protocol::kTcp);
  ByteVec data(1500);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<std::byte>(i * 7 + 3);
  for (const bool with_ts : {false, true}) {
    for (size_t len :
         {size_t{0}, size_t{1}, size_t{2}, size_t{7}, size_t{33}, size_t{1447}, size_t{1448}}) {
      TcpRepr repr;
      repr.src_port = 1;
      repr.dst_port = 2;
      repr.seq = SeqNum(3);
      repr.ack = SeqNum(4);
      if (with_ts) repr.options.timestamps = TcpTimestamps{5, 6};
      repr.payload = Bytes(data).subspan(1, len);
      ByteVec one(repr.size());
      repr.emit(one, pseudo);
      ByteVec two(repr.size());
      repr.emit_header(two, pseudo);
      std::copy(repr.payload.begin(), repr.payload.end(),
                two.begin() + static_cast<std::ptrdiff_t>(repr.header_len()));
      EXPECT_EQ(one, two) << "len " << len << " ts " << with_ts;
      EXPECT_TRUE(parses(TcpView::parse(one, pseudo)));
    }
  }
}

TEST(TcpFlagsWire, ReservedAeCwrEcePreservedThroughRoundTrip) {
  TcpRepr repr;
  repr.src_port = 1;
  repr.dst_port = 2;
  repr.seq = SeqNum(3);
  repr.ack = SeqNum(4);
  repr.flags = TcpFlags(TcpFlags::kReserved | TcpFlags::kAe | TcpFlags::kCwr | TcpFlags::kEce |
                        TcpFlags::kPsh);
  const auto pseudo = PseudoHeader::ipv4(kHostA, kHostB, ip_protocol::kTcp);
  ByteVec out(repr.size());
  repr.emit(out, pseudo);
  EXPECT_EQ(to_hex(Bytes(out).subspan(12, 2)), "5f d8");
  const auto view = TcpView::parse(out, pseudo);
  ASSERT_TRUE(parses(view));
  EXPECT_EQ(view->flags().bits(), 0xfd8);
  const TcpRepr back = TcpRepr::parse(*view);
  EXPECT_EQ(back, repr);
  EXPECT_TRUE(back.flags.has(TcpFlags::kReserved));
  EXPECT_TRUE(back.flags.has(TcpFlags::kAe));
  EXPECT_TRUE(back.flags.cwr());
  EXPECT_TRUE(back.flags.ece());
}

TEST(TcpFlagsWire, FlagsValueType) {
  const TcpFlags f = TcpFlags(TcpFlags::kSyn).with(TcpFlags::kAck);
  EXPECT_TRUE(f.syn());
  EXPECT_TRUE(f.ack());
  EXPECT_FALSE(f.fin());
  EXPECT_TRUE(f.has(TcpFlags::kSyn | TcpFlags::kAck));
  EXPECT_FALSE(f.has(TcpFlags::kSyn | TcpFlags::kFin));
  EXPECT_EQ(f.without(TcpFlags::kAck), TcpFlags(TcpFlags::kSyn));
  EXPECT_EQ(TcpFlags(0xffff).bits(), TcpFlags::kAll);  // only 12 bits exist
}

// ---- ACK / URG are optional exactly when their flag is set ----

TEST(TcpRepr, AckNumberIgnoredWithoutAckFlag) {
  const KernelSegment s = kernel_segment(test::kernel::kSyn);
  ByteVec segment = s.tcp_copy();
  test::put_be32(segment, 8, 0x12345678);  // garbage in the ack field of a SYN
  const auto view = TcpView::parse(segment);
  ASSERT_TRUE(parses(view));
  EXPECT_EQ(view->ack_number(), SeqNum(0x12345678));
  const TcpRepr repr = TcpRepr::parse(*view);
  EXPECT_FALSE(repr.ack.has_value());
  ByteVec out(repr.size());
  repr.emit(out, s.pseudo());
  EXPECT_EQ(to_hex(Bytes(out).subspan(8, 4)), "00 00 00 00");
}

TEST(TcpRepr, UrgentPointerOnlyWithUrgFlag) {
  const KernelSegment s = kernel_segment(test::kernel::kData);
  ByteVec segment = s.tcp_copy();
  put_be16(segment, 18, 7);
  {
    const TcpRepr repr = TcpRepr::parse(*TcpView::parse(segment));
    EXPECT_FALSE(repr.urgent.has_value());
    ByteVec out(repr.size());
    repr.emit(out, s.pseudo());
    EXPECT_EQ(to_hex(Bytes(out).subspan(18, 2)), "00 00");
  }
  segment[13] |= std::byte{0x20};  // URG
  {
    const TcpRepr repr = TcpRepr::parse(*TcpView::parse(segment));
    EXPECT_EQ(repr.urgent, 7);
    EXPECT_FALSE(repr.flags.urg());
    EXPECT_TRUE(repr.wire_flags().urg());
    ByteVec out(repr.size());
    repr.emit(out, s.pseudo());
    // Byte for byte the edited segment, with a checksum recomputed by the reference.
    ByteVec want = segment;
    put_be16(want, 16, 0);
    put_be16(want, 16, static_cast<uint16_t>(~reference_tcp_sum(s.src, s.dst, want)));
    EXPECT_EQ(to_hex(out), to_hex(want));
    EXPECT_EQ(std::to_integer<unsigned>(out[13]), 0x38u);  // URG | ACK | PSH
    EXPECT_EQ(to_hex(Bytes(out).subspan(18, 2)), "00 07");
  }
}

TEST(TcpRepr, FlagBitsWithoutValuesAreNotSent) {
  TcpRepr repr;
  repr.flags = TcpFlags(TcpFlags::kAck | TcpFlags::kUrg | TcpFlags::kSyn);
  EXPECT_EQ(repr.wire_flags(), TcpFlags(TcpFlags::kSyn));
  ByteVec out(repr.size());
  repr.emit(out, PseudoHeader::ipv4(kHostA, kHostB, ip_protocol::kTcp));
  EXPECT_EQ(std::to_integer<unsigned>(out[13]), 0x02u);
  // A zero acknowledgment number and a zero urgent pointer are still values.
  repr.ack = SeqNum(0);
  repr.urgent = 0;
  EXPECT_EQ(repr.wire_flags(), TcpFlags(TcpFlags::kSyn | TcpFlags::kAck | TcpFlags::kUrg));
  repr.emit(out, PseudoHeader::ipv4(kHostA, kHostB, ip_protocol::kTcp));
  EXPECT_EQ(std::to_integer<unsigned>(out[13]), 0x32u);
}

TEST(TcpRepr, SegmentLengthCountsSynAndFin) {
  const ByteVec data(10, std::byte{1});
  struct Case {
    uint16_t flags;
    size_t payload;
    uint32_t want;
  };
  for (const Case& c :
       {Case{0, 0, 0}, Case{0, 10, 10}, Case{TcpFlags::kSyn, 0, 1}, Case{TcpFlags::kFin, 0, 1},
        Case{TcpFlags::kSyn | TcpFlags::kFin, 0, 2}, Case{TcpFlags::kSyn | TcpFlags::kFin, 10, 12},
        Case{TcpFlags::kFin | TcpFlags::kPsh, 3, 4}, Case{TcpFlags::kRst, 10, 10}}) {
    TcpRepr repr;
    repr.flags = TcpFlags(c.flags);
    repr.payload = Bytes(data).first(c.payload);
    EXPECT_EQ(repr.segment_len(), SeqLen(c.want)) << "flags " << c.flags;
  }
}

// ---- emission ----

TcpRepr random_repr(std::mt19937& rng, ByteVec& payload_storage) {
  std::uniform_int_distribution<uint32_t> u32;
  TcpRepr repr;
  repr.src_port = static_cast<uint16_t>(u32(rng));
  repr.dst_port = static_cast<uint16_t>(u32(rng));
  repr.seq = SeqNum(u32(rng));
  if (u32(rng) % 4 != 0) repr.ack = SeqNum(u32(rng));
  repr.flags = TcpFlags(static_cast<uint16_t>(u32(rng))).without(TcpFlags::kAck | TcpFlags::kUrg);
  repr.window = static_cast<uint16_t>(u32(rng));
  if (u32(rng) % 8 == 0) repr.urgent = static_cast<uint16_t>(u32(rng));
  if (u32(rng) % 2) repr.options.mss = static_cast<uint16_t>(u32(rng));
  if (u32(rng) % 2) repr.options.window_scale = static_cast<uint8_t>(u32(rng) % 15);
  repr.options.sack_permitted = u32(rng) % 2 != 0;
  if (u32(rng) % 2) repr.options.timestamps = TcpTimestamps{u32(rng), u32(rng)};
  const uint32_t blocks = u32(rng) % 4;
  for (uint32_t i = 0; i < blocks; ++i) {
    repr.options.sack.push_back(SackBlock{SeqNum(u32(rng)), SeqNum(u32(rng))});
  }
  if (!repr.options.fits()) repr.options.sack.clear();
  payload_storage.resize(u32(rng) % 300);
  for (auto& b : payload_storage)
    b = static_cast<std::byte>(u32(rng));
  repr.payload = payload_storage;
  return repr;
}

TEST(TcpRepr, EmitParseRoundTripWithVerifiedChecksum) {
  std::mt19937 rng(9293);
  std::uniform_int_distribution<uint32_t> u32;
  for (int iter = 0; iter < 3000; ++iter) {
    ByteVec payload;
    const TcpRepr repr = random_repr(rng, payload);
    ASSERT_TRUE(repr.fits());
    const Ipv4Address src(u32(rng));
    const Ipv4Address dst(u32(rng));
    const auto pseudo = PseudoHeader::ipv4(src, dst, ip_protocol::kTcp);
    ByteVec out(repr.size() + 4, std::byte{0xee});
    repr.emit(out, pseudo);
    ASSERT_EQ(to_hex(Bytes(out).last(4)), "ee ee ee ee") << "wrote past size()";
    out.resize(repr.size());
    // An independent check of the checksum and of PseudoHeader.
    ASSERT_EQ(reference_tcp_sum(src, dst, out), 0xffff) << "iteration " << iter;
    const auto view = TcpView::parse(out, pseudo);
    ASSERT_TRUE(parses(view)) << "iteration " << iter;
    ASSERT_EQ(view->header_len(), repr.header_len());
    ASSERT_EQ(view->header_len() % 4, 0u);
    ASSERT_EQ(TcpRepr::parse(*view), repr) << "iteration " << iter;
  }
}

TEST(TcpRepr, EmitHeaderWithPayloadElsewhereMatchesEmit) {
  std::mt19937 rng(3168);
  std::uniform_int_distribution<uint32_t> u32;
  for (int iter = 0; iter < 1000; ++iter) {
    ByteVec payload;
    const TcpRepr repr = random_repr(rng, payload);
    const auto pseudo =
        PseudoHeader::ipv4(Ipv4Address(u32(rng)), Ipv4Address(u32(rng)), ip_protocol::kTcp);
    ByteVec whole(repr.size());
    repr.emit(whole, pseudo);
    // The header alone, the payload staying where it is (a send buffer).
    ByteVec header(repr.header_len() + 4, std::byte{0xee});
    repr.emit_header(header, pseudo);
    ASSERT_EQ(to_hex(Bytes(header).last(4)), "ee ee ee ee") << "wrote past header_len()";
    header.resize(repr.header_len());
    ASSERT_EQ(to_hex(header), to_hex(Bytes(whole).first(repr.header_len())))
        << "iteration " << iter << " payload " << payload.size();
    ASSERT_EQ(test::concat(header, payload), whole);
  }
}

TEST(TcpRepr, EqualityComparesPayloadByContent) {
  const ByteVec a = bytes_of("same bytes");
  const ByteVec b = bytes_of("same bytes");
  const ByteVec c = bytes_of("other byte");
  TcpRepr x;
  x.payload = a;
  TcpRepr y;
  y.payload = b;
  EXPECT_EQ(x, y);
  y.payload = c;
  EXPECT_NE(x, y);
  y.payload = Bytes(b).first(4);
  EXPECT_NE(x, y);
}

TEST(TcpRepr, HeaderLengthFollowsOptions) {
  TcpRepr repr;
  EXPECT_EQ(repr.header_len(), 20u);
  repr.options.mss = 1460;
  EXPECT_EQ(repr.header_len(), 24u);
  repr.options.timestamps = TcpTimestamps{1, 2};
  repr.options.sack_permitted = true;
  repr.options.window_scale = 7;
  EXPECT_EQ(repr.header_len(), 40u);
  const ByteVec data(3, std::byte{0});
  repr.payload = data;
  EXPECT_EQ(repr.size(), 43u);
  EXPECT_TRUE(repr.fits());
  repr.options.sack_permitted = false;
  for (uint32_t i = 0; i < 4; ++i)
    repr.options.sack.push_back(SackBlock{SeqNum(i), SeqNum(i)});
  EXPECT_FALSE(repr.fits());
}

}  // namespace
}  // namespace synack::wire
