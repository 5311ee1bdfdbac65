#!/usr/bin/env bash
# An exported *untrained* student for the web tests and for UI work before the trained one exists:
#   bash scripts/make_dev_models.sh [OUT]        (default OUT: tests/web/.models/dev; about 3-6 minutes on 2 cores)
#   MOBILEVOS_DEV_CHECKPOINT=ckpt.safetensors bash scripts/make_dev_models.sh OUT    (export another checkpoint)
# Builds a dev checkpoint (ImageNet backbone, random heads, fixed seed) and runs `python -m export` at 240x320 with
# capacities 1, 2 and 4 and every variant, checked on a few DAVIS clips from ../shared/data (synthetic clips stand in
# without it). The app itself serves
# web/public/models/student; point the dev/preview server at this folder with MOBILEVOS_MODELS=OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-tests/web/.models/dev}"
CKPT="$(dirname "$OUT")/student_dev.safetensors"
mkdir -p "$(dirname "$OUT")"
if [ ! -f "$CKPT" ]; then
  python3 - "$CKPT" <<'PY'
import sys, torch
from mobilevos.models.checkpoint import save_network
from mobilevos.models.network import build_network, student_config
torch.manual_seed(0)
save_network(sys.argv[1], build_network(student_config()))
PY
fi
python3 -m export --checkpoint "${MOBILEVOS_DEV_CHECKPOINT:-$CKPT}" --out "$OUT" --size 240x320 --capacities 1,2,4 \
  --eval-frames 4 --eval-sequences 2 --fixture-frames 4
