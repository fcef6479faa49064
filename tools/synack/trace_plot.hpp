// synack trace --plot: the time-sequence graph (trace/plot.hpp) of one connection in a
// capture, as tcptrace draws it: the data sender's segments, the receiver's ACKs, window
// and SACK blocks, retransmissions in red.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "synack/expected.hpp"

namespace synack::cli {

struct CapturePlot {
  std::string svg;
  std::string connection;  // "10.0.0.1:40000 -> 10.0.0.2:9988", the data sender first
  size_t segments = 0;     // the sender's
  size_t retransmissions = 0;
  // IPv4 packets the capture cut short (its snapshot length), which could not be drawn.
  size_t truncated = 0;
};

// The graph of the `connection`-th TCP connection of the capture (1-based, in the order of
// their first packets), or of the one that carries the most payload. The data sender is the
// end that sent more payload. Checksums are not checked (captures on the sending host carry
// unfinished, offloaded ones); packets that are not IPv4 TCP are passed over.
expected<CapturePlot, std::string> plot_capture(const std::string& path,
                                                std::optional<size_t> connection = std::nullopt);

}  // namespace synack::cli
