// sim::simulate — the deterministic two-host simulation: a client stack (10.0.0.1) and a
// server stack (10.0.0.2) joined by a MemLink with seeded impairments, running real
// applications over real connections, in virtual time.
//
//   SimConfig cfg;
//   cfg.connections = 100;
//   cfg.loss = 0.02;
//   cfg.seed = 7;
//   auto result = sim::simulate(cfg);   // expected<SimResult, std::string>
//   if (result) fmt::print("{}\n", sim::to_json(cfg, *result));
//
// The run. The server listens on 10.0.0.2:9988 (or, with OpenMode::kSimultaneous, does an
// active open of its own to 10.0.0.1:40000 at the same instant as the client's). The client
// opens `connections` connections, the nth at n x 10 us. Over each, the client sends `bytes`
// bytes (Direction::kBoth or kClientToServer) and the server, once it has read all of them,
// sends `bytes` back (kBoth or kServerToClient). Every stream is generated from the seed and
// checked end to end with SHA-256. Who closes first is `close`:
//   kClient        the client, once it has sent and received everything; the server when it
//                  sees the client's FIN (FIN_WAIT_1, FIN_WAIT_2, TIME_WAIT on the client);
//   kServer        the server, once it has read and sent everything; the client on EOF;
//   kSimultaneous  both, at the same instant, once every byte has been delivered and
//                  acknowledged both ways (FIN_WAIT_1, CLOSING, TIME_WAIT on both ends).
// half_close: the client closes its sending side as soon as it has written its bytes; the
// server goes on sending its `bytes` (from CLOSE_WAIT) and closes after them.
//
// Virtual time starts at 0 and jumps to the next thing that can happen: a packet arriving,
// a stack timer, a connection starting, a flood SYN. A run takes as long as the CPU needs,
// and one seed gives one run, packet for packet, on every platform. Each arriving packet is
// handled on its own: the receiving stack sends what it must at once (an ACK, a SYN-ACK), as
// a kernel does in its receive path, and only then do the applications act on it.
//
// The SYN flood (flood_syn_per_s > 0): a third host sends SYNs from random addresses in
// 172.16.0.0/12, random ports and ISNs, straight into the server's inbound path (not through
// the link's impairments), evenly spaced in virtual time, for as long as some legitimate
// connection is neither CLOSED, in TIME_WAIT nor failed (a flood cannot touch TIME_WAIT,
// and flooding through 2 MSL of waiting would only cost CPU). The server's SYN-ACKs to those
// hosts go nowhere. Note that SYN cookies, as in Linux, only validate an ACK whose sequence
// number is the client's ISN + 1: once the cookies are in use, a lost or overtaken handshake
// ACK (and first data segment) gets the client reset, so a flood combined with loss or
// reordering fails some connections by design.
//
// Output:
//  - trace: every packet exactly as `tcpdump -n -ttttt` prints it (timestamps are virtual
//    time since the start of the run, HH:MM:SS.uuuuuu, so a trace does not depend on TZ),
//    when it is sent; its fate on the link on an indented line (`    link: lost`); every
//    state change of every connection on an indented line
//    (`    client 10.0.0.1:40000 <-> 10.0.0.2:9988  SYN_SENT -> ESTABLISHED  (SYN-ACK
//    received)`, with `  at HH:MM:SS.uuuuuu` appended when it happened at another instant
//    than the packet line above it);
//  - pcap: every packet as sent (lost ones included), at 2024-01-01 00:00:00 UTC plus the
//    virtual time (dev::PcapTap::kSimulationEpoch);
//  - mermaid: a sequenceDiagram of the first connection, the way TCP tutorials draw it;
//  - series: samples of cwnd, bytes in flight, send window, SRTT and retransmissions over
//    virtual time, per connection and end (see SimConfig::series_connections);
//  - plot: a tcptrace-style time-sequence graph of one stream as SVG (trace/plot.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "synack/dev/impairments.hpp"
#include "synack/expected.hpp"
#include "synack/stack/counters.hpp"
#include "synack/stack/stack.hpp"
#include "synack/tcp/connection.hpp"
#include "synack/tcp/four_tuple.hpp"
#include "synack/tcp/state.hpp"
#include "synack/time.hpp"

