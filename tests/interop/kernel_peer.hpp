// The two peers of the kernel interop suite and what passes between them.
//
//  - Rig: synack's side, a BlockingHost over a TUN interface (TunLink, or ImpairedTunLink
//    when the link loses packets). It must be made in the namespaced thread: the TUN
//    interface and its address belong to the namespace of the thread that opens it.
//  - Kernel sockets: plain blocking POSIX sockets with SO_RCVTIMEO/SO_SNDTIMEO on every one,
//    so no call waits longer than kCallTimeout.
//  - Conn: one connection between them, made with either side as the client.
//  - Streams: deterministic pseudo-random bytes (SplitMix64 by position), hashed with
//    SHA-256 (libsodium) by the sender as it sends and by the receiver as it receives.
//
// Every loop is bounded in turns and in time; nothing sleeps: the calls block with timeouts.
// Set SYNACK_KERNEL_PCAP=DIR to record each test's packets (synack's view) in DIR/NAME.pcap,
// which `synack trace DIR/NAME.pcap` prints as tcpdump would.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "synack/api/blocking.hpp"
#include "synack/api/device.hpp"
#include "synack/api/event_loop.hpp"
#include "synack/dev/impairments.hpp"
#include "synack/dev/pcap_tap.hpp"
#include "synack/dev/tun_device.hpp"
#include "synack/expected.hpp"
#include "synack/time.hpp"
#include "synack/wire/ipv4_address.hpp"

namespace synack::interop {

constexpr wire::Ipv4Address kKernelAddress = wire::Ipv4Address::from_octets(10, 77, 0, 1);
constexpr wire::Ipv4Address kSynackAddress = wire::Ipv4Address::from_octets(10, 77, 0, 2);
constexpr const char* kTunName = "synack-k0";
constexpr uint16_t kPort = 5001;
constexpr uint16_t kClosedPort = 5002;

#if defined(__SANITIZE_ADDRESS__)
constexpr int64_t kSlowdown = 4;  // AddressSanitizer builds are a few times slower
#else
constexpr int64_t kSlowdown = 1;
#endif

// The longest any single blocking call (kernel or synack) may wait.
constexpr Duration kCallTimeout = Duration::seconds(10);

inline Instant clock_now() {
  return api::EventLoop::clock_now();
}

inline std::error_code errno_code(int e = errno) {
  return std::error_code(e, std::generic_category());
}

// --- Kernel sockets ---------------------------------------------------------------------

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  // close(2)'s result (0, or -1 with errno), or 0 when there was nothing to close.
  int reset() {
    if (fd_ < 0) return 0;
    return ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
};

inline sockaddr_in to_sockaddr(const tcp::Endpoint& e) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(e.port);
  sin.sin_addr.s_addr = htonl(e.addr.value());
  return sin;
}

inline tcp::Endpoint from_sockaddr(const sockaddr_in& sin) {
  return tcp::Endpoint{wire::Ipv4Address(ntohl(sin.sin_addr.s_addr)), ntohs(sin.sin_port)};
}

inline bool set_timeouts(int fd, Duration timeout) {
  const timeval tv{.tv_sec = static_cast<time_t>(timeout.as_micros() / 1'000'000),
                   .tv_usec = static_cast<suseconds_t>(timeout.as_micros() % 1'000'000)};
  return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 &&
         setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0;
}

inline expected<Fd, std::error_code> kernel_socket() {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || !set_timeouts(fd.get(), kCallTimeout)) return unexpected(errno_code());
  return fd;
}

// A listening kernel socket; accept() on it times out after kCallTimeout (SO_RCVTIMEO).
inline expected<Fd, std::error_code> kernel_listen(const tcp::Endpoint& local) {
  auto fd = kernel_socket();
  if (!fd) return fd;
  const int one = 1;
  setsockopt(fd->get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const sockaddr_in sin = to_sockaddr(local);
  if (bind(fd->get(), reinterpret_cast<const sockaddr*>(&sin), sizeof sin) != 0 ||
      listen(fd->get(), 16) != 0) {
    return unexpected(errno_code());
  }
  return fd;
}

// A blocking connect, bounded by SO_SNDTIMEO: the connected socket, or connect's errno.
inline expected<Fd, std::error_code> kernel_connect(const tcp::Endpoint& remote) {
  auto fd = kernel_socket();
  if (!fd) return fd;
  const sockaddr_in sin = to_sockaddr(remote);
  if (connect(fd->get(), reinterpret_cast<const sockaddr*>(&sin), sizeof sin) != 0) {
    return unexpected(errno_code());
  }
  return fd;
}

inline expected<Fd, std::error_code> kernel_accept(int listener) {
  Fd fd(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd || !set_timeouts(fd.get(), kCallTimeout)) return unexpected(errno_code());
  return fd;
}

inline std::optional<tcp::Endpoint> kernel_local(int fd) {
  sockaddr_in sin{};
  socklen_t len = sizeof sin;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) != 0) return std::nullopt;
  return from_sockaddr(sin);
}

