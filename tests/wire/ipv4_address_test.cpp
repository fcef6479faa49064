#include "synack/wire/ipv4_address.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>

#include "wire_test_util.hpp"

namespace synack::wire {
namespace {

TEST(Ipv4Address, ParsesDottedQuads) {
  struct Case {
    std::string_view text;
    uint32_t value;
  };
  for (const Case& c : {Case{"0.0.0.0", 0x00000000}, Case{"255.255.255.255", 0xffffffff},
                        Case{"10.0.0.1", 0x0a000001}, Case{"192.168.1.254", 0xc0a801fe},
                        Case{"127.0.0.1", 0x7f000001}, Case{"1.2.3.4", 0x01020304},
                        Case{"100.64.0.9", 0x64400009}}) {
    const auto a = Ipv4Address::parse(c.text);
    ASSERT_TRUE(a.has_value()) << c.text;
    EXPECT_EQ(a->value(), c.value) << c.text;
    EXPECT_EQ(a->to_string(), c.text);
  }
}

TEST(Ipv4Address, RejectsMalformedText) {
  for (const std::string_view text : {"",
                                      "1.2.3",
                                      "1.2.3.4.5",
                                      "256.1.1.1",
                                      "1.2.3.256",
                                      "1.2.3.999",
                                      " 1.2.3.4",
                                      "1.2.3.4 ",
                                      "1..2.3",
                                      "1..2.3.4",
                                      ".1.2.3",
                                      ".1.2.3.4",
                                      "1.2.3.",
                                      "1.2.3.4.",
                                      "+1.2.3.4",
                                      "-1.2.3.4",
                                      "1.2.3.-4",
                                      "1.+2.3.4",
                                      "0x1.2.3.4",
                                      "1.2.3.a",
                                      "a.b.c.d",
                                      "1,2,3,4",
                                      "1.2.3.4/24",
                                      "1111.2.3.4",
                                      "0001.2.3.4",
                                      "1.2.3.0004",
                                      "99999999999.1.1.1",
                                      "4294967296.0.0.0",
                                      "16909060",
                                      "1.2.3.4\n",
                                      "...",
                                      "."}) {
    EXPECT_FALSE(Ipv4Address::parse(text).has_value()) << '"' << text << '"';
  }
  // An embedded NUL is a character like any other, not an end marker.
  EXPECT_FALSE(Ipv4Address::parse(std::string_view("1.2.3.4\0", 8)).has_value());
  EXPECT_FALSE(Ipv4Address::parse(std::string_view("1.2\0.3.4", 8)).has_value());
}

TEST(Ipv4Address, LeadingZerosAreRefusedLikeInetPton) {
  // inet_aton() reads "010" as octal (8) and inet_pton() refuses it; synack refuses it too
  // rather than pick a meaning.
  EXPECT_FALSE(Ipv4Address::parse("01.2.3.4").has_value());
  EXPECT_FALSE(Ipv4Address::parse("010.0.0.1").has_value());
  EXPECT_FALSE(Ipv4Address::parse("000.000.000.000").has_value());
  EXPECT_FALSE(Ipv4Address::parse("1.2.3.00").has_value());
  // A lone zero is an octet like any other.
  EXPECT_EQ(Ipv4Address::parse("0.0.0.0"), Ipv4Address(0));
  EXPECT_EQ(Ipv4Address::parse("10.0.0.1")->to_string(), "10.0.0.1");
}

TEST(Ipv4Address, StopsAtTheEndOfTheView) {
  // The view need not be NUL-terminated: "1.2.3.45" cut to 7 characters is "1.2.3.4".
  const std::string_view text("1.2.3.45", 7);
  EXPECT_EQ(Ipv4Address::parse(text), Ipv4Address::from_octets(1, 2, 3, 4));
  EXPECT_FALSE(Ipv4Address::parse(std::string_view("1.2.3.45", 6)).has_value());
}

TEST(Ipv4Address, OctetsAndValueAgree) {
  const auto a = Ipv4Address::from_octets(192, 0, 2, 33);
  EXPECT_EQ(a.value(), 0xc0000221u);
  EXPECT_EQ(a.octets(), (std::array<uint8_t, 4>{192, 0, 2, 33}));
  EXPECT_EQ(a.to_string(), "192.0.2.33");
  EXPECT_EQ(Ipv4Address(), Ipv4Address(0));
  EXPECT_NE(Ipv4Address::from_octets(1, 2, 3, 4), Ipv4Address::from_octets(4, 3, 2, 1));
}

TEST(Ipv4Address, ToStringParseRoundTrip) {
  for (const uint32_t v : {0u, 1u, 0xffu, 0x100u, 0x0a000001u, 0x80000000u, 0xfffffffeu,
                           0xffffffffu, 0x7f7f7f7fu, 0x09630a64u}) {
    const Ipv4Address a(v);
    EXPECT_EQ(Ipv4Address::parse(a.to_string()), a) << a.to_string();
  }
}

TEST(Ipv4Address, Hashable) {
  std::unordered_set<Ipv4Address> set = {Ipv4Address::from_octets(10, 0, 0, 1),
                                         Ipv4Address::from_octets(10, 0, 0, 2),
                                         *Ipv4Address::parse("10.0.0.1")};
  EXPECT_EQ(set.size(), 2u);
}

}  // namespace
}  // namespace synack::wire
