#!/usr/bin/env bash
# bench/loss: goodput of a synack sender and of a Linux kernel sender (CUBIC) over the same
# path through a TUN interface, each to a receiver of the other kind. The path is synack's
# impairment layer on its TUN device (both directions): 10 ms each way (20 ms RTT),
# 100 Mbit/s with a 256 KiB drop-tail buffer (about one bandwidth-delay product), and
# random loss 0, 0.1 %, 1 % and 3 %.
#
#   synack sender:  synack perf client --bytes ... -> socat (kernel) writing to a file
#   kernel sender:  socat (kernel, reading /dev/zero) -> synack perf server --once
#
# Each run lasts SECONDS (default 10); goodput is what the receiver got divided by the
# time the receiver measured. Prints a table with the ratio synack/kernel per row, and
# writes it as JSON to OUT (default bench-loss.json). Needs root (a private network
# namespace of its own: `unshare -n`). Usage: bench/loss.sh PATH/TO/synack [SECONDS] [OUT]
# LOSSES="0.1% 1%" in the environment runs only those rows; KEEP=DIR keeps each run's
# JSON and, for the kernel sender, its TcpExt counters (/proc/net/netstat) and `ss -tin`
# half-way in DIR. SYNACK_SEED and KERNEL_SEED seed the impairment of the synack-sender and
# the kernel-sender runs (default 1 for both: the same loss pattern for both senders, so a
# row compares the senders, not their luck). SEEDS="3 4 5" runs every row once per
# seed, the same seed for both senders, and reports the means (a 10 s row at 1 % loss
# depends on when the seed lets slow start meet its first loss: see docs/performance.md).
#
# synack runs at `nice -n ${SYNACK_NICE:--10}`: the kernel's TCP runs in softirq context,
# ahead of every process, while synack is a process like the compilers and benchmarks of
# whoever shares the machine; on a busy 2-core machine that alone cost synack up to a
# fifth of its goodput under loss (docs/performance.md). SYNACK_NICE=0 measures it without.
set -u

SYNACK=${1:-}
SECONDS_PER_RUN=${2:-10}
OUT=${3:-bench-loss.json}
SYNACK_NICE=${SYNACK_NICE:--10}
if [[ -z "$SYNACK" || ! -x "$SYNACK" ]]; then
  echo "usage: $0 PATH/TO/synack [SECONDS] [OUT]" >&2
  exit 2
fi
SYNACK=$(readlink -f "$SYNACK")
OUT=$(readlink -f "$OUT")
[[ -n "${KEEP:-}" ]] && mkdir -p "$KEEP" && KEEP=$(readlink -f "$KEEP")

