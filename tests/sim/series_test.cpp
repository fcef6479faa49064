// The simulator's observability: time series of each sampled connection (bounded, on a
// fixed grid, without changing the run), their JSON columns, and the time-sequence graph.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "synack/sim/simulator.hpp"

namespace synack::sim {
namespace {

SimResult run(const SimConfig& cfg) {
  auto r = simulate(cfg);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error());
  return r ? std::move(*r) : SimResult{};
}

size_t count(const std::string& text, std::string_view needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

SimConfig lossy() {
  SimConfig cfg;
  cfg.connections = 3;
  cfg.bytes = 128 * 1024;
  cfg.direction = Direction::kClientToServer;
  cfg.rate_bps = 20'000'000;
  cfg.delay = Duration::millis(5);
  cfg.loss = 0.02;
  cfg.seed = 11;
  return cfg;
}

TEST(SimSeries, SampledConnectionsOnAFixedGridWithoutChangingTheRun) {
  SimConfig cfg = lossy();
  const SimResult plain = run(cfg);
  cfg.series_connections = 2;
  const SimResult r = run(cfg);
  ASSERT_TRUE(r.ok) << r.failure;
  // Sampling only reads: the same run, packet for packet.
  EXPECT_EQ(summary(cfg, r), summary(cfg, plain));
  EXPECT_EQ(r.steps, plain.steps);
  EXPECT_EQ(r.sample_interval, Duration::millis(1));
  ASSERT_EQ(r.conns.size(), 3u);
  EXPECT_FALSE(r.conns[2].series.has_value());
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(r.conns[i].series.has_value()) << i;
    const ConnSeries& s = *r.conns[i].series;
    ASSERT_GT(s.times.size(), 10u);
    EXPECT_LE(s.times.size(), cfg.max_samples);
    EXPECT_EQ(s.client.size(), s.times.size());
    EXPECT_EQ(s.server.size(), s.times.size());
    // On the grid, from the connection's start, until it is quiet: no longer than the run.
    EXPECT_GE(s.times.front(), Instant{} + kConnectionStagger * static_cast<int64_t>(i));
    EXPECT_LE(s.times.back().as_micros(),
              static_cast<int64_t>(r.virtual_seconds * 1e6) + r.sample_interval.as_micros());
    for (size_t k = 0; k < s.times.size(); ++k) {
      EXPECT_EQ(s.times[k].as_micros() % r.sample_interval.as_micros(), 0);
      if (k > 0) {
        EXPECT_EQ(s.times[k] - s.times[k - 1], r.sample_interval);
      }
    }
    // The client is there from the start; the server once it has the connection.
    EXPECT_TRUE(s.client.front().present);
    EXPECT_FALSE(s.server.front().present);
    EXPECT_TRUE(
        std::any_of(s.server.begin(), s.server.end(), [](const Sample& x) { return x.present; }));
    // The sender had data in flight, measured an RTT and saw the peer's window; its
    // retransmission count only grows, up to what the connection retransmitted in all.
    uint64_t in_flight = 0;
    uint64_t last_retransmits = 0;
    bool srtt = false;
    for (const Sample& x : s.client) {
      if (!x.present) continue;
      in_flight = std::max(in_flight, x.in_flight);
      EXPECT_LE(x.in_flight, x.unacked);
      EXPECT_LE(x.unacked, cfg.bytes + 2);
      EXPECT_GE(x.retransmits, last_retransmits);
      last_retransmits = x.retransmits;
      srtt = srtt || x.srtt > Duration{};
      if (x.in_flight > 1) {
        EXPECT_GT(x.snd_wnd, 0u);
      }
    }
    EXPECT_GT(in_flight, 10'000u);
    // Congestion control: the sender reports cwnd throughout, and a finite ssthresh once
    // it has lost something (2 % loss on 90 segments).
    EXPECT_TRUE(std::all_of(s.client.begin(), s.client.end(),
                            [](const Sample& x) { return !x.present || x.cwnd.has_value(); }));
    EXPECT_TRUE(std::any_of(s.client.begin(), s.client.end(),
                            [](const Sample& x) { return x.ssthresh.has_value(); }));
    EXPECT_TRUE(srtt);
    EXPECT_LE(last_retransmits, r.client_counters.TcpRetransSegs);
    // The last sample is taken once the connection is quiet: nothing left in flight.
    EXPECT_EQ(s.client.back().in_flight, 0u);
    EXPECT_EQ(s.client.back().unacked, 0u);
  }
}

TEST(SimSeries, IntervalDoublesToStayWithinMaxSamples) {
  SimConfig cfg = lossy();
  cfg.connections = 1;
  cfg.series_connections = 1;
  cfg.sample_interval = Duration::micros(100);
  cfg.max_samples = 40;
  const SimResult r = run(cfg);
  ASSERT_TRUE(r.ok) << r.failure;
  ASSERT_TRUE(r.conns[0].series.has_value());
  const ConnSeries& s = *r.conns[0].series;
  EXPECT_LE(s.times.size(), 40u);
  EXPECT_GE(s.times.size(), 20u);  // halved at most once too often
  EXPECT_GT(r.sample_interval, Duration::micros(100));
  // Still a grid: consecutive samples one (final) interval apart.
  for (size_t k = 1; k < s.times.size(); ++k) {
    EXPECT_EQ(s.times[k] - s.times[k - 1], r.sample_interval);
  }
  // The interval is 100 us times a power of two.
  int64_t n = r.sample_interval.as_micros() / 100;
  EXPECT_EQ(n * 100, r.sample_interval.as_micros());
  EXPECT_EQ(n & (n - 1), 0);
}

TEST(SimSeries, JsonColumnsOnePerFieldWithNullsWhereAbsent) {
  SimConfig cfg;
  cfg.bytes = 32 * 1024;
  cfg.series_connections = 1;
  cfg.sample_interval = Duration::millis(5);
  const SimResult r = run(cfg);
  ASSERT_TRUE(r.ok) << r.failure;
  const std::string json = to_json(cfg, r);
  EXPECT_NE(json.find("\"sample_interval_ms\":5,"), std::string::npos) << json;
  const size_t series = json.find("\"series\":{\"t_ms\":[0,5,10,");
  ASSERT_NE(series, std::string::npos) << json;
  const size_t n = r.conns[0].series->times.size();
  // Every column holds n values: n - 1 commas inside each array.
  for (const char* column :
       {"\"cwnd\":[", "\"ssthresh\":[", "\"in_flight\":[", "\"unacked\":[", "\"snd_wnd\":[",
        "\"srtt_ms\":[", "\"retransmits\":[", "\"pacing_rate\":[", "\"recovery\":["}) {
    for (const char* side : {"\"client\":{", "\"server\":{"}) {
      const size_t at = json.find(column, json.find(side, series));
      ASSERT_NE(at, std::string::npos) << side << column;
      const size_t end = json.find(']', at);
      const std::string values = json.substr(at, end - at);
      EXPECT_EQ(count(values, ","), n - 1) << side << column << values;
    }
  }
  // The server's end does not exist in the first sample (before the SYN arrives).
  const size_t server = json.find("\"server\":{", series);
  EXPECT_EQ(json.compare(json.find("\"in_flight\":[", server), 18, "\"in_flight\":[null,"), 0);
  // The client's first sample: its SYN is unacknowledged, ssthresh still "infinite", no
  // recovery.
  const size_t client = json.find("\"client\":{", series);
  EXPECT_EQ(json.compare(json.find("\"unacked\":[", client), 13, "\"unacked\":[1,"), 0);
  EXPECT_EQ(json.compare(json.find("\"ssthresh\":[", client), 16, "\"ssthresh\":[null"), 0);
  EXPECT_EQ(json.compare(json.find("\"recovery\":[", client), 18, "\"recovery\":[\"open\""), 0);
  // No series asked: no series in the JSON.
  cfg.series_connections = 0;
  const std::string without = to_json(cfg, run(cfg));
  EXPECT_EQ(without.find("\"series\""), std::string::npos);
  EXPECT_EQ(without.find("sample_interval_ms"), std::string::npos);
}

TEST(SimPlot, TimeSequenceGraphOfTheSendersSegments) {
  SimConfig cfg = lossy();
  cfg.connections = 1;
  cfg.plot = true;
  const SimResult r = run(cfg);
  ASSERT_TRUE(r.ok) << r.failure;
  const std::string& svg = r.plot;
  ASSERT_FALSE(svg.empty());
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  // One mark per segment the client sent with sequence space: every payload segment at
  // least once, the SYN and the FIN; the retransmissions red, as many as the stack counted.
  const size_t marks = count(svg, "class=\"seg\"") + count(svg, "class=\"seg rexmit\"");
  const uint64_t payload_segments = (cfg.bytes + 1459) / 1460;
  EXPECT_GE(marks, payload_segments + 2);
  EXPECT_EQ(count(svg, "class=\"seg rexmit\""), r.client_counters.TcpRetransSegs);
  EXPECT_GT(r.client_counters.TcpRetransSegs, 0u);
  EXPECT_GT(count(svg, "class=\"lost\""), 0u);
  EXPECT_GT(count(svg, "class=\"sack\""), 0u);
  EXPECT_EQ(count(svg, "class=\"ack-line\""), 1u);
  EXPECT_EQ(count(svg, "class=\"window-line\""), 1u);
  EXPECT_NE(svg.find("client to server"), std::string::npos);
  EXPECT_NE(svg.find("loss 2%"), std::string::npos);
  for (const char* series : {"cwnd", "ssthresh", "in flight (pipe)", "sent, unacknowledged",
                             "send window (peer&apos;s)"}) {
    EXPECT_NE(svg.find(std::string("data-name=\"") + series + "\""), std::string::npos) << series;
  }
  // Loss recovery shaded: as many episodes as the samples saw begin.
  const ConnSeries& s = *r.conns[0].series;
  size_t episodes = 0;
  for (size_t i = 0; i < s.client.size(); ++i) {
    const auto state = [&](size_t k) {
      return s.client[k].present ? s.client[k].recovery : tcp::RecoveryState::kOpen;
    };
    if (state(i) != tcp::RecoveryState::kOpen && (i == 0 || state(i - 1) != state(i))) ++episodes;
  }
  EXPECT_GT(episodes, 0u);
  EXPECT_EQ(count(svg, "class=\"band\""), 2 * episodes);  // in both panels
  // The plotted connection is sampled even without series asked for.
  EXPECT_TRUE(r.conns[0].series.has_value());
}

TEST(SimPlot, ServerToClientStreamAndFile) {
  SimConfig cfg;
  cfg.connections = 2;
  cfg.bytes = 20'000;
  cfg.direction = Direction::kServerToClient;
  cfg.plot_connection = 1;
  const std::string path = "/tmp/synack_sim_plot_" + std::to_string(::getpid()) + ".svg";
  cfg.plot_path = path;
  const SimResult r = run(cfg);
  ASSERT_TRUE(r.ok) << r.failure;
  std::ifstream in(path, std::ios::binary);
  std::stringstream file;
  file << in.rdbuf();
  std::remove(path.c_str());
  EXPECT_EQ(file.str(), r.plot);
  EXPECT_NE(r.plot.find("connection 1, 10.0.0.2:9988 -&gt; 10.0.0.1:"), std::string::npos);
  EXPECT_NE(r.plot.find("server to client"), std::string::npos);
  // 20000 bytes in 14 segments, SYN-ACK and FIN: no loss, no retransmission.
  EXPECT_EQ(count(r.plot, "class=\"seg\""), 16u);
  EXPECT_EQ(count(r.plot, "class=\"seg rexmit\""), 0u);
  EXPECT_FALSE(r.conns[0].series.has_value());
  EXPECT_TRUE(r.conns[1].series.has_value());
}

TEST(SimQueue, AFullBottleneckDropsAndTheSenderRecovers) {
  SimConfig cfg;
  cfg.bytes = 1 << 20;
  cfg.direction = Direction::kClientToServer;
  cfg.rate_bps = 10'000'000;
  cfg.queue_bytes = 25'000;  // one bandwidth-delay product
  cfg.plot = true;
  std::ostringstream trace;
  cfg.trace = trace_to(trace);
  const SimResult r = run(cfg);
  ASSERT_TRUE(r.ok) << r.failure;
  // Slow start overshoots the buffer: congestion losses without any random loss.
  EXPECT_GT(r.c2s.dropped_queue, 0u);
  EXPECT_EQ(r.c2s.lost, 0u);
  EXPECT_GT(r.retransmits, 0u);
  EXPECT_NE(trace.str().find("    link: dropped (the bottleneck's queue is full)"),
            std::string::npos);
  EXPECT_GT(count(r.plot, "class=\"lost\""), 0u);
  EXPECT_NE(r.plot.find("rate 10 Mbit/s, queue 25000, loss 0%"), std::string::npos);
  const std::string json = to_json(cfg, r);
  EXPECT_NE(json.find("\"queue_bytes\":25000"), std::string::npos);
  EXPECT_NE(json.find(fmt::format("\"dropped_queue\":{}", r.c2s.dropped_queue)), std::string::npos);
  EXPECT_NE(summary(cfg, r).find("dropped by the full queue"), std::string::npos);
  // A queue needs a rate to fill.
  cfg.rate_bps = 0;
  EXPECT_TRUE(validate(cfg).has_value());
}

TEST(SimPlot, RefusesABadConnectionOrInterval) {
  SimConfig cfg;
  cfg.connections = 2;
  cfg.plot = true;
  cfg.plot_connection = 2;
  EXPECT_TRUE(validate(cfg).has_value());
  cfg.plot_connection = 1;
  EXPECT_FALSE(validate(cfg).has_value());
  cfg.sample_interval = Duration{};
  EXPECT_TRUE(validate(cfg).has_value());
  cfg = SimConfig{};
  cfg.max_samples = 1;
  EXPECT_TRUE(validate(cfg).has_value());
}

}  // namespace
}  // namespace synack::sim
