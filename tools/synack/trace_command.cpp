// synack trace [-S] FILE: a capture as tcpdump -n [-S] -r FILE prints it.
// synack trace FILE --plot OUT.svg [--connection N]: its time-sequence graph instead.
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "commands.hpp"
#include "synack/trace/pcap.hpp"
#include "synack/trace/tcpdump.hpp"
#include "trace_plot.hpp"

namespace synack::cli {

namespace {

struct TraceOptions {
  std::string file;
  bool absolute = false;
  bool numeric = true;
  std::string plot;
  std::optional<size_t> connection;
};

int run_plot(const TraceOptions& options) {
  auto plot = plot_capture(options.file, options.connection);
  if (!plot) {
    fmt::print(stderr, "synack trace: {}\n", plot.error());
    return 1;
  }
  std::ofstream out(options.plot, std::ios::binary);
  out << plot->svg;
  out.close();
  if (!out) {
    fmt::print(stderr, "synack trace: cannot write {}\n", options.plot);
    return 1;
  }
  fmt::print(stderr, "synack trace: {} ({} segments, {} retransmitted) drawn in {}\n",
             plot->connection, plot->segments, plot->retransmissions, options.plot);
  if (plot->truncated > 0) {
    fmt::print(stderr,
               "synack trace: {} packets cut short by the capture's snapshot length were left "
               "out (capture with a larger -s)\n",
               plot->truncated);
  }
  return 0;
}

int run_trace(const TraceOptions& options) {
  if (!options.plot.empty()) return run_plot(options);
  auto reader = trace::PcapReader::open(options.file);
  if (!reader) {
    fmt::print(stderr, "synack trace: {}\n", reader.error());
    return 1;
  }
  // tcpdump's own preamble, on stderr as tcpdump prints it, so stdout is only packets.
  fmt::print(stderr, "reading from file {}, link-type {} ({}), snapshot length {}\n", options.file,
             reader->link_type_name(), reader->link_type_description(), reader->snapshot_length());
  if (reader->link_type() == trace::link_type::kLinuxSll2) {
    fmt::print(stderr, "Warning: interface names might be incorrect\n");
  }

  trace::TcpdumpFormatter formatter(
      trace::TcpdumpOptions{.absolute_sequence_numbers = options.absolute, .interface_name = {}});
  fmt::memory_buffer out;
  auto flush = [&out] {
    std::fwrite(out.data(), 1, out.size(), stdout);
    out.clear();
  };
  while (true) {
    auto packet = reader->next();
    if (!packet) {
      flush();
      std::fflush(stdout);
      fmt::print(stderr, "synack trace: {}\n", packet.error());
      return 1;
    }
    if (!packet->has_value()) break;
    const trace::PcapPacket& p = **packet;
    formatter.format_to(out, p.timestamp, p.link_type, p.bytes, p.original_length);
    out.push_back('\n');
    if (out.size() > 64 * 1024) flush();
  }
  flush();
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

void register_trace_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<TraceOptions>();
  CLI::App* cmd = app.add_subcommand(
      "trace", "Print a pcap file one line per packet, exactly as tcpdump -n -r FILE does");
  cmd->add_flag("-S,--absolute-tcp-sequence-numbers", options->absolute,
                "Print absolute TCP sequence numbers (tcpdump -S)");
  // Accepted for muscle memory: synack never resolves names, as tcpdump -n.
  cmd->add_flag("-n", options->numeric, "Do not resolve addresses or ports (always the case)");
  cmd->add_option("file", options->file, "Capture file (pcap or pcapng)")->required();
  cmd->add_option("--plot", options->plot,
                  "Instead of the lines, draw one connection's time-sequence graph (segments, "
                  "ACKs, window, SACK blocks, retransmissions, as tcptrace) into this SVG file");
  cmd->add_option("--connection", options->connection,
                  "With --plot: the Nth TCP connection of the capture, in the order of their "
                  "first packets (default: the one carrying the most data)")
      ->check(CLI::PositiveNumber);
  cmd->callback([options, &exit_code] { exit_code = run_trace(*options); });
}

}  // namespace synack::cli
