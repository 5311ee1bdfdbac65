"""`mobilevos bench`: speed and memory of the student and the teacher, in PyTorch and (student) onnxruntime.

    mobilevos bench --frames 300 --out results/bench-python

Every configuration tracks the same synthetic clip (the generator's seed is fixed, so other machines bench the same
frames) and records, per frame: latency, memory entries and memory bytes. The teacher's memory grows with the video
(one entry every `keep_every` frames), so its latency grows too; the student's stays flat by construction. Writes
`bench.json` (everything, plus machine facts), `bench.md` (a table) and `bench.png` (latency and memory over time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mobilevos.config import parse_size
from mobilevos.data.synth import generate_clip
from mobilevos.info import frame_flops
from mobilevos.track import Tracker

BENCH_SEED = 20230617  # the clip every bench tracks


def bench_tracker(tracker, frames: np.ndarray, first_mask: np.ndarray, memory_of, label: str, warmup: int = 5) -> dict:
    """Per-frame latency (ms) and memory (entries, bytes) of `tracker` over `frames`; `memory_of(tracker)` gives
    (entries, bytes). The first `warmup` steps run on frame 1 and are not recorded."""
    tracker.start(frames[0], first_mask)
    for _ in range(warmup):
        tracker.step(frames[1])
    tracker.start(frames[0], first_mask)  # the warm-up filled the memory: start again
    ms, entries, nbytes = [], [], []
    for frame in tqdm(frames[1:], desc=label, leave=False):
        t = time.perf_counter()
        tracker.step(frame)
        ms.append(1000 * (time.perf_counter() - t))
        n, b = memory_of(tracker)
        entries.append(n)
        nbytes.append(b)
    return {"ms": ms, "memory_entries": entries, "memory_bytes": nbytes, **latency_stats(ms)}


def latency_stats(ms: list[float]) -> dict:
    """Mean/percentiles of per-frame latency, FPS, and the first-vs-last-tenth ratio (flatness over the video)."""
    a = np.asarray(ms)
    tenth = max(1, len(a) // 10)
    return {
        "mean_ms": float(a.mean()),
        "p50_ms": float(np.percentile(a, 50)),
        "p95_ms": float(np.percentile(a, 95)),
        "p99_ms": float(np.percentile(a, 99)),
        "fps": float(1000 / a.mean()),
        "last_over_first_tenth": float(np.median(a[-tenth:]) / np.median(a[:tenth])),
    }


def torch_memory(tracker: Tracker) -> tuple[int, int]:
    return tracker.memory.num_entries, tracker.memory.nbytes


def ort_memory(tracker) -> tuple[int, int]:
    arrays = {id(a): a for entry in tracker.memory.values() for a in entry}  # slots may share the first entry
    return len(tracker.memory), sum(a.nbytes for a in arrays.values())


def run_benchmarks(args: argparse.Namespace) -> dict:
    size = parse_size(args.size)
    frames, masks = generate_clip(BENCH_SEED, args.frames + 1, size)
    torch.set_num_threads(args.threads)
    results = {
        "machine": machine_facts(args.threads),
        "clip": {"seed": BENCH_SEED, "frames": args.frames, "size": list(size)},
        "runs": {},
    }
    from mobilevos.models.checkpoint import load_network

    for name in args.models:
        net = load_network(name)
        tracker = Tracker(net, short_side=min(size))
        run = bench_tracker(tracker, frames, masks[0], torch_memory, f"{name} (pytorch)")
        run.update(
            backend="pytorch",
            model=name,
            model_size=list(size),  # the clip is made at `size`, so its short side keeps the frame as it is
            params=sum(p.numel() for p in net.parameters()),
            gflops_first=frame_flops(net, size, 2)["total"] / 1e9,
            gflops_last=frame_flops(net, size, run["memory_entries"][-1])["total"] / 1e9,
        )
        results["runs"][f"{name}/pytorch"] = run
    if args.onnx:
        from mobilevos.runtime.ort_tracker import OrtTracker
        from mobilevos.runtime.session import session_options

        onnx_size = exported_size(args.onnx, size)
        for variant in args.variants:
            tracker = OrtTracker(
                args.onnx, variant=variant, session_options=session_options(args.threads), size=onnx_size
            )
            run = bench_tracker(tracker, frames, masks[0], ort_memory, f"student onnx {variant}")
            run.update(
                backend="onnxruntime",
                model=f"student-{variant}",
                onnx_dir=str(args.onnx),
                model_size=list(tracker.size),
            )
            results["runs"][f"student/onnxruntime-{variant}"] = run
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def exported_size(onnx_dir: str | Path, size: tuple[int, int]) -> tuple[int, int] | None:
    """`size` when the export has graphs for it; otherwise None (the manifest's first size), said aloud, because
    the onnxruntime rows would then not be at the size the command asked for."""
    from mobilevos.runtime.manifest import ManifestError, at_size, load_manifest

    try:
        at_size(load_manifest(onnx_dir), size)  # the manifest's own check, and its message
    except ManifestError as error:
        print(f"onnx: {error}; its graphs run at the export's first size")
        return None
    return tuple(size)


def machine_facts(threads: int) -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "threads": threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def markdown_table(results: dict) -> str:
    rows = [
        "| run | model input | ms/frame (mean) | p50 | p95 | p99 | FPS | memory entries (first → last) "
        "| memory MiB (last) | last/first-tenth latency |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["runs"].items():
        rows.append(
            f"| {name} | {r['model_size'][0]}x{r['model_size'][1]} | {r['mean_ms']:.1f} | {r['p50_ms']:.1f} | "
            f"{r['p95_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['fps']:.1f} | {r['memory_entries'][0]} → {r['memory_entries'][-1]} | "
            f"{r['memory_bytes'][-1] / 2**20:.2f} | {r['last_over_first_tenth']:.2f} |"
        )
    m = results["machine"]
    rows.append(
        f"\n{results['clip']['frames']} frames at {results['clip']['size'][0]}x{results['clip']['size'][1]}, "
        f"{m['threads']} threads, {m['processor']}, {m['cpus']} CPUs, torch {m['torch']}."
    )
    return "\n".join(rows)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name, r in results["runs"].items():
        x = np.arange(1, len(r["ms"]) + 1)
        k = max(1, len(x) // 50)  # a running median keeps the trend readable on a noisy machine
        smooth = [np.median(r["ms"][max(0, i - k) : i + 1]) for i in range(len(x))]
        ax1.plot(x, smooth, label=name)
        ax2.plot(x, np.asarray(r["memory_bytes"]) / 2**20, label=name)
    ax1.set(xlabel="frame", ylabel="ms / frame (running median)", title="latency over the video")
    ax2.set(xlabel="frame", ylabel="MiB", title="memory held by the tracker", yscale="log")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frames", type=int, default=300, help="frames tracked per configuration")
    p.add_argument("--size", default="240x432", help="model input HxW (the clip is generated at this size)")
    p.add_argument("--models", default="student,teacher", help="PyTorch models: student, teacher or checkpoints")
    p.add_argument("--onnx", default=None, help="exported student folder (manifest.json) to bench in onnxruntime")
    p.add_argument("--variants", default="fp32,int8", help="ONNX variants to bench")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="results/bench-python", help="folder for bench.json, bench.md, bench.png")


def run(args: argparse.Namespace) -> None:
    if args.frames < 10:
        raise ValueError(f"--frames must be at least 10, got {args.frames}")
    args.models = [m for m in args.models.split(",") if m]
    args.variants = [v for v in args.variants.split(",") if v]
    results = run_benchmarks(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(results, indent=1))
    table = markdown_table(results)
    (out / "bench.md").write_text(table + "\n")
    plot(results, out / "bench.png")
    print(table)
    print(f"wrote {out / 'bench.json'}, {out / 'bench.md'}, {out / 'bench.png'}")
