// Flags shared by the subcommands that put synack on a TUN interface (serve, connect):
//   --tun NAME --addr A.B.C.D/P [--kernel-addr A.B.C.E] [--pcap FILE] [--impair SPEC] [--ecn]
//   [--no-offload]
// and what they build: the TUN device (impaired if asked), the capture, and a Host on them.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

#include "synack/api/blocking.hpp"
#include "synack/api/control.hpp"
#include "synack/api/device.hpp"
#include "synack/api/socket.hpp"
#include "synack/dev/pcap_tap.hpp"
#include "synack/expected.hpp"
#include "synack/wire/ipv4_address.hpp"

namespace synack::cli {

struct DeviceOptions {
  std::string tun;
  std::string addr;         // synack's address, A.B.C.D/P
  std::string kernel_addr;  // the kernel side's; empty: the first other host address
  std::string pcap;
  std::string impair;
  bool ecn = false;         // RFC 3168 on synack's connections (off by default, as Linux's)
  bool no_offload = false;  // TUN offloads (TSO both ways) off: every packet as on a wire
};

// Adds the flags above to `cmd`.
void add_device_options(CLI::App& cmd, DeviceOptions& options);

// What the flags describe, opened: synack's address, the device, and the capture.
struct OpenedDevice {
  wire::Ipv4Address address;
  wire::Ipv4Address kernel_address;
  uint8_t prefix_len = 24;
  std::string name;
  std::unique_ptr<api::Device> device;
  std::optional<dev::PcapTap> tap;
  bool ecn = false;
};

// What the flags say of the host: synack's address, and ECN on its connections.
void apply_device_options(api::HostConfig& config, const OpenedDevice& opened);

// Parses and opens; the error is a message ready for stderr (without the command prefix).
expected<OpenedDevice, std::string> open_device(const DeviceOptions& options);

// The control socket `synack ss` and `synack nstat` ask (api::ControlServer), started in the
// loop's thread. On failure it warns on stderr and returns nullptr: the command goes on.
std::unique_ptr<api::ControlServer> start_control(api::Host& host, const std::string& command);
std::unique_ptr<api::ControlServer> start_control(api::BlockingHost& host,
                                                  const std::string& command);

}  // namespace synack::cli
