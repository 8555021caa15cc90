#!/usr/bin/env bash
# dyn4d synth, then dyn4d run --input on what it wrote; a folder of videos as a
# batch with one bad video; bad inputs exit 2 naming the path.
source "$(dirname "$0")/common.sh" "$@"

echo "== synth -> run --input"
"$BIN" synth --out "$work/synth" --frames 30 --width 320 --height 240 > "$work/synth.log" 2>&1 || { cat "$work/synth.log"; fail "synth"; }
"$BIN" run --input "$work/synth" --out "$work/run" > "$work/run.log" 2>&1 || { cat "$work/run.log"; fail "run --input"; }
grep -q "TUM RGB-D folder" "$work/run.log" || fail "synth folder not detected as TUM layout"
[ "$(grep -vc '^#' "$work/run/trajectory_gt.tum")" -eq 30 ] || fail "trajectory lines"
grep -v '^#' "$work/synth/groundtruth.txt" | cut -d' ' -f2- | head -3 > "$work/a"
grep -v '^#' "$work/run/trajectory_gt.tum" | cut -d' ' -f2- | head -3 > "$work/b"
cmp "$work/a" "$work/b" || fail "ground-truth poses changed on the way"
test -s "$work/run/tracks_mot.txt" || fail "tracks"
test -s "$work/run/overlay.mp4" || fail "overlay video"
test -s "$work/run/map_points.ply" || fail "map points"
test -s "$work/run/map_mesh.ply" || fail "TSDF mesh"
[ "$(grep -vc '^#' "$work/run/trajectory.tum")" -eq 30 ] || fail "estimated trajectory lines"

echo "== eval traj on the estimate: last line ate_rmse_m, below 1 cm on synthetic data"
"$BIN" eval traj --gt "$work/synth/groundtruth.txt" --est "$work/run/trajectory.tum" > "$work/eval.log" || fail "eval traj"
tail -1 "$work/eval.log"
tail -1 "$work/eval.log" | awk '$1 == "ate_rmse_m" && $2 < 0.01 {ok=1} END {exit !ok}' || fail "ATE too large or last line wrong"

echo "== --input-param reaches the input node; calibrate color on registered data stays near identity"
"$BIN" run --input "$work/synth" --input-param max_frames=5 --input-param color_fx=262.5 \
  --input-param color_fy=262.5 --input-param color_cx=159.5 --input-param color_cy=119.5 \
  --out "$work/run_reg" > "$work/run_reg.log" 2>&1 || { cat "$work/run_reg.log"; fail "run --input-param"; }
grep -q "colour registered to depth" "$work/run_reg.log" || fail "colour registration not applied"
[ "$(grep -vc '^#' "$work/run_reg/trajectory.tum")" -eq 5 ] || fail "max_frames=5 not applied"
"$BIN" run --input "$work/synth" --input-param color_fx=262.5 > "$work/e0.log" 2>&1; rc=$?
[ "$rc" -eq 2 ] && grep -q "input.params.color_fx" "$work/e0.log" || { cat "$work/e0.log"; fail "partial colour camera"; }
"$BIN" calibrate color "$work/synth" --every 1 > "$work/cal.log" 2>&1 || { cat "$work/cal.log"; fail "calibrate color"; }
tail -1 "$work/cal.log"
grep -q "color_fx: 26[0-5]" "$work/cal.log" || { cat "$work/cal.log"; fail "calibrate color: focal length of registered data"; }

echo "== calibrate depth on exact synthetic depth finds no distortion; implausible terms are refused"
"$BIN" calibrate depth "$work/synth" --frames 30 > "$work/cald.log" 2>&1 || { cat "$work/cald.log"; fail "calibrate depth"; }
tail -1 "$work/cald.log"
tail -1 "$work/cald.log" | awk '$1 == "depth_factor_range" && $2 > 0.99 && $3 < 1.01 {ok=1} END {exit !ok}' ||
  { cat "$work/cald.log"; fail "calibrate depth: a distortion found in exact depth"; }
"$BIN" run --input "$work/synth" --input-param depth_kx=0.9 --out "$work/run_dk" > "$work/dk.log" 2>&1 && fail "depth_kx=0.9 accepted"
grep -q "depth_kx..depth_kyy: the depth factor is 0.45" "$work/dk.log" || { cat "$work/dk.log"; fail "implausible depth terms not named"; }
"$BIN" run --input "$work/synth" --input-param max_frames=3 --input-param depth_kxx=0.02 --out "$work/run_dk2" > "$work/dk2.log" 2>&1 ||
  { cat "$work/dk2.log"; fail "run with depth_kxx"; }
grep -q "depth corrected (depth_kx 0 depth_ky 0 depth_kxx 0.02" "$work/dk2.log" || { cat "$work/dk2.log"; fail "depth correction not applied"; }

echo "== a folder of videos: one output folder each, a bad one is skipped"
mkdir -p "$work/videos"
cp "$work/run/overlay.mp4" "$work/videos/a.mp4"
cp "$work/run/overlay.mp4" "$work/videos/c.mp4"
head -c 5000 "$work/run/overlay.mp4" > "$work/videos/b_truncated.mp4"
echo "not a video" > "$work/videos/d_garbage.avi"
"$BIN" run --input "$work/videos" --calib "$work/synth/calibration.yaml" --out "$work/batch" > "$work/batch.log" 2>&1
rc=$?
cat "$work/batch.log" | tail -12
[ "$rc" -eq 1 ] || fail "batch with a bad video exited $rc, expected 1"
for v in a c; do test -s "$work/batch/$v/overlay.mp4" || fail "no output for $v.mp4"; done
grep -q "d_garbage.avi" "$work/batch.log" || fail "the bad video is not named"
grep -Eq "[23] of 4 video\(s\) processed" "$work/batch.log" || fail "no batch summary"

