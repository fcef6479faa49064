#include "synack/sim/simulator.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <unordered_map>
#include <utility>

#include "synack/dev/mem_link.hpp"
#include "synack/dev/pcap_tap.hpp"
#include "synack/trace/mermaid.hpp"
#include "synack/trace/plot.hpp"
#include "synack/trace/tcpdump.hpp"
#include "synack/wire/ipv4.hpp"
#include "synack/wire/tcp.hpp"

namespace synack::sim {

using tcp::State;

// --- Names and CLI forms ------------------------------------------------------------------

std::string_view to_string(Direction d) {
  switch (d) {
    case Direction::kBoth:
      return "both";
    case Direction::kClientToServer:
      return "c2s";
    case Direction::kServerToClient:
      return "s2c";
  }
  return "?";
}

std::string_view to_string(OpenMode m) {
  return m == OpenMode::kNormal ? "normal" : "simultaneous";
}

std::string_view to_string(CloseMode m) {
  switch (m) {
    case CloseMode::kClient:
      return "client";
    case CloseMode::kServer:
      return "server";
    case CloseMode::kSimultaneous:
      return "simultaneous";
  }
  return "?";
}

std::string_view to_string(stack::SynCookieMode m) {
  switch (m) {
    case stack::SynCookieMode::kOff:
      return "off";
    case stack::SynCookieMode::kAuto:
      return "auto";
    case stack::SynCookieMode::kOn:
      return "on";
  }
  return "?";
}

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

template <class E, size_t N>
expected<E, std::string> parse_choice(std::string_view text, std::string_view what,
                                      const std::array<E, N>& choices) {
  std::string names;
  for (E c : choices) {
    if (iequals(text, to_string(c))) return c;
    names += names.empty() ? "" : ", ";
    names += to_string(c);
  }
  return unexpected(fmt::format("unknown {} \"{}\" (one of {})", what, text, names));
}

}  // namespace

expected<Direction, std::string> parse_direction(std::string_view text) {
  return parse_choice(
      text, "direction",
      std::array{Direction::kBoth, Direction::kClientToServer, Direction::kServerToClient});
}

expected<OpenMode, std::string> parse_open_mode(std::string_view text) {
  return parse_choice(text, "open mode", std::array{OpenMode::kNormal, OpenMode::kSimultaneous});
}

expected<CloseMode, std::string> parse_close_mode(std::string_view text) {
  return parse_choice(text, "close mode",
                      std::array{CloseMode::kClient, CloseMode::kServer, CloseMode::kSimultaneous});
}

expected<stack::SynCookieMode, std::string> parse_syncookie_mode(std::string_view text) {
  return parse_choice(text, "syncookies mode",
                      std::array{stack::SynCookieMode::kOff, stack::SynCookieMode::kAuto,
                                 stack::SynCookieMode::kOn});
}

expected<uint64_t, std::string> parse_byte_count(std::string_view text) {
  const auto bad = [&] {
    return unexpected(fmt::format(
        "bad byte count \"{}\": expected a whole number with an optional K, M or G suffix", text));
  };
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end == text.data()) return bad();
  std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  unsigned shift = 0;
  if (!unit.empty()) {
    switch (std::toupper(static_cast<unsigned char>(unit.front()))) {
      case 'K':
        shift = 10;
        break;
      case 'M':
        shift = 20;
        break;
      case 'G':
        shift = 30;
        break;
      default:
        if (!iequals(unit, "B")) return bad();
        unit = {};
        break;
    }
    if (!unit.empty()) unit.remove_prefix(1);
    if (!unit.empty() && !iequals(unit, "B") && !iequals(unit, "iB")) return bad();
  }
  if (shift > 0 && n > (UINT64_MAX >> shift)) {
    return unexpected(fmt::format("byte count \"{}\" is too large", text));
  }
  return n << shift;
}

expected<double, std::string> parse_probability(std::string_view text) {
  const bool percent = !text.empty() && text.back() == '%';
  const std::string_view number = percent ? text.substr(0, text.size() - 1) : text;
  double v = 0;
  const auto [end, ec] =
      std::from_chars(number.data(), number.data() + number.size(), v, std::chars_format::fixed);
  if (number.empty() || ec != std::errc() || end != number.data() + number.size() ||
      !std::isfinite(v) || v < 0) {
    return unexpected(fmt::format(
        "bad probability \"{}\": expected a percentage (5%) or a fraction (0.05)", text));
  }
  if (percent) v /= 100;
  if (v > 1) return unexpected(fmt::format("bad probability \"{}\": at most 100%", text));
  return v;
}

TraceSink trace_to(std::ostream& out) {
  return [&out](std::string_view line) {
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
    out.put('\n');
  };
}

std::optional<std::string> validate(const SimConfig& c) {
  if (c.connections == 0) return "at least one connection";
  if (c.open == OpenMode::kSimultaneous && c.connections != 1) {
    return "a simultaneous open is a single connection (--conns 1)";
  }
  if (c.connections > 60000) return "at most 60000 connections (the client's ephemeral ports)";
  if (c.mtu != 0 && (c.mtu < 128 || c.mtu > 65535)) return "the MTU is 0 (no limit) or 128..65535";
  if (c.queue_bytes > 0 && c.rate_bps == 0) return "a bottleneck queue needs a rate";
  if (c.delay < Duration{} || c.delay > Duration::seconds(86400)) {
    return "the one-way delay is between 0 and one day";
  }
  for (double p : {c.loss, c.dup, c.reorder, c.corrupt}) {
    if (!(p >= 0 && p <= 1)) return "probabilities are between 0 and 1";
  }
  if (c.loss >= 0.5 || c.corrupt >= 0.5) {
    return "loss and corruption below 50% (nothing would finish in reasonable time)";
  }
  if (c.backlog == 0) return "the backlog is at least 1";
  if (c.half_close && c.close != CloseMode::kClient) {
    return "a half-close is the client closing first (--close client)";
  }
  if (c.flood_syn_per_s > 10'000'000) return "at most 10M flood SYNs per second";
  if (c.time_limit <= Duration{}) return "the time limit is positive";
  if ((c.series_connections > 0 || c.plot || !c.plot_path.empty()) &&
      (c.sample_interval < Duration::micros(1) || c.sample_interval > Duration::seconds(3600))) {
    return "the sample interval is between 1 us and one hour";
  }
  if (c.max_samples < 2 || c.max_samples > 1'000'000) {
    return "at most 2 to 1000000 samples per series";
  }
  if ((c.plot || !c.plot_path.empty()) && c.plot_connection >= c.connections) {
    return "the plotted connection is one of the connections (0 .. conns - 1)";
  }
  return std::nullopt;
}

namespace {

// --- Streams -------------------------------------------------------------------------------

// The bytes of one stream: byte i is byte i % 8 of a SplitMix64-style mix of (key, i / 8),
// so any range can be generated without generating what comes before it.
void fill_stream(uint64_t key, uint64_t offset, std::span<std::byte> out) {
  size_t i = 0;
  while (i < out.size()) {
    const uint64_t pos = offset + i;
    uint64_t z = key + (pos / 8 + 1) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    for (uint64_t b = pos % 8; b < 8 && i < out.size(); ++b, ++i) {
      out[i] = std::byte{static_cast<uint8_t>(z >> (8 * b))};
    }
  }
}

class Sha256 {
 public:
  Sha256() { crypto_hash_sha256_init(&state_); }
  void update(wire::Bytes b) {
    crypto_hash_sha256_update(&state_, reinterpret_cast<const unsigned char*>(b.data()), b.size());
  }
  std::array<uint8_t, crypto_hash_sha256_BYTES> digest() {
    std::array<uint8_t, crypto_hash_sha256_BYTES> out{};
    crypto_hash_sha256_final(&state_, out.data());
    return out;
  }

