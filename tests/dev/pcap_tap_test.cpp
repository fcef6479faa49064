// PcapTap: what it writes reads back through trace::PcapReader with the same bytes and
// timestamps; attached to MemLink ends it records each end's view, or, shared, each packet
// once; tcpdump reads the files.
#include "synack/dev/pcap_tap.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "synack/dev/mem_link.hpp"
#include "synack/trace/pcap.hpp"
#include "synack/wire/ipv4.hpp"

namespace synack::dev {
namespace {

using Packet = std::vector<std::byte>;

Instant at_ms(int64_t ms) {
  return Instant::from_micros(ms * 1000);
}

// A valid IPv4/UDP datagram from 10.0.0.1:40000 (A) or 10.0.0.2:9 (B) whose 4-byte
// payload is its id.
Packet udp_packet(bool from_a, uint32_t id) {
  const auto a = wire::Ipv4Address::from_octets(10, 0, 0, 1);
  const auto b = wire::Ipv4Address::from_octets(10, 0, 0, 2);
  const wire::Ipv4Repr ip{.src = from_a ? a : b,
                          .dst = from_a ? b : a,
                          .protocol = wire::ip_protocol::kUdp,
                          .identification = static_cast<uint16_t>(id),
                          .payload_len = 12};
  Packet p(ip.total_len());
  ip.emit(p);
  std::byte* udp = p.data() + ip.header_len();
  wire::store_be16(udp, from_a ? 40000 : 9);
  wire::store_be16(udp + 2, from_a ? 9 : 40000);
  wire::store_be16(udp + 4, 12);
  wire::store_be16(udp + 6, 0);  // no checksum (RFC 768)
  wire::store_be32(udp + 8, id);
  return p;
}

uint32_t id_of(wire::Bytes p) {
  return wire::load_be32(p.data() + 28);
}

struct Record {
  Instant timestamp;
  Packet bytes;
};

std::vector<Record> read_all(const std::string& path) {
  std::vector<Record> out;
  auto reader = trace::PcapReader::open(path);
  EXPECT_TRUE(reader.has_value()) << reader.error();
  if (!reader) return out;
  EXPECT_EQ(reader->link_type(), 12);  // DLT_RAW
  while (true) {
    auto next = reader->next();
    EXPECT_TRUE(next.has_value()) << next.error();
    if (!next || !next->has_value()) break;
    const auto& p = **next;
    EXPECT_EQ(p.original_length, p.bytes.size());
    out.push_back({p.timestamp, Packet(p.bytes.begin(), p.bytes.end())});
  }
  return out;
}

class PcapTapTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    auto p = std::filesystem::temp_directory_path() /
             (std::string("synack_pcap_tap_test_") + info->name() + "_" + name + ".pcap");
    paths_.push_back(p);
    return p.string();
  }
  void TearDown() override {
    for (const auto& p : paths_)
      std::filesystem::remove(p);
  }

  std::vector<std::filesystem::path> paths_;
};

