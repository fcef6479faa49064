#!/usr/bin/python3
"""Make real Linux-kernel packet captures for synack's tcpdump-compatibility tests.

Usage: make_captures.py OUTDIR

Writes one pcap per scenario into OUTDIR (see SCENARIOS at the bottom and README.md next to
this file). The script re-executes itself inside a fresh network namespace (`unshare -n`),
so every packet it causes stays on that namespace's loopback device or on a TUN device
created inside it, and every change it makes (MTU, sysctls, iptables rules) dies with the
namespace. It needs root, `unshare`, `tcpdump`, `ip` and `iptables`; it uses only the
Python standard library.

Each scenario starts `tcpdump -w FILE`, waits until tcpdump reports that it is listening,
generates traffic with ordinary sockets (the kernel is both ends, except for the TUN
scenario where this script plays the far end), waits until tcpdump has printed the packets
that end the exchange (tcpdump runs with --print, so a printed packet is a written
packet), stops it with SIGINT, and then checks the written file with `tcpdump -n -r`.
A scenario whose capture does not show what it promises is retried a bounded number of
times. Everything has a time limit; the whole run takes a few seconds.

Exit status: 0 when every capture was written and checked, 1 otherwise (with a message),
2 on a usage error.
"""

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Callable, List, Optional

# ---------------------------------------------------------------------------------------
# Limits

SOCKET_TIMEOUT = 5.0         # every socket operation
CAPTURE_START_TIMEOUT = 5.0  # until tcpdump says "listening on"
CAPTURE_END_TIMEOUT = 5.0    # until tcpdump has printed the packets that end a scenario
TCPDUMP_EXIT_TIMEOUT = 5.0   # after SIGINT
COMMAND_TIMEOUT = 10.0       # ip, iptables, tcpdump -r
MAX_ATTEMPTS = 3             # per scenario
TOTAL_BUDGET = 50.0          # seconds for the whole run; no new attempt starts after it
CAPTURE_BUFFER_KIB = 65536   # tcpdump -B; see Capture

LOOPBACK = "127.0.0.1"

# Server ports: high, fixed, one per scenario (so a late packet of one scenario can never
# land in another's capture) and none that tcpdump has a dissector for. Client ports are
# left to the kernel.
PORT_HANDSHAKE = 9988
PORT_DATA = 9989
PORT_CLOSE_FOUR_WAY = 9990
PORT_CLOSE_THREE_WAY = 9991
PORT_CLOSED = 9992          # nobody listens here
PORT_ABORT = 9993
PORT_URGENT = 9994
PORT_SACK = 9995
PORT_NO_OPTIONS = 9996
PORT_UDP_CLOSED = 9997      # UDP, nobody listens here
PORT_SLL = 9984
PORT_SLL2 = 9985
PORT_TUN = 9986
STRAY_ACK_SOURCE_PORT = 47000  # source port of the hand-made ACK in rst_closed_port

# The TUN scenario: the kernel owns TUN_LOCAL, this script plays TUN_PEER.
TUN_NAME = "sntun0"
TUN_LOCAL = "10.77.0.1"
TUN_PEER = "10.77.0.2"

# <linux/if_tun.h>
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000

# <netinet/tcp.h>
TCP_FIN_WAIT2 = 5

# TCP header flags
FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


class ScenarioError(Exception):
    """A scenario attempt did not produce the capture it promises."""


class SetupError(Exception):
    """The environment cannot run the scenarios at all (not retried)."""


# ---------------------------------------------------------------------------------------
# Small helpers

def run(*cmd: str) -> str:
    """Runs a command to completion, raising SetupError with its stderr on failure."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SetupError(f"{' '.join(cmd)}: {e}") from e
    if done.returncode != 0:
        raise SetupError(f"{' '.join(cmd)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def write_sysctl(name: str, value: str) -> str:
    """Sets a sysctl of this namespace; returns the previous value."""
    path = "/proc/sys/" + name.replace(".", "/")
    with open(path) as f:
        old = f.read().strip()
    with open(path, "w") as f:
        f.write(value)
    return old


@contextlib.contextmanager
def sysctls(**settings: str):
    """Temporarily sets sysctls (keyword names use '__' for '.')."""
    saved = {}
    try:
        for key, value in settings.items():
            name = key.replace("__", ".")
            saved[name] = write_sysctl(name, value)
        yield
    finally:
        for name, value in saved.items():
            write_sysctl(name, value)


def link_attrs(dev: str) -> dict:
    """A device's attributes as `ip -details -json` reports them. (Not /sys/class/net:
    sysfs still shows the namespace it was mounted in, i.e. the outer one.)"""
    return json.loads(run("ip", "-details", "-json", "link", "show", "dev", dev))[0]


@contextlib.contextmanager
def loopback_like_ethernet():
    """Makes lo look like an Ethernet link to TCP: MTU 1500 (so MSS 1460) and at most one
    MSS per packet. Without the second part the kernel hands lo GSO "super-packets" of up
    to 64 KB, which tcpdump shows as single huge segments."""
    attrs = link_attrs("lo")
    mtu, segs = str(attrs["mtu"]), str(attrs["gso_max_segs"])
    run("ip", "link", "set", "dev", "lo", "mtu", "1500", "gso_max_segs", "1")
    try:
        yield
    finally:
        run("ip", "link", "set", "dev", "lo", "mtu", mtu, "gso_max_segs", segs)


@contextlib.contextmanager
def iptables_rule(*spec: str):
    """Temporarily appends an iptables rule to the namespace's filter table."""
    run("iptables", "-A", *spec)
    try:
        yield
    finally:
        run("iptables", "-D", *spec)


