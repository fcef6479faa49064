// Time-sequence graphs: the SVG is well-formed XML, draws one mark per segment sent (red for
// retransmissions), ACK and window lines, SACK blocks and the lower panel's series, with
// axes covering the data; empty input still gives a document. The builder turns raw
// segments into relative, unwrapped, scaled plot data.
#include "synack/trace/plot.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "synack/wire/ipv4.hpp"
#include "synack/wire/pseudo_header.hpp"
#include "synack/wire/tcp.hpp"

namespace synack::trace {
namespace {

// A small XML checker: one root element, tags balanced and properly nested, attribute
// values quoted, no duplicate attributes, text without '<' and with only known entities.
::testing::AssertionResult well_formed(const std::string& xml) {
  std::vector<std::string> open;
  size_t i = 0;
  size_t roots = 0;
  const auto fail = [&](std::string_view why) {
    return ::testing::AssertionFailure() << why << " at offset " << i << ": " << xml.substr(i, 60);
  };
  const auto check_entities = [&](std::string_view text) {
    for (size_t a = text.find('&'); a != std::string_view::npos; a = text.find('&', a + 1)) {
      const size_t semi = text.find(';', a);
      if (semi == std::string_view::npos) return false;
      const std::string_view name = text.substr(a + 1, semi - a - 1);
      if (name != "amp" && name != "lt" && name != "gt" && name != "quot" && name != "apos") {
        return false;
      }
    }
    return true;
  };
  if (xml.rfind("<?xml ", 0) == 0) {
    i = xml.find("?>");
    if (i == std::string::npos) return fail("unterminated declaration");
    i += 2;
  }
  while (i < xml.size()) {
    const size_t lt = xml.find('<', i);
    const std::string_view text(xml.data() + i, (lt == std::string::npos ? xml.size() : lt) - i);
    if (!check_entities(text)) return fail("bad entity in text");
    if (open.empty() && text.find_first_not_of(" \t\r\n") != std::string_view::npos) {
      return fail("text outside the root element");
    }
    if (lt == std::string::npos) break;
    i = lt;
    if (xml.compare(i, 4, "<!--") == 0) {
      const size_t end = xml.find("-->", i);
      if (end == std::string::npos) return fail("unterminated comment");
      i = end + 3;
      continue;
    }
    const bool closing = xml.compare(i, 2, "</") == 0;
    size_t p = i + (closing ? 2 : 1);
    const size_t name_start = p;
    while (p < xml.size() && (std::isalnum(static_cast<unsigned char>(xml[p])) || xml[p] == '-' ||
                              xml[p] == ':' || xml[p] == '_')) {
      ++p;
    }
    const std::string name = xml.substr(name_start, p - name_start);
    if (name.empty()) return fail("tag without a name");
    if (closing) {
      while (p < xml.size() && xml[p] == ' ')
        ++p;
      if (p >= xml.size() || xml[p] != '>') return fail("bad closing tag");
      if (open.empty() || open.back() != name) return fail("mismatched closing tag " + name);
      open.pop_back();
      i = p + 1;
      continue;
    }
    std::vector<std::string> attributes;
    for (;;) {
      while (p < xml.size() && std::isspace(static_cast<unsigned char>(xml[p])))
        ++p;
      if (p >= xml.size()) return fail("unterminated tag");
      if (xml[p] == '>' || xml.compare(p, 2, "/>") == 0) break;
      const size_t a = p;
      while (p < xml.size() && xml[p] != '=' && !std::isspace(static_cast<unsigned char>(xml[p])) &&
             xml[p] != '>') {
        ++p;
      }
      const std::string attribute = xml.substr(a, p - a);
      if (attribute.empty() || p >= xml.size() || xml[p] != '=' || p + 1 >= xml.size() ||
          xml[p + 1] != '"') {
        return fail("attribute without a quoted value");
      }
      for (const std::string& seen : attributes) {
        if (seen == attribute) return fail("duplicate attribute " + attribute);
      }
      attributes.push_back(attribute);
      const size_t end = xml.find('"', p + 2);
      if (end == std::string::npos) return fail("unterminated attribute value");
      const std::string_view value(xml.data() + p + 2, end - p - 2);
      if (value.find('<') != std::string_view::npos || !check_entities(value)) {
        return fail("bad attribute value");
      }
      p = end + 1;
    }
    const bool empty = xml[p] == '/';
    if (open.empty()) ++roots;
    if (!empty) open.push_back(name);
    i = p + (empty ? 2 : 1);
  }
  if (!open.empty()) return ::testing::AssertionFailure() << "unclosed <" << open.back() << ">";
  if (roots != 1) return ::testing::AssertionFailure() << roots << " root elements";
  return ::testing::AssertionSuccess();
}

size_t count(const std::string& text, std::string_view needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// The value of attribute `name` in the element starting at `element_at`.
double attribute(const std::string& svg, size_t element_at, std::string_view name) {
  const std::string key = std::string(" ") + std::string(name) + "=\"";
  const size_t at = svg.find(key, element_at);
  EXPECT_NE(at, std::string::npos) << name;
  if (at == std::string::npos) return 0;
  return std::stod(svg.substr(at + key.size()));
}

// The part of `svg` inside the first <g class="NAME" ...> ... </g> (no nested groups).
std::string group(const std::string& svg, std::string_view name) {
  const size_t start = svg.find(std::string("<g class=\"") + std::string(name) + "\"");
  if (start == std::string::npos) return {};
  const size_t end = svg.find("</g>", start);
  return svg.substr(start, end - start);
}

PlotSegment data(double t, uint64_t seq, uint32_t len, bool retransmission = false) {
  PlotSegment s;
  s.time = t;
  s.seq = seq;
  s.len = len;
  s.retransmission = retransmission;
  return s;
}

PlotSegment ack(double t, uint64_t a, uint64_t window, std::vector<PlotSackBlock> sack = {}) {
  PlotSegment s;
  s.time = t;
  s.from_sender = false;
  s.ack = a;
  s.window = window;
  s.sack = std::move(sack);
  return s;
}

// A transfer of ten segments where the fourth is lost, SACKed around and retransmitted.
TimeSequenceGraph lossy_transfer() {
  TimeSequenceGraph g;
  g.title = "synack sim: <loss> & \"reorder\"";
  g.subtitle = "mtu 1500, delay 10 ms";
  PlotSegment syn = data(0, 0, 0);
  syn.syn = true;
  g.segments.push_back(syn);
  g.segments.push_back(ack(0.020, 1, 65535));
  for (uint32_t i = 0; i < 10; ++i) {
    PlotSegment s = data(0.020 + 0.001 * i, 1 + 1000 * uint64_t{i}, 1000);
    s.lost = i == 3;
    g.segments.push_back(s);
  }
  g.segments.push_back(ack(0.041, 3001, 65535));
  for (uint32_t i = 4; i < 10; ++i) {
    g.segments.push_back(
        ack(0.041 + 0.001 * i, 3001, 65535, {{4001, 4001 + 1000 * uint64_t{i - 3}}}));
  }
  g.segments.push_back(data(0.050, 3001, 1000, true));
  g.segments.push_back(ack(0.070, 10001, 65535));
  PlotSegment fin = data(0.071, 10001, 0);
  fin.fin = true;
  g.segments.push_back(fin);
  g.segments.push_back(ack(0.091, 10002, 65535));
  PlotSeries cwnd{.name = "cwnd", .points = {}};
  PlotSeries flight{.name = "bytes in flight", .points = {}};
  for (int i = 0; i <= 100; ++i) {
    const double t = 0.001 * i;
    cwnd.points.push_back({t, i < 50 ? 14600.0 : 7300.0});
    flight.points.push_back(
        {t, i == 60 ? std::optional<double>() : std::optional<double>(i * 100.0)});
  }
  g.series = {cwnd, flight};
  return g;
}

TEST(Plot, EmptyInputIsStillAWellFormedDocument) {
  const std::string svg = render_svg(TimeSequenceGraph{});
  EXPECT_TRUE(well_formed(svg));
  EXPECT_EQ(svg.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 0), 0u);
  EXPECT_NE(svg.find("no segments"), std::string::npos);
  EXPECT_EQ(count(svg, "class=\"seg\""), 0u);
  EXPECT_EQ(count(svg, "class=\"seg rexmit\""), 0u);
  EXPECT_EQ(count(svg, "class=\"panel\""), 1u);  // no series: no lower panel
  EXPECT_EQ(svg.find("ack-line"), std::string::npos);
}

TEST(Plot, DrawsEverySegmentAckWindowAndSack) {
  const TimeSequenceGraph g = lossy_transfer();
  const std::string svg = render_svg(g);
  ASSERT_TRUE(well_formed(svg));
  // SYN, ten data segments, the retransmission, FIN: one mark each; pure ACKs none.
  EXPECT_EQ(count(svg, "class=\"seg\""), 12u);
  EXPECT_EQ(count(svg, "class=\"seg rexmit\""), 1u);
  EXPECT_EQ(count(svg, "class=\"lost\""), 1u);
  EXPECT_EQ(count(svg, "class=\"sack\""), 6u);
  EXPECT_EQ(count(svg, "class=\"ack-line\""), 1u);
  EXPECT_EQ(count(svg, "class=\"window-line\""), 1u);
  // Retransmissions in red, the others not.
  const std::string rexmit = group(svg, "retransmissions");
  EXPECT_NE(rexmit.find("stroke=\"#d62728\""), std::string::npos);
  EXPECT_EQ(count(rexmit, "class=\"seg rexmit\""), 1u);
  const std::string plain = group(svg, "segments");
  EXPECT_EQ(plain.find("#d62728"), std::string::npos);
  EXPECT_EQ(count(plain, "class=\"seg\""), 12u);
  // The title is escaped, and shown; legends name what is drawn.
  EXPECT_NE(svg.find("synack sim: &lt;loss&gt; &amp; &quot;reorder&quot;"), std::string::npos);
  EXPECT_NE(svg.find("mtu 1500, delay 10 ms"), std::string::npos);
  for (const char* label : {"data segment", "retransmission", "lost on the path", "cumulative ACK",
                            "receive window edge", "SACK block", "cwnd", "bytes in flight"}) {
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  }
  EXPECT_NE(svg.find("time (ms)"), std::string::npos);
  EXPECT_NE(svg.find("relative sequence number (bytes)"), std::string::npos);
}

TEST(Plot, AxesCoverTheData) {
  const TimeSequenceGraph g = lossy_transfer();
  const std::string svg = render_svg(g);
  const size_t upper = svg.find("data-panel=\"time-sequence\"");
  const size_t lower = svg.find("data-panel=\"series\"");
  ASSERT_NE(upper, std::string::npos);
  ASSERT_NE(lower, std::string::npos);
  // Time in ms (the run is shorter than 2 s): 0 .. 100 ms at least.
  EXPECT_LE(attribute(svg, upper, "data-x-min"), 0);
  EXPECT_GE(attribute(svg, upper, "data-x-max"), 100);
  EXPECT_LT(attribute(svg, upper, "data-x-max"), 200);
  // Sequence numbers: the highest is the last ACK plus its window.
  EXPECT_LE(attribute(svg, upper, "data-y-min"), 0);
  EXPECT_GE(attribute(svg, upper, "data-y-max"), 10002 + 65535);
  EXPECT_LT(attribute(svg, upper, "data-y-max"), 2 * (10002 + 65535));
  EXPECT_EQ(attribute(svg, lower, "data-x-max"), attribute(svg, upper, "data-x-max"));
  EXPECT_EQ(attribute(svg, lower, "data-y-min"), 0);
  EXPECT_GE(attribute(svg, lower, "data-y-max"), 14600);
  // Tick labels on both axes: 20k steps of sequence numbers, ms of time.
  EXPECT_NE(svg.find(">20k</text>"), std::string::npos);
  EXPECT_NE(svg.find(">40</text>"), std::string::npos);
  // The series: two lines, the second broken where a value is missing (two subpaths).
  EXPECT_EQ(count(svg, "class=\"series\""), 2u);
  const size_t flight = svg.find("data-name=\"bytes in flight\"");
  ASSERT_NE(flight, std::string::npos);
  const std::string d = svg.substr(flight, svg.find("/>", flight) - flight);
  EXPECT_EQ(count(d, "M"), 2u);
}

TEST(Plot, SeriesWithoutValuesSaySo) {
  TimeSequenceGraph g;
  g.segments.push_back(data(1.5, 0, 100));
  g.series.push_back(
      PlotSeries{.name = "cwnd", .points = {{1.0, std::nullopt}, {3.0, std::nullopt}}});
  const std::string svg = render_svg(g);
  EXPECT_TRUE(well_formed(svg));
  EXPECT_NE(svg.find("cwnd (not available)"), std::string::npos);
  EXPECT_EQ(count(svg, "class=\"series\""), 0u);
  // Longer than two seconds: the axis is in seconds.
  EXPECT_NE(svg.find("time (s)"), std::string::npos);
  const size_t upper = svg.find("data-panel=\"time-sequence\"");
  EXPECT_LE(attribute(svg, upper, "data-x-min"), 1.0);
  EXPECT_GE(attribute(svg, upper, "data-x-max"), 3.0);
}

TEST(Plot, BandsShadeBothPanelsAndTheLegendWraps) {
  TimeSequenceGraph g = lossy_transfer();
  const std::string before = render_svg(g);
  g.bands.push_back({.start = 0.041, .end = 0.070, .label = "fast recovery", .color = "#f0a500"});
  g.bands.push_back({.start = 0.080, .end = 0.085, .label = "fast recovery", .color = "#f0a500"});
  g.bands.push_back({.start = 0.090, .end = 0.120, .label = "RTO recovery", .color = "#d62728"});
  const std::string svg = render_svg(g);
  ASSERT_TRUE(well_formed(svg));
  EXPECT_EQ(count(svg, "class=\"band\""), 6u);         // three bands, two panels
  EXPECT_EQ(count(svg, ">fast recovery</text>"), 1u);  // one legend entry per label
  EXPECT_EQ(count(svg, ">RTO recovery</text>"), 1u);
  // The bands reach past the data: the time axis covers them.
  const size_t upper = svg.find("data-panel=\"time-sequence\"");
  EXPECT_GE(attribute(svg, upper, "data-x-max"), 120);
  // The legend no longer fits one row: the panel moves down to make room.
  const size_t upper_before = before.find("data-panel=\"time-sequence\"");
  const double top_before = attribute(before, before.find("class=\"frame\"", upper_before), "y");
  const double top = attribute(svg, svg.find("class=\"frame\"", upper), "y");
  EXPECT_GT(top, top_before);
}

TEST(Plot, SeriesThatDoNotSetTheRangeAreClipped) {
  TimeSequenceGraph g;
  g.segments.push_back(data(0, 0, 1000));
  g.series.push_back(PlotSeries{.name = "cwnd", .points = {{0, 10000.0}, {0.1, 20000.0}}});
  g.series.push_back(
      PlotSeries{.name = "window", .sets_range = false, .points = {{0, 1e6}, {0.1, 1e6}}});
  std::string svg = render_svg(g);
  ASSERT_TRUE(well_formed(svg));
  const size_t lower = svg.find("data-panel=\"series\"");
  EXPECT_GE(attribute(svg, lower, "data-y-max"), 20000);
  EXPECT_LT(attribute(svg, lower, "data-y-max"), 1e5);
  EXPECT_NE(svg.find("clip-path=\"url(#lower-panel)\""), std::string::npos);
  EXPECT_EQ(count(svg, "class=\"series\""), 2u);
  // Without a value in the series that set the range, the others do.
  g.series[0].points = {{0, std::nullopt}};
  svg = render_svg(g);
  EXPECT_GE(attribute(svg, svg.find("data-panel=\"series\""), "data-y-max"), 1e6);
}

TEST(Plot, NiceAxes) {
  PlotAxis a = nice_axis(0, 0.93);
  EXPECT_DOUBLE_EQ(a.step, 0.2);
  EXPECT_DOUBLE_EQ(a.min, 0);
  EXPECT_NEAR(a.max, 1.0, 1e-12);
  a = nice_axis(3, 65537);
  EXPECT_DOUBLE_EQ(a.step, 10000);
  EXPECT_DOUBLE_EQ(a.min, 0);
  EXPECT_DOUBLE_EQ(a.max, 70000);
  a = nice_axis(0, 0);
  EXPECT_DOUBLE_EQ(a.min, 0);
  EXPECT_GT(a.max, 0);
  a = nice_axis(7, 7);
  EXPECT_LE(a.min, 7);
  EXPECT_GE(a.max, 7);
  EXPECT_LT(a.min, a.max);
  for (double hi : {0.3, 0.7, 1.1, 123.0, 1e9 + 1}) {
    a = nice_axis(0.1, hi);
    EXPECT_LE(a.min, 0.1) << hi;
    EXPECT_GE(a.max, hi) << hi;
  }
}

// --- The builder --------------------------------------------------------------------------

constexpr auto kA = wire::Ipv4Address::from_octets(10, 0, 0, 1);
constexpr auto kB = wire::Ipv4Address::from_octets(10, 0, 0, 2);

class Segments {
 public:
  wire::TcpView make(const wire::TcpRepr& r, bool from_sender) {
    buffers_.emplace_back(r.size());
    const auto pseudo = from_sender ? wire::PseudoHeader::ipv4(kA, kB, wire::ip_protocol::kTcp)
                                    : wire::PseudoHeader::ipv4(kB, kA, wire::ip_protocol::kTcp);
    r.emit(buffers_.back(), pseudo);
    auto v = wire::TcpView::parse(buffers_.back());
    EXPECT_TRUE(v.has_value());
    return *v;
  }

