// bench_lwip: row 2 of `make bench`, "bulk in-memory vs lwip". One TCP connection
// lwIP<->lwIP over MemLink (lwip_link.hpp), a fixed number of bytes, the sender keeping its
// send buffer full, the receiver checking a running pattern and discarding.
//
// Keys: lwip.bulk_mem_gbps_per_cpu_s (payload bits / 1e9 / process CPU seconds, user+sys)
//       lwip.bulk_mem_gbps           (payload bits / 1e9 / wall seconds)
#include <algorithm>
#include <cinttypes>
#include <vector>

#include "lwip_link.hpp"

namespace {

using lwipbench::fail;

// The payload is a repeating pattern of period 251 (prime, so it does not line up with MSS
// or window sizes): the receiver can check order and content with a memcmp per pbuf.
constexpr std::size_t kPeriod = 251;

struct Transfer {
  std::vector<std::uint8_t> pattern;  // kPeriod + 0xFFFF bytes: any window of a pbuf's size
  std::uint64_t total = 0;
  std::uint64_t written = 0;
  std::uint64_t received = 0;
  bool corrupt = false;
  bool peer_closed = false;
  tcp_pcb* client = nullptr;
  tcp_pcb* server = nullptr;
  bool connected = false;
  err_t error = ERR_OK;
};

Transfer g;

// Keep the send buffer full: lwIP copies (TCP_WRITE_FLAG_COPY), so the source can be reused.
void fill(tcp_pcb* pcb) {
  while (g.written < g.total) {
    const std::uint32_t room = tcp_sndbuf(pcb);
    if (room == 0) return;
    const std::uint64_t left = g.total - g.written;
    const auto n = static_cast<std::uint16_t>(std::min<std::uint64_t>({room, left, 0xFFFF}));
    const std::uint8_t* src = g.pattern.data() + g.written % kPeriod;
    const err_t e = tcp_write(pcb, src, n, TCP_WRITE_FLAG_COPY);
    if (e == ERR_MEM) return;  // queue length limit (TCP_SND_QUEUELEN): wait for ACKs
    if (e != ERR_OK) fail("tcp_write: " + std::to_string(e));
    g.written += n;
  }
}

err_t on_sent(void*, tcp_pcb* pcb, u16_t) {
  fill(pcb);
  return ERR_OK;
}

err_t on_recv(void*, tcp_pcb* pcb, pbuf* p, err_t err) {
  if (p == nullptr) {
    g.peer_closed = true;
    return ERR_OK;
  }
  if (err != ERR_OK) fail("recv callback error " + std::to_string(err));
  for (pbuf* q = p; q != nullptr; q = q->next) {
    const std::uint8_t* want = g.pattern.data() + g.received % kPeriod;
    if (std::memcmp(q->payload, want, q->len) != 0) g.corrupt = true;
    g.received += q->len;
  }
  tcp_recved(pcb, p->tot_len);
  pbuf_free(p);
  return ERR_OK;
}

void on_err(void*, err_t err) {
  g.error = err;
}

err_t on_accept(void*, tcp_pcb* pcb, err_t err) {
  if (err != ERR_OK || pcb == nullptr) return ERR_VAL;
  g.server = pcb;
  tcp_recv(pcb, &on_recv);
  tcp_err(pcb, &on_err);
  return ERR_OK;
}

err_t on_connected(void*, tcp_pcb*, err_t err) {
  g.connected = err == ERR_OK;
  return ERR_OK;
}

void usage() {
  std::fprintf(stderr, "usage: bench_lwip [--quick] [--bytes N]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  g.total = 1ULL << 30;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      g.total = 64ULL << 20;
    } else if (a == "--bytes" && i + 1 < argc) {
      g.total = std::strtoull(argv[++i], nullptr, 0);
      if (g.total == 0) usage();
    } else {
      usage();
    }
  }
  g.pattern.resize(kPeriod + 0xFFFF);
  for (std::size_t i = 0; i < g.pattern.size(); ++i) {
    g.pattern[i] = static_cast<std::uint8_t>(i % kPeriod);
  }

