"""Shared fixtures: where the real DAVIS data lives, and the `slow` marker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes longer than a minute; deselect with -m 'not slow'")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder: $MOBILEVOS_SHARED_DATA, else <repo>/../shared/data; skips the test when absent."""
    root = Path(os.environ.get("MOBILEVOS_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not root.is_dir():
        pytest.skip(f"shared data folder not found at {root} (set MOBILEVOS_SHARED_DATA to its path)")
    return root


def _split(root: Path, name: str) -> Path:
    path = root / name
    if not (path / "JPEGImages").is_dir():
        pytest.skip(f"{name} not found at {path}")
    return path


@pytest.fixture(scope="session")
def davis_train(shared_data) -> Path:
    """davis16-train-240p (training split, 427×240)."""
    return _split(shared_data, "davis16-train-240p")


@pytest.fixture(scope="session")
def davis_val(shared_data) -> Path:
    """davis16-val (evaluation only, 854×480)."""
    return _split(shared_data, "davis16-val")
