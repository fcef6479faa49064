// Packets as text, exactly as tcpdump 4.99.3 prints them with `-n` (and `-S`).
//
// One line per packet: `06:31:02.123456 IP 10.0.0.1.41631 > 10.0.0.2.9988: Flags [S.], seq
// 2032818397, ack 2970024579, win 65483, options [mss 65495,sackOK,TS val 1665491812 ecr
// 337030380,nop,wscale 10], length 0`. The dissector walks raw bytes the way tcpdump's
// print-*.c do, including how far it gets in truncated or malformed packets (`[|tcp]`,
// `[bad opt]`, `bad-len 10`, ...), because a trace that differs from tcpdump on exactly
// the odd packet is the trace nobody trusts. It never verifies checksums (loopback
// captures carry unfinished, offloaded ones) and never reads past the captured bytes.
//
// Why raw bytes and not wire::Ipv4View/TcpView: the views validate (rightly, for the stack)
// and reject what tcpdump still prints — snaplen-truncated captures, options that do not
// add up, total lengths beyond the capture — and tcpdump's text depends on exactly how far
// its parsing got. The formatter uses the wire layer's field accessors, constants and
// value types instead.
//
// Covered exactly (checked against tcpdump 4.99.3, see tests/trace/tcpdump_test.cpp):
//  - link layers: Ethernet (DLT_EN10MB, no MACs as without -e, 802.1Q tags skipped),
//    Linux cooked v1 (DLT_LINUX_SLL) and v2 (DLT_LINUX_SLL2: `lo    In  ` prefix, the
//    interface name looked up from the ifindex on the reading machine as tcpdump does),
//    raw IP (DLT_RAW 12 and 14, LINKTYPE_RAW 101, DLT_IPV4 228), BSD loopback (DLT_NULL);
//  - IPv4: `IP ` lines, truncated-ip, bad-hlen, bad-len, fragments (`ip-proto-N`),
//    protocols tcpdump has no printer for (`ip-proto-N LEN`);
//  - TCP: flags (F S R P . U E W; `none`; AE and reserved bits are not shown), relative
//    sequence numbers per connection (tcpdump's tcp_seq_hash: keyed by the address/port
//    pair in canonical order, recorded on a packet with ACK when there is no entry or the
//    packet has SYN; SACK blocks relative), every option tcpdump 4.99.3 names except
//    MPTCP, `[len N]`, `[bad opt]`, `[|tcp]`, bad header lengths;
//  - UDP (`UDP, length N`, bad/truncated lengths), ICMP (all types and codes tcpdump
//    names), ARP, IPv6 with TCP/UDP/ICMPv6 echo directly after the fixed header;
//  - the first line of text protocols tcpdump prints without -v: HTTP (80, 8080: `: HTTP:
//    GET / HTTP/1.1`, or just `: HTTP` for body segments), RTSP, FTP, SMTP, WHOIS, and the
//    SSH identification string;
//  - unknown ethertypes: tcpdump's header line plus its hex-and-ASCII dump lines.
//
// Known differences (tcpdump prints more; synack prints the generic form):
//  - other application payloads (DNS, BGP, telnet options, NFS, SMB, ...; UDP ports such
//    as 53, 67/68, 123, 161, 500, 4789) are not dissected; UDP prints `UDP, length N`;
//  - IP protocols other than TCP/UDP/ICMP (IGMP, GRE, ESP, OSPF, SCTP, ...) print
//    `IP a > b:  ip-proto-N LEN`; the MPTCP option prints its bytes in hex;
//  - IPv6 extension headers and ICMPv6 messages other than echo are not dissected;
//  - other ethertypes tcpdump dissects (LLDP, MPLS, PPPoE, ...) and 802.3/LLC frames print
//    as tcpdump prints a type it cannot dissect: MACs, `ethertype NAME (0x....), length N: `
//    (tcpdump's names) and the hex dump;
//  - DLT_RAW value 14 is accepted, although tcpdump 4.99.3 on Linux refuses that link type.
#pragma once

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "synack/time.hpp"
#include "synack/wire/bytes.hpp"