 private:
  crypto_hash_sha256_state state_;
};

// One direction of one connection: what the sender wrote and what the receiver read.
struct Stream {
  uint64_t key = 0;
  uint64_t total = 0;
  uint64_t written = 0;
  uint64_t read = 0;
  bool overflow = false;  // the receiver read more than was sent
  Sha256 tx;
  Sha256 rx;
};

enum class Side : uint8_t { kClient, kServer };

std::string_view side_name(Side s) {
  return s == Side::kClient ? "client" : "server";
}

// One end of a connection and its application.
struct End {
  std::optional<stack::ConnId> id;
  std::vector<State> states;
  State state = State::kClosed;
  std::error_code error;
  std::string_view error_cause;
  bool ready = false;  // the application has the connection (client: connect(); server: accept())
  bool app_closed = false;
  bool reached_closed = false;
  bool released = false;
  bool dirty = false;
  // One past the highest sequence number this end has sent, as seen on the wire (kept
  // for sampled connections only).
  std::optional<wire::SeqNum> snd_max;
};

struct Conn {
  uint32_t index = 0;
  Instant start;
  tcp::FourTuple tuple;  // the client's view
  End client;
  End server;
  Stream c2s;
  Stream s2c;
  bool quiet = false;                // both ends CLOSED or in TIME_WAIT
  bool finished = false;             // both ends CLOSED
  std::optional<ConnSeries> series;  // sampled: from its start until quiet
  bool sampling_done = false;
};

uint64_t key_of(stack::ConnId id) {
  return (uint64_t{id.slot} << 32) | id.generation;
}

// What became of one packet on the link, from the queue's counters around its push.
struct Fate {
  bool lost = false;
  bool too_big = false;
  bool queue_full = false;  // dropped at the bottleneck's full buffer
  bool duplicated = false;
  uint64_t reordered = 0;
  uint64_t corrupted = 0;
  bool no_route = false;  // addressed to a host that does not exist (the flood's)

  bool arrives() const {
    const uint64_t copies = duplicated ? 2 : 1;
    return !lost && !too_big && !queue_full && !no_route && corrupted < copies;
  }
};

Fate fate_of(const dev::QueueCounters& before, const dev::QueueCounters& after) {
  return Fate{.lost = after.lost != before.lost,
              .too_big = after.dropped_mtu != before.dropped_mtu,
              .queue_full = after.dropped_queue != before.dropped_queue,
              .duplicated = after.duplicated != before.duplicated,
              .reordered = after.reordered - before.reordered,
              .corrupted = after.corrupted - before.corrupted};
}

std::string describe(const Fate& f) {
  std::string s;
  const auto add = [&s](std::string_view what) {
    if (!s.empty()) s += ", ";
    s += what;
  };
  if (f.no_route) add("lost (no such host)");
  if (f.too_big) add("dropped (larger than the MTU)");
  if (f.queue_full) add("dropped (the bottleneck's queue is full)");
  if (f.lost) add("lost");
  if (f.duplicated) add("duplicated");
  if (f.reordered == 1) add(f.duplicated ? "one copy delayed (reordered)" : "delayed (reordered)");
  if (f.reordered > 1) add("both copies delayed (reordered)");
  if (f.corrupted == 1) {
    add(f.duplicated ? "one copy corrupted (dropped by its checksum)"
                     : "corrupted (dropped by its checksum)");
  }
  if (f.corrupted > 1) add("both copies corrupted (dropped by their checksum)");
  return s;
}

// `tcpdump -ttttt` time: since the start of the run, HH:MM:SS.uuuuuu.
void format_virtual_time(fmt::memory_buffer& out, Instant t) {
  const int64_t us = t.as_micros();
  fmt::format_to(std::back_inserter(out), "{:02}:{:02}:{:02}.{:06}", us / 3'600'000'000,
                 us / 60'000'000 % 60, us / 1'000'000 % 60, us % 1'000'000);
}

// --- The sequence diagram --------------------------------------------------------------------

// The first connection drawn as TCP tutorials draw it: an arrow per segment with relative
// sequence numbers, a note per state change. Mermaid messages may hold colons, equals signs
// and parentheses; nothing here writes a semicolon or a '#', which Mermaid would take apart.
class Mermaid {
 public:
  void begin(OpenMode open) {
    out_ = "sequenceDiagram\n    participant Client\n    participant Server\n";
    if (open == OpenMode::kNormal) out_ += "    Note over Server: LISTEN\n";
  }

  void note(Side side, State s) {
    out_ += fmt::format("    Note over {}: {}\n", who(side), tcp::to_string(s));
  }

  void segment(Side from, const wire::TcpView& seg, const Fate& fate) {
    const size_t me = index(from);
    const size_t peer = 1 - me;
    const wire::TcpFlags flags = seg.flags();
    if (flags.syn() && !isn_[me]) isn_[me] = seg.seq().value();
    const uint32_t seq = seg.seq().value() - isn_[me].value_or(0);
    std::string label =
        trace::mermaid_segment_label(seg, isn_[me].value_or(0), isn_[peer].value_or(0));
    const size_t len = seg.payload().size();
    // A segment that occupies sequence space already sent is a retransmission, except the
    // SYN-ACK of a simultaneous open, which answers the peer's SYN with our SYN again.
    std::vector<std::string_view> notes;
    const uint32_t seg_len =
        static_cast<uint32_t>(len) + (flags.syn() ? 1u : 0u) + (flags.fin() ? 1u : 0u);
    const bool first_synack = flags.syn() && flags.ack() && !synack_sent_[me];
    if (flags.syn() && flags.ack()) synack_sent_[me] = true;
    if (seg_len > 0) {
      const uint32_t end = seq + seg_len;
      if (sent_[me] && wire::seq_diff(wire::SeqNum(end), wire::SeqNum(*sent_[me])) <= 0) {
        if (!first_synack) notes.push_back("retransmission");
      } else {
        sent_[me] = end;
      }
    }
    if (fate.no_route) notes.push_back("no such host");
    if (fate.too_big) notes.push_back("dropped: larger than the MTU");
    if (fate.queue_full) notes.push_back("dropped: queue full");
    if (fate.lost) notes.push_back("lost");
    if (fate.duplicated) notes.push_back("duplicated");
    if (fate.reordered > 0) notes.push_back("delayed");
    if (fate.corrupted > 0) notes.push_back("corrupted");
    if (!notes.empty()) label += fmt::format(" ({})", fmt::join(notes, ", "));
    const Side to = from == Side::kClient ? Side::kServer : Side::kClient;
    out_ +=
        fmt::format("    {}{}{}: {}\n", who(from), fate.arrives() ? "->>" : "-x", who(to), label);
  }

  const std::string& text() const { return out_; }

 private:
  static size_t index(Side s) { return s == Side::kClient ? 0 : 1; }
  static std::string_view who(Side s) { return s == Side::kClient ? "Client" : "Server"; }

