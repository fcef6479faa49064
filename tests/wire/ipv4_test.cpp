#include "synack/wire/ipv4.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

#include "kernel_packets.hpp"
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

// Recomputes the header checksum of a datagram the test has edited (reference code).
void fix_checksum(ByteVec& d) {
  const size_t header_len = size_t{std::to_integer<uint8_t>(d[0]) & 0x0fu} * 4;
  put_be16(d, 10, 0);
  put_be16(d, 10, test::reference_checksum(Bytes(d.data(), header_len)));
}

// A DF datagram 10.0.0.1 -> 10.0.0.2 with the given options (a multiple of 4 bytes) and
// `payload_len` bytes of payload.
ByteVec datagram_with_options(const ByteVec& options, size_t payload_len = 8) {
  const size_t header_len = kIpv4MinHeaderLen + options.size();
  ByteVec d(header_len + payload_len, std::byte{0x5a});
  d[0] = static_cast<std::byte>(0x40 | (header_len / 4));
  d[1] = std::byte{0};
  put_be16(d, 2, static_cast<uint16_t>(d.size()));
  put_be16(d, 4, 0x1234);
  put_be16(d, 6, 0x4000);
  d[8] = std::byte{64};
  d[9] = std::byte{ip_protocol::kTcp};
  test::put_be32(d, 12, kHostA.value());
  test::put_be32(d, 16, kHostB.value());
  std::copy(options.begin(), options.end(), d.begin() + kIpv4MinHeaderLen);
  fix_checksum(d);
  return d;
}

TEST(Ipv4View, ParsesKernelSyn) {
  const ByteVec packet = hex(test::kernel::kSyn);
  const auto view = Ipv4View::parse(packet);
  ASSERT_TRUE(parses(view));
  EXPECT_EQ(view->version(), 4);
  EXPECT_EQ(view->header_len(), 20u);
  EXPECT_EQ(view->tos(), 0);
  EXPECT_EQ(view->total_length(), 60);
  EXPECT_EQ(view->identification(), 39668);
  EXPECT_TRUE(view->dont_fragment());
  EXPECT_FALSE(view->more_fragments());
  EXPECT_FALSE(view->reserved_flag());
  EXPECT_EQ(view->fragment_offset(), 0);
  EXPECT_FALSE(view->is_fragment());
  EXPECT_EQ(view->ttl(), 64);
  EXPECT_EQ(view->protocol(), ip_protocol::kTcp);
  EXPECT_EQ(view->header_checksum(), 0x8bc5);
  EXPECT_EQ(view->src(), kHostA);
  EXPECT_EQ(view->dst(), kHostB);
  EXPECT_TRUE(view->options().empty());
  EXPECT_EQ(view->bytes().size(), 60u);
  EXPECT_EQ(view->bytes().data(), packet.data());
  ASSERT_EQ(view->payload().size(), 40u);
  EXPECT_EQ(view->payload().data(), packet.data() + 20);
}

TEST(Ipv4View, ParsesKernelIcmpWithTosAndNoDf) {
  const ByteVec packet = hex(test::kernel::kPortUnreachable);
  const auto view = Ipv4View::parse(packet);
  ASSERT_TRUE(parses(view));
  EXPECT_EQ(view->tos(), 0xc0);
  EXPECT_EQ(view->dscp(), 48);  // CS6, as Linux marks ICMP errors
  EXPECT_EQ(view->ecn(), 0);
  EXPECT_EQ(view->identification(), 1162);
  EXPECT_FALSE(view->dont_fragment());
  EXPECT_EQ(view->protocol(), ip_protocol::kIcmp);
  EXPECT_EQ(view->src(), kHostB);
  EXPECT_EQ(view->dst(), kHostA);
  EXPECT_EQ(view->payload().size(), 44u);
}

