#!/usr/bin/env bash
# dyn4d train / recognize calibrate / bench recognition on the real
# Fashion-MNIST files: a short training run resumes from its checkpoint,
# calibration honours a budget without touching the shipped model file, and
# the bench ends with its figure of merit.
source "$(dirname "$0")/common.sh" "$@"
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "dataset-fashion-mnist not installed (tools/setup.sh installs it); skipped"
  exit 4
fi
model=$SRC/configs/models/fashion_mnist_linear_exits.yaml
before=$(sha256sum "$model" "$SRC/configs/models/fashion_mnist_linear_exits.pt")

echo "== train 3 steps, then resume to 5"
"$BIN" train "$model" --out "$work/ckpt" --max-steps 3 --no-install > "$work/a.txt" 2>&1 ||
  fail "train: $(tail -3 "$work/a.txt")"
grep -q "^3 steps" "$work/a.txt" || fail "expected 3 steps: $(cat "$work/a.txt")"
[ "$(cat "$work/ckpt/latest")" = 3 ] || fail "latest checkpoint is not step 3"
"$BIN" train "$model" --out "$work/ckpt" --max-steps 5 --no-install > "$work/b.txt" 2>&1 ||
  fail "resume: $(tail -3 "$work/b.txt")"
grep -q "resumed from step 3" "$work/b.txt" || fail "did not resume: $(cat "$work/b.txt")"
grep -q "^5 steps" "$work/b.txt" || fail "expected 5 steps in all"
grep -q "held-out exit 3 accuracy" "$work/b.txt" || fail "no held-out accuracy"

echo "== calibrate for a budget (dry run)"
"$BIN" recognize calibrate "$model" --gflops 0.001 --dry-run > "$work/c.txt" 2>&1 ||
  fail "calibrate: $(tail -3 "$work/c.txt")"
grep -q "^thresholds: " "$work/c.txt" || fail "no thresholds printed"
"$BIN" recognize calibrate "$model" --gflops 0.00001 --dry-run > "$work/d.txt" 2>&1
[ $? -eq 1 ] || fail "an impossible budget must exit 1"
grep -q "cannot be met" "$work/d.txt" || fail "an impossible budget is not reported"
"$BIN" recognize calibrate "$model" > /dev/null 2>&1
[ $? -eq 2 ] || fail "calibrate without a budget must exit 2"
[ "$before" = "$(sha256sum "$model" "$SRC/configs/models/fashion_mnist_linear_exits.pt")" ] ||
  fail "the shipped model file or weights changed"

echo "== bench recognition"
"$BIN" bench recognition --latency-images 64 --plot "$work/r.png" > "$work/e.txt" 2>&1 ||
  fail "bench: $(tail -3 "$work/e.txt")"
tail -1 "$work/e.txt" | grep -Eq "^speedup_at_equal_accuracy [0-9.]+$" || fail "bench last line"
[ -s "$work/r.png" ] || fail "no plot"
echo "PASS"
