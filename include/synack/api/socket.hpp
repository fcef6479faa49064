// api::Host and api::Socket — BSD-like, non-blocking TCP sockets over a stack::Stack.
//
// A Host owns one Stack, the EventLoop that drives it and its devices. Host::socket()
// makes a Socket: a move-only handle with the BSD calls (bind, listen, accept, connect,
// send, recv, shutdown, close) that never block, readiness callbacks called from the loop
// (on_readable, on_writable, on_connected, on_error, on_closed, on_state) and options.
// Errors are std::error_code with their POSIX meanings:
//   connect    EINPROGRESS (started; on_connected or on_error follow), EISCONN, EADDRINUSE,
//              EADDRNOTAVAIL; later, through on_error/take_error(): ECONNREFUSED, ETIMEDOUT
//   accept     EAGAIN (nothing queued), EINVAL (not listening)
//   send       EAGAIN (buffer full, or still connecting), EPIPE (after shutdown(kWrite) or
//              once the connection is gone), ENOTCONN, or the connection's error once
//   recv       EAGAIN (nothing to read), 0 bytes = end of stream, ENOTCONN, or the
//              connection's error once (ECONNRESET, ETIMEDOUT), then 0
//   bind       EADDRINUSE, EADDRNOTAVAIL, EINVAL;  listen  EADDRINUSE, EINVAL
//
// Close and shutdown, as Linux does them:
//   shutdown(kWrite)  the engine's CLOSE: a FIN after the queued data; reading goes on.
//   shutdown(kRead)   recv returns end of stream from now on; data that arrives later is
//                     read and discarded by the socket layer (the window stays open and
//                     no RST is sent — BSD's behaviour; TCP has no way to tell the peer).
//   close()           CLOSE then release: the FIN handshake and TIME_WAIT carry on in the
//                     stack without the handle. If unread data remains the connection is
//                     aborted with a RST instead (RFC 2525 §2.17, as Linux). With LINGER
//                     zero it is always aborted (RST). A non-blocking close never waits; a
//                     positive LINGER is honoured by the blocking facade.
//   abort()           close() with a RST whatever the state (LINGER 0).
//
// Options (set_* return EINVAL where the option makes no sense any more):
//   NODELAY, KEEPALIVE (+ idle, interval, count): any time, applied to the connection.
//   SNDBUF, RCVBUF: before connect/listen; the size of the connection's send and receive
//           buffers (the receive buffer sets the window and its scale), from 4 KiB (smaller
//           values are raised to it) to 64 MiB (EINVAL above). A listener passes its sizes
//           to the connections it accepts. Unset: StackConfig.tcp's.
//   LINGER: nullopt (off), zero (abortive close), or a time the blocking close waits.
//   REUSEADDR: what it means here: binding an address:port that another socket of this
//           Host has bound succeeds when both set REUSEADDR and neither listens (Linux's
//           rule). Connections in TIME_WAIT never block a listener in this stack, so the
//           classic use (restarting a server) works with or without it.
//   Urgent data: send(data, {.urgent = true}) marks the end of `data` as the urgent point;
//           the data stays in the stream (RFC 6093 §4, "inline"); urgent_mark() tells how
//           many bytes a reader has before the end of the urgent data.
//
// Threads: a Host and its Sockets belong to the thread running its loop. Sockets must be
// destroyed before their Host.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "synack/api/device.hpp"
#include "synack/api/event_loop.hpp"
#include "synack/expected.hpp"
#include "synack/stack/stack.hpp"
#include "synack/tcp/config.hpp"
#include "synack/tcp/four_tuple.hpp"
#include "synack/time.hpp"
#include "synack/wire/bytes.hpp"

namespace synack::api {

enum class ShutdownHow : uint8_t { kRead, kWrite, kBoth };  // SHUT_RD, SHUT_WR, SHUT_RDWR

struct SendFlags {
  bool urgent = false;  // MSG_OOB, with urgent data kept inline
};

struct SocketOptions {
  bool nodelay = false;                  // TCP_NODELAY
  tcp::KeepaliveConfig keepalive;        // SO_KEEPALIVE, TCP_KEEPIDLE/KEEPINTVL/KEEPCNT
  std::optional<size_t> send_buffer;     // SO_SNDBUF
  std::optional<size_t> receive_buffer;  // SO_RCVBUF
  std::optional<Duration> linger;        // SO_LINGER: nullopt off, zero abortive
  bool reuse_address = false;            // SO_REUSEADDR
};

struct SocketCallbacks {
  std::function<void()> on_readable;              // data, end of stream, or (listener) a connection
  std::function<void()> on_writable;              // send buffer space
  std::function<void()> on_connected;             // handshake complete
  std::function<void(std::error_code)> on_error;  // ECONNREFUSED, ECONNRESET, ETIMEDOUT...
  std::function<void(std::error_code)> on_closed;  // reached CLOSED (error: why, if failed)
  std::function<void(tcp::State from, tcp::State to)> on_state;
};

class Host;

class Socket {
 public:
  Socket() = default;
  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();  // close()s

