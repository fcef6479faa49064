#include "synack/trace/plot.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <string_view>

#include "synack/markup.hpp"
#include "synack/wire/tcp_options.hpp"

namespace synack::trace {

// --- Building segments from a capture -------------------------------------------------------

uint64_t TimeSequenceBuilder::relative(wire::SeqNum s) {
  // Unwrapped against the highest number so far: a step of less than 2^31 either way.
  const wire::SeqNum reference = *base_ + wire::SeqLen(static_cast<uint32_t>(last_));
  const int64_t v = static_cast<int64_t>(last_) + wire::seq_diff(s, reference);
  if (v < 0) return 0;  // before the ISN: only a capture that started mid-stream
  const auto u = static_cast<uint64_t>(v);
  last_ = std::max(last_, u);
  return u;
}

void TimeSequenceBuilder::add(double time, const wire::TcpView& seg, bool from_sender, bool lost) {
  const wire::TcpFlags flags = seg.flags();
  auto parsed = wire::TcpOptions::parse(seg.options());
  const wire::TcpOptions options = parsed ? *parsed : wire::TcpOptions{};
  if (flags.syn()) {
    if (from_sender) {
      if (!sender_syn_seen_) {
        base_ = seg.seq();
        last_ = 0;
        sent_end_.reset();
      }
      sender_syn_seen_ = true;
      sender_wscale_ = options.window_scale;
    } else {
      receiver_syn_seen_ = true;
      receiver_wscale_ = options.window_scale;
    }
  }
  if (!base_) {
    if (from_sender) {
      base_ = seg.seq();
    } else if (flags.ack()) {
      base_ = seg.ack_number();
    } else {
      return;  // nothing to place yet
    }
  }
  PlotSegment p;
  p.time = time;
  p.from_sender = from_sender;
  p.lost = lost;
  if (from_sender) {
    p.seq = relative(seg.seq());
    p.len = static_cast<uint32_t>(seg.payload().size());
    p.syn = flags.syn();
    p.fin = flags.fin();
    const uint64_t seg_len = uint64_t{p.len} + (p.syn ? 1 : 0) + (p.fin ? 1 : 0);
    // The SYN-ACK of a simultaneous open answers the peer's SYN with our SYN again: not a
    // retransmission the first time.
    const bool first_synack = flags.syn() && flags.ack() && !sender_synack_seen_;
    if (flags.syn() && flags.ack()) sender_synack_seen_ = true;
    if (seg_len > 0) {
      p.retransmission = sent_end_ && p.seq < *sent_end_ && !first_synack;
      sent_end_ = std::max(sent_end_.value_or(0), p.seq + seg_len);
    }
  } else {
    if (flags.ack()) p.ack = relative(seg.ack_number());
    // RFC 7323 §2.2: a window is scaled only when both SYNs carried the option, never in a
    // SYN; the shift is at most 14 (§2.3).
    unsigned shift = 0;
    if (!flags.syn() && sender_wscale_ && receiver_wscale_) {
      shift = std::min<unsigned>(*receiver_wscale_, 14);
    }
    p.window = uint64_t{seg.window()} << shift;
    for (const wire::SackBlock& b : options.sack) {
      p.sack.push_back(PlotSackBlock{relative(b.left), relative(b.right)});
    }
  }
  segments_.push_back(std::move(p));
}

// --- Axes -------------------------------------------------------------------------------------

PlotAxis nice_axis(double lo, double hi, int target_ticks) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return PlotAxis{};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    hi = lo + pad;
    if (lo != 0) lo -= pad;
  }
  const double raw = (hi - lo) / std::max(target_ticks, 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  const double step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * magnitude;
  PlotAxis a;
  a.step = step;
  a.min = std::floor(lo / step) * step;
  if (a.min > lo) a.min -= step;
  a.max = std::ceil(hi / step) * step;
  if (a.max < hi) a.max += step;
  if (a.max <= a.min) a.max = a.min + step;
  return a;
}

