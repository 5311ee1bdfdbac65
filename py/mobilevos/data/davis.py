"""Reading and writing videos in the DAVIS folder layout (also used by YouTube-VOS):

    <root>/JPEGImages/<sequence>/00000.jpg ...   RGB frames
    <root>/Annotations/<sequence>/00000.png ...  index masks (palette PNG): 0 = background, 1..N objects, 255 = void

A mask belongs to the frame with the same file stem. YouTube-VOS annotates only some frames, so masks are keyed by
frame index and may be sparse; a sequence without an Annotations folder has no masks at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")
JPEG_QUALITY = 95


def _voc_palette() -> np.ndarray:
    # The PASCAL VOC / DAVIS colour map: the bits of the index are spread over the high bits of R, G and B.
    palette = np.zeros((256, 3), np.uint8)
    for index in range(256):
        value, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        palette[index] = (r, g, b)
    return palette


DAVIS_PALETTE: np.ndarray = _voc_palette()
"""[256, 3] uint8 RGB colour of each mask index (0 black, 1 (128,0,0), 2 (0,128,0), 3 (128,128,0), ...)."""


@dataclass
class Sequence:
    """One video: sorted frame paths and the mask paths of the annotated frames, keyed by frame index."""

    name: str
    frame_paths: list[Path]
    mask_paths: dict[int, Path] = field(default_factory=dict)
    size: tuple[int, int] = (0, 0)  # (H, W) of every frame and mask

    @property
    def num_frames(self) -> int:
        return len(self.frame_paths)

    def load_frame(self, index: int) -> np.ndarray:
        """Frame `index` as uint8 [H, W, 3] RGB."""
        return load_frame(self.frame_paths[index])

    def load_mask(self, index: int) -> np.ndarray:
        """The index mask of frame `index` as uint8 [H, W]; KeyError if that frame is not annotated."""
        return load_mask(self.mask_paths[index])


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: {path}")


def list_sequences(root: str | Path) -> list[str]:
    """Names of the sequences (sub-folders of `root`/JPEGImages), sorted."""
    root = Path(root)
    _require_dir(root, "dataset root")
    _require_dir(root / "JPEGImages", "JPEGImages folder")
    return sorted(p.name for p in (root / "JPEGImages").iterdir() if p.is_dir())


def _open_image(path: Path) -> Image.Image:
    """Open an image lazily (header only), turning every failure into FileNotFoundError / ValueError naming the file.

    Use it in a `with` block so the file is closed.
    """
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        return Image.open(path)
    except Exception as err:  # PIL raises several types (UnidentifiedImageError, OSError, SyntaxError)
        raise ValueError(f"cannot read image {path}: {err}") from err


def _header(path: Path) -> tuple[tuple[int, int], str]:
    """(W, H) and PIL mode of an image file, reading only its header."""
    with _open_image(path) as image:
        return image.size, image.mode


def _check_index_mode(mode: str, path: Path) -> None:
    if mode not in ("P", "L"):
        raise ValueError(
            f"mask {path} has mode {mode!r}: it must be a palette or single-channel index PNG "
            "(0 = background, 1..N objects, 255 = void), not a colour image"
        )


def read_sequence(root: str | Path, name: str) -> Sequence:
    """Index sequence `name` of the dataset at `root`: frame and mask paths and the frame size.

    Only file headers are read. Raises FileNotFoundError for a missing folder and ValueError for a sequence without
    frames, frames of different sizes, a mask without a frame of the same stem, a mask whose size differs from the
    frames', or a mask that is not an index image.
    """
    root = Path(root)
    _require_dir(root, "dataset root")
    _require_dir(root / "JPEGImages", "JPEGImages folder")
    frame_dir = root / "JPEGImages" / name
    _require_dir(frame_dir, f"sequence {name!r}")
    frame_paths = sorted(p for p in frame_dir.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    if not frame_paths:
        raise ValueError(f"no frames ({'/'.join(FRAME_SUFFIXES)}) in {frame_dir}")

    (width, height), _ = _header(frame_paths[0])
    for path in frame_paths[1:]:
        (w, h), _ = _header(path)
        if (w, h) != (width, height):
            raise ValueError(
                f"frame {path} is {(h, w)} (H, W) but the sequence's first frame {frame_paths[0]} is {(height, width)}"
            )

    index_of = {p.stem: i for i, p in enumerate(frame_paths)}
    mask_paths: dict[int, Path] = {}
    mask_dir = root / "Annotations" / name
    if mask_dir.is_dir():
        for path in sorted(mask_dir.glob("*.png")):
            if path.stem not in index_of:
                raise ValueError(f"mask {path} has no frame {path.stem}.* in {frame_dir}")
            (w, h), mode = _header(path)
            _check_index_mode(mode, path)
            if (w, h) != (width, height):
                raise ValueError(f"mask {path} is {(h, w)} (H, W) but its frames are {(height, width)}")
            mask_paths[index_of[path.stem]] = path
    return Sequence(name=name, frame_paths=frame_paths, mask_paths=mask_paths, size=(height, width))


def load_frame(path: str | Path) -> np.ndarray:
    """An image file as uint8 [H, W, 3] RGB."""
    path = Path(path)
    with _open_image(path) as image:
        try:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
        except Exception as err:  # truncated or corrupt data only shows up when decoding
            raise ValueError(f"cannot decode image {path}: {err}") from err


def load_mask(path: str | Path) -> np.ndarray:
    """A palette or single-channel PNG as a uint8 [H, W] index mask (palette colours are ignored)."""
    path = Path(path)
    with _open_image(path) as image:
        _check_index_mode(image.mode, path)
        try:
            return np.array(image, dtype=np.uint8)
        except Exception as err:
            raise ValueError(f"cannot decode mask {path}: {err}") from err


def _as_index_mask(mask: np.ndarray, what: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"{what} must be a [H, W] index mask, got shape {mask.shape}")
    if mask.dtype != np.uint8:
        if not np.issubdtype(mask.dtype, np.integer) or (mask.size and (mask.min() < 0 or mask.max() > 255)):
            raise ValueError(f"{what} must hold integers 0..255, got dtype {mask.dtype}")
        mask = mask.astype(np.uint8)
    return mask


def write_mask(path: str | Path, mask: np.ndarray) -> None:
    """Write a [H, W] index mask as a palette PNG with the DAVIS palette (parent folders are created)."""
    path = Path(path)
    image = Image.fromarray(_as_index_mask(mask, f"mask for {path}"), mode="P")
    image.putpalette(DAVIS_PALETTE.tobytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def write_sequence(root: str | Path, name: str, frames: np.ndarray, masks: np.ndarray | None = None) -> None:
    """Write a video in the DAVIS layout: frames [T, H, W, 3] uint8 RGB as JPEG (quality 95) to
    `root`/JPEGImages/`name`/00000.jpg ..., and masks [T, H, W] (if given) as palette PNGs to `root`/Annotations/`name`.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    if masks is not None:
        masks = np.asarray(masks)
        if masks.shape != frames.shape[:3]:
            raise ValueError(f"masks must be [T, H, W] = {frames.shape[:3]}, got {masks.shape}")
    frame_dir = Path(root) / "JPEGImages" / name
    frame_dir.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames):
        Image.fromarray(frame, mode="RGB").save(frame_dir / f"{t:05d}.jpg", quality=JPEG_QUALITY)
        if masks is not None:
            write_mask(Path(root) / "Annotations" / name / f"{t:05d}.png", masks[t])