namespace synack::sim {

enum class Direction : uint8_t { kBoth, kClientToServer, kServerToClient };
enum class OpenMode : uint8_t { kNormal, kSimultaneous };
enum class CloseMode : uint8_t { kClient, kServer, kSimultaneous };

// The CLI spellings: "both", "c2s", "s2c"; "normal", "simultaneous"; "client", "server",
// "simultaneous"; "off", "auto", "on".
std::string_view to_string(Direction d);
std::string_view to_string(OpenMode m);
std::string_view to_string(CloseMode m);
std::string_view to_string(stack::SynCookieMode m);
expected<Direction, std::string> parse_direction(std::string_view text);
expected<OpenMode, std::string> parse_open_mode(std::string_view text);
expected<CloseMode, std::string> parse_close_mode(std::string_view text);
expected<stack::SynCookieMode, std::string> parse_syncookie_mode(std::string_view text);

// "65536", "64K", "1M", "2G" (also "64k", "64KiB", "64KB"): powers of 1024.
expected<uint64_t, std::string> parse_byte_count(std::string_view text);
// "5%" or "0.05", between 0 and 1.
expected<double, std::string> parse_probability(std::string_view text);

// One line of trace output, without the newline.
using TraceSink = std::function<void(std::string_view line)>;
// A sink writing each line and a newline to `out` (which must outlive the run).
TraceSink trace_to(std::ostream& out);

// The fixed addresses and ports of a run.
inline constexpr wire::Ipv4Address kClientAddress = wire::Ipv4Address::from_octets(10, 0, 0, 1);
inline constexpr wire::Ipv4Address kServerAddress = wire::Ipv4Address::from_octets(10, 0, 0, 2);
inline constexpr uint16_t kServerPort = 9988;
inline constexpr uint16_t kSimultaneousClientPort = 40000;
// The nth connection starts at n x kConnectionStagger.
inline constexpr Duration kConnectionStagger = Duration::micros(10);

struct SimConfig {
  uint32_t connections = 1;
  uint64_t bytes = 64 * 1024;  // per direction per connection
  Direction direction = Direction::kBoth;
  size_t mtu = 1500;  // of the link (0: no limit); both stacks use MSS = mtu - 40
  Duration delay = Duration::millis(10);  // one way
  uint64_t rate_bps = 0;                  // bottleneck of each direction; 0: unlimited
  // The bottleneck's buffer (drop-tail, each direction) in bytes; 0: unbounded. Needs a rate.
  size_t queue_bytes = 0;
  double loss = 0;
  double dup = 0;
  double reorder = 0;
  double corrupt = 0;
  uint64_t seed = 1;
  uint32_t backlog = 128;
  uint64_t flood_syn_per_s = 0;
  OpenMode open = OpenMode::kNormal;
  CloseMode close = CloseMode::kClient;
  bool half_close = false;
  stack::SynCookieMode syncookies = stack::SynCookieMode::kAuto;
  // Send and receive buffer of every connection on both hosts; 0: 256 KiB, less when there
  // are many connections (64 MiB / connections, at least 16 KiB).
  size_t buffer_size = 0;

  TraceSink trace;           // unset: no trace
  std::string pcap_path;     // empty: no capture
  std::string mermaid_path;  // empty: no file
  bool mermaid = false;      // fill SimResult::mermaid even without a file

  // Time series (ConnResult::series) of the first `series_connections` connections, both
  // ends, from the connection's start until it is quiet (both ends CLOSED or in TIME_WAIT):
  // a sample every `sample_interval` of virtual time (at multiples of it), which doubles
  // (every other sample dropped) whenever a series would hold more than `max_samples`.
  // Sampling only reads each connection's status: it changes nothing in the run.
  uint32_t series_connections = 0;
  Duration sample_interval = Duration::millis(1);
  size_t max_samples = 2000;

  // The time-sequence graph (trace/plot.hpp) of one stream of connection `plot_connection`:
  // the client's (c2s) unless the direction is s2c. Its connection is sampled too (the
  // lower panel). plot_path empty: no file; plot: fill SimResult::plot even without one.
  std::string plot_path;
  bool plot = false;
  uint32_t plot_connection = 0;

