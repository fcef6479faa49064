#include "synack/stack/port_allocator.hpp"

#include <cstdlib>

#include "synack/tcp/siphash.hpp"

namespace synack::stack {

static_assert(PortAllocator::kKeySize == tcp::kSipKeySize);

static_assert(PortRange{}.num_ephemeral() == 28232);
static_assert(!PortRange::make(0, 10).has_value());
static_assert(!PortRange::make(20, 10).has_value());
static_assert(PortRange::make(1, 65535)->num_ephemeral() == 65535);

PortAllocator::PortAllocator(const Key& secret_key, PortRange range)
    : key_(secret_key), range_(range) {}

PortAllocator::~PortAllocator() {
  tcp::wipe(key_);
}

PortAllocator PortAllocator::with_random_key(PortRange range) {
  // A guessable key would make every port predictable, which is what RFC 6056 exists to
  // prevent: without an entropy source, stop.
  Key key = tcp::random_sip_key();  // aborts without an entropy source
  PortAllocator allocator(key, range);
  tcp::wipe(key);
  return allocator;
}

uint32_t PortAllocator::offset(wire::Ipv4Address local_addr, const tcp::Endpoint& remote) const {
  // RFC 6056 §3.3.3: F(local_IP, remote_IP, remote_port, secret_key). The local port is
  // what we are choosing, so it is not an input.
  std::array<std::byte, 10> in{};
  wire::store_be32(&in[0], local_addr.value());
  wire::store_be32(&in[4], remote.addr.value());
  wire::store_be16(&in[8], remote.port);
  return tcp::siphash24_low32(key_, in);
}

}  // namespace synack::stack
