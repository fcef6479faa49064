#include "synack/dev/mem_link.hpp"

#include <algorithm>

namespace synack::dev {

std::optional<Instant> MemLink::next_deadline() const {
  const auto to_a = b_to_a_.next_arrival();
  const auto to_b = a_to_b_.next_arrival();
  if (!to_a) return to_b;
  if (!to_b) return to_a;
  return std::min(*to_a, *to_b);
}

void MemLink::set_tap(PcapTap* tap, LinkTapPoint point) {
  const TapPoint points = point == LinkTapPoint::kSent ? TapPoint::kSent : TapPoint::kDelivered;
  a_.set_tap(tap, points);
  b_.set_tap(tap, points);
}

}  // namespace synack::dev