class Worker(threading.Thread):
    """Runs fn(*args) in a thread and hands its exception back to finish()."""

    def __init__(self, fn: Callable, *args):
        super().__init__(daemon=True)
        self.fn, self.args, self.error = fn, args, None

    def run(self):
        try:
            self.fn(*self.args)
        except BaseException as e:  # re-raised in finish()
            self.error = e

    def finish(self, timeout: float = 2 * SOCKET_TIMEOUT):
        self.join(timeout)
        if self.is_alive():
            raise ScenarioError(f"{self.fn.__name__} did not finish within {timeout} s")
        if self.error is not None:
            raise self.error


# ---------------------------------------------------------------------------------------
# Sockets

def listener(port: int, addr: str = LOOPBACK) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(SOCKET_TIMEOUT)
    s.bind((addr, port))
    s.listen(8)
    return s


def connect(port: int, addr: str = LOOPBACK) -> socket.socket:
    return socket.create_connection((addr, port), timeout=SOCKET_TIMEOUT)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ScenarioError(f"peer closed after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)


def recv_until_eof(sock: socket.socket) -> bytes:
    data = bytearray()
    while chunk := sock.recv(65536):
        data += chunk
    return bytes(data)


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of a socket (tcpi_state, the first byte of TCP_INFO)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def serve_one(lsock: socket.socket, handler: Callable[[socket.socket], None]):
    """Accepts one connection and runs handler on it; the connection is closed afterwards."""
    conn, _ = lsock.accept()
    with conn:
        conn.settimeout(SOCKET_TIMEOUT)
        handler(conn)


# ---------------------------------------------------------------------------------------
# Hand-built IPv4/TCP packets (for the stray ACK and for the TUN peer)

def internet_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_segment(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int,
                window: int, options: bytes = b"", payload: bytes = b"") -> bytes:
    """A TCP header (with a correct checksum) followed by payload."""
    options += b"\0" * (-len(options) % 4)
    offset = (20 + len(options)) // 4
    header = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                         offset << 4, flags, window, 0, 0) + options
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(
        "!BBH", 0, socket.IPPROTO_TCP, len(header) + len(payload))
    checksum = internet_checksum(pseudo + header + payload)
    return header[:16] + struct.pack("!H", checksum) + header[18:] + payload


def ipv4_packet(src: str, dst: str, proto: int, payload: bytes, ident: int) -> bytes:
    """An IPv4 header (DF, TTL 64, correct checksum) followed by payload."""
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0x4000,
                         64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:] + payload


@dataclasses.dataclass
class Segment:
    """The parts of an inbound IPv4/TCP packet the TUN peer looks at."""
    src: str
    dst: str
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    tsval: Optional[int]
    payload: bytes


def parse_segment(packet: bytes) -> Optional[Segment]:
    """Parses an IPv4/TCP packet; None for anything else."""
    if len(packet) < 40 or packet[0] >> 4 != 4 or packet[9] != socket.IPPROTO_TCP:
        return None
    ihl = (packet[0] & 0x0F) * 4
    total = struct.unpack("!H", packet[2:4])[0]
    tcp = packet[ihl:total]
    sport, dport, seq, ack, offset, flags = struct.unpack("!HHIIBB", tcp[:14])
    doff = (offset >> 4) * 4
    tsval, options, i = None, tcp[20:doff], 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2:
            break
        if kind == 8 and options[i + 1] == 10:
            tsval = struct.unpack("!I", options[i + 2:i + 6])[0]
        i += options[i + 1]
    return Segment(socket.inet_ntoa(packet[12:16]), socket.inet_ntoa(packet[16:20]),
                   sport, dport, seq, ack, flags, tsval, tcp[doff:])


# ---------------------------------------------------------------------------------------
# tcpdump

TCP_LINE = re.compile(r"IP (\S+) > (\S+): Flags \[([^\]]*)\]")


