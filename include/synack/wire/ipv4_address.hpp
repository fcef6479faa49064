// IPv4 addresses and transport endpoints.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace synack::wire {

class Ipv4Address {
 public:
  constexpr Ipv4Address() = default;
  constexpr explicit Ipv4Address(uint32_t host_order) : v_(host_order) {}
  static constexpr Ipv4Address from_octets(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return Ipv4Address((uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d);
  }
  // Dotted quad, exactly four decimal octets without leading zeros ("10.0.0.1", as
  // inet_pton accepts); nullopt for anything else.
  static std::optional<Ipv4Address> parse(std::string_view text);

  constexpr uint32_t value() const { return v_; }
  constexpr std::array<uint8_t, 4> octets() const {
    return {static_cast<uint8_t>(v_ >> 24), static_cast<uint8_t>(v_ >> 16),
            static_cast<uint8_t>(v_ >> 8), static_cast<uint8_t>(v_)};
  }
  std::string to_string() const;

  constexpr bool operator==(const Ipv4Address&) const = default;

 private:
  uint32_t v_ = 0;
};

}  // namespace synack::wire

template <>
struct std::hash<synack::wire::Ipv4Address> {
  size_t operator()(synack::wire::Ipv4Address a) const noexcept {
    return std::hash<uint32_t>{}(a.value());
  }
};
