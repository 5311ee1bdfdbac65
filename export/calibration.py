"""Calibration feeds for int8 quantisation: the exact inputs each fp32 graph sees while tracking training clips."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from export.clips import ClipSet
from export.ort_tracker import OrtTracker


def calibration_feeds(model_dir: Path, clips: ClipSet, capacities: list[int]) -> dict[str, list[dict]]:
    """Graph name (init_k<K>, step_k<K>) -> input feeds recorded while the fp32 graphs track `clips`."""
    feeds = defaultdict(list)
    for k in capacities:
        tracker = OrtTracker(model_dir, "fp32", capacity=k)
        for clip in clips.clips:
            if clip.num_objects > k:
                continue
            init = tracker.init_feeds(clip.frames[0], clip.mask)
            feeds[f"init_k{k}"].append(init)
            tracker.run_graph("init", init)
            for frame in clip.frames[1:]:
                step = tracker.step_feeds(frame)
                feeds[f"step_k{k}"].append(step)
                tracker.run_graph("step", step)
    return dict(feeds)
