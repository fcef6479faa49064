// `synack perf server|client`: a throughput test in the spirit of iperf, on synack's own
// stack behind a TUN interface. One side sends a pattern as fast as the connection takes
// it, the other reads and discards; both print a line per interval (bytes, rate, the
// retransmissions in it, srtt, cwnd, the peer's window) and a final report, or with --json
// one machine-readable object per connection.
//
// Single-threaded, on api::Host: the sockets are non-blocking and their callbacks do the
// I/O; after every loop turn each session checks its deadlines (the next interval line, the
// end of --time, the waits while closing), and the loop's wait is bounded by the earliest
// of them, so the lines come on time whether data flows or not. SIGINT/SIGTERM come through
// a signalfd the loop watches. Time is read from the real clock (EventLoop::clock_now()).
//
// What is measured: the receiver counts the bytes it read; the sender the bytes the peer
// has acknowledged (written minus the send queue), so its rate is what got across, not
// what the send buffer took. A sender's measurement ends when its FIN is acknowledged (so
// every byte is), a receiver's at the peer's FIN or at its own --bytes/--time limit. Then
// the side that has not closed yet shuts down its sending side, waits (briefly, bounded)
// for the peer's FIN, and closes.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "commands.hpp"
#include "device_options.hpp"
#include "signal_watch.hpp"
#include "synack/api/event_loop.hpp"
#include "synack/api/socket.hpp"

