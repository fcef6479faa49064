// bench_lwip_micro: lwIP's side of the micro rows of `make bench`, each a tight loop timed
// with steady_clock for about 0.5 s (0.1 s with --quick), on Debian's liblwip as shipped.
//
// Keys: lwip.checksum_gbps, lwip.checksum_64k_gbps   inet_chksum over 1500 / 65535 bytes
//       lwip.timer_ops_per_s                          sys_timeout + sys_untimeout, 1000 pending
//       lwip.send_path_ns_per_segment                 tcp_write(COPY) + tcp_output per MSS
//       lwip.input_ns_per_segment                     ip_input of a pure ACK, PCB at list head
//       lwip.demux_ns_per_lookup                      extra cost of finding 1 PCB among 1000
#include <algorithm>
#include <cinttypes>
#include <random>
#include <vector>

#include "lwip_link.hpp"

extern "C" {
#include <lwip/inet_chksum.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/prot/ip4.h>
#include <lwip/prot/tcp.h>
}

namespace {

using lwipbench::fail;

double g_target = 0.5;  // seconds per measurement

// Runs `batch` (which does `per_batch` operations) until g_target seconds have passed or a
// hard cap on batches is hit; returns seconds per operation.
template <typename F>
double time_per_op(std::uint64_t per_batch, F&& batch) {
  batch();  // warm up
  std::uint64_t ops = 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::chrono::duration<double> dt{};
  for (int i = 0; i < 1'000'000 && dt.count() < g_target; ++i) {
    batch();
    ops += per_batch;
    dt = std::chrono::steady_clock::now() - t0;
  }
  return dt.count() / static_cast<double>(ops);
}

volatile std::uint32_t g_sink = 0;

void bench_checksum() {
  std::vector<std::uint8_t> buf(65535);
  std::mt19937 rng(1);
  for (auto& b : buf)
    b = static_cast<std::uint8_t>(rng());
  for (const std::uint16_t len : {std::uint16_t{1500}, std::uint16_t{65535}}) {
    const std::uint64_t reps = len == 1500 ? 4096 : 64;
    const double s = time_per_op(reps, [&] {
      std::uint32_t acc = 0;
      for (std::uint64_t i = 0; i < reps; ++i) {
        buf[0] = static_cast<std::uint8_t>(i);  // defeat hoisting of a pure call
        acc += inet_chksum(buf.data(), len);
      }
      g_sink = g_sink + acc;
    });
    const double gbps = static_cast<double>(len) / 1e9 / s;
    std::fprintf(stderr, "lwip checksum %u bytes: %.2f ns per call\n", len, s * 1e9);
    synack::bench::emit(
        len == 1500 ? "lwip.checksum_gbps" : "lwip.checksum_64k_gbps", gbps, "GB/s",
        "inet_chksum over " + std::to_string(len) + " bytes (lwip_standard_chksum, Debian build)");
  }
}

// sys_timeout keeps one list sorted by deadline (insert walks it), sys_untimeout walks it to
// find the handler/arg pair; each allocates/frees a memp entry (malloc in this build).
void noop_timeout(void*) {}

void bench_timers() {
  constexpr std::size_t kPending = 1000;
  constexpr std::size_t kSeq = 4096;
  std::vector<std::uint32_t> slot(kPending);
  std::mt19937 rng(2);
  // Deadlines 10..60 s ahead: nothing fires (and sys_check_timeouts is not called) meanwhile.
  std::uniform_int_distribution<std::uint32_t> delay(10'000, 60'000);
  std::uniform_int_distribution<std::size_t> pick(0, kPending - 1);
  for (auto& s : slot)
    sys_timeout(delay(rng), &noop_timeout, &s);
  std::vector<std::size_t> idx(kSeq);
  std::vector<std::uint32_t> ms(kSeq);
  for (std::size_t i = 0; i < kSeq; ++i) {
    idx[i] = pick(rng);
    ms[i] = delay(rng);
  }
  const double s = time_per_op(2 * kSeq, [&] {
    for (std::size_t i = 0; i < kSeq; ++i) {
      void* arg = &slot[idx[i]];
      sys_untimeout(&noop_timeout, arg);
      sys_timeout(ms[i], &noop_timeout, arg);
    }
  });
  for (auto& sl : slot)
    sys_untimeout(&noop_timeout, &sl);
  std::fprintf(stderr, "lwip timers: %.1f ns per schedule or cancel\n", s * 1e9);
  synack::bench::emit("lwip.timer_ops_per_s", 1.0 / s, "ops/s",
                      "sys_timeout+sys_untimeout pairs (2 ops), 1000 pending, sorted list");
}

// --- a connection lwIP<->lwIP over MemLink ---------------------------------------------------

struct Conn {
  tcp_pcb* client = nullptr;
  tcp_pcb* server = nullptr;
  bool connected = false;
};

std::vector<tcp_pcb*> g_accepted;
std::uint64_t g_rx_bytes = 0;

err_t sink_recv(void*, tcp_pcb* pcb, pbuf* p, err_t) {
  if (p == nullptr) return ERR_OK;
  g_rx_bytes += p->tot_len;
  tcp_recved(pcb, p->tot_len);
  pbuf_free(p);
  return ERR_OK;
}

void conn_err(void*, err_t err) {
  fail("connection error " + std::to_string(err));
}

err_t on_accept(void*, tcp_pcb* pcb, err_t err) {
  if (err != ERR_OK || pcb == nullptr) return ERR_VAL;
  tcp_recv(pcb, &sink_recv);
  tcp_err(pcb, &conn_err);
  g_accepted.push_back(pcb);
  return ERR_OK;
}

err_t on_connected(void* arg, tcp_pcb*, err_t err) {
  static_cast<Conn*>(arg)->connected = err == ERR_OK;
  return ERR_OK;
}

Conn open_conn(lwipbench::MemLink& link) {
  Conn c;
  c.client = lwipbench::bound_pcb(link.a(), link.ip_a(), 0);
  tcp_arg(c.client, &c);
  tcp_err(c.client, &conn_err);
  tcp_recv(c.client, &sink_recv);
  const ip_addr_t dst = link.ip_b();
  const std::size_t before = g_accepted.size();
  if (tcp_connect(c.client, &dst, 5001, &on_connected) != ERR_OK) fail("tcp_connect failed");
  link.drain(100);
  if (!c.connected || g_accepted.size() != before + 1) fail("handshake did not complete");
  c.server = g_accepted.back();
  tcp_arg(c.client, nullptr);
  return c;
}

// Would a full-MSS segment written now leave in this tcp_output call? (tcp_output sends
// while the segment's end is within min(snd_wnd, cwnd) of lastack; Nagle lets a full
// segment go.)
bool can_send_now(const tcp_pcb* pcb) {
  const std::uint32_t wnd = std::min<std::uint32_t>(pcb->snd_wnd, pcb->cwnd);
  return pcb->unsent == nullptr && tcp_sndbuf(pcb) >= pcb->mss &&
         tcp_sndqueuelen(pcb) + 2 < TCP_SND_QUEUELEN &&
         pcb->snd_nxt - pcb->lastack + pcb->mss <= wnd;
}

// Untimed: let the peer receive what was sent and ACK it, flushing delayed ACKs if the
// sender still cannot send.
void settle(lwipbench::MemLink& link, tcp_pcb* sender) {
  link.drain();
  if (!can_send_now(sender)) {
    tcp_fasttmr();  // lwIP's delayed-ACK timer, run early rather than waiting 250 ms
    link.drain();
  }
  if (!can_send_now(sender)) fail("send path: window did not reopen");
}

void bench_send_path(lwipbench::MemLink& link, const Conn& c) {
  tcp_pcb* pcb = c.client;
  std::vector<std::uint8_t> payload(pcb->mss, 0x5a);
  const auto mss = static_cast<u16_t>(pcb->mss);
  // Open cwnd first (slow start) with 16 MiB of ordinary bulk traffic.
  for (int i = 0; i < 16 * 1024 * 1024 / mss; ++i) {
    settle(link, pcb);
    if (tcp_write(pcb, payload.data(), mss, TCP_WRITE_FLAG_COPY) != ERR_OK) fail("tcp_write");
    tcp_output(pcb);
  }
  settle(link, pcb);
  std::fprintf(stderr, "lwip send path: mss %u, cwnd %u, snd_wnd %u\n", mss,
               static_cast<unsigned>(pcb->cwnd), static_cast<unsigned>(pcb->snd_wnd));

  link.set_mode(lwipbench::MemLink::Mode::kRef);
  std::uint64_t segments = 0;
  std::chrono::duration<double> timed{};
  const double wall0 = synack::bench::wall_seconds();
  for (int round = 0; round < 1'000'000 && timed.count() < g_target; ++round) {
    settle(link, pcb);
    const std::uint64_t frames0 = link.frames_from_a();
    std::uint64_t writes = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (can_send_now(pcb)) {
      if (tcp_write(pcb, payload.data(), mss, TCP_WRITE_FLAG_COPY) != ERR_OK) fail("tcp_write");
      tcp_output(pcb);
      ++writes;
    }
    timed += std::chrono::steady_clock::now() - t0;
    if (link.frames_from_a() - frames0 != writes) fail("a write did not leave at once");
    segments += writes;
    if (synack::bench::wall_seconds() - wall0 > 20) fail("send path: took over 20 s");
  }
  settle(link, pcb);
  link.set_mode(lwipbench::MemLink::Mode::kCopy);
  const double ns = timed.count() * 1e9 / static_cast<double>(segments);
  std::fprintf(stderr, "lwip send path: %" PRIu64 " segments, %.1f ns each\n", segments, ns);
  synack::bench::emit("lwip.send_path_ns_per_segment", ns, "ns/segment",
                      "tcp_write(COPY, checksum-on-copy)+tcp_output of 1 MSS (" +
                          std::to_string(mss) +
                          " B) to netif output (pbuf_ref); ACK processing not timed");
}

// --- demultiplexing -----------------------------------------------------------------------

// A pure ACK that `pcb`'s peer could send now: in window, acknowledging nothing new, same
// window, so tcp_input changes nothing and sends nothing (RFC 9293 §3.10.7.4).
std::vector<std::uint8_t> idle_ack(const tcp_pcb* pcb) {
  std::vector<std::uint8_t> pkt(IP_HLEN + TCP_HLEN, 0);
  auto* iph = reinterpret_cast<ip_hdr*>(pkt.data());
  IPH_VHL_SET(iph, 4, IP_HLEN / 4);
  IPH_LEN_SET(iph, lwip_htons(static_cast<u16_t>(pkt.size())));
  IPH_TTL_SET(iph, 64);
  IPH_PROTO_SET(iph, IP_PROTO_TCP);
  ip4_addr_copy(iph->src, *ip_2_ip4(&pcb->remote_ip));
  ip4_addr_copy(iph->dest, *ip_2_ip4(&pcb->local_ip));
  IPH_CHKSUM_SET(iph, inet_chksum(iph, IP_HLEN));

  pbuf* t = pbuf_alloc(PBUF_RAW, TCP_HLEN, PBUF_RAM);
  if (t == nullptr) fail("pbuf_alloc");
  auto* th = static_cast<tcp_hdr*>(t->payload);
  std::memset(th, 0, TCP_HLEN);
  th->src = lwip_htons(pcb->remote_port);
  th->dest = lwip_htons(pcb->local_port);
  th->seqno = lwip_htonl(pcb->rcv_nxt);
  th->ackno = lwip_htonl(pcb->snd_nxt);
  TCPH_HDRLEN_FLAGS_SET(th, TCP_HLEN / 4, TCP_ACK);
  th->wnd = lwip_htons(static_cast<u16_t>(pcb->snd_wnd >> pcb->snd_scale));
  th->chksum = inet_chksum_pseudo(t, IP_PROTO_TCP, TCP_HLEN, ip_2_ip4(&pcb->remote_ip),
                                  ip_2_ip4(&pcb->local_ip));
  std::memcpy(pkt.data() + IP_HLEN, th, TCP_HLEN);
  pbuf_free(t);
  return pkt;
}

void bench_demux(lwipbench::MemLink& link) {
  constexpr std::size_t kPcbs = 1000;
  std::size_t active = 0;
  for (tcp_pcb* p = tcp_active_pcbs; p != nullptr; p = p->next)
    ++active;
  while (active + 2 <= kPcbs) {
    open_conn(link);
    active += 2;
  }
  link.drain();
  std::vector<tcp_pcb*> pcbs;
  for (tcp_pcb* p = tcp_active_pcbs; p != nullptr; p = p->next) {
    if (p->state != ESTABLISHED) fail("a PCB is not established");
    if (p->unacked != nullptr || p->unsent != nullptr) fail("a PCB has data in flight");
    pcbs.push_back(p);
  }
  std::vector<std::vector<std::uint8_t>> acks;
  std::vector<netif*> to;
  for (tcp_pcb* p : pcbs) {
    acks.push_back(idle_ack(p));
    to.push_back(netif_get_by_index(p->netif_idx));
  }
  constexpr std::size_t kSeq = 8192;
  std::vector<std::uint32_t> seq(kSeq);
  std::mt19937 rng(3);
  std::uniform_int_distribution<std::uint32_t> pick(0, static_cast<std::uint32_t>(pcbs.size() - 1));
  for (auto& s : seq)
    s = pick(rng);

  auto deliver = [&](std::uint32_t i) {
    pbuf* p = pbuf_alloc(PBUF_RAW, static_cast<u16_t>(acks[i].size()), PBUF_RAM);
    if (p == nullptr) fail("pbuf_alloc");
    std::memcpy(p->payload, acks[i].data(), acks[i].size());
    to[i]->input(p, to[i]);
  };
  // Each PCB once (first contact may record the window edge), then nothing may go out.
  for (std::uint32_t i = 0; i < pcbs.size(); ++i)
    deliver(i);
  const std::uint64_t frames0 = link.frames_sent();

  const double random_s = time_per_op(kSeq, [&] {
    for (const std::uint32_t i : seq)
      deliver(i);
  });
  const double head_s = time_per_op(kSeq, [&] {
    for (std::size_t n = 0; n < kSeq; ++n)
      deliver(seq[0]);
  });
  if (link.frames_sent() != frames0 || !link.empty()) fail("demux: an idle ACK caused output");
  for (tcp_pcb* p : pcbs) {
    if (p->state != ESTABLISHED) fail("demux: a PCB changed state");
  }
  const double diff_ns = (random_s - head_s) * 1e9;
  std::fprintf(stderr,
               "lwip demux: %zu active PCBs, ip_input of an idle ACK: %.1f ns to a random PCB, "
               "%.1f ns to the PCB at the head of tcp_active_pcbs\n",
               pcbs.size(), random_s * 1e9, head_s * 1e9);
  synack::bench::emit("lwip.input_ns_per_segment", head_s * 1e9, "ns/segment",
                      "ip_input+tcp_input of a pure ACK incl. pbuf alloc+copy, PCB at list head");
  synack::bench::emit("lwip.demux_ns_per_lookup", diff_ns, "ns/lookup",
                      std::to_string(pcbs.size()) +
                          " established PCBs, uniform random target: input cost minus the "
                          "same at list head (lwIP walks a move-to-front list)");
}

void usage() {
  std::fprintf(stderr, "usage: bench_lwip_micro [--quick]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--quick") {
      g_target = 0.1;
    } else {
      usage();
    }
  }
  lwipbench::init_stack();
  bench_checksum();
  bench_timers();

  lwipbench::MemLink link;
  tcp_pcb* listener = lwipbench::bound_pcb(link.b(), link.ip_b(), 5001);
  listener = tcp_listen_with_backlog(listener, 255);
  if (listener == nullptr) fail("tcp_listen failed");
  tcp_accept(listener, &on_accept);

  const Conn c = open_conn(link);
  bench_send_path(link, c);
  bench_demux(link);
  return 0;
}
