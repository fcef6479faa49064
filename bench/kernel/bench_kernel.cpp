// bench_kernel: the Linux kernel's TCP as the comparator of `make bench` (docs/performance.md).
//
// Each measurement runs in a child process of its own inside a fresh private network namespace
// (unshare(CLONE_NEWNET)), so it never touches the host's interfaces or sysctls and everything
// it made (sockets, TIME_WAIT entries, veth pairs) goes away with the namespace when the child
// exits. stdout carries one JSON object per line and nothing else; progress goes to stderr.
//
//   bench_kernel [--quick] [options] [bulk|conn|latency|mem|veth ...]   (default: all)

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_output.hpp"

namespace {

// --cc: set on every socket before it connects or listens (accepted sockets inherit it).
std::string g_cc;

struct Options {
  bool quick = false;
  std::uint64_t bulk_bytes = 4ULL << 30;  // 4 GiB (--quick: 256 MiB)
  std::size_t chunk = 128 << 10;          // write and read size of the bulk transfers
  std::size_t conn_count = 20'000;        // --quick: 2 000
  std::size_t rounds = 100'000;           // latency round trips (--quick: 10 000)
  std::size_t mem_conns = 100'000;        // --quick: 10 000
  double veth_seconds = 10;               // per MTU (--quick: 2)
  std::vector<std::string> parts;
};

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

int check(int rc, const char* what) {
  if (rc < 0) fail(what);
  return rc;
}

double now_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Process CPU time (every thread of this process, user + system). Softirq work the kernel
// does on behalf of our sockets is charged to whichever thread it interrupts, usually ours
// on loopback; work deferred to ksoftirqd is not counted.
struct Cpu {
  double user = 0, sys = 0;
  static Cpu now() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return {synack::bench::seconds(ru.ru_utime), synack::bench::seconds(ru.ru_stime)};
  }
  double total() const { return user + sys; }
};

// CPU time the whole machine spent busy (all CPUs; includes softirqs that ran on an otherwise
// idle CPU, which no process is charged for), from /proc/stat.
double machine_busy_s() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  f >> cpu;
  std::uint64_t v = 0, busy = 0;
  for (int i = 0; i < 8 && f >> v; ++i)
    if (i != 3 && i != 4) busy += v;  // all but idle and iowait
  return static_cast<double>(busy) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The result line (bench_output.hpp), and the same on stderr for a person.
