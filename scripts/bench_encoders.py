"""Key-encoder candidates and raw operator rates on onnxruntime-web's WASM kernels (issue 18).

Exports each candidate (random weights, static 1x3xHxW input) with torch.onnx, then times all graphs of a group
interleaved in one node process (`scripts/time_onnx_wasm.mjs`), so the baseline and the candidates see the same load
on this shared machine: compare the ratio column, not absolute times across runs.

    python scripts/bench_encoders.py --group encoders --threads 2 --runs 15
    python scripts/bench_encoders.py --group ops --threads 1
    python scripts/bench_encoders.py --group student --threads 2      # whole student graph, Lite0 vs candidates
    python scripts/bench_encoders.py --group gemms --size 208x272      # Balanced's 1x1 shapes as MatMuls vs the probe

Prints a markdown table (and writes it with the raw JSON under --out).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import subprocess
import sys
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from mobilevos.config import parse_size
from mobilevos.models.efficientnet_lite import EfficientNetLite
from mobilevos.models.fast_encoder import DESIGNS, FastEncoder, FastEncoderConfig
from mobilevos.models.network import build_network, student_config
from mobilevos.models.prune import parse_share

from export.graph_stats import flops as graph_flops
from export.graphs import export_graph, graph_spec, spec_feeds

ROOT = Path(__file__).resolve().parent.parent
SIZE = (240, 320)  # the default --size
# The page's compute-peak probe (web/src/bench/matmul-model.js): n x n MatMuls, n = 1024.
PROBE_N = 1024


class Lite0Keys(nn.Module):
    """The student's key encoder: Lite0 blocks 0-10, taps f4/f8/f16 (the baseline; `share` < 1: pruned, one share for
    all blocks or one per block)."""

    def __init__(self, share: float | tuple[float, ...] = 1.0):
        super().__init__()
        self.net = EfficientNetLite("lite0", 11, share=share)
        self.taps = tuple(self.net.last_block_with_stride(s) for s in (4, 8, 16))

    def forward(self, x):
        return tuple(self.net.forward_features(x, self.taps))


class Features(nn.Module):
    """A FastEncoder as a graph returning (f4, f8, f16)."""

    def __init__(self, cfg: FastEncoderConfig):
        super().__init__()
        self.enc = FastEncoder(cfg)

    def forward(self, x):
        return tuple(self.enc.forward_features(x))


class Op(nn.Module):
    """One operator alone: a conv, or a MatMul against a constant weight."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)


class MatMul(nn.Module):
    def __init__(self, k: int, n: int):
        super().__init__()
        self.w = nn.Parameter(torch.randn(k, n) / k**0.5)

    def forward(self, x):
        return x @ self.w


def _s(stem, stages) -> FastEncoderConfig:
    return FastEncoderConfig(stem=tuple(stem), stages=tuple(stages))


