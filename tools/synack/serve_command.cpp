// `synack serve`: a TCP server on synack's own stack, behind a TUN interface, until SIGINT
// or SIGTERM. Apps: echo (sends back what it reads), discard (reads and drops), sink (reads,
// and prints per connection the bytes received and their sha256 when the peer closes), and
// http (an HTTP/1.1 file server for GET and HEAD of the files under --root, with keep-alive
// and pipelining, one log line per request on stdout; see http.hpp).
// Single-threaded: one EventLoop turn at a time; the signals arrive through a signalfd the
// loop watches (EventLoop::add_fd).
#include <fmt/format.h>
#include <sodium.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "device_options.hpp"
#include "http.hpp"
#include "signal_watch.hpp"
#include "synack/api/socket.hpp"

namespace synack::cli {

namespace {

struct ServeOptions {
  DeviceOptions device;
  uint16_t port = 0;
  std::string app = "echo";
  uint32_t backlog = 128;
  std::string syncookies = "auto";
  std::optional<std::string> root;  // http: the directory served (default: the current one)
};

enum class App { kEcho, kDiscard, kSink, kHttp };

struct Conn {
  api::Socket socket;
  std::string peer;
  uint64_t bytes = 0;
  crypto_hash_sha256_state sha{};
  std::vector<std::byte> pending;  // echo: read but not yet sent
  bool eof = false;
  bool done = false;
};

class Server {
 public:
  Server(api::Host& host, App app) : host_(host), app_(app) {}

  std::error_code listen(const tcp::Endpoint& local, uint32_t backlog) {
    listener_ = host_.socket();
    if (auto ec = listener_.bind(local)) return ec;
    if (auto ec = listener_.listen(backlog)) return ec;
    listener_.set_callbacks({.on_readable = [this] { accept_all(); }});
    return {};
  }

