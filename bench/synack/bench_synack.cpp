// bench_synack: synack's side of the macro rows of `make bench` (docs/performance.md).
//
// Two synack stacks in one thread, joined by a MemLink without impairments: each stack's
// output is copied onto the link and delivered to the other stack at once, as a device
// would. Time is the real monotonic clock (timers such as the delayed ACK run as they would
// on a device), so every figure is the CPU cost of the stacks themselves.
//
//   bench_synack [--quick] [--bytes N] [bulk|connrate|latency|memory]...   (default: all)
//
// Prints one JSON object per line on stdout ({"key", "value", "unit", "note"}); details on
// stderr.
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bench_output.hpp"
#include "synack/dev/mem_link.hpp"
#include "synack/stack/stack.hpp"
#include "synack/time.hpp"

namespace {

using synack::Duration;
using synack::Instant;
using synack::bench::cpu_seconds;
using synack::bench::emit;
using synack::bench::wall_seconds;
using synack::stack::ConnId;
using synack::stack::Stack;
using synack::stack::StackConfig;
using synack::tcp::Endpoint;
using synack::wire::Ipv4Address;

constexpr Ipv4Address kClient = Ipv4Address::from_octets(10, 0, 0, 1);
constexpr Ipv4Address kServer = Ipv4Address::from_octets(10, 0, 0, 2);

Instant clock_now() {
  const auto t = std::chrono::steady_clock::now().time_since_epoch();
  return Instant::from_micros(std::chrono::duration_cast<std::chrono::microseconds>(t).count());
}

// Resident set size in bytes, from /proc/self/statm.
uint64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages_total = 0;
  uint64_t pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "bench_synack: %s\n", what.c_str());
  std::exit(1);
}

StackConfig stack_config(uint16_t mss, size_t buffer) {
  StackConfig cfg;
  cfg.tcp.mss = mss;
  cfg.tcp.send_buffer = buffer;
  cfg.tcp.receive_buffer = buffer;
  // Enough ephemeral ports for the connection-count rows.
  cfg.ephemeral_ports = *synack::stack::PortRange::make(1024, 65535);
  return cfg;
}

// Client and server stacks on one MemLink, pumped until nothing moves.
class Pair {
 public:
  Pair(size_t mtu, size_t buffer)
      : client_(stack_config(mss_for(mtu), buffer)),
        server_(stack_config(mss_for(mtu), buffer)),
        link_(synack::dev::Impairments{.mtu = mtu}) {
    client_.add_address(kClient);
    server_.add_address(kServer);
  }

  Stack& client() { return client_; }
  Stack& server() { return server_; }

  // Moves packets both ways and runs due timers until neither stack has anything to send.
  void pump(Instant now) {
    for (;;) {
      bool moved = false;
      moved |= drain(client_, link_.a(), now);
      moved |= drain(server_, link_.b(), now);
      link_.b().poll(now, [&](synack::wire::Bytes p) { server_.receive(p, now); });
      link_.a().poll(now, [&](synack::wire::Bytes p) { client_.receive(p, now); });
      run_timers(client_, now);
      run_timers(server_, now);
      if (!moved && !link_.a().next_deadline() && !link_.b().next_deadline()) return;
    }
  }

  // Events are not needed by these loops (they poll the connections); dropping them keeps
  // the queues short.
  void discard_events() {
    while (client_.poll_event()) {
    }
    while (server_.poll_event()) {
    }
  }

 private:
  static uint16_t mss_for(size_t mtu) {
    return static_cast<uint16_t>(std::min<size_t>(mtu, 65535) - 40);
  }

  static bool drain(Stack& s, synack::dev::MemLink::End& end, Instant now) {
    bool any = false;
    while (auto p = s.poll_transmit(now)) {
      end.send(*p, now);
      any = true;
    }
    return any;
  }
  static void run_timers(Stack& s, Instant now) {
    if (auto d = s.next_deadline(); d && *d <= now) s.on_timeout(now);
  }

  Stack client_;
  Stack server_;
  synack::dev::MemLink link_;
};

// Opens a connection from the client to `port` and accepts it on the server.
std::pair<ConnId, ConnId> open(Pair& pair, synack::stack::ListenerId listener, uint16_t port) {
  const Instant now = clock_now();
  auto c = pair.client().connect(Endpoint{kServer, port}, now);
  if (!c) fail("connect: " + c.error().message());
  pair.pump(now);
  auto s = pair.server().accept(listener);
  if (!s) fail("the server accepted nothing after the handshake");
  return {*c, *s};
}

synack::stack::ListenerId listen(Pair& pair, uint16_t port, uint32_t backlog = 1024) {
  auto l = pair.server().listen(Endpoint{kServer, port}, backlog);
  if (!l) fail("listen: " + l.error().message());
  return *l;
}

