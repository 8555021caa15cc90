#!/usr/bin/env bash
# The live viewer over the Foxglove WebSocket protocol, on loopback: a run
# with --view is read by Foxglove's own client library (@foxglove/ws-protocol),
# which negotiates the subprotocol, subscribes and decodes a cloud, a pose and
# an image with the independent ROS 2 decoder, and asks the reasoning node a
# question through the viewer (clientPublish). A bad --view is refused.
set -euo pipefail
BIN=$1
SRC=$2
JS=$3
source "$SRC/tests/common/npm_deps.sh"
source "$SRC/tests/common/net.sh"
npm_deps "$JS" "$SRC/tests/viewer/package.json"
cp "$SRC/tests/viewer/ws_client.mjs" "$JS/"
work=$(mktemp -d)
trap 'rm -rf "$work"; kill $run 2>/dev/null || true' EXIT
port=$(free_port)
cat > "$work/view.yaml" <<'YAML'
version: 1
nodes:
  source:
    type: synthetic_rgbd
    outputs: {frames: frames, poses: poses, tracks: tracks}
    params: {frames: 150, width: 320, height: 240, rate_hz: 15}
  cloud:
    type: backproject
    inputs: {frames: frames, poses: poses}
    outputs: {clouds: clouds}
    params: {stride: 4}
  reason:
    type: reason
    inputs: {tracks: tracks, poses: poses}
    outputs: {maps: maps}
YAML
"$BIN" run --config "$work/view.yaml" --out "$work/out" --view "127.0.0.1:$port" > "$work/run.log" 2>&1 &
run=$!
node "$JS/ws_client.mjs" "ws://127.0.0.1:$port" 30 "How many objects move?" ||
  { tail -5 "$work/run.log"; exit 1; }
wait $run || { tail -5 "$work/run.log"; echo "FAIL the run with --view"; exit 1; }
grep -q "ws://127.0.0.1:$port in Foxglove" "$work/run.log" || { echo "FAIL no viewer address"; exit 1; }

echo "== a bad --view is refused, naming it"
if "$BIN" run --config "$work/view.yaml" --out "$work/bad" --view "127.0.0.1:http" > "$work/bad.log" 2>&1; then
  echo "FAIL a bad --view was accepted"; exit 1
fi
grep -q "give \[ADDRESS:\]PORT" "$work/bad.log" || { cat "$work/bad.log"; exit 1; }
echo PASS