namespace synack::trace {

// pcap link-layer header types (DLT_ values, as pcap_datalink() reports them).
namespace link_type {
inline constexpr int kNull = 0;           // DLT_NULL: BSD loopback, 4-byte host-order family
inline constexpr int kEthernet = 1;       // DLT_EN10MB
inline constexpr int kRaw = 12;           // DLT_RAW on Linux; libpcap maps LINKTYPE_RAW 101 to it
inline constexpr int kRawBsd = 14;        // DLT_RAW on OpenBSD
inline constexpr int kLinktypeRaw = 101;  // LINKTYPE_RAW, should a caller pass the file value
inline constexpr int kLinuxSll = 113;     // DLT_LINUX_SLL: Linux cooked capture v1
inline constexpr int kIpv4 = 228;         // DLT_IPV4
inline constexpr int kLinuxSll2 = 276;    // DLT_LINUX_SLL2: Linux cooked capture v2
}  // namespace link_type

struct TcpdumpOptions {
  // tcpdump -S: print absolute sequence numbers instead of relative ones.
  bool absolute_sequence_numbers = false;
  // Names an interface index for DLT_LINUX_SLL2 lines. Empty: if_indextoname(3) in the
  // calling process's network namespace, which is what tcpdump does when it reads a file
  // (so a capture read on another machine shows that machine's names, or `?`).
  std::function<std::optional<std::string>(uint32_t)> interface_name;
};

class TcpdumpFormatter {
 public:
  explicit TcpdumpFormatter(TcpdumpOptions options = {});

  // One packet as tcpdump prints it, without the trailing newline: the local-time
  // timestamp (TZ honoured), a space, then the dissection. A packet tcpdump hex-dumps
  // (unknown ethertype) has further lines, joined with '\n'. `original_length` is the
  // length on the wire (pcap's len); `captured` may be shorter (pcap's caplen).
  std::string format(Instant timestamp, int link_type, wire::Bytes captured,
                     uint32_t original_length);
  void format_to(fmt::memory_buffer& out, Instant timestamp, int link_type, wire::Bytes captured,
                 uint32_t original_length);

  // A whole IPv4 (or IPv6) datagram as synack's devices carry it: link type DLT_RAW.
  std::string format_ip(Instant timestamp, wire::Bytes datagram);

  // Forgets every connection's initial sequence numbers: relative numbering starts over.
  void reset() { connections_.clear(); }

  // `HH:MM:SS.uuuuuu` in local time (localtime_r, so TZ applies), as tcpdump's default -t.
  static void format_timestamp(fmt::memory_buffer& out, Instant timestamp);

 private:
  friend class Dissector;  // the per-packet worker in tcpdump.cpp

  // The per-connection state of tcpdump's relative numbering (print-tcp.c tcp_seq_hash).
  struct ConnectionKey {
    uint8_t family = 4;             // 4 or 6: IPv4 and IPv6 are separate tables
    std::array<uint8_t, 16> src{};  // canonical order: see print-tcp.c
    std::array<uint8_t, 16> dst{};
    uint32_t ports = 0;  // sport << 16 | dport, canonical order
    bool operator==(const ConnectionKey&) const = default;
  };
  struct ConnectionKeyHash {
    size_t operator()(const ConnectionKey& k) const noexcept;
  };
  struct InitialSequence {
    uint32_t seq = 0;  // subtracted from the canonical source's sequence numbers
    uint32_t ack = 0;  // subtracted from the canonical destination's sequence numbers
  };

  std::optional<std::string> interface_name(uint32_t if_index);

  TcpdumpOptions options_;
  std::unordered_map<ConnectionKey, InitialSequence, ConnectionKeyHash> connections_;
  std::unordered_map<uint32_t, std::optional<std::string>> interface_names_;
};

}  // namespace synack::trace
