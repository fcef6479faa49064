#include "synack/api/socket.hpp"

#include <algorithm>
#include <array>

namespace synack::api {

namespace {

std::error_code errc(std::errc e) {
  return std::make_error_code(e);
}

// SO_SNDBUF / SO_RCVBUF bounds: below the minimum the value is raised to it (as Linux
// does); above the maximum it is refused.
constexpr size_t kMinSocketBuffer = 4096;
constexpr size_t kMaxSocketBuffer = size_t{64} << 20;

template <class... Args, class F>
void call(const F& f, Args... args) {
  // A copy: the callback may close its own socket, which clears the stored one.
  if (f) {
    F copy = f;
    copy(args...);
  }
}

}  // namespace

// --- Host -------------------------------------------------------------------------------

Host::Host(const HostConfig& config) : stack_(config.stack), loop_(stack_) {
  for (auto a : config.addresses)
    stack_.add_address(a);
  loop_.set_event_handler([this](const stack::StackEvent& e) { on_event(e); });
}

Host::~Host() = default;

Device& Host::add_device(std::unique_ptr<Device> device, Route route) {
  Device& d = *device;
  devices_.push_back(std::move(device));
  loop_.add_device(d, route);
  return d;
}

Socket Host::socket() {
  return allocate(Kind::kFresh);
}

size_t Host::open_sockets() const {
  return static_cast<size_t>(
      std::count_if(entries_.begin(), entries_.end(), [](const auto& e) { return e->in_use; }));
}

Socket Host::allocate(Kind kind) {
  uint32_t index;
  if (!free_entries_.empty()) {
    index = free_entries_.back();
    free_entries_.pop_back();
  } else {
    index = static_cast<uint32_t>(entries_.size());
    entries_.push_back(std::make_unique<Entry>());
  }
  Entry& e = *entries_[index];
  const uint32_t generation = e.generation + 1;
  e = Entry{};
  e.generation = generation;
  e.in_use = true;
  e.kind = kind;
  return Socket(this, index, generation);
}

void Host::free_entry(uint32_t index) {
  Entry& e = *entries_[index];
  if (e.kind == Kind::kConnection) by_conn_.erase(key(e.conn));
  if (e.kind == Kind::kListener) by_listener_.erase(e.listener);
  e.in_use = false;
  e.callbacks = {};
  free_entries_.push_back(index);
}

Host::Entry* Host::entry(const Socket& s) {
  if (s.host_ != this || s.index_ >= entries_.size()) return nullptr;
  Entry& e = *entries_[s.index_];
  return e.in_use && e.generation == s.generation_ ? &e : nullptr;
}

const Host::Entry* Host::entry(const Socket& s) const {
  return const_cast<Host*>(this)->entry(s);
}

tcp::Connection* Host::connection_of(const Entry& e) {
  return e.kind == Kind::kConnection ? stack_.connection(e.conn) : nullptr;
}

tcp::Config Host::connection_config(const Entry& e) const {
  tcp::Config config = stack_.config().tcp;
  if (e.options.send_buffer) config.send_buffer = *e.options.send_buffer;
  if (e.options.receive_buffer) config.receive_buffer = *e.options.receive_buffer;
  return config;
}

void Host::apply_options(Entry& e) {
  tcp::Connection* c = connection_of(e);
  if (c == nullptr) return;
  const Instant now = EventLoop::clock_now();
  c->set_nodelay(e.options.nodelay);
  c->set_keepalive(e.options.keepalive, now);
  stack_.touch(e.conn);
}

void Host::discard_input(Entry& e) {
  std::array<std::byte, 4096> sink{};
  for (int i = 0; i < 1024; ++i) {
    if (stack_.recv(e.conn, sink, EventLoop::clock_now()) == 0) break;
  }
}

void Host::on_event(const stack::StackEvent& event) {
  if (event.kind == stack::StackEvent::Kind::kAcceptable) {
    auto it = by_listener_.find(event.listener);
    if (it != by_listener_.end()) call(entries_[it->second]->callbacks.on_readable);
    return;
  }
  auto it = by_conn_.find(key(event.conn));
  if (it == by_conn_.end()) return;  // not accepted yet, or its socket is closed
  Entry& e = *entries_[it->second];
  const tcp::Event& ev = event.event;
  switch (ev.kind) {
    case tcp::EventKind::kStateChanged:
      call(e.callbacks.on_state, ev.from, ev.to);
      break;
    case tcp::EventKind::kConnected:
      e.connected = true;
      call(e.callbacks.on_connected);
      if (entries_[it->second]->in_use) call(e.callbacks.on_writable);
      break;
    case tcp::EventKind::kReadable:
    case tcp::EventKind::kPeerClosed:
      if (e.shut_rd) {
        discard_input(e);
      } else {
        call(e.callbacks.on_readable);
      }
      break;
    case tcp::EventKind::kWritable:
      call(e.callbacks.on_writable);
      break;
    case tcp::EventKind::kError:
      e.pending_error = ev.error;
      call(e.callbacks.on_error, ev.error);
      break;
    case tcp::EventKind::kClosed:
      call(e.callbacks.on_closed, ev.error);
      break;
    case tcp::EventKind::kRecovery:  // visible through status(); no callback
      break;
  }
}

std::error_code Host::close(Socket& s, bool abortive) {
  Entry* e = entry(s);
  if (e == nullptr) return errc(std::errc::bad_file_descriptor);
  const Instant now = EventLoop::clock_now();
  if (e->kind == Kind::kListener) {
    stack_.close_listener(e->listener, now);
  } else if (e->kind == Kind::kConnection) {
    if (tcp::Connection* c = connection_of(*e)) {
      // RFC 2525 §2.17: closing with unread data discards it, and the peer must learn that
      // through a RST rather than a FIN.
      const bool linger_zero = e->options.linger && e->options.linger->as_micros() == 0;
      if (abortive || linger_zero || c->readable() > 0) {
        stack_.abort(e->conn, now);
      } else if (c->state() != tcp::State::kClosed && !e->shut_wr) {
        stack_.close(e->conn, now);
      }
      stack_.release(e->conn);
    }
  }
  free_entry(s.index_);
  loop_.flush();
  return {};
}

// --- Socket -----------------------------------------------------------------------------

Socket::Socket(Socket&& other) noexcept
    : host_(other.host_), index_(other.index_), generation_(other.generation_) {
  other.host_ = nullptr;
}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    if (valid()) close();
    host_ = other.host_;
    index_ = other.index_;
    generation_ = other.generation_;
    other.host_ = nullptr;
  }
  return *this;
}

