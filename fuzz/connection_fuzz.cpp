// Drives one tcp::Connection with fuzzer-chosen segments, application calls and time jumps,
// and checks invariants after every step: SND.UNA =< SND.NXT, buffers within their bounds,
// every emitted segment well formed and within the negotiated MSS. ASan/UBSan/LSan catch
// the rest (out-of-bounds, undefined behaviour, leaks).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "fuzz_util.hpp"
#include "synack/tcp/connection.hpp"

namespace {

using namespace synack;
using fuzz::Input;
using namespace synack::tcp;
using wire::SeqLen;
using wire::SeqNum;

constexpr size_t kBuffer = 8192;

void check_invariants(const Connection& c, const Config& cfg) {
  FUZZ_CHECK(wire::before_eq(c.snd_una(), c.snd_nxt()));
  const ConnectionStatus st = c.status();
  FUZZ_CHECK(st.send_queue <= cfg.send_buffer);
  FUZZ_CHECK(st.recv_queue <= cfg.receive_buffer);
}

void drain(Connection& c, Instant now, const Config& cfg) {
  for (int i = 0; i < 10'000; ++i) {
    auto seg = c.poll_transmit(now);
    if (!seg) return;
    FUZZ_CHECK(seg->fits());
    FUZZ_CHECK(seg->payload.size() <= cfg.mss);
    FUZZ_CHECK(seg->size() <= wire::kTcpMaxHeaderLen + cfg.mss);
    check_invariants(c, cfg);
  }
  FUZZ_CHECK(false && "poll_transmit never ran dry");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(std::span(data, size));
  Config cfg;
  const uint8_t setup = in.u8();
  cfg.mss = static_cast<uint16_t>(64 + in.u8() * 8);
  cfg.send_buffer = kBuffer;
  cfg.receive_buffer = kBuffer;
  cfg.window_scaling = setup & 1;
  cfg.timestamps = setup & 2;
  cfg.sack = setup & 4;
  cfg.nodelay = setup & 8;
  cfg.keepalive.enabled = setup & 16;
  cfg.keepalive.idle = Duration::seconds(1);
  cfg.keepalive.interval = Duration::millis(100);
  cfg.keepalive.probes = 3;
  Connection c(cfg);
  const FourTuple tuple{tcp::Endpoint{wire::Ipv4Address(0x0a000001), 1000},
                        tcp::Endpoint{wire::Ipv4Address(0x0a000002), 2000}};
  Instant now = Instant::from_micros(1'000'000);
  if (setup & 32) {
    (void)c.listen(tuple.local, [](const FourTuple&, Instant) { return SeqNum(7777); });
  } else {
    (void)c.connect(tuple, SeqNum(7777), now);
  }
  uint32_t peer_seq = in.u32();
  std::vector<std::byte> payload(2048);
  std::vector<std::byte> sink(4096);

  for (int steps = 0; !in.empty() && steps < 2000; ++steps) {
    switch (in.u8() % 8) {
      case 0:
      case 1: {  // a segment from the peer, numbers near what the connection expects
        wire::TcpRepr seg;
        seg.src_port = tuple.remote.port;
        seg.dst_port = tuple.local.port;
        const uint8_t mode = in.u8();
        const int32_t jitter = static_cast<int8_t>(in.u8());
        seg.seq = (mode & 1) ? SeqNum(peer_seq + static_cast<uint32_t>(jitter))
                             : c.rcv_nxt() + SeqLen(static_cast<uint32_t>(jitter));
        if (mode & 2)
          seg.ack = c.snd_una() + SeqLen(static_cast<uint32_t>(static_cast<int8_t>(in.u8())));
        seg.flags = wire::TcpFlags(in.u8() & (wire::TcpFlags::kSyn | wire::TcpFlags::kFin |
                                              wire::TcpFlags::kRst | wire::TcpFlags::kPsh));
        seg.window = in.u16();
        if (mode & 4) seg.urgent = in.u16();
        if (mode & 8) seg.options.mss = in.u16();
        if (mode & 16) seg.options.window_scale = in.u8();
        if (mode & 32) seg.options.timestamps = wire::TcpTimestamps{in.u32(), in.u32()};
        seg.options.sack_permitted = mode & 64;
        const size_t len = (mode & 128) ? in.u16() % payload.size() : 0;
        seg.payload = std::span(payload.data(), len);
        c.on_segment(seg, tuple.remote, now);
        if (seg.flags.syn()) peer_seq = seg.seq.value() + 1;
        break;
      }
      case 2: {
        const size_t n = in.u16() % payload.size();
        (void)c.send(std::span(payload.data(), n), now, in.u8() == 0);
        break;
      }
      case 3:
        (void)c.recv(std::span(sink.data(), in.u16() % sink.size()), now);
        break;
      case 4:
        if (in.u8() < 32) (void)c.close(now);
        break;
      case 5:
        if (in.u8() < 8) c.abort(now);
        break;
      case 6:  // time jumps, small or to the next deadline
        now = now + Duration::micros(in.u16() * int64_t{100});
        c.on_timeout(now);
        break;
      case 7:
        if (auto d = c.next_deadline()) {
          FUZZ_CHECK(*d >= Instant::from_micros(0));
          now = std::max(now, *d);
          c.on_timeout(now);
        }
        break;
    }
    check_invariants(c, cfg);
    drain(c, now, cfg);
    while (c.poll_event()) {
    }
  }
  return 0;
}
