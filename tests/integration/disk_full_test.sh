#!/usr/bin/env bash
# A full disk: the run fails naming each node that could not write and the
# path, nothing incomplete is left under a final name (no 0-byte PLY, no MP4
# without its index), and the PLY writer does not flood stderr. The disk is a
# 2 MB tmpfs in a mount namespace of the test's own.
source "$(dirname "$0")/common.sh" "$@"
if ! unshare -m true 2>/dev/null; then
  echo "SKIP: cannot create a mount namespace here (unshare -m needs root)"
  exit 4
fi
mkdir -p "$work/disk"
export BIN work
unshare -m bash -c '
  mount -t tmpfs -o size=2m tmpfs "$work/disk"
  "$BIN" synth --out "$work/synth" --frames 60 > /dev/null 2>&1
  "$BIN" run --input "$work/synth" --out "$work/disk/out" -q > "$work/run.log" 2>&1
  echo $? > "$work/rc"
  tail -c 1 "$work/disk/out/stats.jsonl" | od -An -c | tr -d " " > "$work/stats_last"
  find "$work/disk/out" -type f -printf "%s %f\n" > "$work/files.txt"
'
rc=$(cat "$work/rc")
[ "$rc" -ne 0 ] || fail "a run on a full disk exited 0"
grep -q "node 'geometry' (geometry) failed: .*cannot write mesh '$work/disk/out/map_mesh.ply'" "$work/run.log" ||
  fail "the mesh failure is not named: $(grep -i fail "$work/run.log" | head -3)"
# The overlay either fit (then it is whole) or its failure is named and no
# MP4 is left under its name.
if ! grep -q " overlay.mp4\$" "$work/files.txt"; then
  grep -q "node 'overlay' (overlay_video) failed: .*'$work/disk/out/overlay.mp4'" "$work/run.log" ||
    fail "the overlay is missing and its failure not named"
fi
rply=$(grep -c "RPly" "$work/run.log" || true)
[ "$rply" -lt 10 ] || fail "$rply RPly lines on stderr"
while read -r size name; do
  case "$name" in
    *.partial*) ;;  # not under a final name
    *.ply | *.mp4) [ "$size" -gt 0 ] || fail "'$name' left empty under its final name" ;;
  esac
done < "$work/files.txt"
for f in map_mesh.ply map_tsdf.ply; do
  ! grep -q " $f\$" "$work/files.txt" || fail "the map $f was written though the mesh failed"
done
[ "$(cat "$work/stats_last")" = '\n' ] || fail "stats.jsonl ends mid-line"
echo "PASS"
