"""J (region similarity) and F (boundary F-measure) as the DAVIS 2017 semi-supervised benchmark defines them.

Definitions (Perazzi et al. CVPR 2016; Pont-Tuset et al. 2017), reproduced to the same numerics as the DAVIS 2017
toolkit and the `vos-benchmark` scorer:

* J = |gt ∩ pred| / |gt ∪ pred| over non-void pixels; 1 when both masks are empty.
* F = harmonic mean of boundary precision and recall. Boundaries are the 1-pixel maps of `seg2bmap`; a boundary pixel
  matches when the other boundary, dilated by a disk of radius ceil(bound_th × image diagonal), covers it.
* A sequence is scored on frames 1 … n−2 (first and last excluded), per object; frames without ground truth are
  skipped. Per object: mean, recall (fraction of frames > 0.5) and decay (mean of the first quarter minus the last).
* Summary figures average the per-object figures over all objects of all sequences (not per sequence first).

Two deliberate differences from vos-benchmark that cannot change DAVIS 2016/2017 scores: void (255) pixels are
ignored as DAVIS 2017 does (vos-benchmark would score 255 as an object), and an object is scored on every scored
frame, as DAVIS 2017 does (vos-benchmark starts an object's frame list where it first appears).

The computation itself lives in `mobilevos.eval.metrics_core` (pure standard-library Python on bitsets), which the
web app also runs in Pyodide, so browser and server figures come from one implementation; this module converts numpy
arrays to its bitsets and reads the PNG folders.
"""

from __future__ import annotations

from multiprocessing import Pool
from pathlib import Path

import numpy as np

from mobilevos.data.davis import list_sequences, load_mask, read_sequence
from mobilevos.eval import metrics_core as core

VOID = core.VOID


# --- numpy arrays ⇄ the core's bitsets -----------------------------------------------------------------------------


def _pack(padded: np.ndarray) -> int:
    """A binary [H, stride] array (zero padding columns included) as an int: element k → bit k."""
    return int.from_bytes(np.packbits(padded, axis=None, bitorder="little").tobytes(), "little")


def _bitset(mask: np.ndarray, g: core.Grid) -> int:
    """A binary [H, W] array as a bitset in the layout of `g` (pixel (y, x) = bit y·stride + x)."""
    padded = np.zeros((g.height, g.stride), bool)
    padded[:, : g.width] = mask
    return _pack(padded)


