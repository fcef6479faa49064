#include "synack/dev/impairments.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <utility>

namespace synack::dev {

// ----------------------------------------------------------------------- parse_impairments

namespace {

// Keeps a microsecond delay far from int64 overflow once it is added to Instants.
constexpr int64_t kMaxDelayMicros = int64_t{86'400} * 1'000'000;  // one day
constexpr uint64_t kMinMtu = 68;                                  // RFC 791 §3.2
constexpr uint64_t kMaxMtu = 65535;

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && space(s.back()))
    s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Splits "10ms" into the number "10" and the unit "ms".
std::pair<std::string_view, std::string_view> split_unit(std::string_view value) {
  size_t i = 0;
  while (i < value.size() &&
         (std::isdigit(static_cast<unsigned char>(value[i])) != 0 || value[i] == '.')) {
    ++i;
  }
  return {value.substr(0, i), trim(value.substr(i))};
}

// A finite, non-negative decimal number, all of `text` ("1", "0.5", "1e3").
std::optional<double> to_number(std::string_view text) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v,
                                         std::chars_format::fixed | std::chars_format::scientific);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (!std::isfinite(v) || v < 0) return std::nullopt;
  return v;
}

std::optional<uint64_t> to_integer(std::string_view text) {
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
    base = 16;
  }
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// A probability: "5%" or "0.05".
expected<double, std::string> parse_probability(std::string_view value) {
  const bool percent = !value.empty() && value.back() == '%';
  const auto number = to_number(trim(percent ? value.substr(0, value.size() - 1) : value));
  if (!number) return unexpected(std::string("expected a percentage (5%) or a fraction (0.05)"));
  if (percent) {
    if (*number > 100) return unexpected(std::string("a percentage is at most 100%"));
    return *number / 100;
  }
  if (*number > 1) {
    return unexpected(fmt::format("a fraction is at most 1 (for percent write {}%)", value));
  }
  return *number;
}

// A delay: "10ms", "1.5ms", "250us", "2s".
expected<Duration, std::string> parse_delay(std::string_view value) {
  const auto [digits, unit] = split_unit(value);
  const auto number = to_number(digits);
  if (!number) return unexpected(std::string("expected a number and a unit, as 10ms"));
  double scale = 0;
  if (iequals(unit, "us")) {
    scale = 1;
  } else if (iequals(unit, "ms")) {
    scale = 1e3;
  } else if (iequals(unit, "s")) {
    scale = 1e6;
  } else if (unit.empty()) {
    return unexpected(std::string("a delay needs a unit: us, ms or s"));
  } else {
    return unexpected(fmt::format("unknown unit \"{}\" (use us, ms or s)", unit));
  }
  const double micros = *number * scale;
  if (micros > static_cast<double>(kMaxDelayMicros)) {
    return unexpected(std::string("a delay is at most 1 day"));
  }
  const auto whole = std::llround(micros);
  if (std::fabs(micros - static_cast<double>(whole)) > 1e-6 * std::max(1.0, micros)) {
    return unexpected(std::string("a delay is a whole number of microseconds"));
  }
  return Duration::micros(whole);
}

// A rate in bit/s: "100mbit", "1.5gbit", "64kbit", "1000000", "0". Whole numbers are read
// exactly (all 64 bits); fractions through a double, rounded to a bit/s.
expected<uint64_t, std::string> parse_rate(std::string_view value) {
  const auto [digits, unit] = split_unit(value);
  const auto number = to_number(digits);
  if (!number) return unexpected(std::string("expected a rate, as 100mbit"));
  uint64_t scale = 0;
  if (unit.empty() || iequals(unit, "bit")) {
    scale = 1;
  } else if (iequals(unit, "kbit")) {
    scale = 1000;
  } else if (iequals(unit, "mbit")) {
    scale = 1'000'000;
  } else if (iequals(unit, "gbit")) {
    scale = 1'000'000'000;
  } else if (unit.size() >= 3 && iequals(unit.substr(unit.size() - 3), "bps")) {
    // tc reads "mbps" as megabytes per second, most people as megabits: refuse to guess.
    return unexpected(fmt::format("\"{}\" is ambiguous: write kbit, mbit or gbit", unit));
  } else {
    return unexpected(fmt::format("unknown unit \"{}\" (use kbit, mbit or gbit)", unit));
  }
  if (digits.find('.') == std::string_view::npos) {
    const auto whole = to_integer(digits);
    if (!whole || *whole > UINT64_MAX / scale) return unexpected(std::string("rate too large"));
    return *whole * scale;
  }
  const double bps = *number * static_cast<double>(scale);
  if (bps >= 0x1.0p63) return unexpected(std::string("rate too large"));
  if (bps > 0 && bps < 0.5) return unexpected(std::string("a rate is at least 1 bit/s"));
  return static_cast<uint64_t>(std::llround(bps));
}

