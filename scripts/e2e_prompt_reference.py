"""Python's side of the click-to-mask e2e test (tests/web/e2e/click.test.js) on the page's sample clip.

    python scripts/e2e_prompt_reference.py clicks [--mask PNG]    # each object's centre click and box, frame 0
    python scripts/e2e_prompt_reference.py next --labels page.json --object 1 [--mask PNG]   # the next NoC click
    python scripts/e2e_prompt_reference.py reference --model-dir DIR --input page.json --out prob.json
    python scripts/e2e_prompt_reference.py score --pred DIR --model-dir DIR   # mean IoU of the page's tracked masks

`clicks`: {object id: {"centre": [y, x], "box": [y0, x0, y1, x1]}}: the point of each object of the true mask
(--mask, default the sample's sample-mask.png) farthest from its boundary (the NoC protocol's first click,
`mobilevos.prompts.centre_click`) and its tight box. `next`: {"iou": the IoU of the page's current mask of an object
(labels.json: {width, height, labels}) with the true one, "click": the click that corrects it, at the centre of its
largest error region (`mobilevos.prompts.next_click`), {y, x, positive}, or null when it is perfect}.
`reference`: page.json holds the exact model input the page encoded (RGBA bytes at model size, `input`), the frame
size and each object's prompts in frame pixels; the exported graphs in onnxruntime CPU
(`mobilevos.runtime.ort_prompt.OrtPromptSegmenter`, the features of that very input) give each object's prob at
model size. `score`: the sample is `scripts/make_sample_clip.py`'s synthetic sequence,
regenerated here with its ground truth for every frame; mean IoU (J) per object and frame of the page's zip, and of
onnxruntime CPU tracking the clip (decoded by OpenCV) from the true first mask, the reference.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from mobilevos.eval.metrics import db_eval_iou
from mobilevos.eval.prompt import iou
from mobilevos.prompts import Click, centre_click, next_click, tight_box
from mobilevos.runtime.ort_prompt import OrtPromptSegmenter
from mobilevos.runtime.ort_tracker import OrtTracker

sys.path.insert(0, str(Path(__file__).parent))
from make_sample_clip import SAMPLE_FRAMES, SAMPLE_SEED, SAMPLE_SIZE
from video_tools import synth_sequence

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "web" / "public" / "sample"


def clicks(mask_path: Path) -> dict:
    mask = np.asarray(Image.open(mask_path))
    return {
        int(i): {"centre": list(centre_click(mask == i, True)[:2]), "box": list(tight_box(mask == i))}
        for i in np.unique(mask)
        if i
    }


def next_prompt(page: dict, obj: int, mask_path: Path) -> dict:
    truth = np.asarray(Image.open(mask_path)) == obj
    pred = np.array(page["labels"], np.uint8).reshape(page["height"], page["width"]) == obj
    click = next_click(pred, truth)
    return {
        "iou": iou(pred, truth),
        "click": None if click is None else {"y": click.y, "x": click.x, "positive": bool(click.positive)},
    }


def reference(model_dir: Path, page: dict) -> dict:
    segmenter = OrtPromptSegmenter(model_dir)
    h, w = segmenter.size
    segmenter.set_input(np.array(page["input"], np.float32).reshape(1, h, w, 4), (page["height"], page["width"]))
    out = {}
    for obj, prompts in page["prompts"].items():
        segmenter.reset()
        for i in range(len(prompts)):  # each prompt's prediction is the next one's previous mask, as the page does
            upto = prompts[: i + 1]
            boxes = [p["box"] for p in upto if "box" in p]
            box = (boxes[-1]["y0"], boxes[-1]["x0"], boxes[-1]["y1"], boxes[-1]["x1"]) if boxes else None
            segmenter.predict(
                [Click(p["click"]["y"], p["click"]["x"], p["click"]["positive"]) for p in upto if "click" in p], box
            )
        out[obj] = segmenter.previous.ravel().tolist()
    return out


def score(pred: Path, model_dir: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        seq = synth_sequence(Path(tmp), SAMPLE_FRAMES, SAMPLE_SIZE, SAMPLE_SEED, max_objects=2)
        truth = [np.asarray(Image.open(p)) for p in sorted((Path(tmp) / "Annotations" / seq.name).glob("*.png"))]
    if not np.array_equal(truth[0], np.asarray(Image.open(SAMPLE / "sample-mask.png"))):
        raise RuntimeError("the regenerated sample's first mask is not sample-mask.png: make_sample_clip changed")
    masks = [np.asarray(Image.open(p)) for p in sorted(pred.glob("*.png"))]
    # the reference: onnxruntime CPU tracking the decoded clip from the true first mask
    capture = cv2.VideoCapture(str(SAMPLE / "sample.mp4"))
    frames = [frame[..., ::-1].copy() for ok, frame in iter(capture.read, (False, None)) if ok]
    tracker = OrtTracker(model_dir)
    tracker.start(frames[0], truth[0])
    reference = [truth[0], *(tracker.step(frame).mask for frame in frames[1:])]
    return {
        "frames": len(masks),
        "mean_iou": mean_iou(masks, truth),
        "reference_mean_iou": mean_iou(reference, truth),
    }


def mean_iou(masks: list[np.ndarray], truth: list[np.ndarray]) -> float:
    """Mean J per object and frame."""
    return float(np.mean([db_eval_iou(t == o, m == o) for m, t in zip(masks, truth, strict=True) for o in (1, 2)]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["clicks", "next", "reference", "score"])
    p.add_argument("--labels", type=Path, help="next: the page's label image (JSON)")
    p.add_argument("--object", type=int, help="next: the object id")
    p.add_argument("--mask", type=Path, default=SAMPLE / "sample-mask.png", help="clicks, next: the true mask")
    p.add_argument("--model-dir", type=Path)
    p.add_argument("--input", type=Path, help="reference: the page's input and prompts (JSON)")
    p.add_argument("--pred", type=Path, help="score: the page's masks of the sample, one PNG per frame")
    p.add_argument("--out", type=Path, help="write the JSON here (else stdout)")
    args = p.parse_args(argv)
    if args.what == "clicks":
        result = clicks(args.mask)
    elif args.what == "next":
        result = next_prompt(json.loads(args.labels.read_text()), args.object, args.mask)
    elif args.what == "reference":
        result = reference(args.model_dir, json.loads(args.input.read_text()))
    else:
        result = score(args.pred, args.model_dir)
    text = json.dumps(result)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
