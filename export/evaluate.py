"""Measurements recorded in the manifest: tracking parity/accuracy of each variant and onnxruntime CPU speed.

Accuracy compares whole tracked clips (each tracker feeding on its own memory, as in use), at model resolution:
fp32 ONNX against the PyTorch `Tracker`, fp16 and int8 against fp32 ONNX. Per capacity K, the K-object graph runs
the clip's objects padded to K; a clip with more than K objects is tracked with its first K (by the reference too).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from tqdm import tqdm

from mobilevos.eval.metrics import db_eval_iou
from mobilevos.models.network import SpaceTimeNetwork
from mobilevos.runtime.ort_tracker import OrtTracker
from mobilevos.runtime.session import open_session, session_options
from mobilevos.track import Tracker

from export.clips import Clip, ClipSet
from export.graphs import FEATURE_OUTPUTS

FEATURES = {name for name, _ in FEATURE_OUTPUTS}

# The parity the fp32 graphs must keep with PyTorch (export fails otherwise).
FP32_MAX_ABS_PROB = 1e-3
FP32_MIN_MEAN_IOU = 0.99
# Pixels whose two most likely reference classes are closer than this are left out of mask IoUs: rounding decides
# such ties (common with an untrained head, where all objects get nearly the same probability).
TIE_MARGIN = 1e-3


@torch.inference_mode()
def track_reference(net: SpaceTimeNetwork, clip: Clip) -> list[np.ndarray]:
    """Probabilities [N+1, H, W] of frames 1.. tracked by the PyTorch tracker (frames are at model resolution)."""
    tracker = Tracker(net, short_side=min(clip.mask.shape))
    tracker.start(clip.frames[0], clip.mask)
    return [tracker.step(frame).prob for frame in clip.frames[1:]]


def track_onnx(tracker: OrtTracker, clip: Clip) -> list[np.ndarray]:
    """Probabilities [N+1, H, W] of frames 1.. tracked with the exported graphs, at model resolution."""
    tracker.start(clip.frames[0], clip.mask)
    return [tracker.step_model(frame) for frame in clip.frames[1:]]


def mask_ious(reference: np.ndarray, prob: np.ndarray) -> list[float]:
    """Per-object IoU of the argmax masks of two [N+1, H, W] probability maps, ignoring reference ties."""
    top2 = np.partition(reference, -2, axis=0)[-2:]
    ties = top2[1] - top2[0] < TIE_MARGIN
    ref_mask, mask = reference.argmax(0), prob.argmax(0)
    return [db_eval_iou(ref_mask == i, mask == i, ties) for i in range(1, reference.shape[0])]


def compare(reference: list[np.ndarray], probs: list[np.ndarray]) -> dict:
    """Mask IoUs (per object and frame) and |Δprob| statistics of one tracked clip against a reference."""
    ious, diffs = [], []
    for ref, prob in zip(reference, probs, strict=True):
        ious += mask_ious(ref, prob)
        diffs.append(np.abs(ref - prob))
    diffs = np.stack(diffs)
    return {
        "frames": len(probs),
        "ious": ious,
        "max": float(diffs.max()),
        "sum": float(diffs.sum()),
        "count": diffs.size,
    }


def summarise(results: list[dict]) -> dict:
    """Pool per-clip comparisons: frames, mean and min IoU, max and mean |Δprob|."""
    ious = [i for r in results for i in r["ious"]]
    return {
        "frames": sum(r["frames"] for r in results),
        "mean_iou": round(float(np.mean(ious)), 5),
        "min_iou": round(float(np.min(ious)), 5),
        "max_abs_prob": float(f"{max(r['max'] for r in results):.3g}"),
        "mean_abs_prob": float(f"{sum(r['sum'] for r in results) / sum(r['count'] for r in results):.3g}"),
    }


def measure_accuracy(
    net: SpaceTimeNetwork,
    model_dir: Path,
    variants: list[str],
    capacities: list[int],
    clips: ClipSet,
    threads: int,
    size: tuple[int, int] | None = None,
) -> dict:
    """variant -> {reference, clips, k<K>: summary} for every exported variant and capacity, with the graphs run at
    model size `size` (default: the manifest's first; the clips must be at that size).

    `variants` must start with fp32, the reference of the others.
    """
    options = session_options(threads)
    references = {}  # (clip index, objects tracked) -> PyTorch probabilities

    def reference(i: int, clip: Clip) -> list[np.ndarray]:
        if (i, clip.num_objects) not in references:
            references[i, clip.num_objects] = track_reference(net, clip)
        return references[i, clip.num_objects]

    fp32_probs = {}  # (capacity, clip index) -> fp32 ONNX probabilities
    results = {}
    for variant in variants:
        entry = {"reference": "PyTorch Tracker" if variant == "fp32" else "fp32 graphs", "clips": clips.source}
        for k in capacities:
            tracker = OrtTracker(model_dir, variant, session_options=options, capacity=k, size=size)
            comparisons = []
            for i, clip in enumerate(tqdm(clips.clips, desc=f"{variant} k{k}", leave=False)):
                clip = clip.first_objects(k)  # more objects than this capacity holds: its first k
                probs = track_onnx(tracker, clip)
                if variant == "fp32":
                    fp32_probs[k, i] = probs
                comparisons.append(compare(reference(i, clip) if variant == "fp32" else fp32_probs[k, i], probs))
            entry[f"k{k}"] = summarise(comparisons)
        results[variant] = entry
    return results


def fp32_parity_failures(accuracy: dict) -> list[str]:
    """Capacities where the fp32 graphs miss the parity bounds against PyTorch (empty when all pass)."""
    failures = []
    for key, summary in accuracy["fp32"].items():
        if key.startswith("k") and (
            summary["max_abs_prob"] > FP32_MAX_ABS_PROB or summary["mean_iou"] < FP32_MIN_MEAN_IOU
        ):
            failures.append(
                f"{key}: max |Δprob| {summary['max_abs_prob']} (bound {FP32_MAX_ABS_PROB}), "
                f"mean IoU {summary['mean_iou']} (bound {FP32_MIN_MEAN_IOU})"
            )
    return failures


def random_feeds(graph: dict, seed: int = 0, annotate: float = 0.0) -> dict[str, np.ndarray]:
    """Inputs of the right shapes for timing: a random frame, random memory, all slots valid; by default a track
    call (annotate = 0, masks zero), with `annotate=1` an annotate call (masks all one)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for t in graph["inputs"]:
        if t["name"] == "valid":
            feeds[t["name"]] = np.ones(t["shape"], np.float32)
        elif t["name"] in ("annotate", "masks"):
            feeds[t["name"]] = np.full(t["shape"], annotate, np.float32)
        elif len(t["shape"]) == 4 and t["shape"][-1] == 4:
            feeds[t["name"]] = rng.integers(0, 256, t["shape"]).astype(np.float32)
        else:
            feeds[t["name"]] = rng.standard_normal(t["shape"]).astype(np.float32)
    return feeds


def session_ms(path: Path, threads: int = 1, runs: int = 3) -> float:
    """Median milliseconds to create an onnxruntime CPU session from the file at `path` (read and optimise)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        open_session(path, session_options(threads))
        times.append(time.perf_counter() - start)
    return round(1000 * float(np.median(times)), 1)


def benchmark(
    model_dir: Path, graphs: list[dict], threads: int = 1, warmup: int = 5, runs: int = 20
) -> dict[str, tuple[float, float]]:
    """Graph name -> (median onnxruntime CPU milliseconds per track call, median session creation milliseconds),
    with `threads` threads. A track call fetches the tracking outputs only (not the prompt head's features)."""
    timings = {}
    for graph in tqdm(graphs, desc="benchmark", leave=False):
        created = session_ms(model_dir / graph["file"], threads)
        session = open_session(model_dir / graph["file"], session_options(threads))
        fetch = [t["name"] for t in graph["outputs"] if t["name"] not in FEATURES]
        timings[graph["name"]] = (median_run_ms(session, fetch, random_feeds(graph), warmup, runs), created)
    return timings


def median_run_ms(session: ort.InferenceSession, fetch: list[str] | None, feeds: dict, warmup: int, runs: int) -> float:
    """Median milliseconds of `session.run(fetch, feeds)` over `runs` runs after `warmup` untimed ones."""
    for _ in range(warmup):
        session.run(fetch, feeds)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(fetch, feeds)
        times.append(time.perf_counter() - start)
    return round(1000 * float(np.median(times)), 2)