TEST(Ipv4View, SkipsKernelRecordRouteOptions) {
  // ping -R: IHL 15, options NOP + record route (length 39) = 40 bytes.
  const ByteVec packet = hex(test::kernel::kEchoRequestRecordRoute);
  const auto view = Ipv4View::parse(packet);
  ASSERT_TRUE(parses(view));
  EXPECT_EQ(view->header_len(), 60u);
  EXPECT_EQ(view->total_length(), 72);
  ASSERT_EQ(view->options().size(), 40u);
  EXPECT_EQ(to_hex(view->options().first(8)), "01 07 27 08 0a 00 00 01");
  ASSERT_EQ(view->payload().size(), 12u);
  EXPECT_EQ(to_hex(view->payload().first(4)), "08 00 d9 6b");  // the ICMP header
  EXPECT_EQ(Ipv4Repr::parse(*view).payload_len, 12);

  // The reply: record route (length 39) then EOL.
  const ByteVec reply = hex(test::kernel::kEchoReplyRecordRoute);
  const auto reply_view = Ipv4View::parse(reply);
  ASSERT_TRUE(parses(reply_view));
  EXPECT_EQ(std::to_integer<uint8_t>(reply_view->options()[39]), 0);  // EOL
  EXPECT_EQ(to_hex(reply_view->payload().first(2)), "00 00");         // echo reply
}

TEST(Ipv4View, LinkLayerPaddingIsNotPartOfTheDatagram) {
  ByteVec packet = hex(test::kernel::kRst);  // 40 bytes: Ethernet pads it to 46
  for (const unsigned pad : {0x00u, 0xffu, 0x45u}) {
    ByteVec padded = packet;
    padded.insert(padded.end(), 6, static_cast<std::byte>(pad));
    const auto view = Ipv4View::parse(padded);
    ASSERT_TRUE(parses(view));
    EXPECT_EQ(view->bytes().size(), 40u);
    EXPECT_EQ(view->payload().size(), 20u);
    EXPECT_EQ(Ipv4Repr::parse(*view).payload_len, 20);
  }
}

TEST(Ipv4View, EveryPrefixShorterThanAHeaderIsTruncated) {
  const ByteVec packet = hex(test::kernel::kSyn);
  for (size_t n = 0; n < kIpv4MinHeaderLen; ++n) {
    EXPECT_TRUE(fails_with(Ipv4View::parse(Bytes(packet.data(), n)), ParseError::kIpv4Truncated))
        << n << " bytes";
  }
}

TEST(Ipv4View, RejectsVersionsOtherThanFour) {
  for (unsigned version = 0; version < 16; ++version) {
    if (version == 4) continue;
    ByteVec packet = hex(test::kernel::kSyn);
    packet[0] = static_cast<std::byte>((version << 4) | 5);
    fix_checksum(packet);
    EXPECT_TRUE(fails_with(Ipv4View::parse(packet), ParseError::kIpv4BadVersion))
        << "version " << version;
  }
}

TEST(Ipv4View, RejectsHeaderLengthBelowFive) {
  for (unsigned ihl = 0; ihl < 5; ++ihl) {
    ByteVec packet = hex(test::kernel::kSyn);
    packet[0] = static_cast<std::byte>(0x40 | ihl);
    EXPECT_TRUE(fails_with(Ipv4View::parse(packet), ParseError::kIpv4BadHeaderLength))
        << "IHL " << ihl;
    EXPECT_TRUE(fails_with(Ipv4View::parse(packet, ChecksumPolicy::kIgnore),
                           ParseError::kIpv4BadHeaderLength))
        << "IHL " << ihl;
  }
}

TEST(Ipv4View, RejectsHeaderLongerThanTheBuffer) {
  // A 20-byte buffer whose IHL claims 24 bytes.
  ByteVec packet = hex(test::kernel::kSyn);
  packet.resize(20);
  packet[0] = std::byte{0x46};
  put_be16(packet, 2, 20);
  EXPECT_TRUE(fails_with(Ipv4View::parse(packet), ParseError::kIpv4BadHeaderLength));
  // The record-route packet cut inside its options.
  const ByteVec rr = hex(test::kernel::kEchoRequestRecordRoute);
  for (size_t n = 20; n < 60; ++n) {
    EXPECT_TRUE(fails_with(Ipv4View::parse(Bytes(rr.data(), n)), ParseError::kIpv4BadHeaderLength))
        << n << " bytes";
  }
}

