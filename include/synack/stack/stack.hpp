// stack::Stack — the addresses, connections and listeners of one thread, exchanging IPv4
// packets with whatever device the caller drives. Like the engine it is sans-I/O: packets
// come in through receive(), go out through poll_transmit(), and time is an argument.
//
//   stack.receive(packet, now);                        // from a device
//   while (auto p = stack.poll_transmit(now)) dev.send(*p);
//   while (auto e = stack.poll_event()) ...;           // readiness and state changes
//   sleep until stack.next_deadline(); stack.on_timeout(now);
//
// Inbound path (RFC 9293 §3.10.7): IPv4 validation -> TCP validation (checksum over the
// pseudo-header) -> demux by 4-tuple (hash table) -> listener (specific address before the
// wildcard) -> otherwise the RST of the CLOSED state.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "synack/expected.hpp"
#include "synack/stack/counters.hpp"
#include "synack/stack/port_allocator.hpp"
#include "synack/stack/syn_cookie.hpp"
#include "synack/stack/timer_wheel.hpp"
#include "synack/tcp/connection.hpp"
#include "synack/tcp/isn.hpp"
#include "synack/wire/icmp.hpp"
#include "synack/wire/ipv4.hpp"

namespace synack::stack {

enum class SynCookieMode : uint8_t {
  kOff,   // a full SYN queue drops SYNs (the client retries)
  kAuto,  // cookies only while the SYN queue is full (Linux tcp_syncookies=1)
  kOn,    // cookies for every SYN (Linux tcp_syncookies=2)
};

struct StackConfig {
  tcp::Config tcp;
  // The global cap on a listener's queues, like net.core.somaxconn.
  uint32_t somaxconn = 4096;
  SynCookieMode syncookies = SynCookieMode::kAuto;
  PortRange ephemeral_ports;
  uint8_t ttl = 64;
  // Secrets for ISNs, SYN cookies and port selection. 0: random (libsodium). Anything else
  // derives them from this seed, so a simulation replays exactly.
  uint64_t secret_seed = 0;
};

// A connection handle: a slot and the generation of its occupant, so a stale handle never
// reaches a connection that reused the slot.
struct ConnId {
  uint32_t slot = 0;
  uint32_t generation = 0;
  bool operator==(const ConnId&) const = default;
};

using ListenerId = uint32_t;

struct StackEvent {
  enum class Kind : uint8_t {
    kConnection,  // `event` happened on `conn`
    kAcceptable,  // listener `listener` has a connection to accept
  };
  Kind kind = Kind::kConnection;
  ConnId conn;
  ListenerId listener = 0;
  tcp::Event event;
};

// One row of the `ss -tan`-style table.
struct ConnectionRow {
  ConnId id;
  tcp::ConnectionStatus status;
};

// A listener as `ss` shows it: as in Linux, Recv-Q is its accept queue, Send-Q its backlog.
struct ListenerRow {
  ListenerId id = 0;
  tcp::Endpoint local;
  size_t accept_queue = 0;  // established, not yet accepted
  uint32_t syn_queue = 0;   // in SYN_RCVD
  uint32_t backlog = 0;
};

// ss(8)'s name for a state: "ESTAB", "SYN-SENT", "TIME-WAIT", ...
std::string_view ss_state(tcp::State s);

class Stack {
 public:
  explicit Stack(const StackConfig& config = {});
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  void add_address(wire::Ipv4Address address);
  bool is_local(wire::Ipv4Address address) const;
  const StackConfig& config() const { return cfg_; }

  // --- Packets and time -----------------------------------------------------------------

  // One IPv4 datagram from a device. Malformed ones are dropped and counted by reason.
  // `checksum_trusted`: the device vouches for the TCP checksum (the kernel's own segment
  // over TUN with offloads, which Linux itself never verifies on loopback), so it is not
  // verified again; everything else still is.
  void receive(wire::Bytes packet, Instant now, bool checksum_trusted = false);
  // The next IPv4 datagram to send, if any; valid until the next call on the stack.
  std::optional<wire::Bytes> poll_transmit(Instant now);
  // The earliest moment the stack needs attention. After any call that may produce output
  // (receive, an application call, on_timeout) it is "now" until poll_transmit() has been
  // drained: drain it, then sleep until this.
  std::optional<Instant> next_deadline() const;
  void on_timeout(Instant now);
  std::optional<StackEvent> poll_event();

  // --- Connections --------------------------------------------------------------------

  // A listener on `local` (address 0.0.0.0 for every local address). backlog bounds the SYN
  // queue and the accept queue, each capped by somaxconn. EADDRINUSE if taken.
  // `config` (default: StackConfig::tcp) is what the listener's connections get (socket
  // options such as SO_RCVBUF; cookie-built connections too).
  expected<ListenerId, std::error_code> listen(const tcp::Endpoint& local, uint32_t backlog,
                                               std::optional<tcp::Config> config = std::nullopt);
  // Closes a listener; connections not yet accepted are reset.
  void close_listener(ListenerId id, Instant now);
  // The next established connection of the listener, if any.
  std::optional<ConnId> accept(ListenerId id);
  // Active open. Without `local` (or with port 0) an ephemeral port is chosen (RFC 6056).
  // `config` overrides StackConfig::tcp for this connection.
  expected<ConnId, std::error_code> connect(const tcp::Endpoint& remote, Instant now,
                                            std::optional<tcp::Endpoint> local = std::nullopt,
                                            std::optional<tcp::Config> config = std::nullopt);

