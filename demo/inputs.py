"""What a user brings, read and checked: a video (or a bundled sample), the first-frame annotation (editor strokes or
an index PNG) and optional ground truth (a DAVIS-layout zip or flat PNGs).

Every problem a user can fix raises `InputError` with a message meant for them (app.py shows it with gr.Error);
things worth knowing but not fatal (a video cut to the frame cap, a resize) go to `Clip.notes`. No gradio here.

Frames are processed at the model resolution: the short side becomes the model's short side (240), the aspect kept.
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from PIL import Image

from mobilevos.data.davis import list_sequences, load_mask, read_sequence
from mobilevos.data.synth import generate_clip
from mobilevos.track import VOID

SYNTH_SAMPLE = "synthetic (2 objects, known masks)"
SYNTH_SEED, SYNTH_FRAMES = 0, 60
DAVIS_PREFIX = "DAVIS: "


class InputError(ValueError):
    """A problem with the user's input, worded for the user."""


@dataclass(frozen=True)
class Limits:
    max_frames: int = 150  # frames read from a video; the rest is cut (and the user told)
    max_upload_mb: int = 50  # any single upload (also enforced by Gradio at upload time)
    max_pixels: int = 3840 * 2160  # source resolution (4K); frames are downscaled anyway
    min_side: int = 16
    max_aspect: float = 2.5  # long side / short side
    max_objects: int = 4  # the student's largest exported object capacity
    max_zip_files: int = 2000
    max_zip_mb: int = 200  # uncompressed


@dataclass
class Clip:
    """A loaded video at the processing resolution, with what came with it."""

    name: str
    frames: np.ndarray  # [T, H, W, 3] uint8 RGB at the processing size
    fps: float
    source_size: tuple[int, int]  # (H, W) of the original
    annotation: np.ndarray | None = None  # first-frame index mask at the processing size (samples)
    ground_truth: dict[int, np.ndarray] | None = None  # frame index -> index mask (samples), any size
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return self.frames.shape[1:3]


def processing_size(height: int, width: int, short_side: int, limits: Limits) -> tuple[int, int]:
    """(H, W) with the short side `short_side`, the aspect kept; InputError for degenerate shapes."""
    if min(height, width) < limits.min_side:
        raise InputError(f"The video is {width}×{height}: both sides must be at least {limits.min_side} pixels.")
    if max(height, width) / min(height, width) > limits.max_aspect:
        raise InputError(
            f"The video is {width}×{height}: an aspect ratio above {limits.max_aspect}:1 is not "
            "supported. Crop it first."
        )
    scale = short_side / min(height, width)
    return (short_side, round(width * scale)) if height <= width else (round(height * scale), short_side)


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if frame.shape[:2] == tuple(size):
        return frame
    shrink = size[0] < frame.shape[0]
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if mask.shape == tuple(size):
        return mask
    return cv2.resize(mask, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def _check_upload(path: str | Path, limits: Limits, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"The {what} upload is missing; upload it again.")
    mb = path.stat().st_size / 2**20
    if mb > limits.max_upload_mb:
        raise InputError(f"The {what} is {mb:.0f} MB; at most {limits.max_upload_mb} MB is accepted.")
    return path


def read_video(path: str | Path, short_side: int, limits: Limits) -> Clip:
    """Decode up to `limits.max_frames` frames of a video file at the processing size (cut longer videos)."""
    path = _check_upload(path, limits, "video")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputError(f"Cannot read {path.name} as a video. Upload an MP4, WebM, MOV, AVI or MKV file.")
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width * height > limits.max_pixels:
            raise InputError(
                f"The video is {width}×{height}; at most {limits.max_pixels / 1e6:.1f} megapixels "
                "(4K) is accepted. Downscale it first."
            )
        fps = capture.get(cv2.CAP_PROP_FPS)
        fps = float(fps) if fps and np.isfinite(fps) and 1 <= fps <= 240 else 24.0
        frames, size = [], None
        while len(frames) < limits.max_frames:
            ok, bgr = capture.read()
            if not ok:
                break
            if size is None:
                size = processing_size(bgr.shape[0], bgr.shape[1], short_side, limits)
                width, height = bgr.shape[1], bgr.shape[0]
            frames.append(resize_frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size))
        more = len(frames) == limits.max_frames and capture.grab()
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    if len(frames) < 3:
        raise InputError(f"{path.name} has {len(frames)} readable frame(s); at least 3 are needed.")
    clip = Clip(name=Path(path).stem, frames=np.stack(frames), fps=fps, source_size=(height, width))
    if more:
        of = f" of about {total}" if total > limits.max_frames else ""
        clip.notes.append(
            f"The video was cut to its first {limits.max_frames} frames{of} "
            f"({limits.max_frames / fps:.1f} s): this demo processes at most {limits.max_frames}."
        )
    return clip


