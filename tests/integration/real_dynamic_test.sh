#!/usr/bin/env bash
# The default graph on real RGB-D sequences (issue 15): static scenes give no
# moving object, the three people of Bonn crowd are found as a few tracks, the
# camera follows the ground truth, not the people. Bounds are what a working
# system must clear on any such sequence, not the figures measured here
# (README: `dyn4d bench dynamic`). Skips (exit 4) without ../shared.
source "$(dirname "$0")/common.sh" "$@"
shared=${DYN4D_SHARED:-$SRC/../shared}
for d in tum_fr1_rpy 7scenes_redkitchen bonn_crowd; do
  [ -d "$shared/data/$d" ] || { echo "SKIPPED: needs $shared/data/$d (set DYN4D_SHARED)"; exit 4; }
done
[ -e "$shared/models/yolox_nano.onnx" ] || { echo "SKIPPED: needs $shared/models/yolox_nano.onnx"; exit 4; }

echo "== dyn4d bench dynamic (without the Open3D baseline)"
"$BIN" bench dynamic --shared "$shared" --skip-open3d --starts 2 --save "$work/out" > "$work/bench.txt" 2>&1 ||
  { tail -20 "$work/bench.txt"; fail "bench dynamic exited $?"; }
tail -12 "$work/bench.txt"
value() { awk -v k="$1" '$1 == k {print $2}' "$work/bench.txt" | tail -1; }
phantoms=$(value phantom_tracks_static)
tracks=$(value bonn_moving_tracks)
ate=$(value bonn_ate_m)
coverage=$(value bonn_person_coverage)
on_people=$(value bonn_map_on_people)
[ -n "$phantoms" ] && [ -n "$tracks" ] && [ -n "$ate" ] && [ -n "$coverage" ] && [ -n "$on_people" ] ||
  fail "bench lines missing"
[ "$phantoms" -eq 0 ] || fail "$phantoms moving tracks on the static TUM / 7-Scenes scenes"
# Three people walk through: at least one track each would be 3; a few
# fragments are tolerated, dozens (one per body part) are not.
[ "$tracks" -ge 2 ] && [ "$tracks" -le 9 ] || fail "$tracks moving tracks for the 3 Bonn people"
awk -v a="$ate" 'BEGIN {exit !(a < 0.35)}' || fail "Bonn ATE $ate m: the camera follows the people"
awk -v c="$coverage" 'BEGIN {exit !(c > 0.4)}' || fail "Bonn person coverage $coverage"
# People who walk through leave (almost) no trace in the static map.
# (0.0008 measured 2026-12-04; about 0.02 before views that see through a
# keyframe's pixels kept them out: README, "What other views see through").
awk -v m="$on_people" 'BEGIN {exit !(m < 0.01)}' ||
  fail "Bonn map: a share of $on_people of the mesh lies on people"
# --starts: the camera tracking alone, from the first frame, is the graph's
# camera (the same tracker, the same frames); a second start is measured too.
start0=$(awk '$1 == "0:" {print $2}' "$work/bench.txt" | tail -1)
median=$(value bonn_crowd_ate_m_median_of_starts)
[ -n "$start0" ] && [ -n "$median" ] || fail "no ATE per start for Bonn"
[ "$start0" = "$ate" ] || fail "tracking alone from frame 0 gives $start0 m, the graph $ate m"
awk -v a="$median" 'BEGIN {exit !(a < 0.35)}' || fail "Bonn ATE over two starts $median m"
# Bonn again with the depth distortion calibrated from its own first frames:
# the row is there and the camera still follows the room.
calibrated=$(awk '$1 == "dyn4d," && $2 == "depth" && $3 == "calibrated" {print $4}' "$work/bench.txt")
[ -n "$calibrated" ] || fail "no depth-calibrated Bonn row"
awk -v a="$calibrated" 'BEGIN {exit !(a < 0.35)}' || fail "Bonn ATE with calibrated depth $calibrated m"
# ... with the five terms it used, as the input node takes them (to redo the
# row with dyn4d run --input-param).
terms=$(awk '$1 == "input" && $2 == "params:" {for (i = 3; i <= NF; ++i) print $i}' "$work/bench.txt" |
  grep -cE '^depth_k(x|y|xx|xy|yy)=-?[0-9]+\.[0-9]{5}$')
[ "$terms" = 5 ] || fail "the calibrated row's input params: $terms of 5 terms"
# The per-box record agrees with the coverage line: one line per person box,
# the share at IoU >= 0.5 is the coverage.
boxes="$work/out/bonn_crowd/person_boxes.jsonl"
[ -s "$boxes" ] || fail "no $boxes"
/usr/bin/python3 - "$boxes" "$coverage" <<'PY' || fail "person_boxes.jsonl disagrees with the coverage line"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert rows and all(0 <= r["best_iou"] <= 1 and len(r["box_xywh"]) == 4 for r in rows)
covered = sum(r["best_iou"] >= 0.5 for r in rows) / len(rows)
assert abs(covered - float(sys.argv[2])) < 0.0015, (covered, sys.argv[2])
PY

echo "== the live tracker (no look-ahead) on Bonn: judged against earlier views only"
cat > "$work/live.yaml" <<EOY
version: 1
name: live_geometry
nodes:
  input:
    type: input
    outputs: {frames: frames, poses: gt_poses}
    params: {path: $shared/data/bonn_crowd}
  geometry:
    type: geometry
    inputs: {frames: frames}
    outputs: {poses: poses}
    params: {lookahead_frames: 0}
  trajectory:
    type: trajectory_writer
    inputs: {poses: poses}
    params: {file: trajectory.tum}
  trajectory_gt:
    type: trajectory_writer
    inputs: {poses: gt_poses}
    params: {file: trajectory_gt.tum}
EOY
"$BIN" run --config "$work/live.yaml" --out "$work/live" > "$work/live.log" 2>&1 ||
  { tail -5 "$work/live.log"; fail "live geometry graph exited $?"; }
live_ate=$("$BIN" eval traj --est "$work/live/trajectory.tum" --gt "$work/live/trajectory_gt.tum" |
  awk '$1 == "ate_rmse_m" {print $2}')
echo "live Bonn ATE $live_ate m"
# 0.56-0.67 m over seven starts of the excerpt when the live tracker
# segmented against its own keyframes; 0.14-0.23 m with the three passes.
awk -v a="$live_ate" 'BEGIN {exit !(a > 0 && a < 0.4)}' ||
  fail "live Bonn ATE '$live_ate' m: the live camera follows the people"
echo "PASS"
