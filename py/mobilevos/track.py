"""The reference tracker: one `Tracker` per video, holding the memory bank; the network holds weights only.

Memory rules (the JavaScript memory bank and the ONNX pipeline follow exactly these):

* `start(frame, mask)` encodes the annotated frame; its entry (key, value) is *permanent* and also fills the
  *previous-frame* slot.
* `step(frame)` reads the memory [permanent entries..., previous entry], segments the frame, encodes the frame with
  its own predicted soft probabilities, and that entry replaces the previous-frame slot.
* Finite memory (the student, `keep_every=None`): the permanent list is only the first frame, so every step reads
  exactly two entries and costs the same forever. Growing memory (the teacher, `keep_every=k`): the entry of every
  k-th frame is also appended to the permanent list.

Frames are HxWx3 uint8 RGB of any size; they are resized to the model resolution (short side `short_side`, both
sides multiples of 16, aspect kept as closely as that allows) and the probabilities are resized back.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

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
    """Permanent entries plus one previous-frame entry; see the module docstring for the rules."""

    def __init__(self, keep_every: int | None):
        if keep_every is not None and keep_every < 1:
            raise ValueError(f"keep_every must be >= 1 or None, got {keep_every}")
        self.keep_every = keep_every
        self.permanent: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None

    def reset(self, key: torch.Tensor, value: torch.Tensor) -> None:
        self.permanent = [(key, value)]
        self.previous = (key, value)

    def update(self, key: torch.Tensor, value: torch.Tensor, frame_index: int) -> None:
        """Store the entry of frame `frame_index` (counted from the annotated frame, which is 0)."""
        self.previous = (key, value)
        if self.keep_every is not None and frame_index % self.keep_every == 0:
            self.permanent.append((key, value))

    def entries(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if self.previous is None:
            raise RuntimeError("memory is empty: call Tracker.start with an annotated frame first")
        return [*self.permanent, self.previous]

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

    def __init__(self, net: SpaceTimeNetwork, short_side: int = 240, keep_every: int | str | None = "auto"):
        self.net = net
        self.short_side = short_side
        if keep_every == "auto":  # the student's memory is finite by design; the teacher keeps every 5th frame
            keep_every = None if net.cfg.kind == "student" else 5
        self.memory = MemoryBank(keep_every)
        self.objects: list[int] = []
        self.frame_index = 0
        self.size: tuple[int, int] | None = None

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @torch.inference_mode()
    def start(self, frame: np.ndarray, mask: np.ndarray) -> None:
        """Annotate `frame` with an index mask (0 background, 1..255 object ids, 255 void); resets the memory."""
        self.objects = annotated_objects(frame, mask)
        self.size = model_size(*frame.shape[:2], self.short_side)
        image = to_tensor(frame, self.size).to(self.device)
        small = resize_mask(mask, self.size)
        masks = torch.from_numpy(np.stack([small == i for i in self.objects])).float()[None].to(self.device)
        feats = self.net.encode_key(image)
        self.memory.reset(feats.key, self.net.encode_value(feats, masks))
        self.frame_index = 0

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
        return StepResult(lut[prob.argmax(0)], prob)