// Row 1 (and 2): one connection, `bytes` from client to server; the receiver checks a
// running pattern so a benchmark that loses or reorders data cannot pass.
void bulk(size_t mtu, uint64_t bytes, std::string_view key_suffix) {
  Pair pair(mtu, 256 * 1024);
  const auto listener = listen(pair, 5001);
  auto [c, s] = open(pair, listener, 5001);

  std::vector<std::byte> out(256 * 1024);
  std::vector<std::byte> in(256 * 1024);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::byte>(i % 251);
  uint64_t sent = 0;
  uint64_t received = 0;

  const double cpu0 = cpu_seconds();
  const double wall0 = wall_seconds();
  while (received < bytes) {
    const Instant now = clock_now();
    while (sent < bytes) {
      const size_t at = static_cast<size_t>(sent % 251);
      const size_t want = static_cast<size_t>(std::min<uint64_t>(bytes - sent, out.size() - at));
      auto n = pair.client().send(c, synack::wire::Bytes(out.data() + at, want), now);
      if (!n && n.error() == std::errc::resource_unavailable_try_again) break;
      if (!n) fail("send: " + n.error().message());
      sent += *n;
    }
    pair.pump(now);
    for (;;) {
      const size_t n = pair.server().recv(s, in, now);
      if (n == 0) break;
      for (size_t i = 0; i < n; i += 4093) {  // a sample of the bytes, not every one
        if (in[i] != static_cast<std::byte>((received + i) % 251)) {
          fail(fmt::format("byte {} of the stream is wrong", received + i));
        }
      }
      received += n;
    }
    pair.pump(now);
    pair.discard_events();
  }
  const double cpu = cpu_seconds() - cpu0;
  const double wall = wall_seconds() - wall0;
  const double gbit = static_cast<double>(bytes) * 8 / 1e9;
  const auto* conn = pair.client().connection(c);
  const auto retrans = conn != nullptr ? conn->stats().retransmitted_segments : 0;
  std::fprintf(stderr, "bulk mtu %zu: %.2f GB in %.2f s wall, %.2f s CPU; %u retransmits\n", mtu,
               static_cast<double>(bytes) / 1e9, wall, cpu, static_cast<unsigned>(retrans));
  const std::string note = fmt::format("MTU {}, {} MiB, 256 KiB buffers", mtu, bytes >> 20);
  emit(fmt::format("synack.bulk_mem{}_gbps_per_cpu_s", key_suffix), gbit / cpu, "Gbit/s per CPU-s",
       note);
  emit(fmt::format("synack.bulk_mem{}_gbps", key_suffix), gbit / wall, "Gbit/s", note);
}

// Row 4: connect, accept, one byte each way, close (the client first, as the kernel side
// does), connections per second; the server closes on EOF.
void connrate(uint32_t count) {
  Pair pair(1500, 256 * 1024);
  const auto listener = listen(pair, 5002);
  std::byte one[1] = {std::byte{1}};
  std::byte got[16];

  const double wall0 = wall_seconds();
  const double cpu0 = cpu_seconds();
  for (uint32_t i = 0; i < count; ++i) {
    Instant now = clock_now();
    auto c = pair.client().connect(Endpoint{kServer, 5002}, now);
    if (!c) fail(fmt::format("connect #{}: {}", i, c.error().message()));
    pair.pump(now);
    auto s = pair.server().accept(listener);
    if (!s) fail(fmt::format("connection #{} was not accepted", i));
    if (auto n = pair.client().send(*c, one, now); !n || *n != 1) fail("client send");
    pair.pump(now);
    if (pair.server().recv(*s, got, now) != 1) fail("the server did not get its byte");
    if (auto n = pair.server().send(*s, one, now); !n || *n != 1) fail("server send");
    pair.pump(now);
    if (pair.client().recv(*c, got, now) != 1) fail("the client did not get its byte");
    pair.client().close(*c, now);
    pair.client().release(*c);
    pair.pump(now);
    // The server reads EOF (recv returns 0 with the FIN in) and closes.
    pair.server().recv(*s, got, now);
    pair.server().close(*s, now);
    pair.server().release(*s);
    pair.pump(now);
    pair.discard_events();
  }
  const double wall = wall_seconds() - wall0;
  const double cpu = cpu_seconds() - cpu0;
  std::fprintf(stderr,
               "connrate: %u connections in %.2f s wall, %.2f s CPU; client holds %zu "
               "(TIME_WAIT)\n",
               count, wall, cpu, pair.client().connection_count());
  emit("synack.conn_rate_per_s", count / wall, "conn/s",
       fmt::format("{} sequential connections, client closes first (TIME_WAIT on the client)",
                   count));
}

