#!/usr/bin/env bash
# How much each key-encoder block's expanded channels matter (issue 18): prune one block at a time to each SHARE (the
# others kept whole) and score the untuned network on the selection sequences of the training folder — never on
# davis16-val. Usage: bash scripts/prune_sensitivity.sh [MODEL] [SHARES] [BLOCKS]
# (defaults: student, "0.25 0.5", "1 2 3 4 5 6 7 8 9 10": Lite0's expanding blocks up to stride 16).
# Writes runs/prune-sensitivity/b<block>-s<share>.safetensors (and each eval's output) and prints one line per run;
# the README's table ("Pruning block by block") comes from it. Each run: `mobilevos prune` (~17 s), `mobilevos eval`
# (~20 s).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-student}; shares=${2:-0.25 0.5}; blocks=${3:-1 2 3 4 5 6 7 8 9 10}
data=../shared/data/davis16-train-240p
out=runs/prune-sensitivity
mkdir -p "$out"
for share in $shares; do
  for block in $blocks; do
    # one share per block of the student's 11: SHARE at BLOCK, 1 elsewhere
    per_block=$(python -c "print(','.join('$share' if i == $block else '1' for i in range(11)))")
    file=$out/b$block-s$share.safetensors
    mobilevos prune --model "$model" --share "$per_block" --out "$file" > /dev/null
    # the eval's progress bars go to a log beside its results (read it if a run fails)
    mean=$(mobilevos eval --data $data --split selection --model "$file" --threads 2 --out "$out/eval-b$block-s$share" \
      2> "$out/eval-b$block-s$share.log" | grep '^mean')
    echo "block $block at share $share: $mean"
  done
done
