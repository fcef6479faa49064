#include "synack/api/blocking.hpp"

#include <chrono>

namespace synack::api {

namespace {

using Lock = std::unique_lock<std::mutex>;

std::error_code errc(std::errc e) {
  return std::make_error_code(e);
}

bool would_block(const std::error_code& e) {
  return e == std::errc::resource_unavailable_try_again;
}

// Callbacks that wake the waiters of this socket.
void wire_signal(detail::BlockingCore& core, Socket& s,
                 const std::shared_ptr<detail::Signal>& signal) {
  auto bump = [&core, signal] {
    ++signal->count;
    core.cv.notify_all();
  };
  s.set_callbacks(SocketCallbacks{
      .on_readable = bump,
      .on_writable = bump,
      .on_connected = bump,
      .on_error = [bump](std::error_code) { bump(); },
      .on_closed = [bump](std::error_code) { bump(); },
      .on_state = [bump](tcp::State, tcp::State) { bump(); },
  });
}

// Sleeps until the socket's signal changes, the host stops or `until` passes. False on
// timeout or stop.
bool wait_signal(detail::BlockingCore& core, Lock& lock, const detail::Signal& signal,
                 std::optional<std::chrono::steady_clock::time_point> until) {
  const uint64_t seen = signal.count;
  auto changed = [&] { return signal.count != seen || core.stopping; };
  if (until) {
    core.cv.wait_until(lock, *until, changed);
  } else {
    core.cv.wait(lock, changed);
  }
  return signal.count != seen && !core.stopping;
}

std::optional<std::chrono::steady_clock::time_point> deadline_of(std::optional<Duration> t) {
  if (!t) return std::nullopt;
  return std::chrono::steady_clock::now() + std::chrono::microseconds(t->as_micros());
}

std::error_code apply(Socket& s, const SocketOptions& o) {
  std::error_code e;
  if (o.nodelay) e = s.set_nodelay(true);
  if (!e && o.keepalive.enabled) {
    e = s.set_keepalive_idle(o.keepalive.idle);
    if (!e) e = s.set_keepalive_interval(o.keepalive.interval);
    if (!e) e = s.set_keepalive_count(o.keepalive.probes);
    if (!e) e = s.set_keepalive(true);
  }
  if (!e && o.send_buffer) e = s.set_send_buffer(*o.send_buffer);
  if (!e && o.receive_buffer) e = s.set_receive_buffer(*o.receive_buffer);
  if (!e) e = s.set_linger(o.linger);
  if (!e) e = s.set_reuse_address(o.reuse_address);
  return e;
}

}  // namespace

// --- BlockingHost -----------------------------------------------------------------------

BlockingHost::BlockingHost(const HostConfig& config, std::vector<std::unique_ptr<Device>> devices)
    : core_(std::make_shared<detail::BlockingCore>(config)) {
  for (auto& d : devices)
    core_->host.add_device(std::move(d));
  core_->host.loop().set_turn_mutex(&core_->mutex);
  thread_ = std::thread([core = core_] { core->host.loop().run(); });
}

BlockingHost::~BlockingHost() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void BlockingHost::stop() {
  {
    std::lock_guard lock(core_->mutex);
    core_->stopping = true;
  }
  core_->cv.notify_all();
  core_->host.loop().stop();
}

expected<BlockingSocket, std::error_code> BlockingHost::connect(
    const tcp::Endpoint& remote, std::optional<Duration> timeout, const SocketOptions& options,
    std::optional<tcp::Endpoint> local) {
  const auto until = deadline_of(timeout);
  Lock lock(core_->mutex);
  if (core_->stopping) return unexpected(errc(std::errc::operation_canceled));
  Socket s = core_->host.socket();
  auto signal = std::make_shared<detail::Signal>();
  wire_signal(*core_, s, signal);
  if (auto e = apply(s, options)) return unexpected(e);
  if (local) {
    if (auto e = s.bind(*local)) return unexpected(e);
  }
  if (auto e = s.connect(remote); e != std::errc::operation_in_progress) return unexpected(e);
  while (!s.connected()) {
    const auto st = s.state();
    if (!st || *st == tcp::State::kClosed) {
      auto e = s.take_error();
      return unexpected(e ? e : errc(std::errc::connection_refused));
    }
    if (!wait_signal(*core_, lock, *signal, until)) {
      if (s.connected()) break;
      const bool stopped = core_->stopping;
      s.abort();
      return unexpected(errc(stopped ? std::errc::operation_canceled : std::errc::timed_out));
    }
  }
  return BlockingSocket(core_, std::move(s), signal);
}

expected<BlockingListener, std::error_code> BlockingHost::listen(const tcp::Endpoint& local,
                                                                 uint32_t backlog,
                                                                 const SocketOptions& options) {
  std::lock_guard lock(core_->mutex);
  if (core_->stopping) return unexpected(errc(std::errc::operation_canceled));
  Socket s = core_->host.socket();
  auto signal = std::make_shared<detail::Signal>();
  wire_signal(*core_, s, signal);
  if (auto e = apply(s, options)) return unexpected(e);
  if (auto e = s.bind(local)) return unexpected(e);
  if (auto e = s.listen(backlog)) return unexpected(e);
  return BlockingListener(core_, std::move(s), signal);
}

// --- BlockingListener -------------------------------------------------------------------

BlockingListener& BlockingListener::operator=(BlockingListener&& other) noexcept {
  if (this != &other) {
    close();
    core_ = std::move(other.core_);
    socket_ = std::move(other.socket_);
    signal_ = std::move(other.signal_);
  }
  return *this;
}

BlockingListener::~BlockingListener() {
  close();
}

expected<BlockingSocket, std::error_code> BlockingListener::accept(
    std::optional<Duration> timeout) {
  if (!core_) return unexpected(errc(std::errc::bad_file_descriptor));
  const auto until = deadline_of(timeout);
  Lock lock(core_->mutex);
  while (true) {
    if (core_->stopping) return unexpected(errc(std::errc::operation_canceled));
    auto s = socket_.accept();
    if (s) {
      auto signal = std::make_shared<detail::Signal>();
      wire_signal(*core_, *s, signal);
      return BlockingSocket(core_, std::move(*s), signal);
    }
    if (!would_block(s.error())) return unexpected(s.error());
    if (!wait_signal(*core_, lock, *signal_, until) && !core_->stopping) {
      // Timed out (a last look: the connection may have come with the deadline).
      auto last = socket_.accept();
      if (!last) return unexpected(errc(std::errc::timed_out));
      auto signal = std::make_shared<detail::Signal>();
      wire_signal(*core_, *last, signal);
      return BlockingSocket(core_, std::move(*last), signal);
    }
  }
}

std::error_code BlockingListener::close() {
  if (!core_) return errc(std::errc::bad_file_descriptor);
  std::lock_guard lock(core_->mutex);
  auto e = socket_.valid() ? socket_.close() : errc(std::errc::bad_file_descriptor);
  socket_ = Socket();  // drops the handle under the lock
  return e;
}

std::optional<tcp::Endpoint> BlockingListener::local_endpoint() {
  if (!core_) return std::nullopt;
  std::lock_guard lock(core_->mutex);
  return socket_.local_endpoint();
}

// --- BlockingSocket ---------------------------------------------------------------------

BlockingSocket& BlockingSocket::operator=(BlockingSocket&& other) noexcept {
  if (this != &other) {
    close();
    core_ = std::move(other.core_);
    socket_ = std::move(other.socket_);
    signal_ = std::move(other.signal_);
  }
  return *this;
}

BlockingSocket::~BlockingSocket() {
  close();
}

expected<size_t, std::error_code> BlockingSocket::send(wire::Bytes data,
                                                       std::optional<Duration> timeout,
                                                       SendFlags flags) {
  if (!core_) return unexpected(errc(std::errc::bad_file_descriptor));
  const auto until = deadline_of(timeout);
  Lock lock(core_->mutex);
  size_t sent = 0;
  while (sent < data.size() || data.empty()) {
    if (core_->stopping) break;
    // The urgent flag goes with the last byte: the urgent point is the end of `data`.
    auto n = socket_.send(data.subspan(sent), flags);
    if (n) {
      sent += *n;
      if (data.empty()) break;
      continue;
    }
    if (!would_block(n.error())) {
      if (sent > 0) return sent;
      return unexpected(n.error());
    }
    if (!wait_signal(*core_, lock, *signal_, until)) {
      if (core_->stopping || until) break;
    }
  }
  if (sent == 0 && !data.empty()) {
    return unexpected(errc(core_->stopping ? std::errc::operation_canceled : std::errc::timed_out));
  }
  return sent;
}

expected<size_t, std::error_code> BlockingSocket::recv(wire::MutableBytes out,
                                                       std::optional<Duration> timeout) {
  if (!core_) return unexpected(errc(std::errc::bad_file_descriptor));
  const auto until = deadline_of(timeout);
  Lock lock(core_->mutex);
  while (true) {
    auto n = socket_.recv(out);
    if (n || !would_block(n.error())) return n;
    if (core_->stopping) return unexpected(errc(std::errc::operation_canceled));
    if (!wait_signal(*core_, lock, *signal_, until) && !core_->stopping) {
      auto last = socket_.recv(out);
      if (last || !would_block(last.error())) return last;
      return unexpected(errc(std::errc::timed_out));
    }
  }
}

std::error_code BlockingSocket::shutdown(ShutdownHow how) {
  if (!core_) return errc(std::errc::bad_file_descriptor);
  std::lock_guard lock(core_->mutex);
  return socket_.shutdown(how);
}

std::error_code BlockingSocket::close() {
  if (!core_) return errc(std::errc::bad_file_descriptor);
  Lock lock(core_->mutex);
  if (!socket_.valid()) return errc(std::errc::bad_file_descriptor);
  const auto linger = socket_.options().linger;
  if (linger && linger->as_micros() > 0 && socket_.readable() == 0 && !core_->stopping) {
    // SO_LINGER: the FIN, then wait until the peer has acknowledged it (or the time is up).
    const auto st = socket_.state();
    if (st && tcp::is_synchronized(*st)) (void)socket_.shutdown(ShutdownHow::kWrite);
    const auto until = deadline_of(linger);
    auto done = [&] {
      const auto s = socket_.state();
      return !s || *s == tcp::State::kClosed || *s == tcp::State::kFinWait2 ||
             *s == tcp::State::kTimeWait;
    };
    while (!done()) {
      if (!wait_signal(*core_, lock, *signal_, until)) break;
    }
  }
  auto e = socket_.close();
  socket_ = Socket();  // drops the handle under the lock
  return e;
}

}  // namespace synack::api
