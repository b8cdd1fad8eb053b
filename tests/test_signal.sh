#!/bin/bash
# Suite 'cli': SIGINT/SIGTERM during `phaxcl train`. The first signal
# finishes the current step, writes --checkpoint, says how to resume and
# exits 130/143 without writing --save; resuming gives the model of the
# uninterrupted run byte for byte. Without --checkpoint nothing is written.
# A second SIGINT exits at once, leaving no temp file and no damaged file.
# usage: test_signal.sh PHAXCL
set -u
PHX=${1:?usage: test_signal.sh PHAXCL}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ARGS=(--limit 200 --epochs 400 --layers ,30, --backend c)

# Starts training in the background; waits until epoch $1 is reported.
start() {
  local epoch=$1
  shift
  # The redirection happens in the background child: clear the old log
  # first, or the wait below could see the previous run's epochs.
  rm -f "$T/log" "$T/err"
  "$PHX" train "${ARGS[@]}" "$@" >"$T/log" 2>"$T/err" &
  pid=$!
  for _ in $(seq 1 600); do
    grep -q "^epoch *$epoch/" "$T/log" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  fail "training did not reach epoch $epoch: $(cat "$T/err")"
}

"$PHX" train "${ARGS[@]}" --save "$T/ref.st" >/dev/null || fail "reference run"

for sig in INT TERM; do
  want=$([ $sig = INT ] && echo 130 || echo 143)
  rm -f "$T/ck.st" "$T/out.st"
  start 20 --checkpoint "$T/ck.st" --save "$T/out.st"
  kill -$sig "$pid"
  wait "$pid"
  rc=$?
  [ "$rc" = "$want" ] || fail "SIG$sig: exit $rc, expected $want: $(cat "$T/err")"
  grep -q "^phaxcl: interrupted .*checkpoint written to $T/ck.st" "$T/err" ||
    fail "SIG$sig: no interruption message: $(cat "$T/err")"
  grep -qF -- "--resume $T/ck.st" "$T/err" || fail "SIG$sig: no resume hint"
  [ -e "$T/out.st" ] && fail "SIG$sig: --save written by an interrupted run"
  "$PHX" info "$T/ck.st" >/dev/null || fail "SIG$sig: checkpoint is not a model file"
  "$PHX" train --resume "$T/ck.st" --backend c --save "$T/out.st" >/dev/null 2>"$T/err2" ||
    fail "SIG$sig: resume failed: $(cat "$T/err2")"
  cmp -s "$T/out.st" "$T/ref.st" || fail "SIG$sig: resumed model differs from the uninterrupted one"
done

# Without --checkpoint: nothing written, and it says so.
rm -f "$T/out.st"
start 10 --save "$T/out.st"
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" = 130 ] || fail "no checkpoint: exit $rc"
grep -q "nothing saved" "$T/err" || fail "no checkpoint: message: $(cat "$T/err")"
[ -e "$T/out.st" ] && fail "no checkpoint: --save written"

# Two SIGINTs: out at once; the checkpoint is absent or whole; no temps.
for i in 1 2 3 4 5; do
  rm -f "$T/ck2.st"
  start 5 --checkpoint "$T/ck2.st"
  kill -INT "$pid"
  kill -INT "$pid"
  wait "$pid"
  rc=$?
  [ "$rc" = 130 ] || fail "double SIGINT: exit $rc: $(cat "$T/err")"
  if [ -e "$T/ck2.st" ]; then
    "$PHX" info "$T/ck2.st" >/dev/null 2>&1 || fail "double SIGINT: damaged checkpoint"
  fi
  ls "$T" | grep -q '\.tmp\.' && fail "double SIGINT: temp file left: $(ls "$T")"
done

echo "signal: $fails failure(s)"
[ "$fails" = 0 ]
