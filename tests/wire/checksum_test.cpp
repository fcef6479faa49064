#include "synack/wire/checksum.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "wire_test_util.hpp"

namespace synack::wire {
namespace {

using test::bytes_of;
using test::ByteVec;
using test::reference_checksum;
using test::reference_sum;

ByteVec random_bytes(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<unsigned> dist(0, 255);
  ByteVec out(n);
  for (auto& b : out)
    b = static_cast<std::byte>(dist(rng));
  return out;
}

TEST(Checksum, Rfc1071WorkedExample) {
  // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
  const ByteVec data = bytes_of({0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7});
  ChecksumAccumulator acc;
  acc.add(data);
  EXPECT_EQ(acc.sum(), 0xddf2);
  EXPECT_EQ(acc.checksum(), 0x220d);
  EXPECT_EQ(internet_checksum(data), 0x220d);
  // The same bytes fed one at a time.
  ChecksumAccumulator bytewise;
  for (const std::byte b : data)
    bytewise.add(Bytes(&b, 1));
  EXPECT_EQ(bytewise.sum(), 0xddf2);
}

TEST(Checksum, ReferenceSelfCheck) {
  // The test's own reference against the RFC 1071 example, so the comparisons below mean
  // something.
  EXPECT_EQ(reference_sum(bytes_of({0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7})), 0xddf2);
  EXPECT_EQ(reference_sum(bytes_of({0xab})), 0xab00);  // odd byte is the high half
  EXPECT_EQ(reference_sum(bytes_of({0xff, 0xff, 0x00, 0x01})), 0x0001);  // end-around carry
}

TEST(Checksum, EmptyInput) {
  ChecksumAccumulator acc;
  EXPECT_EQ(acc.sum(), 0);
  EXPECT_EQ(acc.checksum(), 0xffff);
  EXPECT_FALSE(acc.verifies());
  EXPECT_EQ(internet_checksum(Bytes{}), 0xffff);
  acc.add(Bytes{});
  EXPECT_EQ(acc.sum(), 0);
}

TEST(Checksum, EveryLengthUpTo2048AtEveryAlignment) {
  std::mt19937 rng(1071);
  const ByteVec buffer = random_bytes(rng, 2048 + 16);
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t len = 0; len <= 2048; ++len) {
      const Bytes data(buffer.data() + offset, len);
      const uint16_t want = reference_sum(data);
      ChecksumAccumulator acc;
      acc.add(data);
      ASSERT_EQ(acc.sum(), want) << "offset " << offset << " length " << len;
      ASSERT_EQ(internet_checksum(data), static_cast<uint16_t>(~want))
          << "offset " << offset << " length " << len;
    }
  }
}

TEST(Checksum, CarryHeavyInputs) {
  // All-ones data makes every word 0xffff: the most carries per word.
  for (const size_t len : {size_t{1}, size_t{2}, size_t{31}, size_t{32}, size_t{33}, size_t{4095},
                           size_t{65535}, size_t{65536}, size_t{1} << 20}) {
    for (const unsigned fill : {0xffu, 0x80u, 0x01u}) {
      const ByteVec data(len, static_cast<std::byte>(fill));
      ChecksumAccumulator acc;
      acc.add(data);
      EXPECT_EQ(acc.sum(), reference_sum(data)) << "len " << len << " fill " << fill;
    }
  }
}

TEST(Checksum, AccumulatorSplitsAnywhereEqualOneShot) {
  std::mt19937 rng(1624);
  std::uniform_int_distribution<size_t> len_dist(0, 1600);
  for (int iter = 0; iter < 3000; ++iter) {
    const ByteVec data = random_bytes(rng, len_dist(rng));
    ChecksumAccumulator acc;
    size_t pos = 0;
    while (pos < data.size()) {
      // Mostly short pieces (odd and even, including empty ones), sometimes long.
      std::uniform_int_distribution<size_t> piece_dist(0, iter % 3 == 0 ? 200 : 5);
      const size_t piece = std::min(piece_dist(rng), data.size() - pos);
      acc.add(Bytes(data.data() + pos, piece));
      pos += piece;
    }
    ASSERT_EQ(acc.sum(), reference_sum(data)) << "iteration " << iter;
    ASSERT_EQ(acc.checksum(), internet_checksum(data)) << "iteration " << iter;
  }
}

