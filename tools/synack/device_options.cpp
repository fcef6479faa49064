#include "device_options.hpp"

#include <fmt/format.h>

#include <charconv>
#include <string_view>
#include <system_error>
#include <utility>

#include "synack/api/event_loop.hpp"
#include "synack/dev/impairments.hpp"
#include "synack/dev/tun_device.hpp"

namespace synack::cli {

namespace {

expected<std::pair<wire::Ipv4Address, uint8_t>, std::string> parse_cidr(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return unexpected(fmt::format("--addr \"{}\": expected A.B.C.D/P", text));
  }
  auto addr = wire::Ipv4Address::parse(text.substr(0, slash));
  const std::string_view p = text.substr(slash + 1);
  unsigned prefix = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
  if (!addr || ec != std::errc() || end != p.data() + p.size() || p.empty() || prefix < 1 ||
      prefix > 30) {
    return unexpected(
        fmt::format("--addr \"{}\": expected A.B.C.D/P with a prefix from 1 to 30", text));
  }
  return std::pair{*addr, static_cast<uint8_t>(prefix)};
}

}  // namespace

void add_device_options(CLI::App& cmd, DeviceOptions& options) {
  cmd.add_option("--tun", options.tun, "TUN interface to create (or attach to)")->required();
  cmd.add_option("--addr", options.addr, "synack's own address and prefix, A.B.C.D/P")->required();
  cmd.add_option("--kernel-addr", options.kernel_addr,
                 "the kernel side's address on the interface (default: the first host "
                 "address of the subnet that is not synack's)");
  cmd.add_option("--pcap", options.pcap, "record every packet in and out to this pcap file");
  cmd.add_option("--impair", options.impair,
                 "impair both directions, e.g. \"loss=1%,delay=10ms,rate=100mbit\"");
  cmd.add_flag("--ecn", options.ecn, "negotiate ECN (RFC 3168) on synack's connections");
  cmd.add_flag("--no-offload", options.no_offload,
               "no TUN offloads: the kernel and synack exchange MTU-sized packets, not TSO "
               "segments of up to 64 KiB (offloads are off anyway with --impair)");
}

void apply_device_options(api::HostConfig& config, const OpenedDevice& opened) {
  config.addresses.push_back(opened.address);
  config.stack.tcp.ecn = opened.ecn;
}

expected<OpenedDevice, std::string> open_device(const DeviceOptions& options) {
  OpenedDevice out;
  out.ecn = options.ecn;
  auto cidr = parse_cidr(options.addr);
  if (!cidr) return unexpected(cidr.error());
  out.address = cidr->first;
  out.prefix_len = cidr->second;
  const uint32_t mask = ~uint32_t{0} << (32 - out.prefix_len);
  const uint32_t network = out.address.value() & mask;
  const uint32_t broadcast = network | ~mask;
  if (out.address.value() == network || out.address.value() == broadcast) {
    return unexpected(fmt::format("--addr {}: the network or broadcast address", options.addr));
  }
  if (options.kernel_addr.empty()) {
    uint32_t k = network + 1;
    if (k == out.address.value()) ++k;
    out.kernel_address = wire::Ipv4Address(k);
  } else {
    auto k = wire::Ipv4Address::parse(options.kernel_addr);
    if (!k)
      return unexpected(fmt::format("--kernel-addr \"{}\": expected A.B.C.D", options.kernel_addr));
    if ((k->value() & mask) != network || k->value() == network || k->value() == broadcast ||
        *k == out.address) {
      return unexpected(fmt::format("--kernel-addr {}: not another host address of {}",
                                    options.kernel_addr, options.addr));
    }
    out.kernel_address = *k;
  }

  dev::TunConfig config{.name = options.tun,
                        .kernel_address = out.kernel_address,
                        .prefix_len = out.prefix_len,
                        .offload = !options.no_offload};
  if (!options.impair.empty()) {
    auto imp = dev::parse_impairments(options.impair);
    if (!imp) return unexpected(fmt::format("--impair: {}", imp.error()));
    config.to_kernel = *imp;
    dev::Impairments back = *imp;
    back.seed = dev::derive_seed(imp->seed, 1);
    config.from_kernel = back;
  }
  auto tun = dev::TunDevice::open(config);
  if (!tun) return unexpected(tun.error().message);
  out.name = tun->name();
  if (!options.impair.empty()) {
    auto link = api::ImpairedTunLink::make(std::move(*tun));
    if (!link) return unexpected(fmt::format("impairments: {}", link.error().message()));
    out.device = std::move(*link);
  } else {
    out.device = std::make_unique<api::TunLink>(std::move(*tun));
  }

  if (!options.pcap.empty()) {
    // The EventLoop stamps what it records with the wall clock: epoch 0.
    auto tap = dev::PcapTap::open(options.pcap);
    if (!tap) return unexpected(tap.error());
    out.tap = std::move(*tap);
  }
  return out;
}

std::unique_ptr<api::ControlServer> start_control(api::Host& host, const std::string& command) {
  auto control = api::ControlServer::start(host, command);
  if (!control) {
    fmt::print(stderr, "synack {}: no control socket in {} ({}); synack ss will not see it\n",
               command, api::control_dir(), control.error().message());
    return nullptr;
  }
  return std::move(*control);
}

std::unique_ptr<api::ControlServer> start_control(api::BlockingHost& host,
                                                  const std::string& command) {
  return host.with_host([&](api::Host& h) { return start_control(h, command); });
}

}  // namespace synack::cli
