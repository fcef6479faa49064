// TunDevice: a Linux TUN interface (IFF_TUN | IFF_NO_PI) whose far side is the kernel's own
// IP stack, so synack can speak TCP with real kernel sockets.
//
//   auto tun = dev::TunDevice::open({.name = "synack0",
//                                    .kernel_address = Ipv4Address::from_octets(10, 55, 0, 1),
//                                    .prefix_len = 24});
//   stack.add_address(Ipv4Address::from_octets(10, 55, 0, 2));  // synack's end of the /24
//   loop: poll(tun->fd(), POLLIN, until min(stack.next_deadline(), tun->next_deadline()));
//         tun->poll(now, [&](wire::Bytes p) { stack.receive(p, now); });
//         while (auto p = stack.poll_transmit(now)) tun->send(*p, now);
//
// open() creates (or attaches to) the interface through /dev/net/tun and configures the
// kernel's side over rtnetlink (libmnl; no `ip` child process): address and prefix, MTU, up.
// Both need CAP_NET_ADMIN in the network namespace: root, or `unshare -rn`. The interface
// disappears when the device closes (unless someone made it persistent beforehand).
//
// Two ways to move packets:
//  - raw: read()/read_batch()/write() go straight to the file descriptor;
//  - timed: send()/poll()/next_deadline(), the interface of MemLink::End, which pass through
//    the optional impairments (one ImpairedQueue per direction, driven by the Instants the
//    caller passes, real or virtual). Without impairments they are the raw calls.
// Use one or the other for a direction: raw calls bypass the impairment queues.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "synack/dev/impairments.hpp"
#include "synack/dev/tun_offload.hpp"
#include "synack/expected.hpp"
#include "synack/time.hpp"
#include "synack/wire/bytes.hpp"
#include "synack/wire/ipv4_address.hpp"

namespace synack::dev {

struct TunConfig {
  // The interface name (at most 15 characters; a "%d" in it is numbered by the kernel).
  // Empty: the kernel chooses ("tun0", "tun1", ...).
  std::string name;
  // The interface MTU (68 to 65535); 0 leaves the kernel's (1500 for a new interface).
  size_t mtu = 1500;
  // The kernel side's address on the interface, with the prefix that routes the subnet
  // through it (synack takes another address of that subnet). nullopt: no address.
  std::optional<wire::Ipv4Address> kernel_address;
  uint8_t prefix_len = 24;
  bool up = true;
  // Impairments of the packets synack sends to the kernel, and of those it receives from
  // the kernel (ImpairedQueue streams 0 and 1, as MemLink's A to B and B to A).
  std::optional<Impairments> to_kernel;
  std::optional<Impairments> from_kernel;
  // TUN offloads (IFF_VNET_HDR, TUNSETOFFLOAD TUN_F_CSUM | TUN_F_TSO4; see tun_offload.hpp):
  // the kernel hands over TCP segments of up to 64 KiB, and write_coalesced() merges
  // consecutive segments for the kernel to cut. Off whenever impairments are set (they
  // act on packets as the wire carries them).
  bool offload = true;
};

// Why open() failed: the POSIX error, and a message that names the step and, when the
// cause is a missing privilege, how to run.
struct TunError {
  std::error_code code;
  std::string message;
};

struct TunCounters {
  uint64_t rx_packets = 0;  // read from the kernel
  uint64_t rx_bytes = 0;
  uint64_t tx_packets = 0;  // written to the kernel
  uint64_t tx_bytes = 0;
  uint64_t rx_errors = 0;        // reads that failed with something other than EAGAIN
  uint64_t tx_errors = 0;        // writes that failed (the packet is lost)
  uint64_t rx_gso_packets = 0;   // reads that carried a segment for several (offloads)
  uint64_t tx_gso_packets = 0;   // writes that carried several segments (offloads)
  uint64_t tx_gso_segments = 0;  // the segments in them

  bool operator==(const TunCounters&) const = default;
};

class TunDevice {
 public:
  // Packets one read_batch()/poll() call reads at most, so a flood from the kernel cannot
  // starve the caller's timers and transmissions.
  static constexpr size_t kReadBatch = 64;

  static expected<TunDevice, TunError> open(const TunConfig& config);

  TunDevice(TunDevice&& other) noexcept;
  TunDevice& operator=(TunDevice&& other) noexcept;
  TunDevice(const TunDevice&) = delete;
  TunDevice& operator=(const TunDevice&) = delete;
  ~TunDevice();

  // Non-blocking; readable when the kernel has sent a packet.
  int fd() const { return fd_; }
  const std::string& name() const { return name_; }
  unsigned ifindex() const { return ifindex_; }
  // The interface MTU as the kernel reported it after configuration.
  size_t mtu() const { return mtu_; }