// One pass that copies and sums: the same sum as add(), the same bytes as a memcpy, after
// any number of bytes already added (odd or even) and at any alignment of either side.
TEST(Checksum, AddCopySumsAsAddAndCopiesEveryByte) {
  std::mt19937 rng(1071);
  for (size_t len = 0; len <= 300; ++len) {
    for (size_t prefix = 0; prefix <= 3; ++prefix) {
      const ByteVec data = random_bytes(rng, len + 8);
      const ByteVec head = random_bytes(rng, prefix);
      const size_t src_at = len % 8;
      const size_t dst_at = (len / 8) % 8;
      const Bytes src = Bytes(data).subspan(src_at, len);
      ChecksumAccumulator plain;
      plain.add(head);
      plain.add(src);
      ChecksumAccumulator copying;
      copying.add(head);
      ByteVec out(len + 16, std::byte{0xee});
      copying.add_copy(src, out.data() + dst_at);
      ASSERT_EQ(copying.sum(), plain.sum()) << "len " << len << " prefix " << prefix;
      for (size_t i = 0; i < out.size(); ++i) {
        const bool inside = i >= dst_at && i < dst_at + len;
        ASSERT_EQ(out[i], inside ? src[i - dst_at] : std::byte{0xee})
            << "len " << len << " at " << i;
      }
    }
  }
}

TEST(Checksum, AddU16AndU32AfterOddBytes) {
  std::mt19937 rng(791);
  std::uniform_int_distribution<uint32_t> u32;
  std::uniform_int_distribution<size_t> len_dist(0, 9);
  for (int iter = 0; iter < 5000; ++iter) {
    // A stream of pieces: raw bytes (often odd in length), 16-bit and 32-bit values. The
    // reference is the same stream laid out as contiguous big-endian bytes.
    ChecksumAccumulator acc;
    ByteVec stream;
    for (int piece = 0; piece < 6; ++piece) {
      switch (u32(rng) % 3) {
        case 0: {
          const ByteVec raw = random_bytes(rng, len_dist(rng));
          acc.add(raw);
          stream.insert(stream.end(), raw.begin(), raw.end());
          break;
        }
        case 1: {
          const auto v = static_cast<uint16_t>(u32(rng));
          acc.add_u16(v);
          stream.push_back(static_cast<std::byte>(v >> 8));
          stream.push_back(static_cast<std::byte>(v & 0xff));
          break;
        }
        default: {
          const uint32_t v = u32(rng);
          acc.add_u32(v);
          for (const int shift : {24, 16, 8, 0})
            stream.push_back(static_cast<std::byte>(v >> shift));
          break;
        }
      }
    }
    ASSERT_EQ(acc.sum(), reference_sum(stream)) << "iteration " << iter;
  }
}

TEST(Checksum, AddU16AfterOneOddByteIsPositional) {
  // Stream ab | 12 34: big-endian words ab12 and 3400.
  ChecksumAccumulator acc;
  acc.add(bytes_of({0xab}));
  acc.add_u16(0x1234);
  EXPECT_EQ(acc.sum(), 0xab12 + 0x3400);
}