def tcp_flags(lines: List[str]) -> List[str]:
    """The tcpdump flag string ("S", "S.", "P.", "R", ...) of every TCP line, in order."""
    return [m.group(3) for m in map(TCP_LINE.search, lines) if m]


def connections_closed(count: int) -> Callable[[List[str]], bool]:
    """A predicate over tcpdump lines: `count` TCP connections have ended, i.e. one side
    sent RST, or both sent FIN and the other side has answered the second FIN."""
    def predicate(lines: List[str]) -> bool:
        state = {}  # connection -> {"fins": set of senders, "last_fin": sender, "done": bool}
        for m in map(TCP_LINE.search, lines):
            if not m:
                continue
            src, dst, flags = m.groups()
            conn = state.setdefault(frozenset((src, dst)),
                                    {"fins": set(), "last_fin": None, "done": False})
            if "R" in flags:
                conn["done"] = True
            elif conn["last_fin"] is not None and src != conn["last_fin"]:
                conn["done"] = True
            if "F" in flags:
                conn["fins"].add(src)
                if len(conn["fins"]) == 2:
                    conn["last_fin"] = src
        return sum(c["done"] for c in state.values()) >= count
    return predicate


def count_matching(pattern: str, count: int) -> Callable[[List[str]], bool]:
    """A predicate over tcpdump lines: at least `count` lines contain `pattern`."""
    return lambda lines: sum(pattern in line for line in lines) >= count