inline std::optional<tcp_info> kernel_tcp_info(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
  return info;
}

// close() with SO_LINGER {1, 0}: the kernel aborts the connection with a RST.
inline bool kernel_abort(Fd& fd) {
  const linger lg{.l_onoff = 1, .l_linger = 0};
  if (setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0) return false;
  return fd.reset() == 0;
}

// close() with SO_LINGER {1, seconds}: returns once the peer acknowledged our FIN (the
// socket left FIN_WAIT1, CLOSING and LAST_ACK), or when the time is up.
inline bool kernel_linger_close(Fd& fd, int seconds) {
  const linger lg{.l_onoff = 1, .l_linger = seconds};
  if (setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0) return false;
  return fd.reset() == 0;
}

// --- Deterministic data and its SHA-256 ----------------------------------------------------

// Byte i of stream `seed`: byte i % 8 (little-endian) of SplitMix64 word i / 8, a word that
// depends only on (seed, i / 8), so any slice can be made on its own.
inline void fill_pattern(uint64_t seed, uint64_t offset, std::span<std::byte> out) {
  const uint64_t first_word = offset / 8;
  size_t skip = static_cast<size_t>(offset % 8);
  size_t pos = 0;
  for (uint64_t w = first_word; pos < out.size(); ++w) {
    const uint64_t word = dev::SplitMix64(seed + 0x9e3779b97f4a7c15ULL * w).next();
    std::array<std::byte, 8> bytes{};
    for (size_t b = 0; b < 8; ++b)
      bytes[b] = static_cast<std::byte>(word >> (8 * b));
    const size_t n = std::min(out.size() - pos, size_t{8} - skip);
    std::memcpy(out.data() + pos, bytes.data() + skip, n);
    pos += n;
    skip = 0;
  }
}

class Sha256 {
 public:
  Sha256() { crypto_hash_sha256_init(&state_); }
  void update(std::span<const std::byte> data) {
    crypto_hash_sha256_update(&state_, reinterpret_cast<const unsigned char*>(data.data()),
                              data.size());
  }
  std::string hex() {
    std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
    crypto_hash_sha256_final(&state_, digest.data());
    std::array<char, 2 * crypto_hash_sha256_BYTES + 1> text{};
    sodium_bin2hex(text.data(), text.size(), digest.data(), digest.size());
    return std::string(text.data());
  }

 private:
  crypto_hash_sha256_state state_{};
};

// One end of one direction of a transfer.
struct StreamResult {
  uint64_t bytes = 0;
  std::string sha256;
  std::error_code error;  // the call that failed, if one did
  bool eof = false;       // (receiver) the stream ended with end of stream
  bool timed_out = false;
  Duration elapsed;
};

using SendFn = std::function<expected<size_t, std::error_code>(wire::Bytes)>;
using RecvFn = std::function<expected<size_t, std::error_code>(wire::MutableBytes)>;

inline SendFn kernel_sender(int fd) {
  return [fd](wire::Bytes data) -> expected<size_t, std::error_code> {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) return unexpected(errno_code());
    return static_cast<size_t>(n);
  };
}

inline RecvFn kernel_receiver(int fd) {
  return [fd](wire::MutableBytes out) -> expected<size_t, std::error_code> {
    const ssize_t n = ::recv(fd, out.data(), out.size(), 0);
    if (n < 0) return unexpected(errno_code());
    return static_cast<size_t>(n);
  };
}

inline SendFn synack_sender(api::BlockingSocket& s) {
  return [&s](wire::Bytes data) { return s.send(data, kCallTimeout); };
}

inline RecvFn synack_receiver(api::BlockingSocket& s) {
  return [&s](wire::MutableBytes out) { return s.recv(out, kCallTimeout); };
}

