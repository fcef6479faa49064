#!/usr/bin/env bash
# synack's HTTP against the Linux kernel's TCP, through TUN interfaces, in a private network
# namespace:
#   serve --app http  <- curl: a small file, a multi-MiB file (sha256), two URLs over one
#                        keep-alive connection, pipelined requests (socat), a 404, HEAD, and
#                        path escapes ("..", percent-encoded, a symlink out) that serve nothing
#                        from outside the root; one log line per request
#   get               -> python3 -m http.server: a multi-MiB file with -o (sha256), a small
#                        one to stdout, a 404 (non-zero exit), a refused connection
#   get               -> a python server sending Transfer-Encoding: chunked: decoded; a body
#                        cut before the last chunk or short of its Content-Length fails
# Usage: http_test.sh PATH/TO/synack
# Needs root (CAP_NET_ADMIN, unshare): skipped (77) otherwise, failed when CI is set.
set -u

. "$(dirname "$0")/lib.sh"
interop_init "$@"
interop_enter_netns curl socat sha256sum /usr/bin/python3 -- "$@"
interop_setup
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
sha() { sha256sum "$1" | cut -d' ' -f1; }

CURL=(timeout 30 curl -sS --connect-timeout 5 --max-time 25)

# --- The files served ----------------------------------------------------------------------
ROOT=$WORK/root
mkdir -p "$ROOT/sub" "$WORK/pyroot"
echo "TOP-SECRET-$$" >"$WORK/secret.txt"
printf '<!DOCTYPE html>\n<h1>synack</h1>\n' >"$ROOT/index.html"
printf 'small file, %s\n' "$(date +%s)" >"$ROOT/small.txt"
printf 'in a subdirectory\n' >"$ROOT/sub/a.txt"
head -c $((6 * 1024 * 1024 + 123)) /dev/urandom >"$ROOT/big.bin"
ln -s "$WORK/secret.txt" "$ROOT/leak"
ln -s "$WORK" "$ROOT/up"
small_size=$(stat -c %s "$ROOT/small.txt")
big_size=$(stat -c %s "$ROOT/big.bin")

