// The tcpdump 4.99.3 text format. Each printer below follows the tcpdump printer named in
// its comment (print-ip.c ip_print, print-tcp.c tcp_print, ...) closely enough to produce
// the same characters, including on truncated and malformed packets; the structure is ours.
#include "synack/trace/tcpdump.hpp"

#include <arpa/inet.h>
#include <net/if.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <iterator>
#include <span>
#include <string_view>

#include "synack/wire/ipv4.hpp"
#include "synack/wire/ipv4_address.hpp"
#include "synack/wire/tcp.hpp"
#include "synack/wire/tcp_options.hpp"

namespace synack::trace {

namespace {

using wire::Bytes;

// tcpdump's printers read fields with GET_ macros that longjmp out of the whole packet when
// a field lies beyond the captured bytes; the top level then prints " [|proto]" with the
// protocol being dissected. Reads here throw Truncated for the same effect: it only ever
// travels from a Region read to Dissector::run().
struct Truncated {};

// The bytes a printer may look at: tcpdump's [bp, snapend). Every read is bounds-checked.
class Region {
 public:
  Region() = default;
  explicit Region(Bytes bytes) : bytes_(bytes) {}

  size_t size() const { return bytes_.size(); }
  // tcpdump's ND_TTEST_LEN(bp + offset, n).
  bool has(size_t offset, size_t n) const {
    return offset <= bytes_.size() && n <= bytes_.size() - offset;
  }
  void need(size_t offset, size_t n) const {
    if (!has(offset, n)) throw Truncated{};
  }
  uint8_t u8(size_t offset) const {
    need(offset, 1);
    return wire::load_u8(bytes_.data() + offset);
  }
  uint16_t be16(size_t offset) const {
    need(offset, 2);
    return wire::load_be16(bytes_.data() + offset);
  }
  uint32_t be32(size_t offset) const {
    need(offset, 4);
    return wire::load_be32(bytes_.data() + offset);
  }
  // The captured bytes from `offset` on (empty when the capture ends before it).
  Region from(size_t offset) const {
    return offset >= bytes_.size() ? Region() : Region(bytes_.subspan(offset));
  }
  // tcpdump's nd_push_snaplen: nothing past `length` bytes is part of this layer.
  Region limit(size_t length) const { return Region(bytes_.first(std::min(length, size()))); }
  Bytes bytes() const { return bytes_; }

 private:
  Bytes bytes_;
};

// Network-layer context the transport printers need: the addresses as text for the line,
// as raw bytes for the relative-sequence table, and whether the protocol field names the
// transport (for IPv4 that is always so here; tcpdump also reaches tcp_print from other
// paths where it is not).
struct IpContext {
  uint8_t version = 4;
  std::array<uint8_t, 16> src{};
  std::array<uint8_t, 16> dst{};
  size_t addr_len = 4;
  std::string src_text;
  std::string dst_text;
};

constexpr uint8_t kIpProtoTcp = wire::ip_protocol::kTcp;
constexpr uint8_t kIpProtoUdp = wire::ip_protocol::kUdp;
constexpr uint8_t kIpProtoIcmp = wire::ip_protocol::kIcmp;
constexpr uint8_t kIpProtoIcmpv6 = 58;
constexpr uint8_t kIpProtoNoNext = 59;

constexpr uint16_t kEthertypeIpv4 = 0x0800;
constexpr uint16_t kEthertypeArp = 0x0806;
constexpr uint16_t kEthertypeRarp = 0x8035;
constexpr uint16_t kEthertypeVlan = 0x8100;
constexpr uint16_t kEthertypeIpv6 = 0x86dd;
constexpr uint16_t kMaxEthernetLength = 1500;  // MAX_ETHERNET_LENGTH_VAL: a length, not a type

// ethertype.c ethertype_values, which tcpdump uses to name a type it shows.
std::string_view ethertype_name(uint16_t type) {
  switch (type) {
    case kEthertypeIpv4:
      return "IPv4";
    case 0x8847:
      return "MPLS unicast";
    case 0x8848:
      return "MPLS multicast";
    case kEthertypeIpv6:
      return "IPv6";
    case kEthertypeVlan:
      return "802.1Q";
    case 0x9100:
      return "802.1Q-9100";
    case 0x88a8:
      return "802.1Q-QinQ";
    case 0x9200:
      return "802.1Q-9200";
    case 0x88e5:
      return "802.1AE MACsec";
    case 0x0200:
      return "PUP";
    case kEthertypeArp:
      return "ARP";
    case kEthertypeRarp:
      return "Reverse ARP";
    case 0x0600:
      return "NS";
    case 0x0500:
      return "Sprite";
    case 0x1000:
      return "Trail";
    case 0x6001:
      return "MOP DL";
    case 0x6002:
      return "MOP RC";
    case 0x6003:
      return "DN";
    case 0x6004:
      return "LAT";
    case 0x6007:
      return "SCA";
    case 0x6558:
      return "TEB";
    case 0x8038:
      return "Lanbridge";
    case 0x803c:
      return "DEC DNS";
    case 0x803e:
      return "DEC DTS";
    case 0x805b:
      return "VEXP";
    case 0x805c:
      return "VPROD";
    case 0x809b:
      return "Appletalk";
    case 0x80f3:
      return "Appletalk ARP";
    case 0x8137:
      return "IPX";
    case 0x880b:
      return "PPP";
    case 0x8808:
      return "MPCP";
    case 0x8809:
      return "Slow Protocols";
    case 0x8863:
      return "PPPoE D";
    case 0x8864:
      return "PPPoE S";
    case 0x888e:
      return "EAPOL";
    case 0x8899:
      return "Realtek protocols";
    case 0x886f:
      return "MS NLB heartbeat";
    case 0x8870:
      return "Jumbo";
    case 0x894f:
      return "NSH";
    case 0x9000:
      return "Loopback";
    case 0xfefe:
      return "OSI";
    case 0x00fe:
      return "GRE-OSI";
    case 0xabcd:
      return "CFM (old)";
    case 0x8902:
      return "CFM";
    case 0x893a:
      return "IEEE1905.1";
    case 0x88cc:
      return "LLDP";
    case 0x88ca:
      return "TIPC";
    case 0x0707:
      return "GeoNet (old)";
    case 0x8947:
      return "GeoNet";
    case 0x1111:
      return "CALM FAST";
    case 0x88a2:
      return "AoE";
    case 0x88f7:
      return "PTP";
    case 0xd28b:
      return "Arista Vendor Specific Protocol";
    default:
      return "Unknown";
  }
}

// print-sll.c sll_pkttype_values.
std::string_view sll_packet_type(unsigned type) {
  switch (type) {
    case 0:
      return "In";
    case 1:
      return "B";
    case 2:
      return "M";
    case 3:
      return "P";
    case 4:
      return "Out";
    default:
      return "?";
  }
}

std::string ipv4_text(uint32_t address) {
  return wire::Ipv4Address(address).to_string();
}

std::string ipv6_text(const uint8_t* address) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, address, text, sizeof(text));
  return text;
}

// `xx:xx:xx:xx:xx:xx` (addrtoname.c etheraddr_string with -n; linkaddr_string for other
// lengths uses the same form).
std::string link_address_text(Bytes address) {
  std::string text;
  for (size_t i = 0; i < address.size(); ++i) {
    if (i != 0) text += ':';
    fmt::format_to(std::back_inserter(text), "{:02x}", static_cast<unsigned>(address[i]));
  }
  return text;
}

