# What every interop script (tests/interop/*_test.sh) needs; sourced, never run:
#
#   . "$(dirname "$0")/lib.sh"
#   interop_init "$@"                     # SYNACK=the binary given, or usage and exit 2
#   interop_enter_netns socat curl -- "$@"  # re-executes in a private network namespace
#   interop_setup                         # lo up, WORK, PIDS killed at exit, pass/fail
#   ... pass "what" / fail "what" ...
#   interop_finish                        # the summary; the script's exit status
#
# A script that cannot run (not root, a tool missing) is skipped with 77, or fails when CI
# is set. Every wait here is bounded.

interop_init() {
  SYNACK=${1:-}
  if [[ -z "$SYNACK" || ! -x "$SYNACK" ]]; then
    echo "usage: $0 PATH/TO/synack" >&2
    exit 2
  fi
  SYNACK=$(readlink -f "$SYNACK")
}

skip() {
  echo "SKIP: $*" >&2
  if [[ -n "${CI:-}" ]]; then exit 1; fi
  exit 77
}

# interop_enter_netns TOOL... -- ARGS...: checks for root, unshare, /dev/net/tun and each
# tool (a name on PATH or an absolute path), then runs the script again with ARGS inside
# `unshare -n`. Inside the namespace it returns at once.
interop_enter_netns() {
  local tools=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do
    tools+=("$1")
    shift
  done
  shift
  [[ -n "${SYNACK_IN_NETNS:-}" ]] && return 0
  [[ $(id -u) -eq 0 ]] || skip "needs root (CAP_NET_ADMIN and unshare -n)"
  command -v unshare >/dev/null || skip "needs unshare (util-linux)"
  local t
  for t in "${tools[@]}"; do
    command -v "$t" >/dev/null || skip "needs $t"
  done
  [[ -e /dev/net/tun ]] || skip "needs /dev/net/tun"
  SYNACK_IN_NETNS=1 exec unshare -n -- "$0" "$@"
}

interop_setup() {
  ip link set lo up 2>/dev/null
  WORK=$(mktemp -d)
  PIDS=()
  trap interop_cleanup EXIT
  passed=0
  failed=0
}

interop_cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}

pass() {
  echo "PASS: $*"
  passed=$((passed + 1))
}
fail() {
  echo "FAIL: $*"
  failed=$((failed + 1))
}

interop_finish() {
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 && $passed -gt 0 ]]
}

# Polls (every 50 ms, at most ~5 s) until the command succeeds.
wait_for() {
  local i
  for ((i = 0; i < 100; i++)); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}

# The interface exists.
iface_up() { grep -q "^ *$1:" /proc/net/dev; }
# The kernel side of interface $1 has address $2 (so it routes the subnet through it).
has_addr() { ip -4 addr show dev "$1" 2>/dev/null | grep -q "inet $2/"; }
# A kernel socket listens on TCP port $1 (decimal), per /proc/net/tcp (state 0A).
listening() {
  awk -v p="$(printf ':%04X' "$1")" '$2 ~ p"$" && $4 == "0A" {f=1} END {exit !f}' /proc/net/tcp
}

# synack serve on a TUN interface NAME, synack at NET.2/24 and the kernel at NET.1, on PORT,
# its output in LOG, with the other ARGS (--app ...); SERVE_PID is its pid. True once the
# kernel side has its address and serve says it listens.
start_serve() {  # NAME NET PORT LOG ARGS...
  local name=$1 net=$2 port=$3 log=$4
  shift 4
  "$SYNACK" serve --tun "$name" --addr "$net.2/24" --port "$port" "$@" >"$log" 2>&1 &
  SERVE_PID=$!
  PIDS+=("$SERVE_PID")
  wait_for has_addr "$name" "$net.1" && wait_for grep -q "on $net.2" "$log"
}
# SIGINT to serve, and its exit status in SERVE_RC (after at most ~5 s).
stop_serve() {
  kill -INT "$SERVE_PID" 2>/dev/null
  local i
  for ((i = 0; i < 100; i++)); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.05; done
  wait "$SERVE_PID" 2>/dev/null
  SERVE_RC=$?
}