void emit(const std::string& key, double value, const std::string& unit, const std::string& note) {
  synack::bench::emit(key, value, unit, note);
  std::fprintf(stderr, "  %s = %.6g %s (%s)\n", key.c_str(), value, unit.c_str(), note.c_str());
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string human_bytes(std::uint64_t b) {
  if (b >= (1ULL << 30) && b % (1ULL << 30) == 0) return std::to_string(b >> 30) + " GiB";
  if (b >= (1ULL << 20) && b % (1ULL << 20) == 0) return std::to_string(b >> 20) + " MiB";
  if (b >= (1ULL << 10) && b % (1ULL << 10) == 0) return std::to_string(b >> 10) + " KiB";
  return std::to_string(b) + " B";
}

// ---- namespaces, interfaces, sysctls ----------------------------------------------------

void write_file(const std::string& path, const std::string& value) {
  std::ofstream f(path);
  f << value;
  f.flush();
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string read_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

void set_if_flags_up(const char* name) {
  int fd = check(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket");
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  check(ioctl(fd, SIOCGIFFLAGS, &ifr), "SIOCGIFFLAGS");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  check(ioctl(fd, SIOCSIFFLAGS, &ifr), "SIOCSIFFLAGS");
  close(fd);
}

void set_mtu(const char* name, int mtu) {
  int fd = check(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket");
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  ifr.ifr_mtu = mtu;
  check(ioctl(fd, SIOCSIFMTU, &ifr), "SIOCSIFMTU");
  close(fd);
}

int get_mtu(const char* name) {
  int fd = check(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket");
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  check(ioctl(fd, SIOCGIFMTU, &ifr), "SIOCGIFMTU");
  close(fd);
  return ifr.ifr_mtu;
}

// A fresh network namespace for the calling (single-threaded) process, with lo up.
void enter_fresh_netns() {
  if (unshare(CLONE_NEWNET) < 0) {
    if (errno == EPERM)
      throw std::runtime_error(
          "needs root (CAP_SYS_ADMIN) to create a private network namespace; run as root");
    fail("unshare(CLONE_NEWNET)");
  }
  set_if_flags_up("lo");
}

// Per-namespace sysctls: written after unshare, they apply to this namespace only.
void set_port_range() {
  write_file("/proc/sys/net/ipv4/ip_local_port_range", "1024 65535");
}

// This namespace's SNMP and TcpExt counters (/proc/net/snmp, /proc/net/netstat), by
// "Group.Name"; a measurement reports the ones that moved when something went wrong.
std::map<std::string, std::int64_t> net_counters() {
  std::map<std::string, std::int64_t> out;
  for (const char* path : {"/proc/net/snmp", "/proc/net/netstat"}) {
    std::ifstream f(path);
    std::string names, values;
    while (std::getline(f, names) && std::getline(f, values)) {
      std::istringstream n(names), v(values);
      std::string group, name, value;
      n >> group;
      v >> value;  // the group again
      while (n >> name && v >> value) {
        try {
          out[group.substr(0, group.size() - 1) + "." + name] = std::stoll(value);
        } catch (const std::exception&) {
        }
      }
    }
  }
  return out;
}

// Counters that went up between two snapshots, as "Name +n, ..." (Ip/Tcp segment counts
// left out).
std::string counters_moved(const std::map<std::string, std::int64_t>& before,
                           const std::map<std::string, std::int64_t>& after) {
  std::string out;
  for (const auto& [name, v] : after) {
    auto it = before.find(name);
    const std::int64_t d = v - (it == before.end() ? 0 : it->second);
    if (d <= 0 || name.rfind("Ip.", 0) == 0 || name.rfind("IcmpMsg", 0) == 0) continue;
    if (name == "Tcp.InSegs" || name == "Tcp.OutSegs" || name == "Tcp.ActiveOpens" ||
        name == "Tcp.PassiveOpens" || name == "Tcp.CurrEstab")
      continue;
    if (!out.empty()) out += ", ";
    out += name + " +" + std::to_string(d);
  }
  return out;
}

std::string congestion_control(int fd) {
  char name[32]{};
  socklen_t len = sizeof name - 1;
  if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len) < 0) return "?";
  return name;
}

// Runs an ip(8) command (no shell) in the calling thread's network namespace; its output goes
// to stderr so stdout stays JSON only.
void run_ip(const std::vector<std::string>& args) {
  const char* ip = access("/usr/sbin/ip", X_OK) == 0 ? "/usr/sbin/ip"
                   : access("/sbin/ip", X_OK) == 0   ? "/sbin/ip"
                                                     : "ip";
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(ip));
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::fflush(stdout);
  pid_t pid = check(fork(), "fork");
  if (pid == 0) {
    dup2(STDERR_FILENO, STDOUT_FILENO);
    execvp(ip, argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd = "ip";
    for (const auto& a : args)
      cmd += " " + a;
    throw std::runtime_error("`" + cmd + "` failed (is iproute2 installed?)");
  }
}

// ---- sockets ------------------------------------------------------------------------------

sockaddr_in addr4(const char* ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) throw std::runtime_error("bad address");
  return a;
}

int tcp_socket() {
  int fd = check(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket");
  if (!g_cc.empty() && setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, g_cc.data(),
                                  static_cast<socklen_t>(g_cc.size())) < 0)
    fail("TCP_CONGESTION " + g_cc + " (module loaded? see tcp_available_congestion_control)");
  return fd;
}

// Listens on ip:0 and returns the fd; *port receives the port the kernel chose.
int listen_on(const char* ip, std::uint16_t* port, int backlog = 4096) {
  int fd = tcp_socket();
  sockaddr_in a = addr4(ip, 0);
  check(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), "bind");
  check(listen(fd, backlog), "listen");
  socklen_t len = sizeof a;
  check(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), "getsockname");
  *port = ntohs(a.sin_port);
  return fd;
}

int connect_to(const char* ip, std::uint16_t port) {
  int fd = tcp_socket();
  sockaddr_in a = addr4(ip, port);
  check(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), "connect");
  return fd;
}

void set_nodelay(int fd) {
  int one = 1;
  check(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), "TCP_NODELAY");
}

