#include "synack/trace/mermaid.hpp"

#include <fmt/format.h>

#include <string_view>

namespace synack::trace {

std::string mermaid_segment_label(const wire::TcpView& seg, uint32_t sender_isn,
                                  uint32_t receiver_isn) {
  const wire::TcpFlags flags = seg.flags();
  std::string label;
  const auto flag = [&label](bool on, std::string_view name) {
    if (!on) return;
    if (!label.empty()) label += '-';
    label += name;
  };
  flag(flags.syn(), "SYN");
  flag(flags.fin(), "FIN");
  flag(flags.rst(), "RST");
  flag(flags.psh(), "PSH");
  flag(flags.urg(), "URG");
  flag(flags.ack(), "ACK");
  if (label.empty()) label = "none";
  label += fmt::format(" seq={}", seg.seq().value() - sender_isn);
  if (flags.ack()) label += fmt::format(" ack={}", seg.ack_number().value() - receiver_isn);
  if (!seg.payload().empty()) label += fmt::format(" len={}", seg.payload().size());
  return label;
}

}  // namespace synack::trace
