#!/usr/bin/env bash
# Real colour-only video, as a new user runs it: `dyn4d run --input` on a
# folder of the opencv-doc videos (pedestrians in vtest.avi, Megamind, tree,
# and Megamind_bugy.avi, damaged): every video processed with the default
# 2D graph, vtest's pedestrians tracked and in an image-plane cognitive map.
source "$(dirname "$0")/common.sh" "$@"

videos=/usr/share/doc/opencv-doc/examples/data
if [ ! -e "$videos/vtest.avi" ]; then
  echo "skipped: $videos/vtest.avi absent (Debian package opencv-doc; tools/setup.sh installs it)"
  exit 4
fi
mkdir -p "$work/videos"
for v in vtest.avi Megamind.avi tree.avi Megamind_bugy.avi; do
  [ -e "$videos/$v" ] && ln -s "$videos/$v" "$work/videos/$v"
done
n=$(ls "$work/videos" | wc -l)

echo "== a folder of $n real videos, 150 frames each"
"$BIN" run --input "$work/videos" --out "$work/out" --no-report -q --input-param max_frames=150 \
  > "$work/run.txt" 2>&1 || fail "run: $(tail -5 "$work/run.txt")"
grep -q "$n of $n video(s) processed, 0 failed" "$work/run.txt" || fail "not all processed: $(tail -8 "$work/run.txt")"
for v in vtest Megamind tree; do
  [ -e "$work/out/$v/tracks.jsonl" ] || fail "$v: no tracks.jsonl"
  [ -s "$work/out/$v/reasoning.txt" ] || fail "$v: no reasoning.txt"
done

echo "== vtest: pedestrians tracked, an image-plane map of them"
ids=$(cut -d, -f2 "$work/out/vtest/tracks_mot.txt" | sort -u | wc -l)
[ "$ids" -ge 3 ] || fail "vtest: $ids tracks over 150 frames of pedestrians"
grep -q "image plane" "$work/out/vtest/reasoning.txt" || fail "vtest: no image-plane objects in the map"
grep -q "colour-only video" "$work/out/vtest/reasoning.txt" || fail "vtest: the map does not say it is colour-only"
echo "vtest: $ids tracks"
echo "PASS"
