"""Training clips sampled from DAVIS-layout folders, with the augmentation of STCN/XMem-style VOS training.

Evaluation splits (a folder named `davis16-val`) are refused here: nothing in them may be trained on. The selection
sequences of `mobilevos.data.splits` are left out unless `split="all"` is asked for: choices are made on them.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from mobilevos.data.davis import Sequence, load_frame, load_mask, read_sequence
from mobilevos.data.splits import check_training_root, split_sequences

VOID = 255
MIN_KEPT_FRACTION = 0.3  # a crop should keep at least this much of the first frame's object pixels
CROP_TRIES = 8
CLIP_TRIES = 20
_GRAY = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 luma, as torchvision's ColorJitter


class VideoClipDataset(Dataset):
    """Clips of `clip_len` annotated frames from the DAVIS-layout folders `roots`.

    Each item is {"images": float32 [T,3,H,W] in [0,1], "masks": float32 [T,K,H,W] one-hot per object slot,
    "void": bool [T,H,W], "valid": bool [K], "name": str} with (H, W) = `size` and K = `max_objects`; valid slots come
    first and each holds an object that is visible in the first frame.

    Randomness comes from a generator seeded with (seed, epoch, index), so an item is reproducible whatever worker
    draws it. The trainer may change `epoch` and `max_gap` (the largest step between sampled frames, in annotated
    frames) between epochs; DataLoader workers copy the dataset when an iterator starts, so change them before that
    (and do not use persistent_workers). `length` defaults to the number of annotated frames. `split` is "train"
    (the selection sequences left out) or "all" (`mobilevos.data.splits`).
    """

    def __init__(
        self,
        roots: list[str | Path],
        clip_len: int = 3,
        size: tuple[int, int] = (192, 320),
        max_objects: int = 2,
        max_gap: int = 5,
        length: int | None = None,
        seed: int = 0,
        augment: bool = True,
        paste_prob: float = 0.0,
        split: str = "train",
        static_prob: float = 0.0,
        scale_range: tuple[float, float] = (0.8, 1.5),
    ):
        if not roots:
            raise ValueError("no dataset roots given")
        if not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f"scale_range {scale_range} must be (low, high) with 0 < low <= high")
        if clip_len < 1 or max_objects < 1 or max_gap < 1:
            raise ValueError(f"clip_len ({clip_len}), max_objects ({max_objects}) and max_gap ({max_gap}) must be ≥ 1")
        self.roots = [check_training_root(root) for root in roots]
        self.sequences: list[Sequence] = []
        for root in self.roots:
            self.sequences += [
                s for s in (read_sequence(root, n) for n in split_sequences(root, split)) if s.mask_paths
            ]
        if not self.sequences:
            raise ValueError(f"no annotated sequences in {', '.join(map(str, self.roots))}")
        self.clip_len, self.size, self.max_objects = clip_len, (int(size[0]), int(size[1])), max_objects
        self.max_gap, self.seed, self.augment, self.epoch = max_gap, seed, augment, 0
        self.paste_prob, self.static_prob = paste_prob, static_prob
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.length = length if length is not None else sum(len(s.mask_paths) for s in self.sequences)
        # Decoded uint8 arrays, filled lazily: frames per (sequence, frame), masks per sequence (all at once, since
        # choosing a first frame needs to know which annotated frames contain an object).
        self._frames: dict[tuple[int, int], np.ndarray] = {}
        self._masks: dict[int, dict[int, np.ndarray]] = {}
        self._with_objects: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"item {index} out of range for {self.length} items")  # also ends `for item in dataset`
        rng = np.random.default_rng([self.seed, self.epoch, index])
        for _ in range(CLIP_TRIES):
            s = int(rng.integers(len(self.sequences)))
            static = self.augment and rng.random() < self.static_prob
            frames = self._pick_static_frame(s, rng) if static else self._pick_frames(s, rng)
            if frames is not None:
                item = self._make_clip(s, frames, rng)
                if item is not None:
                    return item
        raise RuntimeError(
            f"could not sample a clip of {self.clip_len} annotated frames with a visible object after "
            f"{CLIP_TRIES} tries (item {index}); are the sequences in {self.roots} too short?"
        )

    def _load_masks(self, s: int) -> dict[int, np.ndarray]:
        if s not in self._masks:
            masks = {t: load_mask(p) for t, p in sorted(self.sequences[s].mask_paths.items())}
            self._masks[s] = masks
            self._with_objects[s] = np.array([np.any((m != 0) & (m != VOID)) for m in masks.values()])
        return self._masks[s]

    def _frame(self, s: int, t: int) -> np.ndarray:
        if (s, t) not in self._frames:
            self._frames[s, t] = load_frame(self.sequences[s].frame_paths[t])
        return self._frames[s, t]

    def _pick_frames(self, s: int, rng: np.random.Generator) -> list[int] | None:
        """Frame indices of a clip: annotated frames in temporal order (or reversed), steps of 1..max_gap."""
        annotated = np.array(list(self._load_masks(s)))
        with_objects = self._with_objects[s]
        n, steps = len(annotated), self.clip_len - 1
        if n < self.clip_len:
            return None
        if rng.random() < 0.5:
            annotated, with_objects = annotated[::-1], with_objects[::-1]
        max_gap = max(1, min(self.max_gap, (n - 1) // steps)) if steps else 1
        gaps = rng.integers(1, max_gap + 1, size=steps)
        starts = np.flatnonzero(with_objects[: n - int(gaps.sum())])
        if not len(starts):
            return None
        positions = int(rng.choice(starts)) + np.concatenate([[0], np.cumsum(gaps)])
        return [int(t) for t in annotated[positions]]

    def _pick_static_frame(self, s: int, rng: np.random.Generator) -> list[int] | None:
        """One annotated frame with an object, repeated clip_len times (animated later by animate_static)."""
        annotated = np.array(list(self._load_masks(s)))[self._with_objects[s]]
        return [int(rng.choice(annotated))] * self.clip_len if len(annotated) else None

    def _make_clip(self, s: int, frames: list[int], rng: np.random.Generator) -> dict | None:
        images = [self._frame(s, t) for t in frames]
        masks = [self._masks[s][t] for t in frames]
        ids = [int(i) for i in np.unique(masks[0]) if i not in (0, VOID)]
        chosen = [int(i) for i in rng.choice(ids, size=min(self.max_objects, len(ids)), replace=False)]

        images, masks = self._resize_and_crop(images, masks, chosen, rng)
        objects = [k for k in chosen if np.any(masks[0] == k)]  # the crop may have cut an object out entirely
        if not objects:
            return None
        if len(set(frames)) == 1 and len(frames) > 1:
            images, masks = animate_static(images[0], masks[0], len(images), rng)
        if self.augment and rng.random() < self.paste_prob:
            images, masks = self._paste_distractor(s, images, masks, objects, rng)
        images = np.stack(images).astype(np.float32) / 255.0
        masks = np.stack(masks)
        if self.augment:
            if rng.random() < 0.5:
                images, masks = images[:, :, ::-1], masks[:, :, ::-1]
            images = colour_jitter(images, rng)

        one_hot = np.zeros((len(frames), self.max_objects, *self.size), np.float32)
        for k, obj in enumerate(objects):
            one_hot[:, k] = masks == obj
        valid = np.arange(self.max_objects) < len(objects)
        return {
            "images": torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))),
            "masks": torch.from_numpy(one_hot),
            "void": torch.from_numpy(np.ascontiguousarray(masks == VOID)),
            "valid": torch.from_numpy(valid),
            "name": self.sequences[s].name,
        }

    def _resize_and_crop(
        self, images: list[np.ndarray], masks: list[np.ndarray], objects: list[int], rng: np.random.Generator
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        out_h, out_w = self.size
        h, w = masks[0].shape
        scale = max(out_h / h, out_w / w)  # the smallest scale at which the frame covers the crop
        if self.augment:
            scale *= rng.uniform(*self.scale_range)
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        images = [cv2.resize(im, (new_w, new_h), interpolation=cv2.INTER_LINEAR) for im in images]
        masks = [cv2.resize(m, (new_w, new_h), interpolation=cv2.INTER_NEAREST) for m in masks]

        # Zoomed out below the crop size: pad with black background (not void: the network must predict it).
        pad_h, pad_w = max(0, out_h - new_h), max(0, out_w - new_w)
        if pad_h or pad_w:
            top = int(rng.integers(pad_h + 1)) if self.augment else pad_h // 2
            left = int(rng.integers(pad_w + 1)) if self.augment else pad_w // 2
            pad = ((top, pad_h - top), (left, pad_w - left))
            images = [np.pad(im, (*pad, (0, 0))) for im in images]
            masks = [np.pad(m, pad) for m in masks]

        y, x = self._choose_crop(masks[0], objects, rng)
        return ([im[y : y + out_h, x : x + out_w] for im in images], [m[y : y + out_h, x : x + out_w] for m in masks])

    def _choose_crop(self, first: np.ndarray, objects: list[int], rng: np.random.Generator) -> tuple[int, int]:
        """Top-left corner of the crop: the first acceptable of a few random crops, else the best one seen."""
        out_h, out_w = self.size
        room_h, room_w = first.shape[0] - out_h, first.shape[1] - out_w
        if not self.augment:
            return room_h // 2, room_w // 2
        inside = np.isin(first, objects)
        ys, xs = np.nonzero(inside)
        best, best_kept = (0, 0), -1.0
        for attempt in range(CROP_TRIES):
            if attempt % 2 == 0 and len(ys):  # every other try is placed around a random object pixel
                i = int(rng.integers(len(ys)))
                y = int(np.clip(ys[i] - rng.integers(out_h), 0, room_h))
                x = int(np.clip(xs[i] - rng.integers(out_w), 0, room_w))
            else:
                y, x = int(rng.integers(room_h + 1)), int(rng.integers(room_w + 1))
            kept = np.count_nonzero(inside[y : y + out_h, x : x + out_w]) / max(len(ys), 1)
            if kept >= MIN_KEPT_FRACTION:
                return y, x
            if kept > best_kept:
                best, best_kept = (y, x), kept
        return best

    def _paste_distractor(
        self, s: int, images: list[np.ndarray], masks: list[np.ndarray], objects: list[int], rng: np.random.Generator
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Paste an annotated object, moving over the clip, as an unlabelled distractor (copy-paste augmentation).

        Half the time the pasted object is the clip's own object taken from another frame of its sequence: a
        look-alike that only position and motion tell apart (DAVIS's hardest failures: a crowd of dancers, a herd
        of camels). It occludes what it covers, so those pixels become background in the labels. The paste is
        skipped if it would hide most of an object in the first frame (the annotation must still show it).
        """
        src = s if rng.random() < 0.5 else int(rng.integers(len(self.sequences)))
        src_masks = self._load_masks(src)
        candidates = [t for t, has in zip(src_masks, self._with_objects[src]) if has]
        t = candidates[int(rng.integers(len(candidates)))]
        label = src_masks[t]
        ids = [int(i) for i in np.unique(label) if i not in (0, VOID)]
        cut = label == ids[int(rng.integers(len(ids)))]
        ys, xs = np.nonzero(cut)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        patch, alpha = self._frame(src, t)[y0:y1, x0:x1], cut[y0:y1, x0:x1].astype(np.uint8)
        out_h, out_w = self.size
        # The distractor is about the size of the clip's objects: scale its box to 0.5-1.2 of theirs.
        ref = max(1.0, np.sqrt(np.count_nonzero(np.isin(masks[0], objects))))
        scale = float(np.clip(ref * rng.uniform(0.5, 1.2) / np.sqrt(alpha.sum()), 0.05, 4.0))
        ph, pw = max(1, round(patch.shape[0] * scale)), max(1, round(patch.shape[1] * scale))
        ph, pw = min(ph, out_h), min(pw, out_w)
        patch = cv2.resize(patch, (pw, ph), interpolation=cv2.INTER_LINEAR)
        alpha = cv2.resize(alpha, (pw, ph), interpolation=cv2.INTER_NEAREST).astype(bool)
        if rng.random() < 0.5:
            patch, alpha = patch[:, ::-1], alpha[:, ::-1]
        start = rng.uniform([0, 0], [out_h - ph + 1, out_w - pw + 1])
        velocity = rng.normal(0, 0.03, size=2) * (out_h, out_w)  # per frame, a few percent of the crop
        new_images, new_masks = [], []
        for i, (image, mask) in enumerate(zip(images, masks)):
            y, x = (np.clip(start + i * velocity, 0, (out_h - ph, out_w - pw))).astype(int)
            image, mask = image.copy(), mask.copy()
            region = (slice(y, y + ph), slice(x, x + pw))
            image[region][alpha] = patch[alpha]
            mask[region][alpha] = 0
            new_images.append(image)
            new_masks.append(mask)
        before = [np.count_nonzero(masks[0] == k) for k in objects]
        if any(np.count_nonzero(new_masks[0] == k) < MIN_KEPT_FRACTION * n for k, n in zip(objects, before)):
            return images, masks
        return new_images, new_masks