Socket::~Socket() {
  if (valid()) close();
}

bool Socket::valid() const {
  return host_ != nullptr && host_->entry(*this) != nullptr;
}

std::error_code Socket::bind(const tcp::Endpoint& local) {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return errc(std::errc::bad_file_descriptor);
  if (e->kind != Host::Kind::kFresh || e->bound) return errc(std::errc::invalid_argument);
  if (local.addr != wire::Ipv4Address() && !host_->stack_.is_local(local.addr)) {
    return errc(std::errc::address_not_available);
  }
  if (local.port != 0) {
    for (const auto& other : host_->entries_) {
      if (!other->in_use || other.get() == e || !other->bound) continue;
      const tcp::Endpoint& b = *other->bound;
      if (b.port != local.port) continue;
      const bool overlap = b.addr == local.addr || b.addr == wire::Ipv4Address() ||
                           local.addr == wire::Ipv4Address();
      if (!overlap) continue;
      const bool shared = e->options.reuse_address && other->options.reuse_address &&
                          other->kind != Host::Kind::kListener;
      if (!shared) return errc(std::errc::address_in_use);
    }
  }
  e->bound = local;
  return {};
}

std::error_code Socket::listen(uint32_t backlog) {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return errc(std::errc::bad_file_descriptor);
  if (e->kind != Host::Kind::kFresh || !e->bound) return errc(std::errc::invalid_argument);
  auto id = host_->stack_.listen(*e->bound, backlog, host_->connection_config(*e));
  if (!id) return id.error();
  e->kind = Host::Kind::kListener;
  e->listener = *id;
  host_->by_listener_[*id] = index_;
  return {};
}

expected<Socket, std::error_code> Socket::accept() {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return unexpected(errc(std::errc::bad_file_descriptor));
  if (e->kind != Host::Kind::kListener) return unexpected(errc(std::errc::invalid_argument));
  auto conn = host_->stack_.accept(e->listener);
  if (!conn) return unexpected(errc(std::errc::resource_unavailable_try_again));
  const SocketOptions inherited = e->options;  // Linux: accepted sockets inherit options
  Socket s = host_->allocate(Host::Kind::kConnection);
  Host::Entry& n = *host_->entry(s);
  n.conn = *conn;
  n.options = inherited;
  n.connected = true;
  if (const tcp::Connection* c = host_->stack_.connection(*conn)) {
    n.bound = c->tuple().local;
    if (c->state() == tcp::State::kClosed) n.pending_error = c->error();
  }
  host_->by_conn_[Host::key(*conn)] = s.index_;
  host_->apply_options(n);
  host_->loop_.flush();
  return s;
}

