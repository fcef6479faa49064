#include "synack/wire/parse_error.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "wire_test_util.hpp"

namespace synack::wire {
namespace {

// Every enumerator, ordered by index_of(): found by scanning the whole underlying range, so
// a value that index_of() does not place in 0 .. kParseErrorCount - 1 is not counted.
std::vector<ParseError> all_errors() {
  std::vector<ParseError> out(kParseErrorCount);
  std::vector<bool> seen(kParseErrorCount, false);
  for (unsigned raw = 0; raw <= 0xff; ++raw) {
    const auto e = static_cast<ParseError>(raw);
    const size_t i = index_of(e);
    if (i >= kParseErrorCount) continue;
    EXPECT_FALSE(seen[i]) << "two values with index " << i;
    seen[i] = true;
    out[i] = e;
  }
  for (size_t i = 0; i < kParseErrorCount; ++i)
    EXPECT_TRUE(seen[i]) << "no value with index " << i;
  return out;
}

ParseError nth(size_t i) {
  return all_errors().at(i);
}

TEST(ParseError, EveryValueHasADistinctNonEmptyName) {
  std::set<std::string_view> seen;
  for (size_t i = 0; i < kParseErrorCount; ++i) {
    const std::string_view name = to_string(nth(i));
    EXPECT_FALSE(name.empty()) << "index " << i;
    EXPECT_NE(name, "unknown-parse-error") << "index " << i << " has no name";
    EXPECT_TRUE(seen.insert(name).second) << "duplicate name " << name;
  }
  EXPECT_EQ(seen.size(), kParseErrorCount);
}

TEST(ParseError, ValuesOutsideTheIndexRangeHaveNoName) {
  // A value added to the enum without updating kParseErrorCount/index_of would be named
  // here, and skipped by every table of counters.
  for (unsigned raw = 0; raw <= 0xff; ++raw) {
    const auto e = static_cast<ParseError>(raw);
    if (index_of(e) < kParseErrorCount) continue;
    EXPECT_EQ(to_string(e), "unknown-parse-error") << "raw value " << raw;
  }
}

TEST(ParseError, NamesAreStableCounterKeys) {
  // Counter keys: lowercase words joined by '-', prefixed by the protocol they belong to.
  for (size_t i = 0; i < kParseErrorCount; ++i) {
    const std::string_view name = to_string(nth(i));
    for (const char c : name) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')
          << name << " contains '" << c << "'";
    }
    EXPECT_NE(name.front(), '-') << name;
    EXPECT_NE(name.back(), '-') << name;
    EXPECT_TRUE(name.starts_with("ipv4-") || name.starts_with("tcp-") ||
                name.starts_with("icmp-") || name.starts_with("udp-"))
        << name;
  }
  // Names the header promises.
  EXPECT_EQ(to_string(ParseError::kIpv4BadChecksum), "ipv4-bad-checksum");
  EXPECT_EQ(to_string(ParseError::kTcpOptionOverrun), "tcp-option-overrun");
}

TEST(ParseError, ErrorCodeMessageEqualsName) {
  for (size_t i = 0; i < kParseErrorCount; ++i) {
    const std::error_code ec = make_error_code(nth(i));
    EXPECT_EQ(ec.message(), std::string(to_string(nth(i))));
    EXPECT_EQ(&ec.category(), &parse_error_category());
    EXPECT_EQ(ec, nth(i));
  }
  EXPECT_STREQ(parse_error_category().name(), "synack.wire");
}

TEST(ParseError, EveryErrorCodeIsAnError) {
  // std::error_code treats the value 0 as "no error" whatever its category: operator bool
  // is false and callers' `if (ec)` would take a failed parse for success.
  for (size_t i = 0; i < kParseErrorCount; ++i) {
    const std::error_code ec = make_error_code(nth(i));
    EXPECT_TRUE(static_cast<bool>(ec)) << to_string(nth(i)) << " converts to a false error_code";
  }
}

TEST(ParseError, ConvertsImplicitlyToErrorCode) {
  // is_error_code_enum lets a ParseError be assigned to and compared with std::error_code.
  const std::error_code ec = ParseError::kTcpBadChecksum;
  EXPECT_EQ(ec, ParseError::kTcpBadChecksum);
  EXPECT_NE(ec, ParseError::kIpv4BadChecksum);
  EXPECT_EQ(ec.message(), "tcp-bad-checksum");
  // A different category with the same integer value is a different error.
  EXPECT_NE(ec, std::error_code(ec.value(), std::generic_category()));
}

}  // namespace
}  // namespace synack::wire