// Sends `size` bytes of stream `seed`, hashing them; stops at an error or `deadline`.
inline StreamResult send_pattern(const SendFn& send, uint64_t seed, uint64_t size,
                                 Instant deadline) {
  constexpr size_t kChunk = 64 * 1024;
  StreamResult r;
  Sha256 hash;
  const Instant start = clock_now();
  std::vector<std::byte> chunk(kChunk);
  // Every call sends at least one byte or ends the loop.
  for (uint64_t call = 0; call <= size && r.bytes < size; ++call) {
    if (clock_now() > deadline) {
      r.timed_out = true;
      break;
    }
    const uint64_t chunk_start = r.bytes - r.bytes % kChunk;
    const size_t len = static_cast<size_t>(std::min<uint64_t>(kChunk, size - chunk_start));
    if (r.bytes == chunk_start) {
      fill_pattern(seed, chunk_start, std::span(chunk).first(len));
      hash.update(std::span(chunk).first(len));
    }
    const size_t at = static_cast<size_t>(r.bytes - chunk_start);
    auto n = send(std::span(chunk).subspan(at, len - at));
    if (!n) {
      r.error = n.error();
      break;
    }
    if (*n == 0) {
      r.error = std::make_error_code(std::errc::timed_out);
      break;
    }
    r.bytes += *n;
  }
  r.sha256 = hash.hex();
  r.elapsed = clock_now() - start;
  return r;
}

// Receives until end of stream (or an error, `deadline`, or more than `limit` bytes),
// hashing what comes.
inline StreamResult recv_all(const RecvFn& recv, uint64_t limit, Instant deadline) {
  StreamResult r;
  Sha256 hash;
  const Instant start = clock_now();
  std::vector<std::byte> buf(64 * 1024);
  for (uint64_t call = 0; call <= limit + 1; ++call) {
    if (clock_now() > deadline) {
      r.timed_out = true;
      break;
    }
    auto n = recv(buf);
    if (!n) {
      r.error = n.error();
      break;
    }
    if (*n == 0) {
      r.eof = true;
      break;
    }
    hash.update(std::span(buf).first(*n));
    r.bytes += *n;
    if (r.bytes > limit) break;
  }
  r.sha256 = hash.hex();
  r.elapsed = clock_now() - start;
  return r;
}

// Receives exactly `n` bytes (or fewer at an error, end of stream or the deadline).
inline std::string recv_exactly(const RecvFn& recv, size_t n, Instant deadline,
                                std::error_code* error = nullptr) {
  std::string got;
  std::vector<std::byte> buf(n);
  for (size_t call = 0; call < n && got.size() < n && clock_now() <= deadline; ++call) {
    auto r = recv(std::span(buf).first(n - got.size()));
    if (!r || *r == 0) {
      if (error != nullptr && !r) *error = r.error();
      break;
    }
    got.append(reinterpret_cast<const char*>(buf.data()), *r);
  }
  return got;
}

inline bool send_all(const SendFn& send, std::string_view text) {
  const auto bytes = std::as_bytes(std::span(text.data(), text.size()));
  size_t sent = 0;
  for (size_t call = 0; call <= bytes.size() && sent < bytes.size(); ++call) {
    auto n = send(bytes.subspan(sent));
    if (!n || *n == 0) return false;
    sent += *n;
  }
  return sent == bytes.size();
}

// --- synack's side ------------------------------------------------------------------------

struct RigOptions {
  size_t mtu = 1500;
  // Impairments of what synack sends to the kernel, and of what it receives from it; with
  // either, the link is an ImpairedTunLink.
  std::optional<dev::Impairments> to_kernel;
  std::optional<dev::Impairments> from_kernel;
  uint64_t secret_seed = 17;
};

// The current test's name as a file name: "Suite.Name/Param" -> "Suite.Name_Param".
inline std::string test_file_name() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "test";
  std::replace(name.begin(), name.end(), '/', '_');
  return name;
}

