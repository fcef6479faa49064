#include "synack/wire/icmp.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string_view>
#include <variant>
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

// The ICMP message inside a kernel-captured datagram.
ByteVec kernel_icmp(std::string_view golden) {
  const ByteVec packet = hex(golden);
  const auto ip = Ipv4View::parse(packet);
  EXPECT_TRUE(parses(ip));
  if (!ip) return {};
  EXPECT_EQ(ip->protocol(), ip_protocol::kIcmp);
  return ByteVec(ip->payload().begin(), ip->payload().end());
}

// Sets the checksum field of a message the test built or edited (reference code).
void fix_checksum(ByteVec& message) {
  put_be16(message, 2, 0);
  put_be16(message, 2, test::reference_checksum(message));
}

ByteVec emit(const IcmpRepr& repr) {
  ByteVec out(repr.size() + 4, std::byte{0xee});
  repr.emit(out);
  EXPECT_EQ(to_hex(Bytes(out).last(4)), "ee ee ee ee") << "emit wrote past size()";
  out.resize(repr.size());
  return out;
}

IcmpRepr parse_repr(const ByteVec& message) {
  const auto view = IcmpView::parse(message);
  EXPECT_TRUE(parses(view));
  if (!view) return {};
  auto repr = IcmpRepr::parse(*view);
  EXPECT_TRUE(parses(repr));
  return repr ? *repr : IcmpRepr{};
}

// ---- echo ----

TEST(IcmpEcho, KernelEchoRequest) {
  const ByteVec message = kernel_icmp(test::kernel::kEchoRequest);
  const auto view = IcmpView::parse(message);
  ASSERT_TRUE(parses(view));
  EXPECT_EQ(view->type(), icmp_type::kEchoRequest);
  EXPECT_EQ(view->code(), 0);
  EXPECT_EQ(view->checksum(), 0xb14c);
  EXPECT_EQ(view->rest_of_header(), 0x1c8e0001u);
  EXPECT_EQ(view->payload().size(), 13u);
  EXPECT_EQ(view->bytes().size(), 21u);

  const auto repr = IcmpRepr::parse(*view);
  ASSERT_TRUE(parses(repr));
  ASSERT_TRUE(std::holds_alternative<IcmpEchoRequest>(repr->message));
  const auto& echo = std::get<IcmpEchoRequest>(repr->message);
  EXPECT_EQ(echo.identifier, 7310);
  EXPECT_EQ(echo.sequence, 1);
  EXPECT_EQ(to_hex(echo.data), "00 01 02 03 04 05 06 07 08 09 0a 0b 0c");
  EXPECT_EQ(repr->size(), 21u);
  EXPECT_EQ(to_hex(emit(*repr)), to_hex(message));
}

TEST(IcmpEcho, KernelEchoReply) {
  const ByteVec message = kernel_icmp(test::kernel::kEchoReply);
  const IcmpRepr repr = parse_repr(message);
  ASSERT_TRUE(std::holds_alternative<IcmpEchoReply>(repr.message));
  const auto& echo = std::get<IcmpEchoReply>(repr.message);
  EXPECT_EQ(echo.identifier, 7310);
  EXPECT_EQ(echo.sequence, 1);
  EXPECT_EQ(echo.data.size(), 13u);
  EXPECT_EQ(to_hex(emit(repr)), to_hex(message));
}

TEST(IcmpEcho, KernelEchoBehindIpOptions) {
  const ByteVec message = kernel_icmp(test::kernel::kEchoRequestRecordRoute);
  const IcmpRepr repr = parse_repr(message);
  ASSERT_TRUE(std::holds_alternative<IcmpEchoRequest>(repr.message));
  EXPECT_EQ(std::get<IcmpEchoRequest>(repr.message).identifier, 7311);
  EXPECT_EQ(to_hex(std::get<IcmpEchoRequest>(repr.message).data), "00 01 02 03");
}

TEST(IcmpEcho, RequestAndReplyAreDifferentMessages) {
  const ByteVec data = bytes_of("ab");
  const IcmpRepr request{IcmpEchoRequest{{.identifier = 1, .sequence = 2, .data = data}}};
  const IcmpRepr reply{IcmpEchoReply{{.identifier = 1, .sequence = 2, .data = data}}};
  EXPECT_NE(request, reply);
  EXPECT_EQ(to_hex(emit(request)).substr(0, 5), "08 00");
  EXPECT_EQ(to_hex(emit(reply)).substr(0, 5), "00 00");
  EXPECT_EQ(parse_repr(emit(request)), request);
  EXPECT_EQ(parse_repr(emit(reply)), reply);
}

