"""Session wrappers: the teacher (PyTorch `Tracker`, growing memory) and the student (`OrtTracker` on the exported
ONNX graphs and manifest, the files the browser runs) tracked on the same frames, with per-frame time, memory held
and agreement (IoU of the student's masks against the teacher's).

`Models` holds weights only and is loaded once per process; every call of `compare` makes its own trackers, so
concurrent users never share tracker memory. No gradio here.

    models = Models(*resolve_paths())                   # flags > MOBILEVOS_STUDENT_ONNX / MOBILEVOS_TEACHER > shipped
    result = compare(models, frames, first_mask)        # frames [T, H, W, 3] uint8 RGB; first_mask [H, W] ids
    scores = score(result, ground_truth)                # J&F of both, with mobilevos.eval.metrics
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mobilevos.data.davis import DAVIS_PALETTE
from mobilevos.eval.metrics import db_eval_iou, evaluate_sequence
from mobilevos.models.checkpoint import load_network, recorded_short_side, resolve as resolve_weights
from mobilevos.runtime.manifest import ManifestError, default_size, load_manifest
from mobilevos.runtime.ort_tracker import OrtTracker
from mobilevos.runtime.session import session_options
from mobilevos.track import VOID, Tracker

REPO = Path(__file__).resolve().parents[1]

DEFAULT_STUDENT = REPO / "web" / "public" / "models" / "student"  # the shipped export, in the checkout
SPACE_MODELS = Path(__file__).resolve().parent / "models"  # where build_space.py puts the models in a Space bundle
STUDENT_ENV, TEACHER_ENV = "MOBILEVOS_STUDENT_ONNX", "MOBILEVOS_TEACHER"


class ModelError(RuntimeError):
    """A model file that is missing or unusable, with what to do about it."""


def resolve_paths(student: str | Path | None = None, teacher: str | Path | None = None) -> tuple[Path, Path]:
    """The student's export folder and the teacher's weights: argument, else environment variable, else the shipped
    ones. The shipped student is the checkout's export, or the one beside app.py in a Space bundle; the shipped
    teacher is found on `mobilevos.models.checkpoint`'s weight search path, with the bundle's models/ first."""
    bundled = SPACE_MODELS / "student"
    student = Path(
        student
        or os.environ.get(STUDENT_ENV)
        or (bundled if not DEFAULT_STUDENT.exists() and bundled.exists() else DEFAULT_STUDENT)
    )
    if not (student / "manifest.json").is_file():
        raise ModelError(
            f"no exported student at {student} (manifest.json missing): run `python -m export` to make "
            f"it, or point --student-onnx / ${STUDENT_ENV} at an export folder"
        )
    teacher = teacher or os.environ.get(TEACHER_ENV)
    if teacher and not Path(teacher).is_file():
        raise ModelError(
            f"no teacher weights at {teacher}: train one (see the README) or point --teacher / "
            f"${TEACHER_ENV} at a .safetensors file"
        )
    if not teacher:
        try:
            teacher = resolve_weights("teacher", models_dir=SPACE_MODELS)
        except FileNotFoundError as err:
            raise ModelError(f"{err}; or point --teacher / ${TEACHER_ENV} at a .safetensors file") from err
    return student, Path(teacher)


class Models:
    """The teacher network and the student's export folder: weights only, shared by every session."""

    def __init__(self, student_dir: str | Path, teacher_path: str | Path, threads: int | None = None):
        self.student_dir = Path(student_dir)
        try:
            self.manifest = load_manifest(self.student_dir)  # checks every graph's size and sha256
        except (ManifestError, OSError) as err:
            raise ModelError(f"the student export at {self.student_dir} is unusable: {err}") from err
        try:
            self.teacher = load_network(teacher_path)
        except (OSError, ValueError, RuntimeError) as err:
            raise ModelError(f"cannot load the teacher from {teacher_path}: {err}") from err
        if self.teacher.cfg.kind != "teacher":
            raise ModelError(f"{teacher_path} holds a {self.teacher.cfg.kind} network, not the teacher")
        try:  # the teacher is server-side and may be slow: it runs at the input it was chosen at (its record's)
            self.teacher_short_side = recorded_short_side(teacher_path)
        except ValueError as err:
            raise ModelError(str(err)) from err
        self.threads = threads or torch.get_num_threads()
        self.student_size = default_size(self.manifest, "wasm")  # a CPU runs what WASM runs by default

    @property
    def variants(self) -> list[str]:
        return list(self.manifest["variants"])

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """The student's model sizes (H, W) (its graphs are dynamic; the export checked each), the default first."""
        return [(s["height"], s["width"]) for s in self.manifest["model"]["sizes"]]

    @property
    def short_side(self) -> int:
        """Frames are processed with this short side by default: the student's default size's."""
        return min(self.student_size)

    @property
    def max_objects(self) -> int:
        return max(self.manifest["objects"]["capacities"])

    def teacher_tracker(self, size: tuple[int, int] | None = None) -> Tracker:
        """The teacher at its own short side (`teacher_short_side`, from its shipped record: 480 for the shipped
        teacher, which sees the frames upsampled when they are smaller), else at the short side of the student's
        `size` (default: `student_size`). Its memory grows ("auto" = every 5th frame)."""
        return Tracker(self.teacher, short_side=self.teacher_short_side or min(size or self.student_size))

    def student_tracker(self, variant: str = "fp32", size: tuple[int, int] | None = None) -> OrtTracker:
        """The exported student of `variant` at model size `size` (one of `sizes`; default: `student_size`)."""
        options = session_options(self.threads)
        return OrtTracker(self.student_dir, variant, session_options=options, size=size or self.student_size)


