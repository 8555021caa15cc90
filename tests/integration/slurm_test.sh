#!/usr/bin/env bash
# A folder of videos as one Slurm array job (`--shard I/N`), on a one-node
# cluster this test starts on localhost (munged with its own key, slurmctld
# and slurmd with a slurm.conf, ports, state and spool in a temp folder) and
# stops again by PID. Checks: each video processed by exactly one task, the
# outputs identical to one local batch run, `dyn4d summarize` merges the
# shards; a shard run again resumes (complete videos skipped, an unfinished
# one redone); a missing shard is named.
source "$(dirname "$0")/common.sh"  # BIN, SRC, $work, fail
source "$SRC/tests/common/net.sh"
set -e
for tool in munged mungekey slurmctld slurmd sbatch; do
  command -v "$tool" > /dev/null || { echo "SKIP: no $tool (tools/setup.sh installs slurm-wlm and munge)"; exit 77; }
done
pids=()
cleanup() {
  # Every daemon this test started, by PID, and nothing else.
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "== six small videos (two different scenes)"
for seed in 1 2; do
  "$BIN" synth --out "$work/synth$seed" --frames 24 --width 160 --height 120 --seed $seed > /dev/null
  "$BIN" run --input "$work/synth$seed" --out "$work/scene$seed" -q --no-report > /dev/null 2>&1 ||
    fail "making scene $seed"
done
mkdir -p "$work/videos"
for i in 0 1 2 3 4 5; do cp "$work/scene$((i % 2 + 1))/overlay.mp4" "$work/videos/clip_$i.mp4"; done

echo "== one local batch run (the reference)"
"$BIN" run --input "$work/videos" --out "$work/local" --no-report > "$work/local.log" 2>&1 ||
  { tail -12 "$work/local.log"; fail "local batch"; }

echo "== a one-node Slurm cluster on localhost"
S=$work/slurm
mkdir -p "$S/state" "$S/spool" "$S/log"
mungekey -c -k "$S/munge.key"
munged -F --force --key-file="$S/munge.key" --socket="$S/munge.sock" --pid-file="$S/munged.pid" \
  --log-file="$S/log/munged.log" --seed-file="$S/munged.seed" > "$S/log/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$S/munge.sock" ] && break; sleep 0.1; done
[ -S "$S/munge.sock" ] || { cat "$S/log/munged.out"; fail "munged did not start"; }
host=$(hostname -s)
cat > "$S/slurm.conf" <<EOF
ClusterName=dyn4dtest
SlurmctldHost=$host
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$S/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SwitchType=switch/none
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=dyn4d Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$S/slurm.conf
slurmctld -D -f "$SLURM_CONF" > "$S/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$host" > "$S/log/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do sinfo -h -o %t 2>/dev/null | grep -q idle && break; sleep 0.2; done
sinfo -h -o %t | grep -q idle ||
  { tail -5 "$S/log/slurmctld.log" "$S/log/slurmd.log"; fail "the node never became idle"; }

echo "== sbatch --array=0-3: one shard per task"
cat > "$work/job.sh" <<EOF
#!/bin/bash
exec "$BIN" run --input "$work/videos" --out "$work/cluster" --no-report \\
  --shard \$SLURM_ARRAY_TASK_ID/\$SLURM_ARRAY_TASK_COUNT
EOF
(cd "$work" && sbatch --wait --array=0-3 -o "$work/task-%a.log" "$work/job.sh") ||
  { tail -5 "$work"/task-*.log; fail "the array job"; }
cat "$work"/task-*.log | grep "^batch: shard"
taken=$(grep -h "^batch: shard" "$work"/task-*.log | awk '{s += $5} END {print s}')
[ "$taken" = 6 ] || fail "the shards took $taken videos, not 6"

echo "== summarize merges the four shards"
"$BIN" summarize "$work/cluster" --input "$work/videos" | tee "$work/summary.txt" ||
  fail "summarize"
grep -q "6 video(s): 6 ok, 0 not" "$work/summary.txt" || fail "summary"
test -s "$work/cluster/summary.json" || fail "no merged summary.json"

echo "== outputs identical to the local run"
for i in 0 1 2 3 4 5; do
  for f in tracks.jsonl tracks_mot.txt tracks_kitti.txt reasoning.txt; do
    if [ -e "$work/local/clip_$i/$f" ]; then
      cmp -s "$work/local/clip_$i/$f" "$work/cluster/clip_$i/$f" ||
        fail "clip_$i/$f differs between the array job and the local run"
    fi
  done
  test -s "$work/cluster/clip_$i/done.json" || fail "clip_$i has no done.json"
done

echo "== a shard run again resumes: complete videos skipped, an unfinished one redone"
shard0=$(grep -l "^batch: shard 0/4" "$work"/task-*.log)
first=$(grep -m1 -o "clip_[0-9].mp4" "$shard0" || true)
if [ -n "$first" ]; then
  rm "$work/cluster/${first%.mp4}/done.json"  # as if killed before it finished
  "$BIN" run --input "$work/videos" --out "$work/cluster" --no-report --shard 0/4 > "$work/again.log" 2>&1 ||
    { tail -8 "$work/again.log"; fail "shard 0 again"; }
  grep -q "$first$" "$work/again.log" || fail "$first was not redone"
  skipped=$(grep -c "complete before, skipped" "$work/again.log" || true)
  total=$(grep -m1 "^batch: shard 0/4" "$work/again.log" | awk '{print $5}')
  [ "$skipped" = $((total - 1)) ] || fail "expected $((total - 1)) skipped, got $skipped"
  test -s "$work/cluster/${first%.mp4}/done.json" || fail "$first not marked done again"
fi

echo "== a missing shard is named"
rm "$work/cluster/summary.shard-3-of-4.json"
if "$BIN" summarize "$work/cluster" > /dev/null 2> "$work/missing.log"; then
  fail "summarize passed without shard 3"
fi
grep -q "shard 3/4 has no summary" "$work/missing.log" || { cat "$work/missing.log"; fail "not named"; }
if "$BIN" run --input "$work/videos/clip_0.mp4" --out "$work/x" --shard 5/4 2> "$work/bad.log"; then
  fail "--shard 5/4 accepted"
fi
grep -q "0 <= I < N" "$work/bad.log" || { cat "$work/bad.log"; fail "bad --shard not explained"; }
echo PASS
