#!/usr/bin/env bash
# Live DDS against an independent ROS 2 implementation: the ros2_bridge node
# publishes a synthetic 640x480 run and @foxglove/ros2 (pure TypeScript
# RTPS, npm) receives images, camera info, pose, /tf, a fragmented cloud,
# markers and the cognitive map. All inside a network namespace of our own
# with only loopback (multicast routed on lo): no packet can leave.
set -euo pipefail
BIN=$1
SRC=$2
JS=$3
if ! unshare -n true 2>/dev/null; then
  echo "SKIP: cannot create a network namespace here (unshare -n needs root)"
  exit 4
fi
source "$SRC/tests/common/npm_deps.sh"
npm_deps "$JS" "$SRC/tests/ros2/live/package.json"
cp "$SRC/tests/ros2/live/listen.mjs" "$JS/"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/bridge.yaml" <<'YAML'
version: 1
nodes:
  source:
    type: synthetic_rgbd
    outputs: {frames: frames, poses: gt_poses, tracks: tracks}
    params: {frames: 50, width: 640, height: 480, rate_hz: 10}
  geometry:
    type: geometry
    inputs: {frames: frames}
    outputs: {poses: poses, clouds: clouds}
    params: {lookahead_frames: 0}
  reason:
    type: reason
    inputs: {tracks: tracks, poses: poses}
    outputs: {maps: maps}
  ros2_bridge:
    type: ros2_bridge
    inputs: {frames: frames, poses: poses, clouds: clouds, tracks: tracks, cognitive_map: maps}
    params: {domain_id: 7}
YAML
export BIN JS work
unshare -n bash -c '
  set -euo pipefail
  ip link set lo up
  ip link set lo multicast on
  ip route add 224.0.0.0/4 dev lo
  export ROS_DOMAIN_ID=7
  export CYCLONEDDS_URI="<CycloneDDS><Domain><General><Interfaces><NetworkInterface name=\"lo\" multicast=\"true\"/></Interfaces><AllowMulticast>true</AllowMulticast></General></Domain></CycloneDDS>"
  node "$JS/listen.mjs" 40 > "$work/listen.log" 2>&1 &
  listener=$!
  sleep 2
  "$BIN" run --config "$work/bridge.yaml" --out "$work/out" --quiet > "$work/run.log" 2>&1 ||
    { tail -5 "$work/run.log"; exit 1; }
  wait $listener || { cat "$work/listen.log"; exit 1; }
  cat "$work/listen.log"
'
