#include "synack/wire/ipv4_address.hpp"

#include <fmt/format.h>

#include <charconv>

namespace synack::wire {

std::optional<Ipv4Address> Ipv4Address::parse(std::string_view text) {
  uint32_t value = 0;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (p == end || *p != '.') return std::nullopt;
      ++p;
    }
    // One to three decimal digits, no sign, value <= 255, and no leading zero (as
    // inet_pton: "010" would be octal 8 to inet_aton, so it is refused, not guessed).
    if (p == end || *p < '0' || *p > '9') return std::nullopt;
    if (*p == '0' && p + 1 != end && p[1] >= '0' && p[1] <= '9') return std::nullopt;
    unsigned octet = 0;
    auto [next, ec] = std::from_chars(p, end, octet);
    if (ec != std::errc{} || octet > 255 || next - p > 3) return std::nullopt;
    value = (value << 8) | octet;
    p = next;
  }
  if (p != end) return std::nullopt;
  return Ipv4Address(value);
}

std::string Ipv4Address::to_string() const {
  const auto o = octets();
  return fmt::format("{}.{}.{}.{}", o[0], o[1], o[2], o[3]);
}

}  // namespace synack::wire
