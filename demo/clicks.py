"""Click to mask on the first frame: the prompt head (`mobilevos.models.prompt_head`, models/prompt_head.safetensors)
on the student's key encoder, in PyTorch. No gradio here.

Why PyTorch and not onnxruntime like the tracking student: the head reads the key encoder's f16/f8/f4 features, which
the student's exported graphs do not output (their export is `export/`'s business, not the Space's), and marking a
frame is one encoding plus a few MFLOPs per click, so PyTorch costs nothing a user waits for. The encoder is the
PyTorch student the head was trained on (named in the head's metadata), at the student's model input brought to short
side 240 (`head_input`): the head was trained at that scale, and on the selection sequences' first frames it scores
0.739 mean IoU after 3 clicks at 240x320 against 0.679 at 480x640 (those frames are 240p, upsampled for 480).

    model = PromptModel(resolve_prompt_head())        # weights only, shared by every session
    clicks = ClickSession(model, first_frame, head_input(student_size))
    clicks.add(1, y, x, "positive")                   # object 1; "negative", or "box" twice for two corners
    annotation = clicks.mask()                        # index mask of the first frame, 0 = background
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mobilevos.models.checkpoint import find_shipped, load_network
from mobilevos.models.prompt_head import load_head, read_head_metadata
from mobilevos.prompts import Box, Click, PromptSegmenter, index_mask
from mobilevos.track import model_size

PROMPT_HEAD_ENV = "MOBILEVOS_PROMPT_HEAD"
SPACE_MODELS = Path(__file__).resolve().parent / "models"  # where build_space.py puts the models in a Space bundle
KINDS = ("positive", "negative", "box")  # what a click adds: a point on the object, one off it, a box corner
HEAD_SHORT_SIDE = 240  # the scale the head was trained at (crops of 240p frames)


def head_input(student_size: tuple[int, int]) -> tuple[int, int]:
    """The head's model input for a student model input (H, W): its aspect at short side 240 (240x320 for both
    240x320 and 480x640)."""
    return model_size(*student_size, HEAD_SHORT_SIDE)


class PromptHeadError(RuntimeError):
    """The prompt head or its key encoder is missing or unusable, with what to do about it."""


def resolve_prompt_head(path: str | Path | None = None) -> Path:
    """The prompt head's weights: argument, else $MOBILEVOS_PROMPT_HEAD, else prompt_head.safetensors on
    `mobilevos.models.checkpoint`'s weight search path (the Space bundle's models/ first)."""
    path = path or os.environ.get(PROMPT_HEAD_ENV)
    if path and not Path(path).is_file():
        raise PromptHeadError(f"no prompt-head weights at {path}: point --prompt-head / ${PROMPT_HEAD_ENV} at one")
    found = Path(path) if path else find_shipped("prompt_head", SPACE_MODELS)
    if found is None:
        raise PromptHeadError(
            "no prompt_head.safetensors in the Space's models/, $MOBILEVOS_WEIGHTS or the checkout's models/: "
            f"ship one (`mobilevos ship RUN --name prompt_head`) or point --prompt-head / ${PROMPT_HEAD_ENV} at one"
        )
    return found


class PromptModel:
    """The prompt head and the key encoder it was trained on: weights only, shared by every session."""

    def __init__(self, head_path: str | Path):
        self.head_path = Path(head_path)
        try:
            self.head = load_head(self.head_path)
            student = read_head_metadata(self.head_path)[1].get("student", "student")
            self.net = load_network(student, models_dir=SPACE_MODELS)
        except (OSError, ValueError, RuntimeError) as err:
            raise PromptHeadError(f"cannot load the prompt head {self.head_path} and its key encoder: {err}") from err


@dataclass
class ObjectPrompts:
    """One object's clicks, box and current mask."""

    clicks: list[Click] = field(default_factory=list)
    box: Box | None = None
    corner: tuple[int, int] | None = None  # the first corner of a box being drawn (y, x)
    previous: np.ndarray | None = None  # the head's last probability at the model input, fed back with a click
    prob: np.ndarray | None = None  # the foreground probability at the frame's size


class ClickSession:
    """One user's clicks on one first frame: the frame encoded once at model input `size`, then the prompts and the
    mask of each object (the head corrects an object's previous mask with each click, as it was trained to)."""

    def __init__(self, model: PromptModel, frame: np.ndarray, size: tuple[int, int]):
        self.frame, self.size = frame, tuple(size)
        self.segmenter = PromptSegmenter(model.net, model.head, self.size)
        self.segmenter.set_image(frame)
        self.objects: dict[int, ObjectPrompts] = {}

    def add(self, obj: int, y: int, x: int, kind: str) -> None:
        """A click at pixel (y, x) of the frame for object `obj`: a positive or negative point, or a box corner (the
        second corner completes the box, a third starts a new one)."""
        if kind not in KINDS:
            raise ValueError(f"unknown click kind {kind!r}: one of {', '.join(KINDS)}")
        h, w = self.frame.shape[:2]
        if not (0 <= y < h and 0 <= x < w):
            raise ValueError(f"click ({x}, {y}) is outside the {w}×{h} frame")
        state = self.objects.setdefault(obj, ObjectPrompts())
        if kind == "box":
            if state.corner is None:
                state.corner = (y, x)
                return
            (y0, x0), state.corner = state.corner, None
            state.box = (min(y0, y), min(x0, x), max(y0, y), max(x0, x))
        else:
            state.clicks.append(Click(y, x, kind == "positive"))
        self.segmenter.previous = state.previous
        state.prob = self.segmenter.predict(state.clicks, state.box)
        state.previous = self.segmenter.previous

    def clear(self, obj: int) -> None:
        """Forget object `obj`'s clicks, box and mask."""
        self.objects.pop(obj, None)

    def mask(self) -> np.ndarray | None:
        """The index mask of every object with a prediction (overlaps go to the more probable one); None when no
        object has one yet."""
        probs = {obj: s.prob for obj, s in sorted(self.objects.items()) if s.prob is not None}
        return index_mask(probs) if probs else None

    def describe(self) -> str:
        """What each object has: clicks, box, pixels of its mask."""
        mask = self.mask()
        parts = []
        for obj, s in sorted(self.objects.items()):
            positive = sum(c.positive for c in s.clicks)
            what = [f"{positive} on it", f"{len(s.clicks) - positive} off it"] + (["a box"] if s.box else [])
            if s.corner is not None:
                what.append("a box corner (click the opposite one)")
            pixels = 0 if mask is None else int(np.count_nonzero(mask == obj))
            parts.append(f"object {obj}: {', '.join(what)} → {pixels} px")
        return "; ".join(parts)
