"""Network weights as safetensors, with the architecture config stored in the file's metadata.

`load_network("student")` / `load_network("teacher")` load the shipped weights from the repository's `models/`
folder; any other argument is a path to a `.safetensors` file written by `save_network` (or by training).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from safetensors import safe_open

from mobilevos.config import from_dict
from mobilevos.models.network import NetworkConfig, SpaceTimeNetwork

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO_ROOT / "models"
SHIPPED = {"student": MODELS_DIR / "student.safetensors", "teacher": MODELS_DIR / "teacher.safetensors"}


def resolve(name_or_path: str | Path) -> Path:
    """The weight file for a shipped model name or a path; a clear error if it does not exist."""
    path = SHIPPED.get(str(name_or_path), Path(name_or_path))
    if not path.is_file():
        hint = " (shipped models live in models/; see the README's training section)" if str(name_or_path) in SHIPPED else ""
        raise FileNotFoundError(f"no weight file at {path}{hint}")
    return path


def save_network(path: str | Path, net: SpaceTimeNetwork, metadata: dict | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
    """Write weights (optionally cast, e.g. fp16 for shipping) plus the config and `metadata` (JSON-serialisable)."""
    state = {k: v.detach().to(dtype if v.is_floating_point() else v.dtype).contiguous()
             for k, v in net.state_dict().items()}
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
            grown[: s.shape[0], s.shape[1]:] = 0
        grown[tuple(slice(0, n) for n in s.shape)] = s
        out[name] = grown
    return out


def load_network(name_or_path: str | Path, device: str = "cpu") -> SpaceTimeNetwork:
    """Rebuild a network from a weight file (config from its metadata), in eval mode and float32."""
    path = resolve(name_or_path)
    cfg, _ = read_metadata(path)
    # The ImageNet weights would be overwritten at once: skip loading them.
    net = SpaceTimeNetwork(dataclasses.replace(cfg, pretrained=False))
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    net.load_state_dict(state, strict=True)
    return net.to(device).eval()