// Abortive close (RST, no TIME_WAIT) for teardown that is not part of a measurement.
void close_abort(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("send");
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Reads exactly one byte; false on EOF.
bool read_byte(int fd, char* c) {
  for (;;) {
    ssize_t r = recv(fd, c, 1, 0);
    if (r == 1) return true;
    if (r == 0) return false;
    if (errno != EINTR) fail("recv");
  }
}

// Reads and discards until EOF; returns the byte count.
std::uint64_t drain(int fd, std::size_t chunk) {
  std::vector<char> buf(chunk);
  std::uint64_t total = 0;
  for (;;) {
    ssize_t r = recv(fd, buf.data(), buf.size(), 0);
    if (r == 0) return total;
    if (r < 0) {
      if (errno == EINTR) continue;
      fail("recv");
    }
    total += static_cast<std::uint64_t>(r);
  }
}

// Runs fn on a thread; an exception there is rethrown by join().
class Worker {
 public:
  explicit Worker(std::function<void()> fn)
      : thread_([this, f = std::move(fn)] {
          try {
            f();
          } catch (...) {
            error_ = std::current_exception();
          }
        }) {}
  void join() {
    thread_.join();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::exception_ptr error_;
  std::thread thread_;
};

// ---- bulk transfer over one connection ---------------------------------------------------

struct BulkResult {
  std::uint64_t bytes = 0;
  double seconds = 0;
  Cpu cpu;
  double machine_busy = 0;
  std::int64_t retransmits = 0;  // Tcp.RetransSegs of the sender's namespace
  std::string cc;
  int mss = 0;
};

// Sends `bytes` (or, with bytes == 0, for `seconds`) from a client socket to an accepted
// socket read by a second thread. The connection is set up before the clock starts.
BulkResult bulk_transfer(int listener, const char* ip, std::uint16_t port, std::uint64_t bytes,
                         double seconds, std::size_t chunk) {
  int client = connect_to(ip, port);
  int server = check(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC), "accept");
  BulkResult r;
  r.cc = congestion_control(client);
  socklen_t len = sizeof r.mss;
  getsockopt(client, IPPROTO_TCP, TCP_MAXSEG, &r.mss, &len);

  std::uint64_t received = 0;
  std::vector<char> buf(chunk, 'x');
  const std::int64_t retrans0 = net_counters()["Tcp.RetransSegs"];
  const double busy0 = machine_busy_s();
  Cpu cpu0 = Cpu::now();
  double t0 = now_s();
  Worker receiver([&] { received = drain(server, chunk); });
  std::uint64_t sent = 0;
  if (bytes > 0) {
    while (sent < bytes) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, bytes - sent));
      write_all(client, buf.data(), n);
      sent += n;
    }
  } else {
    const double deadline = t0 + seconds;
    while (now_s() < deadline) {
      write_all(client, buf.data(), chunk);
      sent += chunk;
    }
  }
  check(shutdown(client, SHUT_WR), "shutdown");
  receiver.join();
  double t1 = now_s();
  Cpu cpu1 = Cpu::now();
  r.machine_busy = machine_busy_s() - busy0;
  r.retransmits = net_counters()["Tcp.RetransSegs"] - retrans0;
  if (received != sent)
    throw std::runtime_error("received " + std::to_string(received) + " of " +
                             std::to_string(sent) + " bytes");
  r.bytes = received;
  r.seconds = t1 - t0;
  r.cpu = {cpu1.user - cpu0.user, cpu1.sys - cpu0.sys};
  close(client);
  close(server);
  return r;
}

// mtu 0: lo's default. cc: congestion control for this run only (empty: as for the others).
void part_bulk(const Options& o, int mtu, const std::string& cc = "") {
  enter_fresh_netns();
  if (!cc.empty()) g_cc = cc;
  if (mtu > 0) set_mtu("lo", mtu);
  const int lo_mtu = get_mtu("lo");
  std::uint16_t port = 0;
  int listener = listen_on("127.0.0.1", &port);
  std::fprintf(stderr, "bulk loopback (lo mtu %d): %s in %s writes\n", lo_mtu,
               human_bytes(o.bulk_bytes).c_str(), human_bytes(o.chunk).c_str());
  BulkResult r = bulk_transfer(listener, "127.0.0.1", port, o.bulk_bytes, 0, o.chunk);
  close(listener);
  const double gbit = static_cast<double>(r.bytes) * 8 / 1e9;
  const std::string note =
      human_bytes(r.bytes) + ", 2 threads, " + human_bytes(o.chunk) + " writes, lo mtu " +
      std::to_string(lo_mtu) + " (mss " + std::to_string(r.mss) + ", TSO/GRO on), cc " + r.cc +
      ", cpu " + fmt("%.2f", r.cpu.total()) + " s (user " + fmt("%.2f", r.cpu.user) + ", sys " +
      fmt("%.2f", r.cpu.sys) + ") in " + fmt("%.2f", r.seconds) + " s wall, machine busy " +
      fmt("%.2f", r.machine_busy) + " s, retransmits " + std::to_string(r.retransmits);
  std::string prefix = "kernel.bulk_loopback_";
  if (mtu > 0) prefix += "mtu" + std::to_string(mtu) + "_";
  if (!cc.empty()) prefix += cc + "_";
  emit(prefix + "gbps_per_cpu_s", gbit / r.cpu.total(), "Gbit/s per CPU-s", note);
  emit(prefix + "gbps", gbit / r.seconds, "Gbit/s", note);
}

// ---- connection rate --------------------------------------------------------------------