  std::string out_;
  std::array<std::optional<uint32_t>, 2> isn_;
  std::array<std::optional<uint32_t>, 2> sent_;  // relative end of the highest segment sent
  std::array<bool, 2> synack_sent_{};
};

// --- The simulation ---------------------------------------------------------------------------

uint64_t nonzero_seed(uint64_t seed, uint64_t stream) {
  const uint64_t s = dev::derive_seed(seed, stream);
  return s == 0 ? 1 : s;  // 0 would make a stack pick random secrets
}

size_t buffer_for(const SimConfig& c) {
  if (c.buffer_size != 0) return c.buffer_size;
  return std::clamp<size_t>((size_t{64} << 20) / std::max<uint32_t>(c.connections, 1), 16 << 10,
                            256 << 10);
}

stack::StackConfig stack_config(const SimConfig& c, uint64_t secret) {
  stack::StackConfig s;
  const size_t mtu = c.mtu == 0 ? 65535 : c.mtu;
  s.tcp.mss = static_cast<uint16_t>(std::min<size_t>(mtu - 40, 65495));
  s.tcp.send_buffer = s.tcp.receive_buffer = buffer_for(c);
  s.somaxconn = std::max(s.somaxconn, c.backlog);
  s.syncookies = c.syncookies;
  s.secret_seed = secret;
  return s;
}

dev::Impairments impairments(const SimConfig& c) {
  return dev::Impairments{.latency = c.delay,
                          .rate_bps = c.rate_bps,
                          .queue_bytes = c.queue_bytes,
                          .mtu = c.mtu,
                          .loss = c.loss,
                          .duplicate = c.dup,
                          .reorder = c.reorder,
                          .corrupt = c.corrupt,
                          .seed = dev::derive_seed(c.seed, 103)};
}

std::string format_probability(double p) {
  return fmt::format("{}%", p * 100);
}

std::string format_bytes(uint64_t n) {
  if (n >= (1u << 30) && n % (1u << 30) == 0) return fmt::format("{}G", n >> 30);
  if (n >= (1u << 20) && n % (1u << 20) == 0) return fmt::format("{}M", n >> 20);
  if (n >= (1u << 10) && n % (1u << 10) == 0) return fmt::format("{}K", n >> 10);
  return fmt::format("{}", n);
}

// "1 connection, 64K bytes each way, mtu 1500, delay 10 ms, rate unlimited, loss 0%, ...".
std::string config_line(const SimConfig& config) {
  return fmt::format(
      "{} connection{}, {} bytes {}, mtu {}, delay {} ms, rate {}{}, loss {}, dup {}, reorder {}, "
      "corrupt {}, seed {}",
      config.connections, config.connections == 1 ? "" : "s", format_bytes(config.bytes),
      config.direction == Direction::kBoth ? "each way" : to_string(config.direction), config.mtu,
      static_cast<double>(config.delay.as_micros()) / 1000,
      config.rate_bps == 0 ? std::string("unlimited")
                           : fmt::format("{} Mbit/s", static_cast<double>(config.rate_bps) / 1e6),
      config.queue_bytes > 0 ? fmt::format(", queue {}", format_bytes(config.queue_bytes)) : "",
      format_probability(config.loss), format_probability(config.dup),
      format_probability(config.reorder), format_probability(config.corrupt), config.seed);
}

double seconds(Instant t) {
  return static_cast<double>(t.as_micros()) / 1e6;
}

class Simulator {
 public:
  explicit Simulator(const SimConfig& cfg)
      : cfg_(cfg),
        client_(stack_config(cfg, nonzero_seed(cfg.seed, 101))),
        server_(stack_config(cfg, nonzero_seed(cfg.seed, 102))),
        link_(impairments(cfg)),
        flood_rng_(dev::derive_seed(cfg.seed, 104)),
        scratch_(64 * 1024) {
    client_.add_address(kClientAddress);
    server_.add_address(kServerAddress);
    const uint64_t c2s_bytes = cfg.direction == Direction::kServerToClient ? 0 : cfg.bytes;
    const uint64_t s2c_bytes = cfg.direction == Direction::kClientToServer ? 0 : cfg.bytes;
    conns_ = std::vector<Conn>(cfg.connections);
    for (uint32_t i = 0; i < cfg.connections; ++i) {
      Conn& c = conns_[i];
      c.index = i;
      c.start = Instant{} + kConnectionStagger * i;
      c.c2s.key = dev::derive_seed(cfg.seed, 0x5eed'0000'0000ULL + 2 * uint64_t{i});
      c.c2s.total = c2s_bytes;
      c.s2c.key = dev::derive_seed(cfg.seed, 0x5eed'0000'0001ULL + 2 * uint64_t{i});
      c.s2c.total = s2c_bytes;
    }
    unquiet_ = unfinished_ = cfg.connections;
    if (cfg.mermaid || !cfg.mermaid_path.empty()) {
      mermaid_.emplace();
      mermaid_->begin(cfg.open);
    }
    const uint32_t sampled = std::min(cfg.series_connections, cfg.connections);
    for (uint32_t i = 0; i < sampled; ++i)
      conns_[i].series.emplace();
    if (cfg.plot || !cfg.plot_path.empty()) {
      plot_.emplace();
      plot_sender_ = cfg.direction == Direction::kServerToClient ? Side::kServer : Side::kClient;
      if (!conns_[cfg.plot_connection].series) conns_[cfg.plot_connection].series.emplace();
    }
    for (Conn& c : conns_) {
      if (c.series) sampled_.push_back(c.index);
    }
    sampling_ = sampled_.size();
    sample_interval_ = cfg.sample_interval;
  }

  expected<void, std::string> open_capture() {
    if (cfg_.pcap_path.empty()) return {};
    auto tap = dev::PcapTap::open(cfg_.pcap_path, dev::PcapTap::kSimulationEpoch);
    if (!tap) return unexpected(tap.error());
    tap_ = std::make_unique<dev::PcapTap>(std::move(*tap));
    link_.set_tap(tap_.get(), dev::LinkTapPoint::kSent);
    return {};
  }

  expected<SimResult, std::string> run() {
    if (cfg_.open == OpenMode::kNormal) {
      auto lid = server_.listen(tcp::Endpoint{kServerAddress, kServerPort}, cfg_.backlog);
      if (!lid) return unexpected("listen: " + lid.error().message());
      listener_ = *lid;
    }
    const Instant limit = Instant{} + cfg_.time_limit;
    uint64_t steps_at_this_instant = 0;
    for (;;) {
      ++steps_;
      start_due_connections();
      inject_flood();
      // Each packet is processed, and answered, before the next: a host sends its ACKs
      // segment by segment, as a real one does (no receive batching).
      link_.a().poll(now_, [this](wire::Bytes p) { deliver(Side::kClient, p); });
      link_.b().poll(now_, [this](wire::Bytes p) { deliver(Side::kServer, p); });
      if (auto d = client_.next_deadline(); d && *d <= now_) {
        client_.on_timeout(now_);
        drain(Side::kClient);
      }
      if (auto d = server_.next_deadline(); d && *d <= now_) {
        server_.on_timeout(now_);
        drain(Side::kServer);
      }
      settle();
      max_client_ = std::max(max_client_, client_.connection_count());
      max_server_ = std::max(max_server_, server_.connection_count());
      if (unfinished_ == 0) break;

      std::optional<Instant> next;
      const auto consider = [&next](std::optional<Instant> t) {
        if (t && (!next || *t < *next)) next = t;
      };
      consider(link_.next_deadline());
      consider(client_.next_deadline());
      consider(server_.next_deadline());
      if (next_start_ < conns_.size()) consider(conns_[next_start_].start);
      if (flood_active()) consider(next_flood_time());
      if (!next) {
        stop_reason_ = "nothing left to happen, yet not every connection is CLOSED";
        break;
      }
      // Nothing changes until then: the samples due before it see the state as it is now.
      sample_until(std::min(*next, limit));
      if (*next > limit) {
        timed_out_ = true;
        stop_reason_ = fmt::format("time limit of {} s of virtual time reached",
                                   cfg_.time_limit.as_micros() / 1'000'000);
        break;
      }
      if (*next > now_) {
        now_ = *next;
        steps_at_this_instant = 0;
      } else if (++steps_at_this_instant > 10'000'000) {
        stop_reason_ = "stuck: no progress in virtual time";
        break;
      }
    }
    if (!quiet_at_) quiet_at_ = now_;
    if (tap_) {
      if (auto r = tap_->flush(); !r) return unexpected(r.error());
    }
    return result();
  }

 private:
  stack::Stack& host(Side s) { return s == Side::kClient ? client_ : server_; }
  End& end_of(Conn& c, Side s) { return s == Side::kClient ? c.client : c.server; }

  // --- Connections and the flood ---------------------------------------------------------------

  void start_due_connections() {
    while (next_start_ < conns_.size() && conns_[next_start_].start <= now_) {
      start(conns_[next_start_++]);
    }
  }

  void start(Conn& c) {
    const tcp::Endpoint server_ep{kServerAddress, kServerPort};
    std::optional<tcp::Endpoint> local;
    if (cfg_.open == OpenMode::kSimultaneous) {
      local = tcp::Endpoint{kClientAddress, kSimultaneousClientPort};
    }
    auto id = client_.connect(server_ep, now_, local);
    if (!id) {
      c.client.error = id.error();
      c.client.error_cause = "connect()";
      c.client.reached_closed = true;
      update(c);
      return;
    }
    c.client.id = *id;
    c.client.ready = true;
    c.tuple = client_.connection(*id)->tuple();
    client_ids_[key_of(*id)] = c.index;
    by_client_port_[c.tuple.local.port] = c.index;
    drain(Side::kClient);
    if (cfg_.open == OpenMode::kSimultaneous) {
      // The server's own active open, at the same instant, to the client's fixed port.
      auto sid = server_.connect(c.tuple.local, now_, server_ep);
      if (!sid) {
        c.server.error = sid.error();
        c.server.error_cause = "connect()";
        return;
      }
      c.server.id = *sid;
      c.server.ready = true;
      server_ids_[key_of(*sid)] = Tracked{Role::kLegit, c.index, c.tuple.reversed()};
      drain(Side::kServer);
    }
  }

