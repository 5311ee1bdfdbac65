"""Clicks and boxes for the prompt head: simulated clicks (training and NoC-style evaluation), prompt maps, and
`PromptSegmenter`, which turns a frame plus a user's clicks/box into one object's mask.

A click is (y, x, positive) in pixel coordinates; a box is (y0, x0, y1, x1), inclusive pixel bounds. Masks here are
boolean [H, W] arrays for one object.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from mobilevos.models.network import SpaceTimeNetwork
from mobilevos.models.prompt_head import PromptHead
from mobilevos.track import model_size, to_tensor


class Click(NamedTuple):
    y: int
    x: int
    positive: bool


Box = tuple[int, int, int, int]  # y0, x0, y1, x1 (inclusive)


def _distance_inside(region: np.ndarray) -> np.ndarray:
    """Distance of each pixel of `region` to the nearest pixel outside it, the image border counting as outside
    (so a click keeps away from the frame's edge as it does from the region's)."""
    padded = np.pad(region.astype(np.uint8), 1)
    return cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]


def centre_click(region: np.ndarray, positive: bool, rng: np.random.Generator | None = None) -> Click | None:
    """A click at the point of `region` farthest from its boundary (deterministic), or with `rng` a random pixel
    among those at least half as far (a jittered interior click, as users do not hit the exact centre); None when
    the region is empty."""
    dist = _distance_inside(region)
    peak = float(dist.max())
    if peak <= 0:
        return None
    if rng is None:
        y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    else:
        ys, xs = np.nonzero(dist >= 0.5 * peak)
        i = int(rng.integers(len(ys)))
        y, x = ys[i], xs[i]
    return Click(int(y), int(x), positive)


def largest_error(pred: np.ndarray, target: np.ndarray, ignore: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """The largest connected error region of `pred` against `target` (4-connected, false negatives and false
    positives taken apart) and whether it is a false negative (a positive click corrects it)."""
    pred, target = pred.astype(bool), target.astype(bool)
    best, best_area, best_fn = np.zeros_like(target), 0, True
    for error, is_fn in ((target & ~pred, True), (pred & ~target, False)):
        if ignore is not None:
            error = error & ~ignore
        count, labels, stats, _ = cv2.connectedComponentsWithStats(error.astype(np.uint8), connectivity=4)
        if count > 1:
            k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            if stats[k, cv2.CC_STAT_AREA] > best_area:
                best, best_area, best_fn = labels == k, int(stats[k, cv2.CC_STAT_AREA]), is_fn
    return best, best_fn


def next_click(
    pred: np.ndarray, target: np.ndarray, rng: np.random.Generator | None = None, ignore: np.ndarray | None = None
) -> Click | None:
    """The click that corrects the largest error region of `pred`: positive in a false negative, negative in a false
    positive, at the region's centre (jittered with `rng`); None when the prediction is perfect."""
    region, is_fn = largest_error(pred, target, ignore)
    return centre_click(region, is_fn, rng)


def tight_box(mask: np.ndarray) -> Box:
    """The tight bounding box of a non-empty mask."""
    ys, xs = np.nonzero(mask)
    return int(ys.min()), int(xs.min()), int(ys.max()), int(xs.max())


def jitter_box(box: Box, shape: tuple[int, int], rng: np.random.Generator, amount: float = 0.1) -> Box:
    """`box` with each side moved by up to `amount` of the box's size (a user's box is loose or tight), clipped."""
    y0, x0, y1, x1 = box
    dy, dx = (y1 - y0 + 1) * amount, (x1 - x0 + 1) * amount
    y0, y1 = (round(v + rng.uniform(-dy, dy)) for v in (y0, y1))
    x0, x1 = (round(v + rng.uniform(-dx, dx)) for v in (x0, x1))
    y0, y1 = sorted((min(max(y0, 0), shape[0] - 1), min(max(y1, 0), shape[0] - 1)))
    x0, x1 = sorted((min(max(x0, 0), shape[1] - 1), min(max(x1, 0), shape[1] - 1)))
    return y0, x0, y1, x1