# --- 1. curl <- synack serve --app http ---------------------------------------------------
LOG=$WORK/serve.log
"$SYNACK" serve --tun hs0 --addr 10.66.0.2/24 --port 80 --app http --root "$ROOT" >"$LOG" 2>&1 &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
URL=http://10.66.0.2
if wait_for iface_up hs0 && wait_for has_addr hs0 10.66.0.1 && wait_for grep -q "on 10.66.0.2:80" "$LOG"; then
  # A small file.
  code=$("${CURL[@]}" -o "$WORK/small.out" -w '%{http_code}' "$URL/small.txt" 2>"$WORK/curl.err")
  if [[ "$code" == 200 ]] && cmp -s "$ROOT/small.txt" "$WORK/small.out"; then
    pass "curl GET /small.txt: 200, the same $small_size bytes"
  else
    fail "curl GET /small.txt: status $code"; cat "$WORK/curl.err"
  fi

  # A multi-MiB file, by sha256.
  code=$("${CURL[@]}" -o "$WORK/big.out" -w '%{http_code}' "$URL/big.bin" 2>"$WORK/curl.err")
  if [[ "$code" == 200 && "$(sha "$WORK/big.out")" == "$(sha "$ROOT/big.bin")" ]]; then
    pass "curl GET /big.bin: 200, $big_size bytes with the same sha256"
  else
    fail "curl GET /big.bin: status $code, $(stat -c %s "$WORK/big.out" 2>/dev/null) of $big_size bytes"
    cat "$WORK/curl.err"
  fi

  # Two URLs, one connection (keep-alive).
  connects=$("${CURL[@]}" -v -o "$WORK/ka1.out" -o "$WORK/ka2.out" -w '%{num_connects} ' \
    "$URL/small.txt" "$URL/sub/a.txt" 2>"$WORK/curl.err")
  if [[ "$connects" == "1 0 " ]] && grep -q "Re-using existing connection" "$WORK/curl.err" &&
    cmp -s "$ROOT/small.txt" "$WORK/ka1.out" && cmp -s "$ROOT/sub/a.txt" "$WORK/ka2.out"; then
    pass "curl: two URLs over one keep-alive connection (num_connects: $connects)"
  else
    fail "curl keep-alive: num_connects \"$connects\""; grep -E "^[*<>]" "$WORK/curl.err" | head -30
  fi

  # Pipelined requests, answered in order (socat sends them in one go).
  printf 'GET /sub/a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
    timeout 10 socat -t 5 - TCP:10.66.0.2:80,connect-timeout=5 >"$WORK/pipelined.out" 2>"$WORK/socat.err"
  statuses=$(grep -a '^HTTP/1.1 ' "$WORK/pipelined.out" | tr -d '\r' | cut -d' ' -f2 | tr '\n' ' ')
  if [[ "$statuses" == "200 404 200 " ]] && grep -aq "in a subdirectory" "$WORK/pipelined.out" &&
    grep -aq "small file" "$WORK/pipelined.out"; then
    pass "three pipelined requests answered in order: $statuses"
  else
    fail "pipelined requests: statuses \"$statuses\""; cat "$WORK/socat.err"; head -c 2000 "$WORK/pipelined.out"
  fi

  # A 404.
  code=$("${CURL[@]}" -o "$WORK/404.out" -w '%{http_code}' "$URL/no/such/file" 2>"$WORK/curl.err")
  if [[ "$code" == 404 ]]; then
    pass "curl GET /no/such/file: 404"
  else
    fail "curl GET /no/such/file: status $code"
  fi

  # HEAD: the length of the file, no body.
  "${CURL[@]}" -I -o "$WORK/head.out" -w '%{http_code} %{size_download}' "$URL/big.bin" \
    >"$WORK/head.w" 2>"$WORK/curl.err"
  if [[ "$(cat "$WORK/head.w")" == "200 0" ]] &&
    grep -qi "^Content-Length: $big_size"$'\r'"\$" "$WORK/head.out" &&
    grep -qi "^Content-Type: application/octet-stream" "$WORK/head.out"; then
    pass "curl HEAD /big.bin: 200, Content-Length $big_size, no body"
  else
    fail "curl HEAD /big.bin: $(cat "$WORK/head.w")"; cat "$WORK/head.out" "$WORK/curl.err"
  fi

  # Path escapes: nothing from outside the root, whatever the spelling.
  escapes_ok=1
  for path in "/../secret.txt" "/../../../../../../etc/passwd" "/%2e%2e/secret.txt" \
    "/%2E%2E%2Fsecret.txt" "/sub/..%2f..%2fsecret.txt" "/..%2f..%2f..%2f..%2fetc%2fpasswd" \
    "/sub/%2e%2e/%2e%2e/secret.txt" "/..%5csecret.txt" "/small.txt%00.html" "/leak" \
    "/up/secret.txt" "//etc/passwd" "/%2fetc%2fpasswd"; do
    code=$("${CURL[@]}" --path-as-is -o "$WORK/escape.out" -w '%{http_code}' "$URL$path" 2>/dev/null)
    if [[ "$code" == 200 ]] || grep -aq -e "TOP-SECRET" -e "root:x:0:0" "$WORK/escape.out" 2>/dev/null; then
      escapes_ok=0
      echo "  $path: status $code: $(head -c 200 "$WORK/escape.out")"
    else
      echo "  $path: $code"
    fi
  done
  if [[ $escapes_ok -eq 1 ]]; then
    pass "path escapes (.., %2e%2e, %2f, %5c, %00, symlinks out): nothing served from outside the root"
  else
    fail "a path escape served something"
  fi

  # A directory: its index.html.
  code=$("${CURL[@]}" -o "$WORK/index.out" -w '%{http_code}' "$URL/" 2>/dev/null)
  if [[ "$code" == 200 ]] && cmp -s "$ROOT/index.html" "$WORK/index.out"; then
    pass "curl GET /: 200, index.html"
  else
    fail "curl GET /: status $code"
  fi

  # The log: one line per request, with the status and the body bytes.
  if grep -Eq "^http 10\.66\.0\.1:[0-9]+ \"GET /small.txt HTTP/1.1\" 200 $small_size\$" "$LOG" &&
    grep -Eq "^http 10\.66\.0\.1:[0-9]+ \"GET /big.bin HTTP/1.1\" 200 $big_size\$" "$LOG" &&
    grep -Eq "^http 10\.66\.0\.1:[0-9]+ \"HEAD /big.bin HTTP/1.1\" 200 0\$" "$LOG" &&
    grep -Eq "^http 10\.66\.0\.1:[0-9]+ \"GET /no/such/file HTTP/1.1\" 404 [0-9]+\$" "$LOG"; then
    pass "serve logs one line per request ($(grep -c '^http ' "$LOG") lines)"
  else
    fail "serve's log"; cat "$LOG"
  fi

  kill -INT "$SERVE_PID" 2>/dev/null
  for ((i = 0; i < 100; i++)); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.05; done
  wait "$SERVE_PID" 2>/dev/null
  rc=$?
  if [[ $rc -eq 0 ]] && grep -q "stopped" "$LOG"; then
    pass "serve --app http exits 0 on SIGINT"
  else
    fail "serve --app http on SIGINT: exit $rc"; tail -5 "$LOG"
  fi
else
  fail "serve --app http did not come up"; cat "$LOG"
fi

# --- 2. synack get -> python3 -m http.server ------------------------------------------------
# The servers bind to the kernel side's address, so the TUN interface exists (persistent,
# addressed) before synack attaches to it.
ip tuntap add dev hg0 mode tun && ip addr add 10.67.0.1/24 dev hg0 && ip link set hg0 up
head -c $((5 * 1024 * 1024 + 77)) /dev/urandom >"$WORK/pyroot/big.bin"
printf 'hello from python\n' >"$WORK/pyroot/hello.txt"
(cd "$WORK/pyroot" && exec /usr/bin/python3 -m http.server --bind 10.67.0.1 8000) \
  >"$WORK/pyhttp.log" 2>&1 &
