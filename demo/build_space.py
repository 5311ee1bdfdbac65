"""Assemble a self-contained Hugging Face Space folder from this checkout:

    python demo/build_space.py --out /tmp/mobilevos-space          # shipped models
    python demo/build_space.py --out DIR --student-onnx DIR --teacher FILE --prompt-head FILE

The folder holds app.py and its modules, README.md (the Space card), requirements.txt, the whole `mobilevos` package
(its `runtime` runs the student's graphs; nothing from `export/`, which only builds them), the student's graphs and
manifest under models/student, the teacher under models/teacher.safetensors with its record (teacher.json: the input
short side it runs at), the click-to-mask head under
models/prompt_head.safetensors with the PyTorch student whose key encoder it reads under models/student.safetensors
(where inference.py and clicks.py look when the checkout's paths do not exist), the screenshot the card shows, and a
.gitattributes that stores the weights and images with Git LFS (the Hub refuses binary files outside it). Push it to
the Space's git repository.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APP_FILES = (
    "app.py",
    "clicks.py",
    "handlers.py",
    "inference.py",
    "inputs.py",
    "viz.py",
    "README.md",
    "requirements.txt",
)
LFS = "".join(f"*.{ext} filter=lfs diff=lfs merge=lfs -text\n" for ext in ("onnx", "safetensors", "png"))
SCREENSHOT = REPO / "docs" / "screenshots" / "space-sample.png"
# The shipped PyTorch student: the head reads its key encoder's features (its metadata names "student").
KEY_ENCODER = REPO / "models" / "student.safetensors"


def build(out: Path, student: Path, teacher: Path, prompt_head: Path) -> Path:
    if not (student / "manifest.json").is_file():
        raise FileNotFoundError(f"no exported student at {student} (manifest.json missing): run `python -m export`")
    for path, what in ((teacher, "teacher weights"), (prompt_head, "prompt-head weights"), (KEY_ENCODER, "student")):
        if not path.is_file():
            raise FileNotFoundError(f"no {what} at {path}")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    for name in APP_FILES:
        shutil.copy2(HERE / name, out / name)
    shutil.copytree(REPO / "py" / "mobilevos", out / "mobilevos", ignore=shutil.ignore_patterns("__pycache__"))
    models = out / "models" / "student"
    models.mkdir(parents=True)
    manifest = json.loads((student / "manifest.json").read_text())
    # the graphs and the prompt head's graph, which the manifest lists too (not the web test fixtures)
    for entry in [*manifest["graphs"], *([manifest["prompt"]] if "prompt" in manifest else [])]:
        shutil.copy2(student / entry["file"], models / entry["file"])
    shutil.copy2(student / "manifest.json", models / "manifest.json")
    shutil.copy2(teacher, out / "models" / "teacher.safetensors")
    if teacher.with_suffix(".json").is_file():  # its record: the input short side it runs at (inference.py reads it)
        shutil.copy2(teacher.with_suffix(".json"), out / "models" / "teacher.json")
    shutil.copy2(prompt_head, out / "models" / "prompt_head.safetensors")
    shutil.copy2(KEY_ENCODER, out / "models" / "student.safetensors")
    if SCREENSHOT.is_file():  # the card shows it; in the checkout it lives in docs/
        shutil.copy2(SCREENSHOT, out / SCREENSHOT.name)
        card = out / "README.md"
        card.write_text(card.read_text().replace(f"../docs/screenshots/{SCREENSHOT.name}", SCREENSHOT.name))
    (out / ".gitattributes").write_text(LFS)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the Space folder to create (new or empty)")
    parser.add_argument("--student-onnx", type=Path, default=REPO / "web" / "public" / "models" / "student")
    parser.add_argument("--teacher", type=Path, default=REPO / "models" / "teacher.safetensors")
    parser.add_argument("--prompt-head", type=Path, default=REPO / "models" / "prompt_head.safetensors")
    args = parser.parse_args(argv)
    try:
        out = build(args.out, args.student_onnx, args.teacher, args.prompt_head)
    except (FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote the Space to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