class Capture:
    """`tcpdump -w PATH` running while the `with` block runs.

    tcpdump also prints every packet it writes (--print, line-buffered), which lets
    wait_for() know what is in the file before the capture is stopped with SIGINT."""

    def __init__(self, path: str, interface: str = "lo", linktype: Optional[str] = None,
                 bpf: str = ""):
        # --immediate-mode makes libpcap use a ring of fixed-size slots, each big enough for
        # the largest packet it may see (the snapshot length on "any", about 64 KB on lo,
        # which has offloads), so the default 2 MB buffer holds only 8 to 32 packets, and
        # every packet on lo takes a second slot for its outgoing copy, which libpcap
        # discards only afterwards. A 64 MB buffer (-B, in KiB) absorbs a scenario's burst;
        # __exit__ fails the attempt if tcpdump still reports drops.
        # -Z root: Debian's tcpdump otherwise switches to user "tcpdump" before it creates
        # the file. --print (tcpdump 4.99) prints each packet as it is written.
        self.cmd = ["tcpdump", "-i", interface, "-w", path, "-U", "--immediate-mode",
                    "-B", str(CAPTURE_BUFFER_KIB), "--print", "-l", "-n", "-Z", "root"]
        if linktype:
            self.cmd += ["-y", linktype]
        self.cmd += bpf.split()
        self.lines: List[str] = []    # packets printed so far
        self.errors: List[str] = []   # stderr lines
        self.eof = False
        self.cond = threading.Condition()
        self.proc: Optional[subprocess.Popen] = None

    def _pump(self, stream, sink: List[str]):
        for line in stream:
            with self.cond:
                sink.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            if sink is self.lines:
                self.eof = True
            self.cond.notify_all()

    def __enter__(self) -> "Capture":
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.pumps = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines),
                                       daemon=True),
                      threading.Thread(target=self._pump, args=(self.proc.stderr, self.errors),
                                       daemon=True)]
        for t in self.pumps:
            t.start()
        with self.cond:
            listening = self.cond.wait_for(
                lambda: any("listening on" in e for e in self.errors) or self.eof,
                CAPTURE_START_TIMEOUT)
        if not listening or self.eof:
            self._stop()
            raise SetupError(f"{' '.join(self.cmd)} did not start: " + " / ".join(self.errors))
        return self

    def wait_for(self, predicate: Callable[[List[str]], bool],
                 timeout: float = CAPTURE_END_TIMEOUT):
        """Waits until predicate(printed lines) holds; ScenarioError after timeout."""
        with self.cond:
            if not self.cond.wait_for(lambda: predicate(self.lines) or self.eof, timeout) \
                    or not predicate(self.lines):
                tail = "\n    ".join(self.lines[-5:]) or "(nothing)"
                raise ScenarioError(f"capture incomplete after {timeout} s; last packets:\n"
                                    f"    {tail}")

    def _stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(TCPDUMP_EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        for t in self.pumps:
            t.join(TCPDUMP_EXIT_TIMEOUT)
        return rc

    def __exit__(self, exc_type, exc, tb):
        rc = self._stop()
        if exc_type is None:
            if rc != 0:
                raise SetupError(f"tcpdump exited with {rc}: " + " / ".join(self.errors))
            dropped = [e for e in self.errors if re.fullmatch(r"[1-9]\d* packets? dropped.*", e)]
            if dropped:
                raise ScenarioError(f"tcpdump lost packets: {dropped[0]}")
        return False


def read_capture(path: str):
    """`tcpdump -n -r path`: (packet lines, link-type name)."""
    done = subprocess.run(["tcpdump", "-n", "-r", path], capture_output=True,
                          text=True, timeout=COMMAND_TIMEOUT)
    if done.returncode != 0:
        raise ScenarioError(f"tcpdump -r {path}: {done.stderr.strip()}")
    m = re.search(r"link-type (\S+)", done.stderr)
    return done.stdout.splitlines(), (m.group(1) if m else "?")


# ---------------------------------------------------------------------------------------
# Traffic shared by several scenarios

def exchange_and_close(port: int):
    """A short request/response over one connection, then the client closes and the
    server closes when it reads EOF."""
    request, response = b"synack says hello\n", b"and the kernel answers\n" * 3

    def server(conn):
        if recv_exactly(conn, len(request)) != request:
            raise ScenarioError("server got an unexpected request")
        conn.sendall(response)
        recv_until_eof(conn)

    with listener(port) as ls:
        worker = Worker(serve_one, ls, server)
        worker.start()
        with connect(port) as c:
            c.sendall(request)
            recv_exactly(c, len(response))
        worker.finish()


def tcp_capture(path: str, port: int, traffic: Callable[[], None], **capture_args):
    """Captures TCP port `port` while traffic() runs, until its connection has ended."""
    with Capture(path, bpf=f"tcp port {port}", **capture_args) as cap:
        traffic()
        cap.wait_for(connections_closed(1))


# ---------------------------------------------------------------------------------------
# Scenarios: each run_* writes one capture, each check_* looks at `tcpdump -n -r` lines
# and returns what is missing (or None).

def run_handshake(path):
    def traffic():
        with listener(PORT_HANDSHAKE) as ls:
            worker = Worker(serve_one, ls, recv_until_eof)
            worker.start()
            connect(PORT_HANDSHAKE).close()
            worker.finish()
    tcp_capture(path, PORT_HANDSHAKE, traffic)


def check_handshake(lines):
    if tcp_flags(lines)[:3] != ["S", "S.", "."]:
        return "no three-way handshake at the start"
    for line in lines[:2]:
        if not re.search(r"options \[mss \d+,sackOK,TS val \d+ ecr \d+,nop,wscale \d+\]", line):
            return f"SYN without the full option set: {line}"
    if "F." not in tcp_flags(lines):
        return "no FIN"
    return None


# The data_psh exchange: (client -> server, server -> client) byte counts, one write each.
DATA_WRITES = [(100, 300), (4000, 3000), (1, 20)]


def run_data_psh(path):
    def server(conn):
        for up, down in DATA_WRITES:
            recv_exactly(conn, up)
            conn.sendall(b"s" * down)
        recv_until_eof(conn)

    def traffic():
        with listener(PORT_DATA) as ls:
            worker = Worker(serve_one, ls, server)
            worker.start()
            with connect(PORT_DATA) as c:
                for up, down in DATA_WRITES:
                    c.sendall(b"c" * up)
                    recv_exactly(c, down)
            worker.finish()

    with loopback_like_ethernet():
        tcp_capture(path, PORT_DATA, traffic)


def check_data_psh(lines):
    if sum(f == "P." for f in tcp_flags(lines)) < 2 * len(DATA_WRITES):
        return "fewer [P.] segments than send() calls"
    if sum("length 1448" in line for line in lines) < 4:
        return "the large writes were not cut into MSS-sized segments"
    return None


def run_close_four_way(path):
    fin_acked = threading.Event()

    def server(conn):
        recv_until_eof(conn)
        # Close only once the client's FIN has been acknowledged on its own, so our FIN
        # cannot ride on that ACK.
        if not fin_acked.wait(SOCKET_TIMEOUT):
            raise ScenarioError("client FIN never acknowledged")

    def traffic():
        with listener(PORT_CLOSE_FOUR_WAY) as ls:
            worker = Worker(serve_one, ls, server)
            worker.start()
            with connect(PORT_CLOSE_FOUR_WAY) as c:
                c.shutdown(socket.SHUT_WR)
                deadline = time.monotonic() + SOCKET_TIMEOUT
                while tcp_state(c) != TCP_FIN_WAIT2:  # FIN_WAIT2: our FIN has been ACKed
                    if time.monotonic() > deadline:
                        raise ScenarioError("client never reached FIN_WAIT2")
                    time.sleep(0.002)
                fin_acked.set()
                recv_until_eof(c)
            worker.finish()

    tcp_capture(path, PORT_CLOSE_FOUR_WAY, traffic)


def check_close_four_way(lines):
    flags = tcp_flags(lines)
    if flags != ["S", "S.", ".", "F.", ".", "F.", "."]:
        return f"expected handshake + FIN, ACK, FIN, ACK; got {flags}"
    return None


def close_on_peer_fin(conn: socket.socket):
    """Closes as soon as the peer's FIN has arrived. The kernel holds the ACK of that FIN
    back as a delayed ACK, so our FIN carries it. (Waiting with poll(POLLRDHUP) rather
    than reading EOF: recv() may decide to send the pending ACK on its own.)"""
    poller = select.poll()
    poller.register(conn, select.POLLRDHUP)
    if not poller.poll(SOCKET_TIMEOUT * 1000):
        raise ScenarioError("no FIN from the client")


def run_close_three_way(path):
    def traffic():
        with listener(PORT_CLOSE_THREE_WAY) as ls:
            worker = Worker(serve_one, ls, close_on_peer_fin)
            worker.start()
            connect(PORT_CLOSE_THREE_WAY).close()
            worker.finish()
    tcp_capture(path, PORT_CLOSE_THREE_WAY, traffic)


def check_close_three_way(lines):
    flags = tcp_flags(lines)
    if flags != ["S", "S.", ".", "F.", "F.", "."]:
        return f"expected handshake + FIN, FIN-ACK, ACK; got {flags}"
    return None


def run_rst_closed_port(path):
    with Capture(path, bpf=f"tcp port {PORT_CLOSED}") as cap:
        # A SYN to a port nobody listens on: answered by RST+ACK.
        try:
            connect(PORT_CLOSED).close()
            raise ScenarioError(f"something listens on port {PORT_CLOSED}")
        except ConnectionRefusedError:
            pass
        cap.wait_for(count_matching("Flags [R", 1))
        # An ACK for a connection that does not exist: answered by a bare RST whose
        # sequence number is the ACK's acknowledgment number.
        ack = tcp_segment(LOOPBACK, LOOPBACK, STRAY_ACK_SOURCE_PORT, PORT_CLOSED,
                          seq=1000, ack=424242, flags=ACK, window=512)
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP) as raw:
            raw.sendto(ack, (LOOPBACK, 0))
        cap.wait_for(count_matching("Flags [R", 2))