TEST(IcmpRepr, EqualityComparesBodiesByContent) {
  const ByteVec a = bytes_of("abcdefgh");
  const ByteVec b = bytes_of("abcdefgh");
  const ByteVec c = bytes_of("abcdefgX");
  EXPECT_EQ((IcmpEcho{1, 2, a}), (IcmpEcho{1, 2, b}));
  EXPECT_NE((IcmpEcho{1, 2, a}), (IcmpEcho{1, 2, c}));
  EXPECT_NE((IcmpEcho{1, 2, a}), (IcmpEcho{1, 3, a}));
  EXPECT_EQ((IcmpDestUnreachable{3, 0, a}), (IcmpDestUnreachable{3, 0, b}));
  EXPECT_NE((IcmpDestUnreachable{3, 0, a}), (IcmpDestUnreachable{3, 0, c}));
  EXPECT_NE((IcmpDestUnreachable{3, 0, a}), (IcmpDestUnreachable{4, 0, a}));
}

TEST(IcmpEcho, EmitParseRoundTrip) {
  std::mt19937 rng(792);
  std::uniform_int_distribution<uint32_t> u32;
  for (int iter = 0; iter < 2000; ++iter) {
    ByteVec data(u32(rng) % 120);
    for (auto& b : data)
      b = static_cast<std::byte>(u32(rng));
    const IcmpEcho echo{.identifier = static_cast<uint16_t>(u32(rng)),
                        .sequence = static_cast<uint16_t>(u32(rng)),
                        .data = data};
    const IcmpRepr repr =
        u32(rng) % 2 ? IcmpRepr{IcmpEchoRequest{echo}} : IcmpRepr{IcmpEchoReply{echo}};
    const ByteVec out = emit(repr);
    ASSERT_EQ(out.size(), kIcmpHeaderLen + data.size());
    ASSERT_EQ(test::reference_sum(out), 0xffff) << "iteration " << iter;
    ASSERT_EQ(test::be16_at(out, 4), echo.identifier);
    ASSERT_EQ(test::be16_at(out, 6), echo.sequence);
    ASSERT_EQ(parse_repr(out), repr) << "iteration " << iter;
  }
}

TEST(IcmpEcho, AllZeroReplyCarriesChecksumFfff) {
  // Identifier 0, sequence 0, no data: every other byte is zero, so the checksum must be
  // 0xFFFF (-0) for the sum to verify (RFC 1624 §3, §5).
  const IcmpRepr repr{IcmpEchoReply{}};
  const ByteVec out = emit(repr);
  EXPECT_EQ(to_hex(out), "00 00 ff ff 00 00 00 00");
  EXPECT_TRUE(parses(IcmpView::parse(out)));
}

// ---- destination unreachable ----

TEST(IcmpUnreachable, KernelPortUnreachableQuotingUdp) {
  const ByteVec message = kernel_icmp(test::kernel::kPortUnreachable);
  const auto view = IcmpView::parse(message);
  ASSERT_TRUE(parses(view));
  EXPECT_EQ(view->type(), icmp_type::kDestUnreachable);
  EXPECT_EQ(view->code(), icmp_unreach::kPort);
  EXPECT_EQ(view->checksum(), 0x1121);
  EXPECT_EQ(view->rest_of_header(), 0u);

  const auto repr = IcmpRepr::parse(*view);
  ASSERT_TRUE(parses(repr));
  ASSERT_TRUE(std::holds_alternative<IcmpDestUnreachable>(repr->message));
  const auto& unreachable = std::get<IcmpDestUnreachable>(repr->message);
  EXPECT_EQ(unreachable.code, icmp_unreach::kPort);
  EXPECT_EQ(unreachable.next_hop_mtu, 0);
  EXPECT_EQ(unreachable.quoted.size(), 36u);  // Linux quotes the whole small datagram

  const auto quoted = QuotedDatagram::parse(unreachable.quoted);
  ASSERT_TRUE(parses(quoted));
  EXPECT_EQ(quoted->src, kHostA);
  EXPECT_EQ(quoted->dst, kHostB);
  EXPECT_EQ(quoted->protocol, ip_protocol::kUdp);
  EXPECT_EQ(quoted->total_length, 36);
  EXPECT_EQ(quoted->src_port(), 40002);
  EXPECT_EQ(quoted->dst_port(), 5557);
  EXPECT_EQ(quoted->transport.size(), 16u);

  EXPECT_EQ(to_hex(emit(*repr)), to_hex(message));
}

