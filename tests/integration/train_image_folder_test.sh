#!/usr/bin/env bash
# A deployment's own classes: `dyn4d label` (a teacher detector over the
# user's frames) writes crops per class; `dyn4d train` learns a model file
# with `dataset: image_folder` from such a folder; mismatched classes are
# refused naming the folder.
source "$(dirname "$0")/common.sh" "$@"

echo "== a small image folder (two classes of tinted noise), trained 3 steps"
/usr/bin/python3 - "$work/data" <<'PY'
import os, random, sys
random.seed(1)
root = sys.argv[1]
for cls, tint in (("blue", (0, 0, 1)), ("red", (1, 0, 0))):
    os.makedirs(os.path.join(root, cls), exist_ok=True)
    for i in range(30):
        w, h = random.randint(20, 40), random.randint(20, 40)
        px = bytearray()
        for _ in range(w * h):
            base = random.randint(0, 80)
            px += bytes(min(255, base + 150 * t) for t in tint)
        with open(os.path.join(root, cls, "%03d.ppm" % i), "wb") as f:
            f.write(b"P6 %d %d 255\n" % (w, h) + bytes(px))
PY
cat > "$work/model.yaml" <<'YAML'
kind: dyn_perceiver
base: mobilenetV3_0x5_perceiver_t32
dataset: image_folder
domains: ["images:"]
net: {in_channels: 3, num_classes: 2, image_size: 32, depth_factor: [1, 1, 1, 1]}
weights: model.pt
classes: [blue, red]
training: {epochs: 1, batch_size: 16, lr: 0.002, warmup_epochs: 0.1, weight_decay: 0.05}
YAML
"$BIN" train "$work/model.yaml" --data "$work/data" --out "$work/ckpt" --max-steps 3 --threads 2 \
  > "$work/train.txt" 2>&1 || fail "train: $(tail -5 "$work/train.txt")"
grep -q "^3 steps" "$work/train.txt" || fail "expected 3 steps: $(tail -5 "$work/train.txt")"
grep -q "held-out exit 4 accuracy" "$work/train.txt" || fail "no held-out accuracy"
test -s "$work/model.pt" || fail "weights not installed beside the model file"

echo "== classes that are not the folders are refused"
sed -i 's/classes: \[blue, red\]/classes: [red, blue]/' "$work/model.yaml"
"$BIN" train "$work/model.yaml" --data "$work/data" --out "$work/ckpt2" --max-steps 1 \
  > "$work/bad.txt" 2>&1 && fail "mismatched classes accepted"
grep -q "class folders of '$work/data' in sorted order: blue, red" "$work/bad.txt" ||
  fail "mismatch not explained: $(tail -3 "$work/bad.txt")"