  // Drops the connections that finished (never from inside their own callbacks).
  void reap() {
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (it->second->done) {
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }

 private:
  static constexpr size_t kMaxPending = 256 * 1024;

  void accept_all() {
    while (true) {
      auto accepted = listener_.accept();
      if (!accepted) return;
      auto conn = std::make_unique<Conn>();
      conn->socket = std::move(*accepted);
      auto peer = conn->socket.peer_endpoint();
      conn->peer = peer ? peer->to_string() : "?";
      crypto_hash_sha256_init(&conn->sha);
      Conn* c = conn.get();
      conn->socket.set_callbacks({
          .on_readable = [this, c] { on_readable(*c); },
          .on_writable = [this, c] { on_writable(*c); },
          .on_error =
              [c](std::error_code ec) {
                fmt::print(stderr, "synack serve: {}: {}\n", c->peer, ec.message());
              },
          .on_closed = [c](std::error_code) { c->done = true; },
      });
      const uint64_t id = next_id_++;
      conns_.emplace(id, std::move(conn));
      on_readable(*c);
    }
  }

  void on_readable(Conn& c) {
    if (c.done || c.eof) return;
    std::array<std::byte, 16384> buf;
    while (c.pending.size() < kMaxPending) {
      auto n = c.socket.recv(buf);
      if (!n) {
        if (n.error() == std::errc::resource_unavailable_try_again) break;
        fmt::print(stderr, "synack serve: {}: {}\n", c.peer, n.error().message());
        finish(c, /*abort=*/true);
        return;
      }
      if (*n == 0) {
        c.eof = true;
        break;
      }
      c.bytes += *n;
      switch (app_) {
        case App::kEcho:
          c.pending.insert(c.pending.end(), buf.begin(), buf.begin() + static_cast<long>(*n));
          break;
        case App::kSink:
          crypto_hash_sha256_update(&c.sha, reinterpret_cast<const unsigned char*>(buf.data()), *n);
          break;
        case App::kDiscard:
        case App::kHttp:  // (HttpFileServer's)
          break;
      }
    }
    on_writable(c);
  }

  void on_writable(Conn& c) {
    if (c.done) return;
    const bool was_full = c.pending.size() >= kMaxPending;
    while (!c.pending.empty()) {
      auto n = c.socket.send(c.pending);
      if (!n) {
        if (n.error() == std::errc::resource_unavailable_try_again) break;
        fmt::print(stderr, "synack serve: {}: {}\n", c.peer, n.error().message());
        finish(c, /*abort=*/true);
        return;
      }
      c.pending.erase(c.pending.begin(), c.pending.begin() + static_cast<long>(*n));
    }
    if (c.eof && c.pending.empty()) {
      if (app_ == App::kSink) {
        std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
        crypto_hash_sha256_final(&c.sha, digest.data());
        std::string hex;
        for (unsigned char b : digest)
          hex += fmt::format("{:02x}", b);
        fmt::print("sink {}: {} bytes, sha256 {}\n", c.peer, c.bytes, hex);
        std::fflush(stdout);
      }
      finish(c, /*abort=*/false);
      return;
    }
    if (was_full && c.pending.size() < kMaxPending) on_readable(c);
  }

  // close() hands the rest (FIN, TIME_WAIT) to the stack; the entry goes at the next reap.
  void finish(Conn& c, bool abort) {
    if (c.done) return;
    c.done = true;
    if (abort) {
      (void)c.socket.abort();
    } else {
      (void)c.socket.close();
    }
  }

  api::Host& host_;
  App app_;
  api::Socket listener_;
  std::map<uint64_t, std::unique_ptr<Conn>> conns_;
  uint64_t next_id_ = 0;
};

int run_serve(const ServeOptions& options) {
  if (sodium_init() < 0) {
    fmt::print(stderr, "synack serve: libsodium failed to initialise\n");
    return 1;
  }
  App app = App::kEcho;
  if (options.app == "discard") app = App::kDiscard;
  if (options.app == "sink") app = App::kSink;
  if (options.app == "http") app = App::kHttp;
  if (options.root && app != App::kHttp) {
    fmt::print(stderr, "synack serve: --root is for --app http\n");
    return 1;
  }
  api::HostConfig config;
  if (options.syncookies == "on") config.stack.syncookies = stack::SynCookieMode::kOn;
  if (options.syncookies == "off") config.stack.syncookies = stack::SynCookieMode::kOff;

  // Block the signals before anything else, so they queue for the signalfd.
  SignalWatch signals;
  if (auto ec = signals.block()) {
    fmt::print(stderr, "synack serve: signals: {}\n", ec.message());
    return 1;
  }

  auto opened = open_device(options.device);
  if (!opened) {
    fmt::print(stderr, "synack serve: {}\n", opened.error());
    return 1;
  }
  apply_device_options(config, *opened);
  api::Host host(config);
  host.add_device(std::move(opened->device));
  auto watching = signals.watch(host.loop());
  if (opened->tap) host.loop().set_tap(&*opened->tap);
  auto control = start_control(host, "serve");

  const tcp::Endpoint local{opened->address, options.port};
  const std::string banner =
      fmt::format("on {} ({}; kernel side {}/{})", local.to_string(), opened->name,
                  opened->kernel_address.to_string(), opened->prefix_len);
  if (app == App::kHttp) {
    http::FileServerConfig http_config;
    if (options.root) http_config.root = *options.root;
    auto server = http::HttpFileServer::create(host, http_config, [](const std::string& line) {
      fmt::print("{}\n", line);
      std::fflush(stdout);
    });
    if (!server) {
      fmt::print(stderr, "synack serve: {}\n", server.error());
      return 1;
    }
    if (auto ec = (*server)->listen(local, options.backlog)) {
      fmt::print(stderr, "synack serve: listen on {}: {}\n", local.to_string(), ec.message());
      return 1;
    }
    fmt::print("synack serve: http {}, root {}\n", banner, (*server)->root());
    std::fflush(stdout);
    // Turns of at most a second, so that idle connections time out.
    while (signals.count() == 0) {
      host.run_once(Duration::seconds(1));
      (*server)->reap();
      (*server)->tick(api::EventLoop::clock_now());
    }
  } else {
    Server server(host, app);
    if (auto ec = server.listen(local, options.backlog)) {
      fmt::print(stderr, "synack serve: listen on {}: {}\n", local.to_string(), ec.message());
      return 1;
    }
    fmt::print("synack serve: {} {}\n", options.app, banner);
    std::fflush(stdout);
    while (signals.count() == 0) {
      host.run_once(std::nullopt);
      server.reap();
    }
  }
  fmt::print("synack serve: stopped\n");
  std::fflush(stdout);
  if (opened->tap) (void)opened->tap->flush();
  return 0;
}

}  // namespace

void register_serve_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Serve TCP on synack's stack behind a TUN interface until SIGINT/SIGTERM.\n"
      "Needs CAP_NET_ADMIN (root, or inside `unshare -rn`).");
  add_device_options(*cmd, options->device);
  cmd->add_option("--port", options->port, "the port to listen on")->required();
  cmd->add_option("--app", options->app,
                  "echo: send back; discard: read and drop; sink: print bytes and sha256 per "
                  "connection; http: serve the files under --root over HTTP/1.1 (GET, HEAD; "
                  "a directory gives its index.html, else a listing), a log line per request")
      ->check(CLI::IsMember({"echo", "discard", "sink", "http"}))
      ->capture_default_str();
  cmd->add_option("--root", options->root,
                  "http: the directory to serve (default: the current directory); nothing "
                  "outside it is served, symlinks leading out included (403)");
  cmd->add_option("--backlog", options->backlog, "the listen backlog")->capture_default_str();
  cmd->add_option("--syncookies", options->syncookies, "SYN cookies: on, off or auto")
      ->check(CLI::IsMember({"on", "off", "auto"}))
      ->capture_default_str();
  cmd->callback([options, &exit_code] { exit_code = run_serve(*options); });
}

}  // namespace synack::cli