  // --- Raw -----------------------------------------------------------------------------

  // One packet from the kernel into `out` (resized to it). False when there is none
  // (EAGAIN) or the read failed (see error()).
  bool read(std::vector<std::byte>& out);
  // Reads until EAGAIN, at most `max_packets`, handing each to f(wire::Bytes), valid only
  // during the call (last_checksum_trusted() tells of its checksum). Returns the number of
  // packets.
  template <class F>
  size_t read_batch(F&& f, size_t max_packets = kReadBatch);
  // One IP packet to the kernel (after what write_coalesced() holds). False if the write
  // failed (see error()).
  bool write(wire::Bytes packet);
  // One IP packet to the kernel, which may be held to be merged with the next ones into one
  // TSO write (with offloads; without, the same as write()). flush() writes what is held:
  // call it once the stack has nothing more to send. False if a write it made failed.
  bool write_coalesced(wire::Bytes packet);
  void flush();
  // Whether the device runs with offloads (TunConfig::offload without impairments).
  bool offload() const { return offload_; }
  // With offloads: whether the TCP checksum of the packet last read is one the kernel
  // vouches for (vnet::checksum_trusted), so the stack need not verify it.
  bool last_checksum_trusted() const { return last_trusted_; }
  // With offloads: complete the kernel's partial checksums on what is read (the default, so
  // that what read() returns verifies anywhere), or leave them partial for a caller that
  // passes last_checksum_trusted() on to Stack::receive (see tun_offload.hpp).
  void set_complete_checksums(bool on) { complete_checksums_ = on; }

  // --- Timed (with impairments) ---------------------------------------------------------

  // Sends an IP packet towards the kernel at `now`: at once, or into the impairments.
  void send(wire::Bytes packet, Instant now);
  // Writes the impaired packets due by `now`, reads what the kernel sent (at most
  // `max_reads`), and hands every packet due by `now` to deliver(wire::Bytes) or
  // deliver(wire::Bytes, Instant arrival). Returns the number delivered.
  template <class F>
  size_t poll(Instant now, F&& deliver, size_t max_reads = kReadBatch);
  // When impaired packets are next due, in either direction; nullopt when none are held
  // (the fd's readiness is the caller's to wait for).
  std::optional<Instant> next_deadline() const;

  const TunCounters& counters() const { return counters_; }
  // The last read or write error (EAGAIN is not one).
  std::error_code error() const { return error_; }
  const ImpairedQueue* to_kernel() const { return to_kernel_ ? &*to_kernel_ : nullptr; }
  const ImpairedQueue* from_kernel() const { return from_kernel_ ? &*from_kernel_ : nullptr; }

 private:
  TunDevice(int fd, std::string name, unsigned ifindex, size_t mtu, const TunConfig& config);
  // One read into rx_: the IPv4 packet, or nullopt for EAGAIN or an error.
  std::optional<wire::Bytes> read_one();
  bool write_frame(wire::Bytes vnet_header, wire::Bytes packet);
  void flush_to_kernel(Instant now);
  void close_fd();

  int fd_ = -1;
  std::string name_;
  unsigned ifindex_ = 0;
  size_t mtu_ = 0;
  bool offload_ = false;
  bool complete_checksums_ = true;
  bool last_trusted_ = false;
  // Big enough for any IPv4 datagram (and its virtio-net header), whatever the MTU becomes.
  std::vector<std::byte> rx_;
  TsoCoalescer tso_;
  std::optional<ImpairedQueue> to_kernel_;
  std::optional<ImpairedQueue> from_kernel_;
  TunCounters counters_;
  std::error_code error_;
};

template <class F>
size_t TunDevice::read_batch(F&& f, size_t max_packets) {
  size_t n = 0;
  while (n < max_packets) {
    const std::optional<wire::Bytes> packet = read_one();
    if (!packet) break;
    ++n;
    f(*packet);
  }
  return n;
}

template <class F>
size_t TunDevice::poll(Instant now, F&& deliver, size_t max_reads) {
  flush_to_kernel(now);
  size_t delivered = 0;
  auto hand_over = [&](wire::Bytes packet, Instant arrival) {
    ++delivered;
    if constexpr (std::is_invocable_v<F&, wire::Bytes, Instant>) {
      deliver(packet, arrival);
    } else {
      deliver(packet);
    }
  };
  if (!from_kernel_) {
    read_batch([&](wire::Bytes packet) { hand_over(packet, now); }, max_reads);
    return delivered;
  }
  read_batch([&](wire::Bytes packet) { from_kernel_->push(packet, now); }, max_reads);
  from_kernel_->pop_due(now, hand_over);
  return delivered;
}

}  // namespace synack::dev
