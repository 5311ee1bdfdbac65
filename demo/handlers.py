"""The Space's callbacks: load a video or a sample, click objects to masks, show an uploaded mask, track with both
models, inspect a frame.

The first frame's annotation is built in layers: the sample's own mask (when ticked), the click masks over it, the
brush strokes over those; an uploaded mask PNG replaces all three.

Each returns what Gradio shows; bad input raises gr.Error with the reason (inputs.InputError's message).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np

import inputs
import viz
from clicks import ClickSession, PromptModel, head_input
from inference import Models, compare, score, summary_rows, write_results
from mobilevos.runtime.manifest import same_shape

DEFAULT_FRAMES = 60
CLICK_KINDS = {"on the object (+)": "positive", "off it (−)": "negative", "box corners": "box"}  # radio label -> kind
CLICK_VIEW_HEIGHT = 420  # the click view's height in pixels; the frame is scaled up to it (or down)
CLICK_HELP = (
    "Click on an object to mask it; more clicks correct the mask (on the object to add, off it to remove), or click "
    "two opposite corners of a box. The mask goes to the Brush tab, where strokes paint over it."
)


def _fail(err: Exception) -> gr.Error:
    return gr.Error(str(err), title="Cannot do that")


def _tell(notes: list[str], warn: bool) -> None:
    for note in notes:
        (gr.Warning if warn else gr.Info)(note)


def _editor_value(clip: inputs.Clip, mask: np.ndarray | None = None) -> dict:
    """The first frame to paint on, with `mask` (a sample's own, the clicks', or an uploaded PNG) drawn into the
    picture: Gradio 6.31's editor does not display layers it is given, and drops them once the user paints; run()
    uses the mask."""
    frame = clip.frames[0]
    if mask is not None:
        frame = viz.overlay(frame, mask, viz.by_id(mask))
    return {"background": frame, "layers": [], "composite": None}


def _base_annotation(clip: inputs.Clip, use_sample_mask: bool, session: dict) -> np.ndarray | None:
    """The first-frame mask before brush strokes: the sample's own (when ticked) with the click masks over it."""
    base = clip.annotation if use_sample_mask and clip.annotation is not None else None
    clicked = session["clicks"].mask() if session.get("clicks") else None
    if clicked is None or base is None:
        return clicked if base is None else base
    return np.where(clicked > 0, clicked, base).astype(np.uint8)


def _todo(clip: inputs.Clip, use_sample_mask: bool) -> str:
    """What to do next on the first frame: click or paint, or (a sample with its mask ticked) add to its mask."""
    if use_sample_mask and clip.annotation is not None:
        return (
            "The sample's own first-frame mask is shown and will be used; clicks and strokes add to it, or untick "
            "the box to mark objects yourself."
        )
    return (
        "Now click on each object (**Click** tab) or paint over it (**Brush** tab, one colour per object), then "
        "press **Track**."
    )


def _status(clip: inputs.Clip, todo: str) -> str:
    (h, w), (sh, sw) = clip.size, clip.source_size
    notes = "".join(f"\n\n⚠️ {n}" for n in clip.notes)
    return (
        f"**{clip.name}**: {len(clip.frames)} frames at {clip.fps:.0f} fps, {sw}×{sh}, processed at {w}×{h}."
        f"{notes}\n\n{todo}"
    )


def _view_scale(clip: inputs.Clip) -> float:
    """How much larger than the frame the click view is shown (clicks come back in the view's pixels)."""
    return CLICK_VIEW_HEIGHT / clip.size[0]


def _loaded(clip: inputs.Clip, default_frames: int, session: dict):
    _tell(clip.notes, warn=True)
    sample = clip.annotation is not None
    frames = gr.update(maximum=len(clip.frames), value=min(len(clip.frames), default_frames))
    use_sample = gr.update(visible=sample, value=sample)
    status = _status(clip, _todo(clip, sample))
    view = viz.click_view(clip.frames[0], None, {}, _view_scale(clip))
    return _editor_value(clip, clip.annotation), status, frames, use_sample, view, CLICK_HELP, session