def sample_names(davis_root: str | Path | None) -> list[str]:
    """The bundled synthetic sample, plus the sequences of a DAVIS-layout folder if one is configured."""
    names = [SYNTH_SAMPLE]
    if davis_root and Path(davis_root).is_dir():
        with contextlib.suppress(OSError, ValueError):  # not a DAVIS layout: offer the synthetic sample only
            names += [DAVIS_PREFIX + name for name in list_sequences(davis_root)]
    return names


def load_sample(name: str, short_side: int, limits: Limits, davis_root: str | Path | None) -> Clip:
    """A sample clip with its first-frame annotation and ground truth (object ids renumbered 1..N)."""
    if name == SYNTH_SAMPLE:
        # Deterministic: the same seed always gives the same clip, so nothing has to be bundled.
        frames, masks = generate_clip(SYNTH_SEED, SYNTH_FRAMES, (short_side, short_side * 4 // 3))
        source, fps, total = (frames.shape[1], frames.shape[2]), 12.0, len(frames)
        ground_truth = dict(enumerate(masks))
        title = f"synth-{SYNTH_SEED}"
    elif name.startswith(DAVIS_PREFIX) and davis_root:
        seq = read_sequence(davis_root, name[len(DAVIS_PREFIX) :])
        count = min(seq.num_frames, limits.max_frames)
        frames = np.stack([seq.load_frame(t) for t in range(count)])
        ground_truth = {t: seq.load_mask(t) for t in seq.mask_paths if t < count}
        if 0 not in ground_truth:
            raise InputError(f"Sample {seq.name} has no annotation of its first frame.")
        source, fps, title, total = seq.size, 24.0, seq.name, seq.num_frames
    else:
        raise InputError(f"Unknown sample {name!r}.")
    ids = [int(i) for i in np.unique(ground_truth[0]) if i not in (0, VOID)]
    if len(ids) > limits.max_objects:
        ids = ids[: limits.max_objects]
    lut = np.zeros(256, np.uint8)
    lut[VOID] = VOID
    lut[ids] = np.arange(1, len(ids) + 1)  # renumber 1..N; objects beyond the cap become background
    ground_truth = {t: lut[m] for t, m in ground_truth.items()}
    size = processing_size(*source, short_side, limits)
    clip = Clip(
        name=title,
        frames=np.stack([resize_frame(f, size) for f in frames[: limits.max_frames]]),
        fps=fps,
        source_size=source,
        annotation=resize_mask(ground_truth[0], size),
        ground_truth=ground_truth,
    )
    if total > limits.max_frames:
        clip.notes.append(
            f"The sample was cut to its first {limits.max_frames} frames (of {total}): this "
            f"demo processes at most {limits.max_frames}."
        )
    return clip


# ---- annotation ----


def mask_from_layers(layers: list[np.ndarray | None], palette: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Editor strokes -> index mask at `size`: each painted pixel (alpha >= 128) takes the id (1..K) of the nearest
    brush colour in `palette` [K, 3]; later layers paint over earlier ones."""
    mask = None
    for layer in layers:
        if layer is None:
            continue
        layer = np.asarray(layer)
        if layer.ndim != 3 or layer.shape[2] not in (3, 4):
            raise InputError(f"Unexpected annotation layer of shape {layer.shape}.")
        if mask is None:
            mask = np.zeros(layer.shape[:2], np.uint8)
        elif layer.shape[:2] != mask.shape:
            raise InputError("The annotation layers differ in size; reload the first frame and mark again.")
        painted = layer[..., 3] >= 128 if layer.shape[2] == 4 else layer.any(2)
        rgb = layer[painted][:, :3].astype(np.int32)
        nearest = ((rgb[:, None, :] - palette[None].astype(np.int32)) ** 2).sum(2).argmin(1)
        mask[painted] = nearest + 1
    if mask is None:
        return np.zeros(size, np.uint8)
    return resize_mask(mask, size)


def mask_from_png(path: str | Path, clip: Clip, limits: Limits) -> np.ndarray:
    """An uploaded index PNG (palette or grey, 0 background) at the source or processing size -> processing size."""
    path = _check_upload(path, limits, "mask")
    try:
        mask = load_mask(path)
    except (OSError, ValueError) as err:
        raise InputError(f"The mask {path.name} is not an index PNG: {err}") from None
    return _fit(mask, clip, f"The mask {path.name}")


def _fit(mask: np.ndarray, clip: Clip, what: str) -> np.ndarray:
    if mask.shape not in (clip.source_size, clip.size):
        (h, w), (sh, sw), (ph, pw) = mask.shape, clip.source_size, clip.size
        raise InputError(
            f"{what} is {w}×{h} but the video is {sw}×{sh} (processed at {pw}×{ph}); it must be one of these sizes."
        )
    return resize_mask(mask, clip.size)


def check_annotation(mask: np.ndarray, limits: Limits) -> list[int]:
    """Object ids of a first-frame annotation; InputError when there is none or too many."""
    ids = [int(i) for i in np.unique(mask) if i not in (0, VOID)]
    if not ids:
        raise InputError(
            "The first frame has no object marked: paint over each object with the brush (one colour "
            "per object) or upload an index mask PNG."
        )
    if len(ids) > limits.max_objects:
        raise InputError(
            f"The annotation has {len(ids)} objects ({', '.join(map(str, ids))}); at most "
            f"{limits.max_objects} can be tracked."
        )
    return ids


# ---- ground truth ----


def _index_png(data: bytes, name: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.mode not in ("P", "L"):
                raise InputError(
                    f"Ground-truth mask {name} has mode {image.mode}: it must be a palette or grey "
                    "index PNG (0 background, 1..N objects, 255 void)."
                )
            return np.array(image, np.uint8)
    except InputError:
        raise
    except Exception as err:  # PIL raises several types for broken files
        raise InputError(f"Cannot read ground-truth mask {name}: {err}") from None


def _png_members(archive: zipfile.ZipFile, limits: Limits) -> dict[str, bytes]:
    infos = [i for i in archive.infolist() if not i.is_dir()]
    if len(infos) > limits.max_zip_files:
        raise InputError(f"The zip holds {len(infos)} files; at most {limits.max_zip_files} are accepted.")
    if sum(i.file_size for i in infos) > limits.max_zip_mb * 2**20:
        raise InputError(f"The zip unpacks to more than {limits.max_zip_mb} MB.")
    names = [
        i.filename
        for i in infos
        if i.filename.lower().endswith(".png")
        and not PurePosixPath(i.filename).name.startswith(".")
        and "__MACOSX" not in i.filename
    ]
    davis = [n for n in names if "Annotations" in PurePosixPath(n).parts]
    chosen = davis or names
    folders = sorted({str(PurePosixPath(n).parent) for n in chosen})
    if len(folders) > 1:
        raise InputError(
            f"The zip holds masks in several folders ({', '.join(folders[:4])}…): put the masks of "
            "one video in it (Annotations/<sequence>/*.png, or PNGs in one folder)."
        )
    return {PurePosixPath(n).name: archive.read(n) for n in chosen}  # names only, never extracted to disk


def load_ground_truth(paths: list[str | Path], clip: Clip, objects: list[int], limits: Limits) -> dict[int, np.ndarray]:
    """Ground-truth masks (one zip, or PNG files) -> {frame index: mask at the processing size}.

    Frames are matched by file name: numeric stems count from the first one (00000.png is the first frame); other
    names in sorted order. Masks past the processed frames are ignored (and said so in `clip.notes`).
    """
    files: dict[str, bytes] = {}
    for path in paths:
        path = _check_upload(path, limits, "ground truth")
        if path.suffix.lower() == ".zip":
            try:
                with zipfile.ZipFile(path) as archive:
                    files.update(_png_members(archive, limits))
            except zipfile.BadZipFile:
                raise InputError(f"{path.name} is not a valid zip file.") from None
        elif path.suffix.lower() == ".png":
            files[path.name] = path.read_bytes()
        else:
            raise InputError(f"Ground truth must be a .zip or .png files, got {path.name}.")
    if not files:
        raise InputError("No PNG masks found in the ground truth upload.")
    names = sorted(files)
    stems = [os.path.splitext(n)[0] for n in names]
    if all(s.isdigit() for s in stems):
        first = min(int(s) for s in stems)
        index = {n: int(s) - first for n, s in zip(names, stems)}
    else:
        index = {n: i for i, n in enumerate(names)}
    gt, dropped = {}, 0
    for name in names:
        if index[name] >= len(clip.frames):
            dropped += 1
            continue
        gt[index[name]] = _fit(_index_png(files[name], name), clip, f"Ground-truth mask {name}")
    unknown = sorted({int(i) for m in gt.values() for i in np.unique(m)} - {0, VOID, *objects})
    if unknown:
        raise InputError(
            f"The ground truth has object id(s) {', '.join(map(str, unknown))} that the first-frame "
            f"annotation does not have (it has {', '.join(map(str, objects))}). Use the same ids."
        )
    if dropped:
        clip.notes.append(
            f"{dropped} ground-truth mask(s) beyond the {len(clip.frames)} processed frames were ignored."
        )
    return gt


def sample_ground_truth(clip: Clip) -> dict[int, np.ndarray] | None:
    """A sample's own ground truth at the processing size, for the frames processed."""
    if clip.ground_truth is None:
        return None
    return {t: resize_mask(m, clip.size) for t, m in clip.ground_truth.items() if t < len(clip.frames)}
