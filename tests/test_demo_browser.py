"""The Gradio Space in headless Chromium (Debian's /usr/bin/chromium through the Python `playwright` package, no
browser download): load the sample, track it, check what the page shows and take a screenshot; then upload a video,
paint an object with the mouse and track it. Every request must stay on the loopback address.

Screenshots go to the test's temporary folder; with MOBILEVOS_SCREENSHOT_DIR=docs/screenshots they are also saved
there as space-sample.png and space-brush.png (the committed ones are made with trained models:
MOBILEVOS_TEST_STUDENT_ONNX / MOBILEVOS_TEST_TEACHER)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

import cv2
import pytest

pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api")

from demo_support import AppProcess, make_dev_models  # noqa: E402
from mobilevos.data.synth import generate_clip  # noqa: E402

CHROMIUM = Path(os.environ.get("MOBILEVOS_CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MAX_FRAMES = 12
TRACK_TIMEOUT_MS = 240_000

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM}")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    models = make_dev_models(tmp_path_factory.getbasetemp() / "demo-models")
    process = AppProcess(models, tmp_path_factory.mktemp("browser-app"), "--max-frames", str(MAX_FRAMES))
    yield process
    process.stop()


@pytest.fixture()
def page(tmp_path):
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            page = context.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.set_default_timeout(60_000)
            yield page
        finally:
            context.close()
    hosts = {urlparse(u).hostname for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts <= {"127.0.0.1"}, f"requests left the machine: {sorted(hosts)}"


def save(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("MOBILEVOS_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)
    return path


def wait_tracked(page) -> str:
    status = page.locator("#run-status")
    sync_api.expect(status).to_contain_text(re.compile(r"Tracked \d+ frames"), timeout=TRACK_TIMEOUT_MS)
    return status.inner_text()


def test_sample_in_the_browser(app, page, tmp_path):
    page.goto(app.url)
    sync_api.expect(page).to_have_title(re.compile("MobileVOS"))
    page.get_by_role("button", name="Load sample").click()
    sync_api.expect(page.locator("#load-status")).to_contain_text("processed at 320×240")
    sync_api.expect(page.get_by_text(f"cut to its first {MAX_FRAMES} frames").first).to_be_visible()  # told
    page.get_by_role("button", name="Track", exact=True).click()
    text = wait_tracked(page)
    assert f"Tracked {MAX_FRAMES - 1} frames" in text and "J&F vs ground truth" in text
    for video in ("#teacher-video video", "#student-video video"):
        sync_api.expect(page.locator(video)).to_have_attribute("src", re.compile(r"\.webm"))
    sync_api.expect(page.locator("#summary")).to_contain_text("memory after the last frame")
    inspector = page.locator("#inspect-image img")
    inspector.scroll_into_view_if_needed()  # loaded lazily: only once on screen
    sync_api.expect(inspector).to_be_visible()
    page.mouse.wheel(0, -10_000)
    page.wait_for_timeout(1500)  # let the plots and the first video frames paint
    shot = save(page, tmp_path, "space-sample.png")
    assert shot.stat().st_size > 50_000
    assert app.request_folders() == []


def test_paint_an_object_and_track(app, page, tmp_path):
    frames, _ = generate_clip(5, 6, (240, 320))
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()

    page.goto(app.url)
    page.locator("#video-input input[type=file]").set_input_files(str(video))
    sync_api.expect(page.locator("#load-status")).to_contain_text("clip: 6 frames")
    canvas = page.locator("#editor canvas").first
    sync_api.expect(canvas).to_be_visible()
    page.wait_for_timeout(500)
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(15):
        page.mouse.move(x + 4 * i, y + 2 * i)
    page.mouse.up()
    frames_input = page.locator("#frames input[type=number]")
    frames_input.fill("3")
    frames_input.press("Enter")
    page.get_by_role("button", name="Track", exact=True).click()
    text = wait_tracked(page)
    assert "Tracked 2 frames" in text and "1 object(s) (1)" in text  # the red brush is object 1
    save(page, tmp_path, "space-brush.png")
