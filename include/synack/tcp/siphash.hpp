// SipHash-2-4, the keyed hash behind ISNs (RFC 6528), SYN cookies (RFC 4987) and ephemeral
// port offsets (RFC 6056): libsodium's crypto_shorthash, wrapped once for all three.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "synack/wire/bytes.hpp"

namespace synack::tcp {

inline constexpr size_t kSipKeySize = 16;
using SipKey = std::array<uint8_t, kSipKeySize>;

// The low 32 bits of SipHash-2-4(key, input) (the output read as a little-endian word).
uint32_t siphash24_low32(const SipKey& key, wire::Bytes input);

// A key from libsodium's CSPRNG (initialising libsodium if needed; aborts if it cannot).
SipKey random_sip_key();

// Overwrites a key so it does not linger in memory (sodium_memzero).
void wipe(SipKey& key);

}  // namespace synack::tcp