namespace {

// --- SVG pieces -------------------------------------------------------------------------------

constexpr double kWidth = 1000;
constexpr double kLeft = 84;
constexpr double kRight = 24;
constexpr double kPlotWidth = kWidth - kLeft - kRight;
constexpr double kLegendTop = 70;  // the first legend row's baseline
constexpr double kLegendRow = 16;
constexpr double kUpperHeight = 440;
constexpr double kLowerGap = 70;  // from the upper panel's bottom to its legend's first row
constexpr double kLowerHeight = 170;
constexpr double kBottom = 48;
constexpr size_t kMaxRetransmissionLabels =
    200;  // below the last panel: tick labels and the axis label

constexpr std::string_view kSegmentColor = "#1f3a93";
constexpr std::string_view kRetransmitColor = "#d62728";
constexpr std::string_view kLostColor = "#000000";
constexpr std::string_view kAckColor = "#2ca02c";
constexpr std::string_view kWindowColor = "#d4a017";
constexpr std::string_view kSackColor = "#9467bd";
constexpr std::string_view kPalette[] = {"#ff7f0e", "#1f77b4", "#7f7f7f", "#8c564b",
                                         "#17becf", "#e377c2", "#bcbd22"};

void escape_to(std::string& out, std::string_view s) {
  append_escaped(out, s, Markup::kXml);
}

std::string escaped(std::string_view s) {
  std::string out;
  escape_to(out, s);
  return out;
}

// Decimals enough to tell ticks `step` apart.
int decimals_for(double step) {
  if (step >= 1) return 0;
  return std::clamp(static_cast<int>(std::ceil(-std::log10(step) - 1e-9)), 0, 9);
}

std::string format_number(double v, double step) {
  if (std::fabs(v) < step * 1e-6) v = 0;  // no "-0"
  return fmt::format("{:.{}f}", v, decimals_for(step));
}

// Byte counts on an axis: 1500, 20k, 1.5M, 2G (powers of 1000).
std::string format_bytes_tick(double v, double step, double axis_max) {
  if (std::fabs(v) < step * 1e-6) return "0";
  if (axis_max >= 1e9 && step >= 1e7) return format_number(v / 1e9, step / 1e9) + "G";
  if (axis_max >= 1e6 && step >= 1e4) return format_number(v / 1e6, step / 1e6) + "M";
  if (axis_max >= 1e4 && step >= 100) return format_number(v / 1e3, step / 1e3) + "k";
  return format_number(v, step);
}

// Maps data to pixels within one panel.
struct Frame {
  PlotAxis x;
  PlotAxis y;
  double time_scale = 1;  // seconds to x units (1 or 1000)
  double top = 0;
  double height = 0;

  double px(double t) const {
    return kLeft + (t * time_scale - x.min) / (x.max - x.min) * kPlotWidth;
  }
  double py(double v) const { return top + height - (v - y.min) / (y.max - y.min) * height; }
};

class Svg {
 public:
  template <class... Args>
  void add(fmt::format_string<Args...> f, Args&&... args) {
    fmt::format_to(std::back_inserter(out_), f, std::forward<Args>(args)...);
  }
  void raw(std::string_view s) { out_.append(s.data(), s.data() + s.size()); }
  std::string take() { return std::string(out_.data(), out_.size()); }

 private:
  fmt::memory_buffer out_;
};

// A coordinate, printed with one decimal: enough for a screen, and small files.
struct Px {
  double v;
};

}  // namespace
}  // namespace synack::trace

template <>
struct fmt::formatter<synack::trace::Px> : fmt::formatter<double> {
  auto format(synack::trace::Px p, format_context& ctx) const {
    const double r = std::round(p.v * 10) / 10;  // one decimal: enough for a screen
    return fmt::format_to(ctx.out(), "{}", r == 0 ? 0.0 : r);
  }
};

