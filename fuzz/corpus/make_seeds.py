#!/usr/bin/python3
"""Writes the seed corpus of wire_packet_fuzz: a handful of well-formed IPv4 packets of the
kinds synack meets (handshake with options, data, SACK, RST, ICMP echo and unreachable).
Run with Debian's python3 (scapy): /usr/bin/python3 fuzz/corpus/make_seeds.py"""
import os
from scapy.all import IP, TCP, ICMP, UDP, Raw, raw

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wire_packet")
os.makedirs(out, exist_ok=True)
a, b = "10.0.0.1", "10.0.0.2"
syn_opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1665491812, 0)), ("NOP", None), ("WScale", 7)]
seeds = {
    "syn": IP(src=a, dst=b, flags="DF") / TCP(sport=41631, dport=9988, flags="S", seq=2970024578, window=64240, options=syn_opts),
    "syn_ack": IP(src=b, dst=a) / TCP(sport=9988, dport=41631, flags="SA", seq=2032818397, ack=2970024579, options=syn_opts),
    "syn_no_ts": IP(src=a, dst=b) / TCP(sport=1, dport=2, flags="S", options=[("MSS", 536), ("NOP", None), ("NOP", None), ("SAckOK", b""), ("NOP", None), ("WScale", 14)]),
    "data_psh": IP(src=a, dst=b) / TCP(sport=41631, dport=9988, flags="PA", seq=1, ack=1, options=[("NOP", None), ("NOP", None), ("Timestamp", (5, 6))]) / Raw(b"hello\n"),
    "sack": IP(src=b, dst=a) / TCP(sport=9988, dport=41631, flags="A", seq=1, ack=1, options=[("NOP", None), ("NOP", None), ("Timestamp", (7, 8)), ("NOP", None), ("NOP", None), ("SAck", (1449, 2897, 4345, 5793))]),
    "urg_fin": IP(src=a, dst=b) / TCP(sport=5, dport=6, flags="FPAU", urgptr=3) / Raw(b"abc"),
    "rst": IP(src=b, dst=a) / TCP(sport=9988, dport=41631, flags="R", seq=0),
    "ecn_unknown_opt": IP(src=a, dst=b, tos=2) / TCP(sport=7, dport=8, flags="SEC", reserved=1, options=[(34, b"\x01\x02\x03\x04"), ("EOL", None)]),
    "ip_options": IP(src=a, dst=b, options=[b"\x94\x04\x00\x00"]) / TCP(sport=9, dport=10, flags="A"),
    "icmp_echo": IP(src=a, dst=b) / ICMP(type=8, id=0x1234, seq=1) / Raw(b"x" * 56),
    "icmp_unreach": IP(src=b, dst=a) / ICMP(type=3, code=3) / raw(IP(src=a, dst=b) / UDP(sport=5353, dport=9999) / Raw(b"hi"))[:28],
    "fragment": IP(src=a, dst=b, flags="MF", frag=0, id=7) / Raw(b"y" * 32),
}
for name, pkt in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(raw(pkt))
print(f"wrote {len(seeds)} seeds to {out}")