namespace synack::cli {

namespace {

// How long a sender waits, after its last byte, for everything to be acknowledged.
constexpr Duration kAckWait = Duration::seconds(10);
// How long a side whose measurement is over waits for the peer's FIN before resetting.
constexpr Duration kFinWait = Duration::seconds(2);
constexpr size_t kChunk = 64 * 1024;

struct PerfOptions {
  DeviceOptions device;
  bool reverse = false;
  double interval_s = 1.0;
  bool json = false;
};

struct ServerOptions : PerfOptions {
  uint16_t port = 0;
  bool once = false;
};

struct ClientOptions : PerfOptions {
  std::string host;
  uint16_t port = 0;
  double time_s = 10.0;
  uint64_t bytes = 0;  // 0: --time decides
  double connect_timeout_s = 0;
};

Duration seconds(double s) {
  return Duration::micros(static_cast<int64_t>(s * 1e6));
}
double to_seconds(Duration d) {
  return static_cast<double>(d.as_micros()) / 1e6;
}
double to_millis(Duration d) {
  return static_cast<double>(d.as_micros()) / 1e3;
}

double bits_per_second(uint64_t bytes, Duration d) {
  if (d.as_micros() <= 0) return 0;
  return static_cast<double>(bytes) * 8.0 / to_seconds(d);
}

std::string human_bytes(uint64_t b) {
  const auto x = static_cast<double>(b);
  if (b >= (uint64_t{1} << 30)) return fmt::format("{:.2f} GiB", x / (1u << 30));
  if (b >= (uint64_t{1} << 20)) return fmt::format("{:.2f} MiB", x / (1u << 20));
  if (b >= (uint64_t{1} << 10)) return fmt::format("{:.2f} KiB", x / (1u << 10));
  return fmt::format("{} B", b);
}

std::string human_rate(double bps) {
  if (bps >= 1e9) return fmt::format("{:.3f} Gbit/s", bps / 1e9);
  if (bps >= 1e6) return fmt::format("{:.2f} Mbit/s", bps / 1e6);
  return fmt::format("{:.2f} kbit/s", bps / 1e3);
}

std::string cwnd_text(std::optional<uint32_t> cwnd) {
  return cwnd ? std::to_string(*cwnd) : std::string("-");
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out + '"';
}

// A number JSON accepts (no inf or nan).
std::string json_number(double x) {
  return std::isfinite(x) ? fmt::format("{}", x) : "0";
}

struct Limits {
  std::optional<uint64_t> bytes;
  std::optional<Duration> time;
};

struct SessionSetup {
  bool client = false;
  bool sending = false;
  Limits limits;
  Duration interval = Duration::seconds(1);
  bool json = false;
  uint64_t id = 1;
};

struct IntervalRecord {
  Duration from;
  Duration to;
  uint64_t bytes = 0;
  uint64_t retransmits = 0;
  Duration srtt;
  std::optional<uint32_t> cwnd;
  uint32_t snd_wnd = 0;
};

// One connection's measurement, from the established connection to its close.
class Session {
 public:
  Session(api::Socket socket, SessionSetup setup)
      : socket_(std::move(socket)), setup_(setup), pattern_(kChunk) {
    for (size_t i = 0; i < pattern_.size(); ++i)
      pattern_[i] = static_cast<std::byte>('0' + i % 64);
    auto local = socket_.local_endpoint();
    auto peer = socket_.peer_endpoint();
    local_ = local ? local->to_string() : "?";
    peer_ = peer ? peer->to_string() : "?";
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The connection is established: the clock starts.
  void start(Instant now) {
    start_ = now;
    last_tick_ = now;
    next_tick_ = now + setup_.interval;
    if (auto st = socket_.status()) status_ = *st;
    if (setup_.limits.time) time_deadline_ = now + *setup_.limits.time;
    if (!setup_.json) print_banner();
    socket_.set_callbacks({
        .on_readable = [this] { drain(api::EventLoop::clock_now()); },
        .on_writable = [this] { fill(api::EventLoop::clock_now()); },
        .on_error = [this](std::error_code ec) { note_error(ec); },
        .on_closed = [this](std::error_code ec) { note_error(ec); },
    });
    drain(now);
    fill(now);
  }

  // After every loop turn: errors, the interval line, limits, the close.
  void poll(Instant now) {
    if (phase_ == Phase::kDone) return;
    refresh_status();
    // The server's --reverse run ends when the peer closes, with what it acknowledged; a
    // RST for the data still in flight may follow, and is no failure.
    if (phase_ == Phase::kRunning && setup_.sending && !setup_.client && peer_eof_) {
      end_measurement(now);
    }
    if (error_) {
      if (phase_ == Phase::kRunning) {
        fail(now, error_.message());
      } else {
        if (!setup_.json) {
          fmt::print(stderr, "synack perf: [{}] {}: {} (after the measurement; ignored)\n",
                     setup_.id, peer_, error_.message());
        }
        finish(/*abort=*/true);
      }
      return;
    }
    if (phase_ == Phase::kRunning) {
      if (now >= next_tick_) {
        record_interval(now);
        // On the grid of whole intervals from the start, even after a stall.
        while (next_tick_ <= now)
          next_tick_ = next_tick_ + setup_.interval;
      }
      const bool time_up = time_deadline_ && now >= *time_deadline_;
      if (setup_.sending) {
        if (!send_closed_ && time_up) end_sending(now);
        if (send_closed_ && fin_acknowledged()) {
          end_measurement(now);
        } else if (send_closed_ && now >= ack_deadline_) {
          fail(now, fmt::format("the peer did not acknowledge the last {} bytes within {} s",
                                written_ - acked(), to_seconds(kAckWait)));
          return;
        }
      } else if (peer_eof_ || time_up) {
        end_measurement(now);
      }
    }
    if (phase_ == Phase::kEnded) {
      if (!send_closed_) end_sending(now);
      if (error_) return;  // the next poll reports it
      const auto state = socket_.state();
      const bool closed =
          !state || *state == tcp::State::kTimeWait || *state == tcp::State::kClosed;
      if (peer_eof_ && closed) {
        finish(/*abort=*/false);
      } else if (now >= fin_deadline_) {
        if (!setup_.json) {
          fmt::print(stderr, "synack perf: [{}] {}: {} within {} s; resetting\n", setup_.id, peer_,
                     peer_eof_ ? "our FIN was not acknowledged" : "the peer did not close",
                     to_seconds(kFinWait));
        }
        finish(/*abort=*/true);
      }
    }
  }

  // SIGINT: end the measurement now (the sender: stop sending; its report waits for the
  // acknowledgements as usual). A second interrupt (`hard`) resets the connection.
  void interrupt(Instant now, bool hard) {
    if (phase_ == Phase::kDone) return;
    if (hard) {
      if (phase_ == Phase::kRunning) fail(now, "interrupted");
      finish(/*abort=*/true);
      return;
    }
    if (phase_ != Phase::kRunning) return;
    if (setup_.sending && setup_.client) {
      if (!send_closed_) end_sending(now);
    } else {
      end_measurement(now);
    }
  }

  // The earliest time poll() has something to do without any I/O.
  std::optional<Instant> next_deadline() const {
    if (phase_ == Phase::kDone) return std::nullopt;
    if (phase_ == Phase::kEnded) return fin_deadline_;
    Instant d = next_tick_;
    if (time_deadline_ && !send_closed_) d = std::min(d, *time_deadline_);
    if (send_closed_) d = std::min(d, ack_deadline_);
    return d;
  }

  bool done() const { return phase_ == Phase::kDone; }
  bool failed() const { return failed_; }

 private:
  enum class Phase { kRunning, kEnded, kDone };

  // The first error stands, except that the connection's own (ECONNRESET, ETIMEDOUT...)
  // replaces the EPIPE a send() meets when the connection closed in the same turn but its
  // error event has not been dispatched yet.
  void note_error(std::error_code ec) {
    if (!ec) return;
    if (!error_ || (error_ == std::errc::broken_pipe && ec != std::errc::broken_pipe)) error_ = ec;
  }

  void refresh_status() {
    if (auto st = socket_.status()) status_ = *st;
  }

  // The sender's measure: what the peer has acknowledged.
  uint64_t acked() const {
    const uint64_t queued = status_.send_queue;
    return written_ > queued ? written_ - queued : 0;
  }
  uint64_t measured() const { return setup_.sending ? acked() : counted_; }

  bool fin_acknowledged() const {
    const auto state = socket_.state();
    return !state || *state == tcp::State::kFinWait2 || *state == tcp::State::kTimeWait ||
           *state == tcp::State::kClosed;
  }

  void fill(Instant now) {
    if (!setup_.sending || send_closed_ || phase_ != Phase::kRunning || in_fill_) return;
    if (!setup_.client && peer_eof_) return;  // the server's --reverse run is over
    in_fill_ = true;
    while (true) {
      size_t chunk = pattern_.size();
      if (setup_.limits.bytes) {
        chunk = static_cast<size_t>(std::min<uint64_t>(chunk, *setup_.limits.bytes - written_));
      }
      if (chunk == 0 || (time_deadline_ && now >= *time_deadline_)) {
        end_sending(now);
        break;
      }
      auto n = socket_.send(wire::Bytes(pattern_.data(), chunk));
      if (!n) {
        if (n.error() != std::errc::resource_unavailable_try_again) note_error(n.error());
        break;
      }
      written_ += *n;
      if (*n < chunk) break;
    }
    in_fill_ = false;
  }

  void drain(Instant now) {
    if (phase_ == Phase::kDone || in_drain_) return;
    in_drain_ = true;
    std::array<std::byte, kChunk> buf;
    while (true) {
      size_t want = buf.size();
      const bool counting = !setup_.sending && phase_ == Phase::kRunning;
      if (counting && setup_.limits.bytes) {
        want = static_cast<size_t>(std::min<uint64_t>(want, *setup_.limits.bytes - counted_));
      }
      auto n = socket_.recv(wire::MutableBytes(buf.data(), want));
      if (!n) {
        if (n.error() != std::errc::resource_unavailable_try_again) note_error(n.error());
        break;
      }
      if (*n == 0) {
        peer_eof_ = true;
        break;
      }
      if (counting) {
        counted_ += *n;
        if (setup_.limits.bytes && counted_ >= *setup_.limits.bytes) end_measurement(now);
      }
    }
    in_drain_ = false;
  }

  // No more data from us: a FIN after what is queued.
  void end_sending(Instant now) {
    if (send_closed_) return;
    send_closed_ = true;
    ack_deadline_ = now + kAckWait;
    if (auto ec = socket_.shutdown(api::ShutdownHow::kWrite)) note_error(ec);
  }

  // `quiet`: keep it for --json, but print no line (a sliver at the end).
  void record_interval(Instant now, bool quiet = false) {
    const uint64_t bytes = measured();
    const uint64_t retrans = status_.stats.retransmitted_segments;
    IntervalRecord r{
        .from = last_tick_ - start_,
        .to = now - start_,
        .bytes = bytes - last_bytes_,
        .retransmits = retrans - last_retrans_,
        .srtt = status_.srtt,
        .cwnd = status_.cwnd,
        .snd_wnd = status_.snd_wnd,
    };
    last_tick_ = now;
    last_bytes_ = bytes;
    last_retrans_ = retrans;
    if (!setup_.json && !quiet) print_row(r, "");
    intervals_.push_back(r);
  }

  void end_measurement(Instant now) {
    if (phase_ != Phase::kRunning) return;
    refresh_status();
    // The last, partial interval, unless it is empty; no line for a sliver (under a tenth
    // of an interval: the sender's wait for the last acknowledgements) after full ones.
    if (now - last_tick_ >= Duration::millis(1) || measured() != last_bytes_) {
      const bool sliver = !intervals_.empty() && (now - last_tick_) * 10 < setup_.interval;
      record_interval(now, sliver);
    }
    end_ = now;
    phase_ = Phase::kEnded;
    fin_deadline_ = now + kFinWait;
    report(/*complete=*/true, "");
  }

  void fail(Instant now, const std::string& why) {
    fmt::print(stderr, "synack perf: [{}] {}: {} (after {} bytes in {:.3f} s)\n", setup_.id, peer_,
               why, measured(), to_seconds(now - start_));
    failed_ = true;
    if (phase_ == Phase::kRunning) {
      end_ = now;
      report(/*complete=*/false, why);
    }
    finish(/*abort=*/true);
  }

  void finish(bool abort) {
    if (phase_ == Phase::kDone) return;
    phase_ = Phase::kDone;
    socket_.set_callbacks({});
    if (abort) {
      (void)socket_.abort();
    } else {
      (void)socket_.close();
    }
    std::fflush(stdout);
  }

  // --- Output ---------------------------------------------------------------------------

  void print_banner() {
    std::string opts = fmt::format("mss {}", status_.snd_mss);
    if (status_.snd_wscale != 0 || status_.rcv_wscale != 0) {
      opts += fmt::format(", wscale {}/{}", status_.snd_wscale, status_.rcv_wscale);
    }
    if (status_.sack) opts += ", sack";
    if (status_.timestamps) opts += ", timestamps";
    std::string what = setup_.sending ? "sending" : "receiving";
    if (setup_.limits.bytes) {
      what += fmt::format(" {} bytes", *setup_.limits.bytes);
    } else if (setup_.limits.time) {
      what += fmt::format(" for {} s", to_seconds(*setup_.limits.time));
    } else {
      what += " until the peer closes";
    }
    fmt::print("[{:>2}] local {}, peer {}: {} ({})\n", setup_.id, local_, peer_, what, opts);
    fmt::print(
        "[ID]  interval (s)      transfer         bitrate  retr       srtt       cwnd     "
        "snd_wnd\n");
    std::fflush(stdout);
  }

  void print_row(const IntervalRecord& r, std::string_view tail) {
    fmt::print("[{:>2}] {:>6.2f}-{:<6.2f} {:>12} {:>15} {:>5} {:>7.3f} ms {:>10} {:>11}{}\n",
               setup_.id, to_seconds(r.from), to_seconds(r.to), human_bytes(r.bytes),
               human_rate(bits_per_second(r.bytes, r.to - r.from)), r.retransmits,
               to_millis(r.srtt), cwnd_text(r.cwnd), r.snd_wnd, tail);
    std::fflush(stdout);
  }

  void report(bool complete, const std::string& error) {
    const uint64_t bytes = measured();
    const Duration elapsed = end_ - start_;
    const double bps = bits_per_second(bytes, elapsed);
    const uint64_t retrans = status_.stats.retransmitted_segments;
    if (setup_.json) {
      std::string intervals;
      for (const auto& r : intervals_) {
        if (!intervals.empty()) intervals += ',';
        intervals += fmt::format(
            "{{\"start\":{},\"end\":{},\"bytes\":{},\"bits_per_second\":{},\"retransmits\":{},"
            "\"srtt_ms\":{},\"cwnd\":{},\"snd_wnd\":{}}}",
            json_number(to_seconds(r.from)), json_number(to_seconds(r.to)), r.bytes,
            json_number(bits_per_second(r.bytes, r.to - r.from)), r.retransmits,
            json_number(to_millis(r.srtt)), r.cwnd ? std::to_string(*r.cwnd) : "null", r.snd_wnd);
      }
      fmt::print(
          "{{\"role\":\"{}\",\"direction\":\"{}\",\"local\":{},\"remote\":{},\"complete\":{},"
          "\"error\":{},\"bytes\":{},\"seconds\":{},\"bits_per_second\":{},\"retransmits\":{},"
          "\"retransmitted_bytes\":{},\"rto_timeouts\":{},\"srtt_ms\":{},\"rttvar_ms\":{},"
          "\"rto_ms\":{},\"cwnd\":{},\"snd_wnd\":{},\"snd_mss\":{},\"segments_out\":{},"
          "\"segments_in\":{},\"fast_recoveries\":{},\"rack_losses\":{},\"tlp_probes\":{},"
          "\"spurious_recoveries\":{},\"app_limited_acks\":{},\"intervals\":[{}]}}\n",
          setup_.client ? "client" : "server", setup_.sending ? "send" : "receive",
          json_string(local_), json_string(peer_), complete ? "true" : "false",
          error.empty() ? std::string("null") : json_string(error), bytes,
          json_number(to_seconds(elapsed)), json_number(bps), retrans,
          status_.stats.retransmitted_bytes, status_.stats.timeouts,
          json_number(to_millis(status_.srtt)), json_number(to_millis(status_.rttvar)),
          json_number(to_millis(status_.rto)),
          status_.cwnd ? std::to_string(*status_.cwnd) : "null", status_.snd_wnd, status_.snd_mss,
          status_.stats.segments_out, status_.stats.segments_in, status_.stats.fast_recoveries,
          status_.stats.rack_losses, status_.stats.tlp_probes, status_.stats.spurious_recoveries,
          status_.stats.app_limited_acks, intervals);
    } else {
      IntervalRecord total{
          .from = Duration(),
          .to = elapsed,
          .bytes = bytes,
          .retransmits = retrans,
          .srtt = status_.srtt,
          .cwnd = status_.cwnd,
          .snd_wnd = status_.snd_wnd,
      };
      fmt::print(
          "[{:>2}] - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - "
          "- - - - - - -\n",
          setup_.id);
      print_row(total, setup_.sending ? "  sender" : "  receiver");
      fmt::print("[{:>2}] {} {} bytes in {:.3f} s: {}, {} retransmits, srtt {:.3f} ms, cwnd {}{}\n",
                 setup_.id, setup_.sending ? "sent" : "received", bytes, to_seconds(elapsed),
                 human_rate(bps), retrans, to_millis(status_.srtt), cwnd_text(status_.cwnd),
                 complete ? "" : " (incomplete)");
    }
    std::fflush(stdout);
  }

  api::Socket socket_;
  SessionSetup setup_;
  std::vector<std::byte> pattern_;
  std::string local_;
  std::string peer_;
  tcp::ConnectionStatus status_;  // the latest snapshot

  Phase phase_ = Phase::kRunning;
  Instant start_;
  Instant end_;
  Instant last_tick_;
  Instant next_tick_;
  std::optional<Instant> time_deadline_;
  Instant ack_deadline_;
  Instant fin_deadline_;
  uint64_t written_ = 0;  // bytes the socket took
  uint64_t counted_ = 0;  // bytes read within the measurement
  uint64_t last_bytes_ = 0;
  uint64_t last_retrans_ = 0;
  std::vector<IntervalRecord> intervals_;
  bool send_closed_ = false;
  bool peer_eof_ = false;
  bool in_fill_ = false;
  bool in_drain_ = false;
  bool failed_ = false;
  std::error_code error_;
};

std::optional<Duration> until(std::optional<Instant> deadline, Instant now) {
  if (!deadline) return std::nullopt;
  return *deadline > now ? *deadline - now : Duration();
}

// --- server -----------------------------------------------------------------------------

int run_server(const ServerOptions& options) {
  SignalWatch signals;
  if (auto ec = signals.block()) {
    fmt::print(stderr, "synack perf: signals: {}\n", ec.message());
    return 1;
  }
  auto opened = open_device(options.device);
  if (!opened) {
    fmt::print(stderr, "synack perf: {}\n", opened.error());
    return 1;
  }
  api::HostConfig config;
  apply_device_options(config, *opened);
  api::Host host(config);
  host.add_device(std::move(opened->device));
  auto watching = signals.watch(host.loop());
  if (opened->tap) host.loop().set_tap(&*opened->tap);
  auto control = start_control(host, "perf");

  std::map<uint64_t, std::unique_ptr<Session>> sessions;
  uint64_t next_id = 1;
  bool accepting = true;
  int once_result = -1;  // --once: the first session's exit code, when it is over

  api::Socket listener = host.socket();
  const tcp::Endpoint local{opened->address, options.port};
  auto accept_all = [&] {
    while (accepting) {
      auto accepted = listener.accept();
      if (!accepted) return;
      SessionSetup setup{
          .client = false,
          .sending = options.reverse,
          .limits = {},
          .interval = seconds(options.interval_s),
          .json = options.json,
          .id = next_id,
      };
      auto session = std::make_unique<Session>(std::move(*accepted), setup);
      session->start(api::EventLoop::clock_now());
      sessions.emplace(next_id++, std::move(session));
      if (options.once) {
        accepting = false;
        (void)listener.close();
      }
    }
  };
  std::error_code ec = listener.bind(local);
  if (!ec) ec = listener.listen(16);
  if (ec) {
    fmt::print(stderr, "synack perf: listen on {}: {}\n", local.to_string(), ec.message());
    return 1;
  }
  listener.set_callbacks({.on_readable = accept_all});
  fmt::print(options.json ? stderr : stdout,
             "synack perf: server on {}, {} ({}; kernel side {}/{})\n", local.to_string(),
             options.reverse ? "sending" : "receiving", opened->name,
             opened->kernel_address.to_string(), opened->prefix_len);
  std::fflush(options.json ? stderr : stdout);

  int handled_signals = 0;
  while (once_result < 0) {
    std::optional<Instant> deadline;
    for (const auto& [id, s] : sessions) {
      auto d = s->next_deadline();
      if (d && (!deadline || *d < *deadline)) deadline = d;
    }
    host.run_once(until(deadline, api::EventLoop::clock_now()));
    const Instant now = api::EventLoop::clock_now();
    if (signals.count() > handled_signals) {
      handled_signals = signals.count();
      for (auto& [id, s] : sessions)
        s->interrupt(now, /*hard=*/true);
      break;
    }
    for (auto it = sessions.begin(); it != sessions.end();) {
      it->second->poll(now);
      if (it->second->done()) {
        if (options.once) once_result = it->second->failed() ? 1 : 0;
        it = sessions.erase(it);
      } else {
        ++it;
      }
    }
  }
  sessions.clear();
  if (listener.valid()) (void)listener.close();
  if (!options.json) fmt::print("synack perf: server stopped\n");
  std::fflush(stdout);
  if (opened->tap) (void)opened->tap->flush();
  return once_result > 0 ? 1 : 0;
}

// --- client -----------------------------------------------------------------------------

int run_client(const ClientOptions& options) {
  auto remote_addr = wire::Ipv4Address::parse(options.host);
  if (!remote_addr) {
    fmt::print(stderr, "synack perf: \"{}\": expected an IPv4 address A.B.C.D\n", options.host);
    return 1;
  }
  SignalWatch signals;
  if (auto ec = signals.block()) {
    fmt::print(stderr, "synack perf: signals: {}\n", ec.message());
    return 1;
  }
  auto opened = open_device(options.device);
  if (!opened) {
    fmt::print(stderr, "synack perf: {}\n", opened.error());
    return 1;
  }
  api::HostConfig config;
  apply_device_options(config, *opened);
  api::Host host(config);
  host.add_device(std::move(opened->device));
  auto watching = signals.watch(host.loop());
  if (opened->tap) host.loop().set_tap(&*opened->tap);
  auto control = start_control(host, "perf");
  auto flush_tap = [&] {
    if (opened->tap) (void)opened->tap->flush();
  };

  const tcp::Endpoint remote{*remote_addr, options.port};
  api::Socket socket = host.socket();
  bool connected = false;
  std::error_code error;
  socket.set_callbacks({
      .on_connected = [&] { connected = true; },
      .on_error = [&](std::error_code ec) { error = ec; },
      .on_closed =
          [&](std::error_code ec) {
            if (!error) error = ec ? ec : std::make_error_code(std::errc::connection_aborted);
          },
  });
  if (auto ec = socket.connect(remote); ec && ec != std::errc::operation_in_progress) {
    error = ec;
  }
  std::optional<Instant> connect_deadline;
  if (options.connect_timeout_s > 0) {
    connect_deadline = api::EventLoop::clock_now() + seconds(options.connect_timeout_s);
  }
  while (!connected && !error) {
    host.run_once(until(connect_deadline, api::EventLoop::clock_now()));
    if (signals.count() > 0) {
      error = std::make_error_code(std::errc::interrupted);
    } else if (!connected && connect_deadline && api::EventLoop::clock_now() >= *connect_deadline) {
      error = std::make_error_code(std::errc::timed_out);
    }
  }
  if (!connected || error) {  // refused, timed out, or reset as soon as it was established
    fmt::print(stderr, "synack perf: connect to {}: {}\n", remote.to_string(), error.message());
    (void)socket.abort();
    flush_tap();
    return 1;
  }

  Limits limits;
  if (options.bytes > 0) {
    limits.bytes = options.bytes;
  } else {
    limits.time = seconds(options.time_s);
  }
  SessionSetup setup{
      .client = true,
      .sending = !options.reverse,
      .limits = limits,
      .interval = seconds(options.interval_s),
      .json = options.json,
      .id = 1,
  };
  auto session = std::make_unique<Session>(std::move(socket), setup);
  session->start(api::EventLoop::clock_now());
  int handled_signals = 0;
  while (!session->done()) {
    session->poll(api::EventLoop::clock_now());
    if (session->done()) break;
    host.run_once(until(session->next_deadline(), api::EventLoop::clock_now()));
    if (signals.count() > handled_signals) {
      session->interrupt(api::EventLoop::clock_now(), /*hard=*/handled_signals > 0);
      handled_signals = signals.count();
    }
  }
  const int code = session->failed() ? 1 : 0;
  session.reset();
  flush_tap();
  return code;
}

void add_common_options(CLI::App& cmd, PerfOptions& options) {
  add_device_options(cmd, options.device);
  cmd.add_option("--interval", options.interval_s, "seconds between the interval lines")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  cmd.add_flag("--json", options.json,
               "print only a JSON object per connection (one line) with the final report and "
               "the intervals");
}

}  // namespace

void register_perf_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand(
      "perf",
      "Measure throughput over synack's stack behind a TUN interface, like iperf: `perf "
      "server` on one side, `perf client` (or a kernel tool such as socat) on the other.\n"
      "Needs CAP_NET_ADMIN (root, or inside `unshare -rn`).");
  cmd->require_subcommand(1);

