#!/usr/bin/env bash
# How much each key-encoder block's expanded channels matter (issue 18): prune one block at a time to each SHARE (the
# others kept at BASE) and score the untuned network on the selection sequences of the training folder — never on
# davis16-val. Usage: bash scripts/prune_sensitivity.sh [MODEL] [SHARES] [BLOCKS] [BASE] [SIDE]
# (defaults: student, "0.25 0.5", "1 2 3 4 5 6 7 8 9 10": Lite0's expanding blocks up to stride 16, BASE 1 (whole),
# SIDE the model's own input; a pruned model such as the Balanced student_pruned is cut further with BASE 0.5).
# Writes runs/prune-sensitivity/<model>-base<BASE>[-side<SIDE>]/b<block>-s<share>.safetensors (and each eval's
# output) and prints one line per run; the tables of docs/experiments.md ("Pruning block by block", "Per-block pruning
# searched untuned") come from it. Each run: `mobilevos prune` (~17 s), `mobilevos eval` (~20 s).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-student}; shares=${2:-0.25 0.5}; blocks=${3:-1 2 3 4 5 6 7 8 9 10}; base=${4:-1}; side=${5:-}
data=../shared/data/davis16-train-240p
out=runs/prune-sensitivity/$(basename "$model" .safetensors)-base$base${side:+-side$side}
mkdir -p "$out"
for share in $shares; do
  for block in $blocks; do
    # one share per block of the student's 11: SHARE at BLOCK, BASE elsewhere (block 0 has no expansion: 1)
    per_block=1
    for i in $(seq 1 10); do per_block+=,$([ "$i" = "$block" ] && echo "$share" || echo "$base"); done
    file=$out/b$block-s$share.safetensors
    mobilevos prune --model "$model" --share "$per_block" --out "$file" > /dev/null
    # the eval's progress bars go to a log beside its results (read it if a run fails)
    mean=$(mobilevos eval --data $data --split selection --model "$file" --threads 2 --out "$out/eval-b$block-s$share" \
      ${side:+--short-side "$side"} \
      2> "$out/eval-b$block-s$share.log" | grep '^mean')
    echo "block $block at share $share: $mean"
  done
done
