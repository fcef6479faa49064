// What every fuzz target shares: an invariant check that aborts (so libFuzzer records the
// input), and a reader that turns fuzzer bytes into values (zeros once they run out).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

namespace synack::fuzz {

class Input {
 public:
  explicit Input(std::span<const uint8_t> d) : d_(d) {}
  bool empty() const { return i_ >= d_.size(); }
  uint8_t u8() { return i_ < d_.size() ? d_[i_++] : 0; }
  uint16_t u16() { return static_cast<uint16_t>(u8() << 8 | u8()); }
  uint32_t u32() { return static_cast<uint32_t>(u16()) << 16 | u16(); }
  // Up to n bytes (fewer at the end of the input).
  std::span<const uint8_t> take(size_t n) {
    const size_t at = std::min(i_, d_.size());
    n = std::min(n, d_.size() - at);
    i_ = at + n;
    return d_.subspan(at, n);
  }

 private:
  std::span<const uint8_t> d_;
  size_t i_ = 0;
};

}  // namespace synack::fuzz
