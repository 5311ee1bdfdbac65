"""Configuration as dataclasses: defaults in code, a JSON file on top, then `key=value` overrides on top of that.

Unknown keys raise, so a typo in a config file or an override never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def to_dict(cfg: Any) -> dict:
    """A dataclass (possibly nested) as a plain JSON-serialisable dict."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type[T], data: dict) -> T:
    """Build dataclass `cls` from a (possibly nested, possibly partial) dict; unknown keys raise ValueError."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {', '.join(unknown)} (known: {', '.join(sorted(names))})")
    kwargs = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value)
        elif isinstance(value, list) and _takes_tuple(hint):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def _takes_tuple(hint: Any) -> bool:
    """Is `hint` a tuple type, or a union with one (JSON gives lists)?"""
    return typing.get_origin(hint) is tuple or any(typing.get_origin(a) is tuple for a in typing.get_args(hint))


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # bare strings such as `model=student`


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `a.b.c=value` overrides (value parsed as JSON when it parses, else kept as a string) to a nested dict."""
    data = json.loads(json.dumps(data))
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form key=value")
        path, text = item.split("=", 1)
        node = data
        keys = path.split(".")
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                raise ValueError(f"override {item!r}: {key!r} is not a config section")
            node = node[key]
        if keys[-1] not in node:
            raise ValueError(f"override {item!r}: unknown key {keys[-1]!r} (known: {', '.join(sorted(node))})")
        node[keys[-1]] = _parse_value(text)
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Defaults of `cls`, updated by the JSON file at `path` (if any), then by `overrides`."""
    data = to_dict(cls())
    if path is not None:
        data = merge(data, json.loads(Path(path).read_text()), cls.__name__)
    return from_dict(cls, apply_overrides(data, overrides or []))


def merge(base: dict, update: dict, where: str) -> dict:
    """`update` merged into `base` recursively; keys unknown to `base` raise (named with `where`)."""
    for key, value in update.items():
        if key not in base:
            raise ValueError(f"unknown key {key!r} in {where} (known: {', '.join(sorted(base))})")
        if isinstance(base[key], dict) and isinstance(value, dict):
            base[key] = merge(dict(base[key]), value, f"{where}.{key}")
        else:
            base[key] = value
    return base


def parse_size(text: str) -> tuple[int, int]:
    """'240x432' -> (240, 432); ValueError otherwise."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"size must be HxW with positive integers, e.g. 240x432, got {text!r}")
    return int(parts[0]), int(parts[1])