def check_rst_closed_port(lines):
    flags = tcp_flags(lines)
    if flags != ["S", "R.", ".", "R"]:
        return f"expected SYN, RST+ACK, ACK, RST; got {flags}"
    return None


def run_rst_abort(path):
    def server(conn):
        recv_exactly(conn, 5)
        conn.sendall(b"ok")
        try:
            recv_until_eof(conn)
        except ConnectionResetError:
            pass

    def traffic():
        with listener(PORT_ABORT) as ls:
            worker = Worker(serve_one, ls, server)
            worker.start()
            c = connect(PORT_ABORT)
            c.sendall(b"abort")
            recv_exactly(c, 2)
            # Linger on with a zero timeout: close() discards the connection with a RST.
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
            worker.finish()

    tcp_capture(path, PORT_ABORT, traffic)


def check_rst_abort(lines):
    flags = tcp_flags(lines)
    if flags[:3] != ["S", "S.", "."] or flags[-1] != "R." or "P." not in flags:
        return f"expected handshake, data, then RST+ACK; got {flags}"
    return None


def run_urgent(path):
    def server(conn):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
        recv_exactly(conn, 7)
        conn.sendall(b"ok")
        if recv_until_eof(conn) != b"!":
            raise ScenarioError("urgent byte not received inline")

    def traffic():
        with listener(PORT_URGENT) as ls:
            worker = Worker(serve_one, ls, server)
            worker.start()
            with connect(PORT_URGENT) as c:
                c.sendall(b"routine")
                recv_exactly(c, 2)
                c.send(b"!", socket.MSG_OOB)
            worker.finish()

    tcp_capture(path, PORT_URGENT, traffic)


def check_urgent(lines):
    if not any("U]" in line and re.search(r", urg \d+,", line) for line in lines):
        return "no segment with URG and an urgent pointer"
    return None


def run_sack(path):
    # Drop every 25th full-sized data segment towards the server (the 10th, 35th, ...) on
    # its way in. tcpdump on lo sees the packet before the INPUT chain drops it, so the
    # capture shows the segment, the receiver's duplicate ACKs with SACK blocks, and the
    # retransmission. (Dropping in OUTPUT instead makes the sender's transmit fail locally:
    # TCP then retries the segment itself and no loss is ever seen by the receiver.)
    drop = ("INPUT", "-i", "lo", "-p", "tcp", "--dport", str(PORT_SACK),
            "-m", "length", "--length", "1400:65535",
            "-m", "statistic", "--mode", "nth", "--every", "25", "--packet", "9",
            "-j", "DROP")
    total = 200 * 1024

    def server(conn):
        if len(recv_until_eof(conn)) != total:
            raise ScenarioError("bulk transfer incomplete")

    def traffic():
        with listener(PORT_SACK) as ls:
            worker = Worker(serve_one, ls, server)
            worker.start()
            with connect(PORT_SACK) as c:
                c.sendall(bytes(total))
            worker.finish()

    with loopback_like_ethernet(), iptables_rule(*drop):
        tcp_capture(path, PORT_SACK, traffic)


