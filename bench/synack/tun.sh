#!/usr/bin/env bash
# bench/synack/tun.sh: row 3 of `make bench`, synack's side — bulk TCP between synack and the
# Linux kernel through a TUN interface (MTU 1500) in a private network namespace, each
# direction for SECONDS (default 10): synack perf client sending to a kernel socat sink, and
# receiving (--reverse) from a kernel socat source. Prints the JSON-line contract of the bench
# executables on stdout. Needs root. Usage: tun.sh PATH/TO/synack [--quick]
set -u

# usage, the namespace, wait_for and listening, as the interop tests have them.
. "$(dirname "$0")/../../tests/interop/lib.sh"
interop_init "${1:-}"
SECONDS_PER_RUN=10
[[ "${2:-}" == "--quick" ]] && SECONDS_PER_RUN=2
interop_enter_netns socat -- "$@"
ip link set lo up
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

# One direction: DIR is "tx" (synack sends) or "rx" (synack receives). Prints Gbit/s.
run() {  # DIR NET
  local dir=$1 net=$2 port=5201
  ip tuntap add dev bt0 mode tun && ip addr add "$net.1/24" dev bt0 && ip link set bt0 up
  local kernel reverse=()
  if [[ $dir == tx ]]; then
    timeout $((SECONDS_PER_RUN + 20)) socat -b 262144 -u TCP-LISTEN:$port,bind=$net.1,setsockopt-string=6:13:cubic OPEN:/dev/null 2>/dev/null &
  else
    timeout $((SECONDS_PER_RUN + 20)) socat -b 262144 -u OPEN:/dev/zero TCP-LISTEN:$port,bind=$net.1,setsockopt-string=6:13:cubic 2>/dev/null &
    reverse=(--reverse)
  fi
  kernel=$!
  wait_for listening $port
  timeout $((SECONDS_PER_RUN + 20)) "$SYNACK" perf client --tun bt0 --addr "$net.2/24" \
    --time "$SECONDS_PER_RUN" --json "${reverse[@]}" "$net.1" $port >"$WORK/$dir.json" \
    2>"$WORK/$dir.err"
  kill "$kernel" 2>/dev/null
  wait "$kernel" 2>/dev/null
  ip link del bt0 2>/dev/null
  /usr/bin/python3 - "$WORK/$dir.json" <<'PY'
import json, sys
try:
    r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
    print(f"{r['bits_per_second'] / 1e9:.3f} {r['retransmits']}")
except Exception:
    print("0 0")
PY
}

read -r tx tx_retr < <(run tx 10.71.0)
read -r rx rx_retr < <(run rx 10.72.0)
echo "tun: synack -> kernel $tx Gbit/s ($tx_retr retransmits), kernel -> synack $rx Gbit/s" >&2
[[ "$tx" == 0 || "$rx" == 0 ]] && { cat "$WORK"/*.err >&2; exit 1; }
note="TUN MTU 1500, ${SECONDS_PER_RUN} s, socat on the kernel side"
echo "{\"key\": \"synack.tun_tx_gbps\", \"value\": $tx, \"unit\": \"Gbit/s\", \"note\": \"synack sends; $note\"}"
echo "{\"key\": \"synack.tun_rx_gbps\", \"value\": $rx, \"unit\": \"Gbit/s\", \"note\": \"synack receives; $note\"}"
