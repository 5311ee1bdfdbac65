"""Calibration feeds for int8 quantisation: the exact inputs each fp32 graph sees while tracking training clips."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from mobilevos.runtime.ort_tracker import OrtTracker

from export.clips import ClipSet


def calibration_feeds(model_dir: Path, clips: ClipSet, capacities: list[int]) -> dict[str, list[dict]]:
    """Graph name (student_k<K>) -> input feeds recorded while the fp32 graphs track `clips`: the annotate call of
    each clip's first frame and the tracking calls of the others, so both calls' activation ranges are covered.

    A clip with more than K objects calibrates the capacity-K graph with its first K objects (never skipped: every
    capacity gets feeds even when all clips have several objects).
    """
    feeds = defaultdict(list)
    for k in capacities:
        tracker = OrtTracker(model_dir, "fp32", capacity=k)
        for clip in clips.clips:
            clip = clip.first_objects(k)
            annotate = tracker.annotate_feeds(clip.frames[0], clip.mask)
            feeds[tracker.graph_name].append(annotate)
            tracker.run_graph("annotate", annotate)
            for frame in clip.frames[1:]:
                track = tracker.track_feeds(frame)
                feeds[tracker.graph_name].append(track)
                tracker.run_graph("track", track)
    return dict(feeds)
