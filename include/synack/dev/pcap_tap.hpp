// PcapTap: records the packets a device sends and receives into a raw-IP pcap file, with
// their Instants, so a run (simulated or real) opens in tcpdump, tshark and Wireshark.
#pragma once

#include <cstdint>
#include <string>

#include "synack/expected.hpp"
#include "synack/time.hpp"
#include "synack/trace/pcap.hpp"
#include "synack/wire/bytes.hpp"

namespace synack::dev {

// Which packets a tap attached to one end of a device records.
enum class TapPoint : uint8_t {
  kSent = 1,       // the packets this end sends, when it sends them
  kDelivered = 2,  // the packets delivered to this end, when they arrive
  kBoth = 3,       // both: what tcpdump on this end's interface would show
};

constexpr bool records_sent(TapPoint p) {
  return (static_cast<uint8_t>(p) & static_cast<uint8_t>(TapPoint::kSent)) != 0;
}
constexpr bool records_delivered(TapPoint p) {
  return (static_cast<uint8_t>(p) & static_cast<uint8_t>(TapPoint::kDelivered)) != 0;
}

// A pcap sink for IP packets (LINKTYPE_RAW). The driver of a device calls record() for
// each packet it sends and each it receives (MemLink does that itself for a tap attached
// to it). A packet's timestamp is its Instant plus `epoch`: real devices use Unix-epoch
// Instants and epoch 0; a simulation's Instants count from 0, and kSimulationEpoch makes
// its captures show a plausible, fixed date (so the same run gives the same file).
class PcapTap {
 public:
  // 2024-01-01 00:00:00 UTC, as microseconds since the Unix epoch.
  static constexpr Duration kSimulationEpoch = Duration::seconds(1'704'067'200);

  // Creates (truncates) a raw-IP capture at `path`.
  static expected<PcapTap, std::string> open(const std::string& path, Duration epoch = {});
  // Records into an open writer, which should have link type DLT_RAW.
  explicit PcapTap(trace::PcapWriter writer, Duration epoch = {});

  // Appends `packet` (an IP packet) with timestamp `at` + epoch.
  void record(wire::Bytes packet, Instant at);
  // Pushes buffered packets to the file (the destructor also does).
  expected<void, std::string> flush() { return writer_.flush(); }

  Duration epoch() const { return epoch_; }
  uint64_t packets() const { return packets_; }
  uint64_t bytes() const { return bytes_; }
  const std::string& path() const { return writer_.path(); }

 private:
  trace::PcapWriter writer_;
  Duration epoch_;
  uint64_t packets_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace synack::dev
