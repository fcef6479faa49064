// Whether this build runs under AddressSanitizer: such builds run the same tests on smaller
// sweeps (fewer seeds), so that `make test` stays within its time.
#pragma once

namespace synack::testing {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

}  // namespace synack::testing
