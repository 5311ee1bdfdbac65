#!/usr/bin/env bash
# Set up (scripts/setup.sh), check lint and formatting (ruff, eslint, prettier: a finding fails the run), then run every
# test: Python (pytest), then JavaScript unit and browser end-to-end tests.
# Everything runs inside the checkout's .venv (activated, so `python3` and `mobilevos` in the node tests are its own).
# The shared data folder defaults to ../shared/data (override with MOBILEVOS_SHARED_DATA).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
source .venv/bin/activate
ruff check .
ruff format --check .
npm run lint
python3 -m pytest -q
if [ -f package.json ]; then
  npm test
  if grep -q '"test:e2e"' package.json; then npm run test:e2e; fi
fi