TEST(Ipv4View, RejectsTotalLengthSmallerThanTheHeader) {
  for (const uint16_t total : {uint16_t{0}, uint16_t{1}, uint16_t{19}}) {
    ByteVec packet = hex(test::kernel::kSyn);
    put_be16(packet, 2, total);
    fix_checksum(packet);
    EXPECT_TRUE(fails_with(Ipv4View::parse(packet), ParseError::kIpv4BadTotalLength))
        << "total " << total;
  }
  // With options: a total length that covers the fixed header but not the options.
  ByteVec rr = hex(test::kernel::kEchoRequestRecordRoute);
  put_be16(rr, 2, 59);
  fix_checksum(rr);
  EXPECT_TRUE(fails_with(Ipv4View::parse(rr), ParseError::kIpv4BadTotalLength));
  // Exactly the header: valid, with an empty payload.
  put_be16(rr, 2, 60);
  fix_checksum(rr);
  const auto view = Ipv4View::parse(rr);
  ASSERT_TRUE(parses(view));
  EXPECT_TRUE(view->payload().empty());
}

TEST(Ipv4View, RejectsTotalLengthBeyondTheBuffer) {
  const ByteVec packet = hex(test::kernel::kSyn);
  for (size_t n = kIpv4MinHeaderLen; n < packet.size(); ++n) {
    EXPECT_TRUE(
        fails_with(Ipv4View::parse(Bytes(packet.data(), n)), ParseError::kIpv4TotalLengthOverrun))
        << n << " bytes";
  }
  ByteVec big = packet;
  put_be16(big, 2, 0xffff);
  fix_checksum(big);
  EXPECT_TRUE(fails_with(Ipv4View::parse(big), ParseError::kIpv4TotalLengthOverrun));
}

TEST(Ipv4View, RejectsAnyFlippedHeaderBitByChecksum) {
  const ByteVec packet = hex(test::kernel::kSyn);
  // Bytes whose corruption cannot be caught earlier (version/IHL and total length are).
  for (const size_t i :
       {1u, 4u, 5u, 6u, 7u, 8u, 9u, 10u, 11u, 12u, 13u, 14u, 15u, 16u, 17u, 18u, 19u}) {
    for (unsigned bit = 0; bit < 8; ++bit) {
      ByteVec bad = packet;
      bad[i] ^= static_cast<std::byte>(1u << bit);
      EXPECT_TRUE(fails_with(Ipv4View::parse(bad), ParseError::kIpv4BadChecksum))
          << "byte " << i << " bit " << bit;
      // Captures with offloaded checksums are read with the check off.
      EXPECT_TRUE(parses(Ipv4View::parse(bad, ChecksumPolicy::kIgnore)));
    }
  }
}

TEST(Ipv4View, ChecksumCoversTheHeaderOnly) {
  ByteVec packet = hex(test::kernel::kData);
  packet.back() ^= std::byte{0xff};  // payload corruption is the transport's business
  EXPECT_TRUE(parses(Ipv4View::parse(packet)));
}

TEST(Ipv4View, VerifiesChecksumOverOptions) {
  ByteVec rr = hex(test::kernel::kEchoRequestRecordRoute);
  rr[30] ^= std::byte{0x01};  // inside the record-route slots
  EXPECT_TRUE(fails_with(Ipv4View::parse(rr), ParseError::kIpv4BadChecksum));
}

TEST(Ipv4View, RejectsMalformedOptions) {
  struct Case {
    const char* what;
    ByteVec options;
  };
  const Case cases[] = {
      {"zero length", bytes_of({0x07, 0x00, 0x00, 0x00})},
      {"length one", bytes_of({0x07, 0x01, 0x00, 0x00})},
      {"overrun", bytes_of({0x07, 0x05, 0x00, 0x00})},
      {"overrun after NOPs", bytes_of({0x01, 0x01, 0x07, 0x03})},
      {"missing length byte", bytes_of({0x01, 0x01, 0x01, 0x07})},
      {"second option overruns", bytes_of({0x94, 0x04, 0x00, 0x00, 0x83, 0x07, 0x00, 0x00})},
      {"zero length after a good option",
       bytes_of({0x94, 0x04, 0x00, 0x00, 0x44, 0x00, 0x00, 0x00})},
  };
  for (const Case& c : cases) {
    const ByteVec packet = datagram_with_options(c.options);
    EXPECT_TRUE(fails_with(Ipv4View::parse(packet), ParseError::kIpv4BadOption)) << c.what;
    EXPECT_TRUE(
        fails_with(Ipv4View::parse(packet, ChecksumPolicy::kIgnore), ParseError::kIpv4BadOption))
        << c.what;
  }
}

