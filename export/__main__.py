"""`python -m export`: the student checkpoint -> static-shape ONNX graphs, variants, fixtures and manifest.json.

python -m export                                  # models/student.safetensors -> web/public/models/student
python -m export --checkpoint /tmp/student_dev.safetensors --size 240x320 --capacities 1,2,4
python -m export --resize --extra-sizes 480x640,208x368       # re-measure the sizes of web/public/models/student only
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mobilevos.models.checkpoint import resolve
from mobilevos.runtime.manifest import ManifestError

from export.op_support import UnsupportedOperatorError
from export.pipeline import DEFAULT_CHECKPOINT, DEFAULT_DATA, DEFAULT_OUT, ExportOptions, resize_export, run_export


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not HxW, e.g. 240x320") from None
    return height, width


def _sizes(text: str) -> tuple[tuple[int, int], ...]:
    return tuple(_size(v) for v in text.split(",") if v.strip())


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def parse_args(argv: list[str] | None = None) -> ExportOptions:
    """Command-line flags -> ExportOptions (defaults are ExportOptions')."""
    d = ExportOptions()
    # String defaults go through `type` like typed flags, and --help shows them as they are typed.
    p = argparse.ArgumentParser(
        prog="python -m export",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="student weights (.safetensors)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (graphs, manifest.json, fixtures/)")
    p.add_argument(
        "--size", type=_size, default="x".join(map(str, d.size)), help="model resolution HxW, multiples of 16"
    )
    p.add_argument(
        "--extra-sizes",
        type=_sizes,
        default=",".join("x".join(map(str, s)) for s in d.extra_sizes),
        help="more model sizes HxW,... the (dynamic) graphs are checked and timed at; the largest is WebGPU's "
        "default ('' for none)",
    )
    p.add_argument(
        "--capacities", type=_ints, default=",".join(map(str, d.capacities)), help="object capacities K, one graph each"
    )
    p.add_argument("--opset", type=int, default=d.opset, help="ONNX opset (>= 18)")
    p.add_argument("--variants", type=_names, default=",".join(d.variants), help="precision variants (fp32 required)")
    p.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="shared data folder (davis16-val for accuracy, davis16-train-240p for the click head's IoU); "
        "synthetic clips stand in when absent",
    )
    p.add_argument("--eval-frames", type=int, default=d.eval_frames, help="frames per davis16-val sequence")
    p.add_argument("--eval-sequences", type=int, default=d.eval_sequences, help="davis16-val sequences (all)")
    p.add_argument("--fixture-frames", type=int, default=d.fixture_frames, help="frames in the web parity fixtures")
    p.add_argument("--threads", type=int, default=d.threads, help="onnxruntime CPU threads for the timings")
    p.add_argument(
        "--prompt-head",
        type=lambda v: Path(v) if v else None,
        default=d.prompt_head,
        help="click-to-mask head weights, exported as prompt_head.onnx ('' for none)",
    )
    p.add_argument(
        "--prompt-encoder",
        type=lambda v: resolve(v) if v else None,
        default=d.prompt_encoder,
        help="the student the head was trained on, when it is not --checkpoint (a shipped name or weights): its "
        "key encoder is exported as prompt_encoder.onnx and gives the head its features",
    )
    p.add_argument(
        "--resize",
        action="store_true",
        help="only give the export in --out the sizes --size (its first) and --extra-sizes, each checked and timed on "
        "its own graphs; nothing else is rewritten",
    )
    return ExportOptions(**vars(p.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    try:
        opts = parse_args(argv)
        manifest = (resize_export if opts.resize else run_export)(opts)
    except (FileNotFoundError, ValueError, ManifestError, UnsupportedOperatorError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
