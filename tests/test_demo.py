"""The Gradio Space (demo/app.py) end to end: started as `python demo/app.py` on a loopback port and driven with
gradio_client. Checks that what it reports equals running the two trackers directly, its input errors, its frame cap,
per-request temporary folders, and two concurrent users. Untrained models; about 1-2 minutes on 2 busy cores."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file

from demo_support import APP, REPO, AppProcess, make_dev_models
from mobilevos.data.davis import write_mask
from mobilevos.data.synth import generate_clip
from mobilevos.eval.metrics import db_eval_iou, evaluate_sequence
from mobilevos.eval.prompt import iou
from mobilevos.models.checkpoint import find_shipped, load_network
from mobilevos.prompts import centre_click, next_click, tight_box
from mobilevos.runtime.ort_tracker import OrtTracker
from mobilevos.track import Tracker

SAMPLE = "synthetic (2 objects, known masks)"
MAX_FRAMES = 7  # the app's frame cap in these tests: the 60-frame sample is cut (and the user told)
SIZE = (240, 320)  # the dev student's export size: frames of this size are processed as they are


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_dev_models(tmp_path_factory.getbasetemp() / "demo-models")


@pytest.fixture(scope="module")
def app(models, tmp_path_factory):
    process = AppProcess(
        models, tmp_path_factory.mktemp("app"), "--max-frames", str(MAX_FRAMES), "--max-upload-mb", "1"
    )
    yield process
    process.stop()


def client(app) -> Client:
    return Client(app.url, verbose=False)


def run_app(c: Client, layers=(), use_sample=False, mask=None, truth=(), frames=MAX_FRAMES):
    """The /run endpoint; `layers` are editor stroke layers (RGBA PNG paths), as the browser sends them."""
    editor = {"background": None, "layers": [handle_file(str(p)) for p in layers], "composite": None}
    return c.predict(
        editor,
        use_sample,
        handle_file(str(mask)) if mask else None,
        [handle_file(str(p)) for p in truth],
        frames,
        "fp32",
        api_name="/run",
    )


def read_results(path: str) -> tuple[dict, dict[str, np.ndarray]]:
    with zipfile.ZipFile(path) as archive:
        metrics = json.loads(archive.read("metrics.json"))
        masks = {}
        for model in ("teacher", "student"):
            names = sorted(n for n in archive.namelist() if n.startswith(model + "/"))
            masks[model] = np.stack([np.array(Image.open(io.BytesIO(archive.read(n)))) for n in names])
    return metrics, masks


def run_direct(models, frames: np.ndarray, annotation: np.ndarray) -> dict:
    """The two trackers run directly, as a user of the library would."""
    teacher = Tracker(load_network(models.teacher), short_side=240)
    student = OrtTracker(models.student_onnx, "fp32")
    teacher.start(frames[0], annotation)
    student.start(frames[0], annotation)
    out = {"teacher": [annotation], "student": [annotation], "teacher_bytes": [], "student_bytes": []}
    for frame in frames[1:]:
        out["teacher"].append(teacher.step(frame).mask)
        out["student"].append(student.step(frame).mask)
        out["teacher_bytes"].append(teacher.memory.nbytes)
        out["student_bytes"].append(
            sum(a.nbytes for a in {id(a): a for kv in student.memory.values() for a in kv}.values())
        )
    out["teacher"], out["student"] = np.stack(out["teacher"]), np.stack(out["student"])
    return out


def assert_same_masks(got: np.ndarray, want: np.ndarray) -> None:
    """Equal up to rare float-rounding flips between processes (thread counts may differ)."""
    assert got.shape == want.shape
    assert np.mean(got == want) > 0.995


def check_against_direct(metrics, masks, direct, objects):
    assert metrics["objects"] == objects
    assert_same_masks(masks["teacher"], direct["teacher"])
    assert_same_masks(masks["student"], direct["student"])
    assert metrics["teacher"]["memory_bytes"] == direct["teacher_bytes"]
    assert metrics["student"]["memory_bytes"] == direct["student_bytes"]
    want = [
        np.mean([db_eval_iou(t == o, s == o) for o in objects])
        for t, s in zip(direct["teacher"][1:], direct["student"][1:])
    ]
    np.testing.assert_allclose(metrics["agreement"], want, atol=0.02)
    assert len(metrics["teacher"]["ms"]) == len(direct["teacher"]) - 1
    assert all(ms > 0 for ms in metrics["teacher"]["ms"] + metrics["student"]["ms"])


def write_video(path: Path, frames) -> Path:
    """RGB frames -> an MJPG AVI (OpenCV writes it everywhere)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def video_frames(path: str) -> list[np.ndarray]:
    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def test_sample_matches_the_trackers_run_directly(app, models):
    c = client(app)
    editor, status, slider, use_sample, click_image, _click_help = c.predict(SAMPLE, api_name="/load_sample")
    assert f"cut to its first {MAX_FRAMES} frames" in status  # cut, and said so
    assert slider["maximum"] == MAX_FRAMES and use_sample["value"] is True and Path(editor["background"]).is_file()
    assert Path(click_image).is_file()  # the first frame to click on
    out = run_app(c, use_sample=True)
    teacher_video, student_video, *_plots, table, results, _slider, frame_image, run_status = out
    for video in (teacher_video, student_video):
        frames = video_frames(video)
        assert len(frames) == MAX_FRAMES and frames[0].shape[:2] == SIZE
    assert Path(frame_image).is_file()
    assert {"mean ms / frame", "memory after the last frame", "J&F vs ground truth"} <= {r[0] for r in table["data"]}

    frames, truth = generate_clip(0, 60, SIZE)
    frames, truth = frames[:MAX_FRAMES], truth[:MAX_FRAMES]
    direct = run_direct(models, frames, truth[0])
    metrics, masks = read_results(results)
    check_against_direct(metrics, masks, direct, [1, 2])
    # the teacher keeps every 5th frame: its memory grows; the student's never does
    assert metrics["teacher"]["memory_entries"] == [2, 2, 2, 2, 3, 3]
    assert metrics["teacher"]["memory_bytes"][-1] > metrics["teacher"]["memory_bytes"][0]
    assert len(set(metrics["student"]["memory_bytes"])) == 1 and metrics["student"]["memory_entries"] == [2] * 6
    for model in ("teacher", "student"):
        want = evaluate_sequence(
            dict(enumerate(truth)), dict(enumerate(direct[model])), objects=[1, 2], num_frames=MAX_FRAMES
        )
        j = 100 * np.mean([o["J-mean"] for o in want["objects"].values()])
        f = 100 * np.mean([o["F-mean"] for o in want["objects"].values()])
        assert metrics["scores"][model]["J&F"] == pytest.approx((j + f) / 2, abs=1.0)
    assert "J&F vs ground truth" in run_status
    assert app.request_folders() == []  # the request's files are gone