TEST(Checksum, VerifiesExactlyWhenChecksumFieldIsRight) {
  std::mt19937 rng(5);
  for (const size_t len : {size_t{20}, size_t{21}, size_t{60}, size_t{1500}}) {
    ByteVec data = random_bytes(rng, len);
    data[10] = std::byte{0};
    data[11] = std::byte{0};
    const uint16_t ck = internet_checksum(data);
    test::put_be16(data, 10, ck);
    ChecksumAccumulator ok;
    ok.add(data);
    EXPECT_TRUE(ok.verifies());
    EXPECT_EQ(internet_checksum(data), 0);
    // Any single flipped bit is detected.
    for (size_t bit = 0; bit < len * 8; bit += 7) {
      ByteVec bad = data;
      bad[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
      ChecksumAccumulator acc;
      acc.add(bad);
      EXPECT_FALSE(acc.verifies()) << "bit " << bit;
    }
  }
}

// ---- RFC 1624 incremental update ----

TEST(ChecksumUpdate, Update16EqualsRecomputationForRandomChanges) {
  std::mt19937 rng(1141);
  std::uniform_int_distribution<size_t> words_dist(2, 40);
  std::uniform_int_distribution<uint32_t> u32;
  for (int iter = 0; iter < 20000; ++iter) {
    ByteVec data = random_bytes(rng, 2 * words_dist(rng));
    data[0] = std::byte{0x45};  // never all zero (see AllZeroResult below)
    const uint16_t hc = reference_checksum(data);
    const size_t word = 1 + u32(rng) % (data.size() / 2 - 1);
    const uint16_t old_word = test::be16_at(data, 2 * word);
    // Mix random values with the extremes 0x0000 and 0xffff.
    uint16_t new_word = static_cast<uint16_t>(u32(rng));
    if (iter % 5 == 1) new_word = 0;
    if (iter % 5 == 2) new_word = 0xffff;
    if (iter % 5 == 3) new_word = old_word;
    test::put_be16(data, 2 * word, new_word);
    ASSERT_EQ(checksum_update16(hc, old_word, new_word), reference_checksum(data))
        << "iteration " << iter;
  }
}

TEST(ChecksumUpdate, Update32EqualsRecomputationForRandomChanges) {
  std::mt19937 rng(1624);
  std::uniform_int_distribution<size_t> words_dist(3, 40);
  std::uniform_int_distribution<uint32_t> u32;
  for (int iter = 0; iter < 20000; ++iter) {
    ByteVec data = random_bytes(rng, 2 * words_dist(rng));
    data[0] = std::byte{0x45};
    const uint16_t hc = reference_checksum(data);
    // A 32-bit field at any 16-bit boundary (an address, a sequence number).
    const size_t at = 2 * (1 + u32(rng) % (data.size() / 2 - 2));
    const uint32_t old_value =
        (uint32_t{test::be16_at(data, at)} << 16) | test::be16_at(data, at + 2);
    uint32_t new_value = u32(rng);
    if (iter % 5 == 1) new_value = 0;
    if (iter % 5 == 2) new_value = 0xffffffff;
    if (iter % 5 == 3) new_value = old_value;
    test::put_be32(data, at, new_value);
    ASSERT_EQ(checksum_update32(hc, old_value, new_value), reference_checksum(data))
        << "iteration " << iter;
  }
}

TEST(ChecksumUpdate, Rfc1624Section4Example) {
  // RFC 1624 §4: the other header words sum to 0xCD7A; a field changes 0x5555 -> 0x3285.
  ByteVec data = bytes_of({0xcd, 0x7a, 0x55, 0x55});
  EXPECT_EQ(internet_checksum(data), 0xdd2f);  // HC = ~(0xCD7A + 0x5555)
  test::put_be16(data, 2, 0x3285);
  // Recomputation gives 0x0000 (+0); RFC 1141's eqn. 2 would give 0xFFFF, which can never
  // be computed from scratch. Eqn. 3 must agree with recomputation.
  EXPECT_EQ(internet_checksum(data), 0x0000);
  EXPECT_EQ(checksum_update16(0xdd2f, 0x5555, 0x3285), 0x0000);
  // The same change as a 32-bit update of the two words.
  EXPECT_EQ(checksum_update32(0xdd2f, 0xcd7a5555, 0xcd7a3285), 0x0000);
}

TEST(ChecksumUpdate, Rfc1624Section5VerificationAcceptsBothZeros) {
  // RFC 1624 §5: a receiver that sums the checksum field with the data and compares with -0
  // accepts the packet whether the field holds +0 (0x0000) or -0 (0xFFFF):
  // 0xCD7A + 0x3285 + 0x0000 = 0xFFFF and 0xCD7A + 0x3285 + 0xFFFF = 0xFFFF.
  for (const unsigned field : {0x0000u, 0xffffu}) {
    ChecksumAccumulator acc;
    acc.add(bytes_of({0xcd, 0x7a, 0x32, 0x85}));
    acc.add_u16(static_cast<uint16_t>(field));
    EXPECT_TRUE(acc.verifies()) << "field " << field;
  }
  // ... but a wrong field is still rejected.
  ChecksumAccumulator wrong;
  wrong.add(bytes_of({0xcd, 0x7a, 0x32, 0x85, 0x00, 0x01}));
  EXPECT_FALSE(wrong.verifies());
}

TEST(ChecksumUpdate, AllZeroResultIsPlusZeroUnlikeRecomputation) {
  // Documents a limit of RFC 1624 eqn. 3 rather than of synack: when the change leaves the
  // covered data all zero, recomputation gives 0xFFFF but eqn. 3 gives 0x0000, and a
  // message that is all zero including a 0x0000 checksum does not verify. IP and TCP never
  // reach this (the version nibble and the pseudo-header's protocol are non-zero); an ICMP
  // echo reply with identifier 0, sequence 0 and no data turned from a request by
  // updating the type would. Build such messages from scratch, as IcmpRepr::emit does.
  const ByteVec request = bytes_of({0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});
  const uint16_t hc = reference_checksum(request);  // 0xf7ff
  const ByteVec reply(8, std::byte{0});
  EXPECT_EQ(reference_checksum(reply), 0xffff);
  EXPECT_EQ(checksum_update16(hc, 0x0800, 0x0000), 0x0000);
}

}  // namespace
}  // namespace synack::wire
