#!/usr/bin/env bash
# synack serve and synack connect against the Linux kernel's TCP, through TUN interfaces,
# in a private network namespace:
#   serve --app echo     <- kernel client (socat): lines come back
#   serve --app sink     <- kernel client: 1 MiB, the printed sha256 matches
#   connect              -> kernel server (python): data both ways, half-close on stdin EOF
#   connect to a closed port exits non-zero with "Connection refused"
# Usage: serve_connect_test.sh PATH/TO/synack
# Needs root (CAP_NET_ADMIN, unshare): skipped (77) otherwise, failed when CI is set.
set -u

. "$(dirname "$0")/lib.sh"
interop_init "$@"
interop_enter_netns socat /usr/bin/python3 -- "$@"
interop_setup


# --- 1. serve --app echo ------------------------------------------------------------------
if start_serve st0 10.66.0 7 "$WORK/echo.log" --app echo; then
  printf 'hello synack\nsecond line\n%s\n' "$(head -c 3000 /dev/zero | tr '\0' x)" >"$WORK/lines"
  timeout 10 socat -t 3 - TCP:10.66.0.2:7,connect-timeout=3 <"$WORK/lines" >"$WORK/echoed" 2>"$WORK/socat.err"
  if cmp -s "$WORK/lines" "$WORK/echoed"; then
    pass "serve --app echo: the kernel's lines came back"
  else
    fail "serve --app echo: got $(wc -c <"$WORK/echoed") bytes back, want $(wc -c <"$WORK/lines")"
    cat "$WORK/socat.err" "$WORK/echo.log"
  fi
  stop_serve
  if [[ $SERVE_RC -eq 0 ]] && grep -q "stopped" "$WORK/echo.log"; then
    pass "serve exits 0 on SIGINT"
  else
    fail "serve on SIGINT: exit $SERVE_RC"; cat "$WORK/echo.log"
  fi
else
  fail "serve --app echo did not come up"; cat "$WORK/echo.log"
fi

# --- 2. serve --app sink: 1 MiB, sha256 -----------------------------------------------------
if start_serve st1 10.66.0 9 "$WORK/sink.log" --app sink; then
  head -c 1048576 /dev/urandom >"$WORK/mib"
  want=$(sha256sum "$WORK/mib" | cut -d' ' -f1)
  timeout 20 socat -t 3 -u "$WORK/mib" TCP:10.66.0.2:9,connect-timeout=3 2>"$WORK/socat.err"
  if wait_for grep -q "^sink " "$WORK/sink.log" &&
    grep -q "^sink .*: 1048576 bytes, sha256 $want\$" "$WORK/sink.log"; then
    pass "serve --app sink: 1 MiB with the right sha256"
  else
    fail "serve --app sink: want 1048576 bytes, sha256 $want"; cat "$WORK/socat.err" "$WORK/sink.log"
  fi
  stop_serve
else
  fail "serve --app sink did not come up"; cat "$WORK/sink.log"
fi

# --- 3. connect to a kernel server: both ways, half-close -----------------------------------
# The server reads to end of stream (so our half-close must arrive), saves what it got, and
# only then answers and closes.
cat >"$WORK/server.py" <<'PY'
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9000))
s.listen(1)
s.settimeout(10)
c, _ = s.accept()
c.settimeout(10)
data = b""
while True:
    b = c.recv(65536)
    if not b:
        break
    data += b
open(sys.argv[1], "wb").write(data)
c.sendall(b"got " + hashlib.sha256(data).hexdigest().encode() + b"\n" + b"y" * 200000 + b"\n")
c.close()
PY
head -c 300000 /dev/urandom >"$WORK/upload"
/usr/bin/python3 "$WORK/server.py" "$WORK/received" 2>"$WORK/server.err" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for listening 9000
timeout 20 "$SYNACK" connect --tun ct0 --addr 10.67.0.2/24 10.67.0.1 9000 \
  <"$WORK/upload" >"$WORK/download" 2>"$WORK/connect.err"
rc=$?
wait "$SERVER_PID" 2>/dev/null
up=$(sha256sum "$WORK/upload" | cut -d' ' -f1)
{ echo "got $up"; head -c 200000 /dev/zero | tr '\0' y; echo; } >"$WORK/expected"
if [[ $rc -eq 0 ]] && cmp -s "$WORK/upload" "$WORK/received" && cmp -s "$WORK/expected" "$WORK/download"; then
  pass "connect: 300000 bytes up, half-close, 200000+ bytes down, exit 0"
else
  fail "connect: exit $rc, sent $(wc -c <"$WORK/received" 2>/dev/null || echo 0) of 300000, got $(wc -c <"$WORK/download") bytes"
  cat "$WORK/connect.err" "$WORK/server.err"
fi

# --- 4. connect to a closed port ------------------------------------------------------------
timeout 20 "$SYNACK" connect --tun ct1 --addr 10.68.0.2/24 10.68.0.1 9999 </dev/null \
  >/dev/null 2>"$WORK/refused.err"
rc=$?
if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "Connection refused" "$WORK/refused.err"; then
  pass "connect to a closed port: exit $rc, $(cat "$WORK/refused.err")"
else
  fail "connect to a closed port: exit $rc, stderr: $(cat "$WORK/refused.err")"
fi

interop_finish