def test_video_with_mask_png_and_ground_truth_zip(app, models, tmp_path):
    frames, truth = generate_clip(3, MAX_FRAMES + 4, SIZE)
    video = write_video(tmp_path / "clip.avi", frames)  # lossy: the reference decodes the same file as the app
    write_mask(tmp_path / "first.png", truth[0])
    with zipfile.ZipFile(tmp_path / "truth.zip", "w") as archive:
        for t, mask in enumerate(truth):
            write_mask(tmp_path / "gt" / f"{t:05d}.png", mask)
            archive.write(tmp_path / "gt" / f"{t:05d}.png", f"clip/Annotations/clip/{t:05d}.png")

    c = client(app)
    editor, status, _, use_sample, *_ = c.predict(handle_file(str(video)), api_name="/load_video")
    assert f"cut to its first {MAX_FRAMES} frames" in status and use_sample["visible"] is False
    assert "click on each object" in status
    # the uploaded mask is shown on the first frame, and the status says it will be used instead of asking to paint
    shown, status = c.predict(handle_file(str(tmp_path / "first.png")), False, api_name="/show_mask")
    assert "The uploaded mask **first.png**" in status and "click on each object" not in status
    assert f"cut to its first {MAX_FRAMES} frames" in status
    plain, marked = (np.array(Image.open(e["background"]).convert("RGB")).astype(int) for e in (editor, shown))
    inside = truth[0] > 0
    assert np.abs(marked - plain)[inside].mean() > 20 and np.abs(marked - plain)[~inside].mean() < 2
    out = run_app(c, mask=tmp_path / "first.png", truth=[tmp_path / "truth.zip"], frames=4)
    metrics, masks = read_results(out[6])
    decoded = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in video_frames(str(video))[:4]])
    objects = [int(i) for i in np.unique(truth[0]) if i]
    check_against_direct(metrics, masks, run_direct(models, decoded, truth[0]), objects)
    assert metrics["scores"]["student"]["objects"] == objects
    assert f"Tracking the first 4 of {MAX_FRAMES}" in out[-1]


