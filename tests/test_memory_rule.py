"""One memory rule table (tests/memory_rule_cases.json) through every Python user of `mobilevos.memory_rule`: the
PyTorch bank, the onnxruntime tracker (its graph faked: only the memory is under test) and the training unroll.
tests/web/unit/memory-bank.test.js runs the student's cases through the web app's bank."""

from __future__ import annotations

import json
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mobilevos.memory_rule import STUDENT, TEACHER, TEACHER_TRAINING, MemoryRule, Slot, teacher_rule
from mobilevos.models.network import Segmentation
from mobilevos.runtime.ort_tracker import OrtTracker
from mobilevos.track import MemoryBank
from mobilevos.train.unroll import ClipUnroll

REPO = Path(__file__).resolve().parents[1]
SHIPPED_EXPORT = REPO / "web" / "public" / "models" / "student"
CASES = json.loads((REPO / "tests" / "memory_rule_cases.json").read_text())["cases"]
RULES = {"student": STUDENT, "teacher": TEACHER, "teacher-training": TEACHER_TRAINING}


def _cases(*rules: str) -> pytest.MarkDecorator:
    chosen = [c for c in CASES if c["rule"] in rules]
    return pytest.mark.parametrize("case", chosen, ids=[c["name"] for c in chosen])


def _label(entry) -> int:
    """The call number an entry was tagged with (every element of its key holds it)."""
    return int(entry[0].flatten()[0])


def _labels(rule: MemoryRule, slots: dict) -> dict[str, list[int]]:
    """Slot contents as call numbers, a one-entry slot as a list of one (the table's `slots`)."""
    return {
        s.name: [_label(e) for e in slots[s.name]] if s.keep_every is not None else [_label(slots[s.name])]
        for s in rule.slots
    }


def _frame_indices(steps: list[dict]) -> list[int]:
    """Each call's frame index, counted from the last annotation (the annotated frame is 0)."""
    out = []
    for step in steps:
        out.append(0 if step["call"] == "annotate" else out[-1] + 1)
    return out


@_cases(*RULES)
def test_pytorch_bank(case):
    bank = MemoryBank(RULES[case["rule"]])
    for n, (step, frame_index) in enumerate(zip(case["steps"], _frame_indices(case["steps"]))):
        key, value = torch.full((1, 1, 1, 1), float(n)), torch.full((1, 1, 1, 1, 1), float(n))
        if step["call"] == "annotate":
            bank.reset(key, value)
        else:
            bank.update(key, value, frame_index)
        assert _labels(bank.rule, bank.slots) == step["slots"], f"after call {n}"
        keys, values = bank.read()
        assert keys[0, 0, :, 0, 0].int().tolist() == values[0, 0, 0, :, 0, 0].int().tolist() == step["read"]


class FakeSession:
    """Stands in for the tracker's graph: every output of a call is filled with the call's number."""

    def __init__(self, tracker: OrtTracker):
        self.tracker = tracker
        self.calls = 0

    def run(self, names, feeds):
        shapes = {t["name"]: t["shape"] for t in self.tracker.graph["outputs"]}
        outputs = [np.full(shapes[name], self.calls, np.float32) for name in names]
        self.calls += 1
        return outputs


@_cases("student")
def test_ort_tracker(case, monkeypatch):
    tracker = OrtTracker(SHIPPED_EXPORT)
    assert tracker.rule == STUDENT
    session = FakeSession(tracker)
    monkeypatch.setattr(tracker, "_session", lambda: (session, tracker.graph))
    frame = np.zeros((*tracker.size, 3), np.uint8)
    mask = np.ones(tracker.size, np.uint8)
    slots = tracker.manifest["memory"]["slots"]
    for n, step in enumerate(case["steps"]):
        tracker.start(frame, mask) if step["call"] == "annotate" else tracker.step_model(frame)
        assert _labels(tracker.rule, tracker.memory) == step["slots"], f"after call {n}"
        feeds = tracker.track_feeds(frame)  # what the next track call reads, slot by slot in the manifest's order
        assert [_label((feeds[s["key"]],)) for s in slots] == [_label((feeds[s["value"]],)) for s in slots]
        assert [_label((feeds[s["key"]],)) for s in slots] == step["read"]


class FakeNet(nn.Module):
    """Stands in for the network in the unroll: a frame's key holds its frame number; `segment` records which
    frames' entries it reads."""

    Features = namedtuple("Features", "key")

    def __init__(self):
        super().__init__()
        self.reads: list[list[int]] = []

    def encode_key(self, images):
        return self.Features(images[:, :1, :1, :1])

    def encode_value(self, feats, masks):
        return feats.key[:, None]

    def segment(self, feats, keys, values, valid):
        self.reads.append(keys[0, 0, :, 0, 0].int().tolist())
        assert self.reads[-1] == values[0, 0, 0, :, 0, 0].int().tolist()
        return Segmentation(torch.zeros(1, 2, 1, 1), torch.zeros(1, 2, 1, 1), torch.zeros(1, 1, 1, 1, 1))


@_cases("student", "teacher-training")
def test_training_unroll(case):
    """The unroll annotates frame 0 and tracks the rest: the table's steps up to a re-annotation."""
    calls = [step["call"] for step in case["steps"]]
    steps = case["steps"][: calls.index("annotate", 1) if calls.count("annotate") > 1 else None]
    net = FakeNet()
    unroll = ClipUnroll(net, finite_memory=case["rule"] == "student")
    assert unroll.rule == RULES[case["rule"]]
    frames = len(steps) + 1  # the last frame only reads
    images = torch.arange(frames, dtype=torch.float32).view(1, frames, 1, 1, 1).expand(1, frames, 3, 2, 2)
    unroll(images, torch.zeros(1, frames, 1, 2, 2), torch.ones(1, 1))
    assert net.reads == [step["read"] for step in steps]


def test_the_shipped_manifest_carries_the_student_rule_as_the_export_writes_it():
    memory = json.loads((SHIPPED_EXPORT / "manifest.json").read_text())["memory"]
    assert MemoryRule.from_manifest(memory) == STUDENT
    written = STUDENT.manifest_memory(memory["entry"])
    assert {k: memory[k] for k in written} == written


def test_rules_that_cannot_be_written_are_refused():
    with pytest.raises(ValueError, match="fixed number of memory inputs"):
        TEACHER.manifest_memory({"key": "key", "value": "value"})
    with pytest.raises(ValueError, match="keep_every"):
        teacher_rule(0)
    with pytest.raises(ValueError, match="uniquely"):
        MemoryRule((Slot("a", ""), Slot("a", "")), {"annotate": ("a",), "track": ("a",)})
    with pytest.raises(ValueError, match="each call"):
        MemoryRule((Slot("a", ""),), {"annotate": ("a",)})
    with pytest.raises(ValueError, match="track call must fill known slots"):
        MemoryRule((Slot("a", ""),), {"annotate": ("a",), "track": ("b",)})
    with pytest.raises(RuntimeError, match="empty"):
        STUDENT.read({})