def student_memory_nbytes(tracker: OrtTracker) -> int:
    """Bytes of the distinct arrays in the student's memory slots (the first frame's entry counted once)."""
    arrays = {id(a): a for pair in tracker.memory.values() for a in pair}
    return sum(a.nbytes for a in arrays.values())


@dataclass
class Comparison:
    """Both models on one clip. Per-frame arrays cover the tracked frames 1..T-1 (`frames`); masks cover 0..T-1,
    frame 0 being the annotation."""

    objects: list[int]
    variant: str
    size: tuple[int, int]  # the frames' (H, W)
    teacher_size: tuple[int, int]  # the teacher's model input (H, W)
    student_size: tuple[int, int]  # the student's model size (H, W)
    teacher_masks: np.ndarray  # [T, H, W] uint8 ids
    student_masks: np.ndarray
    teacher_ms: np.ndarray  # [T-1] wall time of each step, ms
    student_ms: np.ndarray
    teacher_bytes: np.ndarray  # [T-1] memory held after each step
    student_bytes: np.ndarray
    teacher_entries: np.ndarray  # [T-1] memory entries read by the next step
    student_entries: np.ndarray
    agreement: np.ndarray  # [T-1] IoU student vs teacher, mean over objects
    agreement_per_object: dict[int, np.ndarray]

    @property
    def frames(self) -> np.ndarray:
        return np.arange(1, len(self.teacher_masks))


def agreement(teacher: np.ndarray, student: np.ndarray, objects: list[int]) -> dict[int, float]:
    """IoU of each object's student mask against its teacher mask (1.0 when both are empty)."""
    return {obj: db_eval_iou(teacher == obj, student == obj) for obj in objects}


def compare(
    models: Models,
    frames: np.ndarray,
    annotation: np.ndarray,
    variant: str = "fp32",
    progress: Callable[[int, int], None] | None = None,
    size: tuple[int, int] | None = None,
) -> Comparison:
    """Track the objects of `annotation` (frame 0) through `frames` with both models, one frame at a time, the
    student at model size `size` (default: its first) and the teacher at `Models.teacher_tracker`'s short side."""
    teacher, student = models.teacher_tracker(size), models.student_tracker(variant, size)
    for tracker in (teacher, student):
        # Warm-up: the student opens its onnxruntime sessions on first use and both allocate on the first step;
        # that one-time cost is not per-frame cost. `start` resets the memory, so the second start begins afresh.
        tracker.start(frames[0], annotation)
        tracker.step(frames[1])
        tracker.start(frames[0], annotation)
    objects = teacher.objects
    first = np.where(annotation == VOID, 0, annotation).astype(np.uint8)
    t_masks, s_masks = [first], [first]
    rows = []
    for t in range(1, len(frames)):
        start = time.perf_counter()
        t_mask = teacher.step(frames[t]).mask
        middle = time.perf_counter()
        s_mask = student.step(frames[t]).mask
        end = time.perf_counter()
        t_masks.append(t_mask)
        s_masks.append(s_mask)
        rows.append(
            (
                (middle - start) * 1e3,
                (end - middle) * 1e3,
                teacher.memory.nbytes,
                student_memory_nbytes(student),
                teacher.memory.num_entries,
                len(student.memory),
                agreement(t_mask, s_mask, objects),
            )
        )
        if progress:
            progress(t, len(frames) - 1)
    per_object = {obj: np.array([r[6][obj] for r in rows]) for obj in objects}
    column = lambda i, dtype=np.float64: np.array([r[i] for r in rows], dtype)  # noqa: E731
    return Comparison(
        objects=objects,
        variant=variant,
        size=frames.shape[1:3],
        teacher_size=teacher.size,
        student_size=student.size,
        teacher_masks=np.stack(t_masks),
        student_masks=np.stack(s_masks),
        teacher_ms=column(0),
        student_ms=column(1),
        teacher_bytes=column(2, np.int64),
        student_bytes=column(3, np.int64),
        teacher_entries=column(4, np.int64),
        student_entries=column(5, np.int64),
        agreement=np.mean(list(per_object.values()), 0),
        agreement_per_object=per_object,
    )


