#!/usr/bin/env bash
# dyn4d's built-in page in a real browser: Debian's Chromium, headless, with
# WebGL through SwiftShader, driven by playwright-core (test-time npm
# packages, installed here once, never at run time). Over loopback only.
#   live:   a run with --view serves the page; it must follow the run, draw
#           the frame with overlays, the 3D and top-down views and the node
#           stats, and answer a question typed into it.
#   report: a finished run's OUT/report.html, served over http from
#           127.0.0.1: timeline, thumbnails, exits, latency plot, 3D view.
# Screenshots go to BUILD/tests/browser_shots/.
set -euo pipefail
MODE=$1
BIN=$2
SRC=$3
JS=$4
SHOTS=$5
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  echo "SKIP: no Chromium at $CHROMIUM (tools/setup.sh installs Debian's chromium)"
  exit 77
fi
source "$SRC/tests/common/npm_deps.sh"
source "$SRC/tests/common/net.sh"
npm_deps "$JS" "$SRC/tests/browser/package.json"
cp "$SRC/tests/browser/browser.mjs" "$JS/"
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
wait_http() {
  /usr/bin/python3 - "$1" <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1).read()
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit(1)
PY
}

if [ "$MODE" = live ]; then
  # 15 s of video replayed at a quarter of its rate: a minute, longer than
  # the checks take even on a loaded 2-core CI machine (they took 28 s
  # there once, and the run had ended before the question was asked). When
  # the checks are done the run is stopped as Ctrl-C stops it, and must end
  # cleanly.
  "$BIN" synth --out "$work/synth" --frames 450 --width 320 --height 240 > /dev/null
  port=$(free_port)
  "$BIN" run --input "$work/synth" --out "$work/out" --view "127.0.0.1:$port" \
    --input-param speed=0.25 --no-report > "$work/run.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/" || { tail -5 "$work/run.log"; echo "FAIL no page served"; exit 1; }
  node "$JS/browser.mjs" live "http://127.0.0.1:$port/" "$SHOTS" "How many objects move?" ||
    { tail -5 "$work/run.log"; exit 1; }
  kill -INT "${pids[0]}" 2>/dev/null || echo "the run ended before the checks did"
  wait "${pids[0]}" || { tail -5 "$work/run.log"; echo "FAIL the run with --view"; exit 1; }
  grep -Eq "^(stopped|done) " "$work/run.log" || { tail -5 "$work/run.log"; echo "FAIL no clean end"; exit 1; }
  grep -q "open http://127.0.0.1:$port/ in a browser" "$work/run.log" ||
    { echo "FAIL the run does not tell where the page is"; exit 1; }
else
  "$BIN" synth --out "$work/synth" --frames 90 > /dev/null
  "$BIN" run --input "$work/synth" --out "$work/out" -q \
    --questions "$SRC/configs/demo_questions.txt" > "$work/run.log" 2>&1 ||
    { tail -5 "$work/run.log"; exit 1; }
  [ -s "$work/out/report.html" ] || { echo "FAIL dyn4d run wrote no report.html"; exit 1; }
  port=$(free_port)
  /usr/bin/python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/out" > /dev/null 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/report.html" || { echo "FAIL http.server"; exit 1; }
  node "$JS/browser.mjs" report "http://127.0.0.1:$port/report.html" "$SHOTS" |
    tee "$work/browser.log"
  # What the page showed: the rewritten report must carry the same.
  objects=$(sed -n 's/.*one timeline row per object (\([0-9]*\) of.*/\1/p' "$work/browser.log")
  thumbnails=$(sed -n 's/.*thumbnails decode (\([0-9]*\)).*/\1/p' "$work/browser.log")
  [ -n "$objects" ] && [ -n "$thumbnails" ] || { echo "FAIL the page's counts not found"; exit 1; }
  echo "== dyn4d report rewrites it from the files alone"
  rm "$work/out/report.html"
  "$BIN" report "$work/out" | tee "$work/report.log"
  grep -q "$objects objects, $thumbnails thumbnails" "$work/report.log" ||
    { echo "FAIL dyn4d report (the page had $objects objects, $thumbnails thumbnails)"; exit 1; }
  echo "== a folder that is not there is named"
  if "$BIN" report "$work/nothing" 2> "$work/err.log"; then echo "FAIL accepted a missing folder"; exit 1; fi
  grep -q "nothing" "$work/err.log" || { cat "$work/err.log"; exit 1; }
fi
echo PASS
