// synack sim: two hosts, N connections, a lossy link, one seed — in virtual time.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "synack/sim/simulator.hpp"

namespace synack::cli {

namespace {

struct SimOptions {
  uint32_t conns = 1;
  std::string bytes = "64K";
  std::string direction = "both";
  size_t mtu = 1500;
  double delay_ms = 10;
  double rate_mbit = 0;
  std::string queue = "0";
  std::string loss = "0";
  std::string dup = "0";
  std::string reorder = "0";
  std::string corrupt = "0";
  uint64_t seed = 1;
  uint32_t backlog = 128;
  uint64_t flood = 0;
  std::string open = "normal";
  std::string close = "client";
  bool half_close = false;
  std::string syncookies = "auto";
  double time_limit_s = 3600;
  bool trace = false;
  std::string pcap;
  std::string mermaid;
  bool json = false;
  double sample_interval_ms = 1;
  size_t max_samples = 2000;
  uint32_t series_conns = 16;
  std::string plot;
  uint32_t plot_conn = 0;
  std::string sweep;  // loss probabilities, comma-separated
  uint64_t seeds = 1;
};

// "0.1%,1%,3%" as probabilities.
expected<std::vector<double>, std::string> parse_loss_list(std::string_view text) {
  std::vector<double> out;
  while (true) {
    const size_t comma = text.find(',');
    auto p = sim::parse_probability(text.substr(0, comma));
    if (!p) return unexpected(p.error());
    out.push_back(*p);
    if (comma == std::string_view::npos) return out;
    text.remove_prefix(comma + 1);
  }
}

// A CLI11 check from one of the simulator's parsers: the parser's message on failure.
template <class Parse>
CLI::Validator checked_by(Parse parse, std::string description) {
  return CLI::Validator(
      [parse](std::string& text) -> std::string {
        auto r = parse(text);
        return r ? std::string() : r.error();
      },
      std::move(description));
}

expected<sim::SimConfig, std::string> make_config(const SimOptions& o) {
  sim::SimConfig c;
  c.connections = o.conns;
  auto bytes = sim::parse_byte_count(o.bytes);
  auto direction = sim::parse_direction(o.direction);
  auto loss = sim::parse_probability(o.loss);
  auto dup = sim::parse_probability(o.dup);
  auto reorder = sim::parse_probability(o.reorder);
  auto corrupt = sim::parse_probability(o.corrupt);
  auto open = sim::parse_open_mode(o.open);
  auto close = sim::parse_close_mode(o.close);
  auto cookies = sim::parse_syncookie_mode(o.syncookies);
  // The validators have run; these only fail if a default is wrong.
  if (!bytes || !direction || !loss || !dup || !reorder || !corrupt || !open || !close ||
      !cookies) {
    return unexpected(std::string("bad option"));
  }
  c.bytes = *bytes;
  c.direction = *direction;
  c.mtu = o.mtu;
  if (!std::isfinite(o.delay_ms) || o.delay_ms < 0) {
    return unexpected(std::string("--delay is a non-negative number of milliseconds"));
  }
  c.delay = Duration::micros(std::llround(o.delay_ms * 1000));
  if (!std::isfinite(o.rate_mbit) || o.rate_mbit < 0) {
    return unexpected(std::string("--rate is a non-negative number of Mbit/s"));
  }
  c.rate_bps = static_cast<uint64_t>(std::llround(o.rate_mbit * 1e6));
  auto queue = sim::parse_byte_count(o.queue);
  if (!queue || *queue > (uint64_t{1} << 40)) {
    return unexpected(std::string("--queue is a byte count up to 1T"));
  }
  c.queue_bytes = static_cast<size_t>(*queue);
  c.loss = *loss;
  c.dup = *dup;
  c.reorder = *reorder;
  c.corrupt = *corrupt;
  c.seed = o.seed;
  c.backlog = o.backlog;
  c.flood_syn_per_s = o.flood;
  c.open = *open;
  c.close = *close;
  c.half_close = o.half_close;
  c.syncookies = *cookies;
  if (!std::isfinite(o.time_limit_s) || o.time_limit_s <= 0 || o.time_limit_s > 1e9) {
    return unexpected(std::string("--time-limit is a positive number of seconds"));
  }
  c.time_limit = Duration::micros(std::llround(o.time_limit_s * 1e6));
  c.pcap_path = o.pcap;
  c.mermaid_path = o.mermaid;
  if (!std::isfinite(o.sample_interval_ms) || o.sample_interval_ms < 0.001 ||
      o.sample_interval_ms > 3'600'000) {
    return unexpected(std::string("--sample-interval is between 0.001 and 3600000 ms"));
  }
  c.sample_interval = Duration::micros(std::llround(o.sample_interval_ms * 1000));
  c.max_samples = o.max_samples;
  // The series only show in the JSON.
  c.series_connections = o.json ? o.series_conns : 0;
  c.plot_path = o.plot;
  c.plot_connection = o.plot_conn;
  if (auto why = sim::validate(c)) return unexpected(*why);
  return c;
}

// --sweep: the configured run at each loss rate, over --seeds seeds; a line of goodput per
// rate (or a JSON object per rate with --json).
int run_sweep(const SimOptions& options, sim::SimConfig config) {
  auto losses = parse_loss_list(options.sweep);
  if (!losses) {
    fmt::print(stderr, "synack sim: --sweep: {}\n", losses.error());
    return 2;
  }
  if (options.trace || !options.pcap.empty() || !options.mermaid.empty() || !options.plot.empty()) {
    fmt::print(stderr,
               "synack sim: --sweep runs many simulations: no --trace, --pcap, --mermaid "
               "or --plot\n");
    return 2;
  }
  config.series_connections = 0;
  for (const double loss : *losses) {
    sim::SimConfig c = config;
    c.loss = loss;
    if (auto why = sim::validate(c)) {
      fmt::print(stderr, "synack sim: --sweep: {}\n", *why);
      return 2;
    }
  }
  const double link_mbit = static_cast<double>(config.rate_bps) / 1e6;
  if (!options.json) {
    sim::SimConfig shown = config;
    shown.loss = 0;
    std::string line = sim::describe_config(shown);
    if (const size_t at = line.find("loss 0%"); at != std::string::npos) {
      line.replace(at, 7, "loss swept");
    }
    fmt::print("synack sim --sweep: {}; {} seed{} per loss rate ({}..{})\n", line, options.seeds,
               options.seeds == 1 ? "" : "s", options.seed, options.seed + options.seeds - 1);
    fmt::print("  {:>8} {:>10} {:>10} {:>10} {:>8} {:>10} {:>8} {:>8}  {}\n", "loss", "goodput",
               "min", "max", "of link", "seconds", "rexmit", "RTOs", "result");
  }
  bool all_ok = true;
  for (const double loss : *losses) {
    std::vector<double> goodput;
    double seconds = 0;
    double retransmits = 0;
    double timeouts = 0;
    uint64_t ok = 0;
    std::string failure;
    for (uint64_t i = 0; i < options.seeds; ++i) {
      sim::SimConfig c = config;
      c.loss = loss;
      c.seed = options.seed + i;
      auto r = sim::simulate(c);
      if (!r) {
        fmt::print(stderr, "synack sim: {}\n", r.error());
        return 1;
      }
      goodput.push_back(r->goodput_mbit);
      seconds += r->virtual_seconds;
      retransmits += static_cast<double>(r->retransmits);
      timeouts += static_cast<double>(r->counters.TcpExtTCPTimeouts);
      if (r->ok) {
        ++ok;
      } else if (failure.empty()) {
        failure = fmt::format("seed {}: {}", c.seed, r->failure);
      }
    }
    all_ok = all_ok && ok == options.seeds;
    const auto n = static_cast<double>(options.seeds);
    double mean = 0;
    for (double g : goodput)
      mean += g;
    mean /= n;
    const double lo = *std::min_element(goodput.begin(), goodput.end());
    const double hi = *std::max_element(goodput.begin(), goodput.end());
    if (options.json) {
      fmt::print(
          "{{\"loss\":{},\"seeds\":{},\"ok\":{},\"goodput_mbit\":{:.6f},\"goodput_min_mbit\":"
          "{:.6f},\"goodput_max_mbit\":{:.6f},\"link_mbit\":{},\"virtual_seconds\":{:.6f},"
          "\"retransmits\":{:.2f},\"timeouts\":{:.2f}}}\n",
          loss, options.seeds, ok == options.seeds ? "true" : "false", mean, lo, hi, link_mbit,
          seconds / n, retransmits / n, timeouts / n);
    } else {
      fmt::print("  {:>7}% {:>10.3f} {:>10.3f} {:>10.3f} {:>8} {:>10.3f} {:>8.1f} {:>8.1f}  {}\n",
                 loss * 100, mean, lo, hi,
                 link_mbit > 0 ? fmt::format("{:.1f}%", 100 * mean / link_mbit) : "-", seconds / n,
                 retransmits / n, timeouts / n,
                 ok == options.seeds ? std::string("OK")
                                     : fmt::format("{} of {} FAILED ({})", options.seeds - ok,
                                                   options.seeds, failure));
    }
  }
  if (!options.json) {
    fmt::print("  (goodput in Mbit/s, mean over the seeds; seconds, rexmit and RTOs per run)\n");
  }
  if (std::fflush(stdout) != 0) return 1;
  return all_ok ? 0 : 1;
}

int run_sim(const SimOptions& options) {
  auto config = make_config(options);
  if (!config) {
    fmt::print(stderr, "synack sim: {}\n", config.error());
    return 2;
  }
  if (!options.sweep.empty()) return run_sweep(options, *config);
  // With --json, stdout carries only the JSON object; a trace then goes to stderr.
  std::FILE* trace_out = options.json ? stderr : stdout;
  if (options.trace) {
    config->trace = [trace_out](std::string_view line) {
      std::fwrite(line.data(), 1, line.size(), trace_out);
      std::fputc('\n', trace_out);
    };
  }
  auto result = sim::simulate(*config);
  std::fflush(trace_out);
  if (!result) {
    fmt::print(stderr, "synack sim: {}\n", result.error());
    return 1;
  }
  if (options.json) {
    fmt::print("{}\n", sim::to_json(*config, *result));
  } else {
    if (options.trace) fmt::print("\n");
    fmt::print("{}", sim::summary(*config, *result));
    if (!options.pcap.empty()) fmt::print("  {:<12}{}\n", "pcap", options.pcap);
    if (!options.mermaid.empty()) fmt::print("  {:<12}{}\n", "mermaid", options.mermaid);
    if (!options.plot.empty()) fmt::print("  {:<12}{}\n", "plot", options.plot);
  }
  if (std::fflush(stdout) != 0) return 1;
  return result->ok ? 0 : 1;
}

}  // namespace

void register_sim_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<SimOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sim", "Simulate two hosts over a lossy link in virtual time, deterministically");
  // As with most tools, a repeated option overrides the earlier one.
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->footer(
      "Exit status 0 only if every byte arrived intact and every connection closed cleanly.\n"
      "Trace timestamps are virtual time since the start (as tcpdump -ttttt).");
  cmd->add_option("--conns", o->conns, "Connections (default 1)")->check(CLI::Range(1, 60000));
  cmd->add_option("--bytes", o->bytes,
                  "Bytes per direction per connection, K/M/G suffixes (default 64K)")
      ->check(checked_by(sim::parse_byte_count, "BYTES"));
  cmd->add_option("--direction", o->direction, "both, c2s or s2c (default both)")
      ->check(checked_by(sim::parse_direction, "both|c2s|s2c"));
  cmd->add_option("--mtu", o->mtu, "Link MTU (default 1500; 0: no limit)");
  cmd->add_option("--delay", o->delay_ms, "One-way delay in ms, fractions allowed (default 10)");
  cmd->add_option("--rate", o->rate_mbit, "Bottleneck in Mbit/s each way, 0 unlimited (default 0)");
  cmd->add_option("--queue", o->queue,
                  "The bottleneck's buffer in bytes each way, drop-tail, K/M/G suffixes; needs "
                  "--rate (default 0: unbounded)")
      ->check(checked_by(sim::parse_byte_count, "BYTES"));
  const auto probability = checked_by(sim::parse_probability, "P (5% or 0.05)");
  cmd->add_option("--loss", o->loss, "Packet loss probability")->check(probability);
  cmd->add_option("--dup", o->dup, "Duplication probability")->check(probability);
  cmd->add_option("--reorder", o->reorder, "Reordering probability")->check(probability);
  cmd->add_option("--corrupt", o->corrupt, "Corruption probability (one bit flipped)")
      ->check(probability);
  cmd->add_option("--seed", o->seed, "Seed of everything random (default 1)");
  cmd->add_option("--backlog", o->backlog, "Server listen backlog (default 128)")
      ->check(CLI::Range(1u, 1u << 20));
  cmd->add_option("--flood", o->flood, "Spoofed SYNs per second of virtual time (default 0)");
  cmd->add_option("--open", o->open, "normal or simultaneous (default normal)")
      ->check(checked_by(sim::parse_open_mode, "normal|simultaneous"));
  cmd->add_option("--close", o->close, "client, server or simultaneous (default client)")
      ->check(checked_by(sim::parse_close_mode, "client|server|simultaneous"));
  cmd->add_flag("--half-close", o->half_close,
                "Client shuts down its sending side first; the server keeps sending");
  cmd->add_option("--syncookies", o->syncookies, "off, auto or on (default auto)")
      ->check(checked_by(sim::parse_syncookie_mode, "off|auto|on"));
  cmd->add_option("--time-limit", o->time_limit_s,
                  "Virtual seconds before giving up (default 3600)");
  cmd->add_flag("--trace", o->trace, "Print every packet (tcpdump -n format) and state change");
  cmd->add_option("--pcap", o->pcap, "Write every packet sent to a pcap file");
  cmd->add_option("--mermaid", o->mermaid, "Write the first connection as a Mermaid diagram");
  cmd->add_flag("--json", o->json,
                "Print one JSON object instead of the summary, with time series of cwnd, bytes "
                "in flight, send window, SRTT and retransmissions per connection");
  cmd->add_option("--sample-interval", o->sample_interval_ms,
                  "Time series: ms of virtual time between samples (default 1; doubles as "
                  "needed to stay within --max-samples)");
  cmd->add_option("--max-samples", o->max_samples,
                  "Time series: at most this many samples per connection (default 2000)")
      ->check(CLI::Range(size_t{2}, size_t{1'000'000}));
  cmd->add_option("--series-conns", o->series_conns,
                  "Time series in the JSON for the first N connections (default 16; 0: none)");
  cmd->add_option("--plot", o->plot,
                  "Write a time-sequence graph (as tcptrace's) of one connection as SVG");
  cmd->add_option("--plot-conn", o->plot_conn,
                  "The connection --plot draws, from 0 (default 0); its client-to-server "
                  "stream, or server-to-client with --direction s2c");
  cmd->add_option("--sweep", o->sweep,
                  "Run once per loss rate in this list (e.g. 0.1%,1%,3%,10%; --loss is ignored) "
                  "and print goodput per rate")
      ->check(checked_by(parse_loss_list, "P,P,..."));
  cmd->add_option("--seeds", o->seeds,
                  "With --sweep: seeds --seed .. --seed + N - 1 per rate (default 1)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100'000}));
  cmd->callback([o, &exit_code] { exit_code = run_sim(*o); });
}

}  // namespace synack::cli