  // The run stops here, finished or not (a failure: SimResult::timed_out).
  Duration time_limit = Duration::seconds(3600);
};

// A config simulate() would refuse, and why.
std::optional<std::string> validate(const SimConfig& config);

// One sample of one end of a connection: its ConnectionStatus, and what the wire showed.
struct Sample {
  bool present = false;  // the end had the connection (not yet accepted, or released: not)
  std::optional<uint64_t> cwnd;
  std::optional<uint64_t> ssthresh;  // none while "arbitrarily high" (RFC 5681 §3.1)
  uint64_t in_flight = 0;            // the stack's RFC 6675 pipe (FlightSize without SACK)
  // Bytes sent and not yet cumulatively acknowledged: one past the highest sequence number
  // this end has sent (seen on the wire; SYN and FIN count one) minus SND.UNA. Unlike
  // in_flight it counts SACKed and lost bytes.
  uint64_t unacked = 0;
  uint64_t snd_wnd = 0;      // the peer's window, scaled
  Duration srtt;             // zero: no RTT measured yet
  uint64_t retransmits = 0;  // segments retransmitted so far (ConnectionStats)
  uint64_t pacing_rate = 0;  // bytes per second; 0: not pacing
  tcp::RecoveryState recovery = tcp::RecoveryState::kOpen;
};

// Samples of both ends at the same instants.
struct ConnSeries {
  std::vector<Instant> times;
  std::vector<Sample> client;
  std::vector<Sample> server;
};

struct ConnResult {
  uint32_t index = 0;
  tcp::FourTuple tuple;                   // the client's view: local is the client
  std::vector<tcp::State> client_states;  // every state entered, in order
  std::vector<tcp::State> server_states;
  uint64_t bytes_c2s = 0;       // delivered to the server application
  uint64_t bytes_s2c = 0;       // delivered to the client application
  bool intact = false;          // both streams complete and their SHA-256 equal
  bool closed_cleanly = false;  // both ends reached CLOSED without an error
  std::error_code client_error;
  std::error_code server_error;
  std::string failure;               // empty when intact and closed cleanly
  std::optional<ConnSeries> series;  // when sampled (SimConfig::series_connections)
};

struct SimResult {
  bool ok = false;  // intact && closed_cleanly && !timed_out
  uint32_t connections = 0;
  uint64_t bytes_sent = 0;       // application bytes written, all streams
  uint64_t bytes_delivered = 0;  // application bytes read, all streams
  bool intact = false;
  bool closed_cleanly = false;
  bool timed_out = false;
  // Until every connection was CLOSED, in TIME_WAIT or failed: handshakes, data and the
  // FIN exchange, without the 2 MSL of TIME_WAIT. Goodput is measured over this.
  double virtual_seconds = 0;
  double virtual_seconds_total = 0;  // until the run ended (TIME_WAIT included)
  double goodput_mbit = 0;           // bytes_delivered * 8 / virtual_seconds / 1e6
  uint64_t retransmits = 0;          // TcpRetransSegs, both hosts
  stack::Counters counters;          // both hosts summed
  stack::Counters client_counters;
  stack::Counters server_counters;
  dev::QueueCounters c2s;  // the link, client to server
  dev::QueueCounters s2c;
  uint64_t flood_syns = 0;            // SYNs the flood injected
  uint64_t flood_replies_lost = 0;    // server packets to flood hosts, lost
  size_t max_client_connections = 0;  // Stack::connection_count() at its highest
  size_t max_server_connections = 0;
  uint64_t steps = 0;  // event-loop iterations
  std::vector<ConnResult> conns;
  std::string failure;       // the first connection's failure, or why the run stopped
  std::string mermaid;       // when SimConfig::mermaid or mermaid_path
  std::string plot;          // the SVG, when SimConfig::plot or plot_path
  Duration sample_interval;  // of the series, after any doubling (zero: no series)
};

// Runs one simulation. Fails only for a config validate() refuses or an output file that
// cannot be written; a run that goes wrong is a SimResult with ok == false.
expected<SimResult, std::string> simulate(const SimConfig& config);

// One JSON object (one line, no trailing newline); the same run gives the same bytes.
// A sampled connection has "series": {"t_ms": [...], "client": {...}, "server": {...}},
// each end's columns (Sample) "cwnd", "ssthresh", "in_flight", "unacked", "snd_wnd",
// "srtt_ms", "retransmits", "pacing_rate" (bytes/s) and "recovery" ("open", "fast",
// "timeout"), with null where the end had no connection (or no ssthresh, no RTT yet);
// "sample_interval_ms" at the top.
std::string to_json(const SimConfig& config, const SimResult& result);
// The run's parameters on one line: "1 connection, 64K bytes each way, mtu 1500, delay 10 ms,
// rate unlimited, loss 0%, dup 0%, reorder 0%, corrupt 0%, seed 1".
std::string describe_config(const SimConfig& config);
// A readable multi-line summary (ends with a newline).
std::string summary(const SimConfig& config, const SimResult& result);

}  // namespace synack::sim
