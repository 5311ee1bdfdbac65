#!/usr/bin/env bash
# Install everything the project needs on a fresh Debian machine: system packages (Chromium for the browser tests,
# ffmpeg for the fake-webcam clips), the Python package with its pinned dependencies in this checkout's own virtual
# environment (.venv: nothing goes into the system Python, so two clones on one machine never repoint each other's
# `mobilevos`), and the npm packages. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null || ! command -v ffmpeg >/dev/null; then
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium ffmpeg >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# torch first and pinned: the local CPU wheel. An unpinned torch from a dependency resolver would pull a CUDA build.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e ".[dev]"

if [ -f package.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
