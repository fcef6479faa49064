// Instant and Duration: microseconds as strong types.
//
// wire/ and tcp/ never read a clock; time comes in as an Instant argument. Tools and devices
// make Instants from the real clock (or from pcap timestamps) at the edge.
#pragma once

#include <compare>
#include <cstdint>

namespace synack {

class Duration {
 public:
  constexpr Duration() = default;
  static constexpr Duration micros(int64_t us) { return Duration(us); }
  static constexpr Duration millis(int64_t ms) { return Duration(ms * 1000); }
  static constexpr Duration seconds(int64_t s) { return Duration(s * 1'000'000); }

  constexpr int64_t as_micros() const { return us_; }
  constexpr int64_t as_millis() const { return us_ / 1000; }

  constexpr Duration operator+(Duration o) const { return Duration(us_ + o.us_); }
  constexpr Duration operator-(Duration o) const { return Duration(us_ - o.us_); }
  constexpr Duration operator*(int64_t k) const { return Duration(us_ * k); }
  constexpr auto operator<=>(const Duration&) const = default;

 private:
  constexpr explicit Duration(int64_t us) : us_(us) {}
  int64_t us_ = 0;
};

// A point in time, in microseconds since an epoch the caller chooses (the Unix epoch for
// captures and real devices, zero for simulations).
class Instant {
 public:
  constexpr Instant() = default;
  static constexpr Instant from_micros(int64_t us) { return Instant(us); }

  constexpr int64_t as_micros() const { return us_; }

  constexpr Instant operator+(Duration d) const { return Instant(us_ + d.as_micros()); }
  constexpr Instant operator-(Duration d) const { return Instant(us_ - d.as_micros()); }
  constexpr Duration operator-(Instant o) const { return Duration::micros(us_ - o.us_); }
  constexpr auto operator<=>(const Instant&) const = default;

 private:
  constexpr explicit Instant(int64_t us) : us_(us) {}
  int64_t us_ = 0;
};

}  // namespace synack
