"""The reference tracker: one `Tracker` per video, holding the memory bank; the network holds weights only.

Memory rules (`mobilevos.memory_rule`, the one description that the onnxruntime tracker, the training unroll and,
through manifest.json, the JavaScript memory bank read too):

* `start(frame, mask)` is the *annotate* call: it encodes the annotated frame, whose entry (key, value) fills the
  slots the rule names for it (for the student: the permanent first-frame slot and the previous-frame slot).
* `step(frame)` is a *track* call: it reads the memory (every slot's entries, the previous frame's last), segments
  the frame, encodes the frame with its own predicted soft probabilities, and that entry replaces the previous-frame
  slot.
* Finite memory (the student, `STUDENT`, `keep_every=None`): every step reads exactly two entries and costs the same
  forever. Growing memory (the teacher, `keep_every=k`): the entry of every k-th frame is also kept.

Frames are HxWx3 uint8 RGB of any size; they are resized to the model resolution (short side `short_side`, both
sides multiples of 16, aspect kept as closely as that allows) and the probabilities are resized back.

With `adapt` (`mobilevos.adapt.AdaptConfig`, test-time adaptation), `start` first fine-tunes a copy of the network on
the annotated frame and tracks the video with that copy; the network given to the tracker is never changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from mobilevos.adapt import AdaptConfig, adapt_network
from mobilevos.memory_rule import STUDENT, TEACHER, MemoryRule, inference_rule
from mobilevos.models.network import SpaceTimeNetwork

VOID = 255


def model_size(height: int, width: int, short_side: int, stride: int = 16) -> tuple[int, int]:
    """Model input (H, W) for a frame: short side `short_side`, the other side scaled and rounded to the stride."""
    if short_side % stride or short_side <= 0:
        raise ValueError(f"short side {short_side} must be a positive multiple of {stride}")
    if height <= 0 or width <= 0:
        raise ValueError(f"empty frame {height}x{width}")
    scale = short_side / min(height, width)
    round_to = lambda x: max(stride, round(x * scale / stride) * stride)  # noqa: E731
    return (short_side, round_to(width)) if height <= width else (round_to(height), short_side)


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 HxWx3 RGB resized (bilinear) to `size` (H', W'), still uint8: the model input every backend shares."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frame must be HxWx3 uint8 RGB, got shape {frame.shape} dtype {frame.dtype}")
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Index mask resized (nearest) to `size` (H', W')."""
    return cv2.resize(mask.astype(np.uint8), (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def to_tensor(frame: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """uint8 HxWx3 RGB -> float [1, 3, H', W'] in [0, 1] at `size`."""
    return torch.from_numpy(resize_frame(frame, size)).permute(2, 0, 1)[None].float() / 255.0


def annotated_objects(frame: np.ndarray, mask: np.ndarray) -> list[int]:
    """The object ids of index mask `mask` annotating `frame`; ValueError if the sizes differ or there is none."""
    if mask.shape != frame.shape[:2]:
        raise ValueError(f"mask size {mask.shape} does not match frame size {frame.shape[:2]}")
    ids = [int(i) for i in np.unique(mask) if i not in (0, VOID)]
    if not ids:
        raise ValueError("the annotation has no object (all pixels are background or void)")
    return ids


class MemoryBank:
    """The memory entries (key, value) of one video, stored and read as a `MemoryRule` says."""

    def __init__(self, rule: MemoryRule | int | None):
        """`rule`, or the `keep_every` of `memory_rule.inference_rule` (None: finite memory)."""
        self.rule = rule if isinstance(rule, MemoryRule) else inference_rule(rule)
        self.slots: dict[str, Any] = {}  # slot name -> entry, or list of entries for a growing slot

    @property
    def keep_every(self) -> int | None:
        """The memory's growth (None: finite), as `mobilevos eval` reports it."""
        return self.rule.keep_every

    def reset(self, key: torch.Tensor, value: torch.Tensor) -> None:
        """Store the entry of the annotated frame (the annotate call)."""
        self.rule.store(self.slots, "annotate", (key, value), 0)

    def update(self, key: torch.Tensor, value: torch.Tensor, frame_index: int) -> None:
        """Store the entry of frame `frame_index` (a track call; counted from the annotated frame, which is 0)."""
        self.rule.store(self.slots, "track", (key, value), frame_index)

    def entries(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return self.rule.read(self.slots)

    def read(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys [B, CK, T, h, w] and values [B, N, CV, T, h, w] of all entries."""
        entries = self.entries()
        return torch.stack([k for k, _ in entries], 2), torch.stack([v for _, v in entries], 3)

    @property
    def num_entries(self) -> int:
        return len(self.entries())

    @property
    def nbytes(self) -> int:
        """Bytes held by the distinct tensors of the memory (the shared first-frame entry counted once)."""
        seen = {id(t): t for pair in self.entries() for t in pair}
        return sum(t.numel() * t.element_size() for t in seen.values())


@dataclass
class StepResult:
    mask: np.ndarray  # HxW uint8 object ids (0 = background), at the frame's size
    prob: np.ndarray  # [N+1, H, W] float32 probabilities, background first, objects in `Tracker.objects` order


class Tracker:
    """Semi-supervised tracking of the objects annotated in one frame through the following frames."""

    def __init__(
        self,
        net: SpaceTimeNetwork,
        short_side: int = 240,
        keep_every: int | str | None = "auto",
        adapt: AdaptConfig | None = None,
    ):
        self.weights = net  # the given network, never changed
        self.net = net  # the network tracking the current video: `weights`, or its copy adapted in `start`
        self.short_side = short_side
        self.adapt = adapt if adapt is not None and adapt.steps > 0 else None
        # the student's memory is finite by design; the teacher's grows
        auto = STUDENT if net.cfg.kind == "student" else TEACHER
        self.memory = MemoryBank(auto if keep_every == "auto" else keep_every)
        self.objects: list[int] = []
        self.frame_index = 0
        self.size: tuple[int, int] | None = None
        # the annotated frame and the latest one with their index masks, for `resize`
        self._first: tuple[np.ndarray, np.ndarray] | None = None
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def start(self, frame: np.ndarray, mask: np.ndarray) -> None:
        """Annotate `frame` with an index mask (0 background, 1..255 object ids, 255 void); resets the memory (and,
        with `adapt`, first adapts a copy of the network to this frame)."""
        self.objects = annotated_objects(frame, mask)
        self.size = model_size(*frame.shape[:2], self.short_side)
        self.net = self.weights
        if self.adapt:
            finite = self.memory.keep_every is None
            small = resize_mask(mask, self.size)
            self.net = adapt_network(
                self.weights, resize_frame(frame, self.size), small, self.objects, self.adapt, finite
            )
        self.memory.reset(*self._entry(frame, mask))
        self.frame_index = 0
        self._first = self._last = (frame, mask)

    @torch.inference_mode()
    def _entry(self, frame: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The memory entry (key, value) of `frame` with index mask `mask` (both at the frame's size), at model size."""
        small = resize_mask(mask, self.size)
        masks = torch.from_numpy(np.stack([small == i for i in self.objects])).float()[None].to(self.device)
        feats = self.net.encode_key(to_tensor(frame, self.size).to(self.device))
        return feats.key, self.net.encode_value(feats, masks)

    def resize(self, short_side: int) -> None:
        """Carry the memory to another model input (short side `short_side`) mid-video, as the web app's Auto does
        when the device's speed changes (web/src/size-fit.js SizeRevisit): the annotated frame is annotated again at
        the new size, and the latest frame's entry is encoded from its predicted mask (hard labels, as an annotation)
        into the previous-frame slot — the two entries a finite memory holds. A growing memory cannot be carried."""
        if self._first is None:
            raise RuntimeError("call start(frame, mask) before resize(short_side)")
        if self.memory.keep_every is not None:
            raise ValueError("only a finite memory (first + previous) can be carried to another size")
        index, (first, first_mask), (last, last_mask) = self.frame_index, self._first, self._last
        self.short_side = short_side
        self.size = model_size(*first.shape[:2], short_side)
        self.memory.reset(*self._entry(first, first_mask))
        if index:
            self.memory.update(*self._entry(last, last_mask), index)
        self.frame_index = index

    @torch.inference_mode()
    def step(self, frame: np.ndarray) -> StepResult:
        """Segment the next frame and update the memory."""
        if self.size is None:
            raise RuntimeError("call start(frame, mask) before step(frame)")
        image = to_tensor(frame, self.size).to(self.device)
        feats = self.net.encode_key(image)
        seg = self.net.segment(feats, *self.memory.read())
        self.frame_index += 1
        self.memory.update(feats.key, self.net.encode_value(feats, seg.prob), self.frame_index)
        prob = torch.softmax(F.interpolate(seg.logits, size=frame.shape[:2], mode="bilinear", align_corners=False), 1)
        prob = prob[0].cpu().numpy()
        lut = np.array([0, *self.objects], dtype=np.uint8)
        result = StepResult(lut[prob.argmax(0)], prob)
        self._last = (frame, result.mask)
        return result
