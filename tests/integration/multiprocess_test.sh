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
source "$(dirname "$0")/ports.sh"
base=$(free_ports 10)
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

echo "== a fast producer ends long before its slow consumer: every frame still arrives"
# ZeroMQ's linger only hands the last frames to the kernel; a producer that
# exited then lost them (and its consumer failed, 'producer disconnected').
base3=$((base + 8))
cat > "$work/slow.yaml" <<EOF
version: 1
nodes:
  source:
    type: synthetic_rgbd
    outputs: {frames: frames}
    params: {frames: 100, width: 640, height: 480, seed: 3}
  geometry:
    type: geometry
    inputs: {frames: frames}
    outputs: {poses: poses}
  trajectory:
    type: trajectory_writer
    inputs: {poses: poses}
    params: {file: trajectory.tum}
topics:
  frames: {endpoint: "tcp://127.0.0.1:$base3"}
  poses: {endpoint: "tcp://127.0.0.1:$((base3 + 1))"}
EOF
for n in source geometry trajectory; do
  "$BIN" node $n --config "$work/slow.yaml" --out "$work/slow" > "$work/s_$n.log" 2>&1 & pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=$?; done
pids=()
[ "$status" -eq 0 ] || { tail -n 3 "$work"/s_*.log; echo "FAIL a node failed (exit $status)"; exit 1; }
[ "$(grep -vc "^#" "$work/slow/trajectory.tum")" -eq 100 ] ||
  { wc -l "$work/slow/trajectory.tum"; echo "FAIL frames lost between processes"; exit 1; }

echo "== a node killed mid-run (SIGKILL): its producer and its consumer fail, naming it"
base2=$((base + 5))
sed -e "s|@FRAMES@|tcp://127.0.0.1:$base2|" -e "s|@POSES@|tcp://127.0.0.1:$((base2 + 1))|" \
    -e "s|@CLOUDS@|tcp://127.0.0.1:$((base2 + 2))|" \
    -e "s|params: {frames: 24, |params: {frames: 200, rate_hz: 20, |" \
    -e 's|queue: 4}|queue: 4, flow: lossless}|' -e 's|\(poses: {endpoint: "[^"]*"\)}|\1, flow: lossless}|' \
  "$SRC/tests/integration/three_node.yaml.in" > "$work/kill.yaml"
"$BIN" node source --config "$work/kill.yaml" --out "$work/kill" > "$work/k_source.log" 2>&1 & source_pid=$!
"$BIN" node map --config "$work/kill.yaml" --out "$work/kill" > "$work/k_map.log" 2>&1 & map_pid=$!
"$BIN" node cloud --config "$work/kill.yaml" --out "$work/kill" > "$work/k_cloud.log" 2>&1 & cloud_pid=$!
pids=($source_pid $map_pid $cloud_pid)
sleep 3
kill -9 "$cloud_pid"
source_rc=0; wait "$source_pid" || source_rc=$?
map_rc=0; wait "$map_pid" || map_rc=$?
pids=()
[ "$source_rc" -ne 0 ] || { tail -5 "$work/k_source.log"; echo "FAIL the source reported success"; exit 1; }
grep -q "subscriber(s) (node 'cloud') disconnected before the end of the stream" "$work/k_source.log" ||
  { tail -5 "$work/k_source.log"; echo "FAIL the source did not name the lost consumer"; exit 1; }
[ "$map_rc" -ne 0 ] || { tail -5 "$work/k_map.log"; echo "FAIL the consumer reported success"; exit 1; }
grep -q "input 'clouds' (topic 'clouds' at tcp://127.0.0.1:$((base2 + 2))): its producer disconnected" \
  "$work/k_map.log" || { tail -5 "$work/k_map.log"; echo "FAIL the consumer did not name its producer"; exit 1; }
grep -q "FAILED" "$work/k_map.log" || { echo "FAIL no failed summary"; exit 1; }

echo "== a consumer started alone says what it waits for"
"$BIN" node map --config "$work/kill.yaml" --out "$work/alone" > "$work/alone.log" 2>&1 & alone=$!
pids=($alone)
for _ in $(seq 100); do grep -q "no producer has connected yet" "$work/alone.log" && break; sleep 0.1; done
kill -INT "$alone"; wait "$alone" || true
pids=()
grep -q "no producer has connected yet to 'clouds' at tcp://127.0.0.1:$((base2 + 2)) (node 'cloud')" \
  "$work/alone.log" || { cat "$work/alone.log"; echo "FAIL no waiting message"; exit 1; }
echo PASS
