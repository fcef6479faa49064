#include "synack/stack/port_allocator.hpp"

#include <sodium.h>

#include <cstdlib>

namespace synack::stack {

static_assert(PortAllocator::kKeySize == crypto_shorthash_siphash24_KEYBYTES);
static_assert(crypto_shorthash_siphash24_BYTES == 8);

static_assert(PortRange{}.num_ephemeral() == 28232);
static_assert(!PortRange::make(0, 10).has_value());
static_assert(!PortRange::make(20, 10).has_value());
static_assert(PortRange::make(1, 65535)->num_ephemeral() == 65535);

namespace {

constexpr size_t kOffsetInputBytes = 10;

void put_be32(uint8_t* out, uint32_t v) {
  out[0] = static_cast<uint8_t>(v >> 24);
  out[1] = static_cast<uint8_t>(v >> 16);
  out[2] = static_cast<uint8_t>(v >> 8);
  out[3] = static_cast<uint8_t>(v);
}

void put_be16(uint8_t* out, uint16_t v) {
  out[0] = static_cast<uint8_t>(v >> 8);
  out[1] = static_cast<uint8_t>(v);
}

}  // namespace

PortAllocator::PortAllocator(const Key& secret_key, PortRange range)
    : key_(secret_key), range_(range) {}

PortAllocator::~PortAllocator() {
  sodium_memzero(key_.data(), key_.size());
}

PortAllocator PortAllocator::with_random_key(PortRange range) {
  // A guessable key would make every port predictable, which is what RFC 6056 exists to
  // prevent: without an entropy source, stop.
  if (sodium_init() < 0) std::abort();
  Key key{};
  randombytes_buf(key.data(), key.size());
  PortAllocator allocator(key, range);
  sodium_memzero(key.data(), key.size());
  return allocator;
}

uint32_t PortAllocator::offset(wire::Ipv4Address local_addr, const tcp::Endpoint& remote) const {
  // RFC 6056 §3.3.3: F(local_IP, remote_IP, remote_port, secret_key). The local port is
  // what we are choosing, so it is not an input.
  std::array<uint8_t, kOffsetInputBytes> in{};
  put_be32(&in[0], local_addr.value());
  put_be32(&in[4], remote.addr.value());
  put_be16(&in[8], remote.port);

  std::array<uint8_t, crypto_shorthash_siphash24_BYTES> out{};
  crypto_shorthash_siphash24(out.data(), in.data(), in.size(), key_.data());
  return uint32_t{out[0]} | (uint32_t{out[1]} << 8) | (uint32_t{out[2]} << 16) |
         (uint32_t{out[3]} << 24);
}

}  // namespace synack::stack
