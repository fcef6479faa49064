// bench_micro: synack's hot pieces measured one at a time with Google Benchmark (row 7 of
// `make bench`). Everything runs in virtual time through the public API; nothing touches a
// device or a clock other than the benchmark's own.
//
//   checksum_1500, checksum_65535  internet_checksum() over one buffer
//   parse_ack, parse_data          what Stack::receive does to every packet before demux:
//                                  Ipv4View::parse (header checksum verified),
//                                  TcpView::parse with the pseudo-header (options validated,
//                                  checksum over header and payload verified), TcpRepr::parse
//                                  (options interpreted)
//   demux_receive                  Stack::receive of a pure ACK to one of 10 000 established
//                                  connections, in shuffled order: parse, 4-tuple lookup,
//                                  Connection::on_segment, timer and dirty-list upkeep, plus a
//                                  poll_transmit drain every 32 packets as an event loop does
//   demux_table                    only the lookup: a std::unordered_map<FourTuple, uint32_t>
//                                  like the stack's, same 10 000 tuples (for comparison)
//   timer_wheel                    TimerWheel with 1000 pending timers: reschedule, cancel +
//                                  schedule, and expire as time advances
//   send_path                      a bulk sender's Stack::send + poll_transmit (+ copying each
//                                  packet out, as a device write would) + receiving the
//                                  peer's ACKs (one per two segments), per full-sized segment,
//                                  in the sender's thread CPU time; the receiver's work is not
//                                  timed
//
// stdout: one JSON object per line (the bench suite's contract); stderr: the table.
#include <benchmark/benchmark.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bench_output.hpp"
#include "synack/dev/impairments.hpp"
#include "synack/stack/stack.hpp"
#include "synack/stack/timer_wheel.hpp"
#include "synack/tcp/four_tuple.hpp"
#include "synack/wire/checksum.hpp"
#include "synack/wire/ipv4.hpp"
#include "synack/wire/tcp.hpp"

namespace {

using synack::Duration;
using synack::Instant;
using synack::dev::SplitMix64;
using synack::stack::ConnId;
using synack::stack::Stack;
using synack::stack::StackConfig;
using synack::tcp::Endpoint;
using synack::tcp::FourTuple;
using synack::wire::Bytes;
using synack::wire::Ipv4Address;
using synack::wire::SeqNum;

constexpr Ipv4Address kAddrA = Ipv4Address::from_octets(10, 0, 0, 1);
constexpr Ipv4Address kAddrB = Ipv4Address::from_octets(10, 0, 0, 2);
constexpr uint16_t kServerPort = 5001;

[[noreturn]] void fail(const std::string& what) {
  std::cerr << "bench_micro: " << what << "\n";
  std::exit(1);
}

std::vector<std::byte> random_bytes(size_t n, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v)
    b = static_cast<std::byte>(rng.next());
  return v;
}

// Copies a packet into a reusable buffer (what a device write costs at most).
void copy_into(std::vector<std::vector<std::byte>>& bufs, size_t& used, Bytes p) {
  if (used == bufs.size()) bufs.emplace_back();
  bufs[used].assign(p.begin(), p.end());
  ++used;
}

// --- checksum ---------------------------------------------------------------------------

void bm_checksum(benchmark::State& state, size_t len) {
  const std::vector<std::byte> data = random_bytes(len, 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(data.data());
    uint16_t sum = synack::wire::internet_checksum(data);
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(len));
}

// --- parse ------------------------------------------------------------------------------

// An ACK as a bulk receiver sends it during recovery: timestamps and two SACK blocks
// (NOP, NOP, TS; NOP, NOP, SACK x2: 32 bytes of options), optionally with data.
std::vector<std::byte> make_packet(size_t payload_len) {
  const std::vector<std::byte> payload = random_bytes(payload_len, 2);
  synack::wire::TcpRepr tcp;
  tcp.src_port = 41631;
  tcp.dst_port = kServerPort;
  tcp.seq = SeqNum(0x12345678);
  tcp.ack = SeqNum(0x9abcdef0);
  tcp.window = 1024;
  if (payload_len > 0) tcp.flags = synack::wire::TcpFlags(synack::wire::TcpFlags::kPsh);
  tcp.options.timestamps = synack::wire::TcpTimestamps{.value = 123456789, .echo_reply = 987654};
  tcp.options.sack.push_back({SeqNum(0x9abcdef0 + 2920), SeqNum(0x9abcdef0 + 5840)});
  tcp.options.sack.push_back({SeqNum(0x9abcdef0 + 8760), SeqNum(0x9abcdef0 + 10220)});
  tcp.payload = payload;
  const synack::wire::Ipv4Repr ip{
      .src = kAddrA, .dst = kAddrB, .payload_len = static_cast<uint16_t>(tcp.size())};
  std::vector<std::byte> packet(ip.total_len());
  ip.emit(packet);
  tcp.emit(synack::wire::MutableBytes(packet).subspan(ip.header_len()), ip.pseudo_header());
  return packet;
}

