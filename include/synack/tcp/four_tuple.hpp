// Endpoint and FourTuple: the identity of a TCP connection (RFC 9293 §3.3.1 — a connection
// is named by the pair of sockets, address and port at each end).
//
// Always written from this host's point of view: `local` is us, `remote` the peer. An
// inbound segment's tuple is therefore {dst, src}; `reversed()` gives the peer's view.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "synack/wire/ipv4_address.hpp"

namespace synack::tcp {

struct Endpoint {
  wire::Ipv4Address addr;
  uint16_t port = 0;

  constexpr bool operator==(const Endpoint&) const = default;

  // "10.0.0.1:80". Built without fmt so that the header stays light for the demux table.
  std::string to_string() const { return addr.to_string() + ':' + std::to_string(port); }
};

struct FourTuple {
  Endpoint local;
  Endpoint remote;

  constexpr bool operator==(const FourTuple&) const = default;

  constexpr FourTuple reversed() const { return FourTuple{remote, local}; }

  // "10.0.0.1:80 -> 10.0.0.2:41631"
  std::string to_string() const { return local.to_string() + " -> " + remote.to_string(); }
};

namespace detail {

// MurmurHash3's 64-bit finalizer: a bijection on uint64_t with full avalanche (every input
// bit flips each output bit with probability ~1/2).
constexpr uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

// The 96 bits of a tuple as two words: both addresses, and both ports.
constexpr uint64_t hash_four_tuple(const FourTuple& t) {
  const uint64_t addrs = (uint64_t{t.local.addr.value()} << 32) | t.remote.addr.value();
  const uint64_t ports = (uint64_t{t.local.port} << 16) | t.remote.port;
  // fmix64 is a bijection, so for fixed addresses distinct port pairs never collide in the
  // full 64 bits, and for fixed ports distinct address pairs never do; avalanche spreads
  // sequential ports over every bucket of a power-of-two or prime-sized table.
  return fmix64(addrs ^ fmix64(ports ^ 0x9e3779b97f4a7c15ULL));
}

}  // namespace detail

}  // namespace synack::tcp

template <>
struct std::hash<synack::tcp::Endpoint> {
  size_t operator()(const synack::tcp::Endpoint& e) const noexcept {
    return static_cast<size_t>(
        synack::tcp::detail::fmix64((uint64_t{e.addr.value()} << 16) | e.port));
  }
};

// Unkeyed: well mixed and free of structural collisions, so a peer that picks its own
// ports cannot pile them into one bucket by choosing them sequentially or by stride. It is
// still a public function, though, so someone who computes collisions offline can target a
// table built on it; a table facing the Internet should hash with a per-stack secret key
// (SipHash, as IsnGenerator does) when hash-flooding matters.
template <>
struct std::hash<synack::tcp::FourTuple> {
  size_t operator()(const synack::tcp::FourTuple& t) const noexcept {
    return static_cast<size_t>(synack::tcp::detail::hash_four_tuple(t));
  }
};