void part_conn(const Options& o) {
  enter_fresh_netns();
  // Client closes first, so TIME_WAIT is on the client's side and uses its ephemeral ports:
  // widen the range beyond the connection count (tcp_tw_reuse keeps its default, 2 =
  // loopback only, for counts beyond the range).
  set_port_range();
  const std::string tw_reuse = read_first_line("/proc/sys/net/ipv4/tcp_tw_reuse");
  std::uint16_t port = 0;
  int listener = listen_on("127.0.0.1", &port);
  const double limit_s = o.quick ? 10 : 30;
  std::fprintf(stderr, "conn rate: %zu connections (at most %.0f s)\n", o.conn_count, limit_s);

  // One thread plays both ends, as synack's side does (two stacks, one thread): on loopback
  // the kernel finishes the handshake and delivers each byte within the sending call, so no
  // step waits for a wakeup, and the figure is the kernel's TCP rather than the scheduler's.
  std::string cc;
  std::size_t done = 0;
  const auto counters0 = net_counters();
  const double t0 = now_s();
  const double deadline = t0 + limit_s;
  while (done < o.conn_count && now_s() < deadline) {
    int fd = connect_to("127.0.0.1", port);
    int peer = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (peer < 0) fail("accept");
    if (done == 0) cc = congestion_control(fd);
    char c = 'x';
    write_all(fd, &c, 1);
    if (!read_byte(peer, &c)) throw std::runtime_error("server: early EOF");
    write_all(peer, &c, 1);
    if (!read_byte(fd, &c)) throw std::runtime_error("client: early EOF");
    close(fd);
    if (read_byte(peer, &c)) throw std::runtime_error("server: data after the byte");
    close(peer);  // after the client's FIN: the server's close is the passive one
    ++done;
  }
  const double t1 = now_s();
  close(listener);
  const double secs = t1 - t0;
  const auto counters1 = net_counters();
  std::fprintf(stderr, "  counters: %s\n", counters_moved(counters0, counters1).c_str());
  std::string note =
      std::to_string(done) + " connections in " + fmt("%.2f", secs) +
      " s, one thread for both ends; connect, accept, 1 byte each way, client closes "
      "first (TIME_WAIT on client), ip_local_port_range 1024-65535, "
      "tcp_tw_reuse " +
      tw_reuse + ", cc " + cc + ", retransmits " +
      std::to_string(counters1.at("Tcp.RetransSegs") - counters0.at("Tcp.RetransSegs"));
  if (done < o.conn_count) note += " (time limit reached)";
  emit("kernel.conn_rate_per_s", static_cast<double>(done) / secs, "connections/s", note);
}

// ---- latency ------------------------------------------------------------------------------

double percentile(const std::vector<double>& sorted, double p) {
  // Nearest rank: the smallest sample with at least p of the samples at or below it.
  const std::size_t n = sorted.size();
  std::size_t rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(n)));
  rank = std::clamp<std::size_t>(rank, 1, n);
  return sorted[rank - 1];
}

void part_latency(const Options& o) {
  enter_fresh_netns();
  std::uint16_t port = 0;
  int listener = listen_on("127.0.0.1", &port);
  int client = connect_to("127.0.0.1", port);
  int server = check(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC), "accept");
  set_nodelay(client);
  set_nodelay(server);
  const std::string cc = congestion_control(client);
  const std::size_t warmup = std::max<std::size_t>(1000, o.rounds / 10);
  std::fprintf(stderr, "latency: %zu round trips of 1 byte after %zu warm-up\n", o.rounds, warmup);

  // One thread plays both ends (see part_conn): each round trip is two sends and two
  // receives through the kernel's TCP, with no wakeup between them.
  std::vector<double> us;
  us.reserve(o.rounds);
  const double deadline = now_s() + (o.quick ? 10 : 30);
  bool timed_out = false;
  char c = 'x';
  for (std::size_t i = 0; i < warmup + o.rounds; ++i) {
    timespec a{}, b{};
    clock_gettime(CLOCK_MONOTONIC, &a);
    write_all(client, &c, 1);
    if (!read_byte(server, &c)) throw std::runtime_error("ping lost");
    write_all(server, &c, 1);
    if (!read_byte(client, &c)) throw std::runtime_error("pong lost");
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (i >= warmup)
      us.push_back(static_cast<double>(b.tv_sec - a.tv_sec) * 1e6 +
                   static_cast<double>(b.tv_nsec - a.tv_nsec) * 1e-3);
    if ((i & 1023) == 0 && now_s() > deadline) {
      timed_out = true;
      break;
    }
  }
  close(client);
  close(server);
  close(listener);
  if (us.empty()) throw std::runtime_error("no samples (time limit in the warm-up)");
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double v : us)
    sum += v;
  std::string note = std::to_string(us.size()) +
                     " round trips, 1 byte, TCP_NODELAY, one thread for both ends, " + "min " +
                     fmt("%.1f", us.front()) + " us, mean " +
                     fmt("%.1f", sum / static_cast<double>(us.size())) + " us, max " +
                     fmt("%.0f", us.back()) + " us, cc " + cc;
  if (timed_out) note += " (time limit reached)";
  emit("kernel.latency_p50_us", percentile(us, 0.50), "us", note);
  emit("kernel.latency_p99_us", percentile(us, 0.99), "us", note);
}