expected<size_t, std::string> parse_mtu(std::string_view value) {
  const auto mtu = to_integer(value);
  if (!mtu || value.starts_with("0x") || value.starts_with("0X")) {
    return unexpected(std::string("expected a size in bytes, as 1500"));
  }
  if (*mtu != 0 && (*mtu < kMinMtu || *mtu > kMaxMtu)) {
    return unexpected(
        fmt::format("an MTU is {} to {} bytes (or 0 for no limit)", kMinMtu, kMaxMtu));
  }
  return static_cast<size_t>(*mtu);
}

// A byte count: bare, or with K, M or G (powers of 1024), as "64K".
expected<size_t, std::string> parse_queue(std::string_view value) {
  uint64_t scale = 1;
  if (!value.empty()) {
    switch (value.back()) {
      case 'K':
      case 'k':
        scale = uint64_t{1} << 10;
        break;
      case 'M':
      case 'm':
        scale = uint64_t{1} << 20;
        break;
      case 'G':
      case 'g':
        scale = uint64_t{1} << 30;
        break;
      default:
        break;
    }
    if (scale != 1) value.remove_suffix(1);
  }
  const auto n = to_integer(value);
  if (!n || value.starts_with("0x") || value.starts_with("0X") || *n > (uint64_t{1} << 40)) {
    return unexpected(std::string("expected a size in bytes, as 65536 or 64K (0: unbounded)"));
  }
  return static_cast<size_t>(*n * scale);
}

expected<uint64_t, std::string> parse_seed(std::string_view value) {
  const auto seed = to_integer(value);
  if (!seed) return unexpected(std::string("expected an unsigned 64-bit integer"));
  return *seed;
}

enum class Key {
  kLoss,
  kDelay,
  kRate,
  kQueue,
  kDuplicate,
  kReorder,
  kCorrupt,
  kMtu,
  kSeed,
  kCount
};

std::optional<Key> find_key(std::string_view name) {
  struct Name {
    std::string_view name;
    Key key;
  };
  static constexpr std::array<Name, 11> kNames = {{
      {"loss", Key::kLoss},
      {"delay", Key::kDelay},
      {"latency", Key::kDelay},
      {"rate", Key::kRate},
      {"queue", Key::kQueue},
      {"dup", Key::kDuplicate},
      {"duplicate", Key::kDuplicate},
      {"reorder", Key::kReorder},
      {"corrupt", Key::kCorrupt},
      {"mtu", Key::kMtu},
      {"seed", Key::kSeed},
  }};
  for (const auto& n : kNames) {
    if (n.name == name) return n.key;
  }
  return std::nullopt;
}

// Applies one "key=value" item; the error says what is wrong with the value.
expected<void, std::string> apply(Key key, std::string_view value, Impairments& imp) {
  const auto set_probability = [&](double& field) -> expected<void, std::string> {
    auto p = parse_probability(value);
    if (!p) return unexpected(p.error());
    field = *p;
    return {};
  };
  switch (key) {
    case Key::kLoss:
      return set_probability(imp.loss);
    case Key::kDuplicate:
      return set_probability(imp.duplicate);
    case Key::kReorder:
      return set_probability(imp.reorder);
    case Key::kCorrupt:
      return set_probability(imp.corrupt);
    case Key::kDelay: {
      auto d = parse_delay(value);
      if (!d) return unexpected(d.error());
      imp.latency = *d;
      return {};
    }
    case Key::kRate: {
      auto r = parse_rate(value);
      if (!r) return unexpected(r.error());
      imp.rate_bps = *r;
      return {};
    }
    case Key::kQueue: {
      auto q = parse_queue(value);
      if (!q) return unexpected(q.error());
      imp.queue_bytes = *q;
      return {};
    }
    case Key::kMtu: {
      auto m = parse_mtu(value);
      if (!m) return unexpected(m.error());
      imp.mtu = *m;
      return {};
    }
    case Key::kSeed: {
      auto s = parse_seed(value);
      if (!s) return unexpected(s.error());
      imp.seed = *s;
      return {};
    }
    case Key::kCount:
      break;
  }
  return unexpected(std::string("unreachable"));
}