bool is_ascii_graph(uint8_t c) {
  return c > 0x20 && c < 0x7f;
}
bool is_ascii_print(uint8_t c) {
  return c >= 0x20 && c < 0x7f;
}

}  // namespace

// The work on one packet: tcpdump's netdissect_options for one pretty_print_packet() call.
class Dissector {
 public:
  Dissector(TcpdumpFormatter& formatter, fmt::memory_buffer& out)
      : formatter_(formatter), out_(out) {}

  void run(int dlt, Region packet, uint32_t length) {
    try {
      link(dlt, packet, length);
    } catch (const Truncated&) {
      // print.c pretty_print_packet after a longjmp: nd_print_trunc().
      trunc();
    }
  }

 private:
  template <class... Args>
  void print(fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(out_), format, std::forward<Args>(args)...);
  }
  void put(std::string_view text) { out_.append(text.data(), text.data() + text.size()); }
  // util-print.c nd_print_trunc.
  void trunc() { print(" [|{}]", protocol_); }

  // ------------------------------------------------------------------------ link layers

  void link(int dlt, Region p, uint32_t length) {
    switch (dlt) {
      case link_type::kEthernet:
        ether(p, length);
        break;
      case link_type::kLinuxSll:
        sll(p, length);
        break;
      case link_type::kLinuxSll2:
        sll2(p, length);
        break;
      case link_type::kNull:
        null_link(p, length);
        break;
      case link_type::kRaw:
      case link_type::kRawBsd:
      case link_type::kLinktypeRaw:
        protocol_ = "raw";
        ip_any(p, length);
        break;
      case link_type::kIpv4:
        protocol_ = "ipv4";
        ip(p, length);
        break;
      default:
        // tcpdump refuses the whole file ("unsupported data link type"); we say it per packet.
        print("[unsupported link type {}], length {}", dlt, length);
        break;
    }
  }

  // util-print.c hex_and_ascii_print with the "\n\t" indent tcpdump's default printer uses
  // for payloads it cannot dissect: every captured byte (ND_DEFAULTPRINT(p, caplen)).
  void hex_dump(Region p) {
    const Bytes bytes = p.bytes();
    const size_t n = bytes.size();
    for (size_t line = 0; line < n; line += 16) {
      std::string hex;
      std::string ascii;
      for (size_t i = line; i < std::min(n, line + 16); i += 2) {
        const auto c1 = static_cast<uint8_t>(bytes[i]);
        if (i + 1 < n) {
          const auto c2 = static_cast<uint8_t>(bytes[i + 1]);
          fmt::format_to(std::back_inserter(hex), " {:02x}{:02x}", c1, c2);
          ascii += is_ascii_graph(c1) ? static_cast<char>(c1) : '.';
          ascii += is_ascii_graph(c2) ? static_cast<char>(c2) : '.';
        } else {
          fmt::format_to(std::back_inserter(hex), " {:02x}", c1);
          ascii += is_ascii_graph(c1) ? static_cast<char>(c1) : '.';
        }
      }
      print("\n\t0x{:04x}: {:<40}  {}", line, hex, ascii);
    }
  }

  // print-ether.c ether_common_print without -e: no MAC addresses unless the type is unknown.
  void ether(Region p, uint32_t length) {
    protocol_ = "ether";
    p.need(0, 14);
    uint16_t type = p.be16(12);
    size_t header = 14;
    // 802.1Q tags: without -e tcpdump prints nothing for them and dissects the inner type.
    while (type == kEthertypeVlan) {
      p.need(header, 4);
      type = p.be16(header + 2);
      header += 4;
    }
    const uint32_t inner_length = length >= header ? static_cast<uint32_t>(length - header) : 0;
    if (type > kMaxEthernetLength && ethertype(type, p.from(header), inner_length)) return;
    // ether_addresses_print + ether_type_print, then the default (hex) printer. An 802.3
    // length field takes this path too (tcpdump would dissect its LLC header).
    print("{} > {}, ", link_address_text(p.bytes().subspan(6, 6)),
          link_address_text(p.bytes().subspan(0, 6)));
    if (type <= kMaxEthernetLength) {
      print("802.3, length {}: ", length);
    } else {
      print("ethertype {} (0x{:04x}), length {}: ", ethertype_name(type), type, length);
    }
    hex_dump(p.from(header));
  }

  // print-ether.c ethertype_print: false when tcpdump has no printer for the type.
  bool ethertype(uint16_t type, Region p, uint32_t length) {
    switch (type) {
      case kEthertypeIpv4:
        ip(p, length);
        return true;
      case kEthertypeIpv6:
        ip6(p, length);
        return true;
      case kEthertypeArp:
      case kEthertypeRarp:
        arp(p, length);
        return true;
      default:
        return false;
    }
  }

  // print-sll.c sll_if_print (Linux cooked v1): without -e nothing of the header is shown,
  // unless the protocol is unknown (then sll_print's summary and a hex dump).
  void sll(Region p, uint32_t length) {
    protocol_ = "sll";
    constexpr size_t kHeader = 16;
    p.need(0, kHeader);
    const uint32_t inner_length = length >= kHeader ? length - uint32_t{kHeader} : 0;
    cooked_payload(p, p.be16(14), kHeader, inner_length, [&](uint32_t total) {
      print("{:>3} ", sll_packet_type(p.be16(0)));
      if (p.be16(4) == 6) print("{} ", link_address_text(p.bytes().subspan(6, 6)));
      print_cooked_type(p.be16(14), total);
    });
  }

  // print-sll.c sll2_if_print (Linux cooked v2): always the interface name (looked up from
  // the ifindex on this machine, `?` when unknown) and the packet type.
  void sll2(Region p, uint32_t length) {
    protocol_ = "sll2";
    constexpr size_t kHeader = 20;
    p.need(0, kHeader);
    const uint32_t if_index = p.be32(4);
    const std::optional<std::string> name = formatter_.interface_name(if_index);
    print("{:<5} ", name ? *name : std::string("?"));
    print("{:<3} ", sll_packet_type(p.u8(10)));
    const uint32_t inner_length = length >= kHeader ? length - uint32_t{kHeader} : 0;
    cooked_payload(p, p.be16(0), kHeader, inner_length, [&](uint32_t total) {
      print("ifindex {} ", if_index);
      if (p.u8(11) == 6) print("{} ", link_address_text(p.bytes().subspan(12, 6)));
      print_cooked_type(p.be16(0), total);
    });
  }

  // sll_print/sll2_print's tail: the protocol and the length.
  void print_cooked_type(uint16_t type, uint32_t total) {
    if (type <= kMaxEthernetLength) {
      if (type == 1) {
        put("802.3");
      } else if (type == 4) {
        put("802.2");
      } else {
        print("ethertype Unknown (0x{:04x})", type);
      }
    } else {
      print("ethertype {} (0x{:04x})", ethertype_name(type), type);
    }
    print(", length {}: ", total);
  }

  // The part sll_if_print and sll2_if_print share, after the cooked header.
  template <class Summary>
  void cooked_payload(Region header, uint16_t type, size_t header_len, uint32_t length,
                      Summary summary) {
    Region p = header.from(header_len);
    if (type <= kMaxEthernetLength) {
      // Novell 802.3 (1), 802.2 LLC (4) or unknown: tcpdump dissects IPX/LLC; we, and tcpdump
      // for anything else, print the raw bytes.
      hex_dump(p);
      return;
    }
    if (type == kEthertypeVlan) {
      if (p.size() < 4) {
        protocol_ = "vlan";
        trunc();
        return;
      }
      uint16_t inner = p.be16(2);
      if (inner <= kMaxEthernetLength) inner = 4;  // LINUX_SLL_P_802_2
      print("ethertype {}, ", ethertype_name(inner));
      cooked_payload(header, inner, header_len + 4, length >= 4 ? length - 4 : 0, summary);
      return;
    }
    if (!ethertype(type, p, length)) {
      summary(static_cast<uint32_t>(length + header_len));
      hex_dump(p);
    }
  }

  // print-null.c null_if_print: a 4-byte address family in the capturing host's byte order.
  void null_link(Region p, uint32_t length) {
    protocol_ = "null";
    p.need(0, 4);
    uint32_t family = static_cast<uint32_t>(p.u8(0)) | (static_cast<uint32_t>(p.u8(1)) << 8) |
                      (static_cast<uint32_t>(p.u8(2)) << 16) |
                      (static_cast<uint32_t>(p.u8(3)) << 24);
    if ((family & 0xffff0000u) != 0) family = __builtin_bswap32(family);
    const uint32_t inner_length = length >= 4 ? length - 4 : 0;
    switch (family) {
      case 2:
        ip(p.from(4), inner_length);
        break;  // AF_INET everywhere
      case 10:  // AF_INET6: Linux, BSDs, Darwin
      case 24:
      case 28:
      case 30:
        ip6(p.from(4), inner_length);
        break;
      default:
        print("AF Unknown ({}), length {}: ", family, length);
        hex_dump(p.from(4));
        break;
    }
  }

  // -------------------------------------------------------------------------------- ARP

  // print-arp.c arp_print for Ethernet-style hardware addresses.
  void arp(Region p, uint32_t length) {
    protocol_ = "arp";
    const uint16_t hrd = p.be16(0);
    const uint16_t pro = p.be16(2);
    const uint8_t hln = p.u8(4);
    const uint8_t pln = p.u8(5);
    const uint16_t op = p.be16(6);
    const size_t sha = 8;
    const size_t spa = sha + hln;
    const size_t tha = spa + pln;
    const size_t tpa = tha + hln;
    // The whole packet must be captured (ND_TTEST_LEN(TPA(ap), PROTO_LEN(ap))).
    if (!p.has(tpa, pln)) throw Truncated{};
    put("ARP, ");
    if ((pro != kEthertypeIpv4 && pro != 0x1000 /* trailer */) || pln != 4 || hln == 0) {
      print("{} (len {}), ", arp_hardware_name(hrd), hln);
      const std::string_view pro_name = ethertype_name(pro);
      if (pro_name == "Unknown") {
        print("Unknown Protocol (0x{:04x})", pro);
      } else {
        put(pro_name);
      }
      print(" (len {}), length {}", pln, length);
      return;
    }
    auto addr = [&](size_t offset) { return link_address_text(p.bytes().subspan(offset, hln)); };
    auto ipaddr = [&](size_t offset) { return ipv4_text(p.be32(offset)); };
    switch (op) {
      case 1: {
        print("Request who-has {}", ipaddr(tpa));
        const Bytes target = p.bytes().subspan(tha, hln);
        if (std::any_of(target.begin(), target.end(),
                        [](std::byte b) { return b != std::byte{0}; })) {
          print(" ({})", addr(tha));
        }
        print(" tell {}", ipaddr(spa));
        break;
      }
      case 2:
        print("Reply {} is-at {}", ipaddr(spa), addr(sha));
        break;
      case 3:
        print("Reverse Request who-is {} tell {}", addr(tha), addr(sha));
        break;
      case 4:
        print("Reverse Reply {} at {}", addr(tha), ipaddr(tpa));
        break;
      case 8:
        print("Inverse Request who-is {} tell {}", addr(tha), addr(sha));
        break;
      case 9:
        print("Inverse Reply {} at {}", addr(sha), ipaddr(spa));
        break;
      default:
        if (op == 10) {
          put("NACK Reply ");
        } else {
          print("Unknown ({}) ", op);
        }
        hex_dump(p);
        return;
    }
    print(", length {}", length);
  }

  static std::string arp_hardware_name(uint16_t hrd) {
    switch (hrd) {
      case 1:
        return "Ethernet";
      case 6:
        return "TokenRing";
      case 7:
        return "ArcNet";
      case 15:
        return "FrameRelay";
      case 19:
        return "ATM";
      case 23:
        return "Strip";
      case 24:
        return "IEEE 1394";
      default:
        return fmt::format("Unknown Hardware ({})", hrd);
    }
  }

  // ------------------------------------------------------------------------------- IPv4

  // print-ip.c ipN_print: raw captures carry IPv4 or IPv6, told apart by the version.
  void ip_any(Region p, uint32_t length) {
    protocol_ = "ipn";
    if (length < 1) {
      print("truncated-ip {}", length);
      return;
    }
    switch (p.u8(0) & 0xf0) {
      case 0x40:
        ip(p, length);
        break;
      case 0x60:
        ip6(p, length);
        break;
      default:
        print("unknown ip {}", (p.u8(0) & 0xf0) >> 4);
        break;
    }
  }

  // print-ip.c ip_print (tcpdump 4.99.3). `length` is what the link layer says is left of
  // the packet on the wire; the capture may hold less.
  void ip(Region p, uint32_t length) {
    protocol_ = "ip";
    const unsigned version = p.u8(0) >> 4;
    if (version != 4) {
      if (version == 6) {
        put("IP6, wrong link-layer encapsulation");
      } else {
        print("IP{}", version);
      }
      put(" (invalid)");
      return;
    }
    put("IP ");
    p.need(0, wire::kIpv4MinHeaderLen);
    if (length < wire::kIpv4MinHeaderLen) {
      print("truncated-ip {}", length);
      return;
    }
    const size_t hlen = size_t{p.u8(0) & 0x0fu} * 4;
    if (hlen < wire::kIpv4MinHeaderLen) {
      print("bad-hlen {}", hlen);
      return;
    }
    const uint32_t total = p.be16(2);
    if (total > length) print("truncated-ip - {} bytes missing! ", total - length);
    if (total < hlen) {
      print("bad-len {}", total);
      return;
    }
    p = p.limit(total);
    const auto payload_len = static_cast<uint32_t>(total - hlen);
    const uint16_t frag = p.be16(6);
    const uint8_t proto = p.u8(9);

    IpContext ctx;
    ctx.version = 4;
    ctx.addr_len = 4;
    for (size_t i = 0; i < 4; ++i) {
      ctx.src[i] = p.u8(12 + i);
      ctx.dst[i] = p.u8(16 + i);
    }
    ctx.src_text = ipv4_text(p.be32(12));
    ctx.dst_text = ipv4_text(p.be32(16));

    if ((frag & 0x1fff) != 0) {
      // Not the first fragment: no transport header to show (RFC 791 §3.2).
      print("{} > {}: ip-proto-{}", ctx.src_text, ctx.dst_text, proto);
      return;
    }
    // tcpdump leaves the addresses to the TCP/UDP/SCTP/DCCP printers; synack dissects only
    // the first two, so SCTP and DCCP get them here.
    if (proto != kIpProtoTcp && proto != kIpProtoUdp) {
      print("{} > {}: ", ctx.src_text, ctx.dst_text);
    }
    if (!p.has(0, hlen)) {
      print(" [remaining caplen({}) < header length({})]", p.size(), hlen);
      throw Truncated{};
    }
    const bool more_fragments = (frag & 0x2000) != 0;
    demux(ctx, proto, p.from(hlen), payload_len, more_fragments);
  }

  // print-ip-demux.c ip_demux_print for the protocols synack traces.
  void demux(const IpContext& ctx, uint8_t proto, Region p, uint32_t length, bool fragmented) {
    switch (proto) {
      case kIpProtoTcp:
        tcp(ctx, p, length);
        break;
      case kIpProtoUdp:
        udp(ctx, p, length, fragmented);
        break;
      case kIpProtoIcmp:
        if (ctx.version == 4) {
          icmp(p, length);
          break;
        }
        print(" ip-proto-{} {}", proto, length);
        break;
      case kIpProtoIcmpv6:
        if (ctx.version == 6) {
          icmp6(p, length);
          break;
        }
        print(" ip-proto-{} {}", proto, length);
        break;
      case kIpProtoNoNext:
        if (ctx.version == 6) {
          put("no next header");
          break;
        }
        print(" ip-proto-{} {}", proto, length);
        break;
      default:
        // With -n tcpdump names no protocol: " ip-proto-N LEN".
        print(" ip-proto-{} {}", proto, length);
        break;
    }
  }

  // ------------------------------------------------------------------------------- IPv6

  // print-ip6.c ip6_print for a fixed header followed directly by the transport.
  void ip6(Region p, uint32_t length) {
    protocol_ = "ip6";
    p.need(0, 40);
    if (length < 40) {
      print("truncated-ip6 {}", length);
      return;
    }
    put("IP6 ");
    const unsigned version = p.u8(0) >> 4;
    if (version != 6) {
      print("version error: {} != 6", version);
      return;
    }
    const uint32_t payload_len = p.be16(4);
    const uint32_t total = payload_len + 40;
    if (length < total) print("truncated-ip6 - {} bytes missing!", total - length);
    p = p.limit(total);
    IpContext ctx;
    ctx.version = 6;
    ctx.addr_len = 16;
    for (size_t i = 0; i < 16; ++i) {
      ctx.src[i] = p.u8(8 + i);
      ctx.dst[i] = p.u8(24 + i);
    }
    ctx.src_text = ipv6_text(ctx.src.data());
    ctx.dst_text = ipv6_text(ctx.dst.data());
    const uint8_t next = p.u8(6);
    if (next != kIpProtoTcp && next != kIpProtoUdp) {
      print("{} > {}: ", ctx.src_text, ctx.dst_text);
    }
    demux(ctx, next, p.from(40), payload_len, false);
  }

  // print-icmp6.c icmp6_print, echo only.
  void icmp6(Region p, uint32_t length) {
    protocol_ = "icmp6";
    const uint8_t type = p.u8(0);
    put("ICMP6, ");
    if (type == 128 || type == 129) {
      print("echo {}, id {}, seq {}", type == 128 ? "request" : "reply", p.be16(4), p.be16(6));
    } else {
      print("type-#{}", type);
    }
    print(", length {}", length);
  }

  // -------------------------------------------------------------------------------- TCP

  // print-tcp.c tcp_print (tcpdump 4.99.3).
  void tcp(const IpContext& ip, Region p, uint32_t length) {
    protocol_ = "tcp";
    if (!p.has(2, 2)) {
      print("{} > {}:", ip.src_text, ip.dst_text);
      throw Truncated{};
    }
    const uint16_t sport = p.be16(0);
    const uint16_t dport = p.be16(2);
    print("{}.{} > {}.{}: ", ip.src_text, sport, ip.dst_text, dport);
    if (!p.has(0, wire::kTcpMinHeaderLen)) {
      trunc();  // ND_TCHECK_SIZE → trunc label, before any option bracket
      return;
    }
    size_t hlen = static_cast<size_t>(p.u8(12) >> 4) * 4;
    if (hlen < wire::kTcpMinHeaderLen) {
      print(" tcp {} [bad hdr length {} - too short, < 20]", static_cast<uint32_t>(length - hlen),
            hlen);
      return;
    }
    uint32_t seq = p.be32(4);
    uint32_t ack = p.be32(8);
    const uint16_t win = p.be16(14);
    const uint16_t urp = p.be16(18);
    // Only the low 8 flag bits: tcpdump 4.99.3 reads th_flags as one byte, so AE (RFC 9768)
    // and the reserved bits never show.
    const auto flags = static_cast<uint8_t>(p.u8(13));
    print("Flags [{}]", flag_letters(flags));

    bool rev = false;
    uint32_t base_seq = 0;
    uint32_t base_ack = 0;
    if (!formatter_.options_.absolute_sequence_numbers && (flags & wire::TcpFlags::kAck) != 0) {
      TcpdumpFormatter::ConnectionKey key;
      key.family = ip.version;
      // "We pick an arbitrary collating order so there's only one entry for both
      // directions" (print-tcp.c): the lower port first, addresses by memcmp on a tie.
      if (sport > dport) {
        rev = true;
      } else if (sport == dport) {
        rev = std::memcmp(ip.src.data(), ip.dst.data(), ip.addr_len) > 0;
      }
      if (rev) {
        key.src = ip.dst;
        key.dst = ip.src;
        key.ports = (uint32_t{dport} << 16) | sport;
      } else {
        key.src = ip.src;
        key.dst = ip.dst;
        key.ports = (uint32_t{sport} << 16) | dport;
      }
      auto it = formatter_.connections_.find(key);
      if (it == formatter_.connections_.end() || (flags & wire::TcpFlags::kSyn) != 0) {
        // New conversation: this packet's numbers become the bases and print absolute.
        TcpdumpFormatter::InitialSequence& th = formatter_.connections_[key];
        if (rev) {
          th.ack = seq;
          th.seq = ack - 1;
        } else {
          th.seq = seq;
          th.ack = ack - 1;
        }
        base_seq = th.seq;
        base_ack = th.ack;
      } else {
        const TcpdumpFormatter::InitialSequence& th = it->second;
        if (rev) {
          seq -= th.ack;
          ack -= th.seq;
        } else {
          seq -= th.seq;
          ack -= th.ack;
        }
        base_seq = th.seq;
        base_ack = th.ack;
      }
    }

    if (hlen > length) {
      print(" [bad hdr length {} - too long, > {}]", hlen, length);
      return;
    }
    const uint32_t payload_len = length - static_cast<uint32_t>(hlen);
    if (payload_len > 0 ||
        (flags & (wire::TcpFlags::kSyn | wire::TcpFlags::kFin | wire::TcpFlags::kRst)) != 0) {
      print(", seq {}", seq);
      if (payload_len > 0) print(":{}", seq + payload_len);
    }
    if ((flags & wire::TcpFlags::kAck) != 0) print(", ack {}", ack);
    print(", win {}", win);
    if ((flags & wire::TcpFlags::kUrg) != 0) print(", urg {}", urp);

    if (hlen > wire::kTcpMinHeaderLen) {
      // SACK blocks are relative to the other direction's base (RFC 2018 §3: they name
      // sequence numbers of the data this side received).
      const uint32_t sack_base = rev ? base_seq : base_ack;
      if (!tcp_options(p, hlen, payload_len, sack_base)) return;
    }
    print(", length {}", payload_len);
    if (payload_len == 0) return;

    if (!p.has(0, hlen)) {
      print(" [remaining caplen({}) < header length({})]", p.size(), hlen);
      throw Truncated{};
    }
    tcp_payload(sport, dport, p.from(hlen), payload_len);
  }

  // print-tcp.c tcp_flag_values, printed with bittok2str_nosep: F S R P . U E W.
  static std::string flag_letters(uint8_t flags) {
    static constexpr struct {
      uint8_t bit;
      char letter;
    } kLetters[] = {{0x01, 'F'}, {0x02, 'S'}, {0x04, 'R'}, {0x08, 'P'},
                    {0x10, '.'}, {0x20, 'U'}, {0x40, 'E'}, {0x80, 'W'}};
    std::string letters;
    for (const auto& l : kLetters) {
      if ((flags & l.bit) != 0) letters += l.letter;
    }
    return letters.empty() ? std::string("none") : letters;
  }

  // The options loop of tcp_print. It walks exactly as tcpdump walks — a wrong length
  // byte moves the cursor as tcpdump moves it — so malformed options print the same.
  // Returns false when tcpdump stops the line here ([bad opt] or truncation).
  bool tcp_options(Region p, size_t header_len, uint32_t payload_len, uint32_t sack_base) {
    size_t hlen = header_len - wire::kTcpMinHeaderLen;
    size_t cp = wire::kTcpMinHeaderLen;
    char ch = '\0';
    put(", options [");
    // tcpdump's LENCHECK: the option's data must be inside the header (else [bad opt])
    // and captured (else the trunc label: [|tcp] and '>' when an option was printed).
    enum class Check { kOk, kBad, kTrunc };
    auto lencheck = [&](size_t l) {
      if (l > hlen) return Check::kBad;
      if (!p.has(cp, l)) return Check::kTrunc;
      return Check::kOk;
    };
    auto bad = [&] {
      put("[bad opt]");
      if (ch != '\0') put("]");
      return false;
    };
    auto truncated = [&] {
      trunc();
      if (ch != '\0') put(">");
      return false;
    };
    while (hlen > 0) {
      if (ch != '\0') out_.push_back(ch);
      const uint8_t opt = p.u8(cp++);
      size_t len = 1;
      const bool zero_length = opt == wire::tcp_option::kEol || opt == wire::tcp_option::kNop;
      if (!zero_length) {
        len = p.u8(cp++);
        if (len < 2 || len > hlen) return bad();
        --hlen;
      }
      --hlen;
      size_t datalen = 0;
      put(option_name(opt));
      Check check = Check::kOk;
      switch (opt) {
        case wire::tcp_option::kMss:
          datalen = 2;
          if ((check = lencheck(datalen)) == Check::kOk) print(" {}", p.be16(cp));
          break;
        case wire::tcp_option::kWindowScale:
          datalen = 1;
          if ((check = lencheck(datalen)) == Check::kOk) print(" {}", p.u8(cp));
          break;
        case wire::tcp_option::kSack:
          datalen = len - 2;
          if (datalen % 8 != 0) {
            put(" invalid sack");
          } else {
            print(" {} ", datalen / 8);
            for (size_t i = 0; i < datalen && check == Check::kOk; i += 8) {
              if ((check = lencheck(i + 4)) != Check::kOk) break;
              const uint32_t s = p.be32(cp + i);
              if ((check = lencheck(i + 8)) != Check::kOk) break;
              const uint32_t e = p.be32(cp + i + 4);
              print("{{{}:{}}}", s - sack_base, e - sack_base);
            }
          }
          break;
        case 6:   // echo (RFC 1072)
        case 7:   // echo reply
        case 11:  // CC (RFC 1644)
        case 12:  // CC.NEW
        case 13:  // CC.ECHO
          datalen = 4;
          if ((check = lencheck(datalen)) == Check::kOk) print(" {}", p.be32(cp));
          break;
        case wire::tcp_option::kTimestamps:
          datalen = 8;
          if ((check = lencheck(datalen)) == Check::kOk) {
            print(" val {} ecr {}", p.be32(cp), p.be32(cp + 4));
          }
          break;
        case 19:  // TCP MD5 signature (RFC 2385)
          datalen = 16;
          if ((check = lencheck(datalen)) == Check::kOk) {
            // tcpdump built with libcrypto tries to verify; without -M it cannot.
            put(" ");
            if (payload_len > 0 && !p.has(header_len, payload_len)) {
              put("snaplen too short, ");
            } else {
              put("shared secret not supplied with -M, ");
            }
            put("can't check - ");
            for (size_t i = 0; i < 16; ++i)
              print("{:02x}", p.u8(cp + i));
          }
          break;
        case 20:  // SCPS capabilities
          datalen = 2;
          if ((check = lencheck(datalen)) == Check::kOk) {
            print(" cap {:02x} id {}", p.u8(cp), p.u8(cp + 1));
          }
          break;
        case 28: {  // user timeout (RFC 5482)
          datalen = 2;
          if ((check = lencheck(datalen)) == Check::kOk) {
            uint32_t uto = p.be16(cp);
            print(" 0x{:x}", uto);
            uto = (uto & 1) != 0 ? (uto >> 1) * 60 : uto >> 1;
            print(" {}", uto);
          }
          break;
        }
        case 29:  // TCP-AO (RFC 5925)
          datalen = len - 2;
          if (datalen < 2) {
            put(" (invalid)");
          } else {
            if ((check = lencheck(1)) != Check::kOk) break;
            print(" keyid {}", p.u8(cp));
            if ((check = lencheck(2)) != Check::kOk) break;
            print(" rnextkeyid {}", p.u8(cp + 1));
            if (datalen > 2) {
              put(" mac 0x");
              for (size_t i = 2; i < datalen; ++i) {
                if ((check = lencheck(i + 1)) != Check::kOk) break;
                print("{:02x}", p.u8(cp + i));
              }
            }
          }
          break;
        case 34:  // TCP Fast Open (RFC 7413)
          datalen = len - 2;
          if ((check = lencheck(datalen)) == Check::kOk) {
            put(" ");
            fast_open(p, cp, datalen, false);
          }
          break;
        case 254:  // RFC 6994 experimental option with a magic number
          datalen = len - 2;
          if ((check = lencheck(datalen)) != Check::kOk) break;
          if (datalen < 2) return bad();
          {
            const uint16_t magic = p.be16(cp);
            put("-");
            if (magic == 0xf989) {
              fast_open(p, cp + 2, datalen - 2, true);
            } else {
              print("{:04x}", magic);
            }
          }
          break;
        case wire::tcp_option::kEol:
        case wire::tcp_option::kNop:
        case wire::tcp_option::kSackPermitted:
          break;
        default:
          // Unknown options, and MPTCP (30), which tcpdump dissects and we do not.
          datalen = len - 2;
          if (datalen != 0) put(" 0x");
          for (size_t i = 0; i < datalen; ++i) {
            if ((check = lencheck(i + 1)) != Check::kOk) break;
            print("{:02x}", p.u8(cp + i));
          }
          break;
      }
      if (check == Check::kBad) return bad();
      if (check == Check::kTrunc) return truncated();
      cp += datalen;
      hlen -= datalen;
      // "Check specification against observed length".
      size_t observed = datalen + 1;
      if (!zero_length) ++observed;
      if (observed != len) print("[len {}]", len);
      ch = ',';
      if (opt == wire::tcp_option::kEol) break;
    }
    put("]");
    return true;
  }

  // print-tcp.c tcp_option_values, "unknown-N" for the rest.
  static std::string option_name(uint8_t opt) {
    switch (opt) {
      case 0:
        return "eol";
      case 1:
        return "nop";
      case 2:
        return "mss";
      case 3:
        return "wscale";
      case 4:
        return "sackOK";
      case 5:
        return "sack";
      case 6:
        return "echo";
      case 7:
        return "echoreply";
      case 8:
        return "TS";
      case 11:
        return "cc";
      case 12:
        return "ccnew";
      case 13:
        return "";
      case 19:
        return "md5";
      case 20:
        return "scps";
      case 28:
        return "uto";
      case 29:
        return "tcp-ao";
      case 30:
        return "mptcp";
      case 34:
        return "tfo";
      case 254:
        return "exp";
      default:
        return fmt::format("unknown-{}", opt);
    }
  }

  // print-tcp.c print_tcp_fastopen_option.
  void fast_open(Region p, size_t cp, size_t datalen, bool experimental) {
    if (experimental) put("tfo");
    if (datalen == 0) {
      put(" cookiereq");
    } else if (datalen % 2 != 0 || datalen < 4 || datalen > 16) {
      put(" (invalid)");
    } else {
      put(" cookie ");
      for (size_t i = 0; i < datalen; ++i)
        print("{:02x}", p.u8(cp + i));
    }
  }

  // The port-based payload printers at the end of tcp_print. tcpdump checks the ports in
  // this order and the first match wins; synack prints only the text protocols.
  void tcp_payload(uint16_t sport, uint16_t dport, Region payload, uint32_t length) {
    auto port = [&](uint16_t p) { return sport == p || dport == p; };
    static constexpr uint16_t kUndissectedBefore[] = {23, 25,  43,  179,   1723, 6379,
                                                      22, 139, 445, 10288, 6633, 6653};
    for (uint16_t p : kUndissectedBefore) {
      if (port(p)) {
        if (p == 25) {
          put(": ");
          protocol_ = "smtp";
          text_protocol(payload, length, nullptr, false);
        } else if (p == 43) {
          put(": ");
          protocol_ = "whois";
          text_protocol(payload, length, nullptr, false);
        } else if (p == 22) {
          protocol_ = "ssh";
          ssh(payload, length);
        }
        return;
      }
    }
    if (port(21)) {
      put(": ");
      protocol_ = "ftp";
      text_protocol(payload, length, nullptr, false);
    } else if (port(80) || port(8080)) {
      put(": ");
      protocol_ = "http";
      text_protocol(payload, length, kHttpCommands, true);
    } else if (port(554) || port(8554)) {
      put(": ");
      protocol_ = "rtsp";
      text_protocol(payload, length, kRtspCommands, true);
    }
  }

  // print-http.c httpcmds.
  static constexpr std::string_view kHttpCommands[] = {"GET",
                                                       "PUT",
                                                       "COPY",
                                                       "HEAD",
                                                       "LOCK",
                                                       "MOVE",
                                                       "POLL",
                                                       "POST",
                                                       "BCOPY",
                                                       "BMOVE",
                                                       "MKCOL",
                                                       "TRACE",
                                                       "LABEL",
                                                       "MERGE",
                                                       "DELETE",
                                                       "SEARCH",
                                                       "UNLOCK",
                                                       "REPORT",
                                                       "UPDATE",
                                                       "NOTIFY",
                                                       "BDELETE",
                                                       "CONNECT",
                                                       "OPTIONS",
                                                       "CHECKIN",
                                                       "PROPFIND",
                                                       "CHECKOUT",
                                                       "CHECKOUT",
                                                       "SUBSCRIBE",
                                                       "PROPPATCH",
                                                       "BPROPFIND",
                                                       "BPROPPATCH",
                                                       "UNCHECKOUT",
                                                       "MKACTIVITY",
                                                       "MKWORKSPACE",
                                                       "UNSUBSCRIBE",
                                                       "RPC_CONNECT",
                                                       "VERSION-CONTROL",
                                                       "BASELINE-CONTROL"};

  // print-rtsp.c rtspcmds.
  static constexpr std::string_view kRtspCommands[] = {
      "DESCRIBE", "ANNOUNCE", "GET_PARAMETER", "OPTIONS",       "PAUSE",   "PLAY",
      "RECORD",   "REDIRECT", "SETUP",         "SET_PARAMETER", "TEARDOWN"};

  // util-print.c fetch_token: the token at idx, and the index after it and the blanks that
  // follow; 0 when there is no token.
  static size_t fetch_token(Region p, size_t idx, size_t len, std::string& token) {
    token.clear();
    for (; idx < len; ++idx) {
      if (!p.has(idx, 1)) return 0;
      const uint8_t c = p.u8(idx);
      if (c >= 0x80) return 0;
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') break;
      if (!is_ascii_print(c)) return 0;
      if (token.size() + 2 > 129) return 0;  // MAX_TOKEN + 1
      token += static_cast<char>(c);
    }
    if (token.empty()) return 0;
    for (; idx < len; ++idx) {
      if (!p.has(idx, 1)) break;
      const uint8_t c = p.u8(idx);
      if (c == '\r' || c == '\n') break;
      if (!is_ascii_print(c)) break;
      if (c != ' ' && c != '\t') break;
    }
    return idx;
  }

  // util-print.c txtproto_print without -v: the protocol in capitals and, for a request
  // or response, its first line.
  template <size_t N>
  void text_protocol(Region p, uint32_t len, const std::string_view (&commands)[N],
                     bool response_code_second) {
    text_protocol(p, len, std::span<const std::string_view>(commands), response_code_second);
  }
  void text_protocol(Region p, uint32_t len, std::nullptr_t, bool response_code_second) {
    text_protocol(p, len, std::span<const std::string_view>(), response_code_second, true);
  }
  void text_protocol(Region p, uint32_t len, std::span<const std::string_view> commands,
                     bool response_code_second, bool always = false) {
    bool print_this = always;
    if (!always) {
      std::string token;
      size_t idx = fetch_token(p, 0, len, token);
      if (idx != 0) {
        for (std::string_view cmd : commands) {
          if (ascii_equal_ignore_case(token, cmd)) {
            print_this = true;
            break;
          }
        }
        if (response_code_second) idx = fetch_token(p, idx, len, token);
        if (idx != 0 && token.size() == 3 && is_digit(token[0]) && is_digit(token[1]) &&
            is_digit(token[2])) {
          print_this = true;
        }
      }
    }
    for (char c : protocol_)
      out_.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c));
    if (print_this) text_line(p, len);
  }

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  static bool ascii_equal_ignore_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
      if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
  }

  // util-print.c print_txt_line with the ": " prefix: the first line if it is printable
  // text ending in LF or CR-LF, or all of it if it is printable and has no line end.
  void text_line(Region p, uint32_t len) {
    size_t idx = 0;
    bool line_end = false;
    while (idx < len) {
      const uint8_t c = p.u8(idx);
      if (c == '\n') {
        line_end = true;
        break;
      }
      if (c == '\r') {
        if (idx + 1 >= len) return;
        if (p.u8(idx + 1) != '\n') return;
        line_end = true;
        break;
      }
      if (!is_ascii_print(c) && c != '\t') return;
      ++idx;
    }
    put(": ");
    const Bytes line = p.bytes().first(idx);
    out_.append(reinterpret_cast<const char*>(line.data()),
                reinterpret_cast<const char*>(line.data()) + line.size());
    // tcpdump 4.99.3 treats printable text without a line end as truncated.
    if (!line_end) trunc();
  }

  // print-ssh.c ssh_print: the identification string "SSH-..." when the line is complete.
  void ssh(Region p, uint32_t len) {
    static constexpr char kPrefix[] = "SSH-";
    for (size_t i = 0; i < 4; ++i) {
      if (p.u8(i) != static_cast<uint8_t>(kPrefix[i])) return;
    }
    size_t idx = 4;
    while (idx < len) {
      const uint8_t c = p.u8(idx);
      if (c == '\n') break;
      if (c == '\r') {
        if (idx + 1 >= len) return;
        if (p.u8(idx + 1) == '\n') break;
        return;
      }
      if (!is_ascii_print(c)) return;
      ++idx;
    }
    if (idx >= len) return;
    put(": SSH: ");
    const Bytes line = p.bytes().first(idx);
    out_.append(reinterpret_cast<const char*>(line.data()),
                reinterpret_cast<const char*>(line.data()) + line.size());
  }

  // -------------------------------------------------------------------------------- UDP

  // print-udp.c udpipaddr_print: ports only when the transport follows the IP header.
  void udp_addresses(const IpContext& ip, int sport, int dport) {
    if (sport == -1) {
      print("{} > {}: ", ip.src_text, ip.dst_text);
    } else {
      print("{}.{} > {}.{}: ", ip.src_text, sport, ip.dst_text, dport);
    }
  }

  // print-udp.c udp_print: `UDP, length N` (tcpdump dissects well-known ports; we do not).
  void udp(const IpContext& ip, Region p, uint32_t length, bool fragmented) {
    protocol_ = "udp";
    if (!p.has(2, 2)) {
      udp_addresses(ip, -1, -1);
      throw Truncated{};
    }
    const uint16_t sport = p.be16(0);
    const uint16_t dport = p.be16(2);
    if (length < 8) {
      udp_addresses(ip, sport, dport);
      print("truncated-udp {}", length);
      return;
    }
    if (!p.has(4, 2)) {
      udp_addresses(ip, sport, dport);
      throw Truncated{};
    }
    uint32_t ulen = p.be16(4);
    if (ulen == 0 && length > 65535) ulen = length;  // RFC 2675 jumbogram
    if (ulen < 8) {
      udp_addresses(ip, sport, dport);
      print("truncated-udplength {}", ulen);
      return;
    }
    ulen -= 8;
    length -= 8;
    if (ulen < length) length = ulen;
    if (p.size() < 8) {
      udp_addresses(ip, sport, dport);
      throw Truncated{};
    }
    udp_addresses(ip, sport, dport);
    if (ulen > length && !fragmented) {
      print("UDP, bad length {} > {}", ulen, length);
    } else {
      print("UDP, length {}", ulen);
    }
  }

  // ------------------------------------------------------------------------------- ICMP

  // print-icmp.c icmp_print (tcpdump 4.99.3) without -v. The text is built before anything
  // is printed, so a truncated message prints only " [|icmp]".
  void icmp(Region p, uint32_t length) {
    protocol_ = "icmp";
    const uint8_t type = p.u8(0);
    const uint8_t code = p.u8(1);
    // The quoted datagram of an error starts at offset 8 (RFC 792).
    auto quoted_dst = [&] { return ipv4_text(p.be32(8 + 16)); };
    std::string text;
    auto out = std::back_inserter(text);
    switch (type) {
      case 0:
      case 8:
        fmt::format_to(out, "echo {}, id {}, seq {}", type == 8 ? "request" : "reply", p.be16(4),
                       p.be16(6));
        break;
      case 3:
        switch (code) {
          case 0:
            fmt::format_to(out, "net {} unreachable", quoted_dst());
            break;
          case 1:
            fmt::format_to(out, "host {} unreachable", quoted_dst());
            break;
          case 2:
            fmt::format_to(out, "{} protocol {} unreachable", quoted_dst(), p.u8(8 + 9));
            break;
          case 3: {
            if (!p.has(8 + 9, 1)) throw Truncated{};
            const size_t quoted_hlen = size_t{p.u8(8) & 0x0fu} * 4;
            const uint16_t qdport = p.be16(8 + quoted_hlen + 2);
            const uint8_t qproto = p.u8(8 + 9);
            if (qproto == kIpProtoTcp) {
              fmt::format_to(out, "{} tcp port {} unreachable", quoted_dst(), qdport);
            } else if (qproto == kIpProtoUdp) {
              fmt::format_to(out, "{} udp port {} unreachable", quoted_dst(), qdport);
            } else {
              fmt::format_to(out, "{} protocol {} port {} unreachable", quoted_dst(), qproto,
                             qdport);
            }
            break;
          }
          case 4: {
            const uint16_t mtu = p.be16(6);  // RFC 1191 next-hop MTU
            if (mtu != 0) {
              fmt::format_to(out, "{} unreachable - need to frag (mtu {})", quoted_dst(), mtu);
            } else {
              fmt::format_to(out, "{} unreachable - need to frag", quoted_dst());
            }
            break;
          }
          case 5:
            fmt::format_to(out, "{} unreachable - source route failed", quoted_dst());
            break;
          case 6:
            fmt::format_to(out, "net {} unreachable - unknown", quoted_dst());
            break;
          case 7:
            fmt::format_to(out, "host {} unreachable - unknown", quoted_dst());
            break;
          case 8:
            fmt::format_to(out, "{} unreachable - source host isolated", quoted_dst());
            break;
          case 9:
            fmt::format_to(out, "net {} unreachable - admin prohibited", quoted_dst());
            break;
          case 10:
            fmt::format_to(out, "host {} unreachable - admin prohibited", quoted_dst());
            break;
          case 11:
            fmt::format_to(out, "net {} unreachable - tos prohibited", quoted_dst());
            break;
          case 12:
            fmt::format_to(out, "host {} unreachable - tos prohibited", quoted_dst());
            break;
          case 13:
            fmt::format_to(out, "host {} unreachable - admin prohibited filter", quoted_dst());
            break;
          case 14:
            fmt::format_to(out, "host {} unreachable - host precedence violation", quoted_dst());
            break;
          case 15:
            fmt::format_to(out, "host {} unreachable - precedence cutoff", quoted_dst());
            break;
          default:
            fmt::format_to(out, "{} unreachable - #{}", quoted_dst(), code);
            break;
        }
        break;
      case 5: {
        const std::string gateway = ipv4_text(p.be32(4));
        switch (code) {
          case 0:
            fmt::format_to(out, "redirect {} to net {}", quoted_dst(), gateway);
            break;
          case 1:
            fmt::format_to(out, "redirect {} to host {}", quoted_dst(), gateway);
            break;
          case 2:
            fmt::format_to(out, "redirect-tos {} to net {}", quoted_dst(), gateway);
            break;
          case 3:
            fmt::format_to(out, "redirect-tos {} to host {}", quoted_dst(), gateway);
            break;
          default:
            fmt::format_to(out, "redirect-#{} {} to {}", code, quoted_dst(), gateway);
            break;
        }
        break;
      }
      case 9: {  // router advertisement (RFC 1256)
        text = "router advertisement";
        p.need(4, 4);
        text += " lifetime ";
        const uint32_t lifetime = p.be16(6);
        if (lifetime < 60) {
          fmt::format_to(out, "{}", lifetime);
        } else if (lifetime < 60 * 60) {
          fmt::format_to(out, "{}:{:02}", lifetime / 60, lifetime % 60);
        } else {
          fmt::format_to(out, "{}:{:02}:{:02}", lifetime / 3600, (lifetime % 3600) / 60,
                         lifetime % 60);
        }
        unsigned num = p.u8(4);
        fmt::format_to(out, " {}:", num);
        const uint8_t size = p.u8(5);
        if (size != 2) {
          fmt::format_to(out, " [size {}]", size);
          break;
        }
        for (size_t entry = 8; num > 0; --num, entry += 8) {
          p.need(entry, 8);
          fmt::format_to(out, " {{{} {}}}", ipv4_text(p.be32(entry)), p.be32(entry + 4));
        }
        break;
      }
      case 11:
        p.need(8 + 16, 4);
        if (code == 0) {
          text = "time exceeded in-transit";
        } else if (code == 1) {
          text = "ip reassembly time exceeded";
        } else {
          fmt::format_to(out, "time exceeded-#{}", code);
        }
        break;
      case 12:
        if (code != 0) {
          fmt::format_to(out, "parameter problem - code {}", code);
        } else {
          fmt::format_to(out, "parameter problem - octet {}", p.u8(4));
        }
        break;
      case 18:
        fmt::format_to(out, "address mask is 0x{:08x}", p.be32(8));
        break;
      case 13:
        fmt::format_to(out, "time stamp query id {} seq {}", p.be16(4), p.be16(6));
        break;
      case 14:
        p.need(16, 4);
        fmt::format_to(out, "time stamp reply id {} seq {}: org {}", p.be16(4), p.be16(6),
                       milliseconds_of_day(p.be32(8)));
        fmt::format_to(out, ", recv {}", milliseconds_of_day(p.be32(12)));
        fmt::format_to(out, ", xmit {}", milliseconds_of_day(p.be32(16)));
        break;
      case 4:
        text = "source quench";
        break;
      case 10:
        text = "router solicitation";
        break;
      case 15:
        text = "information request";
        break;
      case 16:
        text = "information reply";
        break;
      case 17:
        text = "address mask request";
        break;
      default:
        fmt::format_to(out, "type-#{}", type);
        break;
    }
    print("ICMP {}, length {}", text, length);
  }

  // print-icmp.c icmp_tstamp_print: milliseconds since midnight UT as HH:MM:SS.mmm.
  static std::string milliseconds_of_day(uint32_t ms) {
    const uint32_t msec = ms % 1000;
    uint32_t sec = ms / 1000;
    uint32_t min = sec / 60;
    sec -= min * 60;
    const uint32_t hrs = min / 60;
    min -= hrs * 60;
    return fmt::format("{:02}:{:02}:{:02}.{:03}", hrs, min, sec, msec);
  }

  TcpdumpFormatter& formatter_;
  fmt::memory_buffer& out_;
  std::string_view protocol_ = "";
};

