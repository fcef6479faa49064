// Time-sequence graphs of one TCP stream, as tcptrace draws them for xplot, rendered as one
// self-contained SVG (no scripts, no external files, no fonts beyond the generic family).
//
//   trace::TimeSequenceBuilder b;                  // one direction of one connection
//   b.add(t, tcp_view, /*from_sender=*/true);      // every segment, both directions, in order
//   trace::TimeSequenceGraph g{.title = "...", .segments = b.take()};
//   g.series.push_back({.name = "cwnd", .points = ...});   // optional lower panel
//   std::string svg = trace::render_svg(g);
//
// The upper panel: x is time, y the data sender's sequence number relative to its ISN
// (its SYN is 0), in bytes. Each segment the sender sends is a vertical bar from seq to
// seq + len with a tick at each end (a SYN or FIN without data counts one byte);
// retransmissions are red and thicker (with an "R" beside each while there are at most
// 200), segments the path lost (when the capture knows it, as the simulator does) get a
// cross. The receiver's segments draw the cumulative ACK as a
// stepped green line, the right edge of its receive window (ACK + window) as a stepped
// gold line, and each SACK block as a purple bar over its range at the time of the ACK.
// The lower panel (when there are series) shares the time axis: named series in bytes
// (cwnd, bytes in flight, ...), stepped, with gaps where a value is absent. Bands shade
// stretches of time (loss recovery) in both panels.
//
// The input is plain data, so the same renderer draws a simulation or a capture.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "synack/wire/seq.hpp"
#include "synack/wire/tcp.hpp"

namespace synack::trace {

// [left, right) in relative sequence numbers.
struct PlotSackBlock {
  uint64_t left = 0;
  uint64_t right = 0;
};

// One segment. Sequence numbers are in the data sender's sequence space, relative to its
// ISN and unwrapped (64 bits), for the receiver's ACKs and SACK blocks as well.
struct PlotSegment {
  double time = 0;                  // seconds
  bool from_sender = true;          // the data sender's; false: the receiver's
  uint64_t seq = 0;                 // sender: first sequence number
  uint32_t len = 0;                 // sender: payload bytes
  bool syn = false;                 // sender: SYN (occupies one sequence number)
  bool fin = false;                 // sender: FIN (occupies one sequence number)
  bool retransmission = false;      // sender: covers sequence space sent before
  bool lost = false;                // dropped on the path (a capture point may not know)
  std::optional<uint64_t> ack;      // receiver: the cumulative ACK, when the ACK flag is set
  uint64_t window = 0;              // receiver: the advertised window in bytes (scaled)
  std::vector<PlotSackBlock> sack;  // receiver: SACK blocks
};

struct PlotPoint {
  double time = 0;              // seconds
  std::optional<double> value;  // absent: a gap in the line
};

// A line in the lower panel.
struct PlotSeries {
  std::string name;   // in the legend
  std::string color;  // an SVG colour; empty: one of a fixed palette, by position
  bool dashed = false;
  // Whether the panel's y range covers this series; one that does not (a receive window far
  // above cwnd, say) is drawn clipped to the panel. When no such series has a value, all
  // of them set the range.
  bool sets_range = true;
  std::vector<PlotPoint> points;  // in time order
};

// A stretch of time shaded in both panels (a loss recovery episode, say).
struct PlotBand {
  double start = 0;   // seconds
  double end = 0;     // seconds
  std::string label;  // in the legend, once per distinct label
  std::string color;  // an SVG colour
};

struct TimeSequenceGraph {
  std::string title;     // first line above the graph
  std::string subtitle;  // second line (parameters); may be empty
  std::vector<PlotSegment> segments;
  std::string series_label = "bytes";  // the lower panel's y axis
  std::vector<PlotSeries> series;      // none: no lower panel
  std::vector<PlotBand> bands;
};

// An axis from `min` to `max` with ticks every `step` (1, 2 or 5 times a power of ten),
// min and max multiples of step, covering [lo, hi]; lo == hi gets a range around it.
struct PlotAxis {
  double min = 0;
  double max = 1;
  double step = 0.1;
};
PlotAxis nice_axis(double lo, double hi, int target_ticks = 8);

// The SVG document (UTF-8, starting with the XML declaration). Every element it draws for
// data carries a class: "seg" (a sender's segment), "rexmit" (a retransmitted one),
// "lost" (the cross on a lost one), "sack", "ack-line", "window-line", "series", "band"; each
// panel is a <g class="panel"> with data-x-min, data-x-max, data-y-min and data-y-max.
std::string render_svg(const TimeSequenceGraph& graph);

// Turns one direction of one connection, segment by segment as a capture point sees them,
// into PlotSegments: relative, unwrapped sequence numbers (the ISN from the sender's SYN,
// else the first sequence number seen), windows scaled as the SYNs negotiated (RFC 7323),
// retransmissions found as tcptrace finds them (sequence space below the highest sent).
class TimeSequenceBuilder {
 public:
  // `from_sender`: the segment travels from the data sender to the receiver.
  void add(double time, const wire::TcpView& seg, bool from_sender, bool lost = false);
  const std::vector<PlotSegment>& segments() const { return segments_; }
  std::vector<PlotSegment> take() { return std::move(segments_); }

 private:
  uint64_t relative(wire::SeqNum s);

  std::vector<PlotSegment> segments_;
  std::optional<wire::SeqNum> base_;  // the sender's ISN (relative 0)
  uint64_t last_ = 0;                 // the last relative number, to unwrap from
  std::optional<uint64_t> sent_end_;  // relative end of the highest sequence space sent
  std::optional<uint8_t> sender_wscale_;
  std::optional<uint8_t> receiver_wscale_;
  bool sender_syn_seen_ = false;
  bool receiver_syn_seen_ = false;
  bool sender_synack_seen_ = false;
};

}  // namespace synack::trace
