// api::BlockingHost — a thread-safe, blocking facade over Host.
//
// The constructor starts a thread that runs the host's EventLoop. Every call from another
// thread takes the host's mutex (the loop takes it for a turn's work, never while it waits
// in epoll_wait), tries the non-blocking operation, and if it would block sleeps on a
// condition variable until a socket callback — called by the loop when the stack reports
// readiness, a state change or an error — wakes it. No polling, no sleeps. Every blocking
// call takes an optional timeout (nullopt: wait as long as it takes); a timeout gives
// ETIMEDOUT (for connect, accept, recv) or the bytes sent so far (send). Calls made after
// the host stopped fail with ECANCELED.
//
//   api::BlockingHost host(config, std::move(devices));
//   auto listener = host.listen({addr, 7});
//   auto conn = listener->accept();
//   conn->recv(buffer);  conn->send(bytes);  conn->close();
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "synack/api/socket.hpp"

namespace synack::api {

namespace detail {

struct BlockingCore {
  explicit BlockingCore(const HostConfig& config) : host(config) {}
  std::mutex mutex;
  std::condition_variable cv;
  Host host;
  bool stopping = false;
};

// Bumped by a socket's callbacks (under the mutex): a waiter sleeps until it changes.
struct Signal {
  uint64_t count = 0;
};

}  // namespace detail

class BlockingSocket {
 public:
  BlockingSocket(BlockingSocket&&) noexcept = default;
  BlockingSocket& operator=(BlockingSocket&& other) noexcept;
  ~BlockingSocket();  // close()

  // Sends all of `data` unless the timeout or an error comes first: the bytes sent, or the
  // error if none were.
  expected<size_t, std::error_code> send(wire::Bytes data,
                                         std::optional<Duration> timeout = std::nullopt,
                                         SendFlags flags = {});
  // Waits for data: at least one byte, 0 at end of stream, or an error (ETIMEDOUT).
  expected<size_t, std::error_code> recv(wire::MutableBytes out,
                                         std::optional<Duration> timeout = std::nullopt);
  std::error_code shutdown(ShutdownHow how);
  // With a positive LINGER: sends the FIN and waits (at most that long) until the peer has
  // acknowledged everything, then closes. Otherwise as Socket::close().
  std::error_code close();
  // Runs f(Socket&) under the host's lock: options, endpoints, status.
  template <class F>
  auto with_socket(F&& f) {
    std::lock_guard lock(core_->mutex);
    return f(socket_);
  }

 private:
  friend class BlockingHost;
  friend class BlockingListener;
  BlockingSocket(std::shared_ptr<detail::BlockingCore> core, Socket socket,
                 std::shared_ptr<detail::Signal> signal)
      : core_(std::move(core)), socket_(std::move(socket)), signal_(std::move(signal)) {}

  std::shared_ptr<detail::BlockingCore> core_;
  Socket socket_;
  std::shared_ptr<detail::Signal> signal_;
};

class BlockingListener {
 public:
  BlockingListener(BlockingListener&&) noexcept = default;
  BlockingListener& operator=(BlockingListener&& other) noexcept;
  ~BlockingListener();

  expected<BlockingSocket, std::error_code> accept(std::optional<Duration> timeout = std::nullopt);
  std::error_code close();
  std::optional<tcp::Endpoint> local_endpoint();

 private:
  friend class BlockingHost;
  BlockingListener(std::shared_ptr<detail::BlockingCore> core, Socket socket,
                   std::shared_ptr<detail::Signal> signal)
      : core_(std::move(core)), socket_(std::move(socket)), signal_(std::move(signal)) {}

  std::shared_ptr<detail::BlockingCore> core_;
  Socket socket_;
  std::shared_ptr<detail::Signal> signal_;
};

class BlockingHost {
 public:
  BlockingHost(const HostConfig& config, std::vector<std::unique_ptr<Device>> devices);
  ~BlockingHost();  // stops and joins the loop thread
  BlockingHost(const BlockingHost&) = delete;
  BlockingHost& operator=(const BlockingHost&) = delete;

  // `options` are set before the connect (or listen); `local` binds first.
  expected<BlockingSocket, std::error_code> connect(
      const tcp::Endpoint& remote, std::optional<Duration> timeout = std::nullopt,
      const SocketOptions& options = {}, std::optional<tcp::Endpoint> local = std::nullopt);
  expected<BlockingListener, std::error_code> listen(const tcp::Endpoint& local,
                                                     uint32_t backlog = 128,
                                                     const SocketOptions& options = {});
  // Stops the loop; blocked calls return ECANCELED. The destructor calls it.
  void stop();
  // Runs f(Host&) under the lock (counters, the stack's table, ...).
  template <class F>
  auto with_host(F&& f) {
    std::lock_guard lock(core_->mutex);
    return f(core_->host);
  }

 private:
  std::shared_ptr<detail::BlockingCore> core_;
  std::thread thread_;
};

}  // namespace synack::api