// ---- memory per idle connection -------------------------------------------------------------

struct SlabCache {
  std::uint64_t active = 0;
  std::uint64_t objsize = 0;
};

std::map<std::string, SlabCache> read_slabinfo() {
  std::ifstream f("/proc/slabinfo");
  if (!f) throw std::runtime_error("cannot read /proc/slabinfo (needs root)");
  std::map<std::string, SlabCache> caches;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#' || line.rfind("slabinfo", 0) == 0) continue;
    std::istringstream in(line);
    std::string name;
    SlabCache c;
    std::uint64_t num = 0;
    if (in >> name >> c.active >> num >> c.objsize) caches[name] = c;
  }
  return caches;
}

// SLUB merges caches of the same size and flags, and /proc/slabinfo lists a merged cache under
// one name only (here tcp_bind_bucket and tcp_bind2_bucket hide in the 128-byte cache named
// eventpoll_epi). Returns the networking caches merged into `name`, from /sys/kernel/slab.
std::string net_aliases(const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path root = "/sys/kernel/slab";
  const fs::path target = fs::canonical(root / name, ec);
  if (ec) return "";
  std::string out;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string alias = e.path().filename().string();
    if (alias == name || alias[0] == ':' || !e.is_symlink(ec)) continue;
    const bool net =
        alias.find("tcp") != std::string::npos || alias.find("TCP") != std::string::npos ||
        alias.find("sock") != std::string::npos || alias.find("inet") != std::string::npos;
    if (net && fs::canonical(e.path(), ec) == target) out += "/" + alias;
  }
  return out;
}

std::uint64_t meminfo_kb(const std::string& field) {
  std::ifstream f("/proc/meminfo");
  std::string name;
  std::uint64_t kb = 0;
  std::string unit;
  while (f >> name >> kb) {
    std::getline(f, unit);
    if (name == field + ":") return kb;
  }
  return 0;
}

// Raises the soft RLIMIT_NOFILE to `want` or, if that is above the hard limit and the hard
// limit cannot be raised (no CAP_SYS_RESOURCE), to the hard limit. Returns the new soft limit.
std::size_t raise_nofile(std::size_t want) {
  rlimit rl{};
  check(getrlimit(RLIMIT_NOFILE, &rl), "getrlimit");
  if (rl.rlim_cur >= want) return static_cast<std::size_t>(rl.rlim_cur);
  rlimit up{want, std::max<rlim_t>(want, rl.rlim_max)};
  if (setrlimit(RLIMIT_NOFILE, &up) == 0) return want;
  rl.rlim_cur = rl.rlim_max;
  check(setrlimit(RLIMIT_NOFILE, &rl), "setrlimit(RLIMIT_NOFILE)");
  return static_cast<std::size_t>(rl.rlim_cur);
}

void write_byte(int fd, char c) {
  while (write(fd, &c, 1) < 0)
    if (errno != EINTR) fail("pipe write");
}

char read_pipe_byte(int fd) {
  char c = 0;
  for (;;) {
    ssize_t r = read(fd, &c, 1);
    if (r == 1) return c;
    if (r == 0) return 0;  // the other side is gone
    if (errno != EINTR) fail("pipe read");
  }
}

