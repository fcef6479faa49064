// A deterministic two-endpoint simulation: two tcp::Connections over an in-memory path with
// latency, rate, MTU, loss, duplication, reordering and corruption, all driven by one seed.
// Virtual time jumps to the next event (a delivery or a connection deadline), so a run
// takes as long as the CPU needs, and the same seed always gives the same run.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "synack/dev/impairments.hpp"
#include "synack/tcp/connection.hpp"
#include "synack/wire/ipv4.hpp"
#include "synack/wire/tcp.hpp"

namespace synack::tcp::sim {

using Rng = dev::SplitMix64;
using Impairments = dev::Impairments;

// One direction of the path: the library's impaired queue, carrying real IPv4 datagrams so
// that a corrupted packet fails the IPv4 or the TCP checksum and is dropped exactly as a
// receiver would drop it.
class Link {
 public:
  Link(const Impairments& imp, uint64_t stream) : queue_(imp, stream) {}

  // `ect`: the sender marks the packet ECN-capable, ECT(0) (RFC 3168 §5).
  void send(const wire::TcpRepr& seg, const FourTuple& tuple, Instant now, bool ect = false) {
    const wire::Ipv4Repr ip{.src = tuple.local.addr,
                            .dst = tuple.remote.addr,
                            .protocol = wire::ip_protocol::kTcp,
                            .tos = static_cast<uint8_t>(ect ? 0x02 : 0x00),
                            .payload_len = static_cast<uint16_t>(seg.size())};
    std::vector<std::byte> packet(ip.total_len());
    ip.emit(packet);
    seg.emit(wire::MutableBytes(packet).subspan(ip.header_len()), ip.pseudo_header());
    queue_.push(std::move(packet), now);
  }

  std::optional<Instant> next_arrival() const { return queue_.next_arrival(); }

  // The packets due at `now`, in arrival order.
  std::vector<std::vector<std::byte>> take_due(Instant now) {
    std::vector<std::vector<std::byte>> out;
    queue_.pop_due(now,
                   [&](wire::Bytes packet) { out.emplace_back(packet.begin(), packet.end()); });
    return out;
  }

  const dev::QueueCounters& counters() const { return queue_.counters(); }

 private:
  dev::ImpairedQueue queue_;
};

// One endpoint: a connection plus an application that sends `to_send` bytes, reads
// everything, and closes once it has sent everything (the client first; the server after
// it has also read the client's end of stream).
struct Host {
  Connection conn;
  FourTuple tuple;
  std::string to_send;
  size_t written = 0;
  std::string received;
  bool close_after_eof = false;  // server: close only after the peer's FIN
  bool closed_by_app = false;
  std::vector<State> states{State::kClosed};
  std::error_code error;
  uint64_t checksum_drops = 0;

  explicit Host(const Config& cfg) : conn(cfg) {}

  void run_app(Instant now) {
    if (written < to_send.size() && conn.send_space() > 0) {
      auto n = conn.send(
          std::as_bytes(std::span(to_send.data() + written, to_send.size() - written)), now);
      if (n) written += *n;
    }
    std::byte buf[16384];
    while (size_t n = conn.recv(buf, now)) {
      received.append(reinterpret_cast<const char*>(buf), n);
    }
    const bool sent_all = written == to_send.size();
    const bool may_close = !close_after_eof || conn.eof();
    if (sent_all && may_close && !closed_by_app && is_synchronized(conn.state()) &&
        conn.state() != State::kSynRcvd) {
      closed_by_app = true;
      (void)conn.close(now);
    }
    while (auto ev = conn.poll_event()) {
      if (ev->kind == EventKind::kStateChanged) states.push_back(ev->to);
      if (ev->kind == EventKind::kError) error = ev->error;
    }
  }
};

struct Result {
  bool client_ok = false;
  bool server_ok = false;
  Instant end;
  uint64_t steps = 0;
  std::string failure;
};

class Simulation {
 public:
  Simulation(uint64_t seed, const Impairments& imp, const Config& cfg, size_t bytes_c2s,
             size_t bytes_s2c)
      : c2s_(with_seed(imp, seed), 0), s2c_(with_seed(imp, seed), 1), client_(cfg), server_(cfg) {
    const FourTuple t{tcp::Endpoint{wire::Ipv4Address::from_octets(10, 0, 0, 1), 40000},
                      tcp::Endpoint{wire::Ipv4Address::from_octets(10, 0, 0, 2), 9988}};
    client_.tuple = t;
    server_.tuple = t.reversed();
    client_.to_send = pattern(bytes_c2s, seed);
    server_.to_send = pattern(bytes_s2c, seed ^ 0xabcdef);
    server_.close_after_eof = true;
    Rng isn_rng(seed * 31 + 7);
    const auto server_iss = wire::SeqNum(static_cast<uint32_t>(isn_rng.next()));
    (void)server_.conn.listen(server_.tuple.local,
                              [server_iss](const FourTuple&, Instant) { return server_iss; });
    (void)client_.conn.connect(client_.tuple, wire::SeqNum(static_cast<uint32_t>(isn_rng.next())),
                               now_);
  }

