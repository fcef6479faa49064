// synack demo: the Linux kernel and synack speak TCP to each other through a TUN interface,
// in a network namespace of the demo's own, and every segment is printed as tcpdump prints
// it, with both ends' states beside it.
//
//  1. The kernel is the client, as in a socket tutorial: connect() to a synack echo server,
//     send "hello", read the echo, close(). The kernel closes first and ends in TIME_WAIT.
//  2. synack is the client of a kernel server (a listening socket in a thread): it sends
//     "hello", the kernel echoes it and closes first, so synack goes ESTABLISHED ->
//     CLOSE_WAIT -> LAST_ACK -> CLOSED and the kernel passes through FIN-WAIT-2 to TIME_WAIT.
//
// One process. The main thread is synack's event loop over the TUN fd (poll until the
// stack's next deadline, steady_clock time) and the only one that prints. The kernel's
// application runs in a thread with blocking sockets (with timeouts), one call at a time:
// the main loop hands it a call, and waits for its report either while driving the network
// (connect, accept, recv: the call needs synack's answers) or holding the TUN still (send,
// close, listen: the call returns on its own, so the state sampled right after it is the
// state the call left). After each step the loop runs until the exchange has settled: every
// sequence number either side sent is acknowledged, or an expected state is reached. So the
// story prints the same way every time, and nothing waits by sleeping.
//
// The kernel's states are the kernel's own words: TCP_INFO's tcpi_state after each call of
// its application, and /proc/net/tcp (the namespace's) for a socket that is closed or not
// yet accepted, and when a segment from the kernel crosses the TUN. Names as `ss` prints them.
//
// Privileges: as root, unshare(CLONE_NEWNET); otherwise (or if that is refused) a user
// namespace with the caller mapped to root, like `unshare -rn`. Both are done before any
// thread starts (a multithreaded process cannot enter a new user namespace). The namespace,
// the interface and the kernel's sockets (TIME_WAIT included) vanish with the process.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "synack/dev/kernel_snmp.hpp"
#include "synack/dev/pcap_tap.hpp"
#include "synack/dev/tun_device.hpp"
#include "synack/stack/stack.hpp"
#include "synack/tcp/four_tuple.hpp"
#include "synack/tcp/state.hpp"
#include "synack/trace/mermaid.hpp"
#include "synack/trace/tcpdump.hpp"
#include "synack/wire/ipv4.hpp"
#include "synack/wire/tcp.hpp"

namespace synack::cli {

namespace {

using stack::ConnId;
using stack::StackEvent;
using tcp::Endpoint;
using tcp::FourTuple;
using tcp::State;
using wire::Ipv4Address;

constexpr Ipv4Address kKernelAddress = Ipv4Address::from_octets(10, 55, 0, 1);
constexpr Ipv4Address kSynackAddress = Ipv4Address::from_octets(10, 55, 0, 2);
constexpr uint16_t kPort = 9988;  // synack's echo server in part 1, the kernel's in part 2
constexpr const char* kInterface = "synack0";
constexpr std::string_view kHello = "hello";

// The whole demo, and each kernel call, end within these.
constexpr Duration kBudget = Duration::millis(4500);
constexpr int kSocketTimeoutSeconds = 2;
constexpr int kMaxTurns = 20'000;
// Some things the loop waits for happen inside the kernel without waking an fd of ours (an
// ACK processed, a state entered): the loop looks again at least this often.
constexpr int kMaxPollMillis = 5;

struct DemoOptions {
  std::string pcap;
  std::string mermaid;
};

Instant steady_now() {
  const auto since = std::chrono::steady_clock::now().time_since_epoch();
  return Instant::from_micros(std::chrono::duration_cast<std::chrono::microseconds>(since).count());
}

std::string errno_text(int e) {
  return std::strerror(e);
}

// --- The private network namespace -------------------------------------------------------

bool write_file(const char* path, std::string_view text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int e = errno;
  ::close(fd);
  errno = e;
  return n == static_cast<ssize_t>(text.size());
}

int threads_in_process() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  }
  return 1;
}

constexpr std::string_view kHowToRun =
    "  Run it as root (sudo synack demo), or where unprivileged user namespaces are allowed\n"
    "  (sysctl kernel.unprivileged_userns_clone=1 on Debian; on Ubuntu 23.10 and later also\n"
    "  kernel.apparmor_restrict_unprivileged_userns=0), or in a container with CAP_SYS_ADMIN.";

// Moves the (single-threaded) process into a network namespace of its own. Returns how.
expected<std::string, std::string> enter_private_network_namespace() {
  const uid_t uid = geteuid();
  const gid_t gid = getegid();
  std::string refused;
  if (uid == 0) {
    if (unshare(CLONE_NEWNET) == 0) return std::string("a private network namespace (as root)");
    refused = fmt::format("unshare(CLONE_NEWNET): {}; ", errno_text(errno));
  }
  if (threads_in_process() > 1) {
    return unexpected(fmt::format(
        "cannot make a private network namespace: {}the process already runs threads, and a "
        "user namespace needs a single-threaded process\n{}",
        refused, kHowToRun));
  }
  if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
    const int e = errno;
    return unexpected(fmt::format(
        "cannot make a private network namespace: {}unshare(CLONE_NEWUSER | CLONE_NEWNET): "
        "{}{}\n{}",
        refused, errno_text(e),
        e == ENOSPC ? " (the sysctl user.max_user_namespaces allows no more)" : "", kHowToRun));
  }
  // As `unshare -rn`: the caller is root inside, and nowhere else. setgroups must be denied
  // before an unprivileged process may write gid_map (absent before Linux 3.19).
  if (!write_file("/proc/self/setgroups", "deny") && errno != ENOENT) {
    return unexpected(fmt::format("cannot write /proc/self/setgroups: {}", errno_text(errno)));
  }
  if (!write_file("/proc/self/uid_map", fmt::format("0 {} 1\n", uid))) {
    return unexpected(fmt::format("cannot write /proc/self/uid_map: {}", errno_text(errno)));
  }
  if (!write_file("/proc/self/gid_map", fmt::format("0 {} 1\n", gid))) {
    return unexpected(fmt::format("cannot write /proc/self/gid_map: {}", errno_text(errno)));
  }
  return fmt::format(
      "a private user and network namespace (uid {} is root inside it, and only there)", uid);
}

// --- The kernel's view of its sockets ----------------------------------------------------

