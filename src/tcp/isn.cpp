#include "synack/tcp/isn.hpp"

#include "synack/tcp/siphash.hpp"

namespace synack::tcp {

static_assert(IsnGenerator::kKeySize == kSipKeySize);

IsnGenerator::IsnGenerator(const Key& secret_key) : key_(secret_key) {}

IsnGenerator::~IsnGenerator() {
  wipe(key_);
}

IsnGenerator IsnGenerator::with_random_key() {
  // An ISN without a secret key would be the predictable kind RFC 6528 exists to forbid, so
  // random_sip_key() aborts rather than return a weak key.
  Key key = random_sip_key();
  IsnGenerator generator(key);
  wipe(key);
  return generator;
}

uint32_t IsnGenerator::keyed_hash(const FourTuple& tuple) const {
  std::array<std::byte, 12> in{};
  wire::store_be32(&in[0], tuple.local.addr.value());
  wire::store_be16(&in[4], tuple.local.port);
  wire::store_be32(&in[6], tuple.remote.addr.value());
  wire::store_be16(&in[10], tuple.remote.port);
  return siphash24_low32(key_, in);
}

wire::SeqNum IsnGenerator::isn(const FourTuple& tuple, Instant now) const {
  // RFC 6528 §3: ISN = M + F(...), addition modulo 2^32.
  return wire::SeqNum(timer(now)) + wire::SeqLen(keyed_hash(tuple));
}

}  // namespace synack::tcp