TEST(Ipv4View, AcceptsWellFormedOptions) {
  struct Case {
    const char* what;
    ByteVec options;
  };
  const Case cases[] = {
      {"NOPs", bytes_of({0x01, 0x01, 0x01, 0x01})},
      {"EOL then garbage", bytes_of({0x00, 0xff, 0x07, 0x00})},
      {"NOP, EOL, then a zero length", bytes_of({0x01, 0x00, 0x07, 0x00})},
      {"router alert", bytes_of({0x94, 0x04, 0x00, 0x00})},
      {"an option filling the area", bytes_of({0x07, 0x08, 0x04, 0, 0, 0, 0, 0})},
      {"an option ending on the last byte", bytes_of({0x01, 0x07, 0x03, 0x04})},
      {"two options", bytes_of({0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00})},
  };
  for (const Case& c : cases) {
    const ByteVec packet = datagram_with_options(c.options, 3);
    const auto view = Ipv4View::parse(packet);
    ASSERT_TRUE(parses(view)) << c.what;
    EXPECT_EQ(view->header_len(), 20 + c.options.size()) << c.what;
    EXPECT_EQ(to_hex(view->options()), to_hex(c.options)) << c.what;
    EXPECT_EQ(view->payload().size(), 3u) << c.what;
    EXPECT_EQ(view->payload().data(), packet.data() + 20 + c.options.size()) << c.what;
  }
}

TEST(Ipv4View, RecognisesFragments) {
  struct Case {
    uint16_t flags_offset;  // the raw 16-bit field
    bool df, mf, reserved, fragment;
    uint16_t offset_bytes;
  };
  const Case cases[] = {
      {0x4000, true, false, false, false, 0},      // DF only: whole datagram
      {0x0000, false, false, false, false, 0},     // no flags: whole datagram
      {0x2000, false, true, false, true, 0},       // first fragment
      {0x20b9, false, true, false, true, 1480},    // middle fragment
      {0x00b9, false, false, false, true, 1480},   // last fragment
      {0x1fff, false, false, false, true, 65528},  // largest offset
      {0x8000, false, false, true, false, 0},      // the reserved ("evil") bit
      {0xe001, true, true, true, true, 8},
  };
  for (const Case& c : cases) {
    ByteVec packet = hex(test::kernel::kSyn);
    put_be16(packet, 6, c.flags_offset);
    fix_checksum(packet);
    const auto view = Ipv4View::parse(packet);
    ASSERT_TRUE(parses(view));
    SCOPED_TRACE(testing::Message() << "flags/offset 0x" << std::hex << c.flags_offset);
    EXPECT_EQ(view->dont_fragment(), c.df);
    EXPECT_EQ(view->more_fragments(), c.mf);
    EXPECT_EQ(view->reserved_flag(), c.reserved);
    EXPECT_EQ(view->is_fragment(), c.fragment);
    EXPECT_EQ(view->fragment_offset(), c.offset_bytes);
    const Ipv4Repr repr = Ipv4Repr::parse(*view);
    EXPECT_EQ(repr.dont_fragment, c.df);
    EXPECT_EQ(repr.more_fragments, c.mf);
    EXPECT_EQ(repr.fragment_offset, c.offset_bytes);
  }
}

TEST(Ipv4View, SplitsTosIntoDscpAndEcn) {
  ByteVec packet = hex(test::kernel::kSyn);
  packet[1] = std::byte{0xb9};  // DSCP 46 (EF), ECN 01 (ECT(1))
  fix_checksum(packet);
  const auto view = Ipv4View::parse(packet);
  ASSERT_TRUE(parses(view));
  EXPECT_EQ(view->dscp(), 46);
  EXPECT_EQ(view->ecn(), 1);
  EXPECT_EQ(view->tos(), 0xb9);
}

