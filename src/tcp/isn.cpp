#include "synack/tcp/isn.hpp"

#include <sodium.h>

#include <cstdlib>

namespace synack::tcp {

// crypto_shorthash is SipHash-2-4; pin both the primitive and its sizes so that a libsodium
// that ever changed its default would fail to build rather than change every ISN.
static_assert(IsnGenerator::kKeySize == crypto_shorthash_siphash24_KEYBYTES);
static_assert(crypto_shorthash_siphash24_BYTES == 8);

namespace {

constexpr size_t kTupleBytes = 12;

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

IsnGenerator::IsnGenerator(const Key& secret_key) : key_(secret_key) {}

IsnGenerator::~IsnGenerator() {
  sodium_memzero(key_.data(), key_.size());
}

IsnGenerator IsnGenerator::with_random_key() {
  // sodium_init() is idempotent and thread-safe; it returns 1 when already initialised and
  // -1 only when no entropy source can be opened, and an ISN without a secret key would be
  // the predictable kind RFC 6528 exists to forbid — so that is fatal.
  if (sodium_init() < 0) std::abort();
  Key key{};
  randombytes_buf(key.data(), key.size());
  IsnGenerator generator(key);
  sodium_memzero(key.data(), key.size());
  return generator;
}

uint32_t IsnGenerator::keyed_hash(const FourTuple& tuple) const {
  std::array<uint8_t, kTupleBytes> in{};
  put_be32(&in[0], tuple.local.addr.value());
  put_be16(&in[4], tuple.local.port);
  put_be32(&in[6], tuple.remote.addr.value());
  put_be16(&in[10], tuple.remote.port);

  std::array<uint8_t, crypto_shorthash_siphash24_BYTES> out{};
  crypto_shorthash_siphash24(out.data(), in.data(), in.size(), key_.data());
  // SipHash's output is a little-endian 64-bit word; keep its low 32 bits.
  return uint32_t{out[0]} | (uint32_t{out[1]} << 8) | (uint32_t{out[2]} << 16) |
         (uint32_t{out[3]} << 24);
}

wire::SeqNum IsnGenerator::isn(const FourTuple& tuple, Instant now) const {
  // RFC 6528 §3: ISN = M + F(...), addition modulo 2^32.
  return wire::SeqNum(timer(now)) + wire::SeqLen(keyed_hash(tuple));
}

}  // namespace synack::tcp