// ------------------------------------------------------------------------- TcpdumpFormatter

size_t TcpdumpFormatter::ConnectionKeyHash::operator()(const ConnectionKey& k) const noexcept {
  // FNV-1a over the key's bytes: cheap and good enough for a trace's handful of flows.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint8_t b) {
    h ^= b;
    h *= 1099511628211ull;
  };
  mix(k.family);
  for (uint8_t b : k.src)
    mix(b);
  for (uint8_t b : k.dst)
    mix(b);
  for (int shift = 0; shift < 32; shift += 8)
    mix(static_cast<uint8_t>(k.ports >> shift));
  return static_cast<size_t>(h);
}

TcpdumpFormatter::TcpdumpFormatter(TcpdumpOptions options) : options_(std::move(options)) {}

std::optional<std::string> TcpdumpFormatter::interface_name(uint32_t if_index) {
  if (options_.interface_name) return options_.interface_name(if_index);
  auto it = interface_names_.find(if_index);
  if (it != interface_names_.end()) return it->second;
  char name[IF_NAMESIZE] = {};
  std::optional<std::string> result;
  if (if_indextoname(if_index, name) != nullptr) result = std::string(name);
  interface_names_.emplace(if_index, result);
  return result;
}

void TcpdumpFormatter::format_timestamp(fmt::memory_buffer& out, Instant timestamp) {
  const int64_t us = timestamp.as_micros();
  int64_t sec = us / 1'000'000;
  int64_t usec = us % 1'000'000;
  if (usec < 0) {
    usec += 1'000'000;
    sec -= 1;
  }
  const auto t = static_cast<time_t>(sec);
  std::tm tm{};
  if (localtime_r(&t, &tm) == nullptr) {
    // util-print.c ts_date_hmsfrac_format's answer when the time cannot be converted.
    fmt::format_to(std::back_inserter(out), "[localtime() fails]");
    return;
  }
  fmt::format_to(std::back_inserter(out), "{:02}:{:02}:{:02}.{:06}", tm.tm_hour, tm.tm_min,
                 tm.tm_sec, usec);
}