namespace synack::trace {
namespace {

void draw_axes(Svg& svg, const Frame& f, bool bytes, const std::string& x_label,
               const std::string& y_label) {
  const double bottom = f.top + f.height;
  svg.add("<g class=\"grid\" stroke=\"#e4e4e4\" stroke-width=\"1\">\n");
  for (int i = 0;; ++i) {
    const double v = f.x.min + i * f.x.step;
    if (v > f.x.max + f.x.step * 1e-6) break;
    const double x = kLeft + (v - f.x.min) / (f.x.max - f.x.min) * kPlotWidth;
    svg.add("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>\n", Px{x}, Px{f.top}, Px{x},
            Px{bottom});
  }
  for (int i = 0;; ++i) {
    const double v = f.y.min + i * f.y.step;
    if (v > f.y.max + f.y.step * 1e-6) break;
    svg.add("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>\n", Px{kLeft}, Px{f.py(v)},
            Px{kLeft + kPlotWidth}, Px{f.py(v)});
  }
  svg.add("</g>\n");
  svg.add(
      "<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
      "stroke=\"#333333\"/>\n",
      Px{kLeft}, Px{f.top}, Px{kPlotWidth}, Px{f.height});
  svg.add("<g class=\"ticks\" font-size=\"11\" fill=\"#333333\">\n");
  for (int i = 0;; ++i) {
    const double v = f.x.min + i * f.x.step;
    if (v > f.x.max + f.x.step * 1e-6) break;
    const double x = kLeft + (v - f.x.min) / (f.x.max - f.x.min) * kPlotWidth;
    svg.add("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", Px{x}, Px{bottom + 15},
            format_number(v, f.x.step));
  }
  for (int i = 0;; ++i) {
    const double v = f.y.min + i * f.y.step;
    if (v > f.y.max + f.y.step * 1e-6) break;
    svg.add("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", Px{kLeft - 6},
            Px{f.py(v) + 4},
            bytes ? format_bytes_tick(v, f.y.step, f.y.max) : format_number(v, f.y.step));
  }
  svg.add("</g>\n");
  svg.add("<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">{}</text>\n",
          Px{kLeft + kPlotWidth / 2}, Px{bottom + 32}, escaped(x_label));
  svg.add(
      "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" "
      "transform=\"rotate(-90 {} {})\">{}</text>\n",
      Px{16}, Px{f.top + f.height / 2}, Px{16}, Px{f.top + f.height / 2}, escaped(y_label));
}

struct LegendItem {
  std::string label;
  std::string_view color;
  enum class Mark : uint8_t { kBar, kLine, kDashed, kCross, kBox } mark = LegendItem::Mark::kLine;
};

double legend_width(const LegendItem& item) {
  return 24 + 6.2 * static_cast<double>(item.label.size()) + 18;
}

// Rows the legend takes: items left to right, wrapping at the panel's width.
size_t legend_rows(const std::vector<LegendItem>& items) {
  size_t rows = 1;
  double x = kLeft;
  for (const LegendItem& item : items) {
    if (x > kLeft && x + legend_width(item) - 18 > kLeft + kPlotWidth) {
      ++rows;
      x = kLeft;
    }
    x += legend_width(item);
  }
  return rows;
}

void draw_legend(Svg& svg, double first_baseline, const std::vector<LegendItem>& items) {
  svg.add("<g class=\"legend\" font-size=\"11\">\n");
  double x = kLeft;
  double y = first_baseline;
  for (const LegendItem& item : items) {
    if (x > kLeft && x + legend_width(item) - 18 > kLeft + kPlotWidth) {
      x = kLeft;
      y += kLegendRow;
    }
    switch (item.mark) {
      case LegendItem::Mark::kBox:
        svg.add(
            "<rect x=\"{}\" y=\"{}\" width=\"18\" height=\"11\" fill=\"{}\" "
            "fill-opacity=\"0.3\"/>\n",
            Px{x}, Px{y - 8}, item.color);
        break;
      case LegendItem::Mark::kBar:
        svg.add(
            "<path d=\"M{} {}V{}M{} {}h6M{} {}h6\" stroke=\"{}\" stroke-width=\"1.5\" "
            "fill=\"none\"/>\n",
            Px{x + 8}, Px{y + 5}, Px{y - 7}, Px{x + 5}, Px{y + 5}, Px{x + 5}, Px{y - 7},
            item.color);
        break;
      case LegendItem::Mark::kLine:
      case LegendItem::Mark::kDashed:
        svg.add("<path d=\"M{} {}h18\" stroke=\"{}\" stroke-width=\"2\" fill=\"none\"{}/>\n", Px{x},
                Px{y - 1}, item.color,
                item.mark == LegendItem::Mark::kDashed ? " stroke-dasharray=\"5 3\"" : "");
        break;
      case LegendItem::Mark::kCross:
        svg.add("<path d=\"M{} {}l7 7m0 -7l-7 7\" stroke=\"{}\" stroke-width=\"1.5\"/>\n",
                Px{x + 5}, Px{y - 5}, item.color);
        break;
    }
    svg.add("<text x=\"{}\" y=\"{}\">{}</text>\n", Px{x + 24}, Px{y + 3}, escaped(item.label));
    x += legend_width(item);
  }
  svg.add("</g>\n");
}

double round1(double v) {
  return std::round(v * 10) / 10;
}

// A stepped line through (time, value) points: each value holds until the next point (the
// last one until the end of its piece of line).
class StepPath {
 public:
  explicit StepPath(const Frame& f) : f_(f) {}
  void point(double t, double v) {
    const double x = round1(f_.px(t));
    const double y = round1(f_.py(v));
    if (!down_) {
      svg_.add("M{} {}", Px{x}, Px{y});
      down_ = true;
      drawn_x_ = x;
    } else if (y != last_y_) {
      svg_.add("H{}V{}", Px{x}, Px{y});
      drawn_x_ = x;
    }
    last_y_ = y;
    last_x_ = x;
  }
  // Holds the last value until `t`.
  void hold(double t) {
    if (!down_) return;
    last_x_ = std::max(last_x_, round1(f_.px(t)));
    finish_piece();
  }
  // The next point starts a new piece of line.
  void gap() {
    finish_piece();
    down_ = false;
  }
  std::string take() {
    finish_piece();
    return svg_.take();
  }