def check_sack(lines):
    if not any(re.search(r"sack \d+ \{", line) for line in lines):
        return "no ACK with SACK blocks"
    return None


def run_no_options(path):
    with sysctls(net__ipv4__tcp_timestamps="0", net__ipv4__tcp_sack="0",
                 net__ipv4__tcp_window_scaling="0"), loopback_like_ethernet():
        tcp_capture(path, PORT_NO_OPTIONS, lambda: exchange_and_close(PORT_NO_OPTIONS))


def check_no_options(lines):
    if len(lines) < 2 or not all(l.endswith("options [mss 1460], length 0") for l in lines[:2]):
        return "SYN and SYN+ACK should carry only the MSS option"
    if any(word in line for line in lines for word in ("sackOK", "TS val", "wscale")):
        return "an option that should be disabled is present"
    if "P." not in tcp_flags(lines) or "F." not in tcp_flags(lines):
        return "no data or no FIN"
    return None


def run_icmp_echo(path):
    # What `ping -c 3 127.0.0.1` sends (56 bytes of data, so "length 64"), from a raw
    # socket: one code path whether or not iputils-ping is installed.
    ident = os.getpid() & 0xFFFF
    with Capture(path, bpf="icmp") as cap, \
            socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        s.settimeout(SOCKET_TIMEOUT)
        for seq in range(1, 4):
            payload = struct.pack("!d", time.time()) + bytes(range(8, 56))
            message = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + payload
            message = message[:2] + struct.pack("!H", internet_checksum(message)) + message[4:]
            s.sendto(message, (LOOPBACK, 0))
            deadline = time.monotonic() + SOCKET_TIMEOUT
            while True:  # the raw socket also sees our own request; wait for the reply
                if time.monotonic() > deadline:
                    raise ScenarioError("no echo reply")
                packet = s.recv(2048)
                icmp = packet[(packet[0] & 0x0F) * 4:]
                if icmp[0] == 0 and struct.unpack("!HH", icmp[4:8]) == (ident, seq):
                    break
        cap.wait_for(count_matching("echo reply", 3))


def check_icmp_echo(lines):
    if sum("ICMP echo request" in l for l in lines) != 3 or \
            sum("ICMP echo reply" in l for l in lines) != 3:
        return "expected three echo requests and three replies"
    return None


def run_icmp_unreachable(path):
    with Capture(path, bpf="icmp or udp") as cap, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(SOCKET_TIMEOUT)
        s.connect((LOOPBACK, PORT_UDP_CLOSED))
        s.send(b"anyone there?")
        try:
            s.recv(100)
            raise ScenarioError(f"something answered on UDP port {PORT_UDP_CLOSED}")
        except ConnectionRefusedError:  # the port unreachable has arrived
            pass
        cap.wait_for(count_matching("unreachable", 1))


def check_icmp_unreachable(lines):
    if len(lines) != 2 or "UDP, length 13" not in lines[0] or \
            f"udp port {PORT_UDP_CLOSED} unreachable" not in lines[1]:
        return "expected a UDP datagram and an ICMP port unreachable"
    return None


def run_linktype_sll(path):
    tcp_capture(path, PORT_SLL, lambda: exchange_and_close(PORT_SLL),
                interface="any", linktype="LINUX_SLL")


def run_linktype_sll2(path):
    tcp_capture(path, PORT_SLL2, lambda: exchange_and_close(PORT_SLL2),
                interface="any", linktype="LINUX_SLL2")


def check_exchange(lines):
    flags = tcp_flags(lines)
    if flags[:3] != ["S", "S.", "."] or "P." not in flags or "F." not in flags:
        return f"expected handshake, data and FIN; got {flags}"
    return None