# Lite0 blocks 3-10 as MBConv stages (kind, cout, depth, stride, expand, kernel): hybrids keep them as they are.
LITE0_S8_S16 = [("mb", 40, 2, 2, 6, 5), ("mb", 80, 3, 2, 6, 3), ("mb", 112, 3, 1, 6, 5)]
ENCODERS: dict[str, FastEncoderConfig] = {
    # (a) dense stem to stride 4 in place of Lite0's stem and blocks 0-2, Lite0 blocks 3-10 after it (= DESIGNS["h8"])
    "a: dense stem + Lite0 3-10": _s([(16, 3, 2), (24, 3, 2)], LITE0_S8_S16),
    # (c) Lite0 with fused (dense 3x3) blocks at strides 4 and 8, Lite0's depthwise blocks at 16
    "c: fused s4/s8 + Lite0 5-10": _s(
        [(16, 3, 2), (24, 3, 2)],
        [("fused", 40, 2, 2, 2, 3), ("mb", 80, 3, 2, 6, 3), ("mb", 112, 3, 1, 6, 5)],
    ),
    # (c') as (c) with fewer, cheaper blocks at stride 16
    "c': fused s4/s8 + 2+2 mb s16": _s(
        [(16, 3, 2), (24, 3, 2)],
        [("fused", 40, 2, 2, 2, 3), ("mb", 80, 2, 2, 4, 3), ("mb", 112, 2, 1, 4, 3)],
    ),
    # (b) fully dense: fused inverted residuals (dense 3x3 expansion + 1x1 projection) everywhere
    "b1: fused, 1+2+1+2": _s(
        [(16, 3, 2), (32, 3, 2)],
        [("fused", 24, 1, 1, 2, 3), ("fused", 40, 2, 2, 3, 3), ("fused", 80, 1, 2, 3, 3), ("fused", 112, 2, 1, 2, 3)],
    ),
    "b2: fused, wider s16 (e3)": _s(
        [(16, 3, 2), (24, 3, 2)],
        [("fused", 40, 2, 2, 2, 3), ("fused", 80, 1, 2, 3, 3), ("fused", 112, 2, 1, 3, 3)],
    ),
    # (b) fully dense: ResNet basic blocks, thin at high resolution
    "b3: basic 24/40/112": _s(
        [(16, 3, 2), (24, 3, 2)],
        [("basic", 40, 1, 2, 1, 3), ("basic", 112, 2, 2, 1, 3)],
    ),
    # space-to-depth-like stem: one 4x4 stride-4 patch conv straight to stride 4
    "b4: patch4 stem + fused": _s(
        [(24, 4, 4)],
        [("fused", 40, 2, 2, 2, 3), ("fused", 80, 1, 2, 3, 3), ("fused", 112, 2, 1, 2, 3)],
    ),
    # (b) leaner dense designs: one block at stride 4, two convs at 8, most of the FLOPs at stride 16
    "d1: patch4, basic 40x1, basic 112x2": _s(
        [(24, 4, 4)], [("fused", 24, 1, 1, 1, 3), ("basic", 40, 1, 2, 1, 3), ("basic", 112, 2, 2, 1, 3)]
    ),
    "d2: conv stem, basic 40x1, basic 112x2": DESIGNS["d2"],
    "d3: patch4, fused e2 40x1, 112x3": _s(
        [(24, 4, 4)], [("fused", 24, 1, 1, 1, 3), ("fused", 40, 1, 2, 2, 3), ("fused", 112, 3, 2, 2, 3)]
    ),
    # (b) the f4 tap is the stem's output (as Lite0's is block 2's): the FLOPs saved at stride 4 go to stride 16
    "e1: conv stem, basic 40x1, basic 112x1": DESIGNS["e1"],
    "e2: conv stem, basic 40x1, basic 112x1 + fused e1": DESIGNS["e2"],
    "e3: conv stem, basic 40x1, basic 112x1 + fused e1 x2": DESIGNS["e3"],  # e2 grown by a block (session 11)
    "e2f: conv stem, basic 40x1, fused e2 112x2": _s(
        [(16, 3, 2), (24, 3, 2)], [("basic", 40, 1, 2, 1, 3), ("fused", 112, 2, 2, 2, 3)]
    ),
    # (h) hybrids (session 13): e2's dense front, then Lite0's own ImageNet blocks (mobilevos.models.fast_encoder)
    "h6: e2 front + Lite0 5-10": DESIGNS["h6"],
    "h4: e2 front + Lite0 5,6,8,9": DESIGNS["h4"],
    "h2: e2 front + Lite0 5,8": DESIGNS["h2"],
    "d4: patch4, basic 40x1, basic 112x1": _s(
        [(24, 4, 4)], [("fused", 24, 1, 1, 1, 3), ("basic", 40, 1, 2, 1, 3), ("basic", 112, 1, 2, 1, 3)]
    ),
}


# Lite0 pruned to a share of its expanded channels (session 13, `mobilevos prune`; timing needs no trained weights)
PRUNED: dict[str, float | tuple[float, ...]] = {
    f"p{s}: Lite0, {s} of the expanded channels": s for s in (0.75, 0.6, 0.5, 0.4)
} | {  # one share per block (session 14): blocks 1 and 3 cost most when cut (scripts/prune_sensitivity.sh)
    "pb2: Lite0, blocks 1-3, 5, 7-9 at 0.5, 4, 6, 10 at 0.25": parse_share("1,.5,.5,.5,.25,.5,.25,.5,.5,.5,.25"),
    "pb1: Lite0, blocks 1, 3 at 0.5, the rest at 0.25": parse_share("1,.5,.25,.5,.25,.25,.25,.25,.25,.25,.25"),
}