def score(result: Comparison, ground_truth: dict[int, np.ndarray]) -> dict[str, dict] | None:
    """J&F (percent) of both models against ground truth at the processing size, scored as DAVIS does (frames
    1..T-2, objects of the ground truth); None when no such frame has ground truth."""
    n = len(result.teacher_masks)
    if not any(0 < t < n - 1 for t in ground_truth):
        return None
    objects = sorted({int(i) for m in ground_truth.values() for i in np.unique(m)} - {0, VOID})
    scores = {}
    for name, masks in (("teacher", result.teacher_masks), ("student", result.student_masks)):
        seq = evaluate_sequence(ground_truth, dict(enumerate(masks)), objects=objects, num_frames=n)
        per = seq["objects"].values()
        j = 100 * float(np.mean([o["J-mean"] for o in per]))
        f = 100 * float(np.mean([o["F-mean"] for o in per]))
        scores[name] = {
            "J&F": (j + f) / 2,
            "J": j,
            "F": f,
            "frames": seq["frames"],
            "J_per_frame": np.mean([o["J"] for o in per], 0).tolist(),
            "objects": objects,
        }
    return scores


def summary_rows(result: Comparison, scores: dict | None) -> list[list[str]]:
    """The summary table: [measure, teacher, student] rows of text."""
    mb = lambda b: f"{b / 2**20:.2f} MB"  # noqa: E731
    t_ms, s_ms = result.teacher_ms, result.student_ms
    (teacher_h, teacher_w), (student_h, student_w) = result.teacher_size, result.student_size
    rows = [
        ["frames tracked (after the annotated one)", str(len(t_ms)), str(len(s_ms))],
        ["runs as", f"PyTorch, {teacher_w}×{teacher_h}", f"ONNX {result.variant}, {student_w}×{student_h}"],
        ["mean ms / frame", f"{t_ms.mean():.1f}", f"{s_ms.mean():.1f}"],
        ["median ms / frame", f"{np.median(t_ms):.1f}", f"{np.median(s_ms):.1f}"],
        ["frames / second", f"{1000 / t_ms.mean():.1f}", f"{1000 / s_ms.mean():.1f}"],
        ["memory after the first frame", mb(result.teacher_bytes[0]), mb(result.student_bytes[0])],
        ["memory after the last frame", mb(result.teacher_bytes[-1]), mb(result.student_bytes[-1])],
        ["memory entries at the end", str(result.teacher_entries[-1]), str(result.student_entries[-1])],
        ["agreement with the teacher (mean IoU)", "—", f"{result.agreement.mean():.3f}"],
    ]
    if scores:
        for key in ("J&F", "J", "F"):
            rows.append([f"{key} vs ground truth", f"{scores['teacher'][key]:.1f}", f"{scores['student'][key]:.1f}"])
    return rows


def _png(mask: np.ndarray) -> bytes:
    image = Image.fromarray(mask, mode="P")
    image.putpalette(DAVIS_PALETTE.tobytes())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_results(path: str | Path, name: str, result: Comparison, scores: dict | None) -> Path:
    """A zip with both models' masks in DAVIS layout (teacher/<name>/00000.png ...) and metrics.json."""
    metrics = {
        "clip": name,
        "objects": result.objects,
        "size": list(result.size),
        "teacher_size": list(result.teacher_size),
        "student_variant": result.variant,
        "student_size": list(result.student_size),
        "frames": result.frames.tolist(),
        "agreement": result.agreement.tolist(),
        "agreement_per_object": {str(k): v.tolist() for k, v in result.agreement_per_object.items()},
        "teacher": {
            "ms": result.teacher_ms.tolist(),
            "memory_bytes": result.teacher_bytes.tolist(),
            "memory_entries": result.teacher_entries.tolist(),
        },
        "student": {
            "ms": result.student_ms.tolist(),
            "memory_bytes": result.student_bytes.tolist(),
            "memory_entries": result.student_entries.tolist(),
        },
        "scores": scores,
    }
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60] or "clip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metrics.json", json.dumps(metrics, indent=1))
        for model, masks in (("teacher", result.teacher_masks), ("student", result.student_masks)):
            for t, mask in enumerate(masks):
                archive.writestr(f"{model}/{safe}/{t:05d}.png", _png(mask))
    return Path(path)
