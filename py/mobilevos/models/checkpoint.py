"""Network weights as safetensors, with the architecture config stored in the file's metadata.

`load_network("student")` / `load_network("teacher")` load the shipped weights, `<name>.safetensors`, from the first
folder of the weight search path that has the file:

1. the `models_dir` argument;
2. the folder in the environment variable `MOBILEVOS_WEIGHTS`;
3. the checkout's `models/`, when the package runs from a source tree (`py/mobilevos` beside `pyproject.toml`).

An installed package finds nothing through its own location, so it needs one of the first two. Any other argument is
a path to a `.safetensors` file written by `save_network` (or by training).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from mobilevos.config import from_dict
from mobilevos.models.network import NetworkConfig, SpaceTimeNetwork

SHIPPED = ("student", "teacher", "student_fast", "student_pruned")  # the names looked up on the weight search path
WEIGHTS_ENV = "MOBILEVOS_WEIGHTS"
_SOURCE_ROOT = Path(__file__).resolve().parents[3]
# The checkout's models/ (where `mobilevos ship` writes), or None when the package is not running from a source tree.
SOURCE_MODELS = _SOURCE_ROOT / "models" if (_SOURCE_ROOT / "pyproject.toml").is_file() else None


def search_path(models_dir: str | Path | None = None) -> list[Path]:
    """The folders searched for shipped weights, in order: `models_dir`, $MOBILEVOS_WEIGHTS, the checkout's models/
    (each only when given, set, or running from a source tree)."""
    return [Path(p) for p in (models_dir, os.environ.get(WEIGHTS_ENV), SOURCE_MODELS) if p]


def find_shipped(name: str, models_dir: str | Path | None = None) -> Path | None:
    """`<name>.safetensors` in the first folder of the search path that has it; None when none has."""
    return next(
        (d / f"{name}.safetensors" for d in search_path(models_dir) if (d / f"{name}.safetensors").is_file()), None
    )


def resolve(name_or_path: str | Path, models_dir: str | Path | None = None) -> Path:
    """The weight file for a shipped model name (looked up on the search path) or a path; a FileNotFoundError that
    says where it looked if there is none."""
    name = str(name_or_path)
    if name in SHIPPED:
        path = find_shipped(name, models_dir)
        if path is None:
            looked = ", ".join(str(d) for d in search_path(models_dir)) or "no folder"
            raise FileNotFoundError(
                f"no {name}.safetensors found (looked in: {looked}); pass a models folder, set ${WEIGHTS_ENV} to "
                "the folder holding it, or run from a source checkout with models/ (the README's training section "
                "makes the weights)"
            )
        return path
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"no weight file at {path}")
    return path


def recorded_short_side(path: str | Path) -> int | None:
    """The input short side a shipped model was chosen and scored at: `metrics.short_side` of the JSON record that
    `mobilevos ship` writes beside its weights (`<name>.json`); None for weights without a record."""
    record = resolve(path).with_suffix(".json")
    if not record.is_file():
        return None
    try:
        return int(json.loads(record.read_text())["metrics"]["short_side"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{record} is not a usable model record (metrics.short_side): {err}") from err


def save_network(
    path: str | Path, net: SpaceTimeNetwork, metadata: dict | None = None, dtype: torch.dtype = torch.float32
) -> None:
    """Write weights (optionally cast, e.g. fp16 for shipping) plus the config and `metadata` (JSON-serialisable)."""
    state = {
        k: v.detach().to(dtype if v.is_floating_point() else v.dtype).contiguous() for k, v in net.state_dict().items()
    }
    meta = {"config": json.dumps(dataclasses.asdict(net.cfg)), "extra": json.dumps(metadata or {})}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=meta)


def read_metadata(path: str | Path) -> tuple[NetworkConfig, dict]:
    """The network config and the extra metadata stored in a weight file."""
    with safe_open(str(resolve(path)), framework="pt") as f:
        meta = f.metadata() or {}
    if "config" not in meta:
        raise ValueError(f"{path} has no network config in its metadata: not written by mobilevos")
    return from_dict(NetworkConfig, json.loads(meta["config"])), json.loads(meta.get("extra", "{}"))


def grow_state(target: dict[str, torch.Tensor], source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`source` weights fitted into the larger shapes of `target` (a freshly initialised network with extra channels,
    e.g. `NetworkConfig.previous_value` or `value_gating` added for fine-tuning), so that the grown network computes
    exactly what the source did: the source fills the leading block of every tensor; new output channels keep their
    fresh initialisation, and the weights from new input channels (dim 1) into old outputs are zero. (Zeroing new
    outputs too would leave a depthwise conv and the 1x1 after it both at zero, and no gradient could reach either.)"""
    if set(target) != set(source):
        raise ValueError(f"parameter names differ: {sorted(set(target) ^ set(source))[:5]}")
    out = {}
    for name, t in target.items():
        s = source[name]
        if s.dim() != t.dim() or any(a > b for a, b in zip(s.shape, t.shape)):
            raise ValueError(f"{name}: cannot grow {tuple(s.shape)} into {tuple(t.shape)}")
        grown = t.clone()
        if s.dim() >= 2:
            grown[: s.shape[0], s.shape[1] :] = 0
        grown[tuple(slice(0, n) for n in s.shape)] = s
        out[name] = grown
    return out


def load_network(
    name_or_path: str | Path, device: str = "cpu", models_dir: str | Path | None = None
) -> SpaceTimeNetwork:
    """Rebuild a network from a weight file or a shipped name (see `resolve`; config from the file's metadata), in
    eval mode and float32."""
    path = resolve(name_or_path, models_dir)
    cfg, _ = read_metadata(path)
    # The ImageNet weights would be overwritten at once: skip loading them.
    net = SpaceTimeNetwork(dataclasses.replace(cfg, pretrained=False))
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    net.load_state_dict(state, strict=True)
    return net.to(device).eval()