std::error_code Socket::connect(const tcp::Endpoint& remote) {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return errc(std::errc::bad_file_descriptor);
  if (e->kind == Host::Kind::kConnection) {
    return errc(e->connected ? std::errc::already_connected
                             : std::errc::connection_already_in_progress);
  }
  if (e->kind == Host::Kind::kListener) return errc(std::errc::invalid_argument);
  auto conn =
      host_->stack_.connect(remote, EventLoop::clock_now(), e->bound, host_->connection_config(*e));
  if (!conn) return conn.error();
  e->kind = Host::Kind::kConnection;
  e->conn = *conn;
  if (const tcp::Connection* c = host_->stack_.connection(*conn)) e->bound = c->tuple().local;
  host_->by_conn_[Host::key(*conn)] = index_;
  host_->apply_options(*e);
  host_->loop_.flush();
  return errc(std::errc::operation_in_progress);
}

expected<size_t, std::error_code> Socket::send(wire::Bytes data, SendFlags flags) {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return unexpected(errc(std::errc::bad_file_descriptor));
  if (e->kind != Host::Kind::kConnection) return unexpected(errc(std::errc::not_connected));
  tcp::Connection* c = host_->connection_of(*e);
  if (c == nullptr || c->state() == tcp::State::kClosed) {
    if (auto err = take_error()) return unexpected(err);
    return unexpected(errc(std::errc::broken_pipe));
  }
  if (e->shut_wr) return unexpected(errc(std::errc::broken_pipe));
  if (c->state() == tcp::State::kSynSent || c->state() == tcp::State::kSynRcvd) {
    return unexpected(errc(std::errc::resource_unavailable_try_again));
  }
  auto sent = host_->stack_.send(e->conn, data, EventLoop::clock_now(), flags.urgent);
  host_->loop_.flush();
  return sent;
}

expected<size_t, std::error_code> Socket::recv(wire::MutableBytes out) {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return unexpected(errc(std::errc::bad_file_descriptor));
  if (e->kind != Host::Kind::kConnection) return unexpected(errc(std::errc::not_connected));
  if (e->shut_rd || out.empty()) return size_t{0};
  tcp::Connection* c = host_->connection_of(*e);
  if (c == nullptr) return size_t{0};
  if (c->state() == tcp::State::kSynSent || c->state() == tcp::State::kSynRcvd) {
    return unexpected(errc(std::errc::resource_unavailable_try_again));
  }
  const size_t n = host_->stack_.recv(e->conn, out, EventLoop::clock_now());
  if (n > 0) {
    host_->loop_.flush();  // a window update may be due
    return n;
  }
  if (c->eof()) return size_t{0};
  if (c->state() == tcp::State::kClosed) {
    if (auto err = take_error()) return unexpected(err);
    return size_t{0};
  }
  return unexpected(errc(std::errc::resource_unavailable_try_again));
}

std::error_code Socket::shutdown(ShutdownHow how) {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return errc(std::errc::bad_file_descriptor);
  tcp::Connection* c = host_->connection_of(*e);
  if (c == nullptr || !tcp::is_synchronized(c->state())) return errc(std::errc::not_connected);
  if (how != ShutdownHow::kWrite && !e->shut_rd) {
    e->shut_rd = true;
    host_->discard_input(*e);
  }
  if (how != ShutdownHow::kRead && !e->shut_wr) {
    e->shut_wr = true;
    if (auto err = host_->stack_.close(e->conn, EventLoop::clock_now())) return err;
  }
  host_->loop_.flush();
  return {};
}

std::error_code Socket::close() {
  if (host_ == nullptr) return errc(std::errc::bad_file_descriptor);
  return host_->close(*this, false);
}

std::error_code Socket::abort() {
  if (host_ == nullptr) return errc(std::errc::bad_file_descriptor);
  return host_->close(*this, true);
}

std::error_code Socket::set_nodelay(bool on) {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return errc(std::errc::bad_file_descriptor);
  e->options.nodelay = on;
  host_->apply_options(*e);
  host_->loop_.flush();
  return {};
}

std::error_code Socket::set_keepalive(bool on) {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return errc(std::errc::bad_file_descriptor);
  e->options.keepalive.enabled = on;
  host_->apply_options(*e);
  host_->loop_.flush();
  return {};
}

std::error_code Socket::set_keepalive_idle(Duration idle) {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return errc(std::errc::bad_file_descriptor);
  if (idle <= Duration()) return errc(std::errc::invalid_argument);
  e->options.keepalive.idle = idle;
  host_->apply_options(*e);
  host_->loop_.flush();
  return {};
}

