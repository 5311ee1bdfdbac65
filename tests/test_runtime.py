"""The runtime package and the layers around it: `mobilevos` never reaches up into `export/`."""

from __future__ import annotations

import ast
from pathlib import Path

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