  bool flood_active() const { return cfg_.flood_syn_per_s > 0 && unquiet_ > 0; }

  Instant next_flood_time() const {
    return Instant::from_micros(
        static_cast<int64_t>(flood_syns_ * 1'000'000 / cfg_.flood_syn_per_s));
  }

  void inject_flood() {
    while (flood_active() && next_flood_time() <= now_) {
      // A SYN as Linux would send it, from a host that does not exist.
      const auto src = wire::Ipv4Address(wire::Ipv4Address::from_octets(172, 16, 0, 0).value() |
                                         static_cast<uint32_t>(flood_rng_.below(1u << 20)));
      wire::TcpRepr syn;
      syn.src_port = static_cast<uint16_t>(1024 + flood_rng_.below(65536 - 1024));
      syn.dst_port = kServerPort;
      syn.seq = wire::SeqNum(static_cast<uint32_t>(flood_rng_.next()));
      syn.flags = wire::TcpFlags(wire::TcpFlags::kSyn);
      syn.window = 64240;
      syn.options.mss = 1460;
      syn.options.sack_permitted = true;
      syn.options.timestamps = wire::TcpTimestamps{static_cast<uint32_t>(flood_rng_.next()), 0};
      syn.options.window_scale = 7;
      const wire::Ipv4Repr ip{.src = src,
                              .dst = kServerAddress,
                              .protocol = wire::ip_protocol::kTcp,
                              .identification = static_cast<uint16_t>(flood_rng_.next()),
                              .payload_len = static_cast<uint16_t>(syn.size())};
      flood_packet_.resize(ip.total_len());
      ip.emit(flood_packet_);
      syn.emit(wire::MutableBytes(flood_packet_).subspan(ip.header_len()), ip.pseudo_header());
      ++flood_syns_;
      if (tap_) tap_->record(flood_packet_, now_);
      trace_packet(flood_packet_, Fate{});
      server_.receive(flood_packet_, now_);
      drain(Side::kServer);
    }
  }

  // --- Events -----------------------------------------------------------------------------------

  enum class Role : uint8_t { kLegit, kFlood, kStray };
  struct Tracked {
    Role role = Role::kLegit;
    uint32_t conn = 0;
    tcp::FourTuple tuple;  // this host's view
  };

  // What a connection handle of `side` is, learning server connections on first sight.
  std::optional<Tracked> track(Side side, stack::ConnId id) {
    const uint64_t key = key_of(id);
    if (side == Side::kClient) {
      auto it = client_ids_.find(key);
      if (it == client_ids_.end()) return std::nullopt;
      return Tracked{Role::kLegit, it->second, conns_[it->second].tuple};
    }
    if (auto it = server_ids_.find(key); it != server_ids_.end()) return it->second;
    const tcp::Connection* k = server_.connection(id);
    if (k == nullptr) return std::nullopt;
    Tracked t{Role::kFlood, 0, k->tuple()};
    if (t.tuple.remote.addr == kClientAddress) {
      auto port = by_client_port_.find(t.tuple.remote.port);
      if (port != by_client_port_.end() && !conns_[port->second].server.id) {
        t.role = Role::kLegit;
        t.conn = port->second;
        conns_[t.conn].server.id = id;
      } else {
        // A second incarnation for a client port (an old duplicate SYN after the first
        // one ended): not part of any connection the applications opened.
        t.role = Role::kStray;
      }
    }
    server_ids_[key] = t;
    return t;
  }

  void forget(Side side, stack::ConnId id) {
    if (side == Side::kClient) {
      client_ids_.erase(key_of(id));
    } else {
      server_ids_.erase(key_of(id));
    }
  }

  void drain(Side side) {
    stack::Stack& st = host(side);
    while (auto e = st.poll_event()) {
      if (e->kind == stack::StackEvent::Kind::kAcceptable) {
        accept_all();
        continue;
      }
      const std::optional<Tracked> t = track(side, e->conn);
      if (!t) continue;
      const tcp::Event& ev = e->event;
      if (ev.kind == tcp::EventKind::kStateChanged || ev.kind == tcp::EventKind::kError) {
        trace_event(side, *t, ev);
      }
      if (ev.kind == tcp::EventKind::kRecovery) {
        trace_recovery(side, *t, st.connection(e->conn), ev);
        continue;
      }
      if (ev.kind == tcp::EventKind::kClosed) forget(side, e->conn);
      if (t->role != Role::kLegit) continue;
      Conn& c = conns_[t->conn];
      End& end = end_of(c, side);
      switch (ev.kind) {
        case tcp::EventKind::kStateChanged:
          end.states.push_back(ev.to);
          end.state = ev.to;
          if (ev.to == State::kClosed) end.reached_closed = true;
          if (mermaid_ && c.index == 0) mermaid_->note(side, ev.to);
          update(c);
          break;
        case tcp::EventKind::kError:
          if (!end.error) {
            end.error = ev.error;
            end.error_cause = ev.cause;
          }
          break;
        default:
          break;
      }
      mark_dirty(c, side);
    }
  }

  void accept_all() {
    while (auto id = server_.accept(listener_)) {
      const std::optional<Tracked> t = track(Side::kServer, *id);
      if (!t || t->role != Role::kLegit) {
        server_.abort(*id, now_);
        server_.release(*id);
        continue;
      }
      Conn& c = conns_[t->conn];
      c.server.ready = true;
      mark_dirty(c, Side::kServer);
    }
  }

  // Keeps the counts of connections not yet quiet (CLOSED or TIME_WAIT) and not finished.
  void update(Conn& c) {
    const auto quiet_end = [](const End& e) {
      return e.reached_closed || e.state == State::kTimeWait;
    };
    bool quiet =
        quiet_end(c.client) && (c.server.id ? quiet_end(c.server) : c.client.reached_closed);
    const bool finished = c.client.reached_closed && (c.server.id ? c.server.reached_closed : true);
    // A connection that failed is over too: its other end may wait for ever (no keepalive).
    const auto failed = [](const End& e) { return e.reached_closed && e.error; };
    quiet = quiet || failed(c.client) || failed(c.server);
    if (quiet != c.quiet) {
      c.quiet = quiet;
      unquiet_ = quiet ? unquiet_ - 1 : unquiet_ + 1;
      if (unquiet_ == 0) quiet_at_ = now_;
    }
    if (finished != c.finished) {
      c.finished = finished;
      unfinished_ = finished ? unfinished_ - 1 : unfinished_ + 1;
    }
  }

  void mark_dirty(Conn& c, Side side) {
    End& e = end_of(c, side);
    if (e.dirty) return;
    e.dirty = true;
    dirty_.emplace_back(c.index, side);
  }

  // --- Applications -----------------------------------------------------------------------------

  void settle() {
    for (;;) {
      run_apps();
      bool sent = transmit(Side::kClient);
      sent = transmit(Side::kServer) || sent;
      if (!sent && dirty_.empty()) return;
    }
  }

  void run_apps() {
    while (!dirty_.empty()) {
      std::vector<std::pair<uint32_t, Side>> batch;
      batch.swap(dirty_);
      for (auto [index, side] : batch) {
        Conn& c = conns_[index];
        end_of(c, side).dirty = false;
        run_app(c, side);
      }
    }
  }

  static bool open_for_data(State s) { return s == State::kEstablished || s == State::kCloseWait; }

  void run_app(Conn& c, Side side) {
    End& e = end_of(c, side);
    if (!e.id || !e.ready || e.released) return;
    stack::Stack& st = host(side);
    tcp::Connection* k = st.connection(*e.id);
    if (k == nullptr) return;
    Stream& out = side == Side::kClient ? c.c2s : c.s2c;
    Stream& in = side == Side::kClient ? c.s2c : c.c2s;

    receive_all(st, *e.id, in);
    // The server answers only once it has read (and so can verify) all of the request.
    const bool may_send = side == Side::kClient || in.read >= in.total;
    if (open_for_data(k->state()) && !e.app_closed && may_send) send_more(st, *e.id, *k, out);

    if (!e.app_closed && open_for_data(k->state()) && should_close(c, side, *k)) {
      e.app_closed = true;
      (void)st.close(*e.id, now_);
    }
    if (cfg_.close == CloseMode::kSimultaneous) maybe_close_both(c);
    if (k->state() == State::kClosed) {
      receive_all(st, *e.id, in);
      drain(side);  // the last events before the handle goes
      st.release(*e.id);
      e.released = true;
      return;
    }
    drain(side);
  }

