#include "synack/wire/tcp_options.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "wire_test_util.hpp"

namespace synack::wire {
namespace {

using test::bytes_of;
using test::ByteVec;
using test::fails_with;
using test::hex;
using test::parses;
using test::to_hex;

// Emits into a larger sentinel-filled buffer and checks that exactly size() bytes changed
// hands: nothing is written past size().
ByteVec emit(const TcpOptions& options) {
  const size_t n = options.size();
  ByteVec out(n + 8, std::byte{0xee});
  options.emit(out);
  for (size_t i = n; i < out.size(); ++i) {
    EXPECT_EQ(out[i], std::byte{0xee}) << "emit wrote past size() at " << i;
  }
  out.resize(n);
  return out;
}

TcpOptions parse_ok(const ByteVec& area) {
  auto parsed = TcpOptions::parse(area);
  EXPECT_TRUE(parses(parsed)) << to_hex(area);
  return parsed ? *parsed : TcpOptions{};
}

SackBlocks sack_of(std::initializer_list<std::pair<uint32_t, uint32_t>> blocks) {
  SackBlocks out;
  for (const auto& [left, right] : blocks) {
    EXPECT_TRUE(out.push_back(SackBlock{SeqNum(left), SeqNum(right)}));
  }
  return out;
}

// ---- parsing ----

TEST(TcpOptionsParse, KernelSynOptions) {
  // Linux's SYN: mss 1460, sackOK, TS val 3764855834 ecr 0, nop, wscale 10.
  const TcpOptions o = parse_ok(hex("02 04 05 b4 04 02 08 0a e0 67 24 1a 00 00 00 00 01 03 03 0a"));
  EXPECT_EQ(o.mss, 1460);
  EXPECT_TRUE(o.sack_permitted);
  ASSERT_TRUE(o.timestamps.has_value());
  EXPECT_EQ(o.timestamps->value, 3764855834u);
  EXPECT_EQ(o.timestamps->echo_reply, 0u);
  EXPECT_EQ(o.window_scale, 10);
  EXPECT_TRUE(o.sack.empty());
  EXPECT_TRUE(o.unknown.empty());
}

TEST(TcpOptionsParse, EachKindAlone) {
  {
    const TcpOptions o = parse_ok(hex("02 04 ff ff"));
    EXPECT_EQ(o.mss, 65535);
    EXPECT_FALSE(o.window_scale || o.sack_permitted || o.timestamps || !o.sack.empty());
  }
  {
    const TcpOptions o = parse_ok(hex("03 03 0e 01"));
    EXPECT_EQ(o.window_scale, 14);
    EXPECT_FALSE(o.mss.has_value());
  }
  {
    // A window scale above 14 is kept as received (RFC 7323 §2.3 clamping is the engine's).
    const TcpOptions o = parse_ok(hex("01 03 03 ff"));
    EXPECT_EQ(o.window_scale, 255);
  }
  {
    const TcpOptions o = parse_ok(hex("04 02 00 00"));
    EXPECT_TRUE(o.sack_permitted);
    EXPECT_FALSE(o.mss.has_value());
  }
  {
    const TcpOptions o = parse_ok(hex("01 01 08 0a 01 02 03 04 fe dc ba 98"));
    ASSERT_TRUE(o.timestamps.has_value());
    EXPECT_EQ(o.timestamps->value, 0x01020304u);
    EXPECT_EQ(o.timestamps->echo_reply, 0xfedcba98u);
  }
  {
    const TcpOptions o = parse_ok(hex("01 01 01 01"));
    EXPECT_EQ(o, TcpOptions{});
  }
  EXPECT_EQ(parse_ok({}), TcpOptions{});
}

TEST(TcpOptionsParse, SackBlocksOneToFour) {
  const ByteVec area =
      hex("05 22 ff ff ff f0 00 00 00 10 00 00 00 20 00 00 00 30 80 00 00 00 80 00 01 00"
          " 7f ff ff ff 80 00 00 01 01 01");
  const TcpOptions o = parse_ok(area);
  EXPECT_EQ(
      o.sack,
      sack_of(
          {{0xfffffff0, 0x10}, {0x20, 0x30}, {0x80000000, 0x80000100}, {0x7fffffff, 0x80000001}}));
  for (size_t n = 1; n <= 4; ++n) {
    ByteVec one(area.begin(), area.begin() + static_cast<std::ptrdiff_t>(2 + 8 * n));
    one[1] = static_cast<std::byte>(2 + 8 * n);
    const TcpOptions p = parse_ok(one);
    ASSERT_EQ(p.sack.size(), n);
    for (size_t i = 0; i < n; ++i)
      EXPECT_EQ(p.sack[i], o.sack[i]) << n << " blocks";
  }
}

TEST(TcpOptionsParse, EolEndsTheList) {
  // Anything after EOL is padding, even bytes that would not validate.
  const TcpOptions o = parse_ok(hex("01 00 02 04 05 b4 08 0a"));
  EXPECT_FALSE(o.mss.has_value());
  EXPECT_FALSE(o.timestamps.has_value());
  EXPECT_TRUE(parses(TcpOptions::parse(hex("00 02 00 ff"))));
  EXPECT_TRUE(parses(TcpOptions::parse(hex("02 04 05 b4 00 05 02 ff"))));
  EXPECT_EQ(parse_ok(hex("02 04 05 b4 00 05 02 ff")).mss, 1460);
}

TEST(TcpOptionsParse, RepeatedOptionReplacesTheEarlierOne) {
  EXPECT_EQ(parse_ok(hex("02 04 00 01 02 04 00 02")).mss, 2);
  const TcpOptions o = parse_ok(hex("05 0a 00 00 00 01 00 00 00 02 05 0a 00 00 00 03 00 00 00 04"));
  EXPECT_EQ(o.sack, sack_of({{3, 4}}));
}

TEST(TcpOptionsParse, UnknownOptionsKeptInOrder) {
  // TFO cookie (34), an experimental option (254, RFC 6994), MD5 signature (19), a kind
  // with no data, mixed with known options that must not appear among the unknown ones.
  const ByteVec area =
      hex("22 06 aa bb cc dd 02 04 05 b4 fe 04 ca fe 13 12 00 01 02 03 04 05 06 07 08 09 0a 0b 0c"
          " 0d 0e 0f 01 9a 02 00");
  ASSERT_EQ(area.size(), 36u);
  const TcpOptions o = parse_ok(area);
  EXPECT_EQ(o.mss, 1460);
  EXPECT_EQ(to_hex(o.unknown.encoded()),
            "22 06 aa bb cc dd fe 04 ca fe 13 12 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f"
            " 9a 02");
  std::vector<std::pair<unsigned, std::string>> walked;
  auto walker = o.unknown.walk();
  while (auto option = walker.next())
    walked.emplace_back(option->kind, to_hex(option->data));
  const std::vector<std::pair<unsigned, std::string>> want = {
      {0x22, "aa bb cc dd"},
      {0xfe, "ca fe"},
      {0x13, "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f"},
      {0x9a, ""},
  };
  EXPECT_EQ(walked, want);
}

TEST(TcpOptionsParse, WalkerYieldsWireOrderAndStopsAfterEol) {
  const ByteVec area = hex("01 02 04 05 b4 fe 03 07 00 fe 02 01");
  ASSERT_TRUE(validate_tcp_options(area).has_value());
  TcpOptionWalker walker(area);
  std::vector<std::pair<unsigned, std::string>> walked;
  while (auto option = walker.next())
    walked.emplace_back(option->kind, to_hex(option->data));
  const std::vector<std::pair<unsigned, std::string>> want = {
      {tcp_option::kNop, ""}, {tcp_option::kMss, "05 b4"}, {0xfe, "07"}, {tcp_option::kEol, ""}};
  EXPECT_EQ(walked, want);
  EXPECT_FALSE(walker.next().has_value());  // stays ended
}

// ---- malformed option areas ----

struct BadArea {
  const char* what;
  const char* area;
  ParseError error;
};

TEST(TcpOptionsParse, MalformedAreasReturnTheirError) {
  const BadArea cases[] = {
      {"length 0", "fe 00 00 00", ParseError::kTcpOptionBadLength},
      {"length 0 on MSS", "02 00 00 00", ParseError::kTcpOptionBadLength},
      {"length 0 after NOPs", "01 01 22 00", ParseError::kTcpOptionBadLength},
      {"length 1", "fe 01 00 00", ParseError::kTcpOptionBadLength},
      {"length 1 on timestamps", "08 01 00 00", ParseError::kTcpOptionBadLength},
      {"overrun past the area", "fe 05 00 00", ParseError::kTcpOptionOverrun},
      {"timestamps overrun", "01 01 08 0a 00 00 00 00", ParseError::kTcpOptionOverrun},
      {"second option overruns", "02 04 05 b4 fe 06 00 00", ParseError::kTcpOptionOverrun},
      {"missing length byte", "01 01 01 fe", ParseError::kTcpOptionOverrun},
      {"missing length byte of MSS", "02", ParseError::kTcpOptionOverrun},
      {"missing length byte after MSS", "02 04 05 b4 08", ParseError::kTcpOptionOverrun},
      {"MSS length 2", "02 02 00 00", ParseError::kTcpOptionWrongLength},
      {"MSS length 3", "02 03 00 00", ParseError::kTcpOptionWrongLength},
      {"MSS length 5", "02 05 05 b4 00 00 00 00", ParseError::kTcpOptionWrongLength},
      {"window scale length 2", "03 02 00 00", ParseError::kTcpOptionWrongLength},
      {"window scale length 4", "03 04 0a 00", ParseError::kTcpOptionWrongLength},
      {"SACK-permitted length 3", "04 03 00 00", ParseError::kTcpOptionWrongLength},
      {"SACK-permitted length 4", "04 04 00 00", ParseError::kTcpOptionWrongLength},
      {"timestamps length 8", "08 08 00 00 00 00 00 00", ParseError::kTcpOptionWrongLength},
      {"timestamps length 12", "08 0c 00 00 00 00 00 00 00 00 00 00",
       ParseError::kTcpOptionWrongLength},
      {"SACK with no blocks", "05 02 00 00", ParseError::kTcpOptionBadSackLength},
      {"SACK length 9", "05 09 00 00 00 00 00 00 00 00 00 00", ParseError::kTcpOptionBadSackLength},
      {"SACK length 11", "05 0b 00 00 00 00 00 00 00 00 00 00",
       ParseError::kTcpOptionBadSackLength},
  };
  std::set<ParseError> distinct;
  for (const BadArea& c : cases) {
    const ByteVec area = hex(c.area);
    EXPECT_TRUE(fails_with(TcpOptions::parse(area), c.error)) << c.what;
    const auto valid = validate_tcp_options(area);
    ASSERT_FALSE(valid.has_value()) << c.what;
    EXPECT_EQ(valid.error(), c.error) << c.what;
    distinct.insert(c.error);
  }
  EXPECT_EQ(distinct.size(), 4u);
}

TEST(TcpOptionsParse, SackLengthMustBeTwoPlusEightN) {
  for (unsigned len = 2; len <= 40; ++len) {
    ByteVec area(40, std::byte{0});
    area[0] = std::byte{tcp_option::kSack};
    area[1] = static_cast<std::byte>(len);
    const auto parsed = TcpOptions::parse(area);
    if (len >= 10 && (len - 2) % 8 == 0) {
      ASSERT_TRUE(parses(parsed)) << "length " << len;
      EXPECT_EQ(parsed->sack.size(), (len - 2) / 8);
    } else {
      EXPECT_TRUE(fails_with(parsed, ParseError::kTcpOptionBadSackLength)) << "length " << len;
    }
  }
}

TEST(TcpOptionsParse, AreaLongerThanFortyBytesOverruns) {
  EXPECT_TRUE(parses(TcpOptions::parse(ByteVec(40, std::byte{tcp_option::kNop}))));
  EXPECT_TRUE(fails_with(TcpOptions::parse(ByteVec(44, std::byte{tcp_option::kNop})),
                         ParseError::kTcpOptionOverrun));
}

// ---- emission ----

TEST(TcpOptionsEmit, LinuxSynWithTimestamps) {
  // Byte for byte what the kernel sent (tests/wire/kernel_packets.hpp, kSyn / kSynAck).
  TcpOptions o;
  o.mss = 1460;
  o.sack_permitted = true;
  o.timestamps = TcpTimestamps{3764855834, 0};
  o.window_scale = 10;
  EXPECT_EQ(to_hex(emit(o)), "02 04 05 b4 04 02 08 0a e0 67 24 1a 00 00 00 00 01 03 03 0a");
  EXPECT_EQ(o.size(), 20u);
  o.timestamps = TcpTimestamps{2382602817, 3764855834};
  EXPECT_EQ(to_hex(emit(o)), "02 04 05 b4 04 02 08 0a 8e 03 a2 41 e0 67 24 1a 01 03 03 0a");
}

TEST(TcpOptionsEmit, LinuxSynWithoutTimestamps) {
  // kSynNoTimestamps (net.ipv4.tcp_timestamps=0): mss, nop, nop, sackOK, nop, wscale.
  TcpOptions o;
  o.mss = 1460;
  o.sack_permitted = true;
  o.window_scale = 10;
  EXPECT_EQ(to_hex(emit(o)), "02 04 05 b4 01 01 04 02 01 03 03 0a");
}

TEST(TcpOptionsEmit, LinuxSynVariants) {
  // tcp_options_write() in net/ipv4/tcp_output.c: the other combinations a SYN can carry.
  TcpOptions o;
  o.mss = 536;
  EXPECT_EQ(to_hex(emit(o)), "02 04 02 18");
  o.sack_permitted = true;
  EXPECT_EQ(to_hex(emit(o)), "02 04 02 18 01 01 04 02");
  o.sack_permitted = false;
  o.timestamps = TcpTimestamps{1, 2};
  EXPECT_EQ(to_hex(emit(o)), "02 04 02 18 01 01 08 0a 00 00 00 01 00 00 00 02");
  o.window_scale = 7;
  EXPECT_EQ(to_hex(emit(o)), "02 04 02 18 01 01 08 0a 00 00 00 01 00 00 00 02 01 03 03 07");
  TcpOptions ws_only;
  ws_only.window_scale = 0;
  EXPECT_EQ(to_hex(emit(ws_only)), "01 03 03 00");
  EXPECT_EQ(TcpOptions{}.size(), 0u);
}

TEST(TcpOptionsEmit, LinuxDataSegmentWithTimestamps) {
  // kAck: nop, nop, TS.
  TcpOptions o;
  o.timestamps = TcpTimestamps{3764855834, 2382602817};
  EXPECT_EQ(to_hex(emit(o)), "01 01 08 0a e0 67 24 1a 8e 03 a2 41");
}

TEST(TcpOptionsEmit, LinuxTimestampsAndSackBlocks) {
  // nop nop TS nop nop SACK: 12 + 2 + 2 + 8n bytes; three blocks fill the 40 bytes.
  TcpOptions o;
  o.timestamps = TcpTimestamps{0x11111111, 0x22222222};
  o.sack = sack_of({{0x1000, 0x2000}});
  EXPECT_EQ(to_hex(emit(o)),
            "01 01 08 0a 11 11 11 11 22 22 22 22 01 01 05 0a 00 00 10 00 00 00 20 00");
  o.sack = sack_of({{0x1000, 0x2000}, {0xfffffff0, 0x5}});
  EXPECT_EQ(to_hex(emit(o)),
            "01 01 08 0a 11 11 11 11 22 22 22 22 01 01 05 12 00 00 10 00 00 00 20 00"
            " ff ff ff f0 00 00 00 05");
  o.sack = sack_of({{1, 2}, {3, 4}, {5, 6}});
  EXPECT_EQ(to_hex(emit(o)),
            "01 01 08 0a 11 11 11 11 22 22 22 22 01 01 05 1a 00 00 00 01 00 00 00 02"
            " 00 00 00 03 00 00 00 04 00 00 00 05 00 00 00 06");
  EXPECT_TRUE(o.fits());
}

TEST(TcpOptionsEmit, SackBlocksWithoutTimestamps) {
  TcpOptions o;
  o.sack = sack_of({{1, 2}, {3, 4}, {5, 6}, {7, 8}});
  EXPECT_EQ(to_hex(emit(o)),
            "01 01 05 22 00 00 00 01 00 00 00 02 00 00 00 03 00 00 00 04 00 00 00 05 00 00 00 06"
            " 00 00 00 07 00 00 00 08");
  EXPECT_TRUE(o.fits());
}

TEST(TcpOptionsEmit, PackedWhenTheAlignedLayoutExceedsFortyBytes) {
  // MSS + TS + 3 SACK blocks: aligned 4 + 12 + 28 = 44 bytes; packed 4 + 10 + 26 = 40.
  TcpOptions o;
  o.mss = 1460;
  o.timestamps = TcpTimestamps{0xaabbccdd, 0x01020304};
  o.sack = sack_of({{1, 2}, {3, 4}, {5, 6}});
  EXPECT_TRUE(o.fits());
  EXPECT_EQ(o.size(), 40u);
  const ByteVec out = emit(o);
  EXPECT_EQ(to_hex(out),
            "02 04 05 b4 08 0a aa bb cc dd 01 02 03 04 05 1a 00 00 00 01 00 00 00 02"
            " 00 00 00 03 00 00 00 04 00 00 00 05 00 00 00 06");
  EXPECT_EQ(parse_ok(out), o);
}

TEST(TcpOptionsEmit, PackedLayoutIsPaddedWithEol) {
  // wscale + TS + 3 SACK blocks: aligned 4 + 12 + 28 = 44; packed 3 + 10 + 26 = 39 -> 40.
  TcpOptions o;
  o.window_scale = 7;
  o.timestamps = TcpTimestamps{5, 6};
  o.sack = sack_of({{1, 2}, {3, 4}, {5, 6}});
  ASSERT_TRUE(o.fits());
  const ByteVec out = emit(o);
  ASSERT_EQ(out.size(), 40u);
  EXPECT_EQ(out.back(), std::byte{tcp_option::kEol});
  EXPECT_EQ(parse_ok(out), o);
}

TEST(TcpOptionsEmit, TooManyOptionsDoNotFit) {
  TcpOptions o;
  o.mss = 1460;
  o.timestamps = TcpTimestamps{1, 2};
  o.sack = sack_of({{1, 2}, {3, 4}, {5, 6}, {7, 8}});  // packed: 4 + 10 + 34 = 48
  EXPECT_FALSE(o.fits());
  EXPECT_GT(o.size(), kTcpMaxOptionsLen);
  EXPECT_EQ(o.size() % 4, 0u);
}

TEST(TcpOptionsEmit, UnknownOptionsFollowTheKnownOnes) {
  TcpOptions o;
  o.mss = 1400;
  ASSERT_TRUE(o.unknown.push_back(0xfe, hex("ca fe")));
  ASSERT_TRUE(o.unknown.push_back(0x9a, {}));
  EXPECT_EQ(to_hex(emit(o)), "02 04 05 78 fe 04 ca fe 9a 02 00 00");
}

TEST(TcpOptionsEmit, EveryCombinationHasSizeMultipleOfFourAndRoundTrips) {
  const std::vector<std::optional<uint16_t>> mss_values = {std::nullopt, 1460};
  const std::vector<std::optional<uint8_t>> ws_values = {std::nullopt, 0, 14};
  const std::vector<std::optional<TcpTimestamps>> ts_values = {std::nullopt,
                                                               TcpTimestamps{7, 0xffffffff}};
  const std::vector<ByteVec> unknown_values = {{}, hex("fe 03 aa"), hex("fd 08 01 02 03 04 05 06")};
  int fitting = 0;
  for (const auto& mss : mss_values) {
    for (const auto& ws : ws_values) {
      for (const bool sack_ok : {false, true}) {
        for (const auto& ts : ts_values) {
          for (size_t blocks = 0; blocks <= kMaxSackBlocks; ++blocks) {
            for (const ByteVec& unknown : unknown_values) {
              TcpOptions o;
              o.mss = mss;
              o.window_scale = ws;
              o.sack_permitted = sack_ok;
              o.timestamps = ts;
              for (uint32_t b = 0; b < blocks; ++b) {
                o.sack.push_back(SackBlock{SeqNum(100 * b), SeqNum(100 * b + 50)});
              }
              if (!unknown.empty()) {
                o.unknown.push_back(std::to_integer<uint8_t>(unknown[0]),
                                    Bytes(unknown).subspan(2));
              }
              SCOPED_TRACE(testing::Message()
                           << "mss " << mss.has_value() << " ws " << ws.has_value() << " sackOK "
                           << sack_ok << " ts " << ts.has_value() << " blocks " << blocks
                           << " unknown " << unknown.size());
              ASSERT_EQ(o.size() % 4, 0u);
              ASSERT_EQ(o.fits(), o.size() <= kTcpMaxOptionsLen);
              if (!o.fits()) continue;
              ++fitting;
              const ByteVec out = emit(o);
              ASSERT_EQ(out.size(), o.size());
              ASSERT_EQ(parse_ok(out), o) << to_hex(out);
            }
          }
        }
      }
    }
  }
  EXPECT_GT(fitting, 200);
}

// The shapes the engine asks about before building a data segment (payload room): the
// timestamps with up to three SACK blocks, or up to four SACK blocks alone.
TEST(TcpOptionsEmit, SizeOfAShapeIsTheSizeOfOptionsOfThatShape) {
  for (const bool ts : {false, true}) {
    for (size_t blocks = 0; blocks <= kMaxSackBlocks; ++blocks) {
      TcpOptions o;
      if (ts) o.timestamps = TcpTimestamps{1, 2};
      for (uint32_t b = 0; b < blocks; ++b) {
        o.sack.push_back(SackBlock{SeqNum(100 * b), SeqNum(100 * b + 50)});
      }
      const size_t n = TcpOptions::size_of({.timestamps = ts, .sack_blocks = blocks});
      EXPECT_EQ(n, o.size()) << "ts " << ts << " blocks " << blocks;
      if (o.fits()) {
        EXPECT_EQ(emit(o).size(), n);
      }
    }
  }
  EXPECT_EQ(TcpOptions::size_of({.timestamps = true}), 12u);
  EXPECT_EQ(TcpOptions::size_of({.timestamps = true, .sack_blocks = 3}), 40u);
  EXPECT_EQ(TcpOptions::size_of({.sack_blocks = 4}), 36u);
}

// Random well-formed option areas of at most 40 bytes.
ByteVec random_area(std::mt19937& rng) {
  std::uniform_int_distribution<uint32_t> u32;
  const auto byte = [&] { return static_cast<std::byte>(u32(rng)); };
  ByteVec area;
  const size_t limit = u32(rng) % (kTcpMaxOptionsLen + 1);
  while (area.size() < limit) {
    const size_t room = limit - area.size();
    ByteVec option;
    switch (u32(rng) % 8) {
      case 0:
        option = {std::byte{tcp_option::kNop}};
        break;
      case 1:
        option = {std::byte{2}, std::byte{4}, byte(), byte()};
        break;
      case 2:
        option = {std::byte{3}, std::byte{3}, byte()};
        break;
      case 3:
        option = {std::byte{4}, std::byte{2}};
        break;
      case 4:
        option = {std::byte{8}, std::byte{10}};
        for (int i = 0; i < 8; ++i)
          option.push_back(byte());
        break;
      case 5: {
        const size_t n = 1 + u32(rng) % 4;
        option = {std::byte{5}, static_cast<std::byte>(2 + 8 * n)};
        for (size_t i = 0; i < 8 * n; ++i)
          option.push_back(byte());
        break;
      }
      case 6: {
        uint8_t kind = 0;
        do {
          kind = static_cast<uint8_t>(u32(rng));
        } while (kind <= 5 || kind == 8);
        const size_t len = 2 + u32(rng) % 12;
        option = {std::byte{kind}, static_cast<std::byte>(len)};
        for (size_t i = 2; i < len; ++i)
          option.push_back(byte());
        break;
      }
      default:
        // EOL, then padding that need not parse.
        option = {std::byte{tcp_option::kEol}};
        while (option.size() < room)
          option.push_back(byte());
        break;
    }
    if (option.size() > room) break;
    area.insert(area.end(), option.begin(), option.end());
    if (option[0] == std::byte{tcp_option::kEol}) break;
  }
  return area;
}

TEST(TcpOptionsEmit, ParseEmitParseRoundTrip) {
  std::mt19937 rng(7323);
  for (int iter = 0; iter < 20000; ++iter) {
    const ByteVec area = random_area(rng);
    const auto first = TcpOptions::parse(area);
    ASSERT_TRUE(parses(first)) << to_hex(area);
    ASSERT_TRUE(first->fits()) << to_hex(area);
    const ByteVec out = emit(*first);
    ASSERT_LE(out.size(), kTcpMaxOptionsLen);
    const auto second = TcpOptions::parse(out);
    ASSERT_TRUE(parses(second)) << to_hex(out);
    ASSERT_EQ(*second, *first) << to_hex(area) << " -> " << to_hex(out);
  }
}

// ---- containers ----

TEST(TcpOptionsContainers, SackBlocksHoldAtMostFour) {
  SackBlocks s;
  EXPECT_TRUE(s.empty());
  for (uint32_t i = 0; i < kMaxSackBlocks; ++i) {
    EXPECT_FALSE(s.full());
    EXPECT_TRUE(s.push_back(SackBlock{SeqNum(i), SeqNum(i + 1)}));
  }
  EXPECT_TRUE(s.full());
  EXPECT_FALSE(s.push_back(SackBlock{SeqNum(9), SeqNum(10)}));
  EXPECT_EQ(s.size(), kMaxSackBlocks);
  EXPECT_EQ(s[3], (SackBlock{SeqNum(3), SeqNum(4)}));
  // Equality looks only at the held blocks.
  SackBlocks t = s;
  t.clear();
  EXPECT_TRUE(t.empty());
  EXPECT_NE(t, s);
  EXPECT_EQ(t, SackBlocks{});
}

TEST(TcpOptionsContainers, UnknownOptionsFitInFortyBytes) {
  UnknownTcpOptions u;
  EXPECT_TRUE(u.empty());
  const ByteVec data(36, std::byte{0x42});
  EXPECT_TRUE(u.push_back(0xfe, data));  // 38 bytes
  EXPECT_TRUE(u.push_back(0xfd, {}));    // 40 bytes
  EXPECT_FALSE(u.push_back(0xfc, {}));   // 42 would not fit
  EXPECT_EQ(u.encoded().size(), 40u);
  UnknownTcpOptions v;
  EXPECT_FALSE(v.push_back(0xfe, ByteVec(39, std::byte{0})));
  EXPECT_TRUE(v.empty());
  EXPECT_NE(u, v);
}

TEST(TcpOptionsContainers, EolAndNopAreNotUnknownOptions) {
  // They have no length byte: kept as (kind, length, data) they would emit a malformed area.
  UnknownTcpOptions u;
  EXPECT_FALSE(u.push_back(tcp_option::kEol, {}));
  EXPECT_FALSE(u.push_back(tcp_option::kNop, {}));
  EXPECT_TRUE(u.empty());
}

}  // namespace
}  // namespace synack::wire
