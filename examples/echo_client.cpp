// echo_client: connects from synack (10.78.0.2, on TUN "synack-cli") to a kernel echo
// server at 10.78.0.1:PORT, sends a line and prints the echo. Needs root/CAP_NET_ADMIN.
// Try: `ncat -l -k -e /bin/cat 10.78.0.1 7000` after the interface is up, or any echo.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "synack/api/blocking.hpp"

using namespace synack;

int main(int argc, char** argv) {
  const auto port = static_cast<uint16_t>(argc > 1 ? std::atoi(argv[1]) : 7000);
  const auto kernel = wire::Ipv4Address::from_octets(10, 78, 0, 1);
  auto tun = dev::TunDevice::open({.name = "synack-cli", .kernel_address = kernel});
  if (!tun) {
    std::fprintf(stderr, "echo_client: %s\n(run as root or with CAP_NET_ADMIN)\n",
                 tun.error().message.c_str());
    return 1;
  }
  std::vector<std::unique_ptr<api::Device>> devices;
  devices.push_back(std::make_unique<api::TunLink>(std::move(*tun)));
  api::BlockingHost host({.addresses = {wire::Ipv4Address::from_octets(10, 78, 0, 2)}},
                         std::move(devices));
  auto conn = host.connect({kernel, port}, Duration::seconds(5));
  if (!conn) return std::fprintf(stderr, "connect: %s\n", conn.error().message().c_str()), 1;
  const std::string line = "hello from synack\n";
  if (!conn->send(std::as_bytes(std::span(line)))) return 1;
  std::array<std::byte, 4096> buf{};
  auto n = conn->recv(buf, Duration::seconds(5));
  if (!n) return std::fprintf(stderr, "recv: %s\n", n.error().message().c_str()), 1;
  std::printf("%.*s", static_cast<int>(*n), reinterpret_cast<const char*>(buf.data()));
  return conn->close() ? 1 : 0;
}
