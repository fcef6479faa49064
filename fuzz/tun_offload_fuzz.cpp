// TUN offloads on untrusted frames: a fuzzer-chosen virtio-net header and packet through
// vnet::accept_packet (as the device reads them), and fuzzer-chosen packets through the TSO
// coalescer (as the stack would hand them over). Whatever the coalescer emits must hold at
// most 65535 bytes, and a merged frame must carry a GSO header whose gso_size divides its
// payload into at most kMaxSegments segments.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fuzz_util.hpp"
#include "synack/dev/tun_offload.hpp"

using namespace synack;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < dev::vnet::kHeaderSize) return 0;
  std::vector<std::byte> frame(size);
  std::memcpy(frame.data(), data, size);

  // Receive: the header and the packet behind it.
  const dev::vnet::Header h = dev::vnet::load(frame.data());
  std::vector<std::byte> packet(frame.begin() + dev::vnet::kHeaderSize, frame.end());
  (void)dev::vnet::accept_packet(h, packet);

  // Send: the input cut into packets at fuzzer-chosen lengths (the first byte of each piece
  // gives the length of the next one, times 8), each also sent twice with its sequence
  // number advanced so that runs form.
  dev::TsoCoalescer tso;
  auto check = [](wire::Bytes header, wire::Bytes out) {
    FUZZ_CHECK(header.size() == dev::vnet::kHeaderSize);
    FUZZ_CHECK(out.size() <= 65535);
    const dev::vnet::Header oh = dev::vnet::load(header.data());
    if (oh.gso_type != dev::vnet::kGsoNone) {
      FUZZ_CHECK(oh.gso_size > 0 && oh.hdr_len < out.size());
      FUZZ_CHECK((out.size() - oh.hdr_len + oh.gso_size - 1) / oh.gso_size <=
                 dev::TsoCoalescer::kMaxSegments);
    }
  };
  size_t at = 0;
  while (at < packet.size()) {
    const size_t len =
        std::min<size_t>(packet.size() - at, size_t{std::to_integer<uint8_t>(packet[at])} * 8 + 1);
    std::vector<std::byte> p(packet.begin() + static_cast<ptrdiff_t>(at),
                             packet.begin() + static_cast<ptrdiff_t>(at + len));
    tso.add(p, check);
    if (p.size() >= 40) {
      const uint32_t seq = wire::load_be32(p.data() + 24);
      const size_t payload = p.size() - 40;
      wire::store_be32(p.data() + 24, seq + static_cast<uint32_t>(payload));
      tso.add(p, check);
    }
    at += len;
  }
  tso.flush(check);
  return 0;
}