def size_value(size: tuple[int, int]) -> str:
    """A model size as the size dropdown's value: "HxW"."""
    return f"{size[0]}x{size[1]}"


class Handlers:
    """The callbacks of one Space, bound to its models, limits and samples folder."""

    def __init__(self, models: Models, prompts: PromptModel, limits: inputs.Limits, davis_root: str | None = None):
        self.models, self.prompts, self.limits, self.davis_root = models, prompts, limits, davis_root
        self.palette = viz.OBJECT_COLOURS[: limits.max_objects]
        self.default_frames = min(DEFAULT_FRAMES, limits.max_frames)

    def size_choices(self) -> list[tuple[str, str]]:
        """(label, value) of each student model size of the first size's shape, smallest first, e.g. ("480×640
        (WebGPU's default)", "480x640"): the Space reads a clip at the size's short side, its own aspect kept, so an
        export's 16:9 or portrait sizes (for the web app's letterbox) would repeat short sides."""
        defaults = self.models.manifest["model"]["default_size"]
        shaped = [s for s in self.models.sizes if same_shape(s, self.models.sizes[0])]
        choices = []
        for size in sorted(shaped, key=lambda s: s[0] * s[1]):
            used = [name for name, key in (("WASM", "wasm"), ("WebGPU", "webgpu")) if list(size) == defaults[key]]
            label = f"{size[0]}×{size[1]}" + (f" ({' and '.join(used)} default)" if used else "")
            choices.append((label, size_value(size)))
        return choices

    def _size(self, value: str | None) -> tuple[int, int]:
        size = tuple(int(v) for v in value.split("x")) if value else self.models.student_size
        if size not in self.models.sizes:
            raise gr.Error(f"Unknown model size {value!r}; have {', '.join(map(size_value, self.models.sizes))}.")
        return size

    def load_video(self, video, size_value=None):
        """An uploaded video read at the short side of the chosen model size: the first frame to mark, its status,
        the frame slider."""
        if not video:
            raise gr.Error("Upload a video first.")
        size = self._size(size_value)
        try:
            clip = inputs.read_video(video, min(size), self.limits)
        except inputs.InputError as err:
            raise _fail(err) from None
        return _loaded(clip, self.default_frames, {"clip": clip, "size": size, "source": ("video", video)})

    def load_sample(self, name, size_value=None):
        """A bundled or $MOBILEVOS_DAVIS sample, with its own first-frame mask shown (as load_video otherwise)."""
        size = self._size(size_value)
        try:
            clip = inputs.load_sample(name, min(size), self.limits, self.davis_root)
        except (inputs.InputError, OSError, ValueError) as err:
            raise _fail(err) from None
        return _loaded(clip, self.default_frames, {"clip": clip, "size": size, "source": ("sample", name)})

    def change_size(self, size_value, session):
        """Another model size: the loaded clip is read again at its short side (the marks start over)."""
        source = (session or {}).get("source")
        if source is None:
            return (gr.skip(),) * 7
        kind, value = source
        return (self.load_video if kind == "video" else self.load_sample)(value, size_value)

    def toggle_sample_mask(self, use, session):
        """Show or hide the sample's own mask on the first frame (under the click masks), and say what to do next."""
        clip = (session or {}).get("clip")
        if clip is None:
            return gr.skip(), gr.skip()
        return _editor_value(clip, _base_annotation(clip, use, session)), _status(clip, _todo(clip, use))

    def click(self, obj, kind, editor, mask_file, use_sample_mask, session, evt: gr.SelectData):
        """A click on the first frame for object `obj`: the prompt head's masks and the prompts drawn on the frame,
        the editor's picture with them, what each object has, the session."""
        clip = (session or {}).get("clip")
        if clip is None:
            raise gr.Error("Upload a video or load a sample first, then click on the objects in its first frame.")
        if kind not in CLICK_KINDS or obj not in range(1, self.limits.max_objects + 1):
            raise gr.Error(f"Pick an object 1..{self.limits.max_objects} and what a click adds.")
        x, y = (int(v / _view_scale(clip)) for v in evt.index)
        clicks = session.get("clicks") or ClickSession(self.prompts, clip.frames[0], head_input(session["size"]))
        try:
            clicks.add(obj, y, x, CLICK_KINDS[kind])
        except ValueError as err:
            raise _fail(err) from None
        if inputs.mask_from_layers((editor or {}).get("layers") or [], self.palette, clip.size).any():
            gr.Warning("The brush strokes were cleared: the editor now shows the click masks. Paint after clicking.")
        return self._clicked(clip, mask_file, use_sample_mask, {**session, "clicks": clicks})

    def clear_clicks(self, obj, mask_file, use_sample_mask, session):
        """Forget object `obj`'s clicks and mask."""
        clip = (session or {}).get("clip")
        if clip is None or not session.get("clicks"):
            return (gr.skip(),) * 4
        session["clicks"].clear(obj)
        return self._clicked(clip, mask_file, use_sample_mask, session)

    def _clicked(self, clip, mask_file, use_sample_mask, session):
        """The click view, the editor's picture, what each object has (or how to click, once none has anything)."""
        clicks = session["clicks"]
        view = viz.click_view(clip.frames[0], clicks.mask(), clicks.objects, _view_scale(clip))
        text = (
            f"{clicks.describe()}. Press **Track**, or refine in the **Brush** tab." if clicks.objects else CLICK_HELP
        )
        if mask_file:  # the uploaded mask stays what the editor shows and what is tracked
            note = "⚠️ The uploaded mask PNG replaces the clicks: remove it to use them."
            return view, gr.skip(), f"{text}\n\n{note}", session
        return view, _editor_value(clip, _base_annotation(clip, use_sample_mask, session)), text, session

    def show_mask_file(self, mask_file, use_sample_mask, session):
        """An uploaded mask PNG is checked and shown on the first frame (the brush strokes no longer count); removing
        it brings the editor back."""
        clip = (session or {}).get("clip")
        if clip is None:
            if mask_file:
                raise gr.Error("Upload a video or load a sample first, then the mask of its first frame.")
            return gr.skip(), gr.skip()
        if not mask_file:
            mask = _base_annotation(clip, use_sample_mask, session)
            return _editor_value(clip, mask), _status(clip, _todo(clip, use_sample_mask))
        try:
            mask = inputs.mask_from_png(mask_file, clip, self.limits)
            objects = inputs.check_annotation(mask, self.limits)
        except inputs.InputError as err:
            raise _fail(err) from None
        todo = (
            f"The uploaded mask **{Path(mask_file).name}** ({len(objects)} object(s): "
            f"{', '.join(map(str, objects))}) is shown on the first frame and will be used as the annotation "
            "(clicks and brush strokes are ignored while it is there). Press **Track**."
        )
        return _editor_value(clip, mask), _status(clip, todo)

    def run(self, editor, use_sample_mask, mask_file, gt_files, num_frames, variant, session, progress=gr.Progress()):  # noqa: B008 (Gradio injects the tracker through this default)
        """Track the marked objects with teacher and student; yields both videos, plots, table, zip and status."""
        clip = (session or {}).get("clip")
        if clip is None:
            raise gr.Error("Upload a video or load a sample first.")
        if variant not in self.models.variants:
            raise gr.Error(f"Unknown student variant {variant!r}; have {', '.join(self.models.variants)}.")
        count = int(max(3, min(num_frames or len(clip.frames), len(clip.frames))))
        part = inputs.Clip(
            clip.name, clip.frames[:count], clip.fps, clip.source_size, clip.annotation, clip.ground_truth, []
        )
        try:
            if mask_file:
                annotation = inputs.mask_from_png(mask_file, part, self.limits)
            else:
                strokes = inputs.mask_from_layers((editor or {}).get("layers") or [], self.palette, part.size)
                base = _base_annotation(clip, use_sample_mask, session)
                base = np.zeros_like(strokes) if base is None else base
                annotation = np.where(strokes > 0, strokes, base).astype(np.uint8)  # strokes paint over the rest
            objects = inputs.check_annotation(annotation, self.limits)
            if gt_files:
                truth = inputs.load_ground_truth(gt_files, part, objects, self.limits)
            else:
                truth = inputs.sample_ground_truth(part)
                if truth is not None:  # a sample whose annotation the user changed: score the marked objects
                    truth = {t: np.where(np.isin(m, [*objects, 255]), m, 0).astype(np.uint8) for t, m in truth.items()}
        except inputs.InputError as err:
            raise _fail(err) from None
        if count < len(clip.frames):
            part.notes.append(f"Tracking the first {count} of {len(clip.frames)} loaded frames (slider).")
        _tell(part.notes, warn=False)

        progress((0, count - 1), desc="Tracking", unit="frames")
        tick = lambda t, total: progress((t, total), desc="Tracking", unit="frames")  # noqa: E731
        result = compare(self.models, part.frames, annotation, variant, progress=tick, size=session["size"])
        scores = score(result, truth) if truth else None
        if truth and scores is None:
            gr.Info("Ground truth covers none of frames 1..n-2, so J&F is not computed.")

        workdir = Path(tempfile.mkdtemp(prefix="mobilevos-space-"))  # this request's files only
        figures = []
        try:
            progress(1.0, desc="Writing videos")
            teacher_video = viz.overlay_video(
                part.frames, result.teacher_masks, objects, "teacher", workdir / "teacher", clip.fps
            )
            student_video = viz.overlay_video(
                part.frames, result.student_masks, objects, "student", workdir / "student", clip.fps
            )
            x = result.frames
            per_frame_j = [{"frames": s["frames"], "J": s["J_per_frame"]} for s in scores.values()] if scores else []
            figures = [
                viz.agreement_plot(x, result.agreement, result.agreement_per_object, *per_frame_j),
                viz.speed_plot(x, result.teacher_ms, result.student_ms),
                viz.memory_plot(
                    x, result.teacher_bytes, result.student_bytes, result.teacher_entries, result.student_entries
                ),
            ]
            table = summary_rows(result, scores)
            zip_path = write_results(workdir / "mobilevos-results.zip", clip.name, result, scores)
            middle = count // 2
            session = {**session, "part": part, "result": result}
            status = (
                f"Tracked {count - 1} frames after the annotated one; {len(objects)} object(s) "
                f"({', '.join(map(str, objects))}); student variant {variant}. Agreement (mean IoU student vs "
                f"teacher): **{result.agreement.mean():.3f}**."
                + (
                    f" J&F vs ground truth: teacher **{scores['teacher']['J&F']:.1f}**, student "
                    f"**{scores['student']['J&F']:.1f}**."
                    if scores
                    else ""
                )
                + "".join(f"\n\nℹ️ {n}" for n in part.notes)
            )
            yield (
                str(teacher_video),
                str(student_video),
                *figures,
                table,
                str(zip_path),
                gr.update(maximum=count - 1, value=middle),
                self.frame_image(session, middle),
                status,
                session,
            )
        finally:  # Gradio has copied the files into its cache by the time the generator resumes
            for fig in figures:
                viz.close(fig)
            shutil.rmtree(workdir, ignore_errors=True)

    def frame_image(self, session, index):
        """Frame `index` of the last run: teacher | student | where they differ (None before a run)."""
        if not session or "result" not in session:
            return None
        result, frames = session["result"], session["part"].frames
        index = int(min(max(index, 0), len(frames) - 1))
        return viz.compare_frame(
            frames[index], result.teacher_masks[index], result.student_masks[index], result.objects, index
        )