def test_brush_colours_map_to_object_ids(app, tmp_path):
    """Strokes as the editor sends them (RGBA, antialiased edges, two layers) -> ids by nearest brush colour."""
    c = client(app)
    c.predict(SAMPLE, api_name="/load_sample")
    layer = np.zeros((*SIZE, 4), np.uint8)
    cv2.circle(layer, (80, 120), 40, (255, 59, 48, 255), -1, cv2.LINE_AA)  # red: object 1
    cv2.circle(layer, (240, 120), 30, (52, 199, 89, 255), -1, cv2.LINE_AA)  # green: object 2
    Image.fromarray(layer, "RGBA").save(tmp_path / "strokes.png")
    top = np.zeros((*SIZE, 4), np.uint8)
    top[110:130, 60:100] = (10, 132, 255, 255)  # blue over the red: object 3, later layers win
    Image.fromarray(top, "RGBA").save(tmp_path / "top.png")
    out = run_app(c, layers=[tmp_path / "strokes.png", tmp_path / "top.png"], frames=3)
    metrics, masks = read_results(out[6])
    first = masks["teacher"][0]
    assert metrics["objects"] == [1, 2, 3]
    assert first[120, 70] == 3 and first[100, 80] == 1 and first[120, 240] == 2 and first[10, 10] == 0
    want = np.zeros(SIZE, np.uint8)
    cv2.circle(want, (80, 120), 40, 1, -1)
    cv2.circle(want, (240, 120), 30, 2, -1)
    want[110:130, 60:100] = 3
    assert np.mean(first == want) > 0.995  # antialiased rims may go either way