std::error_code Socket::set_keepalive_interval(Duration interval) {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return errc(std::errc::bad_file_descriptor);
  if (interval <= Duration()) return errc(std::errc::invalid_argument);
  e->options.keepalive.interval = interval;
  host_->apply_options(*e);
  host_->loop_.flush();
  return {};
}

std::error_code Socket::set_keepalive_count(uint8_t probes) {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return errc(std::errc::bad_file_descriptor);
  if (probes == 0) return errc(std::errc::invalid_argument);
  e->options.keepalive.probes = probes;
  host_->apply_options(*e);
  host_->loop_.flush();
  return {};
}

std::error_code Socket::set_send_buffer(size_t bytes) {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return errc(std::errc::bad_file_descriptor);
  if (e->kind != Host::Kind::kFresh || bytes == 0) return errc(std::errc::invalid_argument);
  if (bytes > kMaxSocketBuffer) return errc(std::errc::invalid_argument);
  e->options.send_buffer = std::max(bytes, kMinSocketBuffer);
  return {};
}

std::error_code Socket::set_receive_buffer(size_t bytes) {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return errc(std::errc::bad_file_descriptor);
  if (e->kind != Host::Kind::kFresh || bytes == 0) return errc(std::errc::invalid_argument);
  if (bytes > kMaxSocketBuffer) return errc(std::errc::invalid_argument);
  e->options.receive_buffer = std::max(bytes, kMinSocketBuffer);
  return {};
}

std::error_code Socket::set_linger(std::optional<Duration> linger) {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return errc(std::errc::bad_file_descriptor);
  if (linger && *linger < Duration()) return errc(std::errc::invalid_argument);
  e->options.linger = linger;
  return {};
}

std::error_code Socket::set_reuse_address(bool on) {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return errc(std::errc::bad_file_descriptor);
  e->options.reuse_address = on;
  return {};
}

const SocketOptions& Socket::options() const {
  static const SocketOptions kNone;
  const Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  return e ? e->options : kNone;
}

void Socket::set_callbacks(SocketCallbacks callbacks) {
  if (Host::Entry* e = host_ ? host_->entry(*this) : nullptr) e->callbacks = std::move(callbacks);
}

SocketCallbacks& Socket::callbacks() {
  static SocketCallbacks none;
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) {
    none = {};
    return none;
  }
  return e->callbacks;
}

std::error_code Socket::take_error() {
  Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr) return errc(std::errc::bad_file_descriptor);
  std::error_code err = e->pending_error;
  if (!err) {
    if (const tcp::Connection* c = host_->connection_of(*e)) {
      err = c->soft_error();
    }
  }
  e->pending_error = {};
  return err;
}

std::optional<uint64_t> Socket::urgent_mark() const {
  const Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  const tcp::Connection* c = e ? host_->connection_of(*e) : nullptr;
  return c ? c->urgent_mark() : std::nullopt;
}

size_t Socket::readable() const {
  const Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  const tcp::Connection* c = e ? host_->connection_of(*e) : nullptr;
  return c && !e->shut_rd ? c->readable() : 0;
}

size_t Socket::writable() const {
  const Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  const tcp::Connection* c = e ? host_->connection_of(*e) : nullptr;
  if (c == nullptr || e->shut_wr) return 0;
  return c->send_space();
}

bool Socket::listening() const {
  const Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  return e && e->kind == Host::Kind::kListener;
}

bool Socket::connected() const {
  const Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  return e && e->connected;
}

std::optional<tcp::Endpoint> Socket::local_endpoint() const {
  const Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  return e ? e->bound : std::nullopt;
}

std::optional<tcp::Endpoint> Socket::peer_endpoint() const {
  const Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  const tcp::Connection* c = e ? host_->connection_of(*e) : nullptr;
  if (c == nullptr) return std::nullopt;
  return c->tuple().remote;
}

std::optional<tcp::State> Socket::state() const {
  const Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e && e->kind == Host::Kind::kListener) return tcp::State::kListen;
  const tcp::Connection* c = e ? host_->connection_of(*e) : nullptr;
  return c ? std::optional(c->state()) : std::nullopt;
}

std::optional<tcp::ConnectionStatus> Socket::status() const {
  const Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  const tcp::Connection* c = e ? host_->connection_of(*e) : nullptr;
  return c ? std::optional(c->status()) : std::nullopt;
}

std::optional<stack::ConnId> Socket::conn_id() const {
  const Host::Entry* e = host_ ? host_->entry(*this) : nullptr;
  if (e == nullptr || e->kind != Host::Kind::kConnection) return std::nullopt;
  return e->conn;
}

}  // namespace synack::api