void TcpdumpFormatter::format_to(fmt::memory_buffer& out, Instant timestamp, int link_type,
                                 wire::Bytes captured, uint32_t original_length) {
  // print.c pretty_print_packet rejects impossible record headers before the timestamp.
  const bool no_bytes = captured.empty();
  const bool no_length = original_length == 0;
  const bool short_length = !no_length && original_length < captured.size();
  if (no_bytes || no_length || short_length) {
    std::string_view separator = " ";
    auto note = [&](std::string_view text) {
      out.append(separator.data(), separator.data() + separator.size());
      out.append(text.data(), text.data() + text.size());
      separator = ", ";
    };
    fmt::format_to(std::back_inserter(out), "[Invalid header:");
    if (no_bytes) note("caplen==0");
    if (no_length) note("len==0");
    if (short_length) {
      note(fmt::format("len({}) < caplen({})", original_length, captured.size()));
    }
    out.push_back(']');
    return;
  }
  format_timestamp(out, timestamp);
  out.push_back(' ');
  Dissector(*this, out).run(link_type, Region(captured), original_length);
}

std::string TcpdumpFormatter::format(Instant timestamp, int link_type, wire::Bytes captured,
                                     uint32_t original_length) {
  fmt::memory_buffer out;
  format_to(out, timestamp, link_type, captured, original_length);
  return fmt::to_string(out);
}

std::string TcpdumpFormatter::format_ip(Instant timestamp, wire::Bytes datagram) {
  return format(timestamp, link_type::kRaw, datagram, static_cast<uint32_t>(datagram.size()));
}

}  // namespace synack::trace