def expect_error(call, *fragments):
    with pytest.raises(gradio_client.exceptions.AppError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_bad_inputs_give_clear_errors(app, tmp_path):
    c = client(app)
    expect_error(lambda: run_app(c), "Upload a video or load a sample first")
    (tmp_path / "broken.mp4").write_bytes(b"this is not a video")
    expect_error(
        lambda: c.predict(handle_file(str(tmp_path / "broken.mp4")), api_name="/load_video"), "Cannot read broken.mp4"
    )
    short = write_video(tmp_path / "short.avi", [np.zeros((48, 64, 3), np.uint8)] * 2)
    expect_error(lambda: c.predict(handle_file(str(short)), api_name="/load_video"), "at least 3")
    for name, (w, h), want in (("huge.avi", (4160, 2340), "4K"), ("wide.avi", (300, 100), "aspect ratio")):
        write_video(tmp_path / name, [np.zeros((h, w, 3), np.uint8)] * 3)
        expect_error(lambda path=tmp_path / name: c.predict(handle_file(str(path)), api_name="/load_video"), want)
    (tmp_path / "big.mp4").write_bytes(os.urandom(3 * 2**20 // 2))  # over the app's --max-upload-mb 1
    with pytest.raises(Exception, match=r"(?i)size|large|limit"):
        c.predict(handle_file(str(tmp_path / "big.mp4")), api_name="/load_video")

    c.predict(SAMPLE, api_name="/load_sample")
    expect_error(lambda: run_app(c), "no object marked")  # nothing painted, no mask file
    write_mask(tmp_path / "empty.png", np.zeros(SIZE, np.uint8))
    expect_error(lambda: run_app(c, mask=tmp_path / "empty.png"), "no object marked")
    write_mask(tmp_path / "small.png", np.ones((100, 100), np.uint8))
    expect_error(lambda: run_app(c, mask=tmp_path / "small.png"), "100×100", "must be one of these sizes")
    Image.fromarray(np.zeros((*SIZE, 3), np.uint8)).save(tmp_path / "rgb.png")
    expect_error(lambda: run_app(c, mask=tmp_path / "rgb.png"), "not an index PNG")
    many = np.zeros(SIZE, np.uint8)
    for i in range(5):
        many[10:20, 10 + 30 * i : 30 + 30 * i] = i + 1
    write_mask(tmp_path / "many.png", many)
    expect_error(lambda: run_app(c, mask=tmp_path / "many.png"), "5 objects", "at most 4")

    one = np.zeros(SIZE, np.uint8)
    one[50:100, 50:100] = 1
    write_mask(tmp_path / "one.png", one)
    unknown = one.copy()
    unknown[150:200, 150:200] = 7
    write_mask(tmp_path / "00000.png", one)
    write_mask(tmp_path / "00001.png", unknown)
    expect_error(
        lambda: run_app(c, mask=tmp_path / "one.png", truth=[tmp_path / "00000.png", tmp_path / "00001.png"]),
        "object id(s) 7",
        "does not have",
    )
    (tmp_path / "bad.zip").write_bytes(b"PK not really")
    expect_error(lambda: run_app(c, mask=tmp_path / "one.png", truth=[tmp_path / "bad.zip"]), "not a valid zip")
    assert app.request_folders() == []


def test_two_concurrent_users_both_complete(app):
    results, errors = {}, []

    def user(name):
        try:
            c = client(app)
            c.predict(SAMPLE, api_name="/load_sample")
            results[name] = read_results(run_app(c, use_sample=True, frames=4)[6])[0]
        except Exception as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=user, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors and set(results) == {"a", "b"}
    # the same input gives the same figures: no state leaked between the two sessions
    assert results["a"]["teacher"]["memory_bytes"] == results["b"]["teacher"]["memory_bytes"]
    np.testing.assert_allclose(results["a"]["agreement"], results["b"]["agreement"], atol=0.02)
    assert app.request_folders() == []


def test_binds_to_loopback_and_reports_missing_models(app, models, monkeypatch):
    assert app.url.startswith("http://127.0.0.1:")
    environment = {**os.environ, "MOBILEVOS_TEACHER": str(models.teacher)}
    done = subprocess.run(
        [sys.executable, str(APP), "--student-onnx", "/nonexistent/student"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "no exported student at /nonexistent/student" in done.stderr and "--student-onnx" in done.stderr

    spec = importlib.util.spec_from_file_location("demo_inference", APP.parent / "inference.py")
    inference = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, inference)  # dataclasses look their module up there
    spec.loader.exec_module(inference)
    monkeypatch.setenv("MOBILEVOS_STUDENT_ONNX", str(models.student_onnx))
    monkeypatch.setenv("MOBILEVOS_TEACHER", "/nonexistent/teacher.safetensors")
    with pytest.raises(inference.ModelError, match=r"no teacher weights at /nonexistent/teacher\.safetensors"):
        inference.resolve_paths()
    assert inference.resolve_paths(teacher=models.teacher) == (models.student_onnx, models.teacher)  # flag > env
    monkeypatch.delenv("MOBILEVOS_STUDENT_ONNX")
    shipped = REPO / "web" / "public" / "models" / "student"  # the default
    if (shipped / "manifest.json").is_file():
        assert inference.resolve_paths(teacher=models.teacher)[0] == shipped
    else:
        with pytest.raises(inference.ModelError, match="web/public/models/student"):
            inference.resolve_paths(teacher=models.teacher)


def test_space_bundle_finds_its_models(models, tmp_path):
    out = tmp_path / "space"
    done = subprocess.run(
        [
            sys.executable,
            str(APP.parent / "build_space.py"),
            "--out",
            str(out),
            "--student-onnx",
            str(models.student_onnx),
            "--teacher",
            str(models.teacher),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for name in (
        "app.py",
        "clicks.py",
        "handlers.py",
        "inference.py",
        "inputs.py",
        "viz.py",
        "README.md",
        "requirements.txt",
        "mobilevos/track.py",
        "mobilevos/runtime/ort_tracker.py",
        "mobilevos/runtime/manifest.py",
        "models/student/manifest.json",
        "models/teacher.safetensors",
        "models/prompt_head.safetensors",
        "models/student.safetensors",
        ".gitattributes",
    ):
        assert (out / name).is_file(), name
    assert not (out / "export").exists()  # the Space runs the graphs through mobilevos.runtime only
    card = (out / "README.md").read_text()
    assert "sdk: gradio" in card and "sdk_version: 6.31.0" in card and "app_file: app.py" in card
    assert "gradio==6.31.0" in (out / "requirements.txt").read_text()
    environment = {k: v for k, v in os.environ.items() if k not in ("MOBILEVOS_STUDENT_ONNX", "MOBILEVOS_TEACHER")}
    environment["PYTHONPATH"] = ""  # the bundle's own mobilevos, not the checkout's
    # The bundle tracks a frame with its own package and models; `export` (importable from this checkout's
    # installation) is blocked, so a leftover import of it would fail here as it would on the Space.
    script = """
import sys
sys.modules["export"] = None
import numpy as np
import clicks
import inference
from mobilevos.runtime import ort_tracker
student, teacher = inference.resolve_paths()
tracker = ort_tracker.OrtTracker(student)
frame = np.full((240, 320, 3), 90, np.uint8)
mask = np.zeros((240, 320), np.uint8)
mask[80:160, 100:220] = 1
tracker.start(frame, mask)
print(tracker.step(frame).mask.shape, student, teacher, ort_tracker.__file__)
prompt_head = clicks.PromptModel(clicks.resolve_prompt_head())
first = clicks.ClickSession(prompt_head, frame, (240, 320))
first.add(1, 120, 160, "positive")
print(prompt_head.head_path, first.mask().shape)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=out, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("(240, 320) ")
    assert str(out / "models" / "student") in done.stdout and str(out / "models" / "teacher.safetensors") in done.stdout
    assert str(out / "mobilevos" / "runtime" / "ort_tracker.py") in done.stdout
    assert f"{out / 'models' / 'prompt_head.safetensors'} (240, 320)" in done.stdout  # the bundle's head and student


def test_a_larger_model_input_runs_both_models_at_its_short_side(app, models):
    """The size dropdown: the clip is read again at the chosen size's short side, the student runs its (dynamic)
    graphs at that size and the teacher at the same short side; their masks match the trackers run directly."""
    c = client(app)
    c.predict(SAMPLE, api_name="/load_sample")
    _editor, status, *_ = c.predict("480x640", api_name="/change_size")
    assert "processed at 640×480" in status
    *_, table, results, _slider, _image, _status = run_app(c, use_sample=True, frames=3)
    assert ["runs as", "PyTorch, 640×480", "ONNX fp32, 640×480"] in table["data"]
    metrics, masks = read_results(results)
    assert metrics["student_size"] == [480, 640] and masks["student"].shape == (3, 480, 640)
    frames, truth = generate_clip(0, 60, (480, 640))  # the sample, read again at 480
    frames, truth = frames[:3], truth[:3]
    student = OrtTracker(models.student_onnx, "fp32", size=(480, 640))
    student.start(frames[0], truth[0])
    assert_same_masks(masks["student"][1:], np.stack([student.step(f).mask for f in frames[1:]]))
    expect_error(lambda: c.predict("100x100", api_name="/change_size"), "100x100 is not in the list of choices")


def test_size_choices_list_the_sizes_smallest_first_naming_each_backends_default(monkeypatch):
    """The size dropdown of a student exported at four 4:3 sizes (the default first in its manifest, as the Balanced
    student's) and their 16:9 and portrait partners: the 4:3 ones, smallest first, with WASM's and WebGPU's defaults
    named — the Space keeps a clip's aspect at the size's short side, so the others would repeat short sides."""
    monkeypatch.syspath_prepend(str(APP.parent))
    handlers = importlib.import_module("handlers")
    inputs = importlib.import_module("inputs")
    default_size = {"wasm": [240, 320], "webgpu": [480, 640]}
    models = SimpleNamespace(
        sizes=[(240, 320), (480, 640), (224, 288), (208, 272), (176, 320), (320, 240), (368, 208)],
        manifest={"model": {"default_size": default_size}},
    )
    space = handlers.Handlers(models, None, inputs.Limits())
    assert space.size_choices() == [
        ("208×272", "208x272"),
        ("224×288", "224x288"),
        ("240×320 (WASM default)", "240x320"),
        ("480×640 (WebGPU default)", "480x640"),
    ]


def test_clicks_mask_the_sample_objects_and_track_them(models, monkeypatch):
    """The Click tab's callbacks in process (a click's position comes only from the page; test_demo_browser.py clicks
    in Chromium): the shipped prompt head on the shipped student's features masks the synthetic sample's two objects
    from clicks at the IoUs measured here (0.950 for object 1 after one click, 0.961 / 0.934 after three, 0.951 /
    0.918 from boxes), the masks are drawn into the Brush tab's picture, and Track tracks what was clicked."""
    import gradio as gr

    if find_shipped("prompt_head") is None or find_shipped("student") is None:
        pytest.skip("no shipped prompt head and student on the weight search path")
    monkeypatch.syspath_prepend(str(APP.parent))
    clicks = importlib.import_module("clicks")
    handlers = importlib.import_module("handlers")
    inference = importlib.import_module("inference")
    inputs = importlib.import_module("inputs")
    space = handlers.Handlers(
        inference.Models(models.student_onnx, models.teacher, threads=1),
        clicks.PromptModel(clicks.resolve_prompt_head()),
        inputs.Limits(max_frames=MAX_FRAMES),
    )
    on, off, corner = handlers.CLICK_KINDS  # the radio's labels: positive, negative, box corner
    assert clicks.head_input((480, 640)) == clicks.head_input((240, 320)) == (240, 320)  # the head's training scale

    def click(obj, kind, y, x, session, mask_file=None):
        """A click on frame pixel (y, x), as the page sends it: in the pixels of the view, 420 / 240 times larger."""
        index = [round((x + 0.5) * 1.75), round((y + 0.5) * 1.75)]
        select = gr.SelectData(None, {"index": index, "value": None})
        return space.click(obj, kind, None, mask_file, False, session, select)

    with pytest.raises(gr.Error, match="load a sample first"):
        click(1, on, 10, 10, None)
    *_, session = space.load_sample(SAMPLE)
    _, truth = generate_clip(0, 1, SIZE)
    target = {obj: truth[0] == obj for obj in (1, 2)}

    def ious(session):
        mask = session["clicks"].mask()
        return {obj: iou(mask == obj, t) for obj, t in target.items()}

    for obj in (1, 2):
        c = centre_click(target[obj], True)
        view, editor, text, session = click(obj, on, c.y, c.x, session)
    assert ious(session)[1] >= 0.9  # object 2, long and thin, needs more clicks
    for _ in range(2):
        for obj in (1, 2):
            c = next_click(session["clicks"].mask() == obj, target[obj])
            view, editor, text, session = click(obj, on if c.positive else off, c.y, c.x, session)
    assert min(ious(session).values()) >= 0.9
    assert "object 1: " in text and "object 2: 3 on it, 0 off it" in text
    first = session["clip"].frames[0]
    assert view.shape == (420, 560, 3)  # the frame shown 1.75 times larger, for clicking
    view = cv2.resize(view, SIZE[::-1], interpolation=cv2.INTER_AREA)
    assert (view[target[2]] != first[target[2]]).any(axis=-1).mean() > 0.9  # the masks are drawn on the frame ...
    assert (editor["background"][target[2]] != first[target[2]]).any(axis=-1).mean() > 0.9  # ... and in the editor

    _, _, text, session = space.clear_clicks(2, None, False, session)
    assert "object 1: " in text and "object 2" not in text
    y0, x0, y1, x1 = tight_box(target[2])
    *_, text, session = click(2, corner, y0, x0, session)
    assert "a box corner (click the opposite one)" in text and "object 2" in text
    *_, session = click(2, corner, y1, x1, session)
    assert ious(session)[2] >= 0.88
    with pytest.raises(gr.Error, match="outside the 320×240 frame"):
        click(1, on, 241, 5, session)
    _, editor, text, _ = click(1, on, *centre_click(target[1], True)[:2], session, mask_file="mask.png")
    assert editor == gr.skip()  # the editor keeps showing the uploaded mask
    assert "replaces the clicks" in text

    *_, status, session = next(
        space.run({"layers": []}, False, None, None, 3, "fp32", session, progress=lambda *a, **k: None)
    )
    assert "Tracked 2 frames" in status and "2 object(s) (1, 2)" in status
    assert (session["result"].teacher_masks[0] == session["clicks"].mask()).all()  # tracked from the click masks


def test_the_teacher_runs_at_the_short_side_of_its_record(models, tmp_path, monkeypatch):
    """A teacher shipped with a record (`mobilevos ship` writes metrics.short_side) runs at that short side whatever
    the student's model input, as the shipped teacher runs at 480; without a record it runs at the student's; a broken
    record is a ModelError that names the file; the Space bundle carries the record."""
    monkeypatch.syspath_prepend(str(APP.parent))
    inference = importlib.import_module("inference")
    teacher = tmp_path / "teacher.safetensors"
    teacher.write_bytes(models.teacher.read_bytes())
    assert inference.Models(models.student_onnx, teacher, threads=1).teacher_tracker((240, 320)).short_side == 240
    teacher.with_suffix(".json").write_text(json.dumps({"metrics": {"short_side": 480}}))
    space = inference.Models(models.student_onnx, teacher, threads=1)
    assert space.teacher_short_side == 480
    frames, truth = generate_clip(0, 3, SIZE)
    result = inference.compare(space, frames, truth[0], size=SIZE)
    assert result.teacher_size == (480, 640) and result.student_size == SIZE
    assert result.teacher_masks.shape == (3, *SIZE)  # masks come back at the frames' size
    assert ["runs as", "PyTorch, 640×480", "ONNX fp32, 320×240"] in inference.summary_rows(result, None)
    teacher.with_suffix(".json").write_text(json.dumps({"metrics": {}}))
    with pytest.raises(inference.ModelError, match=r"teacher\.json is not a usable model record"):
        inference.Models(models.student_onnx, teacher, threads=1)
    teacher.with_suffix(".json").write_text(json.dumps({"metrics": {"short_side": 480}}))
    out = tmp_path / "space"
    build = [sys.executable, str(APP.parent / "build_space.py"), "--out", str(out)]
    done = subprocess.run(
        [*build, "--student-onnx", str(models.student_onnx), "--teacher", str(teacher)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "models" / "teacher.json").read_text())["metrics"]["short_side"] == 480


@pytest.mark.parametrize("name", ["student_fast", "student_pruned"])
def test_an_option_student_runs_beside_the_teacher(monkeypatch, name):
    """`--student-onnx web/public/models/<name>` puts the page's Fast student (the dense key encoder) or its default
    Balanced one (Lite0 pruned) beside the shipped teacher: each tracks a synthetic clip's two objects (the Fast one
    95.1 J&F when written, the teacher 98.8)."""
    monkeypatch.syspath_prepend(str(APP.parent))
    inference = importlib.import_module("inference")
    space = inference.Models(*inference.resolve_paths(REPO / "web/public/models" / name, None), threads=1)
    frames, truth = generate_clip(7, 6, SIZE)
    scores = inference.score(inference.compare(space, frames, truth[0]), dict(enumerate(truth)))
    assert scores["student"]["objects"] == [1, 2]
    assert scores["student"]["J&F"] > 85 and scores["teacher"]["J&F"] > 85, scores
