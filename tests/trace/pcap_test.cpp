// PcapWriter and PcapReader: round trips, what the file looks like, and the errors.
#include "synack/trace/pcap.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace synack::trace {
namespace {

using Bytes = std::vector<std::byte>;

Bytes make_bytes(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::byte>(seed + i * 7);
  return b;
}

std::vector<uint8_t> file_contents(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class PcapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            (std::string("synack_pcap_test_") + info->name() + ".pcap");
  }
  void TearDown() override { std::filesystem::remove(path_); }

  std::filesystem::path path_;
};

TEST_F(PcapTest, RoundTripKeepsTimestampsBytesAndLengths) {
  const std::vector<Instant> times = {
      Instant::from_micros(1'700'000'000'000'000),
      Instant::from_micros(1'700'000'000'999'999),  // last microsecond of a second
      Instant::from_micros(1'700'000'001'000'000),
      Instant::from_micros(0),  // the epoch itself
  };
  const std::vector<Bytes> packets = {make_bytes(40, 1), make_bytes(1500, 2), make_bytes(1, 3),
                                      make_bytes(65535, 4)};
  {
    auto writer = PcapWriter::open(path_.string());
    ASSERT_TRUE(writer.has_value()) << writer.error();
    for (size_t i = 0; i < packets.size(); ++i)
      writer->write(times[i], packets[i]);
    ASSERT_TRUE(writer->flush().has_value());
  }
  auto reader = PcapReader::open(path_.string());
  ASSERT_TRUE(reader.has_value()) << reader.error();
  EXPECT_EQ(reader->link_type(), 12);  // DLT_RAW, from LINKTYPE_RAW in the file
  EXPECT_EQ(reader->link_type_name(), "RAW");
  EXPECT_EQ(reader->link_type_description(), "Raw IP");
  EXPECT_EQ(reader->snapshot_length(), PcapWriter::kDefaultSnapshotLength);
  for (size_t i = 0; i < packets.size(); ++i) {
    auto next = reader->next();
    ASSERT_TRUE(next.has_value()) << next.error();
    ASSERT_TRUE(next->has_value());
    const PcapPacket& p = **next;
    EXPECT_EQ(p.timestamp, times[i]) << i;
    EXPECT_EQ(p.original_length, packets[i].size());
    EXPECT_EQ(p.link_type, 12);
    ASSERT_EQ(p.bytes.size(), packets[i].size());
    EXPECT_TRUE(std::equal(p.bytes.begin(), p.bytes.end(), packets[i].begin())) << i;
  }
  auto end = reader->next();
  ASSERT_TRUE(end.has_value());
  EXPECT_FALSE(end->has_value());
}

// The file is what tcpdump expects of a raw-IP capture: the classic little-endian pcap
// header with LINKTYPE_RAW (101), microsecond timestamps, caplen and len per record.
TEST_F(PcapTest, WritesLinktypeRawMicrosecondPcap) {
  {
    auto writer = PcapWriter::open(path_.string());
    ASSERT_TRUE(writer.has_value());
    writer->write(Instant::from_micros(3'000'004), make_bytes(20, 9));
  }
  const std::vector<uint8_t> f = file_contents(path_);
  ASSERT_EQ(f.size(), 24u + 16u + 20u);
  auto le32 = [&f](size_t at) {
    return uint32_t{f[at]} | uint32_t{f[at + 1]} << 8 | uint32_t{f[at + 2]} << 16 |
           uint32_t{f[at + 3]} << 24;
  };
  EXPECT_EQ(le32(0), 0xa1b2c3d4u);  // microsecond magic (host order: x86 is little-endian)
  EXPECT_EQ(le32(16), PcapWriter::kDefaultSnapshotLength);
  EXPECT_EQ(le32(20), 101u);  // LINKTYPE_RAW
  EXPECT_EQ(le32(24), 3u);    // seconds
  EXPECT_EQ(le32(28), 4u);    // microseconds
  EXPECT_EQ(le32(32), 20u);   // caplen
  EXPECT_EQ(le32(36), 20u);   // len
}

TEST_F(PcapTest, SnapshotLengthCutsAndRecordsTheOriginalLength) {
  {
    auto writer = PcapWriter::open(path_.string(), 12, 64);
    ASSERT_TRUE(writer.has_value());
    writer->write(Instant::from_micros(1), make_bytes(100, 5));
    writer->write(Instant::from_micros(2), make_bytes(30, 6), 1500);  // caller-side cut
  }
  auto reader = PcapReader::open(path_.string());
  ASSERT_TRUE(reader.has_value());
  EXPECT_EQ(reader->snapshot_length(), 64u);
  auto first = reader->next();
  ASSERT_TRUE(first.has_value() && first->has_value());
  EXPECT_EQ((*first)->bytes.size(), 64u);
  EXPECT_EQ((*first)->original_length, 100u);
  auto second = reader->next();
  ASSERT_TRUE(second.has_value() && second->has_value());
  EXPECT_EQ((*second)->bytes.size(), 30u);
  EXPECT_EQ((*second)->original_length, 1500u);
}

TEST_F(PcapTest, OtherLinkTypes) {
  {
    auto writer = PcapWriter::open(path_.string(), 1);  // DLT_EN10MB
    ASSERT_TRUE(writer.has_value());
    writer->write(Instant::from_micros(1), make_bytes(60, 1));
  }
  auto reader = PcapReader::open(path_.string());
  ASSERT_TRUE(reader.has_value());
  EXPECT_EQ(reader->link_type(), 1);
  EXPECT_EQ(reader->link_type_name(), "EN10MB");
}

TEST_F(PcapTest, MovedReaderAndWriterKeepWorking) {
  {
    auto opened = PcapWriter::open(path_.string());
    ASSERT_TRUE(opened.has_value());
    PcapWriter writer = std::move(*opened);
    writer.write(Instant::from_micros(1), make_bytes(10, 1));
    PcapWriter other = std::move(writer);
    other.write(Instant::from_micros(2), make_bytes(10, 2));
  }
  auto opened = PcapReader::open(path_.string());
  ASSERT_TRUE(opened.has_value());
  PcapReader reader = std::move(*opened);
  int count = 0;
  while (true) {
    auto next = reader.next();
    ASSERT_TRUE(next.has_value());
    if (!next->has_value()) break;
    ++count;
  }
  EXPECT_EQ(count, 2);
}

TEST_F(PcapTest, MissingFileIsAClearError) {
  auto reader = PcapReader::open("/nonexistent/synack/capture.pcap");
  ASSERT_FALSE(reader.has_value());
  EXPECT_NE(reader.error().find("/nonexistent/synack/capture.pcap"), std::string::npos)
      << reader.error();
  EXPECT_NE(reader.error().find("No such file"), std::string::npos) << reader.error();
}

TEST_F(PcapTest, NotAPcapFileIsAClearError) {
  {
    std::ofstream out(path_, std::ios::binary);
    out << "this is not a capture file at all";
  }
  auto reader = PcapReader::open(path_.string());
  ASSERT_FALSE(reader.has_value());
  EXPECT_NE(reader.error().find(path_.string()), std::string::npos) << reader.error();
  EXPECT_NE(reader.error().find("unknown file format"), std::string::npos) << reader.error();
}

TEST_F(PcapTest, TruncatedFileReturnsThePacketsBeforeTheError) {
  {
    auto writer = PcapWriter::open(path_.string());
    ASSERT_TRUE(writer.has_value());
    writer->write(Instant::from_micros(1), make_bytes(40, 1));
    writer->write(Instant::from_micros(2), make_bytes(40, 2));
  }
  std::filesystem::resize_file(path_, 24 + 16 + 40 + 16 + 10);  // cut inside packet two
  auto reader = PcapReader::open(path_.string());
  ASSERT_TRUE(reader.has_value());
  auto first = reader->next();
  ASSERT_TRUE(first.has_value() && first->has_value());
  auto second = reader->next();
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.error().find("truncated"), std::string::npos) << second.error();
}

TEST_F(PcapTest, UnwritableDestinationIsAClearError) {
  auto writer = PcapWriter::open("/nonexistent/synack/out.pcap");
  ASSERT_FALSE(writer.has_value());
  EXPECT_NE(writer.error().find("/nonexistent/synack/out.pcap"), std::string::npos)
      << writer.error();
}

}  // namespace
}  // namespace synack::trace
