// synack trace --plot (tools/synack/trace_plot.hpp): the time-sequence graph of a capture,
// checked on captures of simulated runs, whose every segment and retransmission is known.
#include "trace_plot.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "synack/sim/simulator.hpp"
#include "synack/trace/pcap.hpp"
#include "synack/trace/tcpdump.hpp"

namespace synack::cli {
namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

class TracePlot : public ::testing::Test {
 protected:
  std::string pcap = (std::filesystem::temp_directory_path() /
                      ("synack-trace-plot-" + std::to_string(getpid()) + ".pcap"))
                         .string();
  void TearDown() override { std::filesystem::remove(pcap); }

  sim::SimResult simulate(sim::SimConfig cfg) {
    cfg.pcap_path = pcap;
    auto r = sim::simulate(cfg);
    EXPECT_TRUE(r.has_value());
    return r ? *r : sim::SimResult{};
  }
};

// The sender is the end that sent the data; every one of its segments is drawn, and those
// it sent again are the retransmissions (the simulator's capture holds every packet sent).
TEST_F(TracePlot, DrawsTheDataSendersSegmentsAndItsRetransmissions) {
  sim::SimConfig cfg;
  cfg.bytes = 256 * 1024;
  cfg.direction = sim::Direction::kServerToClient;
  cfg.loss = 0.03;
  cfg.seed = 3;
  const sim::SimResult r = simulate(cfg);
  ASSERT_TRUE(r.ok) << r.failure;
  ASSERT_GT(r.server_counters.TcpRetransSegs, 0u);

  auto plot = plot_capture(pcap);
  ASSERT_TRUE(plot) << plot.error();
  EXPECT_EQ(plot->connection,
            "10.0.0.2:9988 -> 10.0.0.1:" + std::to_string(r.conns[0].tuple.local.port));
  // TcpOutSegs leaves out what only retransmits (RFC 4022); the graph draws both.
  EXPECT_EQ(plot->segments, r.server_counters.TcpOutSegs + r.server_counters.TcpRetransSegs);
  EXPECT_EQ(plot->retransmissions, r.server_counters.TcpRetransSegs);
  EXPECT_EQ(plot->svg.rfind("<?xml", 0), 0u);
  EXPECT_EQ(count(plot->svg, "class=\"seg rexmit\""), plot->retransmissions);
  EXPECT_GT(count(plot->svg, "class=\"sack\""), 0u) << "the receiver's SACK blocks";
}

// With several connections the default is the one that carried the most; --connection N
// picks by order of appearance, and one past the last is an error that says how many.
TEST_F(TracePlot, PicksAConnection) {
  sim::SimConfig cfg;
  cfg.connections = 2;
  cfg.bytes = 20'000;
  cfg.direction = sim::Direction::kClientToServer;
  const sim::SimResult r = simulate(cfg);
  ASSERT_TRUE(r.ok) << r.failure;
  auto first = plot_capture(pcap, 1);
  auto second = plot_capture(pcap, 2);
  ASSERT_TRUE(first && second);
  EXPECT_NE(first->connection, second->connection);
  EXPECT_NE(first->connection.find(std::to_string(r.conns[0].tuple.local.port)), std::string::npos);
  auto none = plot_capture(pcap, 3);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().find("no connection 3 (it holds 2)"), std::string::npos) << none.error();
  EXPECT_FALSE(plot_capture(pcap + ".missing"));
}

// A capture with a small snapshot length holds only the start of each large packet: those
// cannot be drawn, and the plot says how many it left out.
TEST_F(TracePlot, CountsPacketsTheSnapshotLengthCutShort) {
  sim::SimConfig cfg;
  cfg.bytes = 20'000;
  cfg.direction = sim::Direction::kClientToServer;
  ASSERT_TRUE(simulate(cfg).ok);
  const std::string cut = pcap + ".cut";
  size_t long_packets = 0;
  {
    auto in = trace::PcapReader::open(pcap);
    auto out = trace::PcapWriter::open(cut);
    ASSERT_TRUE(in && out);
    while (true) {
      auto p = in->next();
      ASSERT_TRUE(p);
      if (!p->has_value()) break;
      const wire::Bytes bytes = (*p)->bytes;
      if (bytes.size() > 96) ++long_packets;
      out->write((*p)->timestamp, bytes.first(std::min<size_t>(bytes.size(), 96)),
                 static_cast<uint32_t>(bytes.size()));
    }
  }
  auto plot = plot_capture(cut);
  std::filesystem::remove(cut);
  ASSERT_TRUE(plot) << plot.error();
  EXPECT_GT(long_packets, 0u);
  EXPECT_EQ(plot->truncated, long_packets);
  EXPECT_NE(plot->svg.find("cut short by the capture"), std::string::npos);
}

TEST(Ipv4InFrame, FindsTheDatagramBehindEachLinkHeader) {
  std::vector<std::byte> ip(20, std::byte{0});
  ip[0] = std::byte{0x45};
  const auto framed = [&](std::vector<std::byte> header) {
    header.insert(header.end(), ip.begin(), ip.end());
    return header;
  };
  const auto b = [](std::initializer_list<int> v) {
    std::vector<std::byte> out;
    for (int x : v)
      out.push_back(static_cast<std::byte>(x));
    return out;
  };
  std::vector<std::byte> eth(12, std::byte{0});
  for (auto x : b({0x08, 0x00}))
    eth.push_back(x);
  auto e = framed(eth);
  EXPECT_EQ(trace::ipv4_in_frame(trace::link_type::kEthernet, e)->size(), 20u);
  std::vector<std::byte> vlan(12, std::byte{0});
  for (auto x : b({0x81, 0x00, 0x00, 0x07, 0x08, 0x00}))
    vlan.push_back(x);
  auto v = framed(vlan);
  EXPECT_EQ(trace::ipv4_in_frame(trace::link_type::kEthernet, v)->size(), 20u);
  std::vector<std::byte> arp(12, std::byte{0});
  for (auto x : b({0x08, 0x06}))
    arp.push_back(x);
  auto a = framed(arp);
  EXPECT_FALSE(trace::ipv4_in_frame(trace::link_type::kEthernet, a));
  auto raw = framed({});
  EXPECT_EQ(trace::ipv4_in_frame(trace::link_type::kRaw, raw)->size(), 20u);
  auto null = framed(b({2, 0, 0, 0}));
  EXPECT_EQ(trace::ipv4_in_frame(trace::link_type::kNull, null)->size(), 20u);
  std::vector<std::byte> sll2 = b({0x08, 0x00});
  sll2.resize(20, std::byte{0});
  auto s2 = framed(sll2);
  EXPECT_EQ(trace::ipv4_in_frame(trace::link_type::kLinuxSll2, s2)->size(), 20u);
  EXPECT_FALSE(trace::ipv4_in_frame(trace::link_type::kEthernet, b({0x08})));
  EXPECT_FALSE(trace::ipv4_in_frame(trace::link_type::kLinuxSll, b({1, 2, 3})));
  EXPECT_FALSE(trace::ipv4_in_frame(999, raw));
}

}  // namespace
}  // namespace synack::cli
