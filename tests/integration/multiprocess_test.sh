#!/usr/bin/env bash
# The same 3-node graph, (a) in one process over inproc, (b) as three
# processes over tcp started in an awkward order: outputs must be identical.
set -euo pipefail
BIN=$1
SRC=$2
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

sed -e 's|@FRAMES@|inproc://frames|' -e 's|@POSES@|inproc://poses|' -e 's|@CLOUDS@|inproc://clouds|' \
  "$SRC/tests/integration/three_node.yaml.in" > "$work/inproc.yaml"
base=$((20000 + ($$ % 2000) * 10))
sed -e "s|@FRAMES@|tcp://127.0.0.1:$base|" -e "s|@POSES@|tcp://127.0.0.1:$((base + 1))|" \
    -e "s|@CLOUDS@|tcp://127.0.0.1:$((base + 2))|" \
  "$SRC/tests/integration/three_node.yaml.in" > "$work/tcp.yaml"

echo "== one process, inproc"
"$BIN" run --config "$work/inproc.yaml" --out "$work/inproc" --quiet

echo "== three processes, tcp (source first: it must wait for its subscribers)"
"$BIN" node source --config "$work/tcp.yaml" --out "$work/tcp" > "$work/source.log" 2>&1 & pids+=($!)
sleep 0.5
"$BIN" node map --config "$work/tcp.yaml" --out "$work/tcp" > "$work/map.log" 2>&1 & pids+=($!)
sleep 0.3
"$BIN" node cloud --config "$work/tcp.yaml" --out "$work/tcp" > "$work/cloud.log" 2>&1 & pids+=($!)
status=0
for p in "${pids[@]}"; do wait "$p" || status=$?; done
pids=()
if [ "$status" -ne 0 ]; then
  echo "a node process failed (exit $status)"; tail -n 20 "$work"/*.log; exit 1
fi

ls -l "$work/inproc" "$work/tcp"
test -s "$work/inproc/map.ply"
cmp "$work/inproc/map.ply" "$work/tcp/map.ply"
for n in source cloud map; do test -s "$work/tcp/stats.$n.jsonl"; done
grep -q '"processed":24' "$work/tcp/stats.map.jsonl"
echo "identical outputs: $(stat -c %s "$work/tcp/map.ply") bytes map.ply"