// Row 5: 1-byte ping-pong round trips over one connection (TCP_NODELAY on both ends).
void latency(uint32_t rounds) {
  Pair pair(1500, 256 * 1024);
  const auto listener = listen(pair, 5003);
  auto [c, s] = open(pair, listener, 5003);
  pair.client().connection(c)->set_nodelay(true);
  pair.server().connection(s)->set_nodelay(true);
  std::byte one[1] = {std::byte{7}};
  std::byte got[16];

  std::vector<double> samples;
  samples.reserve(rounds);
  const uint32_t warmup = rounds / 10;
  for (uint32_t i = 0; i < rounds + warmup; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    Instant now = clock_now();
    if (auto n = pair.client().send(c, one, now); !n || *n != 1) fail("ping send");
    pair.pump(now);
    if (pair.server().recv(s, got, now) != 1) fail("ping lost");
    if (auto n = pair.server().send(s, one, now); !n || *n != 1) fail("pong send");
    pair.pump(now);
    if (pair.client().recv(c, got, now) != 1) fail("pong lost");
    const auto t1 = std::chrono::steady_clock::now();
    pair.discard_events();
    if (i >= warmup) samples.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(samples.begin(), samples.end());
  auto pct = [&](double p) {
    return samples[std::min(samples.size() - 1,
                            static_cast<size_t>(p * static_cast<double>(samples.size())))];
  };
  std::fprintf(stderr, "latency: %u round trips, p50 %.3f us, p99 %.3f us\n", rounds, pct(0.5),
               pct(0.99));
  const std::string note = fmt::format("{} round trips of 1 byte, nodelay", rounds);
  emit("synack.latency_p50_us", pct(0.5), "us", note);
  emit("synack.latency_p99_us", pct(0.99), "us", note);
}

// Row 6: RSS growth per idle established connection (both ends, one connection = the
// client's and the server's state), N connections over several listening ports.
void memory(uint32_t count, size_t buffer, std::string_view name) {
  Pair pair(1500, buffer);
  constexpr uint16_t kPorts = 4;
  std::vector<synack::stack::ListenerId> listeners;
  for (uint16_t p = 0; p < kPorts; ++p)
    listeners.push_back(listen(pair, 6000 + p, 4096));
  std::vector<std::pair<ConnId, ConnId>> conns;
  conns.reserve(count);
  const uint64_t rss0 = rss_bytes();
  for (uint32_t i = 0; i < count; ++i) {
    const uint16_t p = static_cast<uint16_t>(i % kPorts);
    conns.push_back(open(pair, listeners[p], static_cast<uint16_t>(6000 + p)));
    if (i % 256 == 0) pair.discard_events();
  }
  pair.discard_events();
  const uint64_t rss1 = rss_bytes();
  const double per_conn = static_cast<double>(rss1 - rss0) / count;
  std::fprintf(stderr, "memory (%.*s buffers, %zu B): %u connections, RSS +%.1f MiB, %.0f B each\n",
               static_cast<int>(name.size()), name.data(), buffer, count,
               static_cast<double>(rss1 - rss0) / (1 << 20), per_conn);
  emit(fmt::format("synack.mem_per_conn_{}_bytes", name), per_conn, "bytes",
       fmt::format("{} idle established connections, both ends; {} B send/receive buffers "
                   "(allocated on first use)",
                   count, buffer));
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::optional<uint64_t> bytes;
  std::vector<std::string> rows;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--bytes" && i + 1 < argc) {
      bytes = std::strtoull(argv[++i], nullptr, 0);
    } else if (a == "bulk" || a == "connrate" || a == "latency" || a == "memory") {
      rows.emplace_back(a);
    } else {
      std::fprintf(stderr,
                   "usage: bench_synack [--quick] [--bytes N] [bulk|connrate|latency|memory]...\n");
      return 2;
    }
  }
  if (rows.empty()) rows = {"bulk", "connrate", "latency", "memory"};
  const uint64_t bulk_bytes = bytes.value_or(quick ? (256ull << 20) : (4ull << 30));
  for (const auto& row : rows) {
    if (row == "bulk") {
      bulk(65535, bulk_bytes, "");
      bulk(1500, bulk_bytes, "_mtu1500");
    } else if (row == "connrate") {
      connrate(quick ? 2000 : 20000);
    } else if (row == "latency") {
      latency(quick ? 10000 : 100000);
    } else if (row == "memory") {
      const uint32_t n = quick ? 10000 : 100000;
      // Each count in a fresh process: memory freed by an earlier row stays in the heap and
      // would hide the growth of the next.
      for (const auto& [size, name] : {std::pair<size_t, const char*>{256 * 1024, "default"},
                                       std::pair<size_t, const char*>{4096, "minimal"}}) {
        std::fflush(stdout);
        const pid_t child = fork();
        if (child < 0) fail("fork failed");
        if (child == 0) {
          memory(n, size, name);
          std::exit(0);
        }
        int status = 0;
        waitpid(child, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
      }
    }
  }
  return 0;
}
