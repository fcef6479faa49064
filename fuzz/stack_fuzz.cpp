// Feeds fuzzer-chosen packets into a stack that has a listener and live connections: raw
// bytes (to reach every parser and drop path) and well-formed segments with fuzzer-chosen
// fields aimed at the listener and the live connections (to get past the checksums into
// demux, SYN cookies, the queues and the engine), with time jumps in between. Everything
// the stack sends must be a valid IPv4 packet with a verifying checksum.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "fuzz_util.hpp"
#include "synack/stack/stack.hpp"

namespace {

using namespace synack;
using fuzz::Input;
using wire::Ipv4Address;

const Ipv4Address kServer = Ipv4Address::from_octets(10, 0, 0, 2);
constexpr size_t kMaxConnections = 64;

void drain(stack::Stack& s, Instant now) {
  for (int i = 0; i < 100'000; ++i) {
    auto p = s.poll_transmit(now);
    if (!p) return;
    auto ip = wire::Ipv4View::parse(*p);  // header checksum must verify
    FUZZ_CHECK(ip.has_value());
    FUZZ_CHECK(ip->src() == kServer);
    if (ip->protocol() == wire::ip_protocol::kTcp) {
      FUZZ_CHECK(wire::TcpView::parse(ip->payload(), ip->pseudo_header()).has_value());
    } else if (ip->protocol() == wire::ip_protocol::kIcmp) {
      FUZZ_CHECK(wire::IcmpView::parse(ip->payload()).has_value());
    }
  }
  FUZZ_CHECK(false && "poll_transmit never ran dry");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(std::span(data, size));
  stack::StackConfig cfg;
  cfg.secret_seed = 1;
  cfg.tcp.send_buffer = cfg.tcp.receive_buffer = 4096;
  const uint8_t setup = in.u8();
  cfg.syncookies = static_cast<stack::SynCookieMode>(setup % 3);
  cfg.tcp.timestamps = setup & 4;
  cfg.tcp.sack = setup & 8;
  stack::Stack s(cfg);
  s.add_address(kServer);
  auto lid = s.listen(tcp::Endpoint{Ipv4Address(), 80}, 4);
  FUZZ_CHECK(lid.has_value());
  Instant now = Instant::from_micros(1'000'000);
  std::vector<std::byte> packet;
  std::vector<std::byte> payload(1024, std::byte{'x'});

  for (int steps = 0; !in.empty() && steps < 500; ++steps) {
    const uint8_t op = in.u8();
    switch (op % 5) {
      case 0: {  // raw bytes
        auto raw = in.take(in.u8() * 2u);
        s.receive(std::as_bytes(raw), now);
        break;
      }
      case 1:
      case 2: {  // a well-formed segment from one of 8 clients
        const uint8_t client = in.u8() % 8;
        wire::TcpRepr seg;
        seg.src_port = static_cast<uint16_t>(40000 + client);
        seg.dst_port = (op & 0x80) ? in.u16() : 80;
        seg.seq = wire::SeqNum(in.u32());
        if (op & 0x40) seg.ack = wire::SeqNum(in.u32());
        seg.flags = wire::TcpFlags(in.u8() & (wire::TcpFlags::kSyn | wire::TcpFlags::kFin |
                                              wire::TcpFlags::kRst | wire::TcpFlags::kPsh));
        seg.window = in.u16();
        if (op & 0x20) seg.options.mss = in.u16();
        if (op & 0x10) seg.options.timestamps = wire::TcpTimestamps{in.u32(), in.u32()};
        if (op & 0x08) seg.options.window_scale = in.u8();
        seg.options.sack_permitted = op & 0x04;
        seg.payload = std::span(payload.data(), in.u8() % payload.size());
        const wire::Ipv4Repr ip{.src = Ipv4Address::from_octets(10, 0, 0, 1),
                                .dst = kServer,
                                .payload_len = static_cast<uint16_t>(seg.size())};
        packet.resize(ip.total_len());
        ip.emit(packet);
        seg.emit(std::span(packet).subspan(ip.header_len()), ip.pseudo_header());
        s.receive(packet, now);
        break;
      }
      case 3: {  // the application: accept, read, write, close
        if (auto c = s.accept(*lid)) {
          std::vector<std::byte> buf(512);
          (void)s.recv(*c, buf, now);
          (void)s.send(*c, std::span(payload.data(), in.u8()), now);
          if (in.u8() & 1) (void)s.close(*c, now);
          s.release(*c);
        }
        break;
      }
      case 4:  // time passes
        now = now + Duration::micros(in.u16() * int64_t{1000});
        s.on_timeout(now);
        break;
    }
    drain(s, now);
    FUZZ_CHECK(s.connection_count() <= kMaxConnections);
    while (s.poll_event()) {
    }
  }
  return 0;
}
