// TUN offloads: the virtio-net header that a TUN device opened with IFF_VNET_HDR puts before
// every packet, and the coalescing of synack's TCP segments into one TSO "super-segment".
//
// With offloads (TUNSETOFFLOAD: TUN_F_CSUM | TUN_F_TSO4) the kernel hands synack TCP
// segments of up to 64 KiB (what its GSO would have cut into MSS-sized packets) with a
// partial checksum, and accepts such segments from synack, cutting them itself. One read()
// or write() then moves up to 44 full-sized segments instead of one.
//
//   header (10 bytes, host byte order): flags, gso_type, hdr_len, gso_size, csum_start,
//   csum_offset — see <linux/virtio_net.h>.
//
// Receive: vnet::accept_packet() checks the header against the packet. A partial checksum
// (VIRTIO_NET_HDR_F_NEEDS_CSUM: the kernel's own segment, never on a wire) is completed in
// place when asked (for a capture), or left for the stack to trust: Linux itself does not
// verify what it sends itself over loopback, and checksumming 64 KiB segments twice (here
// and in the stack) was a fifth of a receiver's CPU.
//
// Send: TsoCoalescer::add() takes the stack's packets one by one. Consecutive full-sized
// segments of one connection whose headers differ only in the sequence number (and IP id
// and checksums) are merged, as a NIC's TSO would take them: one IPv4 header, one TCP header
// with the first segment's sequence number and the last one's PSH, and the payloads end to
// end; the header says GSO_TCPV4 with gso_size = the first segment's payload, and the
// checksum is left partial (the pseudo-header sum) for the kernel to complete per segment.
// Anything else — SYNs, pure ACKs, a segment that does not continue the pending one — goes
// out alone, after the pending super-segment, so the order on the wire is the stack's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "synack/wire/bytes.hpp"

namespace synack::dev {

namespace vnet {

// struct virtio_net_hdr (without num_buffers), in the host's byte order (TUN's default on
// a little-endian host; TUNSETVNETLE/BE are not used).
struct Header {
  uint8_t flags = 0;
  uint8_t gso_type = 0;
  uint16_t hdr_len = 0;
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
};
inline constexpr size_t kHeaderSize = 10;
inline constexpr uint8_t kNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr uint8_t kDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID
inline constexpr uint8_t kGsoNone = 0;    // VIRTIO_NET_HDR_GSO_NONE
inline constexpr uint8_t kGsoTcpV4 = 1;   // VIRTIO_NET_HDR_GSO_TCPV4
inline constexpr uint8_t kGsoEcn = 0x80;  // VIRTIO_NET_HDR_GSO_ECN (CWR on the first only)

Header load(const std::byte* p);
void store(std::byte* p, const Header& h);

// Why a packet read from the device was refused.
enum class RxError : uint8_t {
  kShort,        // shorter than the header
  kBadChecksum,  // NEEDS_CSUM with csum_start/csum_offset outside the packet
  kUnknownGso,   // a GSO type other than none and TCPv4
};
std::string_view to_string(RxError e);

// Checks the header of a frame read from the device (`packet` is the IPv4 packet after it).
// A partial checksum is completed in place if `complete`, or if the packet is not TCP.
std::optional<RxError> accept_packet(const Header& h, wire::MutableBytes packet,
                                     bool complete = true);
// Whether the kernel vouches for the packet's TCP checksum (NEEDS_CSUM: its own segment, or
// DATA_VALID: it verified it), so the stack may skip verifying it.
bool checksum_trusted(const Header& h, wire::Bytes packet);

}  // namespace vnet

struct TsoCounters {
  uint64_t super_segments = 0;  // frames that carried more than one segment
  uint64_t segments = 0;        // segments that went out in them

  bool operator==(const TsoCounters&) const = default;
};

class TsoCoalescer {
 public:
  // At most this many segments in one super-segment (and 65535 bytes of IPv4 datagram).
  static constexpr size_t kMaxSegments = 64;

  TsoCoalescer();

  // Takes one IPv4 packet of the stack. emit(wire::Bytes header, wire::Bytes packet) is
  // called for every frame that is complete (the pending super-segment, if `packet` does
  // not continue it, and `packet` itself if it cannot start one); `packet` is copied if it
  // is kept.
  template <class Emit>
  void add(wire::Bytes packet, Emit&& emit) {
    if (pending() && append(packet)) return;
    flush(emit);
    if (!start(packet)) emit(wire::Bytes(kPlainHeader, vnet::kHeaderSize), packet);
  }

  // Emits the pending super-segment, if any.
  template <class Emit>
  void flush(Emit&& emit) {
    if (!pending()) return;
    finish();
    emit(wire::Bytes(buf_.data(), vnet::kHeaderSize),
         wire::Bytes(buf_.data() + vnet::kHeaderSize, size_ - vnet::kHeaderSize));
    size_ = 0;
  }

  bool pending() const { return size_ != 0; }
  const TsoCounters& counters() const { return counters_; }

 private:
  // A header for a packet that goes out as it is (its checksums are complete).
  static const std::byte kPlainHeader[vnet::kHeaderSize];

  bool start(wire::Bytes packet);
  bool append(wire::Bytes packet);
  void finish();

  std::vector<std::byte> buf_;  // header, IPv4 header, TCP header, payloads
  size_t size_ = 0;             // bytes of buf_ in use; 0: nothing pending
  size_t header_len_ = 0;       // IPv4 + TCP header
  uint16_t gso_size_ = 0;       // the first segment's payload
  uint32_t next_seq_ = 0;       // the sequence number the next segment must have
  size_t segments_ = 0;
  bool closed_ = false;  // the last segment was short or had PSH: nothing follows
  TsoCounters counters_;
};

}  // namespace synack::dev
