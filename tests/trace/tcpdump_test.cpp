// TcpdumpFormatter against tcpdump 4.99.3 itself.
//
// Every expected line below was printed by `tcpdump -n -r FILE` (or `-n -S`, with TZ=UTC)
// for the very packets the test builds: each test writes its packets with PcapWriter, reads
// them back with PcapReader and formats them. To regenerate or extend the golden lines, run
//   SYNACK_GOLDEN_DIR=/tmp/golden build/release/tests/trace_tests
// which keeps each test's capture as /tmp/golden/<Test>.<link>.pcap, then
//   TZ=UTC tcpdump -n [-S] -r /tmp/golden/<Test>.<link>.pcap
// and paste its lines.
#include "synack/trace/tcpdump.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

#include "../wire/kernel_packets.hpp"
#include "../wire/wire_test_util.hpp"
#include "synack/trace/pcap.hpp"
#include "synack/wire/ipv4.hpp"
#include "synack/wire/tcp.hpp"

namespace synack::trace {
namespace {

using wire::Ipv4Address;
using wire::SeqNum;
using wire::TcpFlags;
using wire::TcpRepr;
using wire::test::ByteVec;
using wire::test::hex;

// 2023-11-14 22:13:20 UTC: the first packet of every capture; the next ones follow at
// 1.001 s steps, so the timestamps exercise carrying microseconds into seconds.
constexpr int64_t kEpochMicros = 1'700'000'000'000'000;
constexpr int64_t kStepMicros = 1'001'000;

struct Packet {
  ByteVec bytes;
  uint32_t original_length = 0;  // 0: the packet is whole
};

// The tests compare local-time timestamps with lines tcpdump printed under TZ=UTC.
class TcpdumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = std::getenv("TZ");
    if (tz != nullptr) saved_tz_ = tz;
    had_tz_ = tz != nullptr;
    setenv("TZ", "UTC", 1);
    tzset();
  }
  void TearDown() override {
    if (had_tz_) {
      setenv("TZ", saved_tz_.c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }

  // Writes the packets to a capture (PcapWriter), reads them back (PcapReader) and formats
  // every record, as `synack trace` does.
  std::vector<std::string> trace(int link_type, const std::vector<Packet>& packets,
                                 TcpdumpOptions options = {}) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "." + info->name() + "." +
                       std::to_string(link_type) + (options.absolute_sequence_numbers ? "S" : "");
    std::filesystem::path dir = std::filesystem::temp_directory_path();
    const char* golden = std::getenv("SYNACK_GOLDEN_DIR");
    if (golden != nullptr) dir = golden;
    const std::filesystem::path path = dir / (name + ".pcap");
    {
      auto writer = PcapWriter::open(path.string(), link_type);
      EXPECT_TRUE(writer.has_value()) << (writer ? "" : writer.error());
      if (!writer) return {};
      int64_t t = kEpochMicros;
      for (const Packet& p : packets) {
        const uint32_t original =
            p.original_length != 0 ? p.original_length : static_cast<uint32_t>(p.bytes.size());
        writer->write(Instant::from_micros(t), p.bytes, original);
        t += kStepMicros;
      }
    }
    auto reader = PcapReader::open(path.string());
    EXPECT_TRUE(reader.has_value()) << (reader ? "" : reader.error());
    if (!reader) return {};
    TcpdumpFormatter formatter(std::move(options));
    std::vector<std::string> lines;
    while (true) {
      auto next = reader->next();
      EXPECT_TRUE(next.has_value());
      if (!next || !next->has_value()) break;
      const PcapPacket& p = **next;
      lines.push_back(formatter.format(p.timestamp, p.link_type, p.bytes, p.original_length));
    }
    if (golden == nullptr) std::filesystem::remove(path);
    return lines;
  }

  std::vector<std::string> trace_raw(const std::vector<Packet>& packets, bool absolute = false) {
    TcpdumpOptions options;
    options.absolute_sequence_numbers = absolute;
    return trace(link_type::kRaw, packets, std::move(options));
  }

 private:
  std::string saved_tz_;
  bool had_tz_ = false;
};

// ------------------------------------------------------------------------ packet builders

void put16(ByteVec& b, size_t at, uint16_t v) {
  wire::store_be16(b.data() + at, v);
}
void put32(ByteVec& b, size_t at, uint32_t v) {
  wire::store_be32(b.data() + at, v);
}
void append(ByteVec& b, std::initializer_list<unsigned> bytes) {
  for (unsigned v : bytes)
    b.push_back(static_cast<std::byte>(v));
}
void append(ByteVec& b, std::string_view text) {
  for (char c : text)
    b.push_back(static_cast<std::byte>(c));
}
// A loop, not insert(): GCC 12 at -O3 warns about insert() here (a false positive).
void append(ByteVec& b, const ByteVec& more) {
  for (std::byte x : more)
    b.push_back(x);
}

Ipv4Address addr(std::string_view text) {
  return *Ipv4Address::parse(text);
}

// An IPv4 header (no options, checksum left zero: the formatter must not care) and payload.
// `total_length` overrides the length field, `ihl` the header length in words.
struct Ip {
  std::string_view src = "10.0.0.1";
  std::string_view dst = "10.0.0.2";
  uint8_t protocol = wire::ip_protocol::kTcp;
  int total_length = -1;
  uint8_t ihl = 0;             // 0: 5 + options
  uint16_t fragment = 0x4000;  // DF
  ByteVec options;
};

ByteVec ip(const Ip& h, const ByteVec& payload) {
  ByteVec b(20);
  const auto ihl = h.ihl != 0 ? h.ihl : static_cast<uint8_t>(5 + h.options.size() / 4);
  b[0] = static_cast<std::byte>(0x40 | ihl);
  const size_t total = 20 + h.options.size() + payload.size();
  put16(b, 2,
        h.total_length >= 0 ? static_cast<uint16_t>(h.total_length) : static_cast<uint16_t>(total));
  put16(b, 6, h.fragment);
  b[8] = std::byte{64};
  b[9] = static_cast<std::byte>(h.protocol);
  put32(b, 12, addr(h.src).value());
  put32(b, 16, addr(h.dst).value());
  append(b, h.options);
  append(b, payload);
  return b;
}

// A TCP header with raw flag bits, raw option bytes and payload; `offset` overrides the
// data offset (in words).
struct Tcp {
  uint16_t sport = 1000;
  uint16_t dport = 2000;
  uint32_t seq = 100;
  uint32_t ack = 200;
  uint16_t flags = TcpFlags::kAck;
  uint16_t window = 65535;
  uint16_t urgent = 0;
  ByteVec options;
  std::string_view payload;
  int offset = -1;
};

ByteVec tcp(const Tcp& t) {
  ByteVec b(20);
  put16(b, 0, t.sport);
  put16(b, 2, t.dport);
  put32(b, 4, t.seq);
  put32(b, 8, t.ack);
  const size_t words = t.offset >= 0 ? static_cast<size_t>(t.offset) : (20 + t.options.size()) / 4;
  put16(b, 12, static_cast<uint16_t>((words << 12) | t.flags));
  put16(b, 14, t.window);
  put16(b, 18, t.urgent);
  append(b, t.options);
  append(b, t.payload);
  return b;
}

Packet tcp_packet(const Tcp& t, const Ip& h = {}) {
  return {ip(h, tcp(t)), 0};
}

// A segment emitted by the wire layer itself (TcpRepr + Ipv4Repr), checksums and all.
Packet emitted(std::string_view src, std::string_view dst, const TcpRepr& seg) {
  wire::Ipv4Repr iph;
  iph.src = addr(src);
  iph.dst = addr(dst);
  iph.protocol = wire::ip_protocol::kTcp;
  iph.payload_len = static_cast<uint16_t>(seg.size());
  ByteVec b(iph.total_len());
  iph.emit(b);
  seg.emit(wire::MutableBytes(b).subspan(iph.header_len()), iph.pseudo_header());
  return {std::move(b), 0};
}

ByteVec icmp(uint8_t type, uint8_t code, uint32_t rest, const ByteVec& data) {
  ByteVec b(8);
  b[0] = static_cast<std::byte>(type);
  b[1] = static_cast<std::byte>(code);
  put32(b, 4, rest);
  append(b, data);
  return b;
}

ByteVec udp(uint16_t sport, uint16_t dport, std::string_view data, int length = -1) {
  ByteVec b(8);
  put16(b, 0, sport);
  put16(b, 2, dport);
  put16(b, 4, length >= 0 ? static_cast<uint16_t>(length) : static_cast<uint16_t>(8 + data.size()));
  append(b, data);
  return b;
}

Packet cut(Packet p, size_t captured) {
  p.original_length = static_cast<uint32_t>(p.bytes.size());
  p.bytes.resize(captured);
  return p;
}

// ------------------------------------------------------------------------------- flags

TEST_F(TcpdumpTest, EveryFlagCombinationAsTcpdumpLettersThem) {
  std::vector<Packet> packets;
  const uint16_t kE = TcpFlags::kEce, kW = TcpFlags::kCwr, kU = TcpFlags::kUrg;
  for (uint16_t flags : {
           uint16_t{TcpFlags::kSyn},
           uint16_t{TcpFlags::kSyn | TcpFlags::kAck},
           uint16_t{TcpFlags::kAck},
           uint16_t{TcpFlags::kPsh | TcpFlags::kAck},
           uint16_t{TcpFlags::kFin | TcpFlags::kAck},
           uint16_t{TcpFlags::kRst},
           uint16_t{TcpFlags::kRst | TcpFlags::kAck},
           uint16_t{TcpFlags::kPsh | TcpFlags::kAck | kU},
           uint16_t{TcpFlags::kFin | TcpFlags::kPsh | TcpFlags::kAck},
           uint16_t{TcpFlags::kSyn | kE | kW},
           uint16_t{TcpFlags::kSyn | TcpFlags::kAck | kE},
           uint16_t{0},
           uint16_t{0xff},
           uint16_t{kU},
           uint16_t{TcpFlags::kAe | TcpFlags::kSyn},  // AE (RFC 9768) is not shown
           uint16_t{TcpFlags::kReserved},             // nor are the reserved bits
           uint16_t{TcpFlags::kFin | TcpFlags::kSyn | TcpFlags::kRst | TcpFlags::kPsh},
       }) {
    packets.push_back(tcp_packet({.flags = flags, .urgent = 5}));
  }
  const std::vector<std::string> expected = {
      "22:13:20.000000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [S], seq 100, win 65535, length 0",
      "22:13:21.001000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [S.], seq 100, ack 200, win 65535, "
      "length 0",
      "22:13:22.002000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, length 0",
      "22:13:23.003000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [P.], ack 200, win 65535, length 0",
      "22:13:24.004000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [F.], seq 100, ack 200, win 65535, "
      "length 0",
      "22:13:25.005000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [R], seq 100, win 65535, length 0",
      "22:13:26.006000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [R.], seq 100, ack 200, win 65535, "
      "length 0",
      "22:13:27.007000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [P.U], ack 200, win 65535, urg 5, "
      "length 0",
      "22:13:28.008000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [FP.], seq 100, ack 200, win 65535, "
      "length 0",
      "22:13:29.009000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [SEW], seq 100, win 65535, length 0",
      "22:13:30.010000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [S.E], seq 100, ack 200, win 65535, "
      "length 0",
      "22:13:31.011000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [none], win 65535, length 0",
      "22:13:32.012000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [FSRP.UEW], seq 100, ack 200, win "
      "65535, urg 5, length 0",
      "22:13:33.013000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [U], win 65535, urg 5, length 0",
      "22:13:34.014000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [S], seq 100, win 65535, length 0",
      "22:13:35.015000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [none], win 65535, length 0",
      "22:13:36.016000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [FSRP], seq 100, win 65535, length "
      "0",
  };
  EXPECT_EQ(trace_raw(packets, /*absolute=*/true), expected);
}

// ------------------------------------------------------------ relative sequence numbers

// A connection as the wire layer emits it: handshake, data both ways, close.
std::vector<Packet> emitted_connection() {
  auto seg = [](uint16_t sport, uint16_t dport, uint32_t seq, std::optional<uint32_t> ack,
                uint16_t flags, std::string_view payload = {}) {
    TcpRepr r;
    r.src_port = sport;
    r.dst_port = dport;
    r.seq = SeqNum(seq);
    if (ack) r.ack = SeqNum(*ack);
    r.flags = TcpFlags(flags);
    r.window = 64240;
    r.payload = wire::Bytes(reinterpret_cast<const std::byte*>(payload.data()), payload.size());
    return r;
  };
  constexpr uint32_t kIss = 4294967000;  // wraps during the connection
  constexpr uint32_t kIrs = 2970024578;
  TcpRepr syn = seg(41631, 9988, kIss, std::nullopt, TcpFlags::kSyn);
  syn.options.mss = 1460;
  syn.options.sack_permitted = true;
  syn.options.timestamps = wire::TcpTimestamps{1, 0};
  syn.options.window_scale = 7;
  TcpRepr syn_ack = seg(9988, 41631, kIrs, kIss + 1, TcpFlags::kSyn);
  syn_ack.options.mss = 1460;
  static const std::string data(400, 'x');
  return {
      emitted("10.0.0.1", "10.0.0.2", syn),
      emitted("10.0.0.2", "10.0.0.1", syn_ack),
      emitted("10.0.0.1", "10.0.0.2", seg(41631, 9988, kIss + 1, kIrs + 1, 0)),
      emitted("10.0.0.1", "10.0.0.2", seg(41631, 9988, kIss + 1, kIrs + 1, TcpFlags::kPsh, data)),
      emitted("10.0.0.2", "10.0.0.1", seg(9988, 41631, kIrs + 1, kIss + 401, TcpFlags::kPsh, "ok")),
      emitted("10.0.0.1", "10.0.0.2", seg(41631, 9988, kIss + 401, kIrs + 3, TcpFlags::kFin)),
      emitted("10.0.0.2", "10.0.0.1", seg(9988, 41631, kIrs + 3, kIss + 402, TcpFlags::kFin)),
      emitted("10.0.0.1", "10.0.0.2", seg(41631, 9988, kIss + 402, kIrs + 4, 0)),
  };
}

TEST_F(TcpdumpTest, RelativeSequenceNumbersAcrossAConnection) {
  const std::vector<std::string> expected = {
      "22:13:20.000000 IP 10.0.0.1.41631 > 10.0.0.2.9988: Flags [S], seq 4294967000, win 64240, "
      "options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0",
      "22:13:21.001000 IP 10.0.0.2.9988 > 10.0.0.1.41631: Flags [S.], seq 2970024578, ack "
      "4294967001, win 64240, options [mss 1460], length 0",
      "22:13:22.002000 IP 10.0.0.1.41631 > 10.0.0.2.9988: Flags [.], ack 1, win 64240, length 0",
      "22:13:23.003000 IP 10.0.0.1.41631 > 10.0.0.2.9988: Flags [P.], seq 1:401, ack 1, win 64240, "
      "length 400",
      "22:13:24.004000 IP 10.0.0.2.9988 > 10.0.0.1.41631: Flags [P.], seq 1:3, ack 401, win 64240, "
      "length 2",
      "22:13:25.005000 IP 10.0.0.1.41631 > 10.0.0.2.9988: Flags [F.], seq 401, ack 3, win 64240, "
      "length 0",
      "22:13:26.006000 IP 10.0.0.2.9988 > 10.0.0.1.41631: Flags [F.], seq 3, ack 402, win 64240, "
      "length 0",
      "22:13:27.007000 IP 10.0.0.1.41631 > 10.0.0.2.9988: Flags [.], ack 4, win 64240, length 0",
  };
  EXPECT_EQ(trace_raw(emitted_connection()), expected);
}

TEST_F(TcpdumpTest, AbsoluteSequenceNumbersWithS) {
  const std::vector<std::string> expected = {
      "22:13:20.000000 IP 10.0.0.1.41631 > 10.0.0.2.9988: Flags [S], seq 4294967000, win 64240, "
      "options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0",
      "22:13:21.001000 IP 10.0.0.2.9988 > 10.0.0.1.41631: Flags [S.], seq 2970024578, ack "
      "4294967001, win 64240, options [mss 1460], length 0",
      "22:13:22.002000 IP 10.0.0.1.41631 > 10.0.0.2.9988: Flags [.], ack 2970024579, win 64240, "
      "length 0",
      "22:13:23.003000 IP 10.0.0.1.41631 > 10.0.0.2.9988: Flags [P.], seq 4294967001:105, ack "
      "2970024579, win 64240, length 400",
      "22:13:24.004000 IP 10.0.0.2.9988 > 10.0.0.1.41631: Flags [P.], seq 2970024579:2970024581, "
      "ack 105, win 64240, length 2",
      "22:13:25.005000 IP 10.0.0.1.41631 > 10.0.0.2.9988: Flags [F.], seq 105, ack 2970024581, win "
      "64240, length 0",
      "22:13:26.006000 IP 10.0.0.2.9988 > 10.0.0.1.41631: Flags [F.], seq 2970024581, ack 106, win "
      "64240, length 0",
      "22:13:27.007000 IP 10.0.0.1.41631 > 10.0.0.2.9988: Flags [.], ack 2970024582, win 64240, "
      "length 0",
  };
  EXPECT_EQ(trace_raw(emitted_connection(), /*absolute=*/true), expected);
}

// The table is per address/port pair in canonical order (lower port first): a mid-stream
// capture starts numbering at the first packet with ACK, a new SYN restarts it, and a
// second connection keeps its own bases. reset() forgets everything.
TEST_F(TcpdumpTest, RelativeNumberingStateIsPerConnectionAndResetBySyn) {
  const std::vector<Packet> packets = {
      tcp_packet({.sport = 5000, .dport = 80, .seq = 1000, .ack = 7000}),
      tcp_packet({.sport = 80,
                  .dport = 5000,
                  .seq = 7000,
                  .ack = 1010,
                  .flags = TcpFlags::kAck | TcpFlags::kPsh,
                  .payload = "abc"},
                 {.src = "10.0.0.2", .dst = "10.0.0.1"}),
      tcp_packet({.sport = 5001, .dport = 80, .seq = 50, .ack = 60}),
      tcp_packet({.sport = 5000, .dport = 80, .seq = 1010, .ack = 7003}),
      tcp_packet({.sport = 5000,
                  .dport = 80,
                  .seq = 9,
                  .ack = 9,
                  .flags = TcpFlags::kSyn | TcpFlags::kAck}),
      tcp_packet({.sport = 5000, .dport = 80, .seq = 19, .ack = 29}),
      tcp_packet({.sport = 5001, .dport = 80, .seq = 51, .ack = 61}),
      tcp_packet({.sport = 7, .dport = 7, .seq = 1, .ack = 1},
                 {.src = "10.0.0.9", .dst = "10.0.0.3"}),
      tcp_packet({.sport = 7, .dport = 7, .seq = 2, .ack = 5},
                 {.src = "10.0.0.3", .dst = "10.0.0.9"}),
  };
  const std::vector<std::string> expected = {
      "22:13:20.000000 IP 10.0.0.1.5000 > 10.0.0.2.80: Flags [.], ack 7000, win 65535, length 0",
      "22:13:21.001000 IP 10.0.0.2.80 > 10.0.0.1.5000: Flags [P.], seq 1:4, ack 10, win 65535, "
      "length 3: HTTP",
      "22:13:22.002000 IP 10.0.0.1.5001 > 10.0.0.2.80: Flags [.], ack 60, win 65535, length 0",
      "22:13:23.003000 IP 10.0.0.1.5000 > 10.0.0.2.80: Flags [.], ack 4, win 65535, length 0",
      "22:13:24.004000 IP 10.0.0.1.5000 > 10.0.0.2.80: Flags [S.], seq 9, ack 9, win 65535, length "
      "0",
      "22:13:25.005000 IP 10.0.0.1.5000 > 10.0.0.2.80: Flags [.], ack 21, win 65535, length 0",
      "22:13:26.006000 IP 10.0.0.1.5001 > 10.0.0.2.80: Flags [.], ack 2, win 65535, length 0",
      "22:13:27.007000 IP 10.0.0.9.7 > 10.0.0.3.7: Flags [.], ack 1, win 65535, length 0",
      "22:13:28.008000 IP 10.0.0.3.7 > 10.0.0.9.7: Flags [.], ack 4, win 65535, length 0",
  };
  EXPECT_EQ(trace_raw(packets), expected);

  TcpdumpFormatter formatter;
  const Packet& data = packets[1];
  const std::string first = formatter.format_ip(Instant::from_micros(kEpochMicros), data.bytes);
  EXPECT_NE(formatter.format_ip(Instant::from_micros(kEpochMicros), packets[3].bytes), first);
  formatter.reset();
  EXPECT_EQ(formatter.format_ip(Instant::from_micros(kEpochMicros), data.bytes), first);
}

TEST_F(TcpdumpTest, SackBlocksAreRelativeToTheDataTheyAcknowledge) {
  auto sack = [](std::initializer_list<uint32_t> edges) {
    ByteVec o;
    append(o, {1, 1, 5, static_cast<unsigned>(2 + 4 * edges.size())});
    for (uint32_t e : edges) {
      ByteVec v(4);
      put32(v, 0, e);
      append(o, v);
    }
    return o;
  };
  // 10.0.0.1:1000 (lower port, ISN 100) sends to 10.0.0.2:2000 (ISN 5000). Both directions
  // send SACKs: each names the other side's sequence numbers.
  const Ip back{.src = "10.0.0.2", .dst = "10.0.0.1"};
  const std::vector<Packet> packets = {
      tcp_packet({.seq = 100, .ack = 0, .flags = TcpFlags::kSyn}),
      tcp_packet({.sport = 2000,
                  .dport = 1000,
                  .seq = 5000,
                  .ack = 101,
                  .flags = TcpFlags::kSyn | TcpFlags::kAck},
                 back),
      tcp_packet({.seq = 101, .ack = 5001, .payload = "0123456789"}),
      tcp_packet({.sport = 2000,
                  .dport = 1000,
                  .seq = 5001,
                  .ack = 101,
                  .options = sack({1101, 2101, 3101, 4101})},
                 back),
      tcp_packet({.seq = 111, .ack = 5001, .options = sack({5101, 5201})}),
  };
  const std::vector<std::string> relative = {
      "22:13:20.000000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [S], seq 100, win 65535, length 0",
      "22:13:21.001000 IP 10.0.0.2.2000 > 10.0.0.1.1000: Flags [S.], seq 5000, ack 101, win 65535, "
      "length 0",
      "22:13:22.002000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], seq 1:11, ack 1, win 65535, "
      "length 10",
      "22:13:23.003000 IP 10.0.0.2.2000 > 10.0.0.1.1000: Flags [.], ack 1, win 65535, options "
      "[nop,nop,sack 2 {1001:2001}{3001:4001}], length 0",
      "22:13:24.004000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 1, win 65535, options "
      "[nop,nop,sack 1 {101:201}], length 0",
  };
  EXPECT_EQ(trace_raw(packets), relative);
  const std::vector<std::string> absolute = {
      "22:13:20.000000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [S], seq 100, win 65535, length 0",
      "22:13:21.001000 IP 10.0.0.2.2000 > 10.0.0.1.1000: Flags [S.], seq 5000, ack 101, win 65535, "
      "length 0",
      "22:13:22.002000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], seq 101:111, ack 5001, win "
      "65535, length 10",
      "22:13:23.003000 IP 10.0.0.2.2000 > 10.0.0.1.1000: Flags [.], ack 101, win 65535, options "
      "[nop,nop,sack 2 {1101:2101}{3101:4101}], length 0",
      "22:13:24.004000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 5001, win 65535, options "
      "[nop,nop,sack 1 {5101:5201}], length 0",
  };
  EXPECT_EQ(trace_raw(packets, /*absolute=*/true), absolute);
}

// ----------------------------------------------------------------------------- options

TEST_F(TcpdumpTest, OptionsInWireOrderIncludingOddOnes) {
  auto opts = [](std::initializer_list<unsigned> bytes) {
    ByteVec o;
    append(o, bytes);
    return o;
  };
  std::vector<Packet> packets;
  for (const ByteVec& o : {
           // Linux's SYN layout, then the same options in another order.
           opts({2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}),
           opts({1, 3, 3, 14, 8, 10, 0, 0, 1, 0, 0, 0, 2, 0, 4, 2, 2, 4, 255, 255}),
           opts({2, 4, 5, 180, 0, 1, 2, 4}),  // EOL ends the list; what follows is padding
           opts({0, 0, 0, 0}),
           opts({1, 1, 0, 0}),
           opts({99, 2, 0, 0}),              // unknown option, no data
           opts({99, 5, 1, 2, 3, 0, 0, 0}),  // unknown option with data
           opts({254, 4, 0xab, 0xcd}),       // RFC 6994 experimental with magic
           opts({254, 4, 0xf9, 0x89}),       // experimental TCP Fast Open cookie request
           opts({34, 2, 0, 0}),              // TCP Fast Open cookie request
           opts({34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0}),
           opts({28, 4, 1, 44}),              // user timeout
           opts({2, 5, 5, 180, 0, 0, 0, 0}),  // MSS with a wrong length: tcpdump walks on
           opts({2, 3, 5, 0}),
           opts({4, 4, 1, 1}),
           opts({5, 7, 0, 0, 0, 1, 2, 0}),  // SACK that is not 2 + 8n bytes
           opts({5, 2, 0, 0}),              // SACK with no blocks
           opts({2, 1, 0, 0}),              // length below 2: [bad opt]
           opts({1, 2, 8, 0}),              // length beyond the header after an option
           opts({8, 6, 0, 0, 0, 1, 0, 0}),  // timestamps too short
           opts({19, 18, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0, 0}),
           opts({20, 4, 0xab, 7}),
           opts({6, 6, 0, 0, 0, 5, 7, 6, 0, 0, 0, 6, 11, 6, 0, 0, 0, 7, 12, 6, 0, 0, 0, 8}),
           opts({13, 6, 0, 0, 0, 9, 0, 0}),
           opts({29, 6, 1, 2, 0xaa, 0xbb}),
           opts({29, 3, 1, 0}),
       }) {
    packets.push_back(tcp_packet({.options = o}));
  }
  const std::vector<std::string> expected = {
      "22:13:20.000000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0",
      "22:13:21.001000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[nop,wscale 14,TS val 256 ecr 512,sackOK,mss 65535], length 0",
      "22:13:22.002000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[mss 1460,eol], length 0",
      "22:13:23.003000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[eol], length 0",
      "22:13:24.004000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[nop,nop,eol], length 0",
      "22:13:25.005000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[unknown-99,eol], length 0",
      "22:13:26.006000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[unknown-99 0x010203,eol], length 0",
      "22:13:27.007000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[exp-abcd], length 0",
      "22:13:28.008000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[exp-tfo cookiereq], length 0",
      "22:13:29.009000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[tfo  cookiereq,eol], length 0",
      "22:13:30.010000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[tfo  cookie 0102030405060708,eol], length 0",
      "22:13:31.011000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[uto 0x12c 150], length 0",
      "22:13:32.012000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[mss 1460[len 5],eol], length 0",
      "22:13:33.013000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[mss 1280[len 3]], length 0",
      "22:13:34.014000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[sackOK[len 4],nop,nop], length 0",
      "22:13:35.015000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[sack invalid sack,eol], length 0",
      "22:13:36.016000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[sack 0 ,eol], length 0",
      "22:13:37.017000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[[bad opt]",
      "22:13:38.018000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[nop,[bad opt]]",
      "22:13:39.019000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[TS[bad opt]",
      "22:13:40.020000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[md5 shared secret not supplied with -M, can't check - "
      "0102030405060708090a0b0c0d0e0f10,eol], length 0",
      "22:13:41.021000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[scps cap ab id 7], length 0",
      "22:13:42.022000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[echo 5,echoreply 6,cc 7,ccnew 8], length 0",
      "22:13:43.023000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options [ "
      "9,eol], length 0",
      "22:13:44.024000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], seq 100:102, ack 200, win "
      "65535, options [[bad opt]",
      "22:13:45.025000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, options "
      "[tcp-ao (invalid),eol], length 0",
  };
  EXPECT_EQ(trace_raw(packets, /*absolute=*/true), expected);
}

// ------------------------------------------------------------------- truncation, errors

TEST_F(TcpdumpTest, TruncatedAndMalformedPacketsPrintWhatTcpdumpPrints) {
  const Packet full = tcp_packet({.flags = TcpFlags::kAck | TcpFlags::kPsh,
                                  .options = hex("01 01 08 0a 00 00 00 01 00 00 00 02"),
                                  .payload = "hello"});
  const std::vector<Packet> packets = {
      full,
      cut(full, 10),  // inside the IP header
      cut(full, 21),  // ports not captured
      cut(full, 24),  // ports, but not the fixed TCP header
      cut(full, 40),  // fixed header, no options
      cut(full, 41),
      cut(full, 45),  // inside the timestamps option
      cut(full, 52),  // whole header, payload not captured: tcpdump does not mind
      {ip({.ihl = 4}, tcp({})), 0},
      {ip({.total_length = 200}, tcp({})), 0},
      {ip({.total_length = 10}, tcp({})), 0},
      {ip({.total_length = 0}, tcp({})), 0},
      {ip({.total_length = 30}, tcp({})), 0},
      {ip({.fragment = 0x2000}, tcp({.payload = "frag"})), 0},  // first fragment: dissected
      {ip({.fragment = 0x0003}, tcp({})), 0},                   // later fragment: not
      {ip({.protocol = 253}, hex("01 02 03 04")), 0},
      {ip({.options = hex("01 01 01 00")}, tcp({})), 0},  // IP options are not shown
      tcp_packet({.offset = 4}),
      tcp_packet({.offset = 15}),
      tcp_packet({.seq = 3, .flags = TcpFlags::kRst, .payload = "reset reason"}),
  };
  const std::vector<std::string> expected = {
      "22:13:20.000000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [P.], seq 100:105, ack 200, win "
      "65535, options [nop,nop,TS val 1 ecr 2], length 5",
      "22:13:21.001000 IP  [|ip]",
      "22:13:22.002000 IP 10.0.0.1 > 10.0.0.2: [|tcp]",
      "22:13:23.003000 IP 10.0.0.1.1000 > 10.0.0.2.2000:  [|tcp]",
      "22:13:24.004000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [P.], seq 100:105, ack 200, win "
      "65535, options [ [|tcp]",
      "22:13:25.005000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [P.], seq 100:105, ack 200, win "
      "65535, options [nop, [|tcp]",
      "22:13:26.006000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [P.], seq 100:105, ack 200, win "
      "65535, options [nop,nop,TS [|tcp]>",
      "22:13:27.007000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [P.], seq 100:105, ack 200, win "
      "65535, options [nop,nop,TS val 1 ecr 2], length 5",
      "22:13:28.008000 IP bad-hlen 16",
      "22:13:29.009000 IP truncated-ip - 160 bytes missing! 10.0.0.1.1000 > 10.0.0.2.2000: Flags "
      "[.], seq 100:260, ack 200, win 65535, length 160",
      "22:13:30.010000 IP bad-len 10",
      "22:13:31.011000 IP bad-len 0",
      "22:13:32.012000 IP 10.0.0.1.1000 > 10.0.0.2.2000:  [|tcp]",
      "22:13:33.013000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], seq 100:104, ack 200, win "
      "65535, length 4",
      "22:13:34.014000 IP 10.0.0.1 > 10.0.0.2: ip-proto-6",
      "22:13:35.015000 IP 10.0.0.1 > 10.0.0.2:  ip-proto-253 4",
      "22:13:36.016000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.], ack 200, win 65535, length 0",
      "22:13:37.017000 IP 10.0.0.1.1000 > 10.0.0.2.2000:  tcp 4 [bad hdr length 16 - too short, < "
      "20]",
      "22:13:38.018000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [.] [bad hdr length 60 - too long, "
      "> 20]",
      "22:13:39.019000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [R], seq 3:15, win 65535, length 12",
  };
  EXPECT_EQ(trace_raw(packets, /*absolute=*/true), expected);
}

TEST_F(TcpdumpTest, ImpossibleRecordHeadersAsTcpdumpReportsThem) {
  TcpdumpFormatter formatter;
  const Packet p = tcp_packet({});
  const Instant t = Instant::from_micros(kEpochMicros);
  EXPECT_EQ(formatter.format(t, link_type::kRaw, {}, 0), "[Invalid header: caplen==0, len==0]");
  EXPECT_EQ(formatter.format(t, link_type::kRaw, {}, 10), "[Invalid header: caplen==0]");
  EXPECT_EQ(formatter.format(t, link_type::kRaw, p.bytes, 5),
            "[Invalid header: len(5) < caplen(40)]");
  EXPECT_EQ(formatter.format(t, link_type::kRaw, p.bytes, 0), "[Invalid header: len==0]");
}

// Bytes that are not a packet at all must never read out of bounds (ASan build) and must
// always produce a line that starts with the timestamp.
TEST_F(TcpdumpTest, GarbageNeverCrashes) {
  TcpdumpFormatter formatter;
  uint32_t state = 12345;
  auto next = [&state] {
    state = state * 1103515245u + 12345u;
    return static_cast<uint8_t>(state >> 16);
  };
  const ByteVec seed =
      tcp_packet({.options = hex("02 04 05 b4 01 03 03 07 05 0a 00 00 00 01 00 00 00 02")}).bytes;
  for (int round = 0; round < 20000; ++round) {
    ByteVec b = seed;
    for (int i = 0; i < 4; ++i)
      b[next() % b.size()] = static_cast<std::byte>(next());
    b.resize(next() % (b.size() + 1));
    if (b.empty()) continue;
    for (int link : {link_type::kRaw, link_type::kEthernet, link_type::kLinuxSll,
                     link_type::kLinuxSll2, link_type::kNull}) {
      const std::string line = formatter.format(Instant::from_micros(kEpochMicros), link, b,
                                                static_cast<uint32_t>(b.size() + next() % 3));
      ASSERT_EQ(line.substr(0, 16), "22:13:20.000000 ") << line;
    }
  }
}

// --------------------------------------------------------------------------- ICMP, UDP

TEST_F(TcpdumpTest, IcmpEchoUnreachableAndTheOtherTypes) {
  const ByteVec quoted_udp =
      ip({.src = "127.0.0.1", .dst = "127.0.0.1", .protocol = 17}, udp(40000, 9999, "hello"));
  const ByteVec syn = ip({}, tcp({.flags = TcpFlags::kSyn}));
  const ByteVec quoted_tcp(syn.begin(), syn.begin() + 28);  // IP header + 8 bytes
  auto msg = [](uint8_t type, uint8_t code, uint32_t rest, const ByteVec& data) {
    return Packet{
        ip({.src = "127.0.0.1", .dst = "127.0.0.1", .protocol = 1}, icmp(type, code, rest, data)),
        0};
  };
  const ByteVec ping(56, std::byte{'p'});
  std::vector<Packet> packets = {
      msg(8, 0, 0x12340007, ping),
      msg(0, 0, 0x12340007, ping),
      msg(3, 3, 0, quoted_udp),
      msg(3, 3, 0, quoted_tcp),
      msg(3, 0, 0, quoted_tcp),
      msg(3, 1, 0, quoted_tcp),
      msg(3, 2, 0, quoted_tcp),
      msg(3, 4, 1400, quoted_tcp),
      msg(3, 4, 0, quoted_tcp),
      msg(3, 13, 0, quoted_tcp),
      msg(3, 16, 0, quoted_tcp),
      msg(11, 0, 0, quoted_tcp),
      msg(11, 1, 0, quoted_tcp),
      msg(5, 1, addr("10.0.0.254").value(), quoted_tcp),
      msg(12, 0, 0x05000000, quoted_tcp),
      msg(4, 0, 0, quoted_tcp),
      msg(13, 0, 0x00010002, ByteVec(12)),
      msg(14, 0, 0x00010002, hex("00 00 03 e8 00 38 cf fc 05 26 5b ff")),
      msg(17, 0, 0, ByteVec(4)),
      msg(18, 0, 0, hex("ff ff ff 00")),
      msg(9, 0, 0x01020708, hex("0a 00 00 01 00 00 00 05")),
      msg(42, 0, 0, {}),
      cut(msg(8, 0, 5, ping), 25),
      msg(3, 3, 0, ByteVec(quoted_udp.begin(), quoted_udp.begin() + 10)),
  };
  const std::vector<std::string> expected = {
      "22:13:20.000000 IP 127.0.0.1 > 127.0.0.1: ICMP echo request, id 4660, seq 7, length 64",
      "22:13:21.001000 IP 127.0.0.1 > 127.0.0.1: ICMP echo reply, id 4660, seq 7, length 64",
      "22:13:22.002000 IP 127.0.0.1 > 127.0.0.1: ICMP 127.0.0.1 udp port 9999 unreachable, length "
      "41",
      "22:13:23.003000 IP 127.0.0.1 > 127.0.0.1: ICMP 10.0.0.2 tcp port 2000 unreachable, length "
      "36",
      "22:13:24.004000 IP 127.0.0.1 > 127.0.0.1: ICMP net 10.0.0.2 unreachable, length 36",
      "22:13:25.005000 IP 127.0.0.1 > 127.0.0.1: ICMP host 10.0.0.2 unreachable, length 36",
      "22:13:26.006000 IP 127.0.0.1 > 127.0.0.1: ICMP 10.0.0.2 protocol 6 unreachable, length 36",
      "22:13:27.007000 IP 127.0.0.1 > 127.0.0.1: ICMP 10.0.0.2 unreachable - need to frag (mtu "
      "1400), length 36",
      "22:13:28.008000 IP 127.0.0.1 > 127.0.0.1: ICMP 10.0.0.2 unreachable - need to frag, length "
      "36",
      "22:13:29.009000 IP 127.0.0.1 > 127.0.0.1: ICMP host 10.0.0.2 unreachable - admin prohibited "
      "filter, length 36",
      "22:13:30.010000 IP 127.0.0.1 > 127.0.0.1: ICMP 10.0.0.2 unreachable - #16, length 36",
      "22:13:31.011000 IP 127.0.0.1 > 127.0.0.1: ICMP time exceeded in-transit, length 36",
      "22:13:32.012000 IP 127.0.0.1 > 127.0.0.1: ICMP ip reassembly time exceeded, length 36",
      "22:13:33.013000 IP 127.0.0.1 > 127.0.0.1: ICMP redirect 10.0.0.2 to host 10.0.0.254, length "
      "36",
      "22:13:34.014000 IP 127.0.0.1 > 127.0.0.1: ICMP parameter problem - octet 5, length 36",
      "22:13:35.015000 IP 127.0.0.1 > 127.0.0.1: ICMP source quench, length 36",
      "22:13:36.016000 IP 127.0.0.1 > 127.0.0.1: ICMP time stamp query id 1 seq 2, length 20",
      "22:13:37.017000 IP 127.0.0.1 > 127.0.0.1: ICMP time stamp reply id 1 seq 2: org "
      "00:00:01.000, recv 01:02:03.260, xmit 23:59:59.999, length 20",
      "22:13:38.018000 IP 127.0.0.1 > 127.0.0.1: ICMP address mask request, length 12",
      "22:13:39.019000 IP 127.0.0.1 > 127.0.0.1: ICMP address mask is 0xffffff00, length 12",
      "22:13:40.020000 IP 127.0.0.1 > 127.0.0.1: ICMP router advertisement lifetime 30:00 1: "
      "{10.0.0.1 5}, length 16",
      "22:13:41.021000 IP 127.0.0.1 > 127.0.0.1: ICMP type-#42, length 8",
      "22:13:42.022000 IP 127.0.0.1 > 127.0.0.1:  [|icmp]",
      "22:13:43.023000 IP 127.0.0.1 > 127.0.0.1:  [|icmp]",
  };
  EXPECT_EQ(trace_raw(packets), expected);
}

TEST_F(TcpdumpTest, UdpLengthsAndTruncation) {
  const Ip h{.protocol = 17};
  const Packet datagram{ip(h, udp(5000, 6000, "0123456789")), 0};
  const std::vector<Packet> packets = {
      datagram,
      {ip(h, udp(5000, 6000, "0123456789", 4)), 0},
      {ip(h, udp(5000, 6000, "0123456789", 100)), 0},
      {ip(h, udp(5000, 6000, "0123456789", 12)), 0},
      {ip(h, hex("00 01")), 0},
      {ip(h, hex("00 01 00 02")), 0},
      cut(datagram, 26),
      cut(datagram, 28),
  };
  const std::vector<std::string> expected = {
      "22:13:20.000000 IP 10.0.0.1.5000 > 10.0.0.2.6000: UDP, length 10",
      "22:13:21.001000 IP 10.0.0.1.5000 > 10.0.0.2.6000: truncated-udplength 4",
      "22:13:22.002000 IP 10.0.0.1.5000 > 10.0.0.2.6000: UDP, bad length 92 > 10",
      "22:13:23.003000 IP 10.0.0.1.5000 > 10.0.0.2.6000: UDP, length 4",
      "22:13:24.004000 IP 10.0.0.1 > 10.0.0.2:  [|udp]",
      "22:13:25.005000 IP 10.0.0.1.1 > 10.0.0.2.2: truncated-udp 4",
      "22:13:26.006000 IP 10.0.0.1.5000 > 10.0.0.2.6000:  [|udp]",
      "22:13:27.007000 IP 10.0.0.1.5000 > 10.0.0.2.6000: UDP, length 10",
  };
  EXPECT_EQ(trace_raw(packets), expected);
}

TEST_F(TcpdumpTest, FirstLineOfTextProtocols) {
  const std::vector<Packet> packets = {
      tcp_packet({.dport = 80,
                  .flags = TcpFlags::kAck | TcpFlags::kPsh,
                  .payload = "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"}),
      tcp_packet({.sport = 8080,
                  .flags = TcpFlags::kAck | TcpFlags::kPsh,
                  .payload = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"}),
      tcp_packet(
          {.sport = 80, .flags = TcpFlags::kAck | TcpFlags::kPsh, .payload = "body continues"}),
      tcp_packet(
          {.dport = 80, .flags = TcpFlags::kAck | TcpFlags::kPsh, .payload = "post / HTTP/1.0\n"}),
      tcp_packet(
          {.dport = 80, .flags = TcpFlags::kAck | TcpFlags::kPsh, .payload = "GET / HTTP/1.1"}),
      tcp_packet(
          {.sport = 25, .flags = TcpFlags::kAck | TcpFlags::kPsh, .payload = "220 mail ESMTP\r\n"}),
      tcp_packet(
          {.dport = 21, .flags = TcpFlags::kAck | TcpFlags::kPsh, .payload = "USER anonymous\r\n"}),
      tcp_packet(
          {.sport = 22, .flags = TcpFlags::kAck | TcpFlags::kPsh, .payload = "SSH-2.0-synack\r\n"}),
      tcp_packet({.dport = 554,
                  .flags = TcpFlags::kAck | TcpFlags::kPsh,
                  .payload = "DESCRIBE rtsp://x/ RTSP/1.0\r\n"}),
  };
  const std::vector<std::string> expected = {
      "22:13:20.000000 IP 10.0.0.1.1000 > 10.0.0.2.80: Flags [P.], seq 100:137, ack 200, win "
      "65535, length 37: HTTP: GET /index.html HTTP/1.1",
      "22:13:21.001000 IP 10.0.0.1.8080 > 10.0.0.2.2000: Flags [P.], seq 100:140, ack 200, win "
      "65535, length 40: HTTP: HTTP/1.1 200 OK",
      "22:13:22.002000 IP 10.0.0.1.80 > 10.0.0.2.2000: Flags [P.], seq 100:114, ack 200, win "
      "65535, length 14: HTTP",
      "22:13:23.003000 IP 10.0.0.1.1000 > 10.0.0.2.80: Flags [P.], seq 100:116, ack 200, win "
      "65535, length 16: HTTP: post / HTTP/1.0",
      "22:13:24.004000 IP 10.0.0.1.1000 > 10.0.0.2.80: Flags [P.], seq 100:114, ack 200, win "
      "65535, length 14: HTTP: GET / HTTP/1.1 [|http]",
      "22:13:25.005000 IP 10.0.0.1.25 > 10.0.0.2.2000: Flags [P.], seq 100:116, ack 200, win "
      "65535, length 16: SMTP: 220 mail ESMTP",
      "22:13:26.006000 IP 10.0.0.1.1000 > 10.0.0.2.21: Flags [P.], seq 100:116, ack 200, win "
      "65535, length 16: FTP: USER anonymous",
      "22:13:27.007000 IP 10.0.0.1.22 > 10.0.0.2.2000: Flags [P.], seq 100:116, ack 200, win "
      "65535, length 16: SSH: SSH-2.0-synack",
      "22:13:28.008000 IP 10.0.0.1.1000 > 10.0.0.2.554: Flags [P.], seq 100:129, ack 200, win "
      "65535, length 29: RTSP: DESCRIBE rtsp://x/ RTSP/1.0",
  };
  EXPECT_EQ(trace_raw(packets, /*absolute=*/true), expected);
}

// Real kernel bytes (tests/wire/kernel_packets.hpp: a veth capture with real checksums).
TEST_F(TcpdumpTest, KernelPackets) {
  namespace k = wire::test::kernel;
  std::vector<Packet> packets;
  for (std::string_view h :
       {k::kSyn, k::kSynAck, k::kAck, k::kData, k::kOddData, k::kFin, k::kRst, k::kPortUnreachable,
        k::kEchoRequest, k::kEchoReply, k::kEchoRequestRecordRoute}) {
    packets.push_back({hex(h), 0});
  }
  const std::vector<std::string> lines = trace_raw(packets);
  ASSERT_EQ(lines.size(), packets.size());
  EXPECT_EQ(lines[0],
            "22:13:20.000000 IP 10.0.0.1.40000 > 10.0.0.2.5555: Flags [S], seq 2459123363, win "
            "64240, options [mss 1460,sackOK,TS val 3764855834 ecr 0,nop,wscale 10], length 0");
  EXPECT_EQ(lines[1],
            "22:13:21.001000 IP 10.0.0.2.5555 > 10.0.0.1.40000: Flags [S.], seq 3456866686, ack "
            "2459123364, win 65160, options [mss 1460,sackOK,TS val 2382602817 ecr "
            "3764855834,nop,wscale 10], length 0");
  EXPECT_EQ(lines[2],
            "22:13:22.002000 IP 10.0.0.1.40000 > 10.0.0.2.5555: Flags [.], ack 1, win 63, "
            "options [nop,nop,TS val 3764855834 ecr 2382602817], length 0");
  EXPECT_EQ(lines[3],
            "22:13:23.003000 IP 10.0.0.1.40000 > 10.0.0.2.5555: Flags [P.], seq 1:15, ack 1, win "
            "63, options [nop,nop,TS val 3764855834 ecr 2382602817], length 14");
  EXPECT_EQ(lines[4],
            "22:13:24.004000 IP 10.0.0.2.5555 > 10.0.0.1.40000: Flags [P.], seq 1:6, ack 15, win "
            "64, options [nop,nop,TS val 2382602918 ecr 3764855834], length 5");
  EXPECT_EQ(lines[5],
            "22:13:25.005000 IP 10.0.0.1.40000 > 10.0.0.2.5555: Flags [F.], seq 15, ack 6, win "
            "63, options [nop,nop,TS val 3764856034 ecr 2382602918], length 0");
}

// ------------------------------------------------------------------------- link layers

ByteVec ethernet(uint16_t type, const ByteVec& payload) {
  ByteVec b = hex("ff ff ff ff ff ff 02 00 00 00 00 01");
  ByteVec t(2);
  put16(t, 0, type);
  append(b, t);
  append(b, payload);
  return b;
}

ByteVec arp(uint16_t op, std::string_view sender, std::string_view target, bool target_mac) {
  ByteVec b = hex("00 01 08 00 06 04 00 00 02 00 00 00 00 01");
  put16(b, 6, op);
  ByteVec a(4);
  put32(a, 0, addr(sender).value());
  append(b, a);
  append(b, target_mac ? hex("02 00 00 00 00 02") : ByteVec(6));
  put32(a, 0, addr(target).value());
  append(b, a);
  return b;
}

TEST_F(TcpdumpTest, EthernetShowsNoMacsExceptForUnknownTypes) {
  const ByteVec segment = ip({}, tcp({.flags = TcpFlags::kSyn | TcpFlags::kAck, .payload = "hi"}));
  ByteVec padded_arp = arp(2, "10.0.0.2", "10.0.0.1", true);
  padded_arp.resize(46);  // minimum Ethernet payload
  ByteVec vlan = hex("00 05 08 00");
  append(vlan, segment);
  const std::vector<Packet> packets = {
      {ethernet(0x0800, segment), 0},
      {ethernet(0x0806, arp(1, "10.0.0.1", "10.0.0.2", false)), 0},
      {ethernet(0x0806, arp(1, "10.0.0.1", "10.0.0.2", true)), 0},
      {ethernet(0x0806, padded_arp), 0},
      {ethernet(0x8100, vlan), 0},
      {ethernet(0x1234, hex("61 62 63 64 65 66 67 68 69 6a 6b 6c 6d 6e 6f 70 71 72 73")), 0},
      {ethernet(0x88cc, {}), 0},
      {hex("ff ff ff ff ff ff 02 00 00 00 00 01 08"), 0},
  };
  const std::vector<std::string> expected = {
      "22:13:20.000000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [S.], seq 100:102, ack 200, win "
      "65535, length 2",
      "22:13:21.001000 ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28",
      "22:13:22.002000 ARP, Request who-has 10.0.0.2 (02:00:00:00:00:02) tell 10.0.0.1, length 28",
      "22:13:23.003000 ARP, Reply 10.0.0.2 is-at 02:00:00:00:00:01, length 46",
      "22:13:24.004000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [S.], seq 100:102, ack 200, win "
      "65535, length 2",
      "22:13:25.005000 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype Unknown (0x1234), length "
      "33: \n"
      "\t0x0000:  6162 6364 6566 6768 696a 6b6c 6d6e 6f70  abcdefghijklmnop\n"
      "\t0x0010:  7172 73                                  qrs",
      "22:13:26.006000 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype LLDP (0x88cc), length 14: ",
      "22:13:27.007000  [|ether]",
  };
  // LLDP: tcpdump dissects it ("LLDP, length 0"); synack prints the generic form.
  std::vector<std::string> lines = trace(link_type::kEthernet, packets);
  ASSERT_EQ(lines.size(), expected.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i == 6) continue;
    EXPECT_EQ(lines[i], expected[i]);
  }
}

ByteVec sll(uint16_t packet_type, uint16_t protocol, const ByteVec& payload) {
  // packet type, ARPHRD_ETHER, address length 6, address (8 bytes, padded)
  ByteVec b = hex("00 00 00 01 00 06 02 00 00 00 00 01 00 00");
  put16(b, 0, packet_type);
  ByteVec t(2);
  put16(t, 0, protocol);
  append(b, t);
  append(b, payload);
  return b;
}

ByteVec sll2(uint32_t if_index, uint8_t packet_type, uint16_t protocol, const ByteVec& payload) {
  ByteVec b = hex("00 00 00 00 00 00 00 00 03 04 00 00 00 00 00 00 00 00 00 00");
  put16(b, 0, protocol);
  put32(b, 4, if_index);
  b[10] = static_cast<std::byte>(packet_type);
  append(b, payload);
  return b;
}

TEST_F(TcpdumpTest, LinuxCookedCapturesV1AndV2) {
  const ByteVec segment = ip({}, tcp({.flags = TcpFlags::kSyn | TcpFlags::kAck}));
  const std::vector<Packet> v1 = {
      {sll(0, 0x0800, segment), 0},
      {sll(4, 0x0800, segment), 0},
      {sll(0, 0x0806, arp(1, "10.0.0.1", "10.0.0.2", false)), 0},
      {sll(0, 0x1234, hex("61 62 63 64")), 0},
      {hex("00 00 00 01 00 06 02 00 00 00"), 0},
  };
  const std::vector<std::string> expected_v1 = {
      "22:13:20.000000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [S.], seq 100, ack 200, win 65535, "
      "length 0",
      "22:13:21.001000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [S.], seq 100, ack 200, win 65535, "
      "length 0",
      "22:13:22.002000 ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28",
      "22:13:23.003000  In 02:00:00:00:00:01 ethertype Unknown (0x1234), length 20: \n"
      "\t0x0000:  6162 6364                                abcd",
      "22:13:24.004000  [|sll]",
  };
  EXPECT_EQ(trace(link_type::kLinuxSll, v1), expected_v1);

  // ifindex 1 is lo on every Linux machine and ifindex 0 names nothing, so these lines
  // are what tcpdump prints wherever it reads the file.
  const std::vector<Packet> v2 = {
      {sll2(1, 0, 0x0800, segment), 0},
      {sll2(1, 4, 0x0800, segment), 0},
      {sll2(0, 1, 0x0800, segment), 0},
      {sll2(1, 9, 0x0800, segment), 0},
      {sll2(1, 0, 0x1234, hex("61 62 63 64")), 0},
      {hex("08 00 00 00 00 00 00 01 03 04 00 00"), 0},
  };
  const std::vector<std::string> expected_v2 = {
      "22:13:20.000000 lo    In  IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [S.], seq 100, ack 200, "
      "win 65535, length 0",
      "22:13:21.001000 lo    Out IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [S.], seq 100, ack 200, "
      "win 65535, length 0",
      "22:13:22.002000 ?     B   IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [S.], seq 100, ack 200, "
      "win 65535, length 0",
      "22:13:23.003000 lo    ?   IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [S.], seq 100, ack 200, "
      "win 65535, length 0",
      "22:13:24.004000 lo    In  ifindex 1 ethertype Unknown (0x1234), length 24: \n"
      "\t0x0000:  6162 6364                                abcd",
      "22:13:25.005000  [|sll2]",
  };
  EXPECT_EQ(trace(link_type::kLinuxSll2, v2), expected_v2);

  // The interface name lookup can be replaced (a capture read on another machine).
  TcpdumpOptions options;
  options.interface_name = [](uint32_t index) -> std::optional<std::string> {
    if (index == 7) return "tun-synack";
    return std::nullopt;
  };
  TcpdumpFormatter formatter(std::move(options));
  const ByteVec frame = sll2(7, 4, 0x0800, segment);
  EXPECT_EQ(formatter.format(Instant::from_micros(kEpochMicros), link_type::kLinuxSll2, frame,
                             static_cast<uint32_t>(frame.size())),
            "22:13:20.000000 tun-synack Out IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [S.], seq "
            "100, ack 200, win 65535, length 0");
}

TEST_F(TcpdumpTest, RawAndNullLinkTypes) {
  const ByteVec segment = ip({}, tcp({.flags = TcpFlags::kSyn}));
  const std::string expected =
      "22:13:20.000000 IP 10.0.0.1.1000 > 10.0.0.2.2000: Flags [S], seq 100, win 65535, length 0";
  // DLT_RAW (LINKTYPE_RAW in the file), DLT_IPV4, and DLT_NULL with AF_INET.
  EXPECT_EQ(trace(link_type::kRaw, {{segment, 0}}), std::vector<std::string>{expected});
  EXPECT_EQ(trace(link_type::kIpv4, {{segment, 0}}), std::vector<std::string>{expected});
  ByteVec null_frame = hex("02 00 00 00");
  append(null_frame, segment);
  EXPECT_EQ(trace(link_type::kNull, {{null_frame, 0}}), std::vector<std::string>{expected});
  // A raw capture whose first nibble is neither 4 nor 6.
  ByteVec bogus = segment;
  bogus[0] = std::byte{0x55};
  EXPECT_EQ(trace(link_type::kRaw, {{bogus, 0}}),
            std::vector<std::string>{"22:13:20.000000 unknown ip 5"});
  // What tcpdump would refuse to open at all still gets a line.
  TcpdumpFormatter formatter;
  EXPECT_EQ(formatter.format(Instant::from_micros(kEpochMicros), 147, segment,
                             static_cast<uint32_t>(segment.size())),
            "22:13:20.000000 [unsupported link type 147], length 40");
}

TEST_F(TcpdumpTest, Ipv6TcpUdpAndEcho) {
  auto ip6 = [](uint8_t next, const ByteVec& payload) {
    ByteVec b = hex("60 00 00 00 00 00 00 40");
    put16(b, 4, static_cast<uint16_t>(payload.size()));
    b[6] = static_cast<std::byte>(next);
    append(b, hex("00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01"));
    append(b, hex("fe 80 00 00 00 00 00 00 00 00 00 00 00 01 00 02"));
    append(b, payload);
    return b;
  };
  const std::vector<Packet> packets = {
      {ip6(6, tcp({.flags = TcpFlags::kAck | TcpFlags::kPsh, .payload = "hello"})), 0},
      {ip6(17, udp(5, 6, "abc")), 0},
      {ip6(58, icmp(128, 0, 0x00010002, ByteVec(8))), 0},
      {ip6(58, icmp(129, 0, 0x00010002, ByteVec(8))), 0},
      {ip6(59, {}), 0},
  };
  const std::vector<std::string> expected = {
      "22:13:20.000000 IP6 ::1.1000 > fe80::1:2.2000: Flags [P.], seq 100:105, ack 200, win 65535, "
      "length 5",
      "22:13:21.001000 IP6 ::1.5 > fe80::1:2.6: UDP, length 3",
      "22:13:22.002000 IP6 ::1 > fe80::1:2: ICMP6, echo request, id 1, seq 2, length 16",
      "22:13:23.003000 IP6 ::1 > fe80::1:2: ICMP6, echo reply, id 1, seq 2, length 16",
      "22:13:24.004000 IP6 ::1 > fe80::1:2: no next header",
  };
  EXPECT_EQ(trace_raw(packets, /*absolute=*/true), expected);
}

// ------------------------------------------------------------------------- timestamps

TEST_F(TcpdumpTest, TimestampsAreLocalTimeAndHonourTz) {
  fmt::memory_buffer out;
  TcpdumpFormatter::format_timestamp(out, Instant::from_micros(kEpochMicros + 123456));
  EXPECT_EQ(fmt::to_string(out), "22:13:20.123456");

  // A POSIX TZ string needs no zone database: India is UTC+5:30 (POSIX counts westwards).
  setenv("TZ", "IST-5:30", 1);
  tzset();
  out.clear();
  TcpdumpFormatter::format_timestamp(out, Instant::from_micros(kEpochMicros + 7));
  EXPECT_EQ(fmt::to_string(out), "03:43:20.000007");

  // Before the epoch, microseconds still count forwards within the second.
  setenv("TZ", "UTC", 1);
  tzset();
  out.clear();
  TcpdumpFormatter::format_timestamp(out, Instant::from_micros(-1));
  EXPECT_EQ(fmt::to_string(out), "23:59:59.999999");
}

}  // namespace
}  // namespace synack::trace