TEST(IcmpUnreachable, FragmentationNeededQuotingTcp) {
  // A router's answer to the kernel SYN: its IPv4 header and first 8 TCP bytes, MTU 1400.
  const ByteVec syn = hex(test::kernel::kSyn);
  const Bytes quote = Bytes(syn).first(28);
  const IcmpRepr repr{IcmpDestUnreachable{
      .code = icmp_unreach::kFragNeeded, .next_hop_mtu = 1400, .quoted = quote}};
  const ByteVec out = emit(repr);
  ASSERT_EQ(out.size(), 36u);
  // RFC 1191 §4: type 3, code 4, checksum, 16 unused bits, next-hop MTU.
  ByteVec want = test::concat(hex("03 04 00 00 00 00 05 78"), quote);
  fix_checksum(want);
  EXPECT_EQ(to_hex(out), to_hex(want));

  const IcmpRepr back = parse_repr(out);
  EXPECT_EQ(back, repr);
  const auto& unreachable = std::get<IcmpDestUnreachable>(back.message);
  EXPECT_EQ(unreachable.next_hop_mtu, 1400);
  const auto quoted = QuotedDatagram::parse(unreachable.quoted);
  ASSERT_TRUE(parses(quoted));
  EXPECT_EQ(quoted->src, kHostA);
  EXPECT_EQ(quoted->dst, kHostB);
  EXPECT_EQ(quoted->protocol, ip_protocol::kTcp);
  EXPECT_EQ(quoted->total_length, 60);  // the original's length, more than was quoted
  EXPECT_EQ(quoted->src_port(), 40000);
  EXPECT_EQ(quoted->dst_port(), 5555);
  EXPECT_EQ(quoted->tcp_seq(), 2459123363u);
  EXPECT_EQ(quoted->transport.size(), 8u);
}

TEST(IcmpUnreachable, MtuOnlyForFragmentationNeeded) {
  const ByteVec syn = hex(test::kernel::kSyn);
  for (const uint8_t code : {icmp_unreach::kNet, icmp_unreach::kHost, icmp_unreach::kProtocol,
                             icmp_unreach::kPort, icmp_unreach::kFragNeeded,
                             icmp_unreach::kSourceRouteFailed, icmp_unreach::kAdminProhibited}) {
    ByteVec message = test::concat(hex("03 00 00 00 00 00 05 dc"), Bytes(syn).first(28));
    message[1] = static_cast<std::byte>(code);
    fix_checksum(message);
    const IcmpRepr repr = parse_repr(message);
    ASSERT_TRUE(std::holds_alternative<IcmpDestUnreachable>(repr.message));
    const auto& unreachable = std::get<IcmpDestUnreachable>(repr.message);
    EXPECT_EQ(unreachable.code, code);
    EXPECT_EQ(unreachable.next_hop_mtu, code == icmp_unreach::kFragNeeded ? 1500 : 0)
        << "code " << unsigned{code};
  }
}

TEST(IcmpUnreachable, QuoteWithIpOptions) {
  // The quoted header has options (IHL 15): the transport starts 60 bytes in.
  const ByteVec rr = hex(test::kernel::kEchoRequestRecordRoute);
  const auto quoted = QuotedDatagram::parse(Bytes(rr).first(68));
  ASSERT_TRUE(parses(quoted));
  EXPECT_EQ(quoted->protocol, ip_protocol::kIcmp);
  EXPECT_EQ(to_hex(quoted->transport), "08 00 d9 6b 1c 8f 00 01");
  EXPECT_TRUE(
      fails_with(QuotedDatagram::parse(Bytes(rr).first(67)), ParseError::kIcmpBadQuotedPacket));
}

