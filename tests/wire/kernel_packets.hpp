// IPv4 datagrams captured from a real Linux 6.x kernel, used as golden inputs.
//
// How they were made: two network namespaces joined by a veth pair (10.0.0.1 on v0,
// 10.0.0.2 on v1) with `ethtool -K vN tx off`, so the kernel computes real checksums
// instead of leaving offload placeholders (loopback captures carry those). tcpdump on v0
// recorded a TCP connection 10.0.0.1:40000 -> 10.0.0.2:5555 (SYN, SYN-ACK, 14 bytes of data,
// 5 bytes back, FINs), a SYN to a closed port (RST), a UDP datagram to a closed port (ICMP
// port unreachable), a connection made with net.ipv4.tcp_timestamps=0 (SYN without TS),
// and `ping -s 13` and `ping -R -s 4` (record-route IP options). The Ethernet header is
// stripped; every checksum below is as the kernel computed it (tcpdump -vv: "correct").
// Sixteen bytes a line, as `tcpdump -xx` prints them.
#pragma once

#include <string_view>

namespace synack::wire::test::kernel {

// 10.0.0.1.40000 > 10.0.0.2.5555: Flags [S], cksum 0xb15d, seq 2459123363, win 64240,
// options [mss 1460,sackOK,TS val 3764855834 ecr 0,nop,wscale 10], length 0
inline constexpr std::string_view kSyn =
    "45 00 00 3c 9a f4 40 00 40 06 8b c5 0a 00 00 01 "
    "0a 00 00 02 9c 40 15 b3 92 93 3e a3 00 00 00 00 "
    "a0 02 fa f0 b1 5d 00 00 02 04 05 b4 04 02 08 0a "
    "e0 67 24 1a 00 00 00 00 01 03 03 0a";

// 10.0.0.2.5555 > 10.0.0.1.40000: Flags [S.], cksum 0x15e5, seq 3456866686, ack 2459123364,
// win 65160, options [mss 1460,sackOK,TS val 2382602817 ecr 3764855834,nop,wscale 10]
inline constexpr std::string_view kSynAck =
    "45 00 00 3c 00 00 40 00 40 06 26 ba 0a 00 00 02 "
    "0a 00 00 01 15 b3 9c 40 ce 0b 99 7e 92 93 3e a4 "
    "a0 12 fe 88 15 e5 00 00 02 04 05 b4 04 02 08 0a "
    "8e 03 a2 41 e0 67 24 1a 01 03 03 0a";

// 10.0.0.1.40000 > 10.0.0.2.5555: Flags [.], cksum 0x42fe, seq 1, ack 1, win 63,
// options [nop,nop,TS val 3764855834 ecr 2382602817], length 0
inline constexpr std::string_view kAck =
    "45 00 00 34 9a f5 40 00 40 06 8b cc 0a 00 00 01 "
    "0a 00 00 02 9c 40 15 b3 92 93 3e a4 ce 0b 99 7f "
    "80 10 00 3f 42 fe 00 00 01 01 08 0a e0 67 24 1a "
    "8e 03 a2 41";

// 10.0.0.1.40000 > 10.0.0.2.5555: Flags [P.], cksum 0x989a, seq 1:15, ack 1, win 63,
// options [nop,nop,TS val 3764855834 ecr 2382602817], length 14 ("hello, synack\n")
inline constexpr std::string_view kData =
    "45 00 00 42 9a f6 40 00 40 06 8b bd 0a 00 00 01 "
    "0a 00 00 02 9c 40 15 b3 92 93 3e a4 ce 0b 99 7f "
    "80 18 00 3f 98 9a 00 00 01 01 08 0a e0 67 24 1a "
    "8e 03 a2 41 68 65 6c 6c 6f 2c 20 73 79 6e 61 63 "
    "6b 0a";

// 10.0.0.2.5555 > 10.0.0.1.40000: Flags [P.], cksum 0x4df7, seq 1:6, ack 15, win 64,
// options [nop,nop,TS val 2382602918 ecr 3764855834], length 5 ("odd!!": an odd length)
inline constexpr std::string_view kOddData =
    "45 00 00 39 fc c9 40 00 40 06 29 f3 0a 00 00 02 "
    "0a 00 00 01 15 b3 9c 40 ce 0b 99 7f 92 93 3e b2 "
    "80 18 00 40 4d f7 00 00 01 01 08 0a 8e 03 a2 a6 "
    "e0 67 24 1a 6f 64 64 21 21";

// 10.0.0.1.40000 > 10.0.0.2.5555: Flags [F.], cksum 0x41bd, seq 15, ack 6, win 63,
// options [nop,nop,TS val 3764856034 ecr 2382602918], length 0
inline constexpr std::string_view kFin =
    "45 00 00 34 9a f8 40 00 40 06 8b c9 0a 00 00 01 "
    "0a 00 00 02 9c 40 15 b3 92 93 3e b2 ce 0b 99 84 "
    "80 11 00 3f 41 bd 00 00 01 01 08 0a e0 67 24 e2 "
    "8e 03 a2 a6";

// 10.0.0.2.5556 > 10.0.0.1.40001: Flags [R.], cksum 0xbd51, seq 0, ack 3367789514, win 0,
// length 0 (the answer to a SYN for a closed port)
inline constexpr std::string_view kRst =
    "45 00 00 28 00 00 40 00 40 06 26 ce 0a 00 00 02 "
    "0a 00 00 01 15 b4 9c 41 00 00 00 00 c8 bc 63 ca "
    "50 14 00 00 bd 51 00 00";

// net.ipv4.tcp_timestamps=0: 10.0.0.1.40003 > 10.0.0.2.5558: Flags [S], cksum 0x1dc8,
// seq 3557211218, win 64240, options [mss 1460,nop,nop,sackOK,nop,wscale 10], length 0
inline constexpr std::string_view kSynNoTimestamps =
    "45 00 00 34 0b db 40 00 40 06 1a e7 0a 00 00 01 "
    "0a 00 00 02 9c 43 15 b6 d4 06 bc 52 00 00 00 00 "
    "80 02 fa f0 1d c8 00 00 02 04 05 b4 01 01 04 02 "
    "01 03 03 0a";

// tos 0xc0, id 1162, flags [none]: 10.0.0.2 > 10.0.0.1: ICMP 10.0.0.2 udp port 5557
// unreachable, quoting IP (id 35148, DF, UDP, length 36) 10.0.0.1.40002 > 10.0.0.2.5557
// and the whole 16-byte UDP datagram ("ping-udp").
inline constexpr std::string_view kPortUnreachable =
    "45 c0 00 40 04 8a 00 00 40 01 61 71 0a 00 00 02 "
    "0a 00 00 01 03 03 11 21 00 00 00 00 45 00 00 24 "
    "89 4c 40 00 40 11 9d 7a 0a 00 00 01 0a 00 00 02 "
    "9c 42 15 b5 00 10 c9 1d 70 69 6e 67 2d 75 64 70";

// ping -s 13: 10.0.0.1 > 10.0.0.2: ICMP echo request, id 7310, seq 1, length 21
// (13 data bytes 00..0c: an odd-length ICMP message).
inline constexpr std::string_view kEchoRequest =
    "45 00 00 29 47 c0 40 00 40 01 df 11 0a 00 00 01 "
    "0a 00 00 02 08 00 b1 4c 1c 8e 00 01 00 01 02 03 "
    "04 05 06 07 08 09 0a 0b 0c";

// 10.0.0.2 > 10.0.0.1: ICMP echo reply, id 7310, seq 1, length 21
inline constexpr std::string_view kEchoReply =
    "45 00 00 29 04 8f 00 00 40 01 62 43 0a 00 00 02 "
    "0a 00 00 01 00 00 b9 4c 1c 8e 00 01 00 01 02 03 "
    "04 05 06 07 08 09 0a 0b 0c";

// ping -R -s 4: IHL 15, options (NOP, RR 10.0.0.1, 8 empty slots): 40 bytes of options,
// then ICMP echo request id 7311, seq 1, 4 data bytes.
inline constexpr std::string_view kEchoRequestRecordRoute =
    "4f 00 00 48 47 c1 40 00 40 01 a2 e1 0a 00 00 01 "
    "0a 00 00 02 01 07 27 08 0a 00 00 01 00 00 00 00 "
    "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
    "00 00 00 00 00 00 00 00 00 00 00 00 08 00 d9 6b "
    "1c 8f 00 01 00 01 02 03";

// The reply: options (RR 10.0.0.1, 10.0.0.2, 10.0.0.2, 6 empty slots, EOL).
inline constexpr std::string_view kEchoReplyRecordRoute =
    "4f 00 00 48 04 90 00 00 40 01 3b de 0a 00 00 02 "
    "0a 00 00 01 07 27 10 0a 00 00 01 0a 00 00 02 0a "
    "00 00 02 00 00 00 00 00 00 00 00 00 00 00 00 00 "
    "00 00 00 00 00 00 00 00 00 00 00 00 00 00 e1 6b "
    "1c 8f 00 01 00 01 02 03";

}  // namespace synack::wire::test::kernel