TEST(Ipv4View, PseudoHeaderCoversTheKernelSegment) {
  const ByteVec packet = hex(test::kernel::kData);
  const auto view = Ipv4View::parse(packet);
  ASSERT_TRUE(parses(view));
  ChecksumAccumulator acc =
      view->pseudo_header().start(static_cast<uint32_t>(view->payload().size()));
  acc.add(view->payload());
  EXPECT_TRUE(acc.verifies());
  ChecksumAccumulator from_repr =
      Ipv4Repr::parse(*view).pseudo_header().start(static_cast<uint32_t>(view->payload().size()));
  from_repr.add(view->payload());
  EXPECT_TRUE(from_repr.verifies());
}

TEST(Ipv4Repr, EmitReproducesKernelHeaders) {
  for (const std::string_view golden :
       {test::kernel::kSyn, test::kernel::kSynAck, test::kernel::kData, test::kernel::kRst,
        test::kernel::kPortUnreachable, test::kernel::kEchoReply}) {
    const ByteVec packet = hex(golden);
    const auto view = Ipv4View::parse(packet);
    ASSERT_TRUE(parses(view));
    const Ipv4Repr repr = Ipv4Repr::parse(*view);
    EXPECT_EQ(repr.total_len(), packet.size());
    ByteVec out(Ipv4Repr::header_len());
    repr.emit(out);
    EXPECT_EQ(to_hex(out), to_hex(Bytes(packet.data(), 20)));
  }
}

TEST(Ipv4Repr, EmitsFieldsWhereRfc791PutsThem) {
  const Ipv4Repr repr{
      .src = Ipv4Address::from_octets(192, 0, 2, 1),
      .dst = Ipv4Address::from_octets(198, 51, 100, 2),
      .protocol = ip_protocol::kUdp,
      .ttl = 1,
      .tos = 0xb8,
      .identification = 0xbeef,
      .dont_fragment = false,
      .more_fragments = true,
      .fragment_offset = 2960,  // 370 eight-byte units = 0x172
      .payload_len = 100,
  };
  ByteVec out(24, std::byte{0xaa});
  repr.emit(out);
  ByteVec want = hex("45 b8 00 78 be ef 21 72 01 11 00 00 c0 00 02 01 c6 33 64 02");
  put_be16(want, 10, test::reference_checksum(want));
  EXPECT_EQ(to_hex(Bytes(out.data(), 20)), to_hex(want));
  EXPECT_EQ(to_hex(Bytes(out.data() + 20, 4)), "aa aa aa aa");  // nothing past the header
}

TEST(Ipv4Repr, EmitParseRoundTrip) {
  std::mt19937 rng(791);
  std::uniform_int_distribution<uint32_t> u32;
  for (int iter = 0; iter < 2000; ++iter) {
    Ipv4Repr repr{
        .src = Ipv4Address(u32(rng)),
        .dst = Ipv4Address(u32(rng)),
        .protocol = static_cast<uint8_t>(u32(rng)),
        .ttl = static_cast<uint8_t>(u32(rng)),
        .tos = static_cast<uint8_t>(u32(rng)),
        .identification = static_cast<uint16_t>(u32(rng)),
        .dont_fragment = (u32(rng) & 1) != 0,
        .more_fragments = (u32(rng) & 1) != 0,
        .fragment_offset = static_cast<uint16_t>((u32(rng) % 0x2000) * 8),
        .payload_len = static_cast<uint16_t>(u32(rng) % 200),
    };
    ByteVec packet(repr.total_len(), std::byte{0x33});
    repr.emit(packet);
    ASSERT_EQ(test::reference_sum(Bytes(packet.data(), 20)), 0xffff) << "iteration " << iter;
    const auto view = Ipv4View::parse(packet);
    ASSERT_TRUE(parses(view)) << "iteration " << iter;
    ASSERT_EQ(Ipv4Repr::parse(*view), repr) << "iteration " << iter;
    ASSERT_EQ(view->header_len(), 20u);
    ASSERT_EQ(view->total_length(), repr.total_len());
  }
}

}  // namespace
}  // namespace synack::wire