  void send_more(stack::Stack& st, stack::ConnId id, const tcp::Connection& k, Stream& s) {
    while (s.written < s.total) {
      const size_t space = k.send_space();
      if (space == 0) return;
      const size_t n = static_cast<size_t>(
          std::min<uint64_t>({space, s.total - s.written, uint64_t{scratch_.size()}}));
      const std::span<std::byte> chunk(scratch_.data(), n);
      fill_stream(s.key, s.written, chunk);
      auto sent = st.send(id, chunk, now_);
      if (!sent || *sent == 0) return;
      s.tx.update(chunk.first(*sent));
      s.written += *sent;
    }
  }

  void receive_all(stack::Stack& st, stack::ConnId id, Stream& s) {
    for (;;) {
      const size_t n = st.recv(id, scratch_, now_);
      if (n == 0) return;
      if (s.read + n > s.total) s.overflow = true;
      s.rx.update(wire::Bytes(scratch_).first(n));
      s.read += n;
    }
  }

  bool should_close(const Conn& c, Side side, const tcp::Connection& k) const {
    const Stream& out = side == Side::kClient ? c.c2s : c.s2c;
    const Stream& in = side == Side::kClient ? c.s2c : c.c2s;
    const bool sent_all = out.written == out.total;
    const bool got_all = in.read >= in.total;
    if (cfg_.close == CloseMode::kSimultaneous) return false;  // maybe_close_both
    if (side == Side::kClient) {
      if (cfg_.half_close) return sent_all;
      if (cfg_.close == CloseMode::kClient) return sent_all && got_all;
      return sent_all && got_all && k.eof();
    }
    if (cfg_.close == CloseMode::kServer) return sent_all && got_all;
    return sent_all && got_all && k.eof();
  }

  // Both ends close at one instant, once every byte is delivered and acknowledged both ways:
  // the FINs cross and each end passes through CLOSING.
  void maybe_close_both(Conn& c) {
    if (c.client.app_closed || c.server.app_closed || !c.client.id || !c.server.id ||
        !c.server.ready || c.client.released || c.server.released) {
      return;
    }
    const tcp::Connection* kc = client_.connection(*c.client.id);
    const tcp::Connection* ks = server_.connection(*c.server.id);
    if (kc == nullptr || ks == nullptr || kc->state() != State::kEstablished ||
        ks->state() != State::kEstablished) {
      return;
    }
    const auto done = [](const Stream& s) { return s.written == s.total && s.read == s.total; };
    if (!done(c.c2s) || !done(c.s2c)) return;
    if (kc->status().send_queue != 0 || ks->status().send_queue != 0) return;
    c.client.app_closed = c.server.app_closed = true;
    (void)client_.close(*c.client.id, now_);
    (void)server_.close(*c.server.id, now_);
    drain(Side::kClient);
    drain(Side::kServer);
  }

  // --- Time series ------------------------------------------------------------------------------

  // Takes the samples due in [now_, until): nothing happens between two events, so the state
  // after the events of now_ is the state at every instant before the next one.
  void sample_until(Instant until) {
    while (sampling_ > 0 && next_sample_ < until) {
      for (uint32_t index : sampled_) {
        Conn& c = conns_[index];
        if (c.sampling_done || c.start > next_sample_) continue;
        ConnSeries& s = *c.series;
        s.times.push_back(next_sample_);
        s.client.push_back(sample(c, Side::kClient));
        s.server.push_back(sample(c, Side::kServer));
        if (c.quiet) {
          c.sampling_done = true;  // the last sample: both ends are CLOSED or in TIME_WAIT
          --sampling_;
        }
      }
      next_sample_ = next_sample_ + sample_interval_;
      // At most max_samples per series: the interval doubles, every other sample goes.
      if ((next_sample_ - Instant{}).as_micros() / sample_interval_.as_micros() >=
          static_cast<int64_t>(cfg_.max_samples)) {
        sample_interval_ = sample_interval_ * 2;
        const int64_t step = sample_interval_.as_micros();
        for (uint32_t index : sampled_) {
          ConnSeries& s = *conns_[index].series;
          size_t kept = 0;
          for (size_t i = 0; i < s.times.size(); ++i) {
            if (s.times[i].as_micros() % step != 0) continue;
            s.times[kept] = s.times[i];
            s.client[kept] = s.client[i];
            s.server[kept] = s.server[i];
            ++kept;
          }
          s.times.resize(kept);
          s.client.resize(kept);
          s.server.resize(kept);
        }
        const int64_t at = next_sample_.as_micros();
        next_sample_ = Instant::from_micros((at + step - 1) / step * step);
      }
    }
  }

  Sample sample(Conn& c, Side side) {
    const End& e = end_of(c, side);
    if (!e.id || e.released) return {};
    const tcp::Connection* k = host(side).connection(*e.id);
    if (k == nullptr) return {};
    const tcp::ConnectionStatus st = k->status();
    Sample s;
    s.present = true;
    s.cwnd = st.cwnd;
    s.ssthresh = st.ssthresh;
    s.in_flight = st.in_flight;
    if (e.snd_max && wire::after(*e.snd_max, k->snd_una())) {
      s.unacked = (*e.snd_max - k->snd_una()).value();
    }
    s.snd_wnd = st.snd_wnd;
    s.srtt = st.srtt;
    s.retransmits = st.stats.retransmitted_segments;
    s.pacing_rate = st.pacing_rate;
    s.recovery = st.recovery;
    return s;
  }

  // A packet a host sent, for the sampled connections' highest sequence number sent and
  // the plotted connection's graph.
  void observe(Side side, wire::Bytes packet, const Fate& fate) {
    if (sampled_.empty()) return;
    auto ip = wire::Ipv4View::parse(packet);
    if (!ip || ip->protocol() != wire::ip_protocol::kTcp) return;
    auto seg = wire::TcpView::parse(ip->payload());
    if (!seg) return;
    const bool from_client = side == Side::kClient;
    if ((from_client ? ip->dst() : ip->src()) != kServerAddress ||
        (from_client ? ip->src() : ip->dst()) != kClientAddress) {
      return;
    }
    auto it = by_client_port_.find(from_client ? seg->src_port() : seg->dst_port());
    if (it == by_client_port_.end()) return;
    Conn& c = conns_[it->second];
    if (!c.series) return;
    const wire::TcpFlags flags = seg->flags();
    if (!flags.rst()) {
      const uint32_t len = static_cast<uint32_t>(seg->payload().size()) + (flags.syn() ? 1 : 0) +
                           (flags.fin() ? 1 : 0);
      const wire::SeqNum end = seg->seq() + wire::SeqLen(len);
      End& e = end_of(c, side);
      if (!e.snd_max || wire::after(end, *e.snd_max)) e.snd_max = end;
    }
    if (plot_ && c.index == cfg_.plot_connection) {
      plot_->add(seconds(now_), *seg, side == plot_sender_, !fate.arrives());
    }
  }

