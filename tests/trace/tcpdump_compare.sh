#!/usr/bin/env bash
# Compares `synack trace` with tcpdump, line for line, on real Linux-kernel captures.
#
# Usage: tests/trace/tcpdump_compare.sh /path/to/synack WORKDIR
#
# Makes the captures into WORKDIR with tests/captures/make_captures.py (root, in a private
# network namespace), then for every WORKDIR/*.pcap and for each mode in "" and "-S" checks
# that `synack trace [-S] FILE` prints exactly what `tcpdump -n [-S] -r FILE` prints, under
# a time zone with a half-hour, negative UTC offset (timestamps are local time in both).
# A mismatch prints a unified diff (tcpdump's lines are the "-" side).
#
# Exit status: 0 if every comparison passed and there were at least MIN_COMPARISONS of
# them; 1 otherwise; 77 (ctest's skip code) when the machine cannot make captures (not
# root, no unshare or tcpdump, namespaces not permitted), unless CI is set: then it is 1.
#
# Environment: COMPARE_TZ overrides the time zone (default America/St_Johns);
# PYTHON overrides the interpreter for make_captures.py (default /usr/bin/python3).
set -uo pipefail

MIN_COMPARISONS=20
ZONE=${COMPARE_TZ:-America/St_Johns}
PYTHON=${PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MAKE_CAPTURES="$HERE/../captures/make_captures.py"

if [[ $# -ne 2 ]]; then
  echo "usage: $0 /path/to/synack WORKDIR" >&2
  exit 2
fi
SYNACK=$1
WORKDIR=$2

# The machine cannot make captures: a skip on a developer's machine, a failure in CI.
cannot() {
  if [[ -n "${CI:-}" ]]; then
    echo "tcpdump_compare: FAIL: $*" >&2
    exit 1
  fi
  echo "tcpdump_compare: SKIP: $*" >&2
  exit 77
}

[[ $(id -u) -eq 0 ]] || cannot "needs root to capture in a private network namespace"
command -v tcpdump >/dev/null || cannot "tcpdump not installed"
command -v unshare >/dev/null || cannot "unshare not installed"
[[ -x $PYTHON ]] || cannot "$PYTHON not found"
unshare -n -- true 2>/dev/null || cannot "creating a network namespace is not permitted here"

if [[ ! -x $SYNACK ]]; then
  echo "tcpdump_compare: $SYNACK is not an executable" >&2
  exit 1
fi
if [[ ! -e /usr/share/zoneinfo/$ZONE ]]; then
  # Without tzdata both programs would silently fall back to UTC and prove nothing.
  echo "tcpdump_compare: time zone $ZONE not found (tzdata missing?)" >&2
  exit 1
fi

mkdir -p "$WORKDIR" || exit 1
rm -f "$WORKDIR"/*.pcap "$WORKDIR"/*.expected "$WORKDIR"/*.actual
if ! "$PYTHON" "$MAKE_CAPTURES" "$WORKDIR"; then
  echo "tcpdump_compare: FAIL: could not make the captures" >&2
  exit 1
fi

passed=0
failed=0
shopt -s nullglob
for pcap in "$WORKDIR"/*.pcap; do
  for mode in "" "-S"; do
    base=$(basename "$pcap" .pcap)
    name="$base${mode:+ $mode}"           # for messages: "sack -S"
    expected="$WORKDIR/$base${mode:+_S}.expected"  # both outputs are kept for inspection
    actual="$WORKDIR/$base${mode:+_S}.actual"
    # $mode is deliberately unquoted: empty means no argument at all.
    TZ=$ZONE tcpdump -n $mode -r "$pcap" >"$expected" 2>/dev/null
    TZ=$ZONE timeout 60 "$SYNACK" trace $mode "$pcap" >"$actual" 2>"$actual.stderr"
    status=$?  # 124: timed out
    if [[ ! -s $expected ]]; then
      echo "FAIL $name: tcpdump printed nothing"
      failed=$((failed + 1))
    elif [[ $status -ne 0 ]]; then
      echo "FAIL $name: synack trace exited with status $status"
      sed 's/^/    /' "$actual.stderr"
      failed=$((failed + 1))
    elif differences=$(diff -u --label "tcpdump -n ${mode:+$mode }-r $pcap" \
        --label "synack trace ${mode:+$mode }$pcap" "$expected" "$actual"); then
      echo "ok   $name ($(wc -l <"$expected") lines)"
      passed=$((passed + 1))
    else
      echo "FAIL $name: output differs"
      echo "$differences"
      failed=$((failed + 1))
    fi
    rm -f "$actual.stderr"
  done
done

echo "$passed passed, $failed failed"
if ((failed == 0 && passed >= MIN_COMPARISONS)); then
  exit 0
fi
if ((passed + failed < MIN_COMPARISONS)); then
  echo "tcpdump_compare: only $((passed + failed)) comparisons ran," \
    "expected at least $MIN_COMPARISONS" >&2
fi
exit 1
