// The kernel interop suite's view of its network namespace: whether the tests can run here,
// running a body in a namespace of its own, the namespace's TCP sysctls, and the kernel's
// table of TCP sockets (/proc/thread-self/net/tcp), all seen from the calling thread.
//
// A network namespace belongs to a thread: in_own_netns() runs its body in a new thread
// that first calls unshare(CLONE_NEWNET), so the test runner's thread keeps the host's
// namespace, and threads the body starts inherit the new one. Interfaces, routes, sockets
// and sysctls made there vanish with it, and nothing the body sends can leave it.
#pragma once

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "synack/tcp/four_tuple.hpp"
#include "synack/wire/ipv4_address.hpp"

namespace synack::interop {

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && *ci != '\0';
}

// Why these tests cannot run here, or nullopt. Without root they skip; as root in CI they
// always run (so a missing capability or device fails them instead of skipping them).
inline std::optional<std::string> cannot_run() {
  if (geteuid() != 0) {
    if (in_ci()) return std::nullopt;
    return "needs root (CAP_NET_ADMIN and a network namespace of its own): run as root, or "
           "under `unshare -rn`";
  }
  if (in_ci()) return std::nullopt;
  std::string why;
  std::thread probe([&] {
    if (unshare(CLONE_NEWNET) != 0) why = std::string("unshare(CLONE_NEWNET): ") + strerror(errno);
  });
  probe.join();
  if (!why.empty()) return why;
  if (access("/dev/net/tun", R_OK | W_OK) != 0) {
    return std::string("cannot use /dev/net/tun: ") + std::strerror(errno);
  }
  return std::nullopt;
}

// Runs `body` in a new thread inside a network namespace of its own, and waits for it.
// A failure to make the namespace fails the test (cannot_run() said it would work).
template <class Body>
void in_own_netns(Body&& body) {
  std::thread runner([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      ADD_FAILURE() << "unshare(CLONE_NEWNET): " << std::strerror(errno);
      return;
    }
    body();
  });
  runner.join();
}

#define SYNACK_SKIP_UNLESS_NETNS()                                        \
  do {                                                                    \
    if (auto why = ::synack::interop::cannot_run()) GTEST_SKIP() << *why; \
  } while (false)

// --- Sysctls of the calling thread's namespace (net.ipv4.* is per namespace) ----------

// "net/ipv4/tcp_sack" -> its value, without the newline.
inline std::optional<std::string> read_sysctl(const std::string& name) {
  std::ifstream in("/proc/sys/" + name);
  std::string value;
  if (!in || !std::getline(in, value)) return std::nullopt;
  return value;
}

// Writes `value` and reads it back: true when the namespace now has it.
inline bool write_sysctl(const std::string& name, const std::string& value) {
  {
    std::ofstream out("/proc/sys/" + name);
    if (!out) return false;
    out << value << '\n';
    if (!out.flush()) return false;
  }
  return read_sysctl(name) == value;
}

// --- The kernel's TCP sockets in the calling thread's namespace ------------------------

// The st column of /proc/net/tcp (include/net/tcp_states.h).
enum class KernelTcpState : int {
  kEstablished = 1,
  kSynSent = 2,
  kSynRecv = 3,
  kFinWait1 = 4,
  kFinWait2 = 5,
  kTimeWait = 6,
  kClose = 7,
  kCloseWait = 8,
  kLastAck = 9,
  kListen = 10,
  kClosing = 11,
};

struct KernelTcpSocket {
  tcp::Endpoint local;
  tcp::Endpoint remote;
  KernelTcpState state = KernelTcpState::kClose;
};

// "0100370A:2710" (the address in host byte order of a little-endian machine, as the
// kernel prints the __be32) -> 10.55.0.1:10000.
inline std::optional<tcp::Endpoint> parse_proc_endpoint(const std::string& text) {
  const auto colon = text.find(':');
  if (colon != 8 || text.size() != 13) return std::nullopt;
  const uint32_t raw = static_cast<uint32_t>(std::stoul(text.substr(0, 8), nullptr, 16));
  const uint16_t port = static_cast<uint16_t>(std::stoul(text.substr(9), nullptr, 16));
  // The kernel prints the network-order word as a host-order number.
  const uint32_t addr =
      ((raw & 0xffu) << 24) | ((raw & 0xff00u) << 8) | ((raw >> 8) & 0xff00u) | (raw >> 24);
  return tcp::Endpoint{wire::Ipv4Address(addr), port};
}

// Every IPv4 TCP socket the kernel has in this namespace, TIME_WAIT ones included.
inline std::vector<KernelTcpSocket> kernel_tcp_sockets() {
  std::vector<KernelTcpSocket> sockets;
  std::ifstream in("/proc/thread-self/net/tcp");
  std::string line;
  std::getline(in, line);  // the header
  for (int i = 0; i < 100'000 && std::getline(in, line); ++i) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    if (!(fields >> slot >> local >> remote >> state)) continue;
    auto l = parse_proc_endpoint(local);
    auto r = parse_proc_endpoint(remote);
    if (!l || !r) continue;
    sockets.push_back(
        KernelTcpSocket{*l, *r, static_cast<KernelTcpState>(std::stoi(state, nullptr, 16))});
  }
  return sockets;
}

// The kernel's state of the connection local <-> remote, if it has one.
inline std::optional<KernelTcpState> kernel_tcp_state(const tcp::Endpoint& local,
                                                      const tcp::Endpoint& remote) {
  for (const auto& s : kernel_tcp_sockets()) {
    if (s.local == local && s.remote == remote) return s.state;
  }
  return std::nullopt;
}

// --- The kernel's extended TCP counters (/proc/thread-self/net/netstat, "TcpExt") -------

// Counter name (as nstat prints it without the "TcpExt" prefix) -> value; empty if unreadable.
inline std::map<std::string, long> kernel_tcp_ext() {
  std::map<std::string, long> counters;
  std::ifstream in("/proc/thread-self/net/netstat");
  std::string names, values;
  for (int i = 0; i < 100 && std::getline(in, names) && std::getline(in, values); ++i) {
    if (names.rfind("TcpExt:", 0) != 0) continue;
    std::istringstream n(names.substr(7)), v(values.substr(7));
    std::string name;
    long value = 0;
    for (int j = 0; j < 1000 && n >> name && v >> value; ++j)
      counters[name] = value;
  }
  return counters;
}

// --- The kernel's interface counters (/proc/thread-self/net/dev) -------------------------

struct InterfaceCounters {
  uint64_t rx_packets = 0;
  uint64_t rx_dropped = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_dropped = 0;  // for a TUN interface: packets its reader did not take in time
};

inline std::optional<InterfaceCounters> interface_counters(const std::string& name) {
  std::ifstream in("/proc/thread-self/net/dev");
  std::string line;
  for (int i = 0; i < 10'000 && std::getline(in, line); ++i) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto first = line.find_first_not_of(' ');
    if (line.substr(first, colon - first) != name) continue;
    std::istringstream fields(line.substr(colon + 1));
    // rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets errs drop
    std::array<uint64_t, 12> v{};
    for (auto& x : v) {
      if (!(fields >> x)) return std::nullopt;
    }
    return InterfaceCounters{
        .rx_packets = v[1], .rx_dropped = v[3], .tx_packets = v[9], .tx_dropped = v[11]};
  }
  return std::nullopt;
}

}  // namespace synack::interop