  lwipbench::init_stack();
  lwipbench::MemLink link;

  tcp_pcb* listener = lwipbench::bound_pcb(link.b(), link.ip_b(), 5001);
  listener = tcp_listen(listener);
  if (listener == nullptr) fail("tcp_listen failed");
  tcp_accept(listener, &on_accept);

  g.client = lwipbench::bound_pcb(link.a(), link.ip_a(), 0);
  tcp_err(g.client, &on_err);
  tcp_sent(g.client, &on_sent);
  const ip_addr_t dst = link.ip_b();
  if (tcp_connect(g.client, &dst, 5001, &on_connected) != ERR_OK) fail("tcp_connect failed");
  link.drain(1000);
  if (!g.connected || g.server == nullptr) fail("handshake did not complete over MemLink");

  std::fprintf(stderr,
               "lwip bulk: lwIP %s, MSS %u, send buffer %u, receive window %u (scale %u/%u), "
               "%" PRIu64 " bytes\n",
               LWIP_VERSION_STRING, static_cast<unsigned>(tcp_mss(g.client)),
               static_cast<unsigned>(tcp_sndbuf(g.client)),
               static_cast<unsigned>(g.server->rcv_wnd), g.client->snd_scale, g.client->rcv_scale,
               g.total);

  // Bounded: a stall (no frame moved for 2 s of wall time) or 120 s in total is an error.
  const double cpu0 = synack::bench::cpu_seconds();
  const double t0 = synack::bench::wall_seconds();
  double last_progress = t0;
  double last_timers = t0;
  std::uint64_t last_received = 0;
  while (g.received < g.total) {
    fill(g.client);
    tcp_output(g.client);
    const std::size_t moved = link.drain();
    if (g.error != ERR_OK) fail("connection error " + std::to_string(g.error));
    if (g.corrupt) fail("received data does not match what was sent");
    if (moved == 0 || (g.received & ~0xFFFFFULL) != last_received) {
      // Every ~1 MiB, or when idle: run lwIP's timers (delayed ACKs, retransmission).
      const double t = synack::bench::wall_seconds();
      if (t - last_timers >= 0.01 || moved == 0) {
        sys_check_timeouts();
        last_timers = t;
      }
      if (g.received != last_received) last_progress = t;
      last_received = g.received & ~0xFFFFFULL;
      if (t - last_progress > 2.0) fail("transfer stalled");
      if (t - t0 > 120.0) fail("transfer took over 120 s");
    }
  }
  const double wall = synack::bench::wall_seconds() - t0;
  const double cpu = synack::bench::cpu_seconds() - cpu0;
  if (g.received != g.total || g.corrupt) fail("byte count or content mismatch");
  if (cpu < 0.01) fail("under 10 ms of CPU time: too few bytes to measure (--bytes)");

  const double gbit = static_cast<double>(g.total) * 8 / 1e9;
  std::fprintf(stderr,
               "lwip bulk: %.3f s wall, %.3f s CPU, %" PRIu64 " frames A->B, %" PRIu64
               " frames B->A, %u retransmission timeouts on the sender\n",
               wall, cpu, link.frames_from_a(), link.frames_from_b(),
               static_cast<unsigned>(g.client->nrtx));

  const std::string note = "lwIP " LWIP_VERSION_STRING " (Debian build) raw API, MSS " +
                           std::to_string(tcp_mss(g.client)) + ", wnd " +
                           std::to_string(g.server->rcv_wnd) + ", " +
                           std::to_string(g.total >> 20) + " MiB, checksums on";
  synack::bench::emit("lwip.bulk_mem_gbps_per_cpu_s", gbit / cpu, "Gbit/s per CPU-s", note);
  synack::bench::emit("lwip.bulk_mem_gbps", gbit / wall, "Gbit/s", note);

  tcp_close(g.client);
  if (g.server != nullptr) tcp_close(g.server);
  link.drain(1000);
  return 0;
}