  std::string render_plot() {
    const Conn& c = conns_[cfg_.plot_connection];
    trace::TimeSequenceGraph g;
    const bool c2s = plot_sender_ == Side::kClient;
    g.title = fmt::format("synack sim: connection {}, {} -> {} ({})", c.index,
                          (c2s ? c.tuple.local : c.tuple.remote).to_string(),
                          (c2s ? c.tuple.remote : c.tuple.local).to_string(),
                          c2s ? "client to server" : "server to client");
    g.subtitle = config_line(cfg_);
    g.segments = plot_->take();
    trace::PlotSeries cwnd{.name = "cwnd", .color = "#ff7f0e"};
    trace::PlotSeries ssthresh{.name = "ssthresh", .color = "#8c564b", .dashed = true};
    trace::PlotSeries flight{.name = "in flight (pipe)", .color = "#1f77b4"};
    trace::PlotSeries unacked{.name = "sent, unacknowledged", .color = "#9edae5"};
    trace::PlotSeries wnd{
        .name = "send window (peer's)", .color = "#7f7f7f", .dashed = true, .sets_range = false};
    if (c.series) {
      const std::vector<Sample>& samples = c2s ? c.series->client : c.series->server;
      const std::vector<Instant>& times = c.series->times;
      for (size_t i = 0; i < samples.size(); ++i) {
        const double t = seconds(times[i]);
        const Sample& s = samples[i];
        const auto value = [&s](std::optional<uint64_t> v) -> std::optional<double> {
          if (!s.present || !v) return std::nullopt;
          return static_cast<double>(*v);
        };
        cwnd.points.push_back({t, value(s.cwnd)});
        ssthresh.points.push_back({t, value(s.ssthresh)});
        flight.points.push_back({t, value(s.in_flight)});
        unacked.points.push_back({t, value(s.unacked)});
        wnd.points.push_back({t, value(s.snd_wnd)});
        // Recovery episodes, as the samples saw them: from the first sample in one to the
        // first sample out of it.
        const tcp::RecoveryState state = s.present ? s.recovery : tcp::RecoveryState::kOpen;
        const tcp::RecoveryState before =
            i > 0 && samples[i - 1].present ? samples[i - 1].recovery : tcp::RecoveryState::kOpen;
        if (state != before && before != tcp::RecoveryState::kOpen) g.bands.back().end = t;
        if (state != before && state != tcp::RecoveryState::kOpen) {
          const bool fast = state == tcp::RecoveryState::kFast;
          g.bands.push_back(trace::PlotBand{.start = t,
                                            .end = t,
                                            .label = fast ? "fast recovery" : "RTO recovery",
                                            .color = fast ? "#f0a500" : "#d62728"});
        }
      }
      if (!samples.empty() && samples.back().present &&
          samples.back().recovery != tcp::RecoveryState::kOpen) {
        g.bands.back().end = seconds(times.back() + sample_interval_);
      }
    }
    g.series.push_back(std::move(cwnd));
    g.series.push_back(std::move(ssthresh));
    g.series.push_back(std::move(flight));
    g.series.push_back(std::move(unacked));
    g.series.push_back(std::move(wnd));
    return trace::render_svg(g);
  }

  // --- Packets ----------------------------------------------------------------------------------

  // The stack answers a packet (an ACK, a SYN-ACK) before the application gets to act on
  // it, as a kernel does in its receive path; then the applications run.
  void deliver(Side side, wire::Bytes packet) {
    host(side).receive(packet, now_);
    drain(side);
    transmit(side);
    settle();
  }

  bool transmit(Side side) {
    stack::Stack& st = host(side);
    bool any = false;
    while (auto p = st.poll_transmit(now_)) {
      any = true;
      send_packet(side, *p);
    }
    drain(side);
    return any;
  }

  void send_packet(Side side, wire::Bytes packet) {
    Fate fate;
    if (side == Side::kClient) {
      const dev::QueueCounters before = link_.a_to_b().counters();
      link_.a().send(packet, now_);
      fate = fate_of(before, link_.a_to_b().counters());
    } else if (packet.size() >= 20 &&
               wire::Ipv4Address(wire::load_be32(packet.data() + 16)) == kClientAddress) {
      const dev::QueueCounters before = link_.b_to_a().counters();
      link_.b().send(packet, now_);
      fate = fate_of(before, link_.b_to_a().counters());
    } else {
      // To one of the flood's made-up hosts: no route, nobody there.
      fate.no_route = true;
      ++flood_replies_lost_;
      if (tap_) tap_->record(packet, now_);
    }
    trace_packet(packet, fate);
    if (mermaid_ && !conns_.empty() && conns_[0].client.id) draw(side, packet, fate);
    observe(side, packet, fate);
  }

  void draw(Side side, wire::Bytes packet, const Fate& fate) {
    auto ip = wire::Ipv4View::parse(packet);
    if (!ip || ip->protocol() != wire::ip_protocol::kTcp) return;
    auto seg = wire::TcpView::parse(ip->payload());
    if (!seg) return;
    const tcp::FourTuple& t = conns_[0].tuple;  // client's view
    const tcp::FourTuple seen{tcp::Endpoint{ip->src(), seg->src_port()},
                              tcp::Endpoint{ip->dst(), seg->dst_port()}};
    if (seen != (side == Side::kClient ? t : t.reversed())) return;
    mermaid_->segment(side, *seg, fate);
  }

  void trace_packet(wire::Bytes packet, const Fate& fate) {
    if (!cfg_.trace) return;
    // tcpdump's line, with its local-time stamp replaced by virtual time (as -ttttt).
    const std::string line = formatter_.format_ip(now_, packet);
    const size_t space = line.find(' ');
    line_.clear();
    format_virtual_time(line_, now_);
    line_.append(std::string_view(line).substr(space == std::string::npos ? line.size() : space));
    cfg_.trace(std::string_view(line_.data(), line_.size()));
    last_traced_ = now_;
    const std::string what = describe(fate);
    if (!what.empty()) cfg_.trace(fmt::format("    link: {}", what));
  }

  // "    client 10.0.0.1:40000 <-> 10.0.0.2:9988", the start of an event's line.
  static std::string who(Side side, const Tracked& t) {
    return fmt::format("    {} {} <-> {}", side_name(side), t.tuple.local.to_string(),
                       t.tuple.remote.to_string());
  }
  // A change at another instant than the packet line above it says when it happened.
  std::string when() const {
    if (last_traced_ && *last_traced_ == now_) return {};
    fmt::memory_buffer stamp;
    format_virtual_time(stamp, now_);
    return fmt::format("  at {}", std::string_view(stamp.data(), stamp.size()));
  }

  // The sender entering or leaving loss recovery, with its window as it is now:
  //   "    client 10.0.0.1:40000 <-> 10.0.0.2:9988  recovery: fast recovery  (cwnd 7240,
  //    ssthresh 7240, in flight 10136)"
  void trace_recovery(Side side, const Tracked& t, const tcp::Connection* c, const tcp::Event& ev) {
    if (!cfg_.trace || c == nullptr) return;
    const tcp::ConnectionStatus st = c->status();
    const auto bytes = [](std::optional<uint32_t> v) { return v ? std::to_string(*v) : "-"; };
    cfg_.trace(fmt::format("{}  recovery: {}  (cwnd {}, ssthresh {}, in flight {}){}", who(side, t),
                           ev.cause, bytes(st.cwnd), bytes(st.ssthresh), st.in_flight, when()));
  }

  void trace_event(Side side, const Tracked& t, const tcp::Event& ev) {
    if (!cfg_.trace) return;
    const std::string who = this->who(side, t);
    const std::string when = this->when();
    if (ev.kind == tcp::EventKind::kError) {
      cfg_.trace(fmt::format("{}  error: {}  ({}){}", who, ev.error.message(), ev.cause, when));
    } else {
      cfg_.trace(fmt::format("{}  {} -> {}  ({}){}", who, tcp::to_string(ev.from),
                             tcp::to_string(ev.to), ev.cause, when));
    }
  }

  // --- The result -------------------------------------------------------------------------------