def animate_static(
    image: np.ndarray, mask: np.ndarray, length: int, rng: np.random.Generator, spread: float = 1.0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A pseudo-video of `length` frames from one annotated frame (uint8 RGB `image`, index `mask`), as STM/STCN/XMem
    pre-train on static images and as test-time adaptation (`mobilevos.adapt`) fine-tunes on the first frame: the
    objects and the background each drift by their own random affine motion (rotation, scale, shift growing frame
    by frame), the objects composited over the background, whose object pixels are inpainted so they leave no
    ghost. Frame 0 is the input itself. `spread` multiplies the spread of every motion (shift, rotation, scale)."""
    h, w = mask.shape
    objects = (mask != 0) & (mask != VOID)
    hole = cv2.dilate(objects.astype(np.uint8), np.ones((5, 5), np.uint8))
    background = cv2.inpaint(image, hole, 3, cv2.INPAINT_TELEA)
    bg_mask = np.where(mask == VOID, VOID, 0).astype(np.uint8)

    def motion(shift: float, angle: float, zoom: float) -> np.ndarray:
        """Per-frame affine step: (dx, dy, degrees, log-scale)."""
        return rng.normal(0, np.multiply(spread, [shift * w, shift * h, angle, zoom]))

    def warp(step: np.ndarray, i: int) -> np.ndarray:
        dx, dy, angle, log_scale = step * i
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, float(np.exp(log_scale)))
        m[:, 2] += (dx, dy)
        return m

    bg_step, obj_step = motion(0.01, 1.0, 0.01), motion(0.04, 4.0, 0.04)
    out_images, out_masks = [image], [mask]
    for i in range(1, length):
        bg, ob = warp(bg_step, i), warp(obj_step, i)
        frame = cv2.warpAffine(background, bg, (w, h), borderMode=cv2.BORDER_REFLECT)
        label = cv2.warpAffine(bg_mask, bg, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
        moved = cv2.warpAffine(np.where(objects, mask, 0).astype(np.uint8), ob, (w, h), flags=cv2.INTER_NEAREST)
        inside = moved != 0
        frame[inside] = cv2.warpAffine(image, ob, (w, h))[inside]
        label[inside] = moved[inside]
        out_images.append(frame)
        out_masks.append(label)
    return out_images, out_masks


def colour_jitter(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation and hue: one draw for the clip plus a small draw per frame."""
    clip = rng.uniform([0.8, 0.8, 0.8, -0.02], [1.2, 1.2, 1.2, 0.02])
    out = np.empty_like(images)
    for t, image in enumerate(images):
        # Python floats: a float64 NumPy scalar would promote the float32 image to float64.
        brightness, contrast, saturation = (clip[:3] * rng.uniform(0.97, 1.03, size=3)).tolist()
        hue = float(clip[3] + rng.uniform(-0.005, 0.005))
        image = np.clip(image * brightness, 0, 1)
        mean = float((image @ _GRAY).mean())
        image = np.clip((image - mean) * contrast + mean, 0, 1)
        gray = (image @ _GRAY)[..., None]
        image = np.clip((image - gray) * saturation + gray, 0, 1)
        hsv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)  # float input: H in degrees
        hsv[..., 0] = (hsv[..., 0] + 360.0 * hue) % 360.0
        out[t] = np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), 0, 1)
    return out


def load_backgrounds(root: str | Path, count: int, seed: int = 0, split: str = "train") -> list[np.ndarray]:
    """`count` random frames (uint8 [H, W, 3] RGB) of the DAVIS-layout folder `root`, e.g. as synthetic backdrops;
    from the sequences of `split` ("train" leaves the selection sequences out)."""
    root = check_training_root(root)
    names = split_sequences(root, split)
    if not names:
        raise ValueError(f"no sequences in {root}/JPEGImages")
    rng = np.random.default_rng(seed)
    sequences: dict[str, Sequence] = {}
    frames = []
    for _ in range(count):
        name = names[int(rng.integers(len(names)))]
        if name not in sequences:
            sequences[name] = read_sequence(root, name)
        seq = sequences[name]
        frames.append(load_frame(seq.frame_paths[int(rng.integers(seq.num_frames))]))
    return frames