  auto server = std::make_shared<ServerOptions>();
  CLI::App* s = cmd->add_subcommand(
      "server",
      "Accept connections and read and discard everything (with --reverse: send a pattern "
      "until the peer closes); a line per interval and a report per connection. Runs until "
      "SIGINT/SIGTERM, or with --once until the first connection is over.");
  add_common_options(*s, *server);
  s->add_option("--port", server->port, "the port to listen on")
      ->required()
      ->check(CLI::Range(1, 65535));
  s->add_flag("--reverse", server->reverse, "send instead of receiving");
  s->add_flag("--once", server->once, "exit after the first connection is over");
  s->callback([server, &exit_code] { exit_code = run_server(*server); });

  auto client = std::make_shared<ClientOptions>();
  CLI::App* c = cmd->add_subcommand(
      "client",
      "Connect to HOST PORT and send (with --reverse: receive) for --time seconds or --bytes "
      "bytes, then shut down the sending side, wait for the peer's FIN, and report.");
  add_common_options(*c, *client);
  c->add_option("host", client->host, "the peer's IPv4 address")->required();
  c->add_option("port", client->port, "the peer's port")->required()->check(CLI::Range(1, 65535));
  CLI::Option* time = c->add_option("--time,-t", client->time_s, "seconds to run")
                          ->check(CLI::Range(0.1, 86400.0))
                          ->capture_default_str();
  c->add_option("--bytes,-n", client->bytes,
                "bytes to transfer instead of a time (suffixes K, M, G: powers of 1024)")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 50))
      ->excludes(time);
  c->add_flag("--reverse,-R", client->reverse, "receive (the server sends)");
  c->add_option("--connect-timeout", client->connect_timeout_s,
                "seconds to wait for the handshake (default: the stack's SYN retries)")
      ->check(CLI::Range(0.1, 600.0));
  c->callback([client, &exit_code] { exit_code = run_client(*client); });
}

}  // namespace synack::cli
