// A deterministic two-endpoint simulation: two tcp::Connections over an in-memory path with
// latency, rate, MTU, loss, duplication, reordering and corruption, all driven by one seed.
// Virtual time jumps to the next event (a delivery or a connection deadline), so a run
// takes as long as the CPU needs, and the same seed always gives the same run.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "synack/tcp/connection.hpp"
#include "synack/wire/ipv4.hpp"
#include "synack/wire/tcp.hpp"

namespace synack::tcp::sim {

// SplitMix64: tiny, fast, and the same on every platform (std:: distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // True with probability p.
  bool chance(double p) { return p > 0 && static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }

 private:
  uint64_t state_;
};

struct Impairments {
  Duration latency = Duration::millis(10);  // one way
  uint64_t rate_bps = 0;                    // 0: unlimited
  size_t mtu = 1500;                        // IP MTU; larger packets are dropped
  double loss = 0;
  double duplicate = 0;
  double reorder = 0;  // probability a packet is held back by up to 2x the latency
  double corrupt = 0;  // probability one bit of the packet is flipped
};

// One direction of the path. Packets are carried as TCP bytes with a real checksum over
// the IPv4 pseudo-header, so corruption is caught exactly as a receiver would catch it.
class Link {
 public:
  Link(const Impairments& imp, Rng& rng) : imp_(imp), rng_(rng) {}

  void send(const wire::TcpRepr& seg, const wire::PseudoHeader& pseudo, Instant now) {
    ++sent_;
    std::vector<std::byte> bytes(seg.size());
    seg.emit(bytes, pseudo);
    if (bytes.size() + 20 > imp_.mtu) {
      ++dropped_mtu_;
      return;
    }
    // Serialization at the link rate: packets queue behind each other.
    Instant depart = std::max(now, busy_until_);
    if (imp_.rate_bps > 0) {
      const auto bits = static_cast<int64_t>((bytes.size() + 20) * 8);
      depart = depart + Duration::micros(bits * 1'000'000 / static_cast<int64_t>(imp_.rate_bps));
    }
    busy_until_ = depart;
    if (rng_.chance(imp_.loss)) {
      ++lost_;
      return;
    }
    const int copies = rng_.chance(imp_.duplicate) ? 2 : 1;
    for (int i = 0; i < copies; ++i) {
      Instant arrive = depart + imp_.latency;
      if (rng_.chance(imp_.reorder)) {
        arrive = arrive + Duration::micros(static_cast<int64_t>(
                              rng_.below(static_cast<uint64_t>(imp_.latency.as_micros()) * 2 + 1)));
      }
      std::vector<std::byte> copy = bytes;
      if (rng_.chance(imp_.corrupt)) {
        const uint64_t bit = rng_.below(copy.size() * 8);
        copy[bit / 8] ^= std::byte{static_cast<uint8_t>(1u << (bit % 8))};
        ++corrupted_;
      }
      queue_.push_back(InFlight{arrive, order_++, std::move(copy)});
    }
  }

  std::optional<Instant> next_arrival() const {
    std::optional<Instant> t;
    for (const auto& p : queue_) {
      if (!t || p.arrive < *t) t = p.arrive;
    }
    return t;
  }

  // Removes and returns the packets due at `now`, in arrival order.
  std::vector<std::vector<std::byte>> take_due(Instant now) {
    std::vector<InFlight> due;
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->arrive <= now) {
        due.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    std::sort(due.begin(), due.end(), [](const InFlight& a, const InFlight& b) {
      return a.arrive != b.arrive ? a.arrive < b.arrive : a.order < b.order;
    });
    std::vector<std::vector<std::byte>> out;
    for (auto& d : due)
      out.push_back(std::move(d.bytes));
    return out;
  }

  uint64_t sent_ = 0, lost_ = 0, corrupted_ = 0, dropped_mtu_ = 0;

 private:
  struct InFlight {
    Instant arrive;
    uint64_t order;
    std::vector<std::byte> bytes;
  };
  Impairments imp_;
  Rng& rng_;
  std::deque<InFlight> queue_;
  Instant busy_until_;
  uint64_t order_ = 0;
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
      : rng_(seed), c2s_(imp, rng_), s2c_(imp, rng_), client_(cfg), server_(cfg) {
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

  static std::string pattern(size_t n, uint64_t seed) {
    Rng r(seed);
    std::string s(n, '\0');
    for (auto& c : s)
      c = static_cast<char>(r.next());
    return s;
  }

  // Runs until both ends are CLOSED or `limit` of virtual time passes.
  Result run(Duration limit = Duration::seconds(3600)) {
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
    const auto pseudo = wire::PseudoHeader::ipv4(from.tuple.local.addr, from.tuple.remote.addr,
                                                 wire::ip_protocol::kTcp);
    while (auto seg = from.conn.poll_transmit(now_))
      link.send(*seg, pseudo, now_);
  }

  void deliver(Link& link, Host& to) {
    const auto pseudo = wire::PseudoHeader::ipv4(to.tuple.remote.addr, to.tuple.local.addr,
                                                 wire::ip_protocol::kTcp);
    for (auto& bytes : link.take_due(now_)) {
      auto view = wire::TcpView::parse(bytes, pseudo);
      if (!view) {
        ++to.checksum_drops;  // corrupted on the way: dropped like any receiver would
        continue;
      }
      to.conn.on_segment(wire::TcpRepr::parse(*view), to.tuple.remote, now_);
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

  Rng rng_;
  Link c2s_;
  Link s2c_;
  Host client_;
  Host server_;
  Instant now_ = Instant::from_micros(0);
};

}  // namespace synack::tcp::sim