 private:
  void finish_piece() {
    if (down_ && last_x_ > drawn_x_) {
      svg_.add("H{}", Px{last_x_});
      drawn_x_ = last_x_;
    }
  }

  const Frame& f_;
  Svg svg_;
  bool down_ = false;
  double last_y_ = 0;
  double last_x_ = 0;   // of the last point
  double drawn_x_ = 0;  // where the path has got to
};

// Shaded stretches of time over the whole height of a panel.
void draw_bands(Svg& svg, const Frame& f, const std::vector<PlotBand>& bands) {
  if (bands.empty()) return;
  svg.add("<g class=\"bands\" fill-opacity=\"0.18\">\n");
  for (const PlotBand& b : bands) {
    const double x1 = f.px(std::min(b.start, b.end));
    const double x2 = f.px(std::max(b.start, b.end));
    svg.add("<rect class=\"band\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\n",
            Px{x1}, Px{f.top}, Px{std::max(x2 - x1, 1.0)}, Px{f.height}, escaped(b.color));
  }
  svg.add("</g>\n");
}

std::string time_label(double time_scale) {
  return time_scale == 1000 ? "time (ms)" : "time (s)";
}

}  // namespace

std::string render_svg(const TimeSequenceGraph& g) {
  // --- Ranges ---
  constexpr double kInf = std::numeric_limits<double>::infinity();
  double t_lo = kInf;
  double t_hi = -kInf;
  double s_lo = kInf;
  double s_hi = -kInf;
  const auto seq_range = [&](double v) {
    s_lo = std::min(s_lo, v);
    s_hi = std::max(s_hi, v);
  };
  size_t lost = 0;
  for (const PlotSegment& s : g.segments) {
    t_lo = std::min(t_lo, s.time);
    t_hi = std::max(t_hi, s.time);
    if (s.from_sender) {
      const uint64_t span = uint64_t{s.len} + (s.syn ? 1 : 0) + (s.fin ? 1 : 0);
      if (span == 0) continue;
      seq_range(static_cast<double>(s.seq));
      seq_range(static_cast<double>(s.seq + span));
      if (s.lost) ++lost;
    } else {
      if (s.ack) {
        seq_range(static_cast<double>(*s.ack));
        seq_range(static_cast<double>(*s.ack + s.window));
      }
      for (const PlotSackBlock& b : s.sack) {
        seq_range(static_cast<double>(b.left));
        seq_range(static_cast<double>(b.right));
      }
    }
  }
  // The lower panel's range: the series that set it, else all of them (when those have no
  // values); time from every series.
  double v_hi = 0;
  double v_hi_all = 0;
  for (const PlotSeries& series : g.series) {
    for (const PlotPoint& p : series.points) {
      t_lo = std::min(t_lo, p.time);
      t_hi = std::max(t_hi, p.time);
      if (!p.value) continue;
      v_hi_all = std::max(v_hi_all, *p.value);
      if (series.sets_range) v_hi = std::max(v_hi, *p.value);
    }
  }
  if (v_hi == 0) v_hi = v_hi_all;

  for (const PlotBand& b : g.bands) {
    t_lo = std::min({t_lo, b.start, b.end});
    t_hi = std::max({t_hi, b.start, b.end});
  }
  if (!(t_lo <= t_hi)) t_lo = t_hi = 0;
  if (!(s_lo <= s_hi)) s_lo = s_hi = 0;
  const double time_scale = t_hi - t_lo < 2 ? 1000 : 1;

  // --- Legends, then the layout they leave ---
  std::vector<LegendItem> legend{
      {"data segment", kSegmentColor, LegendItem::Mark::kBar},
      {"retransmission", kRetransmitColor, LegendItem::Mark::kBar},
  };
  if (lost > 0) legend.push_back({"lost on the path", kLostColor, LegendItem::Mark::kCross});
  legend.push_back({"cumulative ACK", kAckColor, LegendItem::Mark::kLine});
  legend.push_back({"receive window edge (ACK + window)", kWindowColor, LegendItem::Mark::kLine});
  legend.push_back({"SACK block", kSackColor, LegendItem::Mark::kBar});
  std::vector<std::string_view> band_labels;
  for (const PlotBand& b : g.bands) {
    if (std::find(band_labels.begin(), band_labels.end(), b.label) != band_labels.end()) continue;
    band_labels.push_back(b.label);
    legend.push_back({b.label, b.color, LegendItem::Mark::kBox});
  }
  std::vector<LegendItem> lower_legend;
  std::vector<std::string_view> colors;
  for (size_t i = 0; i < g.series.size(); ++i) {
    const PlotSeries& series = g.series[i];
    const std::string_view color =
        series.color.empty() ? kPalette[i % std::size(kPalette)] : std::string_view(series.color);
    colors.push_back(color);
    const bool any = std::any_of(series.points.begin(), series.points.end(),
                                 [](const PlotPoint& p) { return p.value.has_value(); });
    lower_legend.push_back({any ? series.name : series.name + " (not available)", color,
                            series.dashed ? LegendItem::Mark::kDashed : LegendItem::Mark::kLine});
  }

  Frame upper;
  upper.time_scale = time_scale;
  upper.x = nice_axis(t_lo * time_scale, t_hi * time_scale);
  upper.y = nice_axis(s_lo, s_hi);
  upper.top = kLegendTop + static_cast<double>(legend_rows(legend) - 1) * kLegendRow + 14;
  upper.height = kUpperHeight;
  const bool has_lower = !g.series.empty();
  Frame lower = upper;
  lower.y = nice_axis(0, v_hi, 5);
  const double lower_legend_top = upper.top + upper.height + kLowerGap;
  lower.top =
      lower_legend_top + static_cast<double>(legend_rows(lower_legend) - 1) * kLegendRow + 14;
  lower.height = kLowerHeight;
  const double height = (has_lower ? lower.top + lower.height : upper.top + upper.height) + kBottom;

  Svg svg;
  svg.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  svg.add(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" font-family=\"sans-serif\">\n",
      kWidth, height, kWidth, height);
  svg.add("<title>{}</title>\n", escaped(g.title));
  svg.add("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
  svg.add("<text x=\"{}\" y=\"24\" font-size=\"15\" font-weight=\"bold\">{}</text>\n", Px{kLeft},
          escaped(g.title));
  if (!g.subtitle.empty()) {
    svg.add("<text x=\"{}\" y=\"43\" font-size=\"11.5\" fill=\"#444444\">{}</text>\n", Px{kLeft},
            escaped(g.subtitle));
  }

  // --- The time-sequence panel ---
  draw_legend(svg, kLegendTop, legend);

  svg.add(
      "<g class=\"panel\" data-panel=\"time-sequence\" data-x-min=\"{}\" data-x-max=\"{}\" "
      "data-y-min=\"{}\" data-y-max=\"{}\">\n",
      upper.x.min, upper.x.max, upper.y.min, upper.y.max);
  draw_axes(svg, upper, true, time_label(time_scale), "relative sequence number (bytes)");
  draw_bands(svg, upper, g.bands);
  if (g.segments.empty()) {
    svg.add(
        "<text x=\"{}\" y=\"{}\" font-size=\"13\" text-anchor=\"middle\" "
        "fill=\"#777777\">no segments</text>\n",
        Px{kLeft + kPlotWidth / 2}, Px{upper.top + upper.height / 2});
  }

  // The receiver's lines: the window edge under the ACK line.
  StepPath ack_line(upper);
  StepPath window_line(upper);
  for (const PlotSegment& s : g.segments) {
    if (s.from_sender || !s.ack) continue;
    ack_line.point(s.time, static_cast<double>(*s.ack));
    window_line.point(s.time, static_cast<double>(*s.ack + s.window));
  }
  ack_line.hold(t_hi);
  window_line.hold(t_hi);
  if (std::string d = window_line.take(); !d.empty()) {
    svg.add(
        "<path class=\"window-line\" d=\"{}\" stroke=\"{}\" stroke-width=\"1.5\" "
        "fill=\"none\"/>\n",
        d, kWindowColor);
  }
  if (std::string d = ack_line.take(); !d.empty()) {
    svg.add(
        "<path class=\"ack-line\" d=\"{}\" stroke=\"{}\" stroke-width=\"1.5\" fill=\"none\"/>\n", d,
        kAckColor);
  }

  const auto bar = [&](std::string_view cls, double t, double lo, double hi) {
    const double x = upper.px(t);
    const double y1 = upper.py(lo);
    const double y2 = upper.py(hi);
    svg.add("<path class=\"{}\" d=\"M{} {}V{}M{} {}h4M{} {}h4\"/>\n", cls, Px{x}, Px{y1}, Px{y2},
            Px{x - 2}, Px{y1}, Px{x - 2}, Px{y2});
  };
  svg.add("<g class=\"sacks\" stroke=\"{}\" stroke-width=\"1.5\" fill=\"none\">\n", kSackColor);
  for (const PlotSegment& s : g.segments) {
    if (s.from_sender) continue;
    for (const PlotSackBlock& b : s.sack) {
      bar("sack", s.time, static_cast<double>(b.left), static_cast<double>(b.right));
    }
  }
  svg.add("</g>\n");
  // Retransmissions on top, thicker; labelled "R" as tcptrace does while there are few
  // enough of them to read.
  size_t retransmitted = 0;
  for (const bool retransmissions : {false, true}) {
    svg.add("<g class=\"{}\" stroke=\"{}\" stroke-width=\"{}\" fill=\"none\">\n",
            retransmissions ? "retransmissions" : "segments",
            retransmissions ? kRetransmitColor : kSegmentColor, retransmissions ? 2.2 : 1.2);
    for (const PlotSegment& s : g.segments) {
      if (!s.from_sender || s.retransmission != retransmissions) continue;
      const uint64_t span = uint64_t{s.len} + (s.syn ? 1 : 0) + (s.fin ? 1 : 0);
      if (span == 0) continue;
      bar(retransmissions ? "seg rexmit" : "seg", s.time, static_cast<double>(s.seq),
          static_cast<double>(s.seq + span));
      if (retransmissions) ++retransmitted;
    }
    svg.add("</g>\n");
  }
  if (retransmitted > 0 && retransmitted <= kMaxRetransmissionLabels) {
    svg.add("<g class=\"rexmit-labels\" font-size=\"10\" fill=\"{}\">\n", kRetransmitColor);
    for (const PlotSegment& s : g.segments) {
      const uint64_t span = uint64_t{s.len} + (s.syn ? 1 : 0) + (s.fin ? 1 : 0);
      if (!s.from_sender || !s.retransmission || span == 0) continue;
      svg.add("<text x=\"{}\" y=\"{}\">R</text>\n", Px{upper.px(s.time) + 3},
              Px{upper.py(static_cast<double>(s.seq)) + 4});
    }
    svg.add("</g>\n");
  }
  if (lost > 0) {
    svg.add("<g class=\"losses\" stroke=\"{}\" stroke-width=\"1.2\" fill=\"none\">\n", kLostColor);
    for (const PlotSegment& s : g.segments) {
      const uint64_t span = uint64_t{s.len} + (s.syn ? 1 : 0) + (s.fin ? 1 : 0);
      if (!s.from_sender || !s.lost || span == 0) continue;
      const double x = upper.px(s.time);
      const double y = upper.py(static_cast<double>(s.seq + span));
      svg.add("<path class=\"lost\" d=\"M{} {}l6 6m0 -6l-6 6\"/>\n", Px{x - 3}, Px{y - 9});
    }
    svg.add("</g>\n");
  }
  svg.add("</g>\n");

  // --- The lower panel ---
  if (has_lower) {
    draw_legend(svg, lower_legend_top, lower_legend);
    svg.add(
        "<g class=\"panel\" data-panel=\"series\" data-x-min=\"{}\" data-x-max=\"{}\" "
        "data-y-min=\"{}\" data-y-max=\"{}\">\n",
        lower.x.min, lower.x.max, lower.y.min, lower.y.max);
    draw_axes(svg, lower, true, time_label(time_scale), g.series_label);
    draw_bands(svg, lower, g.bands);
    // Series that do not set the range may leave it: clipped to the panel.
    svg.add(
        "<defs><clipPath id=\"lower-panel\"><rect x=\"{}\" y=\"{}\" width=\"{}\" "
        "height=\"{}\"/></clipPath></defs>\n",
        Px{kLeft}, Px{lower.top - 1}, Px{kPlotWidth}, Px{lower.height + 2});
    svg.add("<g clip-path=\"url(#lower-panel)\">\n");
    for (size_t i = 0; i < g.series.size(); ++i) {
      const PlotSeries& series = g.series[i];
      StepPath path(lower);
      for (const PlotPoint& p : series.points) {
        if (p.value) {
          path.point(p.time, *p.value);
        } else {
          path.gap();
        }
      }
      if (std::string d = path.take(); !d.empty()) {
        svg.add(
            "<path class=\"series\" data-name=\"{}\" d=\"{}\" stroke=\"{}\" "
            "stroke-width=\"1.5\" fill=\"none\"{}/>\n",
            escaped(series.name), d, colors[i], series.dashed ? " stroke-dasharray=\"5 3\"" : "");
      }
    }
    svg.add("</g>\n</g>\n");
  }
  svg.add("</svg>\n");
  return svg.take();
}

}  // namespace synack::trace
