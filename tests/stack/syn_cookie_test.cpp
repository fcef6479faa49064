#include "synack/stack/syn_cookie.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "synack/tcp/four_tuple.hpp"

namespace synack::stack {
namespace {

using tcp::Endpoint;
using tcp::FourTuple;
using wire::Ipv4Address;
using wire::SeqLen;
using wire::SeqNum;

// std::mt19937's result_type is unsigned long; hand out the 32 bits it makes as uint32_t.
class Rng {
 public:
  explicit Rng(uint32_t seed) : engine_(seed) {}
  uint32_t operator()() { return static_cast<uint32_t>(engine_()); }

 private:
  std::mt19937 engine_;
};

constexpr SynCookies::Key kKey1 = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
constexpr SynCookies::Key kKey2 = {16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

// The listener's view: local = us (the server), remote = the client.
const FourTuple kTuple{Endpoint{Ipv4Address::from_octets(10, 0, 0, 2), 80},
                       Endpoint{Ipv4Address::from_octets(10, 0, 0, 1), 41631}};

constexpr SeqNum kClientIsn(2970024578u);
constexpr int64_t kPeriodUs = SynCookies::kCounterPeriod.as_micros();

// The first microsecond of counter tick `tick` (Unix-epoch-like instants, around 2024).
Instant tick_start(int64_t tick) {
  return Instant::from_micros(tick * kPeriodUs);
}
const Instant kNow = tick_start(28'401'120);  // 2024-01-01T00:00:00Z is tick 28401120

// The final ACK of the handshake: SEG.SEQ = client ISN + 1, SEG.ACK = cookie + 1.
expected<CheckedSynCookie, SynCookieFailure> check_ack(const SynCookies& c, const FourTuple& t,
                                                       SeqNum client_isn, SeqNum iss, Instant now) {
  return c.check(t, client_isn + SeqLen(1), iss + SeqLen(1), now);
}

// ---- Failure names ----

TEST(SynCookieFailure, NamesAreDistinctAndIndexesDense) {
  std::set<std::string> names;
  for (size_t i = 0; i < kSynCookieFailureCount; ++i) {
    const auto f = static_cast<SynCookieFailure>(i + 1);
    EXPECT_EQ(index_of(f), i);
    const std::string name(to_string(f));
    EXPECT_TRUE(name.starts_with("syncookie-")) << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), kSynCookieFailureCount);
  EXPECT_EQ(to_string(SynCookieFailure::kBadHash), "syncookie-bad-hash");
  EXPECT_EQ(to_string(SynCookieFailure::kCounterExpired), "syncookie-counter-expired");
  EXPECT_EQ(kSyncookiesFailedCounter, "TcpExtSyncookiesFailed");
  EXPECT_EQ(kSyncookiesSentCounter, "TcpExtSyncookiesSent");
  EXPECT_EQ(kSyncookiesRecvCounter, "TcpExtSyncookiesRecv");
}

// ---- Constants and building blocks ----

TEST(SynCookies, ConstantsMatchLinux) {
  static_assert(SynCookies::kKeySize == 16);
  static_assert(std::is_same_v<SynCookies::Key::value_type, uint8_t>);
  EXPECT_EQ(SynCookies::kCounterPeriod, Duration::seconds(60));  // TCP_SYNCOOKIE_PERIOD
  EXPECT_EQ(SynCookies::kMaxAge, 2u);                            // MAX_SYNCOOKIE_AGE
  EXPECT_EQ(SynCookies::kHashBits, 24u);                         // COOKIEBITS
  EXPECT_EQ(SynCookies::kMssTable, (std::array<uint16_t, 4>{536, 1300, 1440, 1460}));
}

TEST(SynCookies, CounterIsWholePeriodsFlooredModulo2To32) {
  EXPECT_EQ(SynCookies::counter(Instant::from_micros(0)), 0u);
  EXPECT_EQ(SynCookies::counter(Instant::from_micros(kPeriodUs - 1)), 0u);
  EXPECT_EQ(SynCookies::counter(Instant::from_micros(kPeriodUs)), 1u);
  EXPECT_EQ(SynCookies::counter(kNow), 28'401'120u);
  // Before the epoch: floor, so the counter keeps rising through zero.
  EXPECT_EQ(SynCookies::counter(Instant::from_micros(-1)), 0xffffffffu);
  EXPECT_EQ(SynCookies::counter(Instant::from_micros(-kPeriodUs)), 0xffffffffu);
  EXPECT_EQ(SynCookies::counter(Instant::from_micros(-kPeriodUs - 1)), 0xfffffffeu);
  // 2^32 ticks later it wraps.
  EXPECT_EQ(SynCookies::counter(tick_start(int64_t{1} << 32)), 0u);
  EXPECT_EQ(SynCookies::counter(tick_start((int64_t{1} << 32) - 1)), 0xffffffffu);
}

TEST(SynCookies, MssIndexIsLargestEntryNotAboveClientMss) {
  struct Case {
    uint16_t client_mss;
    uint8_t index;
  };
  const Case cases[] = {
      {0, 0},    {1, 0},    {535, 0},  {536, 0},  {537, 0},   {1299, 0},
      {1300, 1}, {1301, 1}, {1439, 1}, {1440, 2}, {1441, 2},  {1452, 2},
      {1459, 2}, {1460, 3}, {1461, 3}, {8960, 3}, {65535, 3},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(SynCookies::mss_index(c.client_mss), c.index) << "client mss " << c.client_mss;
  }
}

// Known answers from an independent SipHash-2-4 (a Python transcription of the paper's
// reference code, checked against its vector a129ca6149be45e5 for key 00..0f, message
// 00..0e). They pin the serialization: client address, our address, client port, our port,
// count, all big-endian, output read little-endian and cut to 32 bits.
TEST(SynCookies, HashesMatchSipHash24ReferenceVectors) {
  const SynCookies c(kKey1, kKey2);
  const FourTuple bytes_0_to_11{Endpoint{Ipv4Address::from_octets(4, 5, 6, 7), 0x0a0b},
                                Endpoint{Ipv4Address::from_octets(0, 1, 2, 3), 0x0809}};
  // H1: key 00..0f, message 00..0b 00 00 00 00.
  EXPECT_EQ(c.h1(bytes_0_to_11), 0x58305f2au);
  // H2: key 10..1f, message 00..0f.
  EXPECT_EQ(c.h2(bytes_0_to_11, 0x0c0d0e0f), 0x86aa2caeu);
  // The same message under key 00..0f is the paper's 16-byte vector (db9bc257...): the two
  // hashes really use different keys.
  const SynCookies swapped(kKey2, kKey1);
  EXPECT_EQ(swapped.h2(bytes_0_to_11, 0x0c0d0e0f), 0x57c29bdbu);
  EXPECT_EQ(swapped.h1(bytes_0_to_11), 0xa0ea7ad4u);

  // The whole formula: 0x58305f2a + 0x11223344 + (0x0f << 24) + ((0x86aa2cae + 3) mod 2^24).
  EXPECT_EQ(c.encode(bytes_0_to_11, SeqNum(0x11223344), 0x0c0d0e0f, 3), 0x78fcbf1fu);
}

TEST(SynCookies, EncodeIsLinuxFormula) {
  const SynCookies c(kKey1, kKey2);
  for (uint32_t count : {0u, 1u, 255u, 256u, 0x12345678u, 0xffffffffu}) {
    for (uint32_t data = 0; data < 4; ++data) {
      const uint32_t expected_cookie = c.h1(kTuple) + kClientIsn.value() + (count << 24) +
                                       ((c.h2(kTuple, count) + data) & 0xffffff);
      EXPECT_EQ(c.encode(kTuple, kClientIsn, count, data), expected_cookie);
    }
  }
}

// ---- Round trips ----

TEST(SynCookies, RoundTripEveryTableEntry) {
  const SynCookies c(kKey1, kKey2);
  for (uint16_t mss : SynCookies::kMssTable) {
    const SynCookie cookie = c.make(kTuple, kClientIsn, mss, kNow);
    EXPECT_EQ(cookie.mss, mss);
    const auto checked = check_ack(c, kTuple, kClientIsn, cookie.iss, kNow);
    ASSERT_TRUE(checked) << "mss " << mss << ": " << to_string(checked.error());
    EXPECT_EQ(checked->iss, cookie.iss);
    EXPECT_EQ(checked->irs, kClientIsn);
    EXPECT_EQ(checked->mss, mss);
  }
}

TEST(SynCookies, RoundTripClientMssAroundBoundaries) {
  const SynCookies c(kKey1, kKey2);
  struct Case {
    uint16_t client_mss;
    uint16_t encoded;
  };
  // Below 536 Linux rounds up to 536 (index 0) rather than refusing the SYN.
  const Case cases[] = {
      {1, 536},     {535, 536},   {536, 536},   {537, 536},   {1299, 536},
      {1300, 1300}, {1301, 1300}, {1439, 1300}, {1440, 1440}, {1441, 1440},
      {1459, 1440}, {1460, 1460}, {1461, 1460}, {9000, 1460}, {65535, 1460},
  };
  for (const Case& k : cases) {
    const SynCookie cookie = c.make(kTuple, kClientIsn, k.client_mss, kNow);
    EXPECT_EQ(cookie.mss, k.encoded) << "client mss " << k.client_mss;
    const auto checked = check_ack(c, kTuple, kClientIsn, cookie.iss, kNow + Duration::seconds(5));
    ASSERT_TRUE(checked) << "client mss " << k.client_mss;
    EXPECT_EQ(checked->mss, k.encoded) << "client mss " << k.client_mss;
  }
}

TEST(SynCookies, RoundTripManyTuplesIsnsAndTimes) {
  const SynCookies c(kKey1, kKey2);
  Rng rng(6528);
  for (int i = 0; i < 20'000; ++i) {
    const FourTuple t{Endpoint{Ipv4Address(rng()), static_cast<uint16_t>(rng())},
                      Endpoint{Ipv4Address(rng()), static_cast<uint16_t>(rng())}};
    const SeqNum isn(rng());
    const auto client_mss = static_cast<uint16_t>(rng());
    const Instant made = Instant::from_micros(static_cast<int64_t>(rng()) * 1'000'000);
    const Duration delay = Duration::micros(static_cast<int64_t>(rng() % 60'000'000));
    const SynCookie cookie = c.make(t, isn, client_mss, made);
    const auto checked = check_ack(c, t, isn, cookie.iss, made + delay);
    ASSERT_TRUE(checked) << i;
    EXPECT_EQ(checked->mss, SynCookies::kMssTable[SynCookies::mss_index(client_mss)]);
  }
}

// ---- Options in the timestamp ----

TEST(SynCookieTimestamps, RoundTripEveryOptionCombination) {
  const SynCookies c(kKey1, kKey2);
  std::vector<std::optional<uint8_t>> scales = {std::nullopt};
  for (uint8_t s = 0; s <= kMaxWindowScale; ++s)
    scales.push_back(s);
  const uint32_t ts_now = 123'456'789;
  for (const auto& scale : scales) {
    for (bool sack : {false, true}) {
      for (bool ecn : {false, true}) {
        const SynCookieOptions options{scale, sack, ecn};
        // SYN-ACK: cookie in the ISN, options in the TSval; the final ACK echoes the TSval.
        const SynCookie cookie = c.make(kTuple, kClientIsn, 1460, kNow);
        const uint32_t tsval = syn_cookie_tsval(ts_now, options);
        const auto checked = check_ack(c, kTuple, kClientIsn, cookie.iss, kNow);
        ASSERT_TRUE(checked);
        EXPECT_EQ(checked->mss, 1460);
        EXPECT_EQ(syn_cookie_options(tsval), options)
            << "wscale " << (scale ? int{*scale} : -1) << " sack " << sack << " ecn " << ecn;
      }
    }
  }
}

TEST(SynCookieTimestamps, LowSixBitsLayoutIsLinuxs) {
  // | ECN (bit 5) | SACK (bit 4) | window scale (bits 3..0, 0xf = none) |
  EXPECT_EQ(syn_cookie_option_bits({}), 0x0fu);
  EXPECT_EQ(syn_cookie_option_bits({.window_scale = 0}), 0x00u);
  EXPECT_EQ(syn_cookie_option_bits({.window_scale = 7}), 0x07u);
  EXPECT_EQ(syn_cookie_option_bits({.window_scale = 14}), 0x0eu);
  EXPECT_EQ(syn_cookie_option_bits({.window_scale = std::nullopt, .sack_permitted = true}), 0x1fu);
  EXPECT_EQ(
      syn_cookie_option_bits({.window_scale = std::nullopt, .sack_permitted = false, .ecn = true}),
      0x2fu);
  EXPECT_EQ(syn_cookie_option_bits({.window_scale = 7, .sack_permitted = true, .ecn = true}),
            0x37u);
  // Low bits 0x17 fit under ts_now's 40 (1000 = 960 + 40): 960 + 0x17.
  EXPECT_EQ(syn_cookie_tsval(1000, {.window_scale = 7, .sack_permitted = true}), 983u);
  // Under ts_now's 10 they do not: one 64-tick step back, 896 + 0x17.
  EXPECT_EQ(syn_cookie_tsval(970, {.window_scale = 7, .sack_permitted = true}), 919u);
}

TEST(SynCookieTimestamps, WindowScaleAbove14IsClampedTo14) {
  // RFC 7323 §2.3; 15 would read back as "no window scaling".
  for (uint8_t s : {uint8_t{15}, uint8_t{200}, uint8_t{255}}) {
    const uint32_t tsval = syn_cookie_tsval(5000, {.window_scale = s});
    EXPECT_EQ(syn_cookie_options(tsval).window_scale, std::optional<uint8_t>(14));
  }
}

TEST(SynCookieTimestamps, TsvalIsNeverAheadOfTheClockAndWithin64) {
  const uint32_t clocks[] = {0,    1,          5,          63,         64,         65,
                             1000, 0x7fffffff, 0x80000000, 0xffffffc0, 0xfffffffe, 0xffffffff};
  for (uint32_t ts_now : clocks) {
    for (uint32_t bits = 0; bits < 64; ++bits) {
      const SynCookieOptions options = syn_cookie_options(bits);
      const uint32_t tsval = syn_cookie_tsval(ts_now, options);
      // Modulo 2^32, as RFC 7323 compares timestamps.
      EXPECT_LT(ts_now - tsval, 64u) << ts_now << " " << bits;
      EXPECT_EQ(syn_cookie_options(tsval), options) << ts_now << " " << bits;
    }
  }
  // Near zero the step back wraps: 0 with options 0x2f becomes 2^32 - 64 + 0x2f.
  EXPECT_EQ(
      syn_cookie_tsval(0, {.window_scale = std::nullopt, .sack_permitted = false, .ecn = true}),
      0xffffffefu);
}

TEST(SynCookieTimestamps, NoTimestampsInTheAckMeansNoOptions) {
  EXPECT_EQ(syn_cookie_options(std::nullopt), SynCookieOptions{});
  const SynCookieOptions none = syn_cookie_options(std::nullopt);
  EXPECT_FALSE(none.window_scale.has_value());
  EXPECT_FALSE(none.sack_permitted);
  EXPECT_FALSE(none.ecn);
  // A TSecr with 0xf in the low nibble: timestamps, but no window scaling.
  EXPECT_EQ(syn_cookie_options(0x1234'563fu), (SynCookieOptions{std::nullopt, true, true}));
}

// ---- Refusals ----

TEST(SynCookies, TamperedCookieFails) {
  const SynCookies c(kKey1, kKey2);
  for (uint16_t mss : SynCookies::kMssTable) {
    const SynCookie cookie = c.make(kTuple, kClientIsn, mss, kNow);
    // Bits 3..23 move the data field by 8 or more, out of the data space (or, with a
    // carry, the counter); bits 24..31 move the counter, to the future or to an older
    // tick whose H2 does not match.
    for (uint32_t bit = 3; bit < 32; ++bit) {
      const SeqNum tampered(cookie.iss.value() ^ (uint32_t{1} << bit));
      EXPECT_FALSE(check_ack(c, kTuple, kClientIsn, tampered, kNow)) << "bit " << bit;
    }
    // Adding 8 to the data field is a bad hash, whatever the index.
    const auto plus_eight = check_ack(c, kTuple, kClientIsn, cookie.iss + SeqLen(8), kNow);
    ASSERT_FALSE(plus_eight);
    EXPECT_EQ(plus_eight.error(), SynCookieFailure::kBadHash);
  }
}

TEST(SynCookies, SmallOffsetsShiftTheIndexAsInLinux) {
  // The encoding is additive, not a MAC: SEG.ACK one too high, or SEG.SEQ one too low,
  // reads as the neighbouring index. Pinned so that nobody mistakes it for a bug later.
  const SynCookies c(kKey1, kKey2);
  const SynCookie cookie = c.make(kTuple, kClientIsn, 1300, kNow);  // index 1
  const auto ack_plus_one = check_ack(c, kTuple, kClientIsn, cookie.iss + SeqLen(1), kNow);
  ASSERT_TRUE(ack_plus_one);
  EXPECT_EQ(ack_plus_one->mss, 1440);
  const auto seq_minus_one = check_ack(c, kTuple, kClientIsn - SeqLen(1), cookie.iss, kNow);
  ASSERT_TRUE(seq_minus_one);
  EXPECT_EQ(seq_minus_one->mss, 1440);
  const auto seq_plus_one = check_ack(c, kTuple, kClientIsn + SeqLen(1), cookie.iss, kNow);
  ASSERT_TRUE(seq_plus_one);
  EXPECT_EQ(seq_plus_one->mss, 536);
  // Two below index 0 is outside every data value.
  const auto seq_plus_two = check_ack(c, kTuple, kClientIsn + SeqLen(2), cookie.iss, kNow);
  ASSERT_FALSE(seq_plus_two);
  EXPECT_EQ(seq_plus_two.error(), SynCookieFailure::kBadHash);
}

TEST(SynCookies, WrongTupleFails) {
  const SynCookies c(kKey1, kKey2);
  const SynCookie cookie = c.make(kTuple, kClientIsn, 1460, kNow);
  std::vector<FourTuple> others = {kTuple.reversed()};
  FourTuple t = kTuple;
  t.local.addr = Ipv4Address::from_octets(10, 0, 0, 3);
  others.push_back(t);
  t = kTuple;
  t.local.port = 81;
  others.push_back(t);
  t = kTuple;
  t.remote.addr = Ipv4Address::from_octets(10, 0, 0, 4);
  others.push_back(t);
  t = kTuple;
  t.remote.port = 41632;
  others.push_back(t);
  t = kTuple;
  std::swap(t.remote.port, t.local.port);  // ports swapped, addresses not
  others.push_back(t);
  for (uint32_t port = 0; port < 2000; ++port) {
    t = kTuple;
    t.remote.port = static_cast<uint16_t>(30000 + port);
    others.push_back(t);
  }
  for (const FourTuple& other : others) {
    EXPECT_FALSE(check_ack(c, other, kClientIsn, cookie.iss, kNow)) << other.to_string();
  }
}

TEST(SynCookies, WrongClientIsnFails) {
  const SynCookies c(kKey1, kKey2);
  const SynCookie cookie = c.make(kTuple, kClientIsn, 536, kNow);  // index 0
  // Off by more than the data space in either direction, or by any power of two from 8 up.
  for (uint32_t delta : {8u, 9u, 100u, 1000u, 65536u, 0x00ffffffu, 0x01000000u, 0x7fffffffu,
                         0x80000000u, 0xfffffff8u, 0xffffff00u}) {
    EXPECT_FALSE(check_ack(c, kTuple, kClientIsn + SeqLen(delta), cookie.iss, kNow)) << delta;
  }
  for (uint32_t bit = 3; bit < 32; ++bit) {
    const SeqNum isn(kClientIsn.value() ^ (uint32_t{1} << bit));
    EXPECT_FALSE(check_ack(c, kTuple, isn, cookie.iss, kNow)) << "bit " << bit;
  }
  // For index 0 even one too high fails: the data field goes to 2^24 - 1.
  const auto plus_one = check_ack(c, kTuple, kClientIsn + SeqLen(1), cookie.iss, kNow);
  ASSERT_FALSE(plus_one);
  EXPECT_EQ(plus_one.error(), SynCookieFailure::kBadHash);
}

TEST(SynCookies, DataPastTheTableIsBadMssIndexThenBadHash) {
  const SynCookies c(kKey1, kKey2);
  const uint32_t count = SynCookies::counter(kNow);
  for (uint32_t data = 0; data < 12; ++data) {
    const uint32_t cookie = c.encode(kTuple, kClientIsn, count, data);
    const auto index = c.decode(kTuple, kClientIsn, cookie, count);
    if (data < SynCookies::kMssTable.size()) {
      ASSERT_TRUE(index) << data;
      EXPECT_EQ(*index, data);
    } else if (data < SynCookies::kDataSpace) {
      ASSERT_FALSE(index) << data;
      EXPECT_EQ(index.error(), SynCookieFailure::kBadMssIndex) << data;
    } else {
      ASSERT_FALSE(index) << data;
      EXPECT_EQ(index.error(), SynCookieFailure::kBadHash) << data;
    }
  }
}

TEST(SynCookies, RandomForgeriesAreRefused) {
  // A blind attacker guessing SEG.ACK: each guess passes with probability 4 / 2^24 at best.
  const SynCookies c(kKey1, kKey2);
  Rng rng(4987);
  int accepted = 0;
  std::array<int, kSynCookieFailureCount> failures{};
  for (int i = 0; i < 200'000; ++i) {
    const auto checked = check_ack(c, kTuple, kClientIsn, SeqNum(rng()), kNow);
    if (checked) {
      ++accepted;
    } else {
      ++failures[index_of(checked.error())];
    }
  }
  EXPECT_EQ(accepted, 0);
  // 254 of 256 counter values fail the age check, split evenly between past and future.
  EXPECT_GT(failures[index_of(SynCookieFailure::kCounterExpired)], 90'000);
  EXPECT_GT(failures[index_of(SynCookieFailure::kCounterInFuture)], 90'000);
  EXPECT_GT(failures[index_of(SynCookieFailure::kBadHash)], 1'000);
}

// ---- Age of the counter ----

TEST(SynCookies, AcceptedWhileAgeBelowMaxAgeAndRefusedFromIt) {
  const SynCookies c(kKey1, kKey2);
  const int64_t made_tick = 28'401'120;
  const SynCookie cookie = c.make(kTuple, kClientIsn, 1440, tick_start(made_tick));
  for (int64_t age = 0; age < 256; ++age) {
    // Both ends of the tick `age` ticks later.
    for (const Instant at :
         {tick_start(made_tick + age), tick_start(made_tick + age + 1) - Duration::micros(1)}) {
      const auto checked = check_ack(c, kTuple, kClientIsn, cookie.iss, at);
      if (age < SynCookies::kMaxAge) {
        ASSERT_TRUE(checked) << "age " << age;
        EXPECT_EQ(checked->mss, 1440);
      } else if (age < 128) {
        ASSERT_FALSE(checked) << "age " << age;
        EXPECT_EQ(checked.error(), SynCookieFailure::kCounterExpired) << "age " << age;
      } else {
        // 128..255 ticks old looks like -128..-1 in 8 bits: "in the future".
        ASSERT_FALSE(checked) << "age " << age;
        EXPECT_EQ(checked.error(), SynCookieFailure::kCounterInFuture) << "age " << age;
      }
    }
  }
}

TEST(SynCookies, LifetimeIsOneToTwoPeriods) {
  const SynCookies c(kKey1, kKey2);
  // Made at the first microsecond of a tick: good for 2 periods less 1 us.
  const Instant early = tick_start(1000);
  const SynCookie a = c.make(kTuple, kClientIsn, 1460, early);
  EXPECT_TRUE(check_ack(c, kTuple, kClientIsn, a.iss,
                        early + Duration::seconds(119) + Duration::micros(999'999)));
  const auto a_late = check_ack(c, kTuple, kClientIsn, a.iss, early + Duration::seconds(120));
  ASSERT_FALSE(a_late);
  EXPECT_EQ(a_late.error(), SynCookieFailure::kCounterExpired);

  // Made at the last microsecond of a tick: good for 1 period.
  const Instant late = tick_start(1001) - Duration::micros(1);
  const SynCookie b = c.make(kTuple, kClientIsn, 1460, late);
  EXPECT_TRUE(check_ack(c, kTuple, kClientIsn, b.iss, late + Duration::seconds(60)));
  EXPECT_FALSE(
      check_ack(c, kTuple, kClientIsn, b.iss, late + Duration::seconds(60) + Duration::micros(1)));
}

TEST(SynCookies, FutureCounterIsRefused) {
  const SynCookies c(kKey1, kKey2);
  const SynCookie cookie = c.make(kTuple, kClientIsn, 1460, kNow);
  for (const Duration back : {Duration::micros(1), Duration::seconds(60), Duration::seconds(61),
                              Duration::seconds(60 * 127)}) {
    const auto checked = check_ack(c, kTuple, kClientIsn, cookie.iss, kNow - back);
    ASSERT_FALSE(checked);
    EXPECT_EQ(checked.error(), SynCookieFailure::kCounterInFuture);
  }
  // A cookie made with a counter value ahead of ours, straight from encode().
  const uint32_t count = SynCookies::counter(kNow);
  const uint32_t ahead = c.encode(kTuple, kClientIsn, count + 1, 3);
  const auto decoded = c.decode(kTuple, kClientIsn, ahead, count);
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error(), SynCookieFailure::kCounterInFuture);
}

TEST(SynCookies, CounterWrapsIn8And32Bits) {
  const SynCookies c(kKey1, kKey2);
  // 8-bit field: made at tick 255 (field 0xff), checked at tick 256 (field 0x00).
  const SynCookie at_255 = c.make(kTuple, kClientIsn, 1300, tick_start(255));
  const auto next = check_ack(c, kTuple, kClientIsn, at_255.iss, tick_start(256));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->mss, 1300);
  EXPECT_FALSE(check_ack(c, kTuple, kClientIsn, at_255.iss, tick_start(257)));

  // 32-bit count: 0xffffffff then 0.
  const int64_t last = (int64_t{1} << 32) - 1;
  const SynCookie at_last = c.make(kTuple, kClientIsn, 536, tick_start(last));
  const auto wrapped = check_ack(c, kTuple, kClientIsn, at_last.iss, tick_start(last + 1));
  ASSERT_TRUE(wrapped);
  EXPECT_EQ(wrapped->mss, 536);

  // Across the caller's epoch: made at -1 us (count 0xffffffff).
  const SynCookie before_epoch = c.make(kTuple, kClientIsn, 1460, Instant::from_micros(-1));
  EXPECT_TRUE(check_ack(c, kTuple, kClientIsn, before_epoch.iss, Instant::from_micros(0)));
  EXPECT_FALSE(check_ack(c, kTuple, kClientIsn, before_epoch.iss, tick_start(1)));

  // A cookie 256 ticks old has the same 8-bit field as a fresh one, but H2 was taken over
  // the full count, so it does not pass as fresh.
  const SynCookie old = c.make(kTuple, kClientIsn, 1460, tick_start(1000));
  const auto replayed = check_ack(c, kTuple, kClientIsn, old.iss, tick_start(1256));
  ASSERT_FALSE(replayed);
  EXPECT_EQ(replayed.error(), SynCookieFailure::kBadHash);
}

// ---- Sequence space ----

TEST(SynCookies, WrapAroundOfTheSequenceSpace) {
  const SynCookies c(kKey1, kKey2);
  // Client ISN 2^32 - 1: the final ACK's SEG.SEQ is 0.
  const SeqNum isn_max(0xffffffffu);
  const SynCookie a = c.make(kTuple, isn_max, 1460, kNow);
  const auto checked_a = c.check(kTuple, SeqNum(0), a.iss + SeqLen(1), kNow);
  ASSERT_TRUE(checked_a);
  EXPECT_EQ(checked_a->irs, isn_max);
  EXPECT_EQ(checked_a->mss, 1460);

  // The cookie is linear in the client ISN, so pick the ISN that makes it 2^32 - 1: the
  // final ACK's SEG.ACK is then 0.
  const uint32_t cookie_for_zero = c.make(kTuple, SeqNum(0), 1300, kNow).iss.value();
  const SeqNum isn_for_max(0xffffffffu - cookie_for_zero);
  const SynCookie b = c.make(kTuple, isn_for_max, 1300, kNow);
  ASSERT_EQ(b.iss, SeqNum(0xffffffffu));
  const auto checked_b = c.check(kTuple, isn_for_max + SeqLen(1), SeqNum(0), kNow);
  ASSERT_TRUE(checked_b);
  EXPECT_EQ(checked_b->iss, SeqNum(0xffffffffu));
  EXPECT_EQ(checked_b->irs, isn_for_max);
  EXPECT_EQ(checked_b->mss, 1300);
}

// ---- Secrets ----

TEST(SynCookies, DifferentSecretsGiveDifferentCookies) {
  SynCookies::Key other{};
  other.fill(0x5a);
  const SynCookies base(kKey1, kKey2);
  const SynCookies new_h1(other, kKey2);
  const SynCookies new_h2(kKey1, other);
  const SynCookie cookie = base.make(kTuple, kClientIsn, 1460, kNow);
  EXPECT_NE(new_h1.make(kTuple, kClientIsn, 1460, kNow).iss, cookie.iss);
  EXPECT_NE(new_h2.make(kTuple, kClientIsn, 1460, kNow).iss, cookie.iss);
  // And a cookie from one secret pair does not check out under another.
  EXPECT_FALSE(check_ack(new_h1, kTuple, kClientIsn, cookie.iss, kNow));
  EXPECT_FALSE(check_ack(new_h2, kTuple, kClientIsn, cookie.iss, kNow));
  // Same secrets (and copies) agree.
  const SynCookies same(kKey1, kKey2);
  const SynCookies copy = base;
  EXPECT_EQ(same.make(kTuple, kClientIsn, 1460, kNow), cookie);
  EXPECT_EQ(copy.make(kTuple, kClientIsn, 1460, kNow), cookie);
  EXPECT_TRUE(check_ack(same, kTuple, kClientIsn, cookie.iss, kNow));
}

TEST(SynCookies, RandomKeysDifferAndCheckTheirOwnCookies) {
  const SynCookies a = SynCookies::with_random_keys();
  const SynCookies b = SynCookies::with_random_keys();
  const SynCookie from_a = a.make(kTuple, kClientIsn, 1460, kNow);
  EXPECT_NE(from_a.iss, b.make(kTuple, kClientIsn, 1460, kNow).iss);
  const auto checked = check_ack(a, kTuple, kClientIsn, from_a.iss, kNow);
  ASSERT_TRUE(checked);
  EXPECT_EQ(checked->mss, 1460);
}

TEST(SynCookies, SameTupleDifferentTicksGiveDifferentCookies) {
  // The counter moves the top byte and H2: a cookie cannot be reused a period later.
  const SynCookies c(kKey1, kKey2);
  const SynCookie now = c.make(kTuple, kClientIsn, 1460, kNow);
  const SynCookie later = c.make(kTuple, kClientIsn, 1460, kNow + SynCookies::kCounterPeriod);
  EXPECT_NE(now.iss, later.iss);
  EXPECT_EQ(now, c.make(kTuple, kClientIsn, 1460, kNow + Duration::seconds(59)));
}

}  // namespace
}  // namespace synack::stack
