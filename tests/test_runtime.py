"""The runtime package and the layers around it: `mobilevos` never reaches up into `export/`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    """Every absolute module a Python file imports, at any depth (function-level imports included)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module)
    return modules


def test_no_module_under_py_imports_export():
    files = sorted((REPO / "py").rglob("*.py"))
    assert len(files) > 20  # the scan sees the package
    offenders = {str(path.relative_to(REPO)): sorted(m for m in _imported_modules(path)
                                                      if m == "export" or m.startswith("export."))
                 for path in files}
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_the_import_scan_sees_nested_imports(tmp_path):
    source = tmp_path / "nested.py"
    source.write_text("def f():\n    from export.pipeline import run_export\n    import export.graphs as g\n")
    assert _imported_modules(source) == {"export.pipeline", "export.graphs"}


# --- where the shipped weights are found ----------------------------------------------------------------------------

def test_weights_search_path_order(tmp_path, monkeypatch):
    from mobilevos import checkpoint

    explicit, env = tmp_path / "explicit", tmp_path / "env"
    for folder in (explicit, env):
        folder.mkdir()
        (folder / "teacher.safetensors").write_bytes(b"")
    monkeypatch.setenv(checkpoint.WEIGHTS_ENV, str(env))
    assert checkpoint.search_path(explicit) == [explicit, env, REPO / "models"]  # tests run from the checkout
    assert checkpoint.resolve("teacher", explicit) == explicit / "teacher.safetensors"
    assert checkpoint.resolve("teacher") == env / "teacher.safetensors"
    # A folder without the file is passed over: the checkout's shipped student comes next.
    assert checkpoint.resolve("student", explicit) == REPO / "models" / "student.safetensors"
    monkeypatch.delenv(checkpoint.WEIGHTS_ENV)
    assert checkpoint.resolve("teacher") == REPO / "models" / "teacher.safetensors"


def test_missing_weights_say_where_they_were_looked_for(tmp_path, monkeypatch):
    from mobilevos import checkpoint

    monkeypatch.setenv(checkpoint.WEIGHTS_ENV, str(tmp_path / "env"))
    monkeypatch.setattr(checkpoint, "SOURCE_MODELS", None)  # as an installed package: no checkout to fall back on
    with pytest.raises(FileNotFoundError, match=f"no student.safetensors found \\(looked in: {tmp_path}/a, "
                                                f"{tmp_path}/env\\).*MOBILEVOS_WEIGHTS"):
        checkpoint.load_network("student", models_dir=tmp_path / "a")
    monkeypatch.delenv(checkpoint.WEIGHTS_ENV)
    with pytest.raises(FileNotFoundError, match="looked in: no folder"):
        checkpoint.resolve("teacher")
    with pytest.raises(FileNotFoundError, match="no weight file at"):
        checkpoint.resolve(tmp_path / "other.safetensors")
