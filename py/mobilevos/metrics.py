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
"""

from __future__ import annotations

import math
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

from mobilevos.data.davis import list_sequences, load_mask, read_sequence

VOID = 255


def db_eval_iou(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None) -> float:
    """Region similarity J of two binary [H, W] masks, ignoring `void` pixels; 1.0 when both are empty."""
    gt, pred = np.asarray(gt, bool), np.asarray(pred, bool)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in size")
    care = np.ones_like(gt) if void is None else ~np.asarray(void, bool)
    union = np.count_nonzero((gt | pred) & care)
    if union == 0:
        return 1.0
    return np.count_nonzero(gt & pred & care) / union


def seg2bmap(mask: np.ndarray) -> np.ndarray:
    """1-pixel-wide boundary map of a binary mask, offset half a pixel towards the origin (Martin et al. 2003).

    A pixel is on the boundary when it differs from its right, lower or lower-right neighbour; beyond the last row and
    column the image is taken to continue unchanged, so the image border itself is not a boundary.
    """
    seg = np.asarray(mask, bool)
    padded = np.pad(seg, ((0, 1), (0, 1)), mode="edge")
    return (seg != padded[:-1, 1:]) | (seg != padded[1:, :-1]) | (seg != padded[1:, 1:])


def _disk(radius: int) -> np.ndarray:
    offsets = np.arange(-radius, radius + 1)
    return (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2).astype(np.uint8)


def boundary_radius(shape: tuple[int, ...], bound_th: float = 0.008) -> int:
    """Matching tolerance in pixels: `bound_th` itself when ≥ 1, else ceil(bound_th × image diagonal)."""
    return int(bound_th) if bound_th >= 1 else int(math.ceil(bound_th * math.hypot(shape[0], shape[1])))


def db_eval_boundary(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None,
                     bound_th: float = 0.008) -> float:
    """Boundary F-measure of two binary [H, W] masks (void pixels removed from both before taking boundaries)."""
    gt, pred = np.asarray(gt, bool), np.asarray(pred, bool)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in size")
    if void is not None:
        care = ~np.asarray(void, bool)
        gt, pred = gt & care, pred & care
    gt_b, pred_b = seg2bmap(gt), seg2bmap(pred)
    n_gt, n_pred = np.count_nonzero(gt_b), np.count_nonzero(pred_b)
    # An empty boundary on one side is perfect precision (or recall) but zero of the other, so F = 0; both empty: 1.
    if n_gt == 0 or n_pred == 0:
        return 1.0 if n_gt == n_pred else 0.0
    disk = _disk(boundary_radius(gt.shape, bound_th))
    gt_near = cv2.dilate(gt_b.view(np.uint8), disk).view(bool)
    pred_near = cv2.dilate(pred_b.view(np.uint8), disk).view(bool)
    precision = np.count_nonzero(pred_b & gt_near) / n_pred
    recall = np.count_nonzero(gt_b & pred_near) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def db_statistics(per_frame: list[float] | np.ndarray) -> dict[str, float]:
    """Mean, recall (fraction > 0.5) and decay of per-frame values, as DAVIS `db_statistics` computes them.

    Decay: the frames are split into 4 bins at round(linspace(1, n, 5)) − 1 (bin i runs from edge i to edge i+1
    inclusive, so neighbouring bins share a frame) and decay = mean(first bin) − mean(last bin).
    """
    values = np.asarray(per_frame, np.float64)
    if values.size == 0:
        raise ValueError("no per-frame values to summarise")
    edges = (np.round(np.linspace(1, values.size, 5) + 1e-10) - 1).astype(np.int64)
    first, last = values[edges[0]:edges[1] + 1], values[edges[3]:edges[4] + 1]
    return {"mean": float(values.mean()), "recall": float(np.mean(values > 0.5)),
            "decay": float(first.mean() - last.mean())}


def evaluate_sequence(gt_masks: dict[int, np.ndarray], pred_masks: dict[int, np.ndarray],
                      objects: list[int] | None = None, *, num_frames: int | None = None,
                      bound_th: float = 0.008) -> dict:
    """Score one sequence; masks are index masks keyed by frame index.

    Scores every frame 1 … n−2 that has ground truth (n = `num_frames`, default one past the last frame index seen
    in either dict); each needs a prediction. `objects` defaults to every id (other than 0 and 255) in the ground
    truth. Returns fractions (0–1): {"frames": [...], "objects": {id: {"J": per-frame list, "F": ...,
    "J-mean", "J-recall", "J-decay", "F-mean", "F-recall", "F-decay"}}}.
    """
    n = num_frames if num_frames is not None else 1 + max([*gt_masks, *pred_masks], default=-1)
    frames = sorted(t for t in gt_masks if 0 < t < n - 1)
    if not frames:
        raise ValueError(f"no frame with ground truth among frames 1..n-2 (n = {n}); nothing to score")
    missing = [t for t in frames if t not in pred_masks]
    if missing:
        raise ValueError(f"no prediction for frames {missing}")
    if objects is None:
        ids = np.unique(np.concatenate([np.unique(m) for m in gt_masks.values()]))
        objects = [int(i) for i in ids if i not in (0, VOID)]
    per_object = {obj: {"J": [], "F": []} for obj in objects}
    for t in frames:
        gt, pred = np.asarray(gt_masks[t]), np.asarray(pred_masks[t])
        if gt.shape != pred.shape:
            raise ValueError(f"frame {t}: prediction is {pred.shape} but ground truth is {gt.shape}")
        void = gt == VOID
        for obj in objects:
            per_object[obj]["J"].append(db_eval_iou(gt == obj, pred == obj, void))
            per_object[obj]["F"].append(db_eval_boundary(gt == obj, pred == obj, void, bound_th))
    for scores in per_object.values():
        for metric in ("J", "F"):
            for stat, value in db_statistics(scores[metric]).items():
                scores[f"{metric}-{stat}"] = value
    return {"frames": frames, "objects": per_object}


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
                raise ValueError(f"prediction {pred_path} is {pred[t].shape} (H, W) but the ground truth is "
                                 f"{gt[t].shape}")
    return name, evaluate_sequence(gt, pred, num_frames=seq.num_frames)


def _percent(values: list[float]) -> float:
    return 100.0 * float(np.mean(values))


def score_folder(data_dir: str | Path, pred_dir: str | Path, sequences: list[str] | None = None,
                 progress: bool = True, workers: int = 1) -> dict:
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

    keys = ("J-mean", "J-recall", "J-decay", "F-mean", "F-recall", "F-decay")
    all_objects = {key: [] for key in keys}
    per_sequence = {}
    for name in names:
        if not results[name]["objects"]:
            raise ValueError(f"sequence {name} in {data_dir} has no objects in its ground truth")
        objects = {}
        for obj, scores in results[name]["objects"].items():
            row = {key.replace("-mean", ""): 100.0 * scores[key] for key in keys}
            row["J&F"] = (row["J"] + row["F"]) / 2
            objects[obj] = row
            for key in keys:
                all_objects[key].append(scores[key])
        j = float(np.mean([o["J"] for o in objects.values()]))
        f = float(np.mean([o["F"] for o in objects.values()]))
        per_sequence[name] = {"J&F": (j + f) / 2, "J": j, "F": f, "objects": objects}
    summary = {key.replace("-mean", ""): _percent(values) for key, values in all_objects.items()}
    summary = {"J&F": (summary["J"] + summary["F"]) / 2, **summary}
    return {"summary": summary, "sequences": per_sequence}


def _progress(results, total: int, enabled: bool):
    if not enabled:
        return results
    from tqdm import tqdm

    return tqdm(results, total=total, desc="scoring", unit="seq")
