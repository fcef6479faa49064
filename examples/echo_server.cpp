// echo_server: a synack TCP echo server on a TUN interface, with the blocking facade.
// The kernel gets 10.77.0.1/24 on "synack-echo"; synack answers on 10.77.0.2:7.
// Try: sudo ./echo_server & then `nc 10.77.0.2 7` (needs root or CAP_NET_ADMIN).
#include <array>
#include <cstdio>

#include "synack/api/blocking.hpp"

using namespace synack;

int main() {
  auto tun = dev::TunDevice::open(
      {.name = "synack-echo", .kernel_address = wire::Ipv4Address::from_octets(10, 77, 0, 1)});
  if (!tun) {
    std::fprintf(stderr, "echo_server: %s\n(run as root or with CAP_NET_ADMIN)\n",
                 tun.error().message.c_str());
    return 1;
  }
  std::vector<std::unique_ptr<api::Device>> devices;
  devices.push_back(std::make_unique<api::TunLink>(std::move(*tun)));
  const auto address = wire::Ipv4Address::from_octets(10, 77, 0, 2);
  api::BlockingHost host({.addresses = {address}}, std::move(devices));
  auto listener = host.listen({address, 7});
  if (!listener) return std::fprintf(stderr, "listen: %s\n", listener.error().message().c_str()), 1;
  std::printf("echoing on %s\n", tcp::Endpoint{address, 7}.to_string().c_str());
  while (auto conn = listener->accept()) {  // one client at a time
    std::array<std::byte, 4096> buf{};
    while (auto n = conn->recv(buf)) {
      if (*n == 0 || !conn->send(std::span(buf).first(*n))) break;
    }
    conn->close();
  }
  return 0;
}