class TunPeer:
    """The far end of a TUN device: a minimal TCP server at TUN_PEER:port that completes
    the kernel's handshake, acknowledges its data, answers once, and closes when the
    kernel closes. It speaks the options Linux speaks (MSS, SACK permitted, timestamps,
    window scale) so the capture looks like two real stacks talking."""

    ISS = 0x5EED0000
    WINDOW = 64240
    WSCALE = 7

    def __init__(self, fd: int, port: int, response: bytes):
        self.fd, self.port, self.response = fd, port, response
        self.started = time.monotonic()
        self.ident = 0
        self.snd_nxt = self.ISS
        self.rcv_nxt = 0
        self.ts_recent = 0
        self.kernel_port = 0

    def _tsval(self) -> int:
        return (0x10000 + int((time.monotonic() - self.started) * 1000)) & 0xFFFFFFFF

    def _send(self, flags: int, payload: bytes = b"", syn_options: bool = False):
        if syn_options:
            options = (struct.pack("!BBH", 2, 4, 1460) + b"\x04\x02"
                       + struct.pack("!BBII", 8, 10, self._tsval(), self.ts_recent)
                       + b"\x01" + struct.pack("!BBB", 3, 3, self.WSCALE))
            window = self.WINDOW
        else:
            options = b"\x01\x01" + struct.pack("!BBII", 8, 10, self._tsval(), self.ts_recent)
            window = self.WINDOW >> self.WSCALE
        segment = tcp_segment(TUN_PEER, TUN_LOCAL, self.port, self.kernel_port, self.snd_nxt,
                              self.rcv_nxt, flags, window, options, payload)
        self.ident += 1
        os.write(self.fd, ipv4_packet(TUN_PEER, TUN_LOCAL, socket.IPPROTO_TCP, segment,
                                      self.ident))
        self.snd_nxt += len(payload) + (1 if flags & (SYN | FIN) else 0)

    def _receive(self, deadline: float) -> Segment:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise ScenarioError("TUN peer: timed out waiting for the kernel")
            seg = parse_segment(os.read(self.fd, 65536))
            if seg and seg.dst == TUN_PEER and seg.dport == self.port:
                return seg

    def serve(self):
        deadline = time.monotonic() + 2 * SOCKET_TIMEOUT
        state, answered = "LISTEN", False
        while state != "CLOSED":
            seg = self._receive(deadline)
            if seg.tsval is not None:
                self.ts_recent = seg.tsval
            if state == "LISTEN":
                if seg.flags & SYN:
                    self.kernel_port, self.rcv_nxt = seg.sport, seg.seq + 1
                    self._send(SYN | ACK, syn_options=True)
                    state = "SYN_RECEIVED"
                continue
            if state == "SYN_RECEIVED" and seg.flags & ACK and seg.ack == self.snd_nxt:
                state = "ESTABLISHED"
            if state == "LAST_ACK":
                if seg.flags & ACK and seg.ack == self.snd_nxt:
                    state = "CLOSED"
                continue
            if seg.seq != self.rcv_nxt:  # retransmission or out of order: re-acknowledge
                self._send(ACK)
                continue
            if seg.payload:
                self.rcv_nxt += len(seg.payload)
                self._send(ACK)
                if not answered:
                    self._send(PSH | ACK, self.response)
                    answered = True
            if seg.flags & FIN:
                self.rcv_nxt += 1
                self._send(FIN | ACK)
                state = "LAST_ACK"


