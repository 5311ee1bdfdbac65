"""The prompt maps rule shared with the web app: `mobilevos.prompts.prompt_maps` must reproduce the cases of
tests/prompt_maps_cases.json, which tests/web/unit/prompt.test.js holds `promptMaps` (web/src/prompt.js) to."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mobilevos.prompts import Click, prompt_maps

CASES_FILE = json.loads((Path(__file__).parent / "prompt_maps_cases.json").read_text())
CASES = CASES_FILE["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_prompt_maps_reproduce_the_shared_cases(case):
    previous = np.array(case["previous"], np.float32) if case["previous"] is not None else None
    maps = prompt_maps(
        [Click(*c) for c in case["clicks"]],
        tuple(case["box"]) if case["box"] is not None else None,
        previous,
        tuple(case["size"]),
        case["sigma"],
        tuple(case["scale"]),
    )
    np.testing.assert_allclose(maps, np.array(case["expected"], np.float32), rtol=0, atol=CASES_FILE["tolerance"])


def test_the_cases_cover_every_channel_and_fractional_coordinates():
    expected = np.stack([np.array(c["expected"]) for c in CASES])
    assert all(expected[:, ch].max() == 1.0 for ch in range(3))  # a click's peak and a box reach 1
    assert expected[:, 3].max() > 0  # a previous mask
    assert any(isinstance(v, float) and v != int(v) for c in CASES for k in c["clicks"] for v in k[:2])
