"""Drawing for the Space: object colours, overlays with outlines, the overlay videos and the comparison plots.

Object k of an annotation (k = 0, 1, ... in annotation order) has colour `OBJECT_COLOURS[k]`, the same colour as the
brush that marks it in the editor, so what a user paints is what they get back.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")  # no display on a Space; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np

from mobilevos.track import VOID

OBJECT_COLOURS = np.array([(255, 59, 48), (52, 199, 89), (10, 132, 255), (255, 204, 0)], np.uint8)
"""RGB colour of object 1..4 (index 0..3); also the editor's brush colours."""
BRUSH_COLOURS = ["#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb)) for rgb in OBJECT_COLOURS]
TEACHER_COLOUR, STUDENT_COLOUR = "#7c3aed", "#ea580c"
DISAGREE_COLOUR = np.array([255, 0, 255], np.uint8)


def colour_of(position: int) -> np.ndarray:
    """Colour of the object at `position` in the annotation order."""
    return OBJECT_COLOURS[position % len(OBJECT_COLOURS)]


def colourise(mask: np.ndarray, objects: list[int]) -> np.ndarray:
    """Index mask -> RGBA image: each object in its colour, opaque; background transparent (an editor layer)."""
    rgba = np.zeros((*mask.shape, 4), np.uint8)
    for position, obj in enumerate(objects):
        rgba[mask == obj] = (*colour_of(position), 255)
    return rgba


def overlay(
    frame: np.ndarray,
    mask: np.ndarray,
    objects: list[int],
    label: str | None = None,
    alpha: float = 0.45,
    outline: int = 2,
) -> np.ndarray:
    """Frame with each object filled at `alpha` in its colour and outlined `outline` px; optional corner label."""
    out = frame.astype(np.float32)
    edges = []
    for position, obj in enumerate(objects):
        inside = mask == obj
        if not inside.any():
            continue
        out[inside] = (1 - alpha) * out[inside] + alpha * colour_of(position)
        ring = inside & ~cv2.erode(inside.view(np.uint8), np.ones((2 * outline + 1,) * 2, np.uint8)).view(bool)
        edges.append((ring, colour_of(position)))
    out = out.astype(np.uint8)
    for ring, colour in edges:
        out[ring] = colour
    if label:
        _label(out, label)
    return out


def by_id(mask: np.ndarray) -> list[int]:
    """Objects 1..max of an index mask, so that `overlay` colours object k with brush colour k (the first-frame views,
    where a user may mark object 2 and no object 1)."""
    top = int(np.where(mask == VOID, 0, mask).max())
    return list(range(1, top + 1))


def click_view(frame: np.ndarray, mask: np.ndarray | None, prompts: dict, scale: float) -> np.ndarray:
    """The first frame with the clicked objects' masks and their prompts (object id -> `clicks.ObjectPrompts`), shown
    `scale` times the frame's size (Gradio shows an image no larger than it is: a 240-line frame would be small): a
    dot in the object's colour for a click on it, a black dot for a click off it, its box, a box's first corner."""
    out = frame if mask is None else overlay(frame, mask, by_id(mask))
    out = cv2.resize(out, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    at = lambda y, x: (round((x + 0.5) * scale - 0.5), round((y + 0.5) * scale - 0.5))  # noqa: E731 (cv2's (x, y))
    for obj, p in prompts.items():
        colour = tuple(int(c) for c in colour_of(obj - 1))
        if p.box is not None:
            y0, x0, y1, x1 = p.box
            cv2.rectangle(out, at(y0, x0), at(y1, x1), colour, 2)
        if p.corner is not None:
            cv2.drawMarker(out, at(*p.corner), (255, 255, 255), cv2.MARKER_CROSS, 16, 4)
            cv2.drawMarker(out, at(*p.corner), colour, cv2.MARKER_CROSS, 14, 2)
        for c in p.clicks:
            cv2.circle(out, at(c.y, c.x), 7, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(out, at(c.y, c.x), 5, colour if c.positive else (0, 0, 0), -1, cv2.LINE_AA)
    return out


def _label(image: np.ndarray, text: str) -> None:
    """White text on black in the bottom-left corner (the page puts its own labels top-left)."""
    scale = max(0.4, image.shape[0] / 600)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    bottom = image.shape[0]
    cv2.rectangle(image, (0, bottom - h - base - 8), (w + 8, bottom), (0, 0, 0), -1)
    cv2.putText(image, text, (4, bottom - base - 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def disagreement(frame: np.ndarray, teacher: np.ndarray, student: np.ndarray) -> np.ndarray:
    """Grey frame with the pixels where the two masks differ in magenta."""
    grey = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB) // 2
    grey[teacher != student] = DISAGREE_COLOUR
    return grey


def compare_frame(
    frame: np.ndarray, teacher: np.ndarray, student: np.ndarray, objects: list[int], index: int
) -> np.ndarray:
    """teacher overlay | student overlay | disagreement, side by side, for the frame inspector."""
    gap = np.full((frame.shape[0], 4, 3), 255, np.uint8)
    diff = disagreement(frame, teacher, student)
    _label(diff, "differ")
    return np.concatenate(
        [
            overlay(frame, teacher, objects, f"teacher {index}"),
            gap,
            overlay(frame, student, objects, f"student {index}"),
            gap,
            diff,
        ],
        1,
    )


def write_video(frames: list[np.ndarray] | np.ndarray, path: str | Path, fps: float) -> Path:
    """RGB frames -> a VP8 WebM file (plays in every current browser; written by OpenCV, no ffmpeg binary needed)."""
    path = Path(path).with_suffix(".webm")
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP80"), float(fps), (width, height))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write VP8/WebM video on this machine")
    try:
        writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def overlay_video(
    frames: np.ndarray, masks: np.ndarray, objects: list[int], name: str, path: str | Path, fps: float
) -> Path:
    """Overlays of every frame, labelled "<name> <frame index>", as a WebM video."""
    return write_video(
        [overlay(f, m, objects, f"{name} {t}") for t, (f, m) in enumerate(zip(frames, masks))], path, fps
    )


# ---- plots (one small matplotlib figure each; app.py hands them to gr.Plot) ----


def _figure(title: str, ylabel: str):
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=100, layout="constrained")
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("frame")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def _legend(ax) -> None:
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)


def agreement_plot(
    frames: np.ndarray,
    agreement: np.ndarray,
    per_object: dict[int, np.ndarray],
    j_teacher: dict | None = None,
    j_student: dict | None = None,
):
    """Per-frame IoU of the student's masks against the teacher's (mean over objects, and per object when several);
    with ground truth, each model's per-frame J (mean over objects) dashed."""
    fig, ax = _figure("Agreement: IoU student vs teacher", "IoU")
    ax.plot(frames, agreement, color="black", lw=2, label=f"mean over objects ({np.mean(agreement):.3f})")
    if len(per_object) > 1:
        for position, (obj, values) in enumerate(per_object.items()):
            ax.plot(frames, values, color=colour_of(position) / 255, lw=1, alpha=0.8, label=f"object {obj}")
    for name, scores, colour in (("teacher", j_teacher, TEACHER_COLOUR), ("student", j_student, STUDENT_COLOUR)):
        if scores:
            ax.plot(scores["frames"], scores["J"], "--", color=colour, lw=1.2, label=f"{name} J vs ground truth")
    ax.set_ylim(-0.02, 1.02)
    _legend(ax)
    return fig


def speed_plot(frames: np.ndarray, teacher_ms: np.ndarray, student_ms: np.ndarray):
    fig, ax = _figure("Time per frame (this CPU)", "ms / frame")
    ax.plot(frames, teacher_ms, color=TEACHER_COLOUR, label=f"teacher (median {np.median(teacher_ms):.0f} ms)")
    ax.plot(frames, student_ms, color=STUDENT_COLOUR, label=f"student (median {np.median(student_ms):.0f} ms)")
    ax.set_ylim(bottom=0)
    _legend(ax)
    return fig


def memory_plot(
    frames: np.ndarray,
    teacher_bytes: np.ndarray,
    student_bytes: np.ndarray,
    teacher_entries: np.ndarray,
    student_entries: np.ndarray,
):
    """Memory held after each frame, in MB: the teacher's grows, the student's stays flat."""
    fig, ax = _figure("Memory held (keys + values)", "MB")
    mb = 1 / 2**20
    ax.step(
        frames,
        teacher_bytes * mb,
        where="post",
        color=TEACHER_COLOUR,
        label=f"teacher ({teacher_entries[-1]} entries at the end)",
    )
    ax.step(
        frames,
        student_bytes * mb,
        where="post",
        color=STUDENT_COLOUR,
        label=f"student ({student_entries[-1]} entries, always)",
    )
    ax.set_ylim(bottom=0)
    _legend(ax)
    return fig


def close(fig) -> None:
    plt.close(fig)
