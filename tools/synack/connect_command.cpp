// `synack connect HOST PORT`: like nc, over synack's own stack behind a TUN interface.
// stdin goes to the connection, the connection to stdout; stdin's end of file shuts the
// sending side (a FIN) and reading goes on; the command exits once the peer has closed and
// all its data is written. It runs on the blocking facade: the loop has its own thread, the
// main thread reads the connection, a second thread reads stdin (blocking, so a full send
// buffer simply stops it reading: no polling).
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "device_options.hpp"
#include "synack/api/blocking.hpp"
#include "synack/api/control.hpp"

namespace synack::cli {

namespace {

struct ConnectOptions {
  DeviceOptions device;
  std::string host;
  uint16_t port = 0;
  double timeout_s = 0;  // connect timeout; 0: the stack's SYN retries decide
};

bool write_all(int fd, const std::byte* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Ends the process without running destructors: the stdin thread may still be blocked in
// read(), and the loop thread holds references to the host. The control socket goes first
// (under the host's lock: it is watched by the loop).
[[noreturn]] void finish(int code, std::optional<dev::PcapTap>& tap, api::BlockingHost& host,
                         std::unique_ptr<api::ControlServer>& control) {
  host.with_host([&](api::Host&) { control.reset(); });
  if (tap) {
    host.stop();
    (void)tap->flush();
  }
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}

int run_connect(const ConnectOptions& options) {
  auto remote_addr = wire::Ipv4Address::parse(options.host);
  if (!remote_addr) {
    fmt::print(stderr, "synack connect: \"{}\": expected an IPv4 address A.B.C.D\n", options.host);
    return 1;
  }
  auto opened = open_device(options.device);
  if (!opened) {
    fmt::print(stderr, "synack connect: {}\n", opened.error());
    return 1;
  }
  api::HostConfig config;
  apply_device_options(config, *opened);
  std::vector<std::unique_ptr<api::Device>> devices;
  devices.push_back(std::move(opened->device));
  api::BlockingHost host(config, std::move(devices));
  std::optional<dev::PcapTap>& tap = opened->tap;
  if (tap) host.with_host([&](api::Host& h) { h.loop().set_tap(&*tap); });
  std::unique_ptr<api::ControlServer> control = start_control(host, "connect");

  const tcp::Endpoint remote{*remote_addr, options.port};
  std::optional<Duration> timeout;
  if (options.timeout_s > 0) {
    timeout = Duration::micros(static_cast<int64_t>(options.timeout_s * 1e6));
  }
  api::SocketOptions socket_options;
  socket_options.linger = Duration::seconds(2);  // close() waits for our FIN to be acked
  auto conn = host.connect(remote, timeout, socket_options);
  if (!conn) {
    fmt::print(stderr, "synack connect: {}: {}\n", remote.to_string(), conn.error().message());
    finish(1, tap, host, control);
  }

  std::atomic<bool> stdin_failed{false};
  std::thread reader([&] {
    std::array<std::byte, 16384> buf;
    while (true) {
      const ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) stdin_failed = true;
      if (n <= 0) break;
      auto sent = conn->send(wire::Bytes(buf.data(), static_cast<size_t>(n)));
      if (!sent || *sent != static_cast<size_t>(n)) return;  // the connection is gone
    }
    (void)conn->shutdown(api::ShutdownHow::kWrite);
  });
  reader.detach();

  std::array<std::byte, 16384> buf;
  int code = 0;
  while (true) {
    auto n = conn->recv(buf);
    if (!n) {
      fmt::print(stderr, "synack connect: {}: {}\n", remote.to_string(), n.error().message());
      code = 1;
      break;
    }
    if (*n == 0) break;
    if (!write_all(STDOUT_FILENO, buf.data(), *n)) {
      fmt::print(stderr, "synack connect: writing stdout: {}\n", std::strerror(errno));
      code = 1;
      break;
    }
  }
  if (stdin_failed) {
    fmt::print(stderr, "synack connect: reading stdin failed\n");
    code = 1;
  }
  (void)conn->close();
  finish(code, tap, host, control);
}

}  // namespace

void register_connect_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<ConnectOptions>();
  CLI::App* cmd = app.add_subcommand(
      "connect",
      "Connect to HOST PORT over synack's stack behind a TUN interface, like nc: stdin to\n"
      "the connection, the connection to stdout. Needs CAP_NET_ADMIN.");
  add_device_options(*cmd, options->device);
  cmd->add_option("host", options->host, "the peer's IPv4 address")->required();
  cmd->add_option("port", options->port, "the peer's port")->required();
  cmd->add_option("--connect-timeout", options->timeout_s,
                  "seconds to wait for the handshake (default: the stack's SYN retries)");
  cmd->callback([options, &exit_code] { exit_code = run_connect(*options); });
}

}  // namespace synack::cli