 private:
  std::vector<std::vector<std::byte>> buffers_;
};

TEST(TimeSequenceBuilder, RelativeUnwrappedScaledWithRetransmissions) {
  const uint32_t isn = 0xffff'fc00;  // wraps after 1024 bytes
  const uint32_t peer_isn = 77;
  Segments wire_segments;
  TimeSequenceBuilder b;
  std::vector<std::byte> payload(1000, std::byte{0x5a});

  wire::TcpRepr syn;
  syn.src_port = 40000;
  syn.dst_port = 9988;
  syn.seq = wire::SeqNum(isn);
  syn.flags = wire::TcpFlags(wire::TcpFlags::kSyn);
  syn.window = 65535;
  syn.options.window_scale = 7;
  syn.options.sack_permitted = true;
  b.add(0.0, wire_segments.make(syn, true), true);

  wire::TcpRepr synack;
  synack.src_port = 9988;
  synack.dst_port = 40000;
  synack.seq = wire::SeqNum(peer_isn);
  synack.ack = wire::SeqNum(isn + 1);
  synack.flags = wire::TcpFlags(wire::TcpFlags::kSyn);
  synack.window = 65535;  // not scaled in a SYN
  synack.options.window_scale = 2;
  synack.options.sack_permitted = true;
  b.add(0.02, wire_segments.make(synack, false), false);

  const auto data_at = [&](uint32_t offset) {
    wire::TcpRepr d;
    d.src_port = 40000;
    d.dst_port = 9988;
    d.seq = wire::SeqNum(isn + 1 + offset);
    d.ack = wire::SeqNum(peer_isn + 1);
    d.window = 1000;
    d.payload = payload;
    return d;
  };
  b.add(0.03, wire_segments.make(data_at(0), true), true);
  b.add(0.031, wire_segments.make(data_at(1000), true), true, /*lost=*/true);
  b.add(0.032, wire_segments.make(data_at(2000), true), true);

  wire::TcpRepr dupack;
  dupack.src_port = 9988;
  dupack.dst_port = 40000;
  dupack.seq = wire::SeqNum(peer_isn + 1);
  dupack.ack = wire::SeqNum(isn + 1 + 1000);
  dupack.window = 1000;  // << 2
  dupack.options.sack.push_back(
      wire::SackBlock{wire::SeqNum(isn + 1 + 2000), wire::SeqNum(isn + 1 + 3000)});
  b.add(0.05, wire_segments.make(dupack, false), false);
  b.add(0.06, wire_segments.make(data_at(1000), true), true);  // the retransmission

  const std::vector<PlotSegment>& s = b.segments();
  ASSERT_EQ(s.size(), 7u);
  EXPECT_TRUE(s[0].syn);
  EXPECT_EQ(s[0].seq, 0u);
  EXPECT_FALSE(s[0].retransmission);
  ASSERT_TRUE(s[1].ack.has_value());
  EXPECT_EQ(*s[1].ack, 1u);
  EXPECT_EQ(s[1].window, 65535u);  // a SYN's window is never scaled
  EXPECT_EQ(s[2].seq, 1u);
  EXPECT_EQ(s[3].seq, 1001u);  // across the wrap of the 32-bit sequence space
  EXPECT_TRUE(s[3].lost);
  EXPECT_EQ(s[4].seq, 2001u);
  EXPECT_FALSE(s[4].retransmission);
  EXPECT_EQ(*s[5].ack, 1001u);
  EXPECT_EQ(s[5].window, 4000u);
  ASSERT_EQ(s[5].sack.size(), 1u);
  EXPECT_EQ(s[5].sack[0].left, 2001u);
  EXPECT_EQ(s[5].sack[0].right, 3001u);
  EXPECT_EQ(s[6].seq, 1001u);
  EXPECT_TRUE(s[6].retransmission);

  TimeSequenceGraph g;
  g.segments = b.take();
  const std::string svg = render_svg(g);
  EXPECT_TRUE(well_formed(svg));
  EXPECT_EQ(count(svg, "class=\"seg\""), 4u);
  EXPECT_EQ(count(svg, "class=\"seg rexmit\""), 1u);
  EXPECT_EQ(count(svg, "class=\"sack\""), 1u);
}

TEST(TimeSequenceBuilder, MidStreamCaptureStartsAtTheFirstSequenceNumber) {
  Segments wire_segments;
  TimeSequenceBuilder b;
  std::vector<std::byte> payload(100);
  wire::TcpRepr d;
  d.src_port = 1;
  d.dst_port = 2;
  d.seq = wire::SeqNum(5000);
  d.ack = wire::SeqNum(1);
  d.window = 100;
  d.payload = payload;
  b.add(1.0, wire_segments.make(d, true), true);
  d.seq = wire::SeqNum(5100);
  b.add(1.1, wire_segments.make(d, true), true);
  wire::TcpRepr a;
  a.src_port = 2;
  a.dst_port = 1;
  a.seq = wire::SeqNum(1);
  a.ack = wire::SeqNum(5200);
  a.window = 300;  // no SYNs seen: not scaled
  b.add(1.2, wire_segments.make(a, false), false);
  const auto& s = b.segments();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].seq, 0u);
  EXPECT_EQ(s[1].seq, 100u);
  EXPECT_EQ(*s[2].ack, 200u);
  EXPECT_EQ(s[2].window, 300u);
}

}  // namespace
}  // namespace synack::trace
