// Goodput against the link rate across random loss (0.1 %, 1 %, 3 %, 10 %) and reordering:
// one bulk transfer per seed over a 10 Mbit/s, 10 ms bottleneck, every byte intact. The
// table it prints is the measurement (run sim_tests --gtest_filter='GoodputSweep.*'): mean,
// min and max goodput over the seeds, its share of the link, and per run the virtual
// seconds, packets lost (both ways, to loss or a full bottleneck queue), segments
// retransmitted and retransmission timeouts. The queue is unbounded unless a row says.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "../common/sanitized.hpp"
#include "synack/sim/simulator.hpp"

namespace synack::sim {
namespace {

using synack::testing::kSanitized;

constexpr uint64_t kRateBps = 10'000'000;
constexpr uint64_t kBytes = 1 << 20;
constexpr uint64_t kSeeds = kSanitized ? 3 : 8;

// One bandwidth-delay product of the path: 10 Mbit/s times a 20 ms round trip.
constexpr size_t kBdp = 25'000;

struct Point {
  const char* name;
  double loss = 0;
  double reorder = 0;
  size_t queue = 0;  // the bottleneck's buffer; 0: unbounded
};

TEST(GoodputSweep, DeliveryIntactAtEveryLossRateAndGoodputReported) {
  const std::vector<Point> points{
      {"no loss"},
      {"loss 0.1%", 0.001},
      {"loss 1%", 0.01},
      {"loss 3%", 0.03},
      {"loss 10%", 0.10},
      {"reorder 5%", 0, 0.05},
      {"loss 1% + reorder 5%", 0.01, 0.05},
      {"loss 3% + reorder 5%", 0.03, 0.05},
      {"queue 1 BDP", 0, 0, kBdp},
      {"queue 1 BDP + loss 1%", 0.01, 0, kBdp},
  };
  fmt::print(
      "\nbulk transfer of {} KiB client to server, link {} Mbit/s each way, delay 10 ms "
      "one way, mtu 1500, {} seeds each\n",
      kBytes / 1024, kRateBps / 1'000'000, kSeeds);
  fmt::print("{:<22} {:>9} {:>9} {:>9} {:>7} {:>9} {:>7} {:>8} {:>9}\n", "impairment", "mean Mb/s",
             "min Mb/s", "max Mb/s", "% link", "seconds", "lost", "rexmit", "timeouts");
  for (const Point& p : points) {
    std::vector<double> goodput;
    double seconds = 0;
    uint64_t lost = 0;  // packets the link dropped, both ways
    uint64_t retransmits = 0;
    uint64_t timeouts = 0;
    for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
      SimConfig cfg;
      cfg.bytes = kBytes;
      cfg.direction = Direction::kClientToServer;
      cfg.rate_bps = kRateBps;
      cfg.delay = Duration::millis(10);
      cfg.loss = p.loss;
      cfg.reorder = p.reorder;
      cfg.queue_bytes = p.queue;
      cfg.seed = seed;
      auto r = simulate(cfg);
      ASSERT_TRUE(r.has_value()) << r.error();
      ASSERT_TRUE(r->ok) << p.name << " seed " << seed << ": " << r->failure;
      ASSERT_EQ(r->bytes_delivered, kBytes);
      // Goodput cannot beat the link.
      EXPECT_LT(r->goodput_mbit, static_cast<double>(kRateBps) / 1e6) << p.name;
      goodput.push_back(r->goodput_mbit);
      seconds += r->virtual_seconds;
      lost += r->c2s.lost + r->s2c.lost + r->c2s.dropped_queue + r->s2c.dropped_queue;
      retransmits += r->retransmits;
      timeouts += r->counters.TcpExtTCPTimeouts;
    }
    double mean = 0;
    for (double g : goodput)
      mean += g;
    mean /= static_cast<double>(goodput.size());
    fmt::print("{:<22} {:>9.3f} {:>9.3f} {:>9.3f} {:>6.1f}% {:>9.3f} {:>7.1f} {:>8.1f} {:>9.1f}\n",
               p.name, mean, *std::min_element(goodput.begin(), goodput.end()),
               *std::max_element(goodput.begin(), goodput.end()),
               100 * mean / (static_cast<double>(kRateBps) / 1e6),
               seconds / static_cast<double>(kSeeds),
               static_cast<double>(lost) / static_cast<double>(kSeeds),
               static_cast<double>(retransmits) / static_cast<double>(kSeeds),
               static_cast<double>(timeouts) / static_cast<double>(kSeeds));
    if (p.loss == 0 && p.reorder == 0) {
      // A clean path: most of the link (the handshake and the FIN exchange cost two RTTs).
      EXPECT_GT(mean, 0.5 * static_cast<double>(kRateBps) / 1e6);
    }
  }
  std::fflush(stdout);
}

}  // namespace
}  // namespace synack::sim