// The shortest text for p that reads back as p: a percentage when one does, else a fraction.
std::string format_probability(double p) {
  const std::string percent = fmt::format("{}", p * 100);
  if (const auto back = to_number(percent); back && *back / 100 == p) return percent + "%";
  return fmt::format("{}", p);
}

std::string format_delay(Duration d) {
  const int64_t us = d.as_micros();
  if (us != 0 && us % 1'000'000 == 0) return fmt::format("{}s", us / 1'000'000);
  if (us != 0 && us % 1000 == 0) return fmt::format("{}ms", us / 1000);
  return fmt::format("{}us", us);
}

std::string format_rate(uint64_t bps) {
  if (bps != 0 && bps % 1'000'000'000 == 0) return fmt::format("{}gbit", bps / 1'000'000'000);
  if (bps != 0 && bps % 1'000'000 == 0) return fmt::format("{}mbit", bps / 1'000'000);
  if (bps != 0 && bps % 1000 == 0) return fmt::format("{}kbit", bps / 1000);
  return fmt::format("{}", bps);
}

}  // namespace

expected<Impairments, std::string> parse_impairments(std::string_view spec,
                                                     const Impairments& base) {
  Impairments imp = base;
  std::array<bool, static_cast<size_t>(Key::kCount)> seen{};
  if (trim(spec).empty()) return imp;
  std::string_view rest = spec;
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    if (item.empty()) {
      return unexpected(fmt::format("empty impairment item in \"{}\"", spec));
    }
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return unexpected(fmt::format("impairment \"{}\" has no value (write {}=...)", item, item));
    }
    const std::string_view name = trim(item.substr(0, eq));
    const std::string_view value = trim(item.substr(eq + 1));
    const auto key = find_key(name);
    if (!key) {
      return unexpected(fmt::format(
          "unknown impairment \"{}\" (known: loss, delay, rate, queue, dup, reorder, corrupt, mtu, "
          "seed)",
          item));
    }
    auto& was_seen = seen[static_cast<size_t>(*key)];
    if (was_seen) return unexpected(fmt::format("impairment \"{}\" is given twice", item));
    was_seen = true;
    if (auto ok = apply(*key, value, imp); !ok) {
      return unexpected(fmt::format("bad impairment \"{}\": {}", item, ok.error()));
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return imp;
}

std::string to_string(const Impairments& imp) {
  return fmt::format(
      "delay={},rate={},queue={},mtu={},loss={},dup={},reorder={},corrupt={},seed={}",
      format_delay(imp.latency), format_rate(imp.rate_bps), imp.queue_bytes, imp.mtu,
      format_probability(imp.loss), format_probability(imp.duplicate),
      format_probability(imp.reorder), format_probability(imp.corrupt), imp.seed);
}

// --------------------------------------------------------------------------- ImpairedQueue

ImpairedQueue::ImpairedQueue(const Impairments& impairments, uint64_t stream)
    : impairments_(impairments),
      loss_rng_(derive_seed(derive_seed(impairments.seed, stream), 0)),
      duplicate_rng_(derive_seed(derive_seed(impairments.seed, stream), 1)),
      reorder_rng_(derive_seed(derive_seed(impairments.seed, stream), 2)),
      corrupt_rng_(derive_seed(derive_seed(impairments.seed, stream), 3)) {}

void ImpairedQueue::push(wire::Bytes packet, Instant now) {
  const auto departure = transmit(packet.size(), now);
  if (!departure) return;
  const bool twice = duplicated();
  const size_t first = acquire();
  slots_[first].assign(packet.begin(), packet.end());  // reuses the slot's capacity
  if (twice) {
    const size_t second = acquire();
    slots_[second].assign(packet.begin(), packet.end());
    schedule(first, *departure);
    schedule(second, *departure);
  } else {
    schedule(first, *departure);
  }
}