TEST_F(PcapTapTest, RecordsBytesAndTimestampsShiftedByTheEpoch) {
  const std::string file = path("tap");
  const std::vector<Packet> packets = {udp_packet(true, 1), udp_packet(false, 2),
                                       udp_packet(true, 3)};
  const std::vector<Instant> times = {at_ms(0), at_ms(1) + Duration::micros(7), at_ms(2500)};
  {
    auto tap = PcapTap::open(file, PcapTap::kSimulationEpoch);
    ASSERT_TRUE(tap.has_value()) << tap.error();
    EXPECT_EQ(tap->epoch(), PcapTap::kSimulationEpoch);
    EXPECT_EQ(tap->path(), file);
    for (size_t i = 0; i < packets.size(); ++i)
      tap->record(packets[i], times[i]);
    EXPECT_EQ(tap->packets(), 3u);
    EXPECT_EQ(tap->bytes(), 3u * 32u);  // 20 bytes of IPv4, 8 of UDP, 4 of payload
    ASSERT_TRUE(tap->flush().has_value());
  }
  const auto records = read_all(file);
  ASSERT_EQ(records.size(), packets.size());
  for (size_t i = 0; i < packets.size(); ++i) {
    EXPECT_EQ(records[i].bytes, packets[i]);
    EXPECT_EQ(records[i].timestamp, times[i] + PcapTap::kSimulationEpoch);
  }
  // 2024-01-01 00:00:00 UTC.
  EXPECT_EQ(records[0].timestamp.as_micros(), int64_t{1'704'067'200} * 1'000'000);
}

TEST_F(PcapTapTest, WithoutAnEpochInstantsAreUnixTime) {
  const std::string file = path("unix");
  {
    auto writer = trace::PcapWriter::open(file);
    ASSERT_TRUE(writer.has_value()) << writer.error();
    PcapTap tap(std::move(*writer));
    tap.record(udp_packet(true, 1), Instant::from_micros(1'700'000'000'123'456));
  }
  const auto records = read_all(file);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].timestamp, Instant::from_micros(1'700'000'000'123'456));
}

TEST_F(PcapTapTest, OpenFailureNamesTheFile) {
  auto tap = PcapTap::open("/nonexistent-dir/x.pcap");
  ASSERT_FALSE(tap.has_value());
  EXPECT_NE(tap.error().find("/nonexistent-dir/x.pcap"), std::string::npos) << tap.error();
}

// A exchanges with B over a link: A sends ids 0..n-1 every 1 ms, B answers each with
// id + 1000.
void exchange(MemLink& link, uint32_t n) {
  Instant now;
  uint32_t sent = 0;
  while (true) {
    if (sent < n && now >= at_ms(sent)) link.a().send(udp_packet(true, sent++), now);
    link.b().poll(now, [&](wire::Bytes p, Instant arrival) {
      link.b().send(udp_packet(false, id_of(p) + 1000), arrival);
    });
    link.a().poll(now, [](wire::Bytes) {});
    std::optional<Instant> next = link.next_deadline();
    if (sent < n && (!next || at_ms(sent) < *next)) next = at_ms(sent);
    if (!next) break;
    now = *next;
  }
}

TEST_F(PcapTapTest, AnEndsTapSeesWhatItSendsAndWhatArrives) {
  const std::string file_a = path("a");
  const std::string file_b = path("b");
  MemLink link({.latency = Duration::millis(10)});
  {
    auto tap_a = PcapTap::open(file_a);
    auto tap_b = PcapTap::open(file_b);
    ASSERT_TRUE(tap_a.has_value() && tap_b.has_value());
    link.a().set_tap(&*tap_a);
    link.b().set_tap(&*tap_b);
    exchange(link, 3);
    link.a().set_tap(nullptr);
    link.b().set_tap(nullptr);
    exchange(link, 3);  // not recorded
  }
  const auto a = read_all(file_a);
  ASSERT_EQ(a.size(), 6u);
  // A: its sends at 0, 1, 2 ms, and the answers arriving at 20, 21, 22 ms.
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(id_of(a[i].bytes), i);
    EXPECT_EQ(a[i].timestamp, at_ms(i));
    EXPECT_EQ(a[i].bytes, udp_packet(true, i));
    EXPECT_EQ(id_of(a[3 + i].bytes), 1000 + i);
    EXPECT_EQ(a[3 + i].timestamp, at_ms(20 + i));
  }
  const auto b = read_all(file_b);
  ASSERT_EQ(b.size(), 6u);
  // B: each request arriving at 10 + i ms, then its answer sent at the same instant.
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(id_of(b[2 * i].bytes), i);
    EXPECT_EQ(b[2 * i].timestamp, at_ms(10 + i));
    EXPECT_EQ(id_of(b[2 * i + 1].bytes), 1000 + i);
    EXPECT_EQ(b[2 * i + 1].timestamp, at_ms(10 + i));
  }
}

TEST_F(PcapTapTest, AnEndsTapRecordsLostPacketsAsSentAndDuplicatesAsDelivered) {
  const std::string sent_file = path("sent");
  const std::string got_file = path("got");
  MemLink link({.latency = Duration::millis(1), .loss = 0.3, .duplicate = 0.3, .seed = 9});
  {
    auto sent = PcapTap::open(sent_file);
    auto got = PcapTap::open(got_file);
    ASSERT_TRUE(sent.has_value() && got.has_value());
    link.a().set_tap(&*sent, TapPoint::kSent);
    link.b().set_tap(&*got, TapPoint::kDelivered);
    for (uint32_t i = 0; i < 200; ++i)
      link.a().send(udp_packet(true, i), at_ms(i));
    link.b().poll(at_ms(1000), [](wire::Bytes) {});
  }
  const auto& c = link.a_to_b().counters();
  ASSERT_GT(c.lost, 0u);
  ASSERT_GT(c.duplicated, 0u);
  EXPECT_EQ(read_all(sent_file).size(), 200u);  // lost ones included
  EXPECT_EQ(read_all(got_file).size(), c.delivered);
  EXPECT_EQ(c.delivered, 200u - c.lost + c.duplicated);
}

TEST_F(PcapTapTest, ALinkTapRecordsEachPacketOnce) {
  const Impairments imp{.latency = Duration::millis(5), .loss = 0.2, .duplicate = 0.2, .seed = 3};
  const std::string as_sent = path("as_sent");
  const std::string as_delivered = path("as_delivered");
  uint64_t sent = 0;
  uint64_t delivered = 0;
  {
    MemLink link(imp);
    auto tap = PcapTap::open(as_sent);
    ASSERT_TRUE(tap.has_value());
    link.set_tap(&*tap, LinkTapPoint::kSent);
    exchange(link, 100);
    sent = link.a_to_b().counters().sent + link.b_to_a().counters().sent;
    EXPECT_EQ(tap->packets(), sent);
  }
  {
    MemLink link(imp);
    auto tap = PcapTap::open(as_delivered);
    ASSERT_TRUE(tap.has_value());
    link.set_tap(&*tap, LinkTapPoint::kDelivered);
    exchange(link, 100);
    delivered = link.a_to_b().counters().delivered + link.b_to_a().counters().delivered;
    EXPECT_EQ(tap->packets(), delivered);
  }
  EXPECT_EQ(read_all(as_sent).size(), sent);
  EXPECT_EQ(read_all(as_delivered).size(), delivered);
  EXPECT_NE(sent, delivered);
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_F(PcapTapTest, SameSeedSameCaptureFile) {
  const Impairments imp{.latency = Duration::millis(3),
                        .rate_bps = 1'000'000,
                        .loss = 0.1,
                        .duplicate = 0.1,
                        .reorder = 0.2,
                        .corrupt = 0.1,
                        .seed = 12};
  const std::string first = path("first");
  const std::string second = path("second");
  for (const auto& file : {first, second}) {
    MemLink link(imp);
    auto tap = PcapTap::open(file, PcapTap::kSimulationEpoch);
    ASSERT_TRUE(tap.has_value());
    link.set_tap(&*tap, LinkTapPoint::kDelivered);
    exchange(link, 200);
  }
  const auto one = file_bytes(first);
  EXPECT_GT(one.size(), 24u + 200u * 16u);
  EXPECT_EQ(one, file_bytes(second));
}

// Runs a shell command; its exit status and output.
std::pair<int, std::string> run(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, out};
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe))
    out.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST_F(PcapTapTest, TcpdumpReadsTheCapture) {
  if (run("command -v tcpdump >/dev/null 2>&1").first != 0) GTEST_SKIP() << "no tcpdump";
  const std::string file = path("tcpdump");
  {
    MemLink link({.latency = Duration::millis(10)});
    auto tap = PcapTap::open(file, PcapTap::kSimulationEpoch);
    ASSERT_TRUE(tap.has_value());
    link.a().set_tap(&*tap);
    exchange(link, 3);
  }
  const auto [status, out] = run("TZ=UTC tcpdump -n -tttt -r " + file + " 2>/dev/null");
  ASSERT_EQ(status, 0) << out;
  std::vector<std::string> lines;
  for (size_t start = 0, end; start < out.size(); start = end + 1) {
    end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    lines.push_back(out.substr(start, end - start));
  }
  ASSERT_EQ(lines.size(), 6u) << out;
  EXPECT_EQ(lines[0], "2024-01-01 00:00:00.000000 IP 10.0.0.1.40000 > 10.0.0.2.9: UDP, length 4");
  EXPECT_EQ(lines[5], "2024-01-01 00:00:00.022000 IP 10.0.0.2.9 > 10.0.0.1.40000: UDP, length 4");
}

}  // namespace
}  // namespace synack::dev
