// Initial sequence numbers, RFC 6528 ("Defending against Sequence Number Attacks").
//
//   ISN = M + F(localip, localport, remoteip, remoteport, secretkey)        (RFC 6528 §3)
//
// M is a 4-microsecond timer, so successive incarnations of one connection get increasing
// ISNs and old duplicates stay out of the new window (RFC 9293 §3.4.1). F is a keyed
// pseudorandom function of the 4-tuple: an off-path attacker who cannot see our segments
// cannot guess the ISN of someone else's connection, which is what defeats blind spoofing
// and reset attacks (RFC 6528 §1). F is SipHash-2-4 (as in Linux's secure_tcp_seq()) — a
// keyed PRF that is fast on 12-byte inputs; the key is 128 bits as RFC 6528 §3 recommends.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "synack/tcp/four_tuple.hpp"
#include "synack/time.hpp"
#include "synack/wire/seq.hpp"

namespace synack::tcp {

class IsnGenerator {
 public:
  // SipHash-2-4's key size; isn.cpp checks it against libsodium's crypto_shorthash.
  static constexpr size_t kKeySize = 16;
  using Key = std::array<uint8_t, kKeySize>;

  // A caller-supplied secret: for tests, and for a stack that must keep its key across
  // restarts. RFC 6528 §3: the key must be unguessable from outside.
  explicit IsnGenerator(const Key& secret_key);

  // A fresh 128-bit key from libsodium's CSPRNG (randombytes_buf).
  static IsnGenerator with_random_key();

  IsnGenerator(const IsnGenerator&) = default;
  IsnGenerator& operator=(const IsnGenerator&) = default;
  // The key is a secret: wiped when this copy of it dies.
  ~IsnGenerator();

  // The ISN for a connection `tuple` (from this host's side) opened at `now`.
  wire::SeqNum isn(const FourTuple& tuple, Instant now) const;

  // F alone: the low 32 bits of SipHash-2-4(key, serialize(tuple)), where serialize is the
  // 12 bytes local address, local port, remote address, remote port, each big-endian
  // (network order, the RFC's argument order) and SipHash's 64-bit output is read
  // little-endian, as its specification defines it.
  uint32_t keyed_hash(const FourTuple& tuple) const;

  // M: microseconds since the caller's epoch divided by 4, modulo 2^32 (wraps every
  // ~4.77 hours, RFC 9293 §3.4.1). Floor division, so M keeps rising across a negative epoch.
  static constexpr uint32_t timer(Instant now) {
    return static_cast<uint32_t>(static_cast<uint64_t>(now.as_micros()) >> 2);
  }

 private:
  Key key_;
};

}  // namespace synack::tcp