  SimResult result() {
    SimResult r;
    if (plot_) r.plot = render_plot();  // before the series move into the result
    r.connections = cfg_.connections;
    r.timed_out = timed_out_;
    r.intact = true;
    r.closed_cleanly = true;
    r.conns.reserve(conns_.size());
    for (Conn& c : conns_) {
      ConnResult cr;
      cr.index = c.index;
      cr.tuple = c.tuple;
      cr.client_states = c.client.states;
      cr.server_states = c.server.states;
      cr.bytes_c2s = c.c2s.read;
      cr.bytes_s2c = c.s2c.read;
      cr.client_error = c.client.error;
      cr.server_error = c.server.error;
      const auto stream_ok = [](Stream& s) {
        const bool complete = s.written == s.total && s.read == s.total && !s.overflow;
        return complete && s.tx.digest() == s.rx.digest();
      };
      const bool c2s_ok = stream_ok(c.c2s);
      const bool s2c_ok = stream_ok(c.s2c);
      cr.intact = c2s_ok && s2c_ok;
      cr.closed_cleanly = c.client.reached_closed && c.server.id && c.server.reached_closed &&
                          !c.client.error && !c.server.error;
      std::vector<std::string> why;
      const auto stream_failure = [&why](const Stream& s, std::string_view name, bool ok) {
        if (ok) return;
        if (s.read != s.total || s.written != s.total) {
          why.push_back(
              fmt::format("{}: {} of {} bytes written, {} read", name, s.written, s.total, s.read));
        } else {
          why.push_back(fmt::format("{}: SHA-256 differs", name));
        }
      };
      stream_failure(c.c2s, "c2s", c2s_ok);
      stream_failure(c.s2c, "s2c", s2c_ok);
      for (Side side : {Side::kClient, Side::kServer}) {
        const End& e = end_of(c, side);
        if (e.error) {
          why.push_back(
              fmt::format("{}: {} ({})", side_name(side), e.error.message(), e.error_cause));
        } else if (side == Side::kServer && !e.id) {
          why.push_back("server: no connection");
        } else if (!e.reached_closed) {
          why.push_back(fmt::format("{}: ended in {}", side_name(side), tcp::to_string(e.state)));
        }
      }
      for (const std::string& w : why) {
        cr.failure += cr.failure.empty() ? "" : "; ";
        cr.failure += w;
      }
      r.intact = r.intact && cr.intact;
      r.closed_cleanly = r.closed_cleanly && cr.closed_cleanly;
      r.bytes_sent += c.c2s.written + c.s2c.written;
      r.bytes_delivered += c.c2s.read + c.s2c.read;
      if (r.failure.empty() && !cr.failure.empty()) {
        r.failure =
            fmt::format("connection {} ({}): {}", c.index, c.tuple.local.to_string(), cr.failure);
      }
      cr.series = std::move(c.series);
      r.conns.push_back(std::move(cr));
    }
    if (!sampled_.empty()) r.sample_interval = sample_interval_;
    if (!stop_reason_.empty() && (timed_out_ || !r.intact || !r.closed_cleanly)) {
      r.failure = r.failure.empty() ? stop_reason_ : stop_reason_ + "; " + r.failure;
    }
    r.ok = r.intact && r.closed_cleanly && !r.timed_out;
    r.virtual_seconds = seconds(*quiet_at_);
    r.virtual_seconds_total = seconds(now_);
    r.goodput_mbit = r.virtual_seconds > 0
                         ? static_cast<double>(r.bytes_delivered) * 8 / r.virtual_seconds / 1e6
                         : 0;
    r.client_counters = client_.counters();
    r.server_counters = server_.counters();
    r.counters = r.client_counters;
    r.counters += r.server_counters;
    r.retransmits = r.counters.TcpRetransSegs;
    r.c2s = link_.a_to_b().counters();
    r.s2c = link_.b_to_a().counters();
    r.flood_syns = flood_syns_;
    r.flood_replies_lost = flood_replies_lost_;
    r.max_client_connections = max_client_;
    r.max_server_connections = max_server_;
    r.steps = steps_;
    if (mermaid_) r.mermaid = mermaid_->text();
    return r;
  }

  const SimConfig& cfg_;
  Instant now_;
  stack::Stack client_;
  stack::Stack server_;
  dev::MemLink link_;
  std::unique_ptr<dev::PcapTap> tap_;
  stack::ListenerId listener_ = 0;

  std::vector<Conn> conns_;
  size_t next_start_ = 0;
  std::unordered_map<uint64_t, uint32_t> client_ids_;
  std::unordered_map<uint64_t, Tracked> server_ids_;
  std::unordered_map<uint16_t, uint32_t> by_client_port_;
  std::vector<std::pair<uint32_t, Side>> dirty_;
  size_t unquiet_ = 0;
  size_t unfinished_ = 0;
  std::optional<Instant> quiet_at_;

  dev::SplitMix64 flood_rng_;
  uint64_t flood_syns_ = 0;
  uint64_t flood_replies_lost_ = 0;
  std::vector<std::byte> flood_packet_;

  size_t max_client_ = 0;
  size_t max_server_ = 0;
  uint64_t steps_ = 0;
  bool timed_out_ = false;
  std::string stop_reason_;

  std::vector<std::byte> scratch_;
  trace::TcpdumpFormatter formatter_;
  fmt::memory_buffer line_;
  std::optional<Instant> last_traced_;  // of the last packet line
  std::optional<Mermaid> mermaid_;

  std::vector<uint32_t> sampled_;  // connections with a series
  size_t sampling_ = 0;            // of them, not done yet
  Duration sample_interval_;
  Instant next_sample_;
  std::optional<trace::TimeSequenceBuilder> plot_;
  Side plot_sender_ = Side::kClient;
};

// --- JSON
// ------------------------------------------------------------------------------------------

void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

// A tiny writer for one object: keys in the order written, commas where they belong.
class JsonWriter {
 public:
  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }
  void key(std::string_view k) {
    comma();
    json_string(out_, k);
    out_ += ':';
    after_key_ = true;
  }
  void value(std::string_view s) {
    comma();
    json_string(out_, s);
  }
  void value(const char* s) { value(std::string_view(s)); }
  void value(bool b) {
    comma();
    out_ += b ? "true" : "false";
  }
  void value(uint64_t n) {
    comma();
    out_ += fmt::format("{}", n);
  }
  void value(double d) {
    comma();
    out_ += fmt::format("{:.6f}", d);
  }
  void null() {
    comma();
    out_ += "null";
  }
  // The shortest text that reads back as `d` (1.5, 0.001): for long columns of numbers.
  void compact(double d) {
    comma();
    out_ += fmt::format("{}", d);
  }
  template <class T>
  void field(std::string_view k, T v) {
    key(k);
    value(v);
  }
  std::string take() { return std::move(out_); }

 private:
  void comma() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (need_comma_) out_ += ',';
    need_comma_ = true;
  }
  void open(char c) {
    comma();
    out_ += c;
    need_comma_ = false;
  }
  void close(char c) {
    out_ += c;
    need_comma_ = true;
  }

  std::string out_;
  bool need_comma_ = false;
  bool after_key_ = false;
};

void json_queue(JsonWriter& w, std::string_view name, const dev::QueueCounters& q) {
  w.key(name);
  w.begin_object();
  w.field("packets", q.sent);
  w.field("delivered", q.delivered);
  w.field("lost", q.lost);
  w.field("duplicated", q.duplicated);
  w.field("reordered", q.reordered);
  w.field("corrupted", q.corrupted);
  w.field("dropped_mtu", q.dropped_mtu);
  w.field("dropped_queue", q.dropped_queue);
  w.field("bytes", q.bytes_sent);
  w.end_object();
}

void json_states(JsonWriter& w, std::string_view name, const std::vector<State>& states) {
  w.key(name);
  w.begin_array();
  for (State s : states)
    w.value(tcp::to_string(s));
  w.end_array();
}

double millis(Duration d) {
  return static_cast<double>(d.as_micros()) / 1000;
}

// One end's samples as columns; null where the end had no connection (or no such value).
void json_samples(JsonWriter& w, std::string_view name, const std::vector<Sample>& samples) {
  const auto column = [&](std::string_view key, auto get) {
    w.key(key);
    w.begin_array();
    for (const Sample& s : samples) {
      const std::optional<double> v = s.present ? get(s) : std::nullopt;
      if (v) {
        w.compact(*v);
      } else {
        w.null();
      }
    }
    w.end_array();
  };
  const auto count = [](std::optional<uint64_t> v) -> std::optional<double> {
    return v ? std::optional<double>(static_cast<double>(*v)) : std::nullopt;
  };
  w.key(name);
  w.begin_object();
  column("cwnd", [&](const Sample& s) { return count(s.cwnd); });
  column("ssthresh", [&](const Sample& s) { return count(s.ssthresh); });
  column("in_flight", [&](const Sample& s) { return count(s.in_flight); });
  column("unacked", [&](const Sample& s) { return count(s.unacked); });
  column("snd_wnd", [&](const Sample& s) { return count(s.snd_wnd); });
  column("srtt_ms", [](const Sample& s) {
    return s.srtt > Duration{} ? std::optional<double>(millis(s.srtt)) : std::nullopt;
  });
  column("retransmits", [&](const Sample& s) { return count(s.retransmits); });
  column("pacing_rate", [&](const Sample& s) { return count(s.pacing_rate); });
  w.key("recovery");
  w.begin_array();
  for (const Sample& s : samples) {
    if (s.present) {
      w.value(tcp::to_string(s.recovery));
    } else {
      w.null();
    }
  }
  w.end_array();
  w.end_object();
}