def ops() -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    """Raw operators in pairs of equal FLOPs: a dense 3x3 conv, a 1x1 conv with 9x the input channels, a MatMul."""
    table = {}
    for c, h, w in ((24, 60, 80), (64, 60, 80), (128, 30, 40), (112, 15, 20)):
        table[f"conv 3x3 {c}->{c} at {h}x{w}"] = (nn.Conv2d(c, c, 3, padding=1, bias=False), (1, c, h, w))
        table[f"conv 1x1 {9 * c}->{c} at {h}x{w}"] = (nn.Conv2d(9 * c, c, 1, bias=False), (1, 9 * c, h, w))
        table[f"MatMul [{h * w}x{9 * c}]x[{9 * c}x{c}]"] = (MatMul(9 * c, c), (h * w, 9 * c))
    table["conv depthwise 3x3 144 at 60x80"] = (
        nn.Conv2d(144, 144, 3, padding=1, groups=144, bias=False),
        (1, 144, 60, 80),
    )
    table["conv 3x3 3->16 s2 at 240x320"] = (nn.Conv2d(3, 16, 3, 2, padding=1, bias=False), (1, 3, 240, 320))
    table["conv 4x4 s4 3->24 at 240x320"] = (nn.Conv2d(3, 24, 4, 4, bias=False), (1, 3, 240, 320))
    return table


