#!/usr/bin/env bash
# The recorder's ros2 profile: a rosbag2 MCAP (chunked, indexed, CDR with
# ros2msg schemas) and metadata.yaml, read back by @mcap/core's indexed
# reader and decoded by @foxglove/rosmsg2-serialization.
set -euo pipefail
BIN=$1
SRC=$2
JS=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$SRC/tests/common/npm_deps.sh"
npm_deps "$JS" "$SRC/tests/ros2/package.json"
cp "$SRC/tests/ros2/read_bag.mjs" "$JS/"
cat > "$work/rec.yaml" <<'YAML'
version: 1
nodes:
  source:
    type: synthetic_rgbd
    outputs: {frames: frames, poses: poses, tracks: tracks}
    params: {frames: 12, width: 160, height: 120, fx: 131.25, fy: 131.25}
  rec:
    type: recorder
    inputs: {frames: frames, poses: poses, tracks: tracks}
    params: {profile: ros2}
YAML
"$BIN" run --config "$work/rec.yaml" --out "$work/out" --quiet
bag="$work/out/ros2_bag"
test -s "$bag/ros2_bag_0.mcap" || { ls -R "$work/out"; echo "FAIL no bag"; exit 1; }
grep -q "storage_identifier: mcap" "$bag/metadata.yaml" || { echo "FAIL metadata.yaml"; exit 1; }
grep -q "name: /dyn4d/frames/color/image_raw" "$bag/metadata.yaml" || { echo "FAIL topics in metadata.yaml"; exit 1; }
grep -q "type: vision_msgs/msg/Detection3DArray" "$bag/metadata.yaml" || { echo "FAIL types"; exit 1; }
/usr/bin/python3 -c "import yaml,sys; d=yaml.safe_load(open(sys.argv[1]))['rosbag2_bagfile_information']; \
  assert d['message_count'] > 0 and d['relative_file_paths'] == ['ros2_bag_0.mcap'], d" "$bag/metadata.yaml" 2>/dev/null ||
  /usr/bin/python3 -c "print('(python3-yaml absent: metadata.yaml parsed by grep only)')"
node "$JS/read_bag.mjs" "$bag/ros2_bag_0.mcap" 12
echo "== the bag replays as an input: frames, intrinsics and depth come back"
"$BIN" run --input "$bag/ros2_bag_0.mcap" --out "$work/replayed" > "$work/replayed.log" 2>&1 ||
  { tail -8 "$work/replayed.log"; echo "FAIL run --input BAG"; exit 1; }
grep -q "ROS 2 bag .*12 frames: colour /dyn4d/frames/color/image_raw, depth /dyn4d/frames/depth/image_raw" "$work/replayed.log" ||
  { grep -i "input" "$work/replayed.log" | head -5; echo "FAIL bag not described"; exit 1; }
lines=$(grep -vc '^#' "$work/replayed/trajectory.tum")
[ "$lines" -eq 12 ] || { echo "FAIL $lines poses from the replayed bag, expected 12"; exit 1; }
echo "PASS"
