"""The procedural generator's pieces: textures, sprite shapes, smooth trajectories, and warping and compositing of
sprite layers over a background (`mobilevos.data.synth` assembles them into clips)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from mobilevos.data.synth import SynthConfig


@dataclass
class Layer:
    """One sprite of a clip: an object (label = id) or a distractor (label 0)."""

    sprite: np.ndarray  # [S, S, 4] float32, premultiplied RGB + alpha (premultiplied so bilinear edges stay clean)
    label: int  # object id, 0 for a distractor
    warp: np.ndarray | None  # [2, 2, 5] per axis, per wave: amplitude, kx, ky, phase, angular speed
    pose: dict | None = None  # per-frame cx, cy, angle (degrees), scale, shear; drawn per layout attempt


def make_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Random RGB texture, float32 [h, w, 3] in [0, 1]: multi-scale noise, gradient, stripes, blobs, colour ramp."""
    field = np.zeros((h, w), np.float32)
    for cell in rng.choice([3, 8, 20, 48, 96], size=rng.integers(1, 4), replace=False):
        small = rng.random((h // cell + 2, w // cell + 2), dtype=np.float32)
        field += rng.uniform(0.3, 1.0) * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    xx = np.arange(w, dtype=np.float32)[None]
    yy = np.arange(h, dtype=np.float32)[:, None]
    if rng.random() < 0.5:
        a = rng.uniform(0, 2 * np.pi)
        field += rng.uniform(0.5, 2.0) * (xx * math.cos(a) + yy * math.sin(a)) / max(h, w)
    if rng.random() < 0.35:
        a, period = rng.uniform(0, np.pi), rng.uniform(4, 40)
        wave = np.sin((xx * math.cos(a) + yy * math.sin(a)) * (2 * np.pi / period) + rng.uniform(0, 2 * np.pi))
        field += rng.uniform(0.5, 1.5) * np.tanh(rng.uniform(1, 6) * wave)  # from soft to hard-edged stripes
    if rng.random() < 0.4:
        for _ in range(rng.integers(2, 8)):
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(rng.integers(2, max(3, w // 4))), int(rng.integers(2, max(3, h // 4))))
            cv2.ellipse(field, centre, axes, rng.uniform(0, 180), 0, 360, float(rng.uniform(-1.5, 1.5)), -1)
    lo, hi = field.min(), field.max()
    field = (field - lo) / (hi - lo + 1e-6)
    c0, c1, c2 = rng.random((3, 3), dtype=np.float32)
    tint = cv2.resize(rng.random((3, 3), dtype=np.float32), (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    return (c0 + field[..., None] * (c1 - c0)) * (1 - 0.5 * tint) + c2 * (0.5 * tint)


def make_shape(rng: np.random.Generator, s: int, cfg: SynthConfig) -> np.ndarray:
    """Anti-aliased alpha float32 [s, s] of a random blob, polygon or ellipse, maybe with a hole or a thin limb."""
    canvas = np.zeros((s, s), np.uint8)
    c, r = (s - 1) / 2, 0.42 * s
    kind = rng.integers(3)
    if kind == 2:
        axes = (max(2, int(r)), max(2, int(r * rng.uniform(0.35, 1.0))))
        cv2.ellipse(canvas, (int(c), int(c)), axes, rng.uniform(0, 180), 0, 360, 255, -1, cv2.LINE_AA)
    else:
        if kind == 0:  # smooth blob: radius = a few low harmonics of the angle
            theta = np.linspace(0, 2 * np.pi, 72, endpoint=False)
            rad = 1 + sum(rng.uniform(0, 0.35) / k * np.cos(k * theta + rng.uniform(0, 2 * np.pi)) for k in range(2, 6))
        else:  # polygon with random vertices, possibly concave
            theta = np.sort(rng.uniform(0, 2 * np.pi, rng.integers(3, 10)))
            rad = rng.uniform(0.45, 1.0, theta.size)
        rad = r * rad / rad.max()
        pts = np.stack([c + rad * np.cos(theta), c + rad * np.sin(theta)], 1)
        cv2.fillPoly(canvas, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    if rng.random() < cfg.hole_prob:
        centre = (int(c + rng.uniform(-0.1, 0.1) * s), int(c + rng.uniform(-0.1, 0.1) * s))
        axes = (max(1, int(rng.uniform(0.06, 0.16) * s)), max(1, int(rng.uniform(0.06, 0.16) * s)))
        cv2.ellipse(canvas, centre, axes, rng.uniform(0, 180), 0, 360, 0, -1, cv2.LINE_AA)
    if rng.random() < cfg.thin_part_prob:
        a = rng.uniform(0, 2 * np.pi)
        end = (int(c + 0.48 * s * math.cos(a)), int(c + 0.48 * s * math.sin(a)))
        cv2.line(canvas, (int(c), int(c)), end, 255, int(rng.integers(2, max(3, s // 20))), cv2.LINE_AA)
    return canvas.astype(np.float32) / 255


def smooth_path(rng: np.random.Generator, t: np.ndarray, speed: float, wobble: float) -> np.ndarray:
    """Smooth 1-D trajectory that is 0 at t = 0: constant drift plus two low-frequency sinusoids."""
    out = rng.uniform(-speed, speed) * t
    for _ in range(2):
        w, phase = 2 * np.pi / rng.uniform(12, 60), rng.uniform(0, 2 * np.pi)
        out = out + rng.uniform(0, wobble) * (np.sin(w * t + phase) - math.sin(phase))
    return out


def random_pose(rng: np.random.Generator, t: np.ndarray, h: int, w: int, cfg: SynthConfig) -> dict:
    """A smooth per-frame pose trajectory whose centre starts inside the frame."""
    speed = rng.uniform(0.2, 1.0) * cfg.max_speed * min(h, w)
    cx = rng.uniform(0.15, 0.85) * w + smooth_path(rng, t, speed, 3 * speed)
    cy = rng.uniform(0.15, 0.85) * h + smooth_path(rng, t, speed, 3 * speed)
    if rng.random() < cfg.exit_prob:  # a wide, slow swing carries it out of the frame and back
        period, phase = rng.uniform(1.0, 2.0) * max(len(t), 20), rng.uniform(0, 2 * np.pi)
        cx = cx + rng.uniform(0.4, 0.7) * w * (np.sin(2 * np.pi * t / period + phase) - math.sin(phase))
    # drawn in this order (angle, scale, shear): the generator's clips are fixed by their seed
    angle = rng.uniform(0, 360) + smooth_path(rng, t, cfg.max_rotation, 5 * cfg.max_rotation)
    scale = np.exp(np.clip(smooth_path(rng, t, cfg.scale_drift, 5 * cfg.scale_drift), -0.7, 0.7))
    shear = rng.uniform(-0.5, 0.5) * cfg.max_shear + smooth_path(rng, t, 0, cfg.max_shear / 2)
    return {"cx": cx, "cy": cy, "angle": angle, "scale": scale, "shear": np.clip(shear, -cfg.max_shear, cfg.max_shear)}


def warp_layer(layer: Layer, t: int, h: int, w: int):
    """Warped premultiplied RGBA of `layer` at frame t, clipped to the frame: (y0, x0, rgba) or None if off-frame."""
    size = layer.sprite.shape[0]
    half = (size - 1) / 2
    pose = {key: value[t] for key, value in layer.pose.items()}
    a, s, sh, cx, cy = math.radians(pose["angle"]), pose["scale"], pose["shear"], pose["cx"], pose["cy"]
    lin = s * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) @ np.array([[1.0, sh], [0.0, 1.0]])
    margin = 2 + (2 * s * (1 + abs(sh)) * np.abs(layer.warp[..., 0]).sum(1).max() if layer.warp is not None else 0)
    ext = np.abs(lin) @ np.array([half, half]) + margin
    x0, x1 = max(int(cx - ext[0]), 0), min(int(cx + ext[0]) + 2, w)
    y0, y1 = max(int(cy - ext[1]), 0), min(int(cy + ext[1]) + 2, h)
    if x0 >= x1 or y0 >= y1:
        return None
    inv = np.linalg.inv(lin).astype(np.float32)
    xs = np.arange(x0, x1, dtype=np.float32)[None] - np.float32(cx)
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(cy)
    u = inv[0, 0] * xs + inv[0, 1] * ys + np.float32(half)
    v = inv[1, 0] * xs + inv[1, 1] * ys + np.float32(half)
    if layer.warp is not None:  # smooth displacement in sprite coordinates, drifting over time
        du, dv = (
            sum(amp * np.sin(kx * u + ky * v + np.float32(ph + om * t)) for amp, kx, ky, ph, om in axis)
            for axis in layer.warp.astype(np.float32)
        )
        u, v = u + du, v + dv
    rgba = cv2.remap(layer.sprite, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return y0, x0, rgba


def composite(bg: np.ndarray, layers: list[Layer], t: int, record: list | None = None):
    """Composite layers (back to front) over bg at frame t: float32 image and uint8 index mask."""
    h, w = bg.shape[:2]
    img, lab = bg.copy(), np.zeros((h, w), np.uint8)
    for layer in layers:
        out = warp_layer(layer, t, h, w)
        if record is not None:
            record.append(np.zeros((h, w, 4), np.float32))
        if out is None:
            continue
        y0, x0, rgba = out
        ph, pw = rgba.shape[:2]
        region = img[y0 : y0 + ph, x0 : x0 + pw]
        region *= 1 - rgba[..., 3:]
        region += rgba[..., :3]
        lab[y0 : y0 + ph, x0 : x0 + pw][rgba[..., 3] >= 0.5] = layer.label  # distractors write 0: they occlude too
        if record is not None:
            record[-1][y0 : y0 + ph, x0 : x0 + pw] = rgba
    return img, lab


def background_canvas(rng, h, w, backgrounds, cfg) -> np.ndarray:
    """Background canvas larger than the frame (room for camera motion), float32 [h, w, 3]."""
    if backgrounds and rng.random() < cfg.real_background_prob:
        src = backgrounds[rng.integers(len(backgrounds))]
        sh, sw = src.shape[:2]
        ch = rng.uniform(0.5, 1.0) * min(sh, sw * h / w)  # crop with the canvas aspect, then rescale
        cw = ch * w / h
        y, x = int(rng.uniform(0, sh - ch + 1)), int(rng.uniform(0, sw - cw + 1))
        crop = src[y : y + max(int(ch), 1), x : x + max(int(cw), 1)]
        crop = crop[:, ::-1] if rng.random() < 0.5 else crop
        return cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    return make_texture(rng, h, w)
