#!/usr/bin/env bash
# dyn4d's ROS 2 CDR bytes decoded by an independent decoder
# (@foxglove/rosmsg2-serialization, with the definitions of
# @foxglove/rosmsg-msgs-common). npm installs the pinned packages into the
# build tree on first use (test set-up, never at run time).
set -euo pipefail
TESTS=$1  # the ros2_tests executable
SRC=$2
JS=$3     # where the decoder's node_modules live (build tree)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$SRC/tests/common/npm_deps.sh"
npm_deps "$JS" "$SRC/tests/ros2/package.json"
cp "$SRC/tests/ros2/decode.mjs" "$JS/"
DYN4D_ROS2_SAMPLES="$work" "$TESTS" "[.export]" > "$work/export.log" 2>&1 ||
  { cat "$work/export.log"; exit 1; }
node "$JS/decode.mjs" "$work"
