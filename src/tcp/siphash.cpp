#include "synack/tcp/siphash.hpp"

#include <sodium.h>

#include <cstdlib>

namespace synack::tcp {

// crypto_shorthash is SipHash-2-4; pin the primitive and its sizes so that a libsodium that
// ever changed its default would fail to build rather than change every ISN and cookie.
static_assert(kSipKeySize == crypto_shorthash_siphash24_KEYBYTES);
static_assert(crypto_shorthash_siphash24_BYTES == 8);

uint32_t siphash24_low32(const SipKey& key, wire::Bytes input) {
  std::array<unsigned char, crypto_shorthash_siphash24_BYTES> out{};
  crypto_shorthash_siphash24(out.data(), reinterpret_cast<const unsigned char*>(input.data()),
                             input.size(), key.data());
  return uint32_t{out[0]} | (uint32_t{out[1]} << 8) | (uint32_t{out[2]} << 16) |
         (uint32_t{out[3]} << 24);
}

SipKey random_sip_key() {
  // sodium_init() is idempotent and thread-safe; it returns 1 when already initialised and
  // -1 only if the library cannot work at all.
  if (sodium_init() < 0) std::abort();
  SipKey key;
  randombytes_buf(key.data(), key.size());
  return key;
}

void wipe(SipKey& key) {
  sodium_memzero(key.data(), key.size());
}

}  // namespace synack::tcp
