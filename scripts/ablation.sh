#!/usr/bin/env bash
# The paper's ablation at our scale: the same student, equal steps, four losses; J&F on held-out synthetic clips and
# on davis16-val. Usage: bash scripts/ablation.sh TEACHER.safetensors STEPS [THREADS] [INIT.safetensors]
# Writes runs/ablation-<arm>/ and results/ablation.md. Arms run one after another; each resumes if interrupted.
# INIT: every arm fine-tunes the same starting weights (e.g. a cross-entropy student), which makes a CPU-sized
# ablation possible: a few hundred steps per arm instead of thousands from ImageNet weights.
# Environment: STOP_AT=N stops every arm at step N of its STEPS-step schedule (equal steps, same schedule);
# SET="k=v ..." adds config overrides to every arm; ARMS="ce kd" runs only those arms (the table needs all four).
set -euo pipefail
cd "$(dirname "$0")/.."
teacher=${1:?teacher weights}; steps=${2:?steps}; threads=${3:-2}; init=${4:-}
stop_at=${STOP_AT:-$steps}
declare -A arms=(
  [ce]="--loss ce"
  [kd]="--loss kd --teacher $teacher"
  [unified]="--loss unified --omega 0.8 --teacher $teacher"
  [unified-uniform]="--loss unified --omega 0.8 --teacher $teacher --set distill.boundary=false"
)
for arm in ${ARMS:-ce kd unified unified-uniform}; do
  out=runs/ablation-$arm
  # shellcheck disable=SC2086
  mobilevos train student --out "$out" --steps "$steps" --stop-at "$stop_at" ${arms[$arm]} ${init:+--init "$init"} \
    --set threads="$threads" val_every="$stop_at" ${SET:-}
  mobilevos eval --data ../shared/data/davis16-val --model "$out/last.safetensors" --out "results/ablation-$arm.json" \
    --threads "$threads"
done
python3 - <<'PY'
import json
rows = ["| arm | loss | synthetic val J&F | davis16-val J&F | J | F |", "|---|---|---|---|---|---|"]
for arm, loss in [("ce", "CE + Dice"), ("kd", "+ logit KD"), ("unified", "+ KD + unified repr (ω=0.8)"),
                  ("unified-uniform", "same, uniform pixel sampling")]:
    log = [json.loads(l) for l in open(f"runs/ablation-{arm}/metrics.jsonl")]
    synth = [r["val_synth"]["J&F"] for r in log if "val_synth" in r][-1]
    s = json.load(open(f"results/ablation-{arm}.json"))["summary"]
    rows.append(f"| {arm} | {loss} | {synth:.1f} | {s['J&F']:.1f} | {s['J']:.1f} | {s['F']:.1f} |")
open("results/ablation.md", "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