void ImpairedQueue::push(std::vector<std::byte>&& packet, Instant now) {
  const auto departure = transmit(packet.size(), now);
  if (!departure) return;
  const bool twice = duplicated();
  const size_t first = acquire();
  if (twice) {
    const size_t second = acquire();
    slots_[second].assign(packet.begin(), packet.end());
    slots_[first] = std::move(packet);
    schedule(first, *departure);
    schedule(second, *departure);
  } else {
    slots_[first] = std::move(packet);
    schedule(first, *departure);
  }
}

std::optional<Instant> ImpairedQueue::transmit(size_t size, Instant now) {
  ++counters_.sent;
  counters_.bytes_sent += size;
  if (impairments_.mtu != 0 && size > impairments_.mtu) {
    ++counters_.dropped_mtu;
    return std::nullopt;
  }
  Instant departure = now;
  if (const uint64_t rate = impairments_.rate_bps; rate != 0) {
    // The link is busy until busy_until_ + busy_carry_/rate us; an idle link starts now.
    Instant start = busy_until_;
    uint64_t carry = busy_carry_;
    if (now > busy_until_) {
      start = now;
      carry = 0;
    }
    // A bounded buffer in front of the bottleneck drops at its tail: the bytes still
    // waiting are what the busy time left represents at the rate.
    if (impairments_.queue_bytes != 0) {
      const uint64_t waiting_us = static_cast<uint64_t>((start - now).as_micros());
      const uint64_t waiting_bytes = waiting_us * rate / 8'000'000;
      if (waiting_bytes + size > impairments_.queue_bytes) {
        ++counters_.dropped_queue;
        return std::nullopt;
      }
    }
    // Serialization time in units of 1/rate us: size x 8 bits x 10^6, plus the carry.
    const uint64_t scaled = static_cast<uint64_t>(size) * 8 * 1'000'000;
    uint64_t micros = scaled / rate;
    uint64_t remainder = scaled % rate;
    if (remainder >= rate - carry) {  // remainder + carry >= rate, without overflow
      ++micros;
      remainder -= rate - carry;
    } else {
      remainder += carry;
    }
    busy_until_ = start + Duration::micros(static_cast<int64_t>(micros));
    busy_carry_ = remainder;
    departure = busy_until_;
  }
  if (loss_rng_.chance(impairments_.loss)) {
    ++counters_.lost;
    return std::nullopt;
  }
  return departure;
}

bool ImpairedQueue::duplicated() {
  if (!duplicate_rng_.chance(impairments_.duplicate)) return false;
  ++counters_.duplicated;
  return true;
}

void ImpairedQueue::schedule(size_t slot, Instant departure) {
  Instant arrival = departure + impairments_.latency;
  if (reorder_rng_.chance(impairments_.reorder)) {
    const auto span =
        static_cast<uint64_t>(std::max<int64_t>(1, impairments_.latency.as_micros() * 2));
    arrival = arrival + Duration::micros(static_cast<int64_t>(1 + reorder_rng_.below(span)));
    ++counters_.reordered;
  }
  auto& bytes = slots_[slot];
  if (!bytes.empty() && corrupt_rng_.chance(impairments_.corrupt)) {
    const uint64_t bit = corrupt_rng_.below(static_cast<uint64_t>(bytes.size()) * 8);
    bytes[static_cast<size_t>(bit / 8)] ^= std::byte{static_cast<uint8_t>(1u << (bit % 8))};
    ++counters_.corrupted;
  }
  heap_.push(Entry{arrival, next_order_++, slot});
}

size_t ImpairedQueue::acquire() {
  if (free_slots_.empty()) {
    slots_.emplace_back();
    return slots_.size() - 1;
  }
  const size_t slot = free_slots_.back();
  free_slots_.pop_back();
  return slot;
}

void ImpairedQueue::release(size_t slot) {
  slots_[slot].clear();  // keeps the capacity for the next packet
  free_slots_.push_back(slot);
}

}  // namespace synack::dev