// The receive path's validation, step for step as Stack::receive and receive_tcp do it.
bool parse_like_stack(Bytes packet, synack::wire::TcpRepr& out) {
  auto ip = synack::wire::Ipv4View::parse(packet);
  if (!ip) return false;
  auto view = synack::wire::TcpView::parse(ip->payload(), ip->pseudo_header());
  if (!view) return false;
  out = synack::wire::TcpRepr::parse(*view);
  return true;
}

void bm_parse(benchmark::State& state, size_t payload_len) {
  const std::vector<std::byte> packet = make_packet(payload_len);
  synack::wire::TcpRepr seg;
  if (!parse_like_stack(packet, seg) || seg.options.sack.size() != 2 || !seg.options.timestamps) {
    state.SkipWithError("the test packet does not parse");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(packet.data());
    const bool ok = parse_like_stack(packet, seg);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(seg);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// --- two stacks -------------------------------------------------------------------------

// Two stacks joined back to back in virtual time: what one emits the other receives at
// the same instant (a MemLink without impairments, minus its queue).
struct Pair {
  std::unique_ptr<Stack> a;
  std::unique_ptr<Stack> b;
  Instant now = Instant::from_micros(1'000'000);
  synack::stack::ListenerId listener = 0;

  Pair(StackConfig ca, StackConfig cb, uint32_t backlog) {
    ca.secret_seed = 1;
    cb.secret_seed = 2;
    a = std::make_unique<Stack>(ca);
    b = std::make_unique<Stack>(cb);
    a->add_address(kAddrA);
    b->add_address(kAddrB);
    auto l = b->listen(Endpoint{kAddrB, kServerPort}, backlog);
    if (!l) fail("listen: " + l.error().message());
    listener = *l;
  }

  // Moves packets both ways until neither stack has output; `on_a` sees A's packets.
  template <class F>
  void pump(F&& on_a) {
    for (bool moved = true; moved;) {
      moved = false;
      while (auto p = a->poll_transmit(now)) {
        on_a(*p);
        b->receive(*p, now);
        moved = true;
      }
      while (auto p = b->poll_transmit(now)) {
        a->receive(*p, now);
        moved = true;
      }
    }
    while (a->poll_event()) {
    }
    while (b->poll_event()) {
    }
  }
  void pump() {
    pump([](Bytes) {});
  }
};

StackConfig many_connections_config() {
  StackConfig c;
  c.somaxconn = 1u << 20;
  return c;
}

// --- demux ------------------------------------------------------------------------------

constexpr size_t kDemuxConnections = 10'000;

struct DemuxFixture {
  std::unique_ptr<Pair> pair;
  // For every connection, the pure ACK that completed its handshake (A to B), in shuffled
  // order. Received again in ESTABLISHED it is acceptable (RFC 9293 §3.10.7.4: SEG.ACK =
  // SND.UNA, TSval = TS.Recent) and changes nothing: the steady state of an idle ACK.
  std::vector<std::vector<std::byte>> acks;
  std::vector<FourTuple> tuples;  // B's view of each, in the same order
};

DemuxFixture build_demux_fixture() {
  DemuxFixture f;
  f.pair = std::make_unique<Pair>(many_connections_config(), many_connections_config(),
                                  static_cast<uint32_t>(kDemuxConnections));
  Pair& p = *f.pair;
  std::unordered_map<uint16_t, std::vector<std::byte>> ack_by_port;
  auto capture = [&](Bytes packet) {
    auto ip = synack::wire::Ipv4View::parse(packet);
    if (!ip) return;
    auto tcp = synack::wire::TcpView::parse(ip->payload());
    if (!tcp) return;
    if (tcp->flags().bits() == synack::wire::TcpFlags::kAck && tcp->payload().empty()) {
      ack_by_port[tcp->src_port()].assign(packet.begin(), packet.end());
    }
  };
  constexpr size_t kBatch = 500;
  for (size_t made = 0; made < kDemuxConnections;) {
    for (size_t i = 0; i < kBatch && made < kDemuxConnections; ++i, ++made) {
      auto c = p.a->connect(Endpoint{kAddrB, kServerPort}, p.now);
      if (!c) fail("connect: " + c.error().message());
      p.a->release(*c);  // the handle is not needed; the connection stays established
    }
    p.pump(capture);
    while (auto c = p.b->accept(p.listener))
      p.b->release(*c);
    p.now = p.now + Duration::millis(1);
  }
  if (p.a->connection_count() != kDemuxConnections ||
      p.b->connection_count() != kDemuxConnections || ack_by_port.size() != kDemuxConnections) {
    fail("demux setup: expected " + std::to_string(kDemuxConnections) + " connections, got " +
         std::to_string(p.a->connection_count()) + " / " + std::to_string(p.b->connection_count()) +
         " with " + std::to_string(ack_by_port.size()) + " ACKs");
  }
  for (auto& [port, packet] : ack_by_port) {
    f.tuples.push_back(FourTuple{Endpoint{kAddrB, kServerPort}, Endpoint{kAddrA, port}});
    f.acks.push_back(std::move(packet));
  }
  // Fisher-Yates with a fixed seed: lookups in no particular order, the same every run.
  SplitMix64 rng(3);
  for (size_t i = f.acks.size() - 1; i > 0; --i) {
    const size_t j = static_cast<size_t>(rng.below(i + 1));
    std::swap(f.acks[i], f.acks[j]);
    std::swap(f.tuples[i], f.tuples[j]);
  }
  return f;
}

DemuxFixture& demux_fixture() {
  static DemuxFixture f = [] {
    std::cerr << "bench_micro: setting up " << kDemuxConnections << " connections\n";
    const auto start = std::chrono::steady_clock::now();
    DemuxFixture built = build_demux_fixture();
    std::cerr << "bench_micro: set up in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()
              << " s\n";
    return built;
  }();
  return f;
}

void bm_demux_receive(benchmark::State& state) {
  DemuxFixture& f = demux_fixture();
  Stack& b = *f.pair->b;
  const Instant now = f.pair->now;
  const size_t n = f.acks.size();
  const uint64_t in_before = b.counters().TcpInSegs;
  const uint64_t errs_before = b.counters().TcpInErrs;
  uint64_t replies = 0;
  size_t i = 0;
  for (auto _ : state) {
    b.receive(f.acks[i], now);
    if (++i == n) i = 0;
    if ((i & 31) == 0) {
      while (b.poll_transmit(now))
        ++replies;
      while (b.poll_event()) {
      }
    }
  }
  while (b.poll_transmit(now))
    ++replies;
  while (b.poll_event()) {
  }
  // The ACKs must reach their connections and be accepted silently, or this measures
  // something else (a drop, a challenge ACK, a RST).
  if (b.counters().TcpInErrs != errs_before || replies != 0 ||
      b.counters().TcpInSegs - in_before != static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("replayed ACKs were not absorbed silently");
    return;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void bm_demux_table(benchmark::State& state) {
  const DemuxFixture& f = demux_fixture();
  std::unordered_map<FourTuple, uint32_t> table;
  for (uint32_t i = 0; i < f.tuples.size(); ++i)
    table.emplace(f.tuples[i], i);
  // Probe in a different order than inserted.
  std::vector<FourTuple> probes(f.tuples.rbegin(), f.tuples.rend());
  const size_t n = probes.size();
  size_t i = 0;
  for (auto _ : state) {
    auto it = table.find(probes[i]);
    benchmark::DoNotOptimize(it);
    if (++i == n) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// --- timer wheel ------------------------------------------------------------------------

void bm_timer_wheel(benchmark::State& state) {
  using synack::stack::TimerWheel;
  constexpr uint32_t kTimers = 1000;
  constexpr size_t kTable = 4096;  // precomputed draws, so the loop measures the wheel
  Instant now = Instant::from_micros(1'000'000);
  TimerWheel wheel(TimerWheel::kDefaultTick, now);
  wheel.reserve(kTimers);
  // Deadlines as a stack's connections have them: mostly delayed ACKs and RTOs (1 ms to
  // 1 s), some keepalives and TIME_WAITs far out.
  SplitMix64 rng(4);
  std::vector<Duration> after(kTable);
  std::vector<uint32_t> ids(kTable);
  for (size_t k = 0; k < kTable; ++k) {
    after[k] = rng.below(10) == 0
                   ? Duration::seconds(60 + static_cast<int64_t>(rng.below(7200)))
                   : Duration::micros(1000 + static_cast<int64_t>(rng.below(999'000)));
    ids[k] = static_cast<uint32_t>(rng.below(kTimers));
  }
  for (uint32_t id = 0; id < kTimers; ++id)
    wheel.schedule(id, now + after[id]);

  uint64_t ops = 0;
  size_t k = 0;
  for (auto _ : state) {
    // A connection re-arms its timer (the common case: an ACK moved the RTO) ...
    wheel.schedule(ids[k], now + after[k]);
    // ... and another one's timer goes away and comes back (a delayed ACK sent early).
    const size_t k2 = (k + 1) & (kTable - 1);
    wheel.cancel(ids[k2]);
    wheel.schedule(ids[k2], now + after[k2]);
    ops += 3;
    k = (k + 2) & (kTable - 1);
    // Every 16 iterations 100 us pass: expire what is due and re-arm it, as the stack
    // does after a connection's on_timeout.
    if ((k & 31) == 0) {
      now = now + Duration::micros(100);
      wheel.expire(now, [&](uint32_t id) {
        wheel.schedule(id, now + after[(id + k) & (kTable - 1)]);
        ops += 2;  // the expiry and the re-arm
      });
      benchmark::DoNotOptimize(wheel.next_deadline());
    }
  }
  if (wheel.size() != kTimers) {
    state.SkipWithError("timers were lost");
    return;
  }
  state.counters["ops"] = benchmark::Counter(static_cast<double>(ops), benchmark::Counter::kIsRate);
  state.counters["pending"] = static_cast<double>(wheel.size());
}

// --- send path --------------------------------------------------------------------------

void bm_send_path(benchmark::State& state) {
  // The sender's thread CPU time, like the other benchmarks' CPU time: other processes on
  // the machine do not count (a system call per read, four per round of ~180 segments).
  auto cpu_ns = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  };
  StackConfig cfg;
  // Pacing off: with every ACK arriving at the instant of its segment, virtual time would
  // have to be stepped to release paced segments, and the stepping would be the measurement.
  cfg.tcp.congestion.pacing = false;
  Pair p(cfg, cfg, 16);
  auto ca = p.a->connect(Endpoint{kAddrB, kServerPort}, p.now);
  if (!ca) fail("connect: " + ca.error().message());
  p.pump();
  auto cb = p.b->accept(p.listener);
  if (!cb) {
    state.SkipWithError("no connection to accept");
    return;
  }
  Stack& a = *p.a;
  Stack& b = *p.b;
  const std::vector<std::byte> chunk = random_bytes(a.config().tcp.send_buffer, 5);
  std::vector<std::byte> sink(b.config().tcp.receive_buffer);
  std::vector<std::vector<std::byte>> to_b;
  std::vector<std::vector<std::byte>> to_a;
  uint64_t segments = 0;
  uint64_t full = 0;
  uint64_t bytes = 0;
  double timed_ns = 0;
  size_t max_payload = 0;
  uint64_t a_events = 0;  // stack events the application is handed, sender and receiver
  uint64_t b_events = 0;
  uint64_t acks = 0;

  // One round trip: A sends what its window allows, B takes it all and acknowledges, A
  // takes the ACKs. Only A's part is timed (B's work sits between t1 and t2).
  auto round = [&](bool timed) {
    size_t n_to_b = 0;
    size_t n_to_a = 0;
    const int64_t t0 = cpu_ns();
    const size_t space = p.a->connection(*ca)->send_space();
    if (space > 0) {
      auto sent = a.send(*ca, Bytes(chunk).first(space), p.now);
      if (!sent) fail("send: " + sent.error().message());
    }
    while (auto pkt = a.poll_transmit(p.now))
      copy_into(to_b, n_to_b, *pkt);
    const int64_t t1 = cpu_ns();
    for (size_t i = 0; i < n_to_b; ++i) {
      b.receive(to_b[i], p.now);
      // B reads and flushes every second segment, so it acknowledges every second one
      // (RFC 5681 §4.2) as a kernel receiver without GRO would; the sender then has one
      // ACK to take per two segments sent.
      if (i % 2 == 1 || i + 1 == n_to_b) {
        while (b.recv(*cb, sink, p.now) > 0) {
        }
        while (auto pkt = b.poll_transmit(p.now))
          copy_into(to_a, n_to_a, *pkt);
      }
    }
    const int64_t t2 = cpu_ns();
    for (size_t i = 0; i < n_to_a; ++i)
      a.receive(to_a[i], p.now);
    while (a.poll_event())
      ++a_events;
    const int64_t t3 = cpu_ns();
    while (b.poll_event())
      ++b_events;
    // Time moves on between rounds, so B's delayed ACK for an odd last segment fires.
    p.now = p.now + Duration::micros(50);
    b.on_timeout(p.now);
    a.on_timeout(p.now);
    if (!timed) return;
    const double ns = static_cast<double>((t1 - t0) + (t3 - t2));
    timed_ns += ns;
    state.SetIterationTime(ns * 1e-9);
    acks += n_to_a;
    const size_t mss = a.connection(*ca)->status().snd_mss;
    for (size_t i = 0; i < n_to_b; ++i) {
      if (to_b[i].size() <= 52) continue;  // IPv4 + TCP with timestamps
      const size_t payload = to_b[i].size() - 52;
      ++segments;
      bytes += payload;
      max_payload = std::max(max_payload, payload);
      if (payload + 12 == mss) ++full;
    }
  };
  // Out of slow start and up to the receive window before measuring.
  for (int i = 0; i < 200; ++i)
    round(false);
  a_events = b_events = 0;
  for (auto _ : state)
    round(true);

  if (segments == 0) {
    state.SkipWithError("nothing was sent");
    return;
  }
  state.counters["ns_per_segment"] = timed_ns / static_cast<double>(segments);
  state.counters["segs_per_round"] =
      static_cast<double>(segments) / static_cast<double>(state.iterations());
  state.counters["full_share"] = static_cast<double>(full) / static_cast<double>(segments);
  state.counters["payload"] = static_cast<double>(max_payload);
  const double segs = static_cast<double>(segments);
  state.counters["acks_per_seg"] = static_cast<double>(acks) / segs;
  state.counters["tx_events_per_seg"] = static_cast<double>(a_events) / segs;
  state.counters["rx_events_per_seg"] = static_cast<double>(b_events) / segs;
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

// --- reporting --------------------------------------------------------------------------

// Shows Google Benchmark's table on stderr and keeps each benchmark's result: its median
// over repetitions, or its only run.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  explicit CollectingReporter(OutputOptions opts) : ConsoleReporter(opts) {}

  void ReportRuns(const std::vector<Run>& reports) override {
    for (const Run& r : reports) {
      if (r.error_occurred) {
        errors_.push_back(r.benchmark_name() + ": " + r.error_message);
        continue;
      }
      const bool single = r.run_type == Run::RT_Iteration && r.repetitions <= 1;
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (single || median) results_[r.run_name.function_name] = r;
    }
    ConsoleReporter::ReportRuns(reports);
  }

  const std::map<std::string, Run>& results() const { return results_; }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::map<std::string, Run> results_;
  std::vector<std::string> errors_;
};

double counter(const benchmark::BenchmarkReporter::Run& r, const std::string& name) {
  auto it = r.counters.find(name);
  return it == r.counters.end() ? 0.0 : it->second.value;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  bool filtered = false;  // a --benchmark_filter run reports only what it ran
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      if (std::strncmp(argv[i], "--benchmark_filter", 18) == 0) filtered = true;
      args.push_back(argv[i]);
    }
  }
  int bargc = static_cast<int>(args.size());
  benchmark::Initialize(&bargc, args.data());
  if (benchmark::ReportUnrecognizedArguments(bargc, args.data())) {
    std::cerr << "usage: bench_micro [--quick] [--benchmark_filter=REGEX ...]\n";
    return 2;
  }

  const double min_time = quick ? 0.05 : 0.3;
  const int repetitions = quick ? 1 : 3;
  auto add = [&](const char* name, auto&& fn) {
    benchmark::RegisterBenchmark(name, fn)
        ->MinTime(min_time)
        ->Repetitions(repetitions)
        ->ReportAggregatesOnly(repetitions > 1);
  };
  add("checksum_1500", [](benchmark::State& s) { bm_checksum(s, 1500); });
  add("checksum_65535", [](benchmark::State& s) { bm_checksum(s, 65535); });
  add("parse_ack", [](benchmark::State& s) { bm_parse(s, 0); });
  add("parse_data", [](benchmark::State& s) { bm_parse(s, 1448); });
  add("demux_receive", bm_demux_receive);
  add("demux_table", bm_demux_table);
  add("timer_wheel", bm_timer_wheel);
  benchmark::RegisterBenchmark("send_path", bm_send_path)
      ->MinTime(min_time)
      ->Repetitions(repetitions)
      ->ReportAggregatesOnly(repetitions > 1)
      ->UseManualTime();

  CollectingReporter reporter(isatty(STDERR_FILENO) ? benchmark::ConsoleReporter::OO_ColorTabular
                                                    : benchmark::ConsoleReporter::OO_Tabular);
  reporter.SetOutputStream(&std::cerr);
  reporter.SetErrorStream(&std::cerr);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  for (const auto& e : reporter.errors())
    std::cerr << "bench_micro: " << e << "\n";
  const auto& res = reporter.results();
  auto get = [&](const char* name) -> const benchmark::BenchmarkReporter::Run* {
    auto it = res.find(name);
    return it == res.end() ? nullptr : &it->second;
  };
  const char* stat = repetitions > 1 ? "median of 3" : "1 run";
  int missing = 0;
  auto emit_rate = [&](const char* name, const char* key, const char* counter_name, double scale,
                       const char* unit, const std::string& note) {
    const auto* r = get(name);
    if (r == nullptr) {
      ++missing;
      return;
    }
    synack::bench::emit(key, counter(*r, counter_name) * scale, unit, note + ", " + stat);
  };
  auto emit_ns = [&](const char* name, const char* key, const std::string& note) {
    const auto* r = get(name);
    if (r == nullptr) {
      ++missing;
      return;
    }
    const double per_s = counter(*r, "items_per_second");
    synack::bench::emit(key, per_s > 0 ? 1e9 / per_s : 0, "ns", note + ", " + stat);
  };
  emit_rate("checksum_1500", "synack.checksum_gbps", "bytes_per_second", 1e-9, "GB/s",
            "internet_checksum over 1500 B");
  emit_rate("checksum_65535", "synack.checksum_64k_gbps", "bytes_per_second", 1e-9, "GB/s",
            "internet_checksum over 65535 B");
  emit_ns("parse_ack", "synack.parse_ns_per_packet",
          "IPv4+TCP ACK with TS and 2 SACK blocks: IP and TCP checksums verified, options "
          "validated and interpreted");
  emit_ns("demux_receive", "synack.demux_ns_per_lookup",
          "Stack::receive of a pure ACK, 10000 established connections: parse + lookup + "
          "on_segment + timer upkeep + a poll_transmit drain per 32");
  emit_rate("timer_wheel", "synack.timer_ops_per_s", "ops", 1.0, "ops/s",
            "schedule/cancel/expire with 1000 pending");
  if (const auto* r = get("send_path")) {
    synack::bench::emit(
        "synack.send_path_ns_per_segment", counter(*r, "ns_per_segment"), "ns",
        "sender CPU: send + poll_transmit + copy out + 1 ACK per 2 segments received, " +
            std::to_string(static_cast<int>(counter(*r, "payload"))) + " B payload, pacing off, " +
            stat);
  } else {
    ++missing;
  }
  if (!reporter.errors().empty() || (missing > 0 && !filtered)) {
    std::cerr << "bench_micro: " << reporter.errors().size() << " benchmark(s) failed, " << missing
              << " result(s) missing\n";
    return 1;
  }
  return 0;
}