def gemms(size: tuple[int, int]) -> dict[str, tuple[nn.Module, tuple[int, ...], int]]:
    """The page's probe MatMul, then each distinct 1x1 convolution of the Balanced key encoder (Lite0 at half its
    expanded widths) at input `size` as the MatMul it is (pixels x in, times in x out, constant weights), with how
    often the encoder has it."""
    shapes: dict[tuple[int, int, int, int], int] = {}
    enc = Lite0Keys(0.5)

    def record(conv, _inputs, out):
        if conv.kernel_size == (1, 1):
            key = (conv.in_channels, conv.out_channels, *out.shape[-2:])
            shapes[key] = shapes.get(key, 0) + 1

    handles = [m.register_forward_hook(record) for m in enc.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        enc(torch.zeros(1, 3, *size))
    for h in handles:
        h.remove()
    probe = f"MatMul [{PROBE_N}x{PROBE_N}]x[{PROBE_N}x{PROBE_N}] (the page's probe)"
    table = {probe: (MatMul(PROBE_N, PROBE_N), (PROBE_N, PROBE_N), 0)}
    for (cin, cout, h, w), count in shapes.items():
        table[f"1x1 {cin}->{cout} at {h}x{w} (x{count}) as MatMul"] = (MatMul(cin, cout), (h * w, cin), count)
    return table


def export(module: nn.Module, shape: tuple[int, ...], path: Path) -> onnx.ModelProto:
    """Static-shape ONNX export (dynamo, optimised, opset 18) of a module in eval mode."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        with contextlib.redirect_stdout(io.StringIO()):  # the exporter's progress lines
            program = torch.onnx.export(
                module.eval(), (torch.rand(shape),), dynamo=True, opset_version=18, optimize=True
            )
    model = program.model_proto
    onnx.save_model(model, str(path))
    return model


def student_graph(backbone: nn.Module, path: Path, size: tuple[int, int]) -> tuple[onnx.ModelProto, int, dict]:
    """The shipped student graph (K=1) at `size` with random weights and the key encoder `backbone`; with its
    parameter count and example feeds at `size`."""
    net = build_network(student_config(pretrained=False))
    net.backbone = backbone
    spec = graph_spec(net, size, 1)
    with contextlib.redirect_stdout(io.StringIO()):
        model = export_graph(net.eval(), spec, 18)
    onnx.save_model(model, str(path))
    return model, sum(p.numel() for p in net.parameters()), spec_feeds(spec)


def time_graphs(paths: list[Path], threads: int, runs: int, size: tuple[int, int]) -> list[float]:
    """Median ms per graph, all timed interleaved in one node process."""
    # The student graph's sizes are free (frame [1, 16*h, 16*w, 4]): fix them at `size`.
    dims = f"h={size[0] // 16},w={size[1] // 16}"
    cmd = [
        "node",
        str(ROOT / "scripts/time_onnx_wasm.mjs"),
        *map(str, paths),
        "--threads",
        str(threads),
        "--dims",
        dims,
    ]
    out = subprocess.run([*cmd, "--runs", str(runs)], check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return [r["median_ms"] for r in json.loads(out.strip().splitlines()[-1])["results"]]


def main() -> None:
    """Export the chosen group, time it, print and save the markdown table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--group", choices=("encoders", "ops", "student", "gemms"), default="encoders")
    p.add_argument("--only", default="", help="comma-separated name prefixes (the baseline always runs)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--size", type=parse_size, default=SIZE, help="input HxW (multiples of 16)")
    p.add_argument("--out", type=Path, default=ROOT / "results/bench-encoders")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    keep = [s for s in args.only.split(",") if s]
    size = args.size
    rows = []  # (name, path, params, flops)
    counts = []  # gemms: how often the encoder has each shape
    if args.group == "gemms":
        for i, (name, (mod, shape, count)) in enumerate(gemms(size).items()):
            path = args.out / f"gemm{i}.onnx"
            rows.append((name, path, sum(q.numel() for q in mod.parameters()), graph_flops(export(mod, shape, path))))
            counts.append(count)
    elif args.group == "ops":
        for i, (name, (mod, shape)) in enumerate(ops().items()):
            path = args.out / f"op{i}.onnx"
            rows.append(
                (name, path, sum(q.numel() for q in mod.parameters()), graph_flops(export(Op(mod), shape, path)))
            )
    else:
        # a float or tuple: Lite0's share(s) of expanded channels (1.0: Lite0 itself); else a FastEncoderConfig
        cands = {"Lite0 blocks 0-10 (baseline)": 1.0} | {
            k: v for k, v in (ENCODERS | PRUNED).items() if not keep or any(k.startswith(s) for s in keep)
        }
        for i, (name, cfg) in enumerate(cands.items()):
            path = args.out / f"{args.group}{i}.onnx"
            if args.group == "student":
                # free sizes: shape inference cannot count its FLOPs, a run at `size` can
                lite = isinstance(cfg, (float, tuple))
                backbone = EfficientNetLite("lite0", 11, share=cfg) if lite else FastEncoder(cfg)
                model, params, feeds = student_graph(backbone, path, size)
            else:
                mod = Lite0Keys(cfg) if isinstance(cfg, (float, tuple)) else Features(cfg)
                model, params, feeds = export(mod, (1, 3, *size), path), sum(q.numel() for q in mod.parameters()), None
            label = f"student with {name}" if args.group == "student" else name
            rows.append((label, path, params, graph_flops(model, feeds)))
            print(f"exported {name}", file=sys.stderr)
    if args.group == "student":  # the encoder alone in the same run: the rest of the graph is the difference
        path = args.out / "student-lite0-alone.onnx"
        rows.append(("Lite0 blocks 0-10 alone", path, 0, graph_flops(export(Lite0Keys(), (1, 3, *size), path))))
    ms = time_graphs([r[1] for r in rows], args.threads, args.runs, size)
    # Encoders compare with Lite0 (row 0); an operator with the MatMul of equal FLOPs that ends its triple (the
    # operators after the triples with the first MatMul).
    matmuls = [i for i, r in enumerate(rows) if r[0].startswith("MatMul")]
    bases = [
        ms[0] if args.group != "ops" else ms[next((j for j in matmuls if j >= i and rows[j][3] == r[3]), matmuls[0])]
        for i, r in enumerate(rows)
    ]
    lines = [
        f"{args.threads} thread(s), median of {args.runs} interleaved runs, {size[0]}x{size[1]}",
        "",
        f"| graph | params | GFLOP | ms | {'MatMul of equal FLOPs' if args.group == 'ops' else 'baseline'} ms"
        f" (same run) | {'share of its rate' if args.group == 'gemms' else 'ratio'} | GFLOP/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    probe_rate = rows[0][3] / ms[0]  # gemms: row 0 is the probe, and a ratio of rates is what the goal asks
    for (name, _, params, fl), t, base in zip(rows, ms, bases):
        ratio = fl / t / probe_rate if args.group == "gemms" else t / base
        row = f"| {name} | {params / 1e6:.3f} M | {fl / 1e9:.3f} | {t:.2f} | {base:.2f} | {ratio:.2f} |"
        lines.append(f"{row} {fl / t / 1e6:.1f} |")
    if args.group == "gemms":  # the encoder's 1x1 work as a whole (each shape as often as it has it) vs the probe
        flops, ms_total = (sum(c * x for c, x in zip(counts, col)) for col in ([r[3] for r in rows], ms))
        rate = flops / ms_total
        lines += ["", f"all 1x1 work: {rate / 1e6:.1f} GFLOP/s, {rate / probe_rate:.2f} of the probe's rate"]
    text = "\n".join(lines)
    print(text)
    (args.out / f"{args.group}-t{args.threads}.md").write_text(text + "\n")
    (args.out / f"{args.group}-t{args.threads}.json").write_text(
        json.dumps([{"name": r[0], "params": r[2], "flops": r[3], "ms": t} for r, t in zip(rows, ms)], indent=1)
    )


if __name__ == "__main__":
    main()