TEST(IcmpUnreachable, QuoteShorterThanHeaderPlusEightBytes) {
  const ByteVec syn = hex(test::kernel::kSyn);
  for (size_t n = 0; n < 28; ++n) {
    ByteVec message = test::concat(hex("03 03 00 00 00 00 00 00"), Bytes(syn).first(n));
    fix_checksum(message);
    const auto view = IcmpView::parse(message);
    ASSERT_TRUE(parses(view));
    EXPECT_TRUE(fails_with(IcmpRepr::parse(*view), ParseError::kIcmpBadQuotedPacket))
        << n << " quoted bytes";
    EXPECT_TRUE(
        fails_with(QuotedDatagram::parse(Bytes(syn).first(n)), ParseError::kIcmpBadQuotedPacket))
        << n << " quoted bytes";
  }
}

TEST(IcmpUnreachable, QuoteThatIsNotIpv4) {
  const ByteVec syn = hex(test::kernel::kSyn);
  for (const unsigned first_byte : {0x65u, 0x05u, 0x44u, 0x40u, 0x00u}) {
    ByteVec quote(syn.begin(), syn.begin() + 28);
    quote[0] = static_cast<std::byte>(first_byte);
    EXPECT_TRUE(fails_with(QuotedDatagram::parse(quote), ParseError::kIcmpBadQuotedPacket))
        << "first byte " << first_byte;
  }
}

// ---- errors ----

TEST(IcmpView, ShorterThanEightBytesIsTruncated) {
  const ByteVec message = kernel_icmp(test::kernel::kEchoRequest);
  for (size_t n = 0; n < kIcmpHeaderLen; ++n) {
    EXPECT_TRUE(fails_with(IcmpView::parse(Bytes(message).first(n)), ParseError::kIcmpTruncated))
        << n;
    EXPECT_TRUE(fails_with(IcmpView::parse(Bytes(message).first(n), ChecksumPolicy::kIgnore),
                           ParseError::kIcmpTruncated))
        << n;
  }
  // Eight bytes with a right checksum is a complete message.
  ByteVec header = hex("08 00 00 00 12 34 00 01");
  fix_checksum(header);
  EXPECT_TRUE(parses(IcmpView::parse(header)));
}

TEST(IcmpView, AnyFlippedBitFailsTheChecksum) {
  for (const std::string_view golden :
       {test::kernel::kEchoRequest, test::kernel::kPortUnreachable}) {
    const ByteVec message = kernel_icmp(golden);
    for (size_t i = 0; i < message.size(); ++i) {
      for (unsigned bit = 0; bit < 8; ++bit) {
        ByteVec bad = message;
        bad[i] ^= static_cast<std::byte>(1u << bit);
        EXPECT_TRUE(fails_with(IcmpView::parse(bad), ParseError::kIcmpBadChecksum))
            << "byte " << i << " bit " << bit;
        EXPECT_TRUE(parses(IcmpView::parse(bad, ChecksumPolicy::kIgnore)));
      }
    }
  }
}

TEST(IcmpRepr, UnsupportedTypesAndCodes) {
  struct Case {
    unsigned type;
    unsigned code;
  };
  for (const Case& c : {Case{icmp_type::kTimeExceeded, 0}, Case{5, 1} /* redirect */,
                        Case{4, 0} /* source quench */, Case{12, 0} /* parameter problem */,
                        Case{13, 0} /* timestamp */, Case{14, 0}, Case{17, 0}, Case{255, 0},
                        Case{icmp_type::kEchoRequest, 1}, Case{icmp_type::kEchoReply, 9}}) {
    // A well-formed body, long enough to be a quote.
    ByteVec message =
        test::concat(hex("00 00 00 00 00 00 00 00"), Bytes(hex(test::kernel::kSyn)).first(28));
    message[0] = static_cast<std::byte>(c.type);
    message[1] = static_cast<std::byte>(c.code);
    fix_checksum(message);
    const auto view = IcmpView::parse(message);
    ASSERT_TRUE(parses(view));  // any type is a valid ICMP message ...
    EXPECT_TRUE(fails_with(IcmpRepr::parse(*view), ParseError::kIcmpUnsupportedType))
        << "type " << c.type << " code " << c.code;  // ... but not one synack interprets
  }
}

}  // namespace
}  // namespace synack::wire
