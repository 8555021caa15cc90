#!/usr/bin/env bash
# A real Python (pyzmq) client subscribes to a running dyn4d pipeline.
set -euo pipefail
BIN=$1
SRC=$2
PY=/usr/bin/python3  # Debian's python3-zmq/msgpack/numpy belong to this one
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
source "$(dirname "$0")/../integration/ports.sh"
p1=$(free_ports 2)
p2=$((p1 + 1))
sed -e "s/@P1@/$p1/" -e "s/@P2@/$p2/" "$SRC/tests/python/pyzmq_graph.yaml.in" > "$work/graph.yaml"
"$BIN" run --config "$work/graph.yaml" --out "$work/out" > "$work/run.log" 2>&1 &
pid=$!
sleep 0.3  # the client joins late on purpose: the handshake must hold the stream
$PY "$SRC/tests/python/check_stream.py" "tcp://127.0.0.1:$p1" "tcp://127.0.0.1:$p2" 15 "$work/received.json"
wait $pid  # the run must end with exit 0 once the stream is done
$PY "$SRC/tests/python/compare_tracks.py" "$work/received.json" "$work/out/tracks.jsonl"
