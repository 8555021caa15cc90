#!/usr/bin/env bash
# The tracking path from the command line: the offline graph (geometric
# proposals -> recognition -> 3D tracker) on a synthetic sequence scored by
# dyn4d eval mot; the synthetic tracking bench; a MOT file with a bad line;
# and, with ../shared, the detector graph (YOLOX + OSNet) on real RGB-D.
source "$(dirname "$0")/common.sh" "$@"
last_value() { tail -1 "$1" | awk -v k="$2" '$1 == k { print $2 }'; }

echo "== synthetic sequence through the offline graph"
"$BIN" synth --out "$work/synth" --frames 45 --objects 3 > /dev/null 2>&1 || fail "synth"
"$BIN" run --input "$work/synth" --out "$work/run" -q > "$work/run.txt" 2>&1 ||
  fail "run: $(tail -5 "$work/run.txt")"
for f in tracks_mot.txt tracks.jsonl gt_tracks_mot.txt recognitions.jsonl overlay.mp4; do
  [ -s "$work/run/$f" ] || fail "no $f"
done
"$BIN" eval mot --gt "$work/run/gt_tracks_mot.txt" --res "$work/run/tracks_mot.txt" > "$work/eval.txt" ||
  fail "eval mot: $(cat "$work/eval.txt")"
hota=$(last_value "$work/eval.txt" hota)
echo "HOTA of the offline graph: $hota"
awk -v h="$hota" 'BEGIN { exit !(h >= 0.6) }' || fail "HOTA $hota < 0.6"
# Tracks carry classes the synthetic scene knows, and grounding masks.
grep -q '"class":"\(person\|chair\|ball\|box\|dog\|robot\)"' "$work/run/tracks.jsonl" ||
  fail "tracks without synthetic classes: $(head -2 "$work/run/tracks.jsonl")"
grep -q '"mask_rle":{"counts":\[' "$work/run/tracks.jsonl" || fail "tracks without grounding masks"

echo "== dyn4d bench tracking --synth"
"$BIN" bench tracking --synth --frames 45 > "$work/bench.txt" 2>&1 || fail "bench: $(tail -3 "$work/bench.txt")"
grep -q "exit histogram:" "$work/bench.txt" || fail "no exit histogram"
grep -q "^recognition_accuracy_tracked" "$work/bench.txt" || fail "no recognition accuracy"
value=$(last_value "$work/bench.txt" hota_synth)
[ -n "$value" ] || fail "last line is not hota_synth: $(tail -1 "$work/bench.txt")"

echo "== a MOT file with a bad line: error names the line"
printf '1,1,10,10,20,20,1,-1,-1,-1\n1,2,50,50,20,20,1,-1,-1,-1\n2,1,abc,10,20,20,1,-1,-1,-1\n' > "$work/bad.txt"
"$BIN" eval mot --gt "$work/bad.txt" --res "$work/bad.txt" > "$work/bad_out.txt" 2>&1
[ $? -eq 2 ] || fail "expected exit 2 for a bad MOT file"
grep -q "bad.txt:3:" "$work/bad_out.txt" ||
  fail "error does not name file and line: $(cat "$work/bad_out.txt")"

shared=${DYN4D_SHARED:-$SRC/../shared}
if [ -e "$shared/models/yolox_nano.onnx" ] && [ -d "$shared/data/tum_fr1_rpy" ]; then
  echo "== detector graph (YOLOX + OSNet) on TUM fr1/rpy"
  sed -e "s|../../shared/models|$shared/models|" "$SRC/configs/detector.yaml" > "$work/detector.yaml"
  "$BIN" run --input "$shared/data/tum_fr1_rpy" --config "$work/detector.yaml" --out "$work/det" -q \
    > "$work/det.txt" 2>&1 || fail "detector run: $(tail -5 "$work/det.txt")"
  [ -s "$work/det/tracks_mot.txt" ] || fail "no tracks from the detector graph"
  grep -q '"class":"\(tv\|keyboard\|mouse\|laptop\)"' "$work/det/tracks.jsonl" ||
    fail "no desk objects tracked"
  grep -q '"embedding"' "$work/det/detections.jsonl" || fail "no re-id embeddings"
else
  echo "(../shared absent: detector graph part skipped)"
fi
if [ -d "$shared/data/mot17_mini" ]; then
  echo "== bench tracking --mot17: the RGB-only graph next to the public-detection tracker"
  "$BIN" bench tracking --mot17 "$shared/data/mot17_mini" --out "$work/mot17" \
    > "$work/mot17.txt" 2>&1 || fail "bench --mot17: $(tail -5 "$work/mot17.txt")"
  grep -q "^combined .*rgb-only graph" "$work/mot17.txt" || fail "no combined RGB-only row"
  for s in 02 04 05 09 10 11 13; do
    test -s "$work/mot17/MOT17-$s-FRCNN/tracks_mot.txt" -o -e "$work/mot17/MOT17-$s-FRCNN/tracks_mot.txt" ||
      fail "the graph wrote nothing for MOT17-$s"
  done
  # The public-detection tracker on FRCNN boxes finds people (HOTA well above 0).
  awk '$1 == "hota_public_detections" && $2 > 30 {ok=1} END {exit !ok}' "$work/mot17.txt" ||
    fail "public detections: $(grep hota_ "$work/mot17.txt")"
  grep -q "^hota_rgb_only [0-9]" "$work/mot17.txt" || fail "no hota_rgb_only line"
else
  echo "(../shared/data/mot17_mini absent: MOT17 part skipped)"
fi
echo "PASS"
