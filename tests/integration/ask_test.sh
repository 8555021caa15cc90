#!/usr/bin/env bash
# dyn4d ask against a running reason node: a synthetic sequence goes through
# the offline graph with the reason node serving on tcp and staying up after
# the video; questions come back with answers, justifications and track ids;
# a node that is not there is a clear error.
set -uo pipefail
BIN=$1
SRC=$2
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill -INT $pid 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; [ -f "$work/run.txt" ] && tail -5 "$work/run.txt"; exit 1; }
source "$(dirname "$0")/ports.sh"
port=$(free_ports 1) || fail "no free port"
"$BIN" synth --out "$work/synth" --frames 45 --objects 3 > /dev/null 2>&1 || fail "synth"
# The offline graph with a service on the reason node.
sed -e "s|^    type: reason$|    type: reason\n    service: tcp://127.0.0.1:$port\n    service_linger_s: 60|" \
  "$SRC/configs/offline.yaml" > "$work/offline.yaml"
grep -q "service: tcp://127.0.0.1:$port" "$work/offline.yaml" || fail "could not add the service"
sed -i "s|models/synthetic_objects_dyn_perceiver.yaml|$SRC/configs/models/synthetic_objects_dyn_perceiver.yaml|" "$work/offline.yaml"
# One question asked at the end of the stream (written to reasoning.jsonl);
# the others over the service while the node lingers.
echo "Is the ball moving at the end of the video?" > "$work/questions.txt"
"$BIN" run --config "$work/offline.yaml" --input "$work/synth" --out "$work/run" -q \
  --questions "$work/questions.txt" > "$work/run.txt" 2>&1 &
pid=$!
# Wait until the video is processed (the map is written at end of stream).
for _ in $(seq 1 120); do
  grep -q "answering questions" "$work/run.txt" && break
  kill -0 $pid 2>/dev/null || fail "the run ended early"
  sleep 0.5
done
grep -q "answering questions" "$work/run.txt" || fail "the node never started answering"

echo "== a multiple-choice question"
"$BIN" ask --endpoint "tcp://127.0.0.1:$port" --timeout 20 \
  "At 0.5 s, which object is closest to the camera?" \
  --option "A. chair" --option "B. ball" --option "C. box" > "$work/a.txt" 2>&1 || fail "ask: $(cat "$work/a.txt")"
cat "$work/a.txt"
tail -1 "$work/a.txt" | grep -q "^answer [ABC]$" || fail "no option letter"
grep -q "^because: .*depth" "$work/a.txt" || fail "no justification"
grep -q "^track: [0-9]" "$work/a.txt" || fail "no track id"

echo "== an open question"
"$BIN" ask --endpoint "tcp://127.0.0.1:$port" "How many of the objects seen in the video move at some point?" \
  > "$work/b.txt" 2>&1 || fail "ask: $(cat "$work/b.txt")"
tail -1 "$work/b.txt" | grep -q "^answer [0-9]$" || fail "no count: $(cat "$work/b.txt")"

kill -INT $pid
wait $pid
rc=$?
pid=""
[ $rc -eq 0 ] || fail "run exited $rc after Ctrl-C"
grep -q '"kind":"answer"' "$work/run/reasoning.jsonl" || fail "answers not written"

echo "== nobody serving: a clear error"
"$BIN" ask --endpoint "tcp://127.0.0.1:$port" --timeout 0.5 "anything?" > "$work/c.txt" 2>&1
[ $? -eq 2 ] || fail "expected exit 2 without a server"
grep -q "no answer within" "$work/c.txt" || fail "unclear error: $(cat "$work/c.txt")"
echo PASS
