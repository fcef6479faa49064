#include "synack/dev/pcap_tap.hpp"

#include <utility>

namespace synack::dev {

namespace {
constexpr int kDltRaw = 12;  // DLT_RAW: stored as LINKTYPE_RAW, packets begin with IP
}  // namespace

expected<PcapTap, std::string> PcapTap::open(const std::string& path, Duration epoch) {
  auto writer = trace::PcapWriter::open(path, kDltRaw);
  if (!writer) return unexpected(writer.error());
  return PcapTap(std::move(*writer), epoch);
}

PcapTap::PcapTap(trace::PcapWriter writer, Duration epoch)
    : writer_(std::move(writer)), epoch_(epoch) {}

void PcapTap::record(wire::Bytes packet, Instant at) {
  writer_.write(at + epoch_, packet);
  ++packets_;
  bytes_ += packet.size();
}

}  // namespace synack::dev
