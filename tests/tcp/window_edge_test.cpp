// In the engine alone, what the kernel interop transfers showed: with a window scale,
// synack's receiver advertised a right edge a few bytes past what its receive buffer could
// hold, and dropped the data the kernel then sent up to that edge.
//
// A Linux sender fills a receive-limited window to its last byte: in the transfers with
// net.ipv4.tcp_timestamps=0 (MSS 1460, synack's window scale 3), synack advertised
// <ACK=8172061><WND=325> (2600 bytes, edge 8174661) while its buffer ended at 8174653; the
// kernel sent 8173521:8174661, synack kept 8 bytes less, answered with duplicate ACKs
// <ACK=8174653><WND=1> and the kernel had to fast-retransmit (TcpExtTCPSackRecovery).
//
// The cause was the rounding in Connection::finish_segment: to keep the old right edge the
// scaled field was rounded *up*, past the buffer's end, and the overshoot accumulated from
// ACK to ACK. Now the field is rounded up only while the edge stays within the buffer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "harness.hpp"

namespace synack::tcp::testing {
namespace {

// The peer behaves as a Linux sender limited by synack's window: it sends MSS-sized
// segments (smaller at the window's edge) up to the right edge synack last advertised,
// while the application reads 1000 bytes now and then (so RCV.NXT and the buffer's end
// drift out of alignment with the window scale). After every segment synack sends, the
// edge it advertised must lie within the buffer: read offset + capacity.
TEST(KernelWindowEdge, TheAdvertisedRightEdgeNeverPassesTheEndOfTheReceiveBuffer) {
  constexpr uint32_t kBuffer = 256 * 1024;
  constexpr uint32_t kMss = 1460;
  Config cfg = Harness::plain_config();
  cfg.window_scaling = true;
  cfg.mss = kMss;
  cfg.receive_buffer = kBuffer;
  Harness h(cfg);

  ASSERT_FALSE(h.conn.connect(h.tuple, SeqNum(Harness::kIss), h.now));
  const Sent syn = h.take();
  ASSERT_TRUE(syn.tcp.options.window_scale.has_value());
  const uint8_t ws = *syn.tcp.options.window_scale;
  EXPECT_EQ(ws, 3);
  wire::TcpOptions peer_options;
  peer_options.mss = kMss;
  peer_options.window_scale = 7;
  h.send(Seg{.seq = Harness::kPeerIss,
             .ack = Harness::kIss + 1,
             .ctl = SYN | ACK,
             .options = peer_options});

  const uint32_t first = Harness::kPeerIss + 1;
  uint32_t next = first;   // the peer's SND.NXT
  uint32_t edge = first;   // the right edge synack advertised last
  uint32_t acked = first;  // synack's RCV.NXT as its ACKs show it
  uint32_t read = 0;       // bytes the application took
  std::string worst;       // the first edge past the buffer
  std::string dropped;     // the first data dropped inside the window
  // Reads synack's segments: the edge each one advertises, checked against the buffer.
  auto drain = [&] {
    h.collect();
    for (; !h.sent.empty(); h.sent.pop_front()) {
      const Sent& s = h.sent.front();
      if (!s.tcp.ack) continue;
      acked = s.ack();
      const uint32_t advertised = s.ack() + (uint32_t{s.tcp.window} << ws);
      if (static_cast<int32_t>(advertised - edge) > 0) edge = advertised;
      const uint32_t buffer_end = first + read + kBuffer;
      if (static_cast<int32_t>(advertised - buffer_end) > 0 && worst.empty()) {
        worst = describe(s) + " advertises up to " + std::to_string(advertised) +
                ", the buffer ends at " + std::to_string(buffer_end);
      }
    }
  };
  drain();
  const std::string payload(kMss, 'x');
  for (int round = 0; round < 20000 && read < 8 * kBuffer; ++round) {
    // One to three segments (the window permitting), then the delayed ACK and a read.
    for (int i = 0; i < 1 + round % 3 && static_cast<int32_t>(edge - next) > 0; ++i) {
      const uint32_t n = std::min(kMss, edge - next);
      h.send(Seg{.seq = next, .ack = Harness::kIss + 1, .ctl = ACK, .data = payload.substr(0, n)});
      next += n;
      drain();
    }
    h.advance(Duration::millis(40));
    drain();
    // Everything sent lay inside the advertised window and every ACK is out: all of it
    // must have been taken.
    if (acked != next) {
      dropped = "synack took " + std::to_string(acked - first) + " bytes of the " +
                std::to_string(next - first) +
                " sent inside its window (ACK=" + std::to_string(acked) +
                ", the peer's SND.NXT=" + std::to_string(next) + ")";
      break;
    }
    if (round % 2 == 0) read += static_cast<uint32_t>(h.read(1000).size());
    drain();
  }
  EXPECT_TRUE(worst.empty()) << worst;
  EXPECT_TRUE(dropped.empty()) << dropped;
  if (dropped.empty()) {
    EXPECT_GT(read, 4 * kBuffer) << "the exchange stopped early";
  }
}

}  // namespace
}  // namespace synack::tcp::testing