def prompt_maps(
    clicks: list[Click],
    box: Box | None,
    previous: np.ndarray | None,
    size: tuple[int, int],
    sigma: float,
    scale: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """The head's prompt maps float32 [4, H, W] (positive, negative, box, previous) at `size`; click and box
    coordinates are multiplied by `scale` (sy, sx) first; `previous` is a probability map already at `size`."""
    h, w = size
    maps = np.zeros((4, h, w), np.float32)
    yy, xx = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]
    for c in clicks:
        cy, cx = (c.y + 0.5) * scale[0] - 0.5, (c.x + 0.5) * scale[1] - 0.5
        g = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
        np.maximum(maps[0 if c.positive else 1], g, out=maps[0 if c.positive else 1])
    if box is not None:
        y0, x0, y1, x1 = box
        r0, r1 = int(np.floor(y0 * scale[0])), int(np.ceil((y1 + 1) * scale[0]))
        c0, c1 = int(np.floor(x0 * scale[1])), int(np.ceil((x1 + 1) * scale[1]))
        maps[2, r0:r1, c0:c1] = 1.0
    if previous is not None:
        maps[3] = previous
    return maps


def index_mask(probs: dict[int, np.ndarray]) -> np.ndarray:
    """An index mask uint8 [H, W] from per-object foreground probabilities (object id -> float [H, W]): each pixel
    goes to its most probable object where that probability is above 0.5, else to the background (0)."""
    ids = list(probs)
    if not ids:
        raise ValueError("no object to make a mask of")
    stack = np.stack([probs[i] for i in ids])
    best = np.argmax(stack, 0)
    out = np.asarray(ids, np.uint8)[best]
    out[np.take_along_axis(stack, best[None], 0)[0] <= 0.5] = 0
    return out


class PromptSegmenter:
    """One object's mask on a frame from clicks and/or a box: the student's key encoder (once per frame) + the head.

    `set_image` encodes a frame at the model input `size`: a fixed (H, W) (multiples of 16; the web app squeezes every
    frame to 240x320), or an int short side with the aspect kept as `mobilevos.track.Tracker` does, so a mask made
    here is made on the features the tracker sees. `predict` returns the probability at the frame's own resolution
    and keeps it as `previous`, the mask the next click corrects (`reset` forgets it).
    """

    def __init__(self, net: SpaceTimeNetwork, head: PromptHead, size: tuple[int, int] | int = (240, 432)):
        self.net, self.head = net.eval(), head.eval()
        self.input_size = size if isinstance(size, int) else tuple(size)
        self.feats = self.frame_size = self.size = self.previous = None

    @torch.inference_mode()
    def set_image(self, image: np.ndarray) -> None:
        """Encode an RGB uint8 [H, W, 3] frame; forgets the previous mask."""
        self.frame_size = image.shape[:2]
        fixed = not isinstance(self.input_size, int)
        self.size = self.input_size if fixed else model_size(*self.frame_size, self.input_size)
        self.feats = self.net.encode_key(to_tensor(image, self.size))  # the tracker's own resize
        self.reset()

    def reset(self) -> None:
        """Start a new object: no previous mask."""
        self.previous = None

    @torch.inference_mode()
    def predict(self, clicks: list[Click], box: Box | None = None) -> np.ndarray:
        """Foreground probability float32 [H, W] at the frame's resolution for these clicks (frame coordinates)."""
        if self.feats is None:
            raise ValueError("call set_image before predict")
        scale = (self.size[0] / self.frame_size[0], self.size[1] / self.frame_size[1])
        maps = prompt_maps(clicks, box, self.previous, self.size, self.head.cfg.click_sigma, scale)
        logits = self.head(self.feats.f16, self.feats.f8, self.feats.f4, torch.from_numpy(maps)[None])
        self.previous = torch.sigmoid(logits)[0, 0].numpy()
        frame = F.interpolate(logits, size=self.frame_size, mode="bilinear", align_corners=False)
        return torch.sigmoid(frame)[0, 0].numpy()