shared=${DYN4D_SHARED:-$SRC/../shared}
if [ -e "$shared/models/yolox_nano.onnx" ] && [ -d "$shared/data/tum_fr1_rpy/rgb" ]; then
  echo "== dyn4d label: YOLOX labels desk objects in TUM frames"
  "$BIN" label --teacher "$shared/models/yolox_nano.onnx" --out "$work/crops" --every 10 \
    --max-frames 60 --classes tv --classes keyboard --classes mouse "$shared/data/tum_fr1_rpy/rgb" \
    > "$work/label.txt" 2>&1 || fail "label: $(tail -5 "$work/label.txt")"
  grep -q "^crops [1-9]" "$work/label.txt" || fail "no crops: $(tail -5 "$work/label.txt")"
  ls "$work/crops" | grep -qv "^\(tv\|keyboard\|mouse\)$" && fail "a class outside --classes"
  ls "$work/crops"/*/*.png > /dev/null || fail "no crop images"
  # Two classes after one --classes: the second is read as an input, and
  # the message says how to give classes.
  "$BIN" label --teacher "$shared/models/yolox_nano.onnx" --out "$work/crops2" \
    --classes tv keyboard "$shared/data/tum_fr1_rpy/rgb" > "$work/label2.txt" 2>&1 &&
    fail "label ran with a class for an input"
  grep -q "give one class per --classes" "$work/label2.txt" ||
    fail "no hint for --classes: $(tail -3 "$work/label2.txt")"

  echo "== dyn4d train, dataset teacher: YOLOX labels TUM frames in memory, 3 steps"
  cat > "$work/teacher_model.yaml" <<'YAML'
kind: dyn_perceiver
base: mobilenetV3_0x5_perceiver_t32
dataset: teacher
domains: ["tum:"]
crop: letterbox
net: {in_channels: 3, num_classes: 3, image_size: 32, depth_factor: [1, 1, 1, 1]}
weights: teacher_model.pt
classes: [tv, keyboard, mouse]
training: {epochs: 1, batch_size: 16, lr: 0.002, warmup_epochs: 0.1, weight_decay: 0.05}
YAML
  "$BIN" train "$work/teacher_model.yaml" --teacher "$shared/models/yolox_nano.onnx" \
    --data "$shared/data/tum_fr1_rpy" --teacher-every 2 --out "$work/ckpt_teacher" --max-steps 3 \
    --threads 2 > "$work/train_teacher.txt" 2>&1 ||
    fail "train with a teacher: $(tail -5 "$work/train_teacher.txt")"
  grep -q "teacher-labelled (120 frames)" "$work/train_teacher.txt" ||
    fail "teacher data not described: $(grep training "$work/train_teacher.txt")"
  grep -q "held-out exit 4 accuracy" "$work/train_teacher.txt" || fail "no held-out accuracy"
  test -s "$work/teacher_model.pt" || fail "teacher-trained weights not installed"

  echo "== a class the teacher never finds there is refused, naming it"
  sed -i 's/classes: \[tv, keyboard, mouse\]/classes: [tv, keyboard, giraffe]/' "$work/teacher_model.yaml"
  "$BIN" train "$work/teacher_model.yaml" --teacher "$shared/models/yolox_nano.onnx" \
    --data "$shared/data/tum_fr1_rpy" --teacher-every 2 --out "$work/ckpt_teacher2" --max-steps 1 \
    > "$work/bad_teacher.txt" 2>&1 && fail "a class with no crops accepted"
  grep -q "the teacher found 0 'giraffe' crops" "$work/bad_teacher.txt" ||
    fail "missing class not explained: $(tail -3 "$work/bad_teacher.txt")"

  echo "== bench recognition --teacher: the shipped recognizer on held-out 7-Scenes frames"
  if [ -d "$shared/data/7scenes_redkitchen" ]; then
    "$BIN" bench recognition --teacher "$shared/models/yolox_nano.onnx" --threads 2 \
      --sequence "$shared/data/7scenes_redkitchen" --max-frames 40 > "$work/bench_teacher.txt" 2>&1 ||
      fail "bench recognition --teacher: $(tail -5 "$work/bench_teacher.txt")"
    for key in "exit histogram:" "teacher per frame:" "confusion (dynamic)" \
      "anchored to each sequence" "recognizer_alone_agreement"; do
      grep -q "$key" "$work/bench_teacher.txt" || fail "bench output lacks '$key'"
    done
    # Bounds any working recognizer clears (chance is 0.2 over 5 classes);
    # the figures themselves are in the README.
    tail -1 "$work/bench_teacher.txt" | awk '$1 == "teacher_agreement" && $2 > 0.5 {ok=1} END {exit !ok}' ||
      fail "agreement: $(tail -1 "$work/bench_teacher.txt")"
    # A figure, not a timed assertion: present and positive.
    grep "^cost_ratio_vs_teacher" "$work/bench_teacher.txt" | awk '$2 > 0 {ok=1} END {exit !ok}' ||
      fail "cost ratio: $(grep cost_ratio "$work/bench_teacher.txt")"
  fi
else
  echo "(../shared absent: the teacher part is skipped)"
fi
echo "PASS"