  // A router that marks ECN-capable packets Congestion Experienced with probability `p`
  // (RFC 3168 §5) instead of dropping them.
  void set_ce_marking(double p) { ce_mark_ = p; }

  static Impairments with_seed(Impairments imp, uint64_t seed) {
    imp.seed = seed;
    return imp;
  }

  static std::string pattern(size_t n, uint64_t seed) {
    Rng r(seed);
    std::string s(n, '\0');
    for (auto& c : s)
      c = static_cast<char>(r.next());
    return s;
  }

  // Runs until both ends are CLOSED or `limit` of virtual time passes. `observe` is called
  // with the time after every step (e.g. to note when a transfer completed).
  Result run(Duration limit = Duration::seconds(3600),
             const std::function<void(Instant)>& observe = {}) {
    const Instant deadline = now_ + limit;
    Result r;
    while (now_ <= deadline && ++r.steps < 50'000'000) {
      client_.run_app(now_);
      server_.run_app(now_);
      flush(client_, c2s_);
      flush(server_, s2c_);
      if (client_.conn.state() == State::kClosed && server_.conn.state() == State::kClosed &&
          client_.closed_by_app && server_.closed_by_app) {
        break;
      }
      // Jump to the next event.
      std::optional<Instant> next;
      auto consider = [&](std::optional<Instant> t) {
        if (t && (!next || *t < *next)) next = t;
      };
      consider(c2s_.next_arrival());
      consider(s2c_.next_arrival());
      consider(client_.conn.next_deadline());
      consider(server_.conn.next_deadline());
      if (!next) break;  // nothing more can happen
      now_ = std::max(now_, *next);
      deliver(c2s_, server_);
      deliver(s2c_, client_);
      if (observe) observe(now_);
      if (auto d = client_.conn.next_deadline(); d && *d <= now_) client_.conn.on_timeout(now_);
      if (auto d = server_.conn.next_deadline(); d && *d <= now_) server_.conn.on_timeout(now_);
    }
    r.end = now_;
    r.client_ok = check(client_, server_, "client", r.failure);
    r.server_ok = check(server_, client_, "server", r.failure);
    return r;
  }

  Host& client() { return client_; }
  Host& server() { return server_; }
  Link& c2s() { return c2s_; }
  Link& s2c() { return s2c_; }

 private:
  void flush(Host& from, Link& link) {
    while (auto seg = from.conn.poll_transmit(now_))
      link.send(*seg, from.tuple, now_, from.conn.last_segment_ect());
  }

  void deliver(Link& link, Host& to) {
    for (auto& bytes : link.take_due(now_)) {
      auto ip = wire::Ipv4View::parse(bytes);
      auto view = ip ? wire::TcpView::parse(ip->payload(), ip->pseudo_header())
                     : expected<wire::TcpView, wire::ParseError>(unexpected(ip.error()));
      if (!view) {
        ++to.checksum_drops;  // corrupted on the way: dropped like any receiver would
        continue;
      }
      // RFC 3168 §5: the ECN field, ECT(0) or ECT(1) possibly turned into CE on the way.
      const uint8_t ecn = ip->ecn();
      const bool ce = ecn == 0x03 || (ecn != 0 && ce_mark_ > 0 && ce_rng_.chance(ce_mark_));
      to.conn.on_segment(wire::TcpRepr::parse(*view), to.tuple.remote, now_, ce);
      to.run_app(now_);
      flush(to, &to == &client_ ? c2s_ : s2c_);
    }
  }

  static bool check(const Host& e, const Host& peer, const char* name, std::string& why) {
    auto fail = [&](const std::string& m) {
      why += std::string(name) + ": " + m + "; ";
      return false;
    };
    if (e.error) return fail("error " + e.error.message());
    if (e.conn.state() != State::kClosed)
      return fail(std::string("ended in ") + std::string(to_string(e.conn.state())));
    if (e.received.size() != peer.to_send.size()) {
      return fail("received " + std::to_string(e.received.size()) + " of " +
                  std::to_string(peer.to_send.size()) + " bytes");
    }
    if (e.received != peer.to_send) return fail("stream corrupted");
    return true;
  }

  Link c2s_;
  Link s2c_;
  Host client_;
  Host server_;
  Instant now_ = Instant::from_micros(0);
  double ce_mark_ = 0;
  Rng ce_rng_{0x5eed};
};

}  // namespace synack::tcp::sim