def _array(bits: int, g: core.Grid) -> np.ndarray:
    """A bitset in the layout of `g` back to a binary [H, W] array."""
    size = g.height * g.stride
    packed = np.frombuffer(bits.to_bytes((size + 7) // 8, "little"), np.uint8)
    return np.unpackbits(packed, count=size, bitorder="little").reshape(g.height, g.stride)[:, : g.width].view(bool)


def _grid(shape: tuple[int, ...], bound_th: float = core.DEFAULT_BOUND_TH) -> core.Grid:
    if len(shape) != 2:
        raise ValueError(f"expected an [H, W] mask, got shape {shape}")
    return core.grid(shape[1], shape[0], bound_th)


def _binary_pair(gt, pred, void, bound_th: float = core.DEFAULT_BOUND_TH) -> tuple[core.Grid, int, int, int]:
    gt, pred = np.asarray(gt, bool), np.asarray(pred, bool)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in size")
    g = _grid(gt.shape, bound_th)
    void_bits = 0 if void is None else _bitset(np.asarray(void, bool), g)
    return g, _bitset(gt, g), _bitset(pred, g), void_bits


def frame_from_array(labels: np.ndarray, bound_th: float = core.DEFAULT_BOUND_TH) -> core.Frame:
    """An [H, W] index mask (0 = background, 255 = void) split into the core's per-object bitsets."""
    labels = np.asarray(labels)
    g = _grid(labels.shape, bound_th)
    padded = np.zeros((g.height, g.stride), labels.dtype)
    padded[:, : g.width] = labels
    if labels.dtype == np.uint8:  # the core's byte scan: ~5× faster than np.unique on a 480×854 frame
        data = labels.tobytes()
        ids, has_void = core.label_ids(data), VOID in data
    else:
        ids = [int(i) for i in np.unique(labels) if i not in (0, VOID)]
        has_void = bool((labels == VOID).any())
    return core.Frame(g, {i: _pack(padded == i) for i in ids}, _pack(padded == VOID) if has_void else 0)


# --- the public API: numpy in, the core's figures out ---------------------------------------------------------------


def db_eval_iou(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None) -> float:
    """Region similarity J of two binary [H, W] masks, ignoring `void` pixels; 1.0 when both are empty."""
    _, gt_bits, pred_bits, void_bits = _binary_pair(gt, pred, void)
    return core.region_similarity(gt_bits, pred_bits, void_bits)


def seg2bmap(mask: np.ndarray) -> np.ndarray:
    """1-pixel-wide boundary map of a binary mask, offset half a pixel towards the origin (Martin et al. 2003).

    A pixel is on the boundary when it differs from its right, lower or lower-right neighbour; beyond the last row and
    column the image is taken to continue unchanged, so the image border itself is not a boundary.
    """
    mask = np.asarray(mask, bool)
    g = _grid(mask.shape)
    return _array(core.seg2bmap(g, _bitset(mask, g)), g)


def boundary_radius(shape: tuple[int, ...], bound_th: float = core.DEFAULT_BOUND_TH) -> int:
    """Matching tolerance in pixels: `bound_th` itself when ≥ 1, else ceil(bound_th × image diagonal)."""
    return core.boundary_radius(shape[1], shape[0], bound_th)


def db_eval_boundary(
    gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None, bound_th: float = core.DEFAULT_BOUND_TH
) -> float:
    """Boundary F-measure of two binary [H, W] masks (void pixels removed from both before taking boundaries)."""
    g, gt_bits, pred_bits, void_bits = _binary_pair(gt, pred, void, bound_th)
    return core.boundary_f_measure(g, gt_bits, pred_bits, void_bits)


def db_statistics(per_frame: list[float] | np.ndarray) -> dict[str, float]:
    """Mean, recall (fraction > 0.5) and decay of per-frame values, as DAVIS `db_statistics` computes them.

    Decay: the frames are split into 4 bins at round(linspace(1, n, 5)) − 1 (bin i runs from edge i to edge i+1
    inclusive, so neighbouring bins share a frame) and decay = mean(first bin) − mean(last bin).
    """
    return core.statistics(np.asarray(per_frame, np.float64).ravel().tolist())


def evaluate_sequence(
    gt_masks: dict[int, np.ndarray],
    pred_masks: dict[int, np.ndarray],
    objects: list[int] | None = None,
    *,
    num_frames: int | None = None,
    bound_th: float = core.DEFAULT_BOUND_TH,
) -> dict:
    """Score one sequence; masks are index masks keyed by frame index.

    Scores every frame 1 … n−2 that has ground truth (n = `num_frames`, default one past the last frame index seen
    in either dict); each needs a prediction. `objects` defaults to every id (other than 0 and 255) in the ground
    truth. Returns fractions (0–1): {"frames": [...], "objects": {id: {"J": per-frame list, "F": ...,
    "J-mean", "J-recall", "J-decay", "F-mean", "F-recall", "F-decay"}}}.
    """
    return core.evaluate_sequence(
        gt_masks, pred_masks, objects, num_frames=num_frames, load=lambda labels: frame_from_array(labels, bound_th)
    )


def _score_one(args: tuple[Path, Path, str]) -> tuple[str, dict]:
    data_dir, pred_dir, name = args
    seq = read_sequence(data_dir, name)
    gt, pred = {}, {}
    for t, path in seq.mask_paths.items():
        gt[t] = load_mask(path)
        if 0 < t < seq.num_frames - 1:
            pred_path = pred_dir / name / f"{path.stem}.png"
            if not pred_path.is_file():
                raise FileNotFoundError(f"prediction missing: {pred_path}")
            pred[t] = load_mask(pred_path)
            if pred[t].shape != gt[t].shape:
                raise ValueError(
                    f"prediction {pred_path} is {pred[t].shape} (H, W) but the ground truth is {gt[t].shape}"
                )
    return name, evaluate_sequence(gt, pred, num_frames=seq.num_frames)


def score_folder(
    data_dir: str | Path,
    pred_dir: str | Path,
    sequences: list[str] | None = None,
    progress: bool = True,
    workers: int = 1,
) -> dict:
    """Score index-mask predictions `pred_dir`/<seq>/<frame>.png against the DAVIS-layout dataset `data_dir`.

    Returns {"summary": {"J&F", "J", "J-recall", "J-decay", "F", "F-recall", "F-decay"},
    "sequences": {seq: {"J&F", "J", "F", "objects": {id: {"J&F", "J", "J-recall", ..., "F-decay"}}}}},
    all in percent, averaged over objects. `workers` > 1 scores sequences in that many processes.
    """
    data_dir, pred_dir = Path(data_dir), Path(pred_dir)
    names = list_sequences(data_dir) if sequences is None else list(sequences)
    if not names:
        raise ValueError(f"no sequences to score in {data_dir}")
    jobs = [(data_dir, pred_dir, name) for name in names]
    if workers > 1:
        with Pool(min(workers, len(jobs))) as pool:
            results = dict(_progress(pool.imap(_score_one, jobs), len(jobs), progress))
    else:
        results = dict(_progress(map(_score_one, jobs), len(jobs), progress))

    for name in names:
        if not results[name]["objects"]:
            raise ValueError(f"sequence {name} in {data_dir} has no objects in its ground truth")
    return core.summarize({name: results[name] for name in names})


def _progress(results, total: int, enabled: bool):
    if not enabled:
        return results
    from tqdm import tqdm

    return tqdm(results, total=total, desc="scoring", unit="seq")
