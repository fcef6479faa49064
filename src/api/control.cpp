#include "synack/api/control.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "synack/stack/stack.hpp"

namespace synack::api {

namespace {

constexpr size_t kMaxRequest = 256;
constexpr int kRequestTimeoutMs = 1000;
constexpr int kWriteTimeoutMs = 2000;

std::error_code last_error() {
  return {errno, std::generic_category()};
}

expected<sockaddr_un, std::error_code> unix_address(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    return unexpected(std::make_error_code(std::errc::filename_too_long));
  }
  std::memcpy(sa.sun_path, path.data(), path.size());
  return sa;
}

// Creates `dir` and its parent (mode 0700) if missing.
std::error_code make_dir(const std::string& dir) {
  const size_t slash = dir.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    const std::string parent = dir.substr(0, slash);
    if (::mkdir(parent.c_str(), 0700) != 0 && errno != EEXIST) return last_error();
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return last_error();
  return {};
}

// Waits (poll) for `events` on fd until the absolute deadline in ms since `start`.
bool wait_fd(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  while (true) {
    const int n = ::poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

bool write_all(int fd, std::string_view data, int timeout_ms) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(fd, POLLOUT, timeout_ms)) {
      continue;
    }
    return false;
  }
  return true;
}

std::string dash_or(std::optional<uint32_t> v) {
  return v ? std::to_string(*v) : "-";
}

}  // namespace

std::string control_dir() {
  if (const char* dir = std::getenv("SYNACK_RUNTIME_DIR"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/synack";
  }
  if (::geteuid() == 0) return "/run/synack";
  return fmt::format("/tmp/synack-{}", ::geteuid());
}

expected<std::unique_ptr<ControlServer>, std::error_code> ControlServer::start(Host& host,
                                                                               std::string name) {
  std::unique_ptr<ControlServer> server(new ControlServer(host, std::move(name)));
  const std::string dir = control_dir();
  if (auto ec = make_dir(dir)) return unexpected(ec);
  server->path_ = fmt::format("{}/{}.sock", dir, ::getpid());
  auto sa = unix_address(server->path_);
  if (!sa) return unexpected(sa.error());
  server->fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (server->fd_ < 0) return unexpected(last_error());
  // A file left by a process with this pid that died without cleaning up.
  (void)::unlink(server->path_.c_str());
  if (::bind(server->fd_, reinterpret_cast<const sockaddr*>(&*sa), sizeof *sa) != 0 ||
      ::listen(server->fd_, 16) != 0) {
    const std::error_code ec = last_error();
    ::close(server->fd_);
    server->fd_ = -1;
    return unexpected(ec);
  }
  ControlServer* self = server.get();
  host.loop().add_fd(server->fd_, [self] { self->on_ready(); });
  return server;
}

ControlServer::~ControlServer() {
  if (fd_ < 0) return;
  host_.loop().remove_fd(fd_);
  ::close(fd_);
  (void)::unlink(path_.c_str());
}

void ControlServer::on_ready() {
  while (true) {
    const int client = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) return;  // EAGAIN: no more
    std::string request;
    char buf[kMaxRequest];
    while (request.find('\n') == std::string::npos && request.size() < kMaxRequest) {
      const ssize_t n = ::recv(client, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        request.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
          wait_fd(client, POLLIN, kRequestTimeoutMs)) {
        continue;
      }
      break;  // end of stream, an error, or too slow
    }
    if (const size_t nl = request.find('\n'); nl != std::string::npos) {
      (void)write_all(client, answer(std::string_view(request).substr(0, nl)), kWriteTimeoutMs);
    }
    ::close(client);
  }
}

std::string ControlServer::answer(std::string_view request) const {
  if (!request.empty() && request.back() == '\r') request.remove_suffix(1);
  const stack::Stack& stack = host_.stack();
  std::string out = fmt::format("process {} {}\n", name_, ::getpid());
  if (request == "ss") {
    for (const stack::ListenerRow& l : stack.listeners()) {
      out += fmt::format("LISTEN {} {} {} *:* - - - 0 - - - - - - - - - - - - - -\n",
                         l.accept_queue, l.backlog, l.local.to_string());
    }
    for (const stack::ConnectionRow& row : stack.table()) {
      const tcp::ConnectionStatus& st = row.status;
      out += fmt::format(
          "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}\n",
          stack::ss_state(st.state), st.recv_queue, st.send_queue, st.tuple.local.to_string(),
          st.tuple.remote.to_string(), st.srtt.as_micros(), st.rto.as_micros(), dash_or(st.cwnd),
          st.stats.retransmitted_segments, st.snd_wnd, st.rcv_wnd, st.snd_mss, dash_or(st.ssthresh),
          st.rttvar.as_micros(), st.pacing_rate, st.in_flight, st.sack_holes, st.lost_segments,
          tcp::to_string(st.recovery), st.stats.fast_recoveries, st.stats.rto_recoveries,
          st.stats.tlp_probes,
          fmt::format("{}{}{}{}", st.sack ? "s" : "-", st.timestamps ? "t" : "-",
                      st.snd_wscale != 0 || st.rcv_wscale != 0 ? "w" : "-", st.ecn ? "e" : "-"));
    }
    return out;
  }
  if (request == "nstat") {
    stack.counters().for_each(
        [&](std::string_view name, uint64_t value) { out += fmt::format("{} {}\n", name, value); });
    return out;
  }
  return "error unknown request\n";
}

expected<std::string, std::error_code> control_query(const std::string& path,
                                                     std::string_view request, Duration timeout) {
  auto sa = unix_address(path);
  if (!sa) return unexpected(sa.error());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return unexpected(last_error());
  const int timeout_ms = static_cast<int>(std::max<int64_t>(1, timeout.as_micros() / 1000));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&*sa), sizeof *sa) != 0) {
    const std::error_code ec = last_error();
    ::close(fd);
    return unexpected(ec);
  }
  (void)::fcntl(fd, F_SETFL, O_NONBLOCK);
  std::string line(request);
  line += '\n';
  std::string out;
  std::error_code ec;
  if (!write_all(fd, line, timeout_ms)) {
    ec = last_error();
  } else {
    char buf[16384];
    while (true) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) break;
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(fd, POLLIN, timeout_ms)) continue;
      ec = errno == EAGAIN ? std::make_error_code(std::errc::timed_out) : last_error();
      break;
    }
  }
  ::close(fd);
  if (ec) return unexpected(ec);
  return out;
}

std::vector<std::string> control_sockets() {
  std::vector<std::pair<long, std::string>> found;
  const std::string dir = control_dir();
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return {};
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() <= 5 || name.substr(name.size() - 5) != ".sock") continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str(), &end, 10);
    if (pid <= 0 || std::string_view(end) != ".sock") continue;
    found.emplace_back(pid, dir + "/" + name);
  }
  ::closedir(d);
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& [pid, path] : found)
    out.push_back(std::move(path));
  return out;
}

}  // namespace synack::api
