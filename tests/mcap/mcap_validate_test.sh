#!/usr/bin/env bash
# A dyn4d recording read back by the reference MCAP reader (@mcap/core).
# npm installs the pinned validator into the build tree on first use.
set -euo pipefail
BIN=$1
SRC=$2
JS=$3  # where the validator's node_modules live (build tree)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$SRC/tests/common/npm_deps.sh"
npm_deps "$JS" "$SRC/tests/mcap/package.json"
cp "$SRC/tests/mcap/validate.mjs" "$JS/"
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
YAML
"$BIN" run --config "$work/rec.yaml" --out "$work/out" --quiet
node "$JS/validate.mjs" "$work/out/recording.mcap" 36 frames,poses,tracks
# And replay: the recording is also an input.
"$BIN" run --input "$work/out/recording.mcap" --out "$work/replayed" --quiet
test "$(grep -vc '^#' "$work/replayed/trajectory_gt.tum")" -eq 12
