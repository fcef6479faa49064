// Ephemeral port selection, RFC 6056 §3.3.3 (Algorithm 3, "Simple Hash-Based Port
// Selection Algorithm"):
//
//   offset = F(local_IP, remote_IP, remote_port, secret_key)
//   for each of num_ephemeral tries:
//     port = min_ephemeral + (next_ephemeral + offset) % num_ephemeral
//     next_ephemeral++
//     if port is suitable: return port
//   fail
//
// Each destination walks the range from its own secret starting point, so an off-path
// attacker who learns the port of its own connection learns nothing about the ports used
// towards anyone else (RFC 6056 §3.3.3, §4); the shared next_ephemeral moves every
// destination's starting point on after each try, so successive connections to one
// destination use different ports and TIME-WAIT collisions are rare (§3.3.3).
// F is SipHash-2-4 with a 128-bit secret, as IsnGenerator's F (the RFC suggests MD5).
//
// Whether a port is suitable is the caller's question: the stack asks its demux table
// whether the full 4-tuple is taken. nullopt means every port was tried (EADDRNOTAVAIL).
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

#include "synack/tcp/four_tuple.hpp"
#include "synack/wire/ipv4_address.hpp"

namespace synack::stack {

// min_ephemeral .. max_ephemeral inclusive, never empty and never containing port 0.
class PortRange {
 public:
  // Linux's default net.ipv4.ip_local_port_range.
  static constexpr uint16_t kLinuxMin = 32768;
  static constexpr uint16_t kLinuxMax = 60999;

  constexpr PortRange() = default;
  // nullopt when min is 0 or min > max (Linux refuses such a sysctl with EINVAL).
  static constexpr std::optional<PortRange> make(uint16_t min_ephemeral, uint16_t max_ephemeral) {
    if (min_ephemeral == 0 || min_ephemeral > max_ephemeral) return std::nullopt;
    return PortRange(min_ephemeral, max_ephemeral);
  }

  constexpr uint16_t min_ephemeral() const { return min_; }
  constexpr uint16_t max_ephemeral() const { return max_; }
  constexpr uint32_t num_ephemeral() const { return uint32_t{max_} - min_ + 1; }
  constexpr bool contains(uint16_t port) const { return min_ <= port && port <= max_; }

  constexpr bool operator==(const PortRange&) const = default;

 private:
  constexpr PortRange(uint16_t min_ephemeral, uint16_t max_ephemeral)
      : min_(min_ephemeral), max_(max_ephemeral) {}
  uint16_t min_ = kLinuxMin;
  uint16_t max_ = kLinuxMax;
};

class PortAllocator {
 public:
  // SipHash-2-4's key size; port_allocator.cpp checks it against libsodium.
  static constexpr size_t kKeySize = 16;
  using Key = std::array<uint8_t, kKeySize>;

  // A caller-supplied secret (tests, reproducible simulations). next_ephemeral starts at 0,
  // as in the RFC's initialisation.
  explicit PortAllocator(const Key& secret_key, PortRange range = PortRange{});
  // A fresh 128-bit key from libsodium's CSPRNG.
  static PortAllocator with_random_key(PortRange range = PortRange{});

  PortAllocator(const PortAllocator&) = default;
  PortAllocator& operator=(const PortAllocator&) = default;
  // The key is a secret: wiped when this copy of it dies.
  ~PortAllocator();

  // A local port for a connection from `local_addr` to `remote`: the first port of this
  // destination's walk for which `in_use(port)` is false, or nullopt when all
  // num_ephemeral ports are in use. Every try advances next_ephemeral, as the RFC's loop
  // does. `in_use` is called at most num_ephemeral times, once per port.
  template <std::predicate<uint16_t> InUse>
  std::optional<uint16_t> allocate(wire::Ipv4Address local_addr, const tcp::Endpoint& remote,
                                   InUse&& in_use) {
    const uint32_t num = range_.num_ephemeral();
    const uint32_t offset = this->offset(local_addr, remote) % num;
    for (uint32_t tries = 0; tries < num; ++tries) {
      const auto port =
          static_cast<uint16_t>(range_.min_ephemeral() + (next_ephemeral_ + offset) % num);
      // Kept reduced modulo num_ephemeral: the same ports as the RFC's unbounded counter,
      // with no wrap at 2^32 to break the walk.
      next_ephemeral_ = (next_ephemeral_ + 1) % num;
      if (!std::invoke(in_use, port)) return port;
    }
    return std::nullopt;
  }

  // F: the low 32 bits of SipHash-2-4(key, local address, remote address, remote port),
  // 10 bytes big-endian, SipHash's output read little-endian.
  uint32_t offset(wire::Ipv4Address local_addr, const tcp::Endpoint& remote) const;

  PortRange range() const { return range_; }
  // next_ephemeral modulo num_ephemeral.
  uint32_t next_ephemeral() const { return next_ephemeral_; }

 private:
  Key key_;
  PortRange range_;
  uint32_t next_ephemeral_ = 0;
};

}  // namespace synack::stack
