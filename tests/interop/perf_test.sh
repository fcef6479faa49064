#!/usr/bin/env bash
# synack perf against the Linux kernel's TCP, through TUN interfaces, in a private network
# namespace:
#   perf client --bytes 50M      -> kernel sink (socat to a file): exit 0, the report says
#                                   52428800 bytes, and the file has exactly that many
#   perf client --reverse        <- kernel source (socat from a 20 MB file): reports its size
#   perf server --once           <- kernel client (socat from the file): reports its size
#   perf client --json           -> kernel sink: one JSON object that parses, with the bytes
#   perf client to a closed port:   non-zero exit, "Connection refused"
#   perf client --time 1 --interval 0.25 -> kernel sink: interval lines, exit 0
#   perf client -> a kernel sink killed mid-transfer: non-zero, "Connection reset by peer"
# Usage: perf_test.sh PATH/TO/synack
# Needs root (CAP_NET_ADMIN, unshare): skipped (77) otherwise, failed when CI is set.
set -u

. "$(dirname "$0")/lib.sh"
interop_init "$@"
interop_enter_netns socat /usr/bin/python3 -- "$@"
interop_setup
# Waits (bounded) for a background process to exit; its status in WAITED_RC (124: it did not).
wait_pid() {
  local i
  for ((i = 0; i < 200; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$1" 2>/dev/null; then
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    WAITED_RC=124
  else
    wait "$1" 2>/dev/null
    WAITED_RC=$?
  fi
}
start_bg() {  # starts "$@" in the background; its pid in BG_PID
  "$@" &
  BG_PID=$!
  PIDS+=("$BG_PID")
}

head -c 20000000 /dev/urandom >"$WORK/src"
SRC_SIZE=20000000

# --- 1. client --bytes 50M -> kernel sink ---------------------------------------------------
start_bg socat -u TCP-LISTEN:5001,reuseaddr "OPEN:$WORK/sink1,creat,trunc"
sink=$BG_PID
wait_for listening 5001
timeout 30 "$SYNACK" perf client --tun pf0 --addr 10.80.0.2/24 10.80.0.1 5001 --bytes 50M \
  >"$WORK/c1.out" 2>"$WORK/c1.err"
rc=$?
wait_pid "$sink"
got=$(stat -c %s "$WORK/sink1" 2>/dev/null || echo 0)
if [[ $rc -eq 0 && $got -eq 52428800 ]] && grep -q "sent 52428800 bytes in" "$WORK/c1.out"; then
  pass "client --bytes 50M -> kernel sink: $(grep -o 'sent .*' "$WORK/c1.out")"
else
  fail "client --bytes 50M: exit $rc, the sink got $got of 52428800 bytes"
  cat "$WORK/c1.out" "$WORK/c1.err"
fi

# --- 2. client --reverse <- kernel source ---------------------------------------------------
start_bg socat -u "OPEN:$WORK/src" TCP-LISTEN:5002,reuseaddr
source=$BG_PID
wait_for listening 5002
timeout 30 "$SYNACK" perf client --tun pf1 --addr 10.81.0.2/24 10.81.0.1 5002 --reverse \
  >"$WORK/c2.out" 2>"$WORK/c2.err"
rc=$?
wait_pid "$source"
if [[ $rc -eq 0 ]] && grep -q "received $SRC_SIZE bytes in" "$WORK/c2.out"; then
  pass "client --reverse <- kernel source: $(grep -o 'received .*' "$WORK/c2.out")"
else
  fail "client --reverse: exit $rc, want \"received $SRC_SIZE bytes\""
  cat "$WORK/c2.out" "$WORK/c2.err"
fi

# --- 3. kernel client -> server --once ------------------------------------------------------
"$SYNACK" perf server --tun pf2 --addr 10.82.0.2/24 --port 5003 --once >"$WORK/s3.out" 2>&1 &
server=$!
PIDS+=("$server")
if wait_for grep -q "server on 10.82.0.2:5003" "$WORK/s3.out"; then
  timeout 30 socat -u "OPEN:$WORK/src" TCP:10.82.0.2:5003,connect-timeout=3 2>"$WORK/s3.socat"
  src_rc=$?
  wait_pid "$server"
  if [[ $src_rc -eq 0 && $WAITED_RC -eq 0 ]] && grep -q "received $SRC_SIZE bytes in" "$WORK/s3.out"; then
    pass "kernel client -> server --once: $(grep -o 'received .*' "$WORK/s3.out"), exit 0"
  else
    fail "server --once: socat exit $src_rc, server exit $WAITED_RC, want \"received $SRC_SIZE bytes\""
    cat "$WORK/s3.out" "$WORK/s3.socat"
  fi
else
  fail "server --once did not come up"
  cat "$WORK/s3.out"
fi

# --- 4. client --json -> kernel sink --------------------------------------------------------
start_bg socat -u TCP-LISTEN:5004,reuseaddr OPEN:/dev/null
sink=$BG_PID
wait_for listening 5004
timeout 30 "$SYNACK" perf client --tun pf3 --addr 10.83.0.2/24 10.83.0.1 5004 --bytes 10M --json \
  >"$WORK/c4.out" 2>"$WORK/c4.err"
rc=$?
wait_pid "$sink"
check=$(/usr/bin/python3 -c '
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert len(lines) == 1, "want one line, got %d" % len(lines)
r = json.loads(lines[0])
assert r["role"] == "client" and r["direction"] == "send", r
assert r["complete"] is True and r["error"] is None, r
assert r["bytes"] == 10485760, r["bytes"]
assert r["seconds"] > 0 and r["bits_per_second"] > 0, r
assert sum(i["bytes"] for i in r["intervals"]) == r["bytes"], r["intervals"]
print("%d bytes, %.3f Gbit/s, srtt %s ms, cwnd %s" % (r["bytes"], r["bits_per_second"] / 1e9, r["srtt_ms"], r["cwnd"]))
' "$WORK/c4.out" 2>&1)
check_rc=$?
if [[ $rc -eq 0 && $check_rc -eq 0 ]]; then
  pass "client --json: one object that parses: $check"
else
  fail "client --json: exit $rc: $check"
  cat "$WORK/c4.out" "$WORK/c4.err"
fi

# --- 5. client to a closed port -------------------------------------------------------------
timeout 20 "$SYNACK" perf client --tun pf4 --addr 10.84.0.2/24 10.84.0.1 5999 --time 1 \
  >"$WORK/c5.out" 2>"$WORK/c5.err"
rc=$?
if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "Connection refused" "$WORK/c5.err"; then
  pass "client to a closed port: exit $rc, $(cat "$WORK/c5.err")"
else
  fail "client to a closed port: exit $rc, stderr: $(cat "$WORK/c5.err")"
fi

# --- 6. client --time 1 --interval 0.25 -> kernel sink --------------------------------------
start_bg socat -u TCP-LISTEN:5006,reuseaddr OPEN:/dev/null
sink=$BG_PID
wait_for listening 5006
timeout 30 "$SYNACK" perf client --tun pf5 --addr 10.85.0.2/24 10.85.0.1 5006 --time 1 \
  --interval 0.25 >"$WORK/c6.out" 2>"$WORK/c6.err"
rc=$?
wait_pid "$sink"
lines=$(grep -cE '^\[ 1\] +[0-9.]+-[0-9.]+ .*bit/s' "$WORK/c6.out")
if [[ $rc -eq 0 && $lines -ge 4 ]] && grep -qE "sent [0-9]+ bytes in 1\.[0-9]+ s" "$WORK/c6.out"; then
  pass "client --time 1 --interval 0.25: $lines lines, $(grep -o 'sent .*' "$WORK/c6.out")"
else
  fail "client --time 1: exit $rc, $lines interval lines"
  cat "$WORK/c6.out" "$WORK/c6.err"
fi

# --- 7. the kernel sink dies mid-transfer ----------------------------------------------------
start_bg socat -u TCP-LISTEN:5007,reuseaddr OPEN:/dev/null
sink=$BG_PID
wait_for listening 5007
(sleep 0.5; kill -TERM "$sink" 2>/dev/null) &
killer=$!
timeout 20 "$SYNACK" perf client --tun pf6 --addr 10.86.0.2/24 10.86.0.1 5007 --time 5 \
  >"$WORK/c7.out" 2>"$WORK/c7.err"
rc=$?
wait "$killer" 2>/dev/null
wait_pid "$sink"
if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "Connection reset by peer" "$WORK/c7.err" &&
  grep -q "(incomplete)" "$WORK/c7.out"; then
  pass "the sink killed mid-transfer: exit $rc, $(head -1 "$WORK/c7.err")"
else
  fail "the sink killed mid-transfer: exit $rc, stderr: $(cat "$WORK/c7.err")"
  cat "$WORK/c7.out"
fi

interop_finish
