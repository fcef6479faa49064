#include "synack/wire/udp.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>

#include "kernel_packets.hpp"
#include "wire_test_util.hpp"

namespace synack::wire {
namespace {

using test::ByteVec;
using test::fails_with;
using test::hex;
using test::parses;
using test::put_be16;
using test::to_hex;

TEST(UdpView, KernelDatagram) {
  // The datagram the kernel quoted whole in its port unreachable (kPortUnreachable, bytes
  // 48..63): 10.0.0.1.40002 > 10.0.0.2.5557, "ping-udp".
  const ByteVec packet = hex(test::kernel::kPortUnreachable);
  const ByteVec datagram(packet.begin() + 48, packet.end());
  ASSERT_EQ(to_hex(datagram), "9c 42 15 b5 00 10 c9 1d 70 69 6e 67 2d 75 64 70");
  const auto view = UdpView::parse(datagram);
  ASSERT_TRUE(parses(view));
  EXPECT_EQ(view->src_port(), 40002);
  EXPECT_EQ(view->dst_port(), 5557);
  EXPECT_EQ(view->length(), 16);
  EXPECT_EQ(view->checksum(), 0xc91d);
  EXPECT_EQ(to_hex(view->payload()), to_hex(test::bytes_of("ping-udp")));
}

TEST(UdpView, PayloadEndsWhereTheLengthFieldSays) {
  ByteVec datagram = hex("9c 42 15 b5 00 10 c9 1d 70 69 6e 67 2d 75 64 70 ee ee ee");
  put_be16(datagram, 4, 12);
  const auto view = UdpView::parse(datagram);
  ASSERT_TRUE(parses(view));
  EXPECT_EQ(to_hex(view->payload()), "70 69 6e 67");
  put_be16(datagram, 4, 8);
  const auto empty = UdpView::parse(datagram);
  ASSERT_TRUE(parses(empty));
  EXPECT_TRUE(empty->payload().empty());
}

TEST(UdpView, Truncated) {
  const ByteVec datagram = hex("9c 42 15 b5 00 10 c9 1d 70 69 6e 67 2d 75 64 70");
  for (size_t n = 0; n < kUdpHeaderLen; ++n) {
    EXPECT_TRUE(fails_with(UdpView::parse(Bytes(datagram).first(n)), ParseError::kUdpTruncated))
        << n;
  }
  // The length field beyond the bytes received.
  for (size_t n = kUdpHeaderLen; n < datagram.size(); ++n) {
    EXPECT_TRUE(fails_with(UdpView::parse(Bytes(datagram).first(n)), ParseError::kUdpTruncated))
        << n;
  }
  // A length field smaller than the header itself.
  for (const uint16_t length : {uint16_t{0}, uint16_t{1}, uint16_t{7}}) {
    ByteVec bad = datagram;
    put_be16(bad, 4, length);
    EXPECT_TRUE(fails_with(UdpView::parse(bad), ParseError::kUdpTruncated)) << length;
  }
}

}  // namespace
}  // namespace synack::wire