@contextlib.contextmanager
def tun_device():
    """A TUN device (no packet-information header) with TUN_LOCAL on it; yields its fd."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", TUN_NAME.encode(), IFF_TUN | IFF_NO_PI))
        run("ip", "addr", "add", f"{TUN_LOCAL}/24", "dev", TUN_NAME)
        run("ip", "link", "set", "dev", TUN_NAME, "up")
        yield fd
    finally:
        os.close(fd)  # the device goes away with its last fd


def run_linktype_raw(path):
    request, response = b"hello from the kernel\n", b"hello from the peer on the TUN\n"

    def kernel_client():
        with connect(PORT_TUN, TUN_PEER) as c:
            c.sendall(request)
            if recv_exactly(c, len(response)) != response:
                raise ScenarioError("kernel got a wrong response over the TUN")

    with tun_device() as fd, Capture(path, interface=TUN_NAME, bpf="tcp") as cap:
        client = Worker(kernel_client)
        client.start()
        TunPeer(fd, PORT_TUN, response).serve()
        client.finish()
        cap.wait_for(connections_closed(1))


# ---------------------------------------------------------------------------------------
# Driver

@dataclasses.dataclass
class Scenario:
    name: str                                   # the capture is NAME.pcap
    what: str                                   # one line for the log
    run: Callable[[str], None]                  # writes the capture
    check: Callable[[List[str]], Optional[str]]  # None if the capture shows what it should
    linktype: str = "EN10MB"


SCENARIOS = [
    Scenario("handshake", "handshake with MSS, SACK, timestamps, window scale; close",
             run_handshake, check_handshake),
    Scenario("data_psh", "data both ways, a write larger than the MSS (MTU 1500)",
             run_data_psh, check_data_psh),
    Scenario("close_four_way", "FIN, ACK, FIN, ACK", run_close_four_way, check_close_four_way),
    Scenario("close_three_way", "FIN, FIN+ACK, ACK", run_close_three_way, check_close_three_way),
    Scenario("rst_closed_port", "SYN and a stray ACK to a closed port, both reset",
             run_rst_closed_port, check_rst_closed_port),
    Scenario("rst_abort", "abortive close (SO_LINGER 0) sends RST+ACK",
             run_rst_abort, check_rst_abort),
    Scenario("urgent", "MSG_OOB: URG flag and urgent pointer", run_urgent, check_urgent),
    Scenario("sack", "200 KB with every 25th data segment dropped: SACK blocks",
             run_sack, check_sack),
    Scenario("no_options", "timestamps, SACK and window scaling off: MSS only",
             run_no_options, check_no_options),
    Scenario("icmp_echo", "three ICMP echo requests and replies", run_icmp_echo,
             check_icmp_echo),
    Scenario("icmp_unreachable", "UDP to a closed port: ICMP port unreachable",
             run_icmp_unreachable, check_icmp_unreachable),
    Scenario("linktype_sll", "-i any, Linux cooked v1", run_linktype_sll, check_exchange,
             "LINUX_SLL"),
    Scenario("linktype_sll2", "-i any, Linux cooked v2", run_linktype_sll2, check_exchange,
             "LINUX_SLL2"),
    Scenario("linktype_raw", "raw IPv4 on a TUN, this script as the peer", run_linktype_raw,
             check_exchange, "RAW"),
]


def make_capture(scenario: Scenario, outdir: str, started: float):
    path = os.path.join(outdir, scenario.name + ".pcap")
    problem = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if time.monotonic() - started > TOTAL_BUDGET:
            break
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        try:
            scenario.run(path)
            lines, linktype = read_capture(path)
            problem = scenario.check(lines)
            if problem is None and linktype != scenario.linktype:
                problem = f"link type {linktype}, expected {scenario.linktype}"
        except (ScenarioError, OSError) as e:
            problem = f"{type(e).__name__}: {e}"
        if problem is None:
            print(f"{path}: {len(lines)} packets, {linktype}: {scenario.what}", flush=True)
            return
        print(f"{scenario.name}: attempt {attempt} failed: {problem}", file=sys.stderr)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    raise SetupError(f"{scenario.name}: no good capture after {attempt} attempts: {problem}")


def network_namespace() -> int:
    """An identifier of this process's network namespace (the inode of its ns file)."""
    return os.stat("/proc/self/ns/net").st_ino


def inside(parent_namespace: int, outdir: str) -> int:
    """Runs every scenario in the private network namespace the outer invocation made."""
    # Refuse to touch a namespace anyone else uses (MTU, sysctls, iptables, traffic): this
    # must be a different namespace from the one we were started in, and a fresh one,
    # whose lo nobody has brought up yet.
    if network_namespace() == parent_namespace or "UP" in link_attrs("lo")["flags"]:
        raise SetupError("--inside must only run in a fresh private network namespace")
    started = time.monotonic()
    run("ip", "link", "set", "dev", "lo", "up")
    # No IPv6 in this namespace: a TUN device would otherwise send router solicitations.
    for conf in ("all", "default"):
        with contextlib.suppress(OSError):
            write_sysctl(f"net.ipv6.conf.{conf}.disable_ipv6", "1")
    for scenario in SCENARIOS:
        make_capture(scenario, outdir, started)
    return 0


def outside(outdir: str):
    """Checks the environment, then re-executes this script in a new network namespace."""
    if os.geteuid() != 0:
        raise SetupError("must run as root (it creates a network namespace and captures)")
    for tool in ("unshare", "tcpdump", "ip", "iptables"):
        if not shutil.which(tool):
            raise SetupError(f"{tool} not found")
    if not os.path.exists("/dev/net/tun"):
        raise SetupError("/dev/net/tun missing (needed for the raw IPv4 capture)")
    probe = subprocess.run(["unshare", "-n", "--", "true"], capture_output=True, text=True,
                           timeout=COMMAND_TIMEOUT)
    if probe.returncode != 0:
        raise SetupError(f"cannot create a network namespace: {probe.stderr.strip()}")
    os.makedirs(outdir, exist_ok=True)
    sys.stdout.flush()
    os.execvp("unshare", ["unshare", "-n", "--", sys.executable, os.path.abspath(__file__),
                          f"--inside={network_namespace()}", outdir])


def main(argv: List[str]) -> int:
    args = argv[1:]
    # The outer invocation re-executes this script as `--inside=NS OUTDIR`, NS naming the
    # namespace it came from.
    parent_namespace = None
    if args and args[0].startswith("--inside="):
        value = args.pop(0).split("=", 1)[1]
        parent_namespace = int(value) if value.isdigit() else -1
    if len(args) != 1 or args[0].startswith("-") or parent_namespace == -1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    outdir = os.path.abspath(args[0])
    try:
        if parent_namespace is not None:
            return inside(parent_namespace, outdir)
        outside(outdir)  # does not return on success
    except SetupError as e:
        print(f"make_captures: {e}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
