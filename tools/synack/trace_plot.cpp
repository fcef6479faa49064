#include "trace_plot.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "synack/tcp/four_tuple.hpp"
#include "synack/trace/pcap.hpp"
#include "synack/trace/plot.hpp"
#include "synack/wire/ipv4.hpp"
#include "synack/wire/tcp.hpp"

namespace synack::cli {

namespace {

// A TCP segment of a captured packet, checksums unchecked.
struct Captured {
  tcp::Endpoint src;
  tcp::Endpoint dst;
  wire::TcpView tcp;
};

std::optional<Captured> tcp_in(const trace::PcapPacket& p, size_t* truncated = nullptr) {
  const auto ip_bytes = trace::ipv4_in_frame(p.link_type, p.bytes);
  if (!ip_bytes) return std::nullopt;
  auto ip = wire::Ipv4View::parse(*ip_bytes, wire::ChecksumPolicy::kIgnore);
  if (!ip && ip.error() == wire::ParseError::kIpv4TotalLengthOverrun && truncated != nullptr) {
    ++*truncated;
  }
  if (!ip || ip->is_fragment() || ip->protocol() != wire::ip_protocol::kTcp) return std::nullopt;
  auto tcp = wire::TcpView::parse(ip->payload());
  if (!tcp) return std::nullopt;
  return Captured{tcp::Endpoint{ip->src(), tcp->src_port()},
                  tcp::Endpoint{ip->dst(), tcp->dst_port()}, *tcp};
}

// A connection regardless of direction: the smaller endpoint first.
using Key = std::pair<std::pair<uint32_t, uint16_t>, std::pair<uint32_t, uint16_t>>;
Key key_of(const tcp::Endpoint& a, const tcp::Endpoint& b) {
  auto ea = std::make_pair(a.addr.value(), a.port);
  auto eb = std::make_pair(b.addr.value(), b.port);
  return ea < eb ? Key{ea, eb} : Key{eb, ea};
}

struct Seen {
  size_t order = 0;
  tcp::Endpoint first;  // the source of its first packet
  tcp::Endpoint second;
  uint64_t payload_first = 0;  // bytes from `first`
  uint64_t payload_second = 0;
};

// Calls f(packet) for every packet of the file.
template <class F>
expected<void, std::string> each_packet(const std::string& path, F&& f) {
  auto reader = trace::PcapReader::open(path);
  if (!reader) return unexpected(reader.error());
  while (true) {
    auto packet = reader->next();
    if (!packet) return unexpected(packet.error());
    if (!packet->has_value()) return {};
    f(**packet);
  }
}

}  // namespace

expected<CapturePlot, std::string> plot_capture(const std::string& path,
                                                std::optional<size_t> connection) {
  // First pass: the connections, and how much payload each end sent.
  std::map<Key, Seen> seen;
  size_t truncated = 0;
  auto scanned = each_packet(path, [&](const trace::PcapPacket& p) {
    auto c = tcp_in(p, &truncated);
    if (!c) return;
    auto [it, added] = seen.try_emplace(key_of(c->src, c->dst));
    Seen& s = it->second;
    if (added) {
      s.order = seen.size();
      s.first = c->src;
      s.second = c->dst;
    }
    (c->src == s.first ? s.payload_first : s.payload_second) += c->tcp.payload().size();
  });
  if (!scanned) return unexpected(scanned.error());
  if (seen.empty()) return unexpected(fmt::format("{}: no TCP segment over IPv4", path));

  const Seen* chosen = nullptr;
  for (const auto& [key, s] : seen) {
    if (connection ? s.order == *connection
                   : chosen == nullptr || s.payload_first + s.payload_second >
                                              chosen->payload_first + chosen->payload_second) {
      chosen = &s;
    }
  }
  if (chosen == nullptr) {
    return unexpected(
        fmt::format("{}: no connection {} (it holds {})", path, *connection, seen.size()));
  }
  const bool first_sends = chosen->payload_first >= chosen->payload_second;
  const tcp::Endpoint sender = first_sends ? chosen->first : chosen->second;
  const tcp::Endpoint receiver = first_sends ? chosen->second : chosen->first;

  // Second pass: that connection's segments, in capture order, time from its first packet.
  trace::TimeSequenceBuilder builder;
  std::optional<Instant> start;
  auto built = each_packet(path, [&](const trace::PcapPacket& p) {
    auto c = tcp_in(p);
    if (!c || key_of(c->src, c->dst) != key_of(sender, receiver)) return;
    if (!start) start = p.timestamp;
    const double t = static_cast<double>((p.timestamp - *start).as_micros()) / 1e6;
    builder.add(t, c->tcp, c->src == sender);
  });
  if (!built) return unexpected(built.error());

  CapturePlot out;
  out.truncated = truncated;
  out.connection = fmt::format("{} -> {}", sender.to_string(), receiver.to_string());
  trace::TimeSequenceGraph graph;
  graph.segments = builder.take();
  for (const trace::PlotSegment& s : graph.segments) {
    if (!s.from_sender) continue;
    ++out.segments;
    if (s.retransmission) ++out.retransmissions;
  }
  graph.title = fmt::format("synack trace: {}", out.connection);
  graph.subtitle = fmt::format("{}: {} segments from the sender, {} retransmitted", path,
                               out.segments, out.retransmissions);
  if (truncated > 0) {
    graph.subtitle +=
        fmt::format("; {} packets cut short by the capture's snapshot length left out", truncated);
  }
  out.svg = trace::render_svg(graph);
  return out;
}

}  // namespace synack::cli