  bool valid() const;

  std::error_code bind(const tcp::Endpoint& local);
  std::error_code listen(uint32_t backlog = 128);
  expected<Socket, std::error_code> accept();
  std::error_code connect(const tcp::Endpoint& remote);
  expected<size_t, std::error_code> send(wire::Bytes data, SendFlags flags = {});
  expected<size_t, std::error_code> recv(wire::MutableBytes out);
  std::error_code shutdown(ShutdownHow how);
  std::error_code close();
  std::error_code abort();

  std::error_code set_nodelay(bool on);
  std::error_code set_keepalive(bool on);
  std::error_code set_keepalive_idle(Duration idle);
  std::error_code set_keepalive_interval(Duration interval);
  std::error_code set_keepalive_count(uint8_t probes);
  std::error_code set_send_buffer(size_t bytes);
  std::error_code set_receive_buffer(size_t bytes);
  std::error_code set_linger(std::optional<Duration> linger);
  std::error_code set_reuse_address(bool on);
  const SocketOptions& options() const;

  void set_callbacks(SocketCallbacks callbacks);
  SocketCallbacks& callbacks();

  // SO_ERROR: the pending error, cleared by reading it.
  std::error_code take_error();
  std::optional<uint64_t> urgent_mark() const;
  size_t readable() const;  // bytes recv() can return now
  size_t writable() const;  // bytes send() takes now
  bool listening() const;
  bool connected() const;  // the handshake completed (it may have closed since)
  std::optional<tcp::Endpoint> local_endpoint() const;
  std::optional<tcp::Endpoint> peer_endpoint() const;
  std::optional<tcp::State> state() const;
  std::optional<tcp::ConnectionStatus> status() const;
  std::optional<stack::ConnId> conn_id() const;
  Host* host() const { return host_; }

 private:
  friend class Host;
  Socket(Host* host, uint32_t index, uint32_t generation)
      : host_(host), index_(index), generation_(generation) {}

  Host* host_ = nullptr;
  uint32_t index_ = 0;
  uint32_t generation_ = 0;
};

struct HostConfig {
  stack::StackConfig stack;
  std::vector<wire::Ipv4Address> addresses;
};

class Host {
 public:
  explicit Host(const HostConfig& config = {});
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  void add_address(wire::Ipv4Address address) { stack_.add_address(address); }
  // The host owns the device; packets to `route` go out through it (the first match).
  Device& add_device(std::unique_ptr<Device> device, Route route = {});
  Socket socket();

  stack::Stack& stack() { return stack_; }
  EventLoop& loop() { return loop_; }
  bool run_once(std::optional<Duration> timeout) { return loop_.run_once(timeout); }
  bool run_until(const std::function<bool()>& done, Instant deadline) {
    return loop_.run_until(done, deadline);
  }
  size_t open_sockets() const;

 private:
  friend class Socket;
  enum class Kind : uint8_t { kFresh, kListener, kConnection };
  struct Entry {
    uint32_t generation = 0;
    bool in_use = false;
    Kind kind = Kind::kFresh;
    std::optional<tcp::Endpoint> bound;
    stack::ListenerId listener = 0;
    stack::ConnId conn;
    SocketOptions options;
    SocketCallbacks callbacks;
    std::error_code pending_error;
    bool connected = false;
    bool shut_rd = false;
    bool shut_wr = false;
  };
  static uint64_t key(stack::ConnId id) { return (uint64_t{id.slot} << 32) | id.generation; }

  Entry* entry(const Socket& s);
  const Entry* entry(const Socket& s) const;
  Socket allocate(Kind kind);
  void free_entry(uint32_t index);
  tcp::Connection* connection_of(const Entry& e);
  tcp::Config connection_config(const Entry& e) const;
  void apply_options(Entry& e);
  void on_event(const stack::StackEvent& event);
  void discard_input(Entry& e);
  std::error_code close(Socket& s, bool abortive);

  stack::Stack stack_;
  EventLoop loop_;
  std::vector<std::unique_ptr<Device>> devices_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<uint32_t> free_entries_;
  std::unordered_map<uint64_t, uint32_t> by_conn_;
  std::unordered_map<stack::ListenerId, uint32_t> by_listener_;
};

}  // namespace synack::api