PIDS+=("$!")
GET=(timeout 60 "$SYNACK" get --tun hg0 --addr 10.67.0.2/24 --connect-timeout 5 --idle-timeout 10)
if wait_for listening 8000; then
  "${GET[@]}" -o "$WORK/got.bin" http://10.67.0.1:8000/big.bin 2>"$WORK/get.err"
  rc=$?
  if [[ $rc -eq 0 && "$(sha "$WORK/got.bin")" == "$(sha "$WORK/pyroot/big.bin")" ]]; then
    pass "get -o FILE from python's http.server: $(stat -c %s "$WORK/got.bin") bytes, same sha256"
  else
    fail "get big.bin: exit $rc, $(stat -c %s "$WORK/got.bin" 2>/dev/null) bytes"; cat "$WORK/get.err"
  fi

  "${GET[@]}" http://10.67.0.1:8000/hello.txt >"$WORK/hello.out" 2>"$WORK/get.err"
  rc=$?
  if [[ $rc -eq 0 ]] && cmp -s "$WORK/pyroot/hello.txt" "$WORK/hello.out" && [[ ! -s "$WORK/get.err" ]]; then
    pass "get to stdout: the body, nothing on stderr (not a terminal: no progress)"
  else
    fail "get hello.txt: exit $rc"; cat "$WORK/get.err"
  fi

  "${GET[@]}" -o "$WORK/missing.out" http://10.67.0.1:8000/missing.bin >/dev/null 2>"$WORK/get.err"
  rc=$?
  if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "^synack get: 404 " "$WORK/get.err" &&
    [[ ! -e "$WORK/missing.out" ]]; then
    pass "get of a missing file: exit $rc, \"$(cat "$WORK/get.err")\", no output file"
  else
    fail "get missing.bin: exit $rc: $(cat "$WORK/get.err")"
  fi

  "${GET[@]}" http://10.67.0.1:8009/ >/dev/null 2>"$WORK/get.err"
  rc=$?
  if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "Connection refused" "$WORK/get.err"; then
    pass "get from a closed port: exit $rc, \"$(cat "$WORK/get.err")\""
  else
    fail "get from a closed port: exit $rc: $(cat "$WORK/get.err")"
  fi
else
  fail "python3 -m http.server did not come up"; cat "$WORK/pyhttp.log"
fi

# --- 3. synack get -> a server sending chunked bodies ---------------------------------------
cat >"$WORK/chunked.py" <<'PY'
import http.server, sys
data = open(sys.argv[1], "rb").read()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        self.close_connection = True
        if self.path in ("/chunked", "/chunked-cut"):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            step = 7919
            for i in range(0, len(data), step):
                piece = data[i:i + step]
                self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
            if self.path == "/chunked":
                self.wfile.write(b"0\r\nX-Trailer: done\r\n\r\n")
        elif self.path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(data[:1000])
        else:
            self.send_error(404)
http.server.ThreadingHTTPServer(("10.67.0.1", 8080), Handler).serve_forever()
PY
head -c $((1024 * 1024 + 5)) /dev/urandom >"$WORK/chunked.src"
/usr/bin/python3 "$WORK/chunked.py" "$WORK/chunked.src" >"$WORK/chunked.log" 2>&1 &
PIDS+=("$!")
if wait_for listening 8080; then
  "${GET[@]}" -o "$WORK/chunked.out" http://10.67.0.1:8080/chunked 2>"$WORK/get.err"
  rc=$?
  if [[ $rc -eq 0 && "$(sha "$WORK/chunked.out")" == "$(sha "$WORK/chunked.src")" ]]; then
    pass "get decodes Transfer-Encoding: chunked ($(stat -c %s "$WORK/chunked.out") bytes, same sha256)"
  else
    fail "get /chunked: exit $rc, $(stat -c %s "$WORK/chunked.out" 2>/dev/null) bytes"; cat "$WORK/get.err"
  fi

  "${GET[@]}" -o "$WORK/cut.out" http://10.67.0.1:8080/chunked-cut 2>"$WORK/get.err"
  rc=$?
  if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "before the last chunk" "$WORK/get.err"; then
    pass "get of a chunked body cut before its last chunk: exit $rc, \"$(cat "$WORK/get.err")\""
  else
    fail "get /chunked-cut: exit $rc: $(cat "$WORK/get.err")"
  fi

  "${GET[@]}" -o "$WORK/short.out" http://10.67.0.1:8080/short 2>"$WORK/get.err"
  rc=$?
  if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "after 1000 of 100000 body bytes" "$WORK/get.err"; then
    pass "get of a body short of its Content-Length: exit $rc, \"$(cat "$WORK/get.err")\""
  else
    fail "get /short: exit $rc: $(cat "$WORK/get.err")"
  fi
else
  fail "the chunked python server did not come up"; cat "$WORK/chunked.log"
fi

interop_finish