// One process holding `conns` connections, both ends (connect and accept in turn; on
// loopback the handshake completes inside connect(), so the accept is immediate). Steps on
// the parent's word: 'r' ready -> (go) -> 'd' done or 'e' error -> (quit) -> exit.
[[noreturn]] void mem_worker(std::size_t conns, int to_parent, int from_parent) {
  int code = 0;
  try {
    if (raise_nofile(2 * conns + 64) < 2 * conns + 64)
      throw std::runtime_error("RLIMIT_NOFILE too small");
    // At most 20 000 connections per listening port: well inside the 64 511 ephemeral ports a
    // client has towards one destination.
    const std::size_t nlisten = (conns + 19'999) / 20'000;
    std::vector<int> listeners(nlisten);
    std::vector<std::uint16_t> ports(nlisten);
    for (std::size_t i = 0; i < nlisten; ++i)
      listeners[i] = listen_on("127.0.0.1", &ports[i]);
    std::vector<int> fds;
    fds.reserve(2 * conns);
    write_byte(to_parent, 'r');
    if (read_pipe_byte(from_parent) != 'g') _exit(1);
    const double t0 = now_s();
    for (std::size_t i = 0; i < conns; ++i) {
      fds.push_back(connect_to("127.0.0.1", ports[i % nlisten]));
      fds.push_back(
          check(accept4(listeners[i % nlisten], nullptr, nullptr, SOCK_CLOEXEC), "accept"));
      if ((i & 1023) == 0 && now_s() - t0 > 60)
        throw std::runtime_error("time limit while opening connections");
    }
    write_byte(to_parent, 'd');
    read_pipe_byte(from_parent);
    for (int fd : fds)
      close_abort(fd);
    for (int fd : listeners)
      close(fd);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kernel: mem worker: %s\n", e.what());
    write_byte(to_parent, 'e');
    code = 1;
  }
  std::fflush(stderr);
  _exit(code);
}

void part_mem(const Options& o) {
  enter_fresh_netns();
  set_port_range();
  const std::size_t n = o.mem_conns;
  // Without CAP_SYS_RESOURCE the hard RLIMIT_NOFILE may be below 2 fds per connection: spread
  // the connections over as many processes (in this namespace) as that needs.
  const std::size_t limit = raise_nofile(2 * n + 64);
  if (limit < 256) throw std::runtime_error("RLIMIT_NOFILE below 256");
  const std::size_t per_proc = std::min(n, (limit - 64) / 2);
  const std::size_t nproc = (n + per_proc - 1) / per_proc;
  std::fprintf(stderr, "memory: %zu idle loopback connections in %zu process(es)\n", n, nproc);

  struct Proc {
    pid_t pid;
    int to, from;
  };
  std::vector<Proc> procs;
  auto reap = [&] {
    for (const Proc& p : procs) {
      close(p.to);  // EOF: a worker still waiting quits
      close(p.from);
    }
    for (const Proc& p : procs) {
      int status = 0;
      while (waitpid(p.pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    procs.clear();
  };
  auto gather = [&](char want) {
    for (const Proc& p : procs)
      if (read_pipe_byte(p.from) != want) {
        reap();
        throw std::runtime_error("a worker failed (see above)");
      }
  };
  std::size_t left = n;
  for (std::size_t i = 0; i < nproc; ++i) {
    const std::size_t mine = std::min(per_proc, left);
    left -= mine;
    int up[2], down[2];
    check(pipe2(up, O_CLOEXEC), "pipe");
    check(pipe2(down, O_CLOEXEC), "pipe");
    std::fflush(stdout);
    pid_t pid = check(fork(), "fork");
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (const Proc& p : procs) {
        close(p.to);
        close(p.from);
      }
      close(up[0]);
      close(down[1]);
      mem_worker(mine, up[1], down[0]);
    }
    close(up[1]);
    close(down[0]);
    procs.push_back({pid, down[1], up[0]});
  }
  gather('r');

  // Only the connections themselves happen between the two snapshots: the workers' own
  // processes, listeners and fd arrays exist before.
  const auto before = read_slabinfo();
  const std::uint64_t slab_kb0 = meminfo_kb("Slab");
  const double t0 = now_s();
  for (const Proc& p : procs)
    write_byte(p.to, 'g');
  gather('d');
  const double t1 = now_s();
  const auto after = read_slabinfo();
  const std::uint64_t slab_kb1 = meminfo_kb("Slab");
  for (const Proc& p : procs)
    write_byte(p.to, 'q');
  reap();

  // Caches that grew by at least one object per 10 connections: anything less is other
  // activity on the machine, not these connections. Something on a machine may also list
  // /proc/PID/fd of processes with many fds, which makes /proc inodes and their dentries:
  // proc_inode_cache is left out, and dentries and LSM inode blobs are counted up to one per
  // socket inode (each socket has exactly one of each).
  struct Growth {
    std::string name;
    double bytes;
    double objs;
  };
  auto growth = [&](const std::string& name) {
    auto a = after.find(name);
    auto b = before.find(name);
    if (a == after.end()) return 0.0;
    return static_cast<double>(a->second.active) -
           (b == before.end() ? 0.0 : static_cast<double>(b->second.active));
  };
  const double sock_inodes = growth("sock_inode_cache");
  std::vector<Growth> grew;
  double total = 0;
  for (const auto& [name, a] : after) {
    if (name == "proc_inode_cache") continue;
    double dobjs = growth(name);
    if (name == "dentry" || name == "lsm_inode_cache") dobjs = std::min(dobjs, sock_inodes);
    if (dobjs < static_cast<double>(n) / 10) continue;
    const double bytes = dobjs * static_cast<double>(a.objsize);
    grew.push_back({name + net_aliases(name), bytes, dobjs});
    total += bytes;
  }
  std::sort(grew.begin(), grew.end(),
            [](const Growth& x, const Growth& y) { return x.bytes > y.bytes; });
  const double per_conn = total / static_cast<double>(n);
  std::string caches;
  for (const auto& g : grew) {
    std::fprintf(stderr, "  %-24s +%9.0f objs  %7.1f B/conn\n", g.name.c_str(), g.objs,
                 g.bytes / static_cast<double>(n));
    if (!caches.empty()) caches += ", ";
    caches += g.name + " " + fmt("%.0f", g.bytes / static_cast<double>(n));
  }
  const double slab_per_conn = (static_cast<double>(slab_kb1) - static_cast<double>(slab_kb0)) *
                               1024 / static_cast<double>(n);
  const std::string note =
      std::to_string(n) + " loopback connections (2 sockets, 2 fds each) in " +
      std::to_string(nproc) +
      " process(es); growth of active_objs*objsize in /proc/slabinfo over the caches that "
      "grew by >= 0.1 obj/conn (dentry, lsm_inode_cache at most 1 per socket inode, "
      "proc_inode_cache left out), B/conn: " +
      caches + "; /proc/meminfo Slab grew " + fmt("%.0f", slab_per_conn) + " B/conn; opened in " +
      fmt("%.1f", t1 - t0) + " s";
  emit("kernel.mem_per_conn_bytes", per_conn, "bytes", note);
}

// ---- veth between two namespaces --------------------------------------------------------------

void part_veth(const Options& o) {
  // Two private namespaces, a and b, both held by this process through fds; the veth pair
  // lives in them only and goes away when they do (when this process exits).
  enter_fresh_netns();
  int ns_a = check(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), "open netns a");
  enter_fresh_netns();
  int ns_b = check(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), "open netns b");
  const std::string pid = std::to_string(getpid());
  const std::string va = "bka" + pid, vb = "bkb" + pid;
  // ip(8) is a child and does not inherit ns_b (O_CLOEXEC), so name it by our own /proc entry.
  const std::string ns_b_path = "/proc/" + pid + "/fd/" + std::to_string(ns_b);
  check(setns(ns_a, CLONE_NEWNET), "setns a");
  run_ip({"link", "add", va, "type", "veth", "peer", "name", vb, "netns", ns_b_path});
  run_ip({"addr", "add", "10.201.0.1/24", "dev", va});
  run_ip({"link", "set", va, "up"});
  check(setns(ns_b, CLONE_NEWNET), "setns b");
  run_ip({"addr", "add", "10.201.0.2/24", "dev", vb});
  run_ip({"link", "set", vb, "up"});

  struct Run {
    int mtu;
    std::string key;
  };
  for (const Run& run :
       {Run{1500, "kernel.veth_bulk_gbps"}, Run{65535, "kernel.veth_bulk_mtu65535_gbps"}}) {
    check(setns(ns_b, CLONE_NEWNET), "setns b");
    set_mtu(vb.c_str(), run.mtu);
    std::uint16_t port = 0;
    int listener = listen_on("10.201.0.2", &port);  // in b
    check(setns(ns_a, CLONE_NEWNET), "setns a");
    set_mtu(va.c_str(), run.mtu);
    std::fprintf(stderr, "veth (mtu %d): bulk a -> b for %.0f s\n", run.mtu, o.veth_seconds);
    // The client socket is made in a, the listener was made in b: the bytes cross the veth.
    BulkResult r = bulk_transfer(listener, "10.201.0.2", port, 0, o.veth_seconds, o.chunk);
    close(listener);
    const std::string note = human_bytes(o.chunk) + " writes for " + fmt("%.1f", r.seconds) +
                             " s wall between two private namespaces, veth mtu " +
                             std::to_string(run.mtu) + " (mss " + std::to_string(r.mss) +
                             ", TSO/GRO on), cc " + r.cc + ", cpu " + fmt("%.2f", r.cpu.total()) +
                             " s, " +
                             fmt("%.2f", static_cast<double>(r.bytes) * 8 / 1e9 / r.cpu.total()) +
                             " Gbit/s per CPU-s, retransmits " + std::to_string(r.retransmits);
    emit(run.key, static_cast<double>(r.bytes) * 8 / 1e9 / r.seconds, "Gbit/s", note);
  }
  close(ns_a);
  close(ns_b);
}

// ---- driver -------------------------------------------------------------------------------

// Runs one part in a child process (its own namespaces, rusage and fd table), bounded by a
// watchdog alarm. Returns true on success.
bool run_child(const std::string& name, unsigned limit_s, const std::function<void()>& body) {
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    std::fprintf(stderr, "bench_kernel: fork: %s\n", std::strerror(errno));
    return false;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive bench_kernel
    alarm(limit_s);
    int code = 0;
    try {
      body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_kernel: %s: %s\n", name.c_str(), e.what());
      code = 1;
    }
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(code);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status) == 0;
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
    std::fprintf(stderr, "bench_kernel: %s: gave up after %u s\n", name.c_str(), limit_s);
  else
    std::fprintf(stderr, "bench_kernel: %s: died (status %d)\n", name.c_str(), status);
  return false;
}