echo "== videos of mixed sizes in one batch, and an image folder with an odd-sized image"
"$BIN" synth --out "$work/synth_small" --frames 12 --width 160 --height 120 > /dev/null 2>&1 ||
  fail "synth 160x120"
"$BIN" run --input "$work/synth_small/rgb" --out "$work/small" -q > "$work/small.log" 2>&1 ||
  { tail -5 "$work/small.log"; fail "run on a colour-only image folder"; }
mkdir -p "$work/mixed_videos"
cp "$work/run/overlay.mp4" "$work/mixed_videos/a_320x240.mp4"
cp "$work/small/overlay.mp4" "$work/mixed_videos/b_160x120.mp4"
"$BIN" run --input "$work/mixed_videos" --out "$work/mixed" > "$work/mixed.log" 2>&1 ||
  { tail -12 "$work/mixed.log"; fail "a batch of videos of two sizes"; }
grep -q "2 of 2 video(s) processed" "$work/mixed.log" || fail "mixed sizes: not both processed"
grep -q "(160x120" "$work/mixed.log" && grep -q "(320x240" "$work/mixed.log" ||
  fail "mixed sizes: each video not read at its own size"
mkdir -p "$work/mixed_images"
cp "$work/synth_small/rgb/"*.png "$work/mixed_images/"
/usr/bin/python3 -c "import sys; open(sys.argv[1], 'wb').write(b'P6 8 8 255\n' + bytes(192))" \
  "$work/mixed_images/zz_odd.ppm"
"$BIN" run --input "$work/mixed_images" --out "$work/mixed_images_out" > "$work/mixed_images.log" 2>&1 ||
  { tail -8 "$work/mixed_images.log"; fail "an image folder with an odd-sized image"; }
grep -q "skipped a frame: '$work/mixed_images/zz_odd.ppm' is 8x8, the folder's first image is 160x120" \
  "$work/mixed_images.log" || { grep -i skip "$work/mixed_images.log"; fail "the odd image not named"; }
[ "$(cut -d, -f1 "$work/mixed_images_out/tracks_mot.txt" | sort -un | wc -l)" -ge 1 ] ||
  fail "the rest of the folder not processed"

echo "== colour-only video without a calibration: the 2D graph, an assumed field of view"
"$BIN" run --input "$work/videos/a.mp4" --out "$work/video" > "$work/video.log" 2>&1 ||
  { tail -20 "$work/video.log"; fail "run --input VIDEO without intrinsics"; }
grep -q "the 2D graph" "$work/video.log" || fail "colour-only input did not get the 2D graph"
grep -q "assuming a 60 deg horizontal field of view" "$work/video.log" || fail "no word on the assumed intrinsics"
test -s "$work/video/tracks_mot.txt" || fail "no 2D tracks from the video"
test -s "$work/video/overlay.mp4" || fail "no overlay from the video"
grep -q "^Q1:" "$work/run/reasoning.txt" && fail "questions asked that nobody asked"
grep -q "colour-only video" "$work/video/reasoning.txt" || fail "no image-plane cognitive map"

echo "== --questions FILE: asked at the end of the stream, answered"
printf '# a comment\nHow many objects move at some point?\nAt 2 seconds, what is the colour of the sky?\n' > "$work/q.txt"
"$BIN" run --input "$work/videos/a.mp4" --out "$work/video_q" --questions "$work/q.txt" -q \
  > "$work/video_q.log" 2>&1 || { tail -5 "$work/video_q.log"; fail "run --questions"; }
grep -q "^A0: [0-9]" "$work/video_q/reasoning.txt" || fail "count question not answered"
grep -q "forms" "$work/video_q/reasoning.txt" || fail "unknown question not answered with the forms"

echo "== a run that tracks no frame fails, naming the node and the likely causes"
"$BIN" run --input "$work/synth" --input-param depth_scale=50 --input-param max_frames=8 \
  --out "$work/lost" > "$work/lost.log" 2>&1
rc=$?
[ "$rc" -eq 1 ] || { tail -5 "$work/lost.log"; fail "all frames lost exited $rc, expected 1"; }
grep -q "node 'geometry'.*tracking lost on every one of the 8 frames" "$work/lost.log" ||
  { tail -5 "$work/lost.log"; fail "all-lost failure not explained"; }

echo "== bad inputs: exit 2 with the path"
"$BIN" run --input "$work/nope" > "$work/e1.log" 2>&1; rc=$?
[ "$rc" -eq 2 ] && grep -q "$work/nope' does not exist" "$work/e1.log" || { cat "$work/e1.log"; fail "missing input"; }
mkdir "$work/empty"
"$BIN" run --input "$work/empty" > "$work/e2.log" 2>&1; rc=$?
[ "$rc" -eq 2 ] && grep -q "not a known layout" "$work/e2.log" || { cat "$work/e2.log"; fail "empty folder"; }
: > "$work/synth/associations.txt"
"$BIN" run --input "$work/synth" > "$work/e3.log" 2>&1; rc=$?
[ "$rc" -eq 2 ] && grep -q "no frames listed" "$work/e3.log" || { cat "$work/e3.log"; fail "empty list"; }
echo "all input checks passed"
