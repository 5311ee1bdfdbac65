"""Object-centred zoom: run the network on a crop around the objects instead of the whole frame.

A fixed, small model input sees a small object at a high effective resolution, and costs the same whatever the
frame's size. Each frame's crop is the union box of the objects in the previous prediction (the annotation for the
first frame), enlarged by `context`, grown to the model's aspect ratio, never zoomed in beyond `max_upscale` and
never smaller than `min_fraction` of the frame's short side; when the objects are lost the crop is the whole frame
(letterboxed), so a re-appearing object is found again. The memory keeps finite (first + previous entry); an
entry's key and value stay in the crop they were computed in (the attention read is position-free), and only the
previous value that the decoder reads *in place* is resampled into the current crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from mobilevos.track import VOID, StepResult, Tracker, annotated_objects

Box = tuple[float, float, float, float]  # x0, y0, width, height in frame pixels


@dataclass(frozen=True)
class ZoomConfig:
    """How the crop follows the objects."""

    size: tuple[int, int] = (160, 160)  # model input (H, W), multiples of 16
    context: float = 2.0  # crop side / object box side
    max_upscale: float = 2.0  # model pixels per frame pixel, at most
    min_fraction: float = 0.2  # crop short side / frame short side, at least


def crop_box(mask: np.ndarray, cfg: ZoomConfig) -> Box:
    """The crop (frame pixels) for the objects of index mask `mask` (0 background, 255 void); the whole frame,
    letterboxed to the model's aspect, when it has no object pixel."""
    fh, fw = mask.shape
    aspect = cfg.size[1] / cfg.size[0]
    ys, xs = np.nonzero((mask != 0) & (mask != VOID))
    full_w, full_h = max(fw, fh * aspect), max(fh, fw / aspect)
    if len(xs) == 0:
        return (fw - full_w) / 2, (fh - full_h) / 2, full_w, full_h
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    w, h = (x1 - x0) * cfg.context, (y1 - y0) * cfg.context
    w, h = max(w, h * aspect), max(h, w / aspect)
    smallest = max(cfg.size[0] / cfg.max_upscale, cfg.min_fraction * min(fh, fw))  # as a crop height
    if h < smallest:
        w, h = smallest * aspect, smallest
    if w > full_w:  # no larger than the letterboxed frame
        w, h = full_w, full_h
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    # Keep the crop inside the frame where it fits, so it holds as much image (and as little padding) as it can.
    left = np.clip(cx - w / 2, 0, fw - w) if w <= fw else (fw - w) / 2
    top = np.clip(cy - h / 2, 0, fh - h) if h <= fh else (fh - h) / 2
    return float(left), float(top), float(w), float(h)


def frame_to_crop(box: Box, size: tuple[int, int]) -> np.ndarray:
    """2x3 affine matrix from frame pixels to model pixels of the crop `box` resized to `size` (H, W)."""
    x0, y0, w, h = box
    sx, sy = size[1] / w, size[0] / h
    # Pixel centres: model pixel i covers frame [x0 + i / sx, x0 + (i + 1) / sx).
    return np.array([[sx, 0, -x0 * sx + 0.5 * sx - 0.5], [0, sy, -y0 * sy + 0.5 * sy - 0.5]], np.float64)


def crop_frame(frame: np.ndarray, box: Box, size: tuple[int, int]) -> np.ndarray:
    """uint8 crop of `frame` at `box` resized (bilinear) to `size`; outside the frame is black."""
    return cv2.warpAffine(
        frame,
        frame_to_crop(box, size),
        (size[1], size[0]),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def uncrop_prob(prob: np.ndarray, box: Box, frame_shape: tuple[int, int]) -> np.ndarray:
    """Probabilities [N+1, h, w] of a crop mapped back onto the frame [N+1, H, W]: background (channel 0) is
    certain outside the crop."""
    m = frame_to_crop(box, prob.shape[1:])
    out = [
        cv2.warpAffine(
            c,
            m,
            (frame_shape[1], frame_shape[0]),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=float(i == 0),
        )
        for i, c in enumerate(prob)
    ]
    return np.stack(out)


def resample_value(value: torch.Tensor, src: Box, dst: Box) -> torch.Tensor:
    """A memory value [B, N, C, h, w] computed in crop `src`, resampled into crop `dst` (zero outside `src`)."""
    b, n, c, h, w = value.shape
    theta = torch.tensor(
        [
            [dst[2] / src[2], 0, (2 * (dst[0] - src[0]) + dst[2] - src[2]) / src[2]],
            [0, dst[3] / src[3], (2 * (dst[1] - src[1]) + dst[3] - src[3]) / src[3]],
        ],
        dtype=value.dtype,
        device=value.device,
    )
    flat = value.reshape(b * n, c, h, w)
    grid = F.affine_grid(theta.expand(b * n, 2, 3), list(flat.shape), align_corners=False)
    return F.grid_sample(flat, grid, mode="bilinear", padding_mode="zeros", align_corners=False).view_as(value)


class ZoomTracker(Tracker):
    """`Tracker` on object-centred crops (see the module docstring); same `start` / `step` interface."""

    def __init__(self, net, zoom: ZoomConfig = ZoomConfig(), keep_every: int | str | None = "auto"):
        super().__init__(net, short_side=min(zoom.size), keep_every=keep_every)
        self.zoom = zoom
        self.box: Box | None = None  # the crop of the previous memory entry
        self.last_mask: np.ndarray | None = None

    def _features(self, frame: np.ndarray, box: Box):
        crop = crop_frame(frame, box, self.zoom.size)
        image = torch.from_numpy(crop).permute(2, 0, 1)[None].float().div(255.0).to(self.device)
        return self.net.encode_key(image)

    @torch.inference_mode()
    def start(self, frame: np.ndarray, mask: np.ndarray) -> None:
        self.objects, self.size = annotated_objects(frame, mask), self.zoom.size
        self.box = crop_box(mask, self.zoom)
        small = cv2.warpAffine(
            mask.astype(np.uint8),
            frame_to_crop(self.box, self.size),
            (self.size[1], self.size[0]),
            flags=cv2.INTER_NEAREST,
        )
        masks = torch.from_numpy(np.stack([small == i for i in self.objects])).float()[None].to(self.device)
        feats = self._features(frame, self.box)
        self.memory.reset(feats.key, self.net.encode_value(feats, masks))
        self.frame_index, self.last_mask = 0, mask

    @torch.inference_mode()
    def step(self, frame: np.ndarray) -> StepResult:
        if self.box is None:
            raise RuntimeError("call start(frame, mask) before step(frame)")
        box = crop_box(self.last_mask, self.zoom)
        feats = self._features(frame, box)
        keys, values = self.memory.read()
        previous = resample_value(values[:, :, :, -1], self.box, box)
        seg = self.net.segment(feats, keys, values, previous=previous)
        self.frame_index += 1
        self.memory.update(feats.key, self.net.encode_value(feats, seg.prob), self.frame_index)
        self.box = box
        prob = uncrop_prob(seg.probs[0].cpu().numpy(), box, frame.shape[:2])
        lut = np.array([0, *self.objects], dtype=np.uint8)
        self.last_mask = lut[prob.argmax(0)]
        return StepResult(self.last_mask, prob)