class Rig {
 public:
  explicit Rig(const RigOptions& options) {
    if (sodium_init() < 0) {
      error_ = "sodium_init failed";
      return;
    }
    dev::TunConfig tun_config{.name = kTunName,
                              .mtu = options.mtu,
                              .kernel_address = kKernelAddress,
                              .to_kernel = options.to_kernel,
                              .from_kernel = options.from_kernel};
    auto tun = dev::TunDevice::open(tun_config);
    if (!tun) {
      error_ = "TunDevice::open: " + tun.error().message;
      return;
    }
    std::vector<std::unique_ptr<api::Device>> devices;
    if (options.to_kernel || options.from_kernel) {
      auto link = api::ImpairedTunLink::make(std::move(*tun));
      if (!link) {
        error_ = "ImpairedTunLink::make: " + link.error().message();
        return;
      }
      devices.push_back(std::move(*link));
    } else {
      devices.push_back(std::make_unique<api::TunLink>(std::move(*tun)));
    }
    api::HostConfig config;
    config.addresses = {kSynackAddress};
    config.stack.secret_seed = options.secret_seed;
    config.stack.tcp.mss = static_cast<uint16_t>(options.mtu - 40);
    if (const char* dir = std::getenv("SYNACK_KERNEL_PCAP"); dir != nullptr && *dir != '\0') {
      auto tap = dev::PcapTap::open(std::string(dir) + "/" + test_file_name() + ".pcap");
      if (tap) tap_ = std::make_unique<dev::PcapTap>(std::move(*tap));
    }
    host_ = std::make_unique<api::BlockingHost>(config, std::move(devices));
    if (tap_) host_->with_host([&](api::Host& h) { h.loop().set_tap(tap_.get()); });
  }
  ~Rig() {
    if (host_) host_->stop();
    host_.reset();
  }
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  bool ok() const { return host_ != nullptr; }
  const std::string& error() const { return error_; }
  api::BlockingHost& host() { return *host_; }

  stack::Counters counters() {
    return host_->with_host([](api::Host& h) { return h.stack().counters(); });
  }
  std::string table() {
    return host_->with_host([](api::Host& h) { return h.stack().format_table(); });
  }
  size_t connection_count() {
    return host_->with_host([](api::Host& h) { return h.stack().connection_count(); });
  }
  // synack's state of the connection local <-> remote (a row of the stack's table: it
  // outlives the socket handle, e.g. in TIME_WAIT after close()).
  std::optional<tcp::State> state_of(const tcp::Endpoint& local, const tcp::Endpoint& remote) {
    return host_->with_host([&](api::Host& h) -> std::optional<tcp::State> {
      for (const auto& row : h.stack().table()) {
        if (row.status.tuple.local == local && row.status.tuple.remote == remote) {
          return row.status.state;
        }
      }
      return std::nullopt;
    });
  }

 private:
  std::unique_ptr<dev::PcapTap> tap_;  // declared first: outlives the host that writes it
  std::unique_ptr<api::BlockingHost> host_;
  std::string error_;
};

// Which side opens the connection.
enum class Role : uint8_t {
  kKernelClient,  // the kernel connects to a synack listener
  kSynackClient,  // synack connects to a kernel listener
};

inline const char* to_string(Role r) {
  return r == Role::kKernelClient ? "KernelClient" : "SynackClient";
}

inline void PrintTo(Role r, std::ostream* os) {
  *os << to_string(r);
}

// One connection between a kernel socket and a synack socket, and its two endpoints.
struct Conn {
  Fd kernel;
  std::optional<api::BlockingSocket> synack;
  tcp::Endpoint kernel_end;
  tcp::Endpoint synack_end;

  std::optional<tcp::State> synack_state() {
    return synack->with_socket([](api::Socket& s) { return s.state(); });
  }
  std::optional<tcp::ConnectionStatus> synack_status() {
    return synack->with_socket([](api::Socket& s) { return s.status(); });
  }
};

inline expected<Conn, std::string> establish(Rig& rig, Role role,
                                             const api::SocketOptions& options = {}) {
  Conn c;
  if (role == Role::kKernelClient) {
    auto listener = rig.host().listen({kSynackAddress, kPort}, 16, options);
    if (!listener) return unexpected("synack listen: " + listener.error().message());
    auto fd = kernel_connect({kSynackAddress, kPort});
    if (!fd) return unexpected("kernel connect: " + fd.error().message());
    auto s = listener->accept(kCallTimeout);
    if (!s) return unexpected("synack accept: " + s.error().message());
    c.kernel = std::move(*fd);
    c.synack.emplace(std::move(*s));
  } else {
    auto listener = kernel_listen({kKernelAddress, kPort});
    if (!listener) return unexpected("kernel listen: " + listener.error().message());
    auto s = rig.host().connect({kKernelAddress, kPort}, kCallTimeout, options);
    if (!s) return unexpected("synack connect: " + s.error().message());
    auto fd = kernel_accept(listener->get());
    if (!fd) return unexpected("kernel accept: " + fd.error().message());
    c.kernel = std::move(*fd);
    c.synack.emplace(std::move(*s));
  }
  auto local = kernel_local(c.kernel.get());
  auto synack_local = c.synack->with_socket([](api::Socket& s) { return s.local_endpoint(); });
  if (!local || !synack_local) return unexpected(std::string("no local endpoints"));
  c.kernel_end = *local;
  c.synack_end = *synack_local;
  return c;
}

}  // namespace synack::interop