// tcpi_state and /proc/net/tcp's st are Linux's TCP_* values (include/net/tcp_states.h);
// the names are ss's (TCP_CLOSE is UNCONN).
std::string_view ss_state_name(int state) {
  static constexpr std::array<std::string_view, 13> kNames = {
      "UNKNOWN", "ESTAB",      "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2",  "TIME-WAIT",
      "UNCONN",  "CLOSE-WAIT", "LAST-ACK", "LISTEN",   "CLOSING",    "NEW-SYN-RECV"};
  if (state < 0 || static_cast<size_t>(state) >= kNames.size()) return "UNKNOWN";
  return kNames[static_cast<size_t>(state)];
}

constexpr int kLinuxTimeWait = 6;

std::optional<tcp_info> kernel_tcp_info(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
  return info;
}

sockaddr_in to_sockaddr(const Endpoint& e) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(e.port);
  sin.sin_addr.s_addr = htonl(e.addr.value());
  return sin;
}

Endpoint from_sockaddr(const sockaddr_in& sin) {
  return Endpoint{Ipv4Address(ntohl(sin.sin_addr.s_addr)), ntohs(sin.sin_port)};
}

// The kernel's end first.
std::optional<FourTuple> tuple_of(int fd) {
  sockaddr_in local{};
  sockaddr_in peer{};
  socklen_t len = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return std::nullopt;
  len = sizeof peer;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return std::nullopt;
  return FourTuple{from_sockaddr(local), from_sockaddr(peer)};
}

// One line of /proc/net/tcp: the kernel's end first, its state, and for TIME_WAIT the time
// left in clock ticks (`tr` 3, `tm->when`).
struct ProcTcpEntry {
  FourTuple tuple;
  int state = 0;
  int timer = 0;
  unsigned long when = 0;
};

std::vector<ProcTcpEntry> read_proc_net_tcp() {
  // thread-self: the namespace of the calling thread (all of ours share one).
  std::ifstream in("/proc/thread-self/net/tcp");
  std::vector<ProcTcpEntry> entries;
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    unsigned local_addr = 0;
    unsigned local_port = 0;
    unsigned remote_addr = 0;
    unsigned remote_port = 0;
    unsigned state = 0;
    unsigned timer = 0;
    unsigned long when = 0;
    // The addresses are the __be32 printed as a host-order number.
    if (std::sscanf(line.c_str(), " %*d: %8X:%4X %8X:%4X %2X %*X:%*X %X:%lX", &local_addr,
                    &local_port, &remote_addr, &remote_port, &state, &timer, &when) != 7) {
      continue;
    }
    ProcTcpEntry e;
    e.tuple =
        FourTuple{Endpoint{Ipv4Address(ntohl(local_addr)), static_cast<uint16_t>(local_port)},
                  Endpoint{Ipv4Address(ntohl(remote_addr)), static_cast<uint16_t>(remote_port)}};
    e.state = static_cast<int>(state);
    e.timer = static_cast<int>(timer);
    e.when = when;
    entries.push_back(e);
  }
  return entries;
}

std::optional<ProcTcpEntry> proc_tcp_entry(const FourTuple& kernel_side) {
  for (const ProcTcpEntry& e : read_proc_net_tcp()) {
    if (e.tuple == kernel_side) return e;
  }
  return std::nullopt;
}

std::optional<int> proc_tcp_state(const FourTuple& kernel_side) {
  if (auto e = proc_tcp_entry(kernel_side)) return e->state;
  return std::nullopt;
}

// Application data as a C string literal would show it.
std::string c_literal(std::string_view data) {
  std::string out = "\"";
  for (const char c : data) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c >= 0x20 && c < 0x7f) {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    }
  }
  return out + "\"";
}

// --- The kernel's application: one thread, one blocking call at a time -------------------

// What one call of the kernel's application did, and the state of its socket right after.
struct KernelReport {
  std::string call;  // "connect(fd, 10.55.0.2:9988) = 0"
  bool ok = false;
  std::optional<FourTuple> tuple;  // the kernel's end first
  std::optional<int> state;        // sampled right after the call
  std::string state_source;        // "TCP_INFO" or "/proc/net/tcp"
  int new_fd = -1;                 // accept()
  std::string data;                // recv()
};

class KernelThread {
 public:
  using Job = std::function<KernelReport()>;

  KernelThread() : wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), thread_([this] { serve(); }) {}
  ~KernelThread() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    if (wake_ >= 0) ::close(wake_);
  }
  KernelThread(const KernelThread&) = delete;
  KernelThread& operator=(const KernelThread&) = delete;

  // Readable when a call has finished.
  int wake_fd() const { return wake_; }

  void start(Job job) {
    {
      std::lock_guard lock(mutex_);
      job_ = std::move(job);
      report_.reset();
    }
    cv_.notify_all();
  }

  // The finished call's report, once.
  std::optional<KernelReport> take() {
    std::lock_guard lock(mutex_);
    return take_locked();
  }

  // Waits (at most until `until`) for the call to finish, without driving anything.
  std::optional<KernelReport> wait_until(Instant until) {
    std::unique_lock lock(mutex_);
    const auto limit =
        std::chrono::steady_clock::time_point(std::chrono::microseconds(until.as_micros()));
    cv_.wait_until(lock, limit, [this] { return report_.has_value(); });
    return take_locked();
  }

 private:
  std::optional<KernelReport> take_locked() {
    if (!report_) return std::nullopt;
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = ::read(wake_, &count, sizeof count);
    std::optional<KernelReport> r = std::move(report_);
    report_.reset();
    return r;
  }

  void serve() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || job_; });
      if (stop_) return;
      Job job = std::move(job_);
      job_ = nullptr;
      lock.unlock();
      KernelReport report = job();
      lock.lock();
      report_ = std::move(report);
      const uint64_t one = 1;
      [[maybe_unused]] const ssize_t n = ::write(wake_, &one, sizeof one);
      cv_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  Job job_;
  std::optional<KernelReport> report_;
  bool stop_ = false;
  int wake_ = -1;
  std::thread thread_;  // last: starts once the rest is ready
};

// A blocking TCP socket whose calls give up after kSocketTimeoutSeconds.
int kernel_socket() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const timeval timeout{.tv_sec = kSocketTimeoutSeconds, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  return fd;
}

