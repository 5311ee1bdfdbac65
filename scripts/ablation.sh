#!/usr/bin/env bash
# The paper's ablation at our scale: the same student, equal steps, several losses and seeds, judged on the selection
# sequences of the training folder (mobilevos.data.splits) — never on davis16-val, which is scored once per shipped
# model, after the choice. Usage: bash scripts/ablation.sh TEACHER.safetensors STEPS [THREADS] [INIT.safetensors]
# Writes runs/ablation-<arm>-s<seed>/, results/ablation-<arm>-s<seed>.json and results/ablation.md. Runs go one after
# another (seeds outer, arms inner, so a cut-short run still has every arm of the first seed); each resumes if
# interrupted. INIT: every arm fine-tunes the same starting weights, which makes a CPU-sized ablation possible: a few
# hundred steps per arm instead of thousands from ImageNet weights.
# Environment: STOP_AT=N stops every arm at step N of its STEPS-step schedule (equal steps, same schedule);
# SET="k=v ..." adds config overrides to every arm (e.g. distill.teacher_scale=2: the teacher sees the clip at twice
# the student's resolution); ARMS="ce unified" runs only those arms; SEEDS="0 1" (the default) the seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
teacher=${1:?teacher weights}; steps=${2:?steps}; threads=${3:-2}; init=${4:-}
stop_at=${STOP_AT:-$steps}
selection=../shared/data/davis16-train-240p
declare -A arms=(
  [ce]="--loss ce"
  [kd]="--loss kd --teacher $teacher"
  [unified]="--loss unified --omega 0.8 --teacher $teacher"
  [unified-uniform]="--loss unified --omega 0.8 --teacher $teacher --set distill.boundary=false"
)
mkdir -p results
for seed in ${SEEDS:-0 1}; do
  for arm in ${ARMS:-ce kd unified unified-uniform}; do
    out=runs/ablation-$arm-s$seed
    # shellcheck disable=SC2086
    mobilevos train student --out "$out" --steps "$steps" --stop-at "$stop_at" ${arms[$arm]} ${init:+--init "$init"} \
      --set threads="$threads" val_every="$stop_at" seed="$seed" val_selection_short_side=0 ${SET:-}
    # the selection J&F per sequence (training's own selection pass is off above: it would score the same weights)
    mobilevos eval --data "$selection" --split selection --model "$out/last.safetensors" --threads "$threads" \
      --out "results/ablation-$arm-s$seed.json"
  done
done
python3 - <<'PY'
import glob, json, re
rows = ["| arm | seed | steps | synthetic val J&F | selection J&F | J | F |", "|---|---|---|---|---|---|---|"]
for path in sorted(glob.glob("results/ablation-*-s*.json")):
    arm, seed = re.fullmatch(r"results/ablation-(.+)-s(\d+)\.json", path).groups()
    log = [json.loads(l) for l in open(f"runs/ablation-{arm}-s{seed}/metrics.jsonl")]
    synth = [r["val_synth"]["J&F"] for r in log if "val_synth" in r][-1]
    step = [r["step"] for r in log if "step" in r][-1]
    s = json.load(open(path))["summary"]
    rows.append(f"| {arm} | {seed} | {step} | {synth:.1f} | {s['J&F']:.2f} | {s['J']:.2f} | {s['F']:.2f} |")
open("results/ablation.md", "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