  // The connection behind a handle; nullptr once it is gone.
  tcp::Connection* connection(ConnId id);
  const tcp::Connection* connection(ConnId id) const;
  // Application calls, forwarded to the connection (which then may have output).
  expected<size_t, std::error_code> send(ConnId id, wire::Bytes data, Instant now,
                                         bool urgent = false);
  size_t recv(ConnId id, wire::MutableBytes out, Instant now);
  std::error_code close(ConnId id, Instant now);
  void abort(ConnId id, Instant now);
  // The application is done with the handle: the stack frees the connection once it is
  // CLOSED (TIME_WAIT and the FIN handshake carry on without it).
  void release(ConnId id);
  // After changing a connection directly (options), let the stack pick up its output/timers.
  void touch(ConnId id);

  // The stack's counters. The loss-recovery ones (TcpExtTCPSackRecovery,
  // TcpExtTCPLossProbes, ...) are the sums over every connection, gone or live, as of this
  // call (O(connections)); the others are always current.
  const Counters& counters() const;
  // Every connection (not listeners), for `ss`.
  std::vector<ConnectionRow> table() const;
  // Every open listener.
  std::vector<ListenerRow> listeners() const;
  // The listeners and connections as `ss -tan` prints them, with rtt and retransmits:
  //   State      Recv-Q Send-Q  Local Address:Port   Peer Address:Port   rtt(ms)  retrans
  // For a listener Recv-Q is the accept queue and Send-Q the backlog, as in Linux.
  std::string format_table() const;
  size_t connection_count() const { return by_tuple_.size(); }
  size_t listener_count() const { return listener_by_endpoint_.size(); }

 private:
  struct Slot {
    std::unique_ptr<tcp::Connection> conn;
    uint32_t generation = 0;
    std::optional<ListenerId> listener;  // made by this listener, not yet accepted
    bool released = false;               // the application let go (or never had it)
    bool dirty = false;                  // queued in dirty_ for output
    tcp::State last_state = tcp::State::kClosed;
  };
  struct Listener {
    tcp::Endpoint local;
    uint32_t backlog = 0;
    uint32_t syn_queue = 0;              // connections in SYN_RCVD
    std::deque<ConnId> accept_queue;     // established, not yet accepted
    std::optional<Instant> last_cookie;  // when this listener last answered with a cookie
    std::optional<tcp::Config> config;   // its connections' settings, if not the stack's
    bool open = false;
  };

  void receive_tcp(const wire::Ipv4View& ip, Instant now, bool checksum_trusted);
  void receive_icmp(const wire::Ipv4View& ip, Instant now);
  void segment_to_listener(ListenerId lid, const tcp::FourTuple& tuple, const wire::TcpRepr& seg,
                           Instant now);
  void cookie_ack(ListenerId lid, const tcp::FourTuple& tuple, const wire::TcpRepr& seg,
                  Instant now);
  void send_syn_cookie(ListenerId lid, const tcp::FourTuple& tuple, const wire::TcpRepr& syn,
                       Instant now);
  std::optional<ListenerId> find_listener(const tcp::Endpoint& local) const;
  bool would_complete_handshake(const tcp::Connection& c, const wire::TcpRepr& seg) const;

  ConnId add_connection(std::unique_ptr<tcp::Connection> conn, std::optional<ListenerId> owner);
  Slot* slot_of(ConnId id);
  const Slot* slot_of(ConnId id) const;
  // A connection may have changed: queue it for output, then sync().
  void after_change(uint32_t slot);
  // Takes its events, reschedules its timer, frees it if it is done.
  void sync(uint32_t slot);
  void drain_events(uint32_t slot);
  void maybe_free(uint32_t slot);
  void mark_dirty(uint32_t slot);

  void queue_packet(const wire::Ipv4Repr& ip, const wire::TcpRepr& tcp);
  void queue_rst_for(const tcp::FourTuple& tuple, const wire::TcpRepr& seg);

  StackConfig cfg_;
  std::vector<wire::Ipv4Address> addresses_;
  tcp::IsnGenerator isn_;
  SynCookies cookies_;
  PortAllocator ports_;
  TimerWheel wheel_;

  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  std::unordered_map<tcp::FourTuple, uint32_t> by_tuple_;
  std::vector<Listener> listeners_;
  std::unordered_map<tcp::Endpoint, ListenerId> listener_by_endpoint_;

  std::vector<uint32_t> dirty_;             // slots that may have output
  std::deque<std::vector<std::byte>> out_;  // packets made by the stack itself (RST, ICMP, cookies)
  std::vector<std::byte> tx_;               // the packet poll_transmit returned last
  std::deque<StackEvent> events_;
  uint16_t ip_id_ = 0;
  mutable Counters counters_;
  Counters retired_;  // the loss-recovery statistics of connections already freed
};

}  // namespace synack::stack