std::uint64_t parse_size(const std::string& s) {
  std::size_t pos = 0;
  const std::uint64_t v = std::stoull(s, &pos);
  const std::string suffix = s.substr(pos);
  if (suffix.empty()) return v;
  if (suffix == "K" || suffix == "k") return v << 10;
  if (suffix == "M") return v << 20;
  if (suffix == "G") return v << 30;
  throw std::invalid_argument("bad size: " + s);
}

void usage(FILE* out) {
  std::fprintf(out,
               "usage: bench_kernel [--quick] [options] [bulk|conn|latency|mem|veth ...]\n"
               "The Linux kernel's TCP as the comparator of `make bench`; needs root (private\n"
               "network namespaces). JSON lines on stdout, progress on stderr.\n"
               "  --quick          small sizes (~5 s smoke run)\n"
               "  --bytes N[K|M|G] bulk loopback bytes (default 4G, quick 256M)\n"
               "  --chunk N[K|M]   bulk write/read size (default 128K)\n"
               "  --count N        connections for the rate (default 20000, quick 2000)\n"
               "  --rounds N       latency round trips (default 100000, quick 10000)\n"
               "  --conns N        idle connections for memory (default 100000, quick 10000)\n"
               "  --seconds S      veth bulk seconds per MTU (default 10, quick 2)\n"
               "  --cc NAME        congestion control of every socket (default: the system's)\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& a : args)
    if (a == "--quick") {
      o.quick = true;
      o.bulk_bytes = 256ULL << 20;
      o.conn_count = 2'000;
      o.rounds = 10'000;
      o.mem_conns = 10'000;
      o.veth_seconds = 2;
    }
  try {
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      auto value = [&]() -> const std::string& {
        if (i + 1 >= args.size()) throw std::invalid_argument(a + " needs a value");
        return args[++i];
      };
      if (a == "--quick") continue;
      if (a == "-h" || a == "--help") {
        usage(stderr);
        return 0;
      }
      if (a == "--bytes")
        o.bulk_bytes = parse_size(value());
      else if (a == "--chunk")
        o.chunk = static_cast<std::size_t>(parse_size(value()));
      else if (a == "--count")
        o.conn_count = static_cast<std::size_t>(parse_size(value()));
      else if (a == "--rounds")
        o.rounds = static_cast<std::size_t>(parse_size(value()));
      else if (a == "--conns")
        o.mem_conns = static_cast<std::size_t>(parse_size(value()));
      else if (a == "--seconds")
        o.veth_seconds = std::stod(value());
      else if (a == "--cc")
        g_cc = value();
      else if (a == "bulk" || a == "conn" || a == "latency" || a == "mem" || a == "veth")
        o.parts.push_back(a);
      else
        throw std::invalid_argument("unknown argument: " + a);
    }
    if (o.chunk == 0 || o.bulk_bytes == 0 || o.conn_count == 0 || o.rounds == 0 ||
        o.mem_conns == 0 || !(o.veth_seconds > 0 && o.veth_seconds <= 60))
      throw std::invalid_argument("sizes must be positive, --seconds at most 60");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kernel: %s\n", e.what());
    usage(stderr);
    return 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr,
                 "bench_kernel: needs root: every measurement runs in a private network "
                 "namespace (unshare -n) and reads /proc/slabinfo\n");
    return 1;
  }
  if (o.parts.empty()) o.parts = {"bulk", "conn", "latency", "mem", "veth"};
  // The kernel's default congestion control, for the record (each socket's own is in its note).
  const std::string default_cc = read_first_line("/proc/sys/net/ipv4/tcp_congestion_control");
  std::fprintf(stderr, "bench_kernel: default congestion control %s\n", default_cc.c_str());

  bool ok = true;
  for (const auto& part : o.parts) {
    if (part == "bulk") {
      ok &= run_child("bulk", 120, [&] { part_bulk(o, 0); });
      ok &= run_child("bulk mtu 1500", 120, [&] { part_bulk(o, 1500); });
      // BBR paces (an hrtimer per connection when there is no fq qdisc), which costs the
      // kernel much of its loopback rate: CUBIC, which does not, as a second reference.
      if ((g_cc.empty() ? default_cc : g_cc) != "cubic")
        ok &= run_child("bulk cubic", 120, [&] { part_bulk(o, 0, "cubic"); });
    } else if (part == "conn") {
      ok &= run_child("conn", 60, [&] { part_conn(o); });
    } else if (part == "latency") {
      ok &= run_child("latency", 60, [&] { part_latency(o); });
    } else if (part == "mem") {
      ok &= run_child("mem", 120, [&] { part_mem(o); });
    } else if (part == "veth") {
      ok &= run_child("veth", 150, [&] { part_veth(o); });
    }
  }
  return ok ? 0 : 1;
}