void json_series(JsonWriter& w, const ConnSeries& series) {
  w.key("series");
  w.begin_object();
  w.key("t_ms");
  w.begin_array();
  for (Instant t : series.times)
    w.compact(millis(t - Instant{}));
  w.end_array();
  json_samples(w, "client", series.client);
  json_samples(w, "server", series.server);
  w.end_object();
}

std::string error_text(std::error_code e) {
  return e ? e.message() : std::string();
}

}  // namespace

expected<SimResult, std::string> simulate(const SimConfig& config) {
  if (auto why = validate(config)) return unexpected(*why);
  if (sodium_init() < 0) return unexpected(std::string("libsodium failed to initialize"));
  auto sim = std::make_unique<Simulator>(config);
  if (auto r = sim->open_capture(); !r) return unexpected("pcap: " + r.error());
  auto result = sim->run();
  if (!result) return result;
  if (!config.mermaid_path.empty()) {
    std::ofstream out(config.mermaid_path, std::ios::binary | std::ios::trunc);
    out << result->mermaid;
    out.close();
    if (!out) return unexpected("cannot write " + config.mermaid_path);
  }
  if (!config.plot_path.empty()) {
    std::ofstream out(config.plot_path, std::ios::binary | std::ios::trunc);
    out << result->plot;
    out.close();
    if (!out) return unexpected("cannot write " + config.plot_path);
  }
  return result;
}

std::string to_json(const SimConfig& config, const SimResult& r) {
  JsonWriter w;
  w.begin_object();
  w.field("ok", r.ok);
  w.field("connections", uint64_t{r.connections});
  w.field("bytes", config.bytes);
  w.field("direction", to_string(config.direction));
  w.field("seed", config.seed);
  w.field("bytes_sent", r.bytes_sent);
  w.field("bytes_delivered", r.bytes_delivered);
  w.field("intact", r.intact);
  w.field("closed_cleanly", r.closed_cleanly);
  w.field("timed_out", r.timed_out);
  w.field("virtual_seconds", r.virtual_seconds);
  w.field("virtual_seconds_total", r.virtual_seconds_total);
  w.field("goodput_mbit", r.goodput_mbit);
  w.field("retransmits", r.retransmits);
  w.field("failure", r.failure);
  if (r.sample_interval > Duration{}) {
    w.key("sample_interval_ms");
    w.compact(millis(r.sample_interval));
  }

  w.key("config");
  w.begin_object();
  w.field("mtu", uint64_t{config.mtu});
  w.field("delay_ms", static_cast<double>(config.delay.as_micros()) / 1000);
  w.field("rate_bps", config.rate_bps);
  w.field("queue_bytes", uint64_t{config.queue_bytes});
  w.field("loss", config.loss);
  w.field("dup", config.dup);
  w.field("reorder", config.reorder);
  w.field("corrupt", config.corrupt);
  w.field("backlog", uint64_t{config.backlog});
  w.field("flood_syn_per_s", config.flood_syn_per_s);
  w.field("open", to_string(config.open));
  w.field("close", to_string(config.close));
  w.field("half_close", config.half_close);
  w.field("syncookies", to_string(config.syncookies));
  w.end_object();

  w.key("link");
  w.begin_object();
  json_queue(w, "c2s", r.c2s);
  json_queue(w, "s2c", r.s2c);
  w.end_object();

  w.key("flood");
  w.begin_object();
  w.field("syns", r.flood_syns);
  w.field("replies_lost", r.flood_replies_lost);
  w.end_object();

  w.key("max_connections");
  w.begin_object();
  w.field("client", uint64_t{r.max_client_connections});
  w.field("server", uint64_t{r.max_server_connections});
  w.end_object();

  w.key("counters");
  w.begin_object();
  r.counters.for_each([&w](std::string_view name, uint64_t v) { w.field(name, v); });
  w.end_object();

  w.key("conns");
  w.begin_array();
  for (const ConnResult& c : r.conns) {
    w.begin_object();
    w.field("id", uint64_t{c.index});
    w.field("client", c.tuple.local.to_string());
    w.field("server", c.tuple.remote.to_string());
    json_states(w, "client_states", c.client_states);
    json_states(w, "server_states", c.server_states);
    w.field("bytes_c2s", c.bytes_c2s);
    w.field("bytes_s2c", c.bytes_s2c);
    w.field("intact", c.intact);
    w.field("closed_cleanly", c.closed_cleanly);
    w.field("client_error", error_text(c.client_error));
    w.field("server_error", error_text(c.server_error));
    w.field("failure", c.failure);
    if (c.series) json_series(w, *c.series);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return w.take();
}

std::string describe_config(const SimConfig& config) {
  return config_line(config);
}

std::string summary(const SimConfig& config, const SimResult& r) {
  std::string s;
  const auto line = [&s](std::string_view label, const std::string& text) {
    s += fmt::format("  {:<12}{}\n", label, text);
  };
  s += fmt::format("synack sim: {}\n", config_line(config));
  if (config.open != OpenMode::kNormal || config.close != CloseMode::kClient || config.half_close ||
      config.flood_syn_per_s > 0) {
    s += fmt::format("  open {}, close {}{}, backlog {}, syncookies {}{}\n", to_string(config.open),
                     to_string(config.close), config.half_close ? " (half-close)" : "",
                     config.backlog, to_string(config.syncookies),
                     config.flood_syn_per_s > 0
                         ? fmt::format(", SYN flood {}/s", config.flood_syn_per_s)
                         : std::string());
  }
  line("delivered", fmt::format("{} of {} bytes, {}", r.bytes_delivered, r.bytes_sent,
                                r.intact ? "intact (SHA-256)" : "NOT INTACT"));
  uint64_t clean = 0;
  for (const ConnResult& c : r.conns)
    clean += c.closed_cleanly ? 1 : 0;
  line("closed", fmt::format("{} of {} connections cleanly", clean, r.connections));
  line("duration", fmt::format("{:.6f} s virtual (to CLOSED or TIME_WAIT), {:.6f} s in all",
                               r.virtual_seconds, r.virtual_seconds_total));
  line("goodput", fmt::format("{:.3f} Mbit/s", r.goodput_mbit));
  const uint64_t out = r.counters.TcpOutSegs + r.counters.TcpRetransSegs;
  line("segments",
       fmt::format(
           "{} sent, {} retransmitted ({:.2f}%), {} retransmission timeouts", out, r.retransmits,
           out == 0 ? 0.0 : 100.0 * static_cast<double>(r.retransmits) / static_cast<double>(out),
           r.counters.TcpExtTCPTimeouts));
  for (const auto& [name, q] : {std::pair{"link c2s", &r.c2s}, std::pair{"link s2c", &r.s2c}}) {
    line(name,
         fmt::format("{} packets, {} lost, {} duplicated, {} reordered, {} corrupted, {} "
                     "too big{}",
                     q->sent, q->lost, q->duplicated, q->reordered, q->corrupted, q->dropped_mtu,
                     config.queue_bytes > 0
                         ? fmt::format(", {} dropped by the full queue", q->dropped_queue)
                         : std::string()));
  }
  if (r.flood_syns > 0) {
    line("flood", fmt::format("{} SYNs injected, {} replies lost; at most {} connections on the "
                              "server",
                              r.flood_syns, r.flood_replies_lost, r.max_server_connections));
  }
  std::string counters;
  size_t width = 0;
  r.counters.for_each([&](std::string_view name, uint64_t v) {
    if (v == 0 || name == "TcpCurrEstab") return;
    std::string item = fmt::format("{} {}", name, v);
    if (width > 0 && width + item.size() + 2 > 86) {
      counters += ",\n              ";
      width = 0;
    } else if (width > 0) {
      counters += ", ";
      width += 2;
    }
    counters += item;
    width += item.size();
  });
  line("counters", counters);
  line("result", r.ok ? std::string("OK") : "FAILED: " + r.failure);
  return s;
}

}  // namespace synack::sim