// The report of a call on an open socket: its result, and TCP_INFO's state after it.
KernelReport report_on(int fd, std::string call, bool ok) {
  KernelReport r;
  r.call = std::move(call);
  r.ok = ok;
  r.tuple = tuple_of(fd);
  if (auto info = kernel_tcp_info(fd)) {
    r.state = info->tcpi_state;
    r.state_source = "TCP_INFO";
  }
  return r;
}

std::string result_text(ssize_t result, int e) {
  return result >= 0 ? std::to_string(result) : fmt::format("-1 ({})", errno_text(e));
}

KernelReport kernel_connect(int fd, Endpoint to) {
  const sockaddr_in sin = to_sockaddr(to);
  const int r = connect(fd, reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
  const int e = errno;
  return report_on(fd, fmt::format("connect(fd, {}) = {}", to.to_string(), result_text(r, e)),
                   r == 0);
}

KernelReport kernel_send(int fd, std::string data) {
  const ssize_t r = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
  const int e = errno;
  return report_on(
      fd, fmt::format("send(fd, {}, {}) = {}", c_literal(data), data.size(), result_text(r, e)),
      r == static_cast<ssize_t>(data.size()));
}

KernelReport kernel_recv(int fd) {
  std::array<char, 1024> buf{};
  const ssize_t r = recv(fd, buf.data(), buf.size(), 0);
  const int e = errno;
  std::string data = r > 0 ? std::string(buf.data(), static_cast<size_t>(r)) : std::string();
  KernelReport report =
      report_on(fd,
                fmt::format("recv(fd, buf, {}) = {}{}", buf.size(), result_text(r, e),
                            r > 0 ? "  " + c_literal(data) : std::string()),
                r > 0);
  report.data = std::move(data);
  return report;
}

// close() gives the socket up: its state from then on is in /proc/net/tcp.
KernelReport kernel_close(int fd, std::optional<FourTuple> tuple) {
  const int r = ::close(fd);
  const int e = errno;
  KernelReport report;
  report.call = fmt::format("close(fd) = {}", result_text(r, e));
  report.ok = r == 0;
  report.tuple = tuple;
  if (tuple) {
    report.state = proc_tcp_state(*tuple);
    report.state_source = "/proc/net/tcp";
  }
  return report;
}

KernelReport kernel_listen(int fd, Endpoint on) {
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const sockaddr_in sin = to_sockaddr(on);
  int r = bind(fd, reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
  int e = errno;
  if (r != 0) {
    return KernelReport{.call =
                            fmt::format("bind(fd, {}) = {}", on.to_string(), result_text(r, e))};
  }
  r = listen(fd, 1);
  e = errno;
  KernelReport report = report_on(
      fd, fmt::format("bind(fd, {}) = 0; listen(fd, 1) = {}", on.to_string(), result_text(r, e)),
      r == 0);
  report.tuple = FourTuple{on, Endpoint{}};
  return report;
}

KernelReport kernel_accept(int listen_fd) {
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  const int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
  const int e = errno;
  if (fd < 0) return KernelReport{.call = fmt::format("accept(fd) = -1 ({})", errno_text(e))};
  const timeval timeout{.tv_sec = kSocketTimeoutSeconds, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  KernelReport report = report_on(
      fd, fmt::format("accept(fd) = conn, from {}", from_sockaddr(peer).to_string()), true);
  report.new_fd = fd;
  return report;
}

// --- The sequence diagram of the first connection ----------------------------------------

// Drawn as the simulator draws one (`synack sim --mermaid`): an arrow per segment with
// relative sequence numbers, a note per state, and the applications' calls beside them.
class Diagram {
 public:
  Diagram() { out_ = "sequenceDiagram\n    participant Kernel\n    participant synack\n"; }

  void state(bool kernel, std::string_view name) {
    out_ += fmt::format("    Note over {}: {}\n", who(kernel), name);
  }

  void call(bool kernel, std::string_view text) {
    out_ += fmt::format("    Note {} of {}: {}\n", kernel ? "left" : "right", who(kernel), text);
  }

  void segment(bool from_kernel, const wire::TcpView& seg) {
    const size_t me = from_kernel ? 0 : 1;
    const wire::TcpFlags flags = seg.flags();
    if (flags.syn() && !isn_[me]) isn_[me] = seg.seq().value();
    const std::string label =
        trace::mermaid_segment_label(seg, isn_[me].value_or(0), isn_[1 - me].value_or(0));
    out_ += fmt::format("    {}->>{}: {}\n", who(from_kernel), who(!from_kernel), label);
  }

  const std::string& text() const { return out_; }

 private:
  static std::string_view who(bool kernel) { return kernel ? "Kernel" : "synack"; }

  std::string out_;
  std::array<std::optional<uint32_t>, 2> isn_;
};

// --- The demo ----------------------------------------------------------------------------

void format_elapsed(fmt::memory_buffer& out, Duration d) {
  const int64_t us = d.as_micros();
  fmt::format_to(std::back_inserter(out), "{:02}:{:02}:{:02}.{:06}", us / 3'600'000'000,
                 us / 60'000'000 % 60, us / 1'000'000 % 60, us % 1'000'000);
}

std::string states_text(const std::vector<State>& states) {
  std::string text;
  for (const State s : states) {
    if (!text.empty()) text += " -> ";
    text += tcp::to_string(s);
  }
  return text;
}

class Demo {
 public:
  Demo(dev::TunDevice tun, std::optional<dev::PcapTap> tap)
      : tun_(std::move(tun)), stack_(stack::StackConfig{}), tap_(std::move(tap)) {
    stack_.add_address(kSynackAddress);
  }
  Demo(const Demo&) = delete;
  Demo& operator=(const Demo&) = delete;
  ~Demo() {
    // Unblocks a kernel call still waiting (only after a failure), so the thread ends now.
    for (const int fd : {client_fd_, listen_fd_, accepted_fd_}) {
      if (fd >= 0) shutdown(fd, SHUT_RDWR);
    }
    kernel_.reset();
    for (const int fd : {client_fd_, listen_fd_, accepted_fd_}) {
      if (fd >= 0) ::close(fd);
    }
  }

  // Both parts; false (with failure()) if something went wrong.
  bool run() {
    start_ = now_ = steady_now();
    deadline_ = start_ + kBudget;
    kernel_ = std::make_unique<KernelThread>();
    return part_one() && part_two() && time_wait() && verify();
  }

  const std::string& failure() const { return failure_; }
  const Diagram& diagram() const { return diagram_; }

  void print_summary(const DemoOptions& options) const {
    section("Summary");
    say(fmt::format(
        "  1. kernel client -> synack server: {} echoed; synack {}; the kernel ended in "
        "TIME-WAIT",
        c_literal(kernel_echo_), states_text(server_states_)));
    say(fmt::format(
        "  2. synack client -> kernel server: {} echoed; synack {}; the kernel ended in "
        "TIME-WAIT",
        c_literal(client_received_), states_text(client_states_)));
    const stack::Counters& c = stack_.counters();
    std::string counters;
    c.for_each([&counters](std::string_view name, uint64_t value) {
      if (value == 0) return;
      if (!counters.empty()) counters += ", ";
      counters += fmt::format("{} {}", name, value);
    });
    say(fmt::format("  {:<18}{}", "synack counters", counters));
    const auto kernel = dev::kernel_snmp("Tcp");
    std::string kc;
    for (const char* name : {"ActiveOpens", "PassiveOpens", "InSegs", "OutSegs", "RetransSegs",
                             "InErrs", "OutRsts", "InCsumErrors"}) {
      auto it = kernel.find(name);
      if (it == kernel.end()) continue;
      if (!kc.empty()) kc += ", ";
      kc += fmt::format("{} {}", name, it->second);
    }
    say(fmt::format("  {:<18}{} (/proc/net/snmp of the namespace)", "kernel counters", kc));
    const dev::TunCounters& t = tun_.counters();
    say(fmt::format("  {:<18}{} packets from the kernel, {} to it, {} errors",
                    fmt::format("TUN {}", kInterface), t.rx_packets, t.tx_packets,
                    t.rx_errors + t.tx_errors));
    if (!options.pcap.empty()) say(fmt::format("  {:<18}{}", "pcap", options.pcap));
    if (!options.mermaid.empty()) say(fmt::format("  {:<18}{}", "mermaid", options.mermaid));
  }

  bool flush_tap() {
    if (!tap_) return true;
    if (auto r = tap_->flush(); !r) return fail(r.error());
    return true;
  }

 private:
  // --- Output ----------------------------------------------------------------------------

  static void say(std::string_view line) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
  }

  static void section(std::string_view title) { say(fmt::format("\n== {} ==", title)); }

  static void phase(std::string_view title, std::string_view explanation) {
    say(fmt::format("\n-- {}", title));
    say(explanation);
    say("");
  }

  void print_packet(wire::Bytes packet) {
    if (tap_) tap_->record(packet, now_);
    auto ip = wire::Ipv4View::parse(packet);
    if (!ip || ip->protocol() != wire::ip_protocol::kTcp) return;  // as `tcpdump tcp`
    // tcpdump's line with its wall-clock stamp replaced by the time since the start (as
    // -ttttt), so the text does not depend on the time zone.
    const std::string line = formatter_.format_ip(now_, packet);
    const size_t space = line.find(' ');
    fmt::memory_buffer out;
    format_elapsed(out, now_ - start_);
    out.append(std::string_view(line).substr(space == std::string::npos ? line.size() : space));
    say(std::string_view(out.data(), out.size()));
  }

  void print_kernel_state(const FourTuple& kernel_side, int state, std::string_view source) {
    auto known = kernel_states_.find(kernel_side);
    const bool changed = known == kernel_states_.end() || known->second != state;
    kernel_states_[kernel_side] = state;
    std::string remote = kernel_side.remote.port == 0 ? "*:*" : kernel_side.remote.to_string();
    say(fmt::format("    kernel {} <-> {}  {}  ({})", kernel_side.local.to_string(), remote,
                    ss_state_name(state), source));
    if (drawing_ && changed) diagram_.state(true, ss_state_name(state));
  }

  // An application call of synack's, and its label in the diagram (no ';' for Mermaid).
  void synack_app(std::string_view text, std::string_view label) {
    say(fmt::format("  synack app: {}", text));
    if (drawing_) diagram_.call(false, label);
  }

  bool fail(std::string why) {
    if (failure_.empty()) failure_ = std::move(why);
    return false;
  }

  // --- synack's loop ---------------------------------------------------------------------

  // One turn: waits for the TUN or the kernel thread, until the stack's next deadline (at
  // most kMaxPollMillis), then moves the kernel's packets into the stack, fires timers, and
  // lets the applications act.
  void turn() {
    now_ = steady_now();
    Instant until = std::min(deadline_, now_ + Duration::millis(kMaxPollMillis));
    for (auto d : {stack_.next_deadline(), tun_.next_deadline()}) {
      if (d && *d < until) until = *d;
    }
    const int64_t wait_us = std::max<int64_t>(0, (until - now_).as_micros());
    std::array<pollfd, 2> fds{pollfd{.fd = tun_.fd(), .events = POLLIN, .revents = 0},
                              pollfd{.fd = kernel_->wake_fd(), .events = POLLIN, .revents = 0}};
    poll(fds.data(), fds.size(), static_cast<int>((wait_us + 999) / 1000));
    now_ = steady_now();
    tun_.poll(now_, [this](wire::Bytes packet) { from_kernel(packet); });
    if (auto d = stack_.next_deadline(); d && *d <= now_) stack_.on_timeout(now_);
    settle_stack();
  }

  // Runs the loop until `done` (bounded in turns and by the demo's deadline).
  bool run_until(const std::function<bool()>& done, std::string_view what) {
    for (int i = 0; i < kMaxTurns; ++i) {
      if (done()) return true;
      if (!failure_.empty()) return false;
      if (steady_now() >= deadline_) break;
      turn();
    }
    if (done()) return true;
    return fail(fmt::format("timed out waiting for {}", what));
  }

  void from_kernel(wire::Bytes packet) {
    now_ = steady_now();  // stamped when read, as a capture would
    print_packet(packet);
    auto ip = wire::Ipv4View::parse(packet);
    std::optional<wire::TcpView> seg;
    if (ip && ip->protocol() == wire::ip_protocol::kTcp) {
      if (auto s = wire::TcpView::parse(ip->payload())) seg = *s;
    }
    if (seg) {
      if (drawing_) diagram_.segment(true, *seg);
      // The kernel's state as it sent this segment. It cannot move on before synack
      // answers, so this is what the kernel was in when the segment left.
      const FourTuple kernel_side{Endpoint{ip->src(), seg->src_port()},
                                  Endpoint{ip->dst(), seg->dst_port()}};
      if (auto state = proc_tcp_state(kernel_side)) {
        auto known = kernel_states_.find(kernel_side);
        if (known == kernel_states_.end() || known->second != *state) {
          print_kernel_state(kernel_side, *state, "/proc/net/tcp");
        }
      }
    }
    stack_.receive(packet, now_);
    settle_stack();
  }

  // After the stack changed: its state changes, what it sends at once (an ACK, a SYN-ACK,
  // as a kernel does in its receive path), then the applications' reactions and their output.
  void settle_stack() {
    for (int round = 0; round < 8; ++round) {
      bool changed = drain_events();
      flush();
      changed = applications() || changed;
      changed = drain_events() || changed;
      // Even a recv() that finds nothing leaves the stack with output to look at.
      flush();
      if (!changed) break;
    }
    drain_events();
  }

  void flush() {
    while (auto packet = stack_.poll_transmit(now_)) {
      print_packet(*packet);
      if (auto ip = wire::Ipv4View::parse(*packet);
          ip && ip->protocol() == wire::ip_protocol::kTcp) {
        if (auto seg = wire::TcpView::parse(ip->payload())) {
          if (drawing_) diagram_.segment(false, *seg);
          note_close_wait_ack(*seg);
        }
      }
      tun_.send(*packet, now_);
    }
  }

  // Part 1's close: whether synack acknowledged the kernel's FIN on its own, or with its FIN.
  void note_close_wait_ack(const wire::TcpView& seg) {
    if (!server_conn_) return;
    const tcp::Connection* c = stack_.connection(*server_conn_);
    if (c != nullptr && c->state() == State::kCloseWait && seg.flags().ack() &&
        !seg.flags().fin()) {
      server_acked_fin_alone_ = true;
    }
  }

  bool drain_events() {
    bool any = false;
    while (auto e = stack_.poll_event()) {
      any = true;
      on_event(*e);
    }
    return any;
  }

  void on_event(const StackEvent& e) {
    if (e.kind == StackEvent::Kind::kAcceptable) {
      acceptable_ = true;
      return;
    }
    const tcp::Event& ev = e.event;
    if (!tuples_.contains(e.conn.slot) || ev.from == State::kClosed) {
      if (const tcp::Connection* c = stack_.connection(e.conn)) tuples_[e.conn.slot] = c->tuple();
    }
    const FourTuple& t = tuples_[e.conn.slot];
    const std::string who =
        fmt::format("    synack {} <-> {}", t.local.to_string(), t.remote.to_string());
    // One synack connection at a time: part 1's server, then part 2's client.
    switch (ev.kind) {
      case tcp::EventKind::kStateChanged:
        say(fmt::format("{}  {} -> {}  ({})", who, tcp::to_string(ev.from), tcp::to_string(ev.to),
                        ev.cause));
        (part_ == 1 ? server_states_ : client_states_).push_back(ev.to);
        if (drawing_) diagram_.state(false, tcp::to_string(ev.to));
        break;
      case tcp::EventKind::kError:
        say(fmt::format("{}  error: {}  ({})", who, ev.error.message(), ev.cause));
        errors_.push_back(
            fmt::format("synack {}: {} ({})", t.local.to_string(), ev.error.message(), ev.cause));
        break;
      case tcp::EventKind::kClosed:
        (part_ == 1 ? server_closed_ : client_closed_) = true;
        if (ev.error) {
          errors_.push_back(
              fmt::format("synack {} closed with {}", t.local.to_string(), ev.error.message()));
        }
        break;
      default:
        break;
    }
  }

  // synack's applications: part 1's echo server and part 2's client. True if one acted.
  bool applications() {
    bool acted = false;
    if (acceptable_ && listener_ && !server_conn_) {
      acceptable_ = false;
      server_conn_ = stack_.accept(*listener_);
      if (server_conn_) {
        const FourTuple& t = tuples_[server_conn_->slot];
        synack_app(fmt::format("accept() = conn, from {}", t.remote.to_string()), "accept()");
        acted = true;
      }
    }
    if (server_conn_ && !server_close_called_) acted = echo() || acted;
    if (client_conn_ && !client_eof_) acted = client_read() || acted;
    return acted;
  }

  std::string read_all(ConnId id) {
    std::string data;
    std::array<std::byte, 2048> buf{};
    for (int i = 0; i < 64; ++i) {
      const size_t n = stack_.recv(id, buf, now_);
      if (n == 0) break;
      data.append(reinterpret_cast<const char*>(buf.data()), n);
    }
    return data;
  }

  // The echo server: writes back what it reads; closes when the client has closed.
  bool echo() {
    const tcp::Connection* c = stack_.connection(*server_conn_);
    if (c == nullptr) return false;
    bool acted = false;
    const std::string data = read_all(*server_conn_);
    if (!data.empty()) {
      acted = true;
      server_received_ += data;
      auto sent = stack_.send(
          *server_conn_, wire::Bytes(reinterpret_cast<const std::byte*>(data.data()), data.size()),
          now_);
      synack_app(
          fmt::format("recv() = {} {}; send({}) = {}", data.size(), c_literal(data),
                      c_literal(data), sent ? std::to_string(*sent) : sent.error().message()),
          "recv() and send() back");
    }
    if (c->eof()) {
      acted = true;
      server_close_called_ = true;
      const std::error_code e = stack_.close(*server_conn_, now_);
      stack_.release(*server_conn_);
      synack_app(fmt::format("recv() = 0 (end of stream: the kernel closed); close() = {}",
                             e ? e.message() : "0"),
                 "recv() = 0, close()");
    }
    return acted;
  }

  // Part 2's client: reads what the kernel sends, and notices the end of the stream.
  bool client_read() {
    const tcp::Connection* c = stack_.connection(*client_conn_);
    if (c == nullptr) return false;
    bool acted = false;
    const std::string data = read_all(*client_conn_);
    if (!data.empty()) {
      acted = true;
      client_received_ += data;
      synack_app(fmt::format("recv() = {} {}", data.size(), c_literal(data)), "recv()");
    }
    if (c->eof()) {
      acted = true;
      client_eof_ = true;
      synack_app("recv() = 0 (end of stream: the kernel closed; synack waits before closing)",
                 "recv() = 0");
    }
    return acted;
  }

  // --- The kernel's application ----------------------------------------------------------

  enum class Drive : uint8_t {
    kNetwork,  // the call needs synack's answers: keep the loop running while it waits
    kLocal,    // the call returns on its own: hold the TUN still until it has
  };

  // Starts a kernel call. One that waits for the network is announced (and drawn) now,
  // before the segments it causes; the others are shown when they return.
  void kernel_begin(std::string_view announce, KernelThread::Job job) {
    announced_ = !announce.empty();
    if (announced_) {
      say(fmt::format("  kernel app: {} ...", announce));
      if (drawing_) diagram_.call(true, std::string(announce.substr(0, announce.find('('))) + "()");
    }
    kernel_->start(std::move(job));
  }

  // Waits for the kernel call's report and prints it with the state it left.
  std::optional<KernelReport> kernel_end(Drive drive, std::string_view what) {
    std::optional<KernelReport> report;
    if (drive == Drive::kLocal) {
      report = kernel_->wait_until(
          std::min(deadline_, steady_now() + Duration::seconds(kSocketTimeoutSeconds)));
    } else {
      run_until(
          [&] {
            if (!report) report = kernel_->take();
            return report.has_value();
          },
          fmt::format("the kernel's {}", what));
    }
    if (!report) {
      fail(fmt::format("the kernel's {} did not return in time", what));
      return std::nullopt;
    }
    now_ = steady_now();
    say(fmt::format("  kernel app: {}", report->call));
    // The name of the (last) call: "listen" in "bind(...) = 0; listen(...) = 0".
    const size_t last = report->call.rfind("; ");
    const std::string call = report->call.substr(last == std::string::npos ? 0 : last + 2);
    const std::string name = call.substr(0, call.find('(')) + "()";
    if (drawing_ && !announced_) diagram_.call(true, name);
    if (report->tuple && report->state) {
      print_kernel_state(*report->tuple, *report->state,
                         fmt::format("{} after {}", report->state_source, name));
    }
    if (!report->ok) {
      fail(fmt::format("the kernel's {}", report->call));
      return std::nullopt;
    }
    return report;
  }

  // A call that returns without a story of its own to announce.
  std::optional<KernelReport> kernel_does(KernelThread::Job job, Drive drive,
                                          std::string_view what) {
    kernel_begin("", std::move(job));
    return kernel_end(drive, what);
  }

  // Neither side has anything unacknowledged: the kernel (TCP_INFO's tcpi_unacked, the
  // socket still open) and synack (snd.una = snd.nxt).
  bool quiet(int kernel_fd, std::optional<ConnId> conn) {
    const std::optional<tcp_info> info = kernel_tcp_info(kernel_fd);
    if (!info || info->tcpi_unacked != 0) return false;
    if (!conn) return true;
    const tcp::Connection* c = stack_.connection(*conn);
    return c != nullptr && c->snd_una() == c->snd_nxt();
  }

  std::optional<State> state_of(std::optional<ConnId> conn) {
    if (!conn) return std::nullopt;
    const tcp::Connection* c = stack_.connection(*conn);
    if (c == nullptr) return std::nullopt;
    return c->state();
  }

  // --- Part 1: the kernel connects to synack ---------------------------------------------

  bool part_one() {
    part_ = 1;
    drawing_ = true;
    section(fmt::format("1. The kernel connects to a synack echo server at {}:{}",
                        kSynackAddress.to_string(), kPort));
    say("   As in a socket tutorial: connect(), send \"hello\", read the echo, close().");
    say("");
    auto listener = stack_.listen(Endpoint{kSynackAddress, kPort}, 16);
    if (!listener) return fail("synack listen(): " + listener.error().message());
    listener_ = *listener;
    synack_app(fmt::format("listen({}:{}, backlog 16) = 0", kSynackAddress.to_string(), kPort),
               "listen()");
    say(fmt::format("    synack {}:{}  LISTEN", kSynackAddress.to_string(), kPort));
    diagram_.state(false, "LISTEN");

    phase(
        "Three-way handshake",
        "   connect() makes the kernel send a SYN carrying its initial sequence number (ISN) and\n"
        "   its options (MSS, SACK, timestamps, window scale). synack answers SYN-ACK with an ISN\n"
        "   of its own and ack = the kernel's ISN + 1; the kernel's ACK of that completes the\n"
        "   handshake, and connect() returns. (tcpdump numbers bytes from each side's ISN: ack "
        "1.)");
    client_fd_ = kernel_socket();
    if (client_fd_ < 0) return fail("socket(): " + errno_text(errno));
    const int fd = client_fd_;
    kernel_begin(fmt::format("connect(fd, {}:{})", kSynackAddress.to_string(), kPort), [fd] {
      return kernel_connect(fd, Endpoint{kSynackAddress, kPort});
    });
    auto connected = kernel_end(Drive::kNetwork, "connect()");
    if (!connected) return false;
    client_tuple_ = connected->tuple;
    if (!run_until([&] { return state_of(server_conn_) == State::kEstablished; },
                   "synack's end of the handshake")) {
      return false;
    }

    phase("Data and ACKs",
          "   Every byte has a sequence number, and the receiver acknowledges with ack = the next\n"
          "   byte it expects. synack's echo carries its ACK of the data (a piggybacked ACK); the\n"
          "   kernel acknowledges the echo.");
    if (!kernel_does([fd] { return kernel_send(fd, std::string(kHello)); }, Drive::kLocal,
                     "send()")) {
      return false;
    }
    if (!run_until(
            [&] { return server_received_.size() >= kHello.size() && quiet(fd, server_conn_); },
            "the echo to be acknowledged")) {
      return false;
    }
    // The echo is there already: recv() returns at once.
    auto echoed = kernel_does([fd] { return kernel_recv(fd); }, Drive::kNetwork, "recv()");
    if (!echoed) return false;
    kernel_echo_ = echoed->data;

    phase("Four-way close",
          "   close() sends a FIN, which takes one sequence number of its own. synack ACKs it and\n"
          "   its application reads end-of-file (CLOSE_WAIT); it closes too and sends its FIN\n"
          "   (LAST_ACK); the kernel's ACK of that FIN ends the connection for synack (CLOSED).");
    const std::optional<FourTuple> tuple = client_tuple_;
    client_fd_ = -1;
    if (!kernel_does([fd, tuple] { return kernel_close(fd, tuple); }, Drive::kLocal, "close()")) {
      return false;
    }
    if (!run_until([&] { return server_closed_; }, "synack's end of the close")) return false;
    if (client_tuple_) {
      // The kernel's final ACK has been read, so the kernel has entered TIME_WAIT.
      if (!run_until([&] { return proc_tcp_state(*client_tuple_) == kLinuxTimeWait; },
                     "the kernel's TIME_WAIT")) {
        return false;
      }
    }
    if (!server_acked_fin_alone_) {
      say("   (synack's echo server closed at once, within synack's delayed-ACK time, so the ACK\n"
          "   of the kernel's FIN rode on synack's own FIN: three segments instead of four. Part "
          "2\n"
          "   shows the four.)");
    }
    stack_.close_listener(*listener_, now_);
    drawing_ = false;
    return true;
  }

  // --- Part 2: synack connects to the kernel ---------------------------------------------

  bool part_two() {
    part_ = 2;
    section(fmt::format("2. synack connects to a kernel server at {}:{}; the kernel closes first",
                        kKernelAddress.to_string(), kPort));
    say("   The kernel's application is a server in a thread: listen(), accept(), read \"hello\",\n"
        "   write it back, close(). synack's client sends \"hello\" and reads the reply.");
    say("");
    listen_fd_ = kernel_socket();
    if (listen_fd_ < 0) return fail("socket(): " + errno_text(errno));
    const int lfd = listen_fd_;
    if (!kernel_does(
            [lfd] {
              return kernel_listen(lfd, Endpoint{kKernelAddress, kPort});
            },
            Drive::kLocal, "listen()")) {
      return false;
    }

    phase(
        "Three-way handshake, the other way round",
        "   synack is the client now: its connect() sends the SYN (SYN_SENT). The kernel answers\n"
        "   from its listening socket's SYN queue (SYN-RECV), and accept() returns the connection\n"
        "   once synack's ACK has arrived.");
    kernel_begin("accept(fd)", [lfd] { return kernel_accept(lfd); });
    auto conn = stack_.connect(Endpoint{kKernelAddress, kPort}, now_);
    if (!conn) return fail("synack connect(): " + conn.error().message());
    client_conn_ = *conn;
    synack_app(fmt::format("connect({}:{}) = 0 (non-blocking: the SYN is on its way)",
                           kKernelAddress.to_string(), kPort),
               "connect()");
    settle_stack();
    auto accepted = kernel_end(Drive::kNetwork, "accept()");
    if (!accepted) return false;
    accepted_fd_ = accepted->new_fd;
    server_tuple_ = accepted->tuple;
    if (!run_until([&] { return state_of(client_conn_) == State::kEstablished; },
                   "synack's end of the handshake")) {
      return false;
    }

    phase("Data and ACKs",
          "   synack sends \"hello\" and the kernel ACKs it; the kernel's server reads it and\n"
          "   writes it back, and synack ACKs that (after its 40 ms delayed-ACK timer: nothing of\n"
          "   its own was going out to carry the ACK).");
    auto sent = stack_.send(
        *client_conn_,
        wire::Bytes(reinterpret_cast<const std::byte*>(kHello.data()), kHello.size()), now_);
    synack_app(fmt::format("send({}) = {}", c_literal(kHello),
                           sent ? std::to_string(*sent) : sent.error().message()),
               "send()");
    settle_stack();
    const int afd = accepted_fd_;
    if (!run_until([&] { return quiet(afd, client_conn_); }, "the kernel's ACK of \"hello\"")) {
      return false;
    }
    auto got = kernel_does([afd] { return kernel_recv(afd); }, Drive::kNetwork, "recv()");
    if (!got) return false;
    kernel_received_ = got->data;
    const std::string reply = got->data;
    if (!kernel_does([afd, reply] { return kernel_send(afd, reply); }, Drive::kLocal, "send()")) {
      return false;
    }
    if (!run_until(
            [&] { return client_received_.size() >= reply.size() && quiet(afd, client_conn_); },
            "synack's ACK of the reply")) {
      return false;
    }

    phase("Four-way close, from the other side",
          "   This time the kernel closes first: FIN (FIN-WAIT-1). synack ACKs it, after its\n"
          "   delayed-ACK timer in case a FIN of its own could carry the ACK, and its application\n"
          "   reads end-of-file: synack is in CLOSE_WAIT, the kernel in FIN-WAIT-2, each waiting\n"
          "   for the other half. When synack's application closes, synack sends its FIN\n"
          "   (LAST_ACK) and the kernel's ACK ends it (CLOSED).");
    const std::optional<FourTuple> tuple = server_tuple_;
    accepted_fd_ = -1;
    if (!kernel_does([afd, tuple] { return kernel_close(afd, tuple); }, Drive::kLocal, "close()")) {
      return false;
    }
    if (!run_until(
            [&] {
              const tcp::Connection* c = stack_.connection(*client_conn_);
              return c != nullptr && c->state() == State::kCloseWait && client_eof_ &&
                     c->snd_una() == c->snd_nxt() && tuple &&
                     proc_tcp_state(*tuple) == 5;  // TCP_FIN_WAIT2
            },
            "CLOSE_WAIT and FIN-WAIT-2")) {
      return false;
    }
    if (tuple) print_kernel_state(*tuple, 5, "/proc/net/tcp, after synack's ACK");
    const std::error_code e = stack_.close(*client_conn_, now_);
    stack_.release(*client_conn_);
    synack_app(fmt::format("close() = {}", e ? e.message() : "0"), "close()");
    settle_stack();
    if (!run_until([&] { return client_closed_; }, "synack's end of the close")) return false;
    if (tuple && !run_until([&] { return proc_tcp_state(*tuple) == kLinuxTimeWait; },
                            "the kernel's TIME_WAIT")) {
      return false;
    }
    // The listening socket goes as well; a tutorial's server would accept again.
    ::close(listen_fd_);
    listen_fd_ = -1;
    return true;
  }

  // --- TIME_WAIT ---------------------------------------------------------------------------

  bool time_wait() {
    phase(
        "TIME_WAIT",
        "   The side that closed first waits in TIME_WAIT for 2 MSL (60 s on Linux) before it\n"
        "   forgets the connection: if its last ACK was lost, the peer's FIN comes again and is\n"
        "   ACKed again, and no stray segment of this connection can be taken for one of the\n"
        "   next connection between the same ports. The kernel closed first both times, so it\n"
        "   holds both connections; synack, which closed second, is CLOSED. As `ss -tan -o state\n"
        "   time-wait` would show them (read from the namespace's /proc/net/tcp):");
    const long ticks = std::max(1L, sysconf(_SC_CLK_TCK));
    int found = 0;
    for (const ProcTcpEntry& e : read_proc_net_tcp()) {
      if (e.state != kLinuxTimeWait) continue;
      ++found;
      say(fmt::format("    kernel {} <-> {}  {}  timer:(timewait,{}sec,0)",
                      e.tuple.local.to_string(), e.tuple.remote.to_string(), ss_state_name(e.state),
                      static_cast<long>(e.when) / ticks));
    }
    if (found != 2) return fail(fmt::format("{} kernel sockets in TIME_WAIT, not 2", found));
    return true;
  }

  bool verify() {
    const std::vector<State> passive{State::kSynRcvd, State::kEstablished, State::kCloseWait,
                                     State::kLastAck, State::kClosed};
    const std::vector<State> active{State::kSynSent, State::kEstablished, State::kCloseWait,
                                    State::kLastAck, State::kClosed};
    std::vector<std::string> problems = errors_;
    if (kernel_echo_ != kHello)
      problems.push_back("the kernel read back " + c_literal(kernel_echo_));
    if (kernel_received_ != kHello)
      problems.push_back("the kernel read " + c_literal(kernel_received_));
    if (client_received_ != kHello)
      problems.push_back("synack read back " + c_literal(client_received_));
    if (server_states_ != passive) {
      problems.push_back("synack's server went " + states_text(server_states_));
    }
    if (client_states_ != active) {
      problems.push_back("synack's client went " + states_text(client_states_));
    }
    if (problems.empty()) return true;
    std::string text;
    for (const std::string& p : problems)
      text += "\n  " + p;
    return fail("unexpected:" + text);
  }

  dev::TunDevice tun_;
  stack::Stack stack_;
  std::optional<dev::PcapTap> tap_;
  trace::TcpdumpFormatter formatter_;
  Diagram diagram_;
  std::unique_ptr<KernelThread> kernel_;

  Instant start_;
  Instant now_;
  Instant deadline_;
  std::string failure_;
  int part_ = 0;
  bool drawing_ = false;
  bool announced_ = false;

  // The kernel's sockets (-1 once closed) and the last state printed for each connection.
  int client_fd_ = -1;
  int listen_fd_ = -1;
  int accepted_fd_ = -1;
  std::optional<FourTuple> client_tuple_;
  std::optional<FourTuple> server_tuple_;
  std::unordered_map<FourTuple, int> kernel_states_;
  std::string kernel_echo_;
  std::string kernel_received_;

  // synack's side.
  std::optional<stack::ListenerId> listener_;
  bool acceptable_ = false;
  std::optional<ConnId> server_conn_;
  std::optional<ConnId> client_conn_;
  std::map<uint32_t, FourTuple> tuples_;  // by slot: a connection's tuple outlives it here
  std::vector<State> server_states_;
  std::vector<State> client_states_;
  std::vector<std::string> errors_;
  std::string server_received_;
  std::string client_received_;
  bool server_close_called_ = false;
  bool server_closed_ = false;
  bool server_acked_fin_alone_ = false;
  bool client_eof_ = false;
  bool client_closed_ = false;
};

int run_demo(const DemoOptions& options) {
  auto ns = enter_private_network_namespace();
  if (!ns) {
    fmt::print(stderr, "synack demo: {}\n", ns.error());
    return 1;
  }
  // No IPv6 on the new interface: its router solicitations would only add noise.
  write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
  write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");

  // No offloads: the demo shows every segment as a wire (and the tutorials) would carry it.
  auto tun = dev::TunDevice::open(dev::TunConfig{.name = kInterface,
                                                 .mtu = 1500,
                                                 .kernel_address = kKernelAddress,
                                                 .prefix_len = 24,
                                                 .offload = false});
  if (!tun) {
    fmt::print(stderr, "synack demo: {}\n", tun.error().message);
    return 1;
  }

  std::optional<dev::PcapTap> tap;
  if (!options.pcap.empty()) {
    // Real time: the capture's stamps are the wall clock's (steady time plus its offset).
    const auto wall = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
    auto opened =
        dev::PcapTap::open(options.pcap, Duration::micros(wall - steady_now().as_micros()));
    if (!opened) {
      fmt::print(stderr, "synack demo: {}\n", opened.error());
      return 1;
    }
    tap = std::move(*opened);
  }

  fmt::print(
      "synack demo: the Linux kernel and synack speak TCP through a TUN interface\n"
      "  in {};\n"
      "  {}: the kernel is {}/24, synack (a user-space stack in this process) is {}.\n"
      "  Segments are printed as `tcpdump -n -i {} tcp` prints them, stamped with the time since\n"
      "  the start; under them, indented, the state changes of each end: synack's from its stack,\n"
      "  the kernel's as the kernel reports them (TCP_INFO after each call of its application,\n"
      "  /proc/net/tcp otherwise; ss's names). \"app:\" lines are the applications' calls.\n",
      *ns, kInterface, kKernelAddress.to_string(), kSynackAddress.to_string(), kInterface);

  Demo demo(std::move(*tun), std::move(tap));
  const bool ok = demo.run() && demo.flush_tap();
  if (!options.mermaid.empty()) {
    std::ofstream out(options.mermaid, std::ios::binary | std::ios::trunc);
    out << demo.diagram().text();
    out.close();
    if (!out) {
      std::fflush(stdout);
      fmt::print(stderr, "synack demo: cannot write {}\n", options.mermaid);
      return 1;
    }
  }
  if (!ok) {
    std::fflush(stdout);
    fmt::print(stderr, "synack demo: {}\n", demo.failure());
    return 1;
  }
  demo.print_summary(options);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

void register_demo_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "demo",
      "Watch the Linux kernel and synack speak TCP, segment by segment (no root needed "
      "where user namespaces are allowed)");
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->footer(
      "Runs in a private network namespace: as root a plain one, otherwise a user namespace\n"
      "(like `unshare -rn`). Creates the TUN interface synack0 (kernel 10.55.0.1/24, synack\n"
      "10.55.0.2); nothing is left behind. Exit status 0 when both exchanges completed as TCP\n"
      "says they should.");
  cmd->add_option("--pcap", o->pcap,
                  "Write every packet crossing the TUN interface to a pcap file");
  cmd->add_option("--mermaid", o->mermaid,
                  "Write the first connection as a Mermaid sequence diagram");
  cmd->callback([o, &exit_code] { exit_code = run_demo(*o); });
}

}  // namespace synack::cli