if [[ -z "${SYNACK_IN_NETNS:-}" ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "bench/loss: needs root (a network namespace and a TUN device)" >&2
    exit 1
  fi
  SYNACK_IN_NETNS=1 exec unshare -n -- "$0" "$@"
fi

ip link set lo up
# The kernel sender runs CUBIC whatever the machine's default is (this one's is BBR):
# socat sets TCP_CONGESTION (IPPROTO_TCP 6, option 13) on its socket.
KERNEL_CC=cubic
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

PATH_SPEC="delay=10ms,rate=100mbit,queue=256K"
PORT=5001
rows=()

# wait_for and has_addr, as the interop tests use them.
. "$(dirname "$0")/../tests/interop/lib.sh"

# synack sends for SECONDS_PER_RUN to a kernel sink; prints Mbit/s as the sink saw it.
synack_sender() {  # LOSS NET SEED TAG
  local loss=$1 net=$2 seed=$3 tag=$4
  rm -f "$WORK/sink"
  # The kernel's sink binds to its side of the TUN: make the device first; perf attaches.
  ip tuntap add dev bl0 mode tun && ip addr add "$net.1/24" dev bl0 && ip link set bl0 up
  timeout $((SECONDS_PER_RUN + 30)) socat -u TCP-LISTEN:$PORT,reuseaddr,bind=$net.1 \
    CREATE:"$WORK/sink" 2>/dev/null &
  local sink=$!
  timeout $((SECONDS_PER_RUN + 30)) nice -n "$SYNACK_NICE" "$SYNACK" perf client \
    --tun bl0 --addr "$net.2/24" --impair "$PATH_SPEC,loss=$loss,seed=$seed" \
    --time "$SECONDS_PER_RUN" --json "$net.1" $PORT >"$WORK/client.json" 2>"$WORK/client.err" &
  local client=$!
  wait "$client"
  wait "$sink" 2>/dev/null
  ip link del bl0 2>/dev/null
  if [[ -n "${KEEP:-}" ]]; then
    cp "$WORK/client.json" "$KEEP/synack-$tag.json"
    cp "$WORK/client.err" "$KEEP/synack-$tag.err"
  fi
  /usr/bin/python3 - "$WORK/client.json" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print(f"{r['bits_per_second'] / 1e6:.2f} {r['retransmits']}")
PY
}

# The kernel sends for SECONDS_PER_RUN to synack perf server; prints Mbit/s as synack saw it.
kernel_sender() {  # LOSS NET SEED TAG
  local loss=$1 net=$2 seed=$3 tag=$4
  nice -n "$SYNACK_NICE" "$SYNACK" perf server --tun bl1 --addr "$net.2/24" \
    --impair "$PATH_SPEC,loss=$loss,seed=$seed" --port $PORT --once --json \
    >"$WORK/server.json" 2>"$WORK/server.err" &
  local server=$!
  # The kernel's retransmissions: its counters in this namespace, before and after (the
  # namespace is the whole script's: they add up over the rows).
  local retrans_before
  retrans_before=$(awk '/^Tcp:/ { if (h) { print $13 } else { h = 1 } }' /proc/net/snmp)
  wait_for has_addr bl1 "$net.1"
  sleep 0.2  # the server's listener (synack's, not visible in /proc/net/tcp)
  timeout "$SECONDS_PER_RUN" socat -u OPEN:/dev/zero \
    TCP:"$net.2:$PORT",bind="$net.1",setsockopt-string=6:13:$KERNEL_CC 2>/dev/null &
  local sender=$!
  # What the kernel says its sender runs, half-way through.
  sleep $((SECONDS_PER_RUN / 2))
  ss -tin dst "$net.2" >"$WORK/ss"
  grep -qw "$KERNEL_CC" "$WORK/ss" || echo "bench/loss: the kernel sender is not running $KERNEL_CC" >&2
  [[ -n "${KEEP:-}" ]] && cp "$WORK/ss" "$KEEP/kernel-$tag.ss"
  wait "$sender"
  local retrans
  retrans=$(awk '/^Tcp:/ { if (h) { print $13 } else { h = 1 } }' /proc/net/snmp)
  retrans=$((retrans - retrans_before))
  wait "$server"
  if [[ -n "${KEEP:-}" ]]; then
    cp "$WORK/server.json" "$KEEP/kernel-$tag.json"
    cat /proc/net/netstat /proc/net/snmp >"$KEEP/kernel-$tag.netstat"
  fi
  /usr/bin/python3 - "$WORK/server.json" "$retrans" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print(f"{r['bits_per_second'] / 1e6:.2f} {sys.argv[2]}")
PY
}

echo "synack: CUBIC (the default), nice $SYNACK_NICE; the kernel: $KERNEL_CC"
printf '%-34s %12s %12s %8s %14s\n' "path (20 ms RTT, 100 Mbit/s)" "synack Mbit/s" "kernel Mbit/s" "ratio" "retrans s/k"
i=0
for loss in ${LOSSES:-0% 0.1% 1% 3%}; do
  i=$((i + 1))
  # (synack's seed, the kernel's seed) per run of the row.
  pairs=()
  if [[ -n "${SEEDS:-}" ]]; then
    for seed in $SEEDS; do pairs+=("$seed $seed"); done
  else
    pairs=("${SYNACK_SEED:-1} ${KERNEL_SEED:-1}")
  fi
  s_all=() k_all=() s_retr=0 k_retr=0 j=0
  for pair in "${pairs[@]}"; do
    read -r s_seed k_seed <<<"$pair"
    tag=$loss
    [[ -n "${SEEDS:-}" ]] && tag="$loss-seed$s_seed"
    read -r s_mbps s_r < <(synack_sender "$loss" "10.9$i.$j" "$s_seed" "$tag")
    read -r k_mbps k_r < <(kernel_sender "$loss" "10.8$i.$j" "$k_seed" "$tag")
    s_all+=("${s_mbps:-0}") k_all+=("${k_mbps:-0}")
    s_retr=$((s_retr + ${s_r:-0})) k_retr=$((k_retr + ${k_r:-0})) j=$((j + 1))
    [[ -n "${SEEDS:-}" ]] && printf '%-34s %12s %12s\n' "  seed $s_seed" "${s_mbps:-?}" "${k_mbps:-?}"
  done
  # Means over the runs that completed (a run that failed counts as 0 and is left out).
  read -r s_mbps k_mbps ratio < <(/usr/bin/python3 - "${s_all[*]}" "${k_all[*]}" <<'PY'
import sys
def mean(text):
    v = [float(x) for x in text.split() if float(x) > 0]
    return sum(v) / len(v) if v else 0.0
s, k = mean(sys.argv[1]), mean(sys.argv[2])
print(f"{s:.2f} {k:.2f} {s / k:.2f}" if k > 0 else f"{s:.2f} {k:.2f} n/a")
PY
)
  printf '%-34s %12s %12s %8s %14s\n' "loss $loss" "${s_mbps:-?}" "${k_mbps:-?}" "$ratio" "${s_retr:-?}/${k_retr:-?}"
  rows+=("{\"name\": \"goodput loss $loss\", \"synack\": ${s_mbps:-0}, \"comparator\": ${k_mbps:-0}, \"unit\": \"Mbit/s\", \"ratio\": $ratio}")
done
{
  echo "{\"machine\": \"$(nproc) cpus, $(uname -r)\", \"path\": \"$PATH_SPEC\", \"kernel_cc\": \"$KERNEL_CC\", \"synack_nice\": $SYNACK_NICE, \"seconds\": $SECONDS_PER_RUN, \"rows\": ["
  (IFS=,; echo "${rows[*]}")
  echo "]}"
} >"$OUT"
echo "bench/loss: written $OUT"
