// `synack get URL [-o FILE]`: one HTTP/1.1 GET over synack's own stack behind a TUN
// interface, like a small curl. URLs are http://A.B.C.D[:PORT][/PATH] (IPv4 literals: synack
// resolves no names). The body (Content-Length, chunked or read-until-close; see
// http::ResponseParser) goes to stdout or FILE; a progress line goes to stderr when stderr is
// a terminal and the body is not going to it. Redirects are not followed. Exit status: 0 for
// a 2xx response received in full; 1 with a message otherwise (an HTTP error status, a
// refused, reset or timed-out connection, a truncated body, a malformed response). The
// FILE is created only once a 2xx head has arrived. Runs on the blocking facade.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "device_options.hpp"
#include "http.hpp"
#include "synack/api/blocking.hpp"

namespace synack::cli {

namespace {

struct GetCommandOptions {
  DeviceOptions device;
  std::string url;
  std::string output;
  double connect_timeout_s = 0;  // 0: the stack's SYN retries decide
  double idle_timeout_s = 60;    // 0: wait for data forever
  bool verbose = false;
  bool no_progress = false;
};

bool write_all(int fd, const char* data, size_t size) {
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

// "  3.2 MiB / 10.0 MiB  32%  [######              ]  1.1 MiB/s", redrawn in place at most
// ten times a second.
class Progress {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Progress(bool enabled) : enabled_(enabled) {}

  void start(std::optional<uint64_t> total) {
    total_ = total;
    start_ = Clock::now();
    started_ = true;
  }
  void update(uint64_t bytes) {
    bytes_ = bytes;
    if (!enabled_ || !started_) return;
    const auto now = Clock::now();
    if (drawn_ && now - last_ < std::chrono::milliseconds(100)) return;
    draw(now);
  }
  void finish() {
    if (!enabled_ || !started_) return;
    draw(Clock::now());
    std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  void draw(Clock::time_point now) {
    last_ = now;
    drawn_ = true;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(bytes_) / seconds : 0;
    std::string line = fmt::format("\r{:>10}", http::human_bytes(static_cast<double>(bytes_)));
    if (total_ && *total_ > 0) {
      const double fraction =
          std::min(1.0, static_cast<double>(bytes_) / static_cast<double>(*total_));
      constexpr int kWidth = 20;
      const int filled = static_cast<int>(fraction * kWidth);
      line +=
          fmt::format(" / {}  {:3.0f}%  [{}{}]", http::human_bytes(static_cast<double>(*total_)),
                      fraction * 100, std::string(static_cast<size_t>(filled), '#'),
                      std::string(static_cast<size_t>(kWidth - filled), ' '));
    }
    line += fmt::format("  {}/s\x1b[K", http::human_bytes(rate));
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
  }

  bool enabled_;
  bool started_ = false;
  bool drawn_ = false;
  std::optional<uint64_t> total_;
  uint64_t bytes_ = 0;
  Clock::time_point start_;
  Clock::time_point last_;
};

void print_head(const std::string& prefix, std::string_view head) {
  size_t start = 0;
  while (start < head.size()) {
    size_t end = head.find("\r\n", start);
    if (end == std::string_view::npos) end = head.size();
    if (end > start) fmt::print(stderr, "{}{}\n", prefix, head.substr(start, end - start));
    start = end + 2;
  }
}

std::optional<Duration> seconds_or_none(double s) {
  if (s <= 0) return std::nullopt;
  return Duration::micros(static_cast<int64_t>(s * 1e6));
}

int run_get(const GetCommandOptions& options) {
  auto url = http::parse_http_url(options.url);
  if (!url) {
    fmt::print(stderr, "synack get: {}\n", url.error());
    return 1;
  }
  auto opened = open_device(options.device);
  if (!opened) {
    fmt::print(stderr, "synack get: {}\n", opened.error());
    return 1;
  }
  api::HostConfig config;
  apply_device_options(config, *opened);
  std::vector<std::unique_ptr<api::Device>> devices;
  devices.push_back(std::move(opened->device));
  api::BlockingHost host(config, std::move(devices));
  if (opened->tap) host.with_host([&](api::Host& h) { h.loop().set_tap(&*opened->tap); });
  std::unique_ptr<api::ControlServer> control = start_control(host, "get");

  const bool to_file = !options.output.empty();
  Progress progress(!options.no_progress && ::isatty(STDERR_FILENO) == 1 &&
                    (to_file || ::isatty(STDOUT_FILENO) != 1));
  int out_fd = to_file ? -1 : STDOUT_FILENO;
  std::string local_error;  // writing the body failed: the message

  http::GetOptions get_options;
  get_options.connect_timeout = seconds_or_none(options.connect_timeout_s);
  get_options.idle_timeout = seconds_or_none(options.idle_timeout_s);
  http::GetHandlers handlers;
  if (options.verbose) {
    handlers.on_request = [](const std::string& head) { print_head("> ", head); };
  }
  handlers.on_head = [&](const http::HttpResponseHead& head) {
    if (options.verbose) {
      fmt::print(stderr, "< HTTP/{}.{} {} {}\n", head.version_major, head.version_minor,
                 head.status, head.reason);
      for (const auto& [k, v] : head.headers)
        fmt::print(stderr, "< {}: {}\n", k, v);
    }
    if (head.status < 200 || head.status >= 300) return false;
    if (to_file) {
      out_fd = ::open(options.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
      if (out_fd < 0) {
        local_error = fmt::format("{}: {}", options.output, std::strerror(errno));
        return false;
      }
    }
    progress.start(head.content_length);
    return true;
  };
  uint64_t received = 0;
  handlers.on_body = [&](std::string_view data) {
    if (!write_all(out_fd, data.data(), data.size())) {
      local_error =
          fmt::format("writing {}: {}", to_file ? options.output : "stdout", std::strerror(errno));
      return false;
    }
    received += data.size();
    progress.update(received);
    return true;
  };

  auto result = http::http_get(host, *url, get_options, handlers);
  progress.finish();
  int code = 0;
  if (!local_error.empty()) {
    fmt::print(stderr, "synack get: {}\n", local_error);
    code = 1;
  } else if (!result) {
    fmt::print(stderr, "synack get: {}\n", result.error());
    code = 1;
  } else if (result->head.status < 200 || result->head.status >= 300) {
    const http::HttpResponseHead& head = result->head;
    std::string message = fmt::format("{} {}", head.status, head.reason);
    if (head.status >= 300 && head.status < 400) {
      if (auto location = http::find_header(head.headers, "Location")) {
        message += fmt::format(" (to {}; redirects are not followed)", *location);
      } else {
        message += " (redirects are not followed)";
      }
    }
    fmt::print(stderr, "synack get: {}\n", message);
    code = 1;
  }
  if (to_file && out_fd >= 0 && ::close(out_fd) != 0 && code == 0) {
    fmt::print(stderr, "synack get: {}: {}\n", options.output, std::strerror(errno));
    code = 1;
  }
  host.with_host([&](api::Host&) { control.reset(); });  // the loop watches its fd
  host.stop();
  if (opened->tap) (void)opened->tap->flush();
  std::fflush(stdout);
  return code;
}

}  // namespace

void register_get_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<GetCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "get",
      "HTTP/1.1 GET of http://A.B.C.D[:PORT][/PATH] over synack's stack behind a TUN\n"
      "interface; the body to stdout (or -o FILE). IPv4 literal hosts only; redirects are\n"
      "not followed (a 3xx is reported with its Location). Exit 0 for a complete 2xx\n"
      "response, 1 otherwise (HTTP error status, connection failure, truncated body,\n"
      "malformed response). Needs CAP_NET_ADMIN.");
  add_device_options(*cmd, options->device);
  cmd->add_option("url", options->url, "http://A.B.C.D[:PORT][/PATH]")->required();
  cmd->add_option("-o,--output", options->output,
                  "write the body to FILE (created once a 2xx response arrives)");
  cmd->add_option("--connect-timeout", options->connect_timeout_s,
                  "seconds to wait for the handshake (default: the stack's SYN retries)");
  cmd->add_option("--idle-timeout", options->idle_timeout_s,
                  "give up after this many seconds without data (0: never)")
      ->capture_default_str();
  cmd->add_flag("-v,--verbose", options->verbose, "print the request and response heads on stderr");
  cmd->add_flag("--no-progress", options->no_progress,
                "no progress line (there is one only when stderr is a terminal and the body "
                "is not going to the terminal)");
  cmd->callback([options, &exit_code] { exit_code = run_get(*options); });
}

}  // namespace synack::cli
