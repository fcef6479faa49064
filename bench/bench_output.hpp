// What every `make bench` executable shares: the output contract bench/run.py reads — one
// JSON object per line on stdout, {"key", "value", "unit", "note"} — and the clocks the
// figures are taken from.
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

namespace synack::bench {

// `s` as the inside of a JSON string: quotes and backslashes escaped, control characters
// dropped.
inline std::string json_escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

// One result line on stdout, flushed at once so a later crash cannot lose it.
inline void emit(std::string_view key, double value, std::string_view unit, std::string_view note) {
  std::printf("{\"key\": \"%s\", \"value\": %.6g, \"unit\": \"%s\", \"note\": \"%s\"}\n",
              json_escape(key).c_str(), value, json_escape(unit).c_str(),
              json_escape(note).c_str());
  std::fflush(stdout);
}

inline double seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

// CPU time of the whole process (every thread, user + system), in seconds.
inline double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return seconds(ru.ru_utime) + seconds(ru.ru_stime);
}

// The monotonic clock, in seconds.
inline double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace synack::bench
