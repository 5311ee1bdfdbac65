"""Which ONNX operators the browser runtimes implement, and the check that keeps every exported graph inside them.

Two tables ship beside this file and are regenerated with this module's command line:

* `webgpu_ops.json`: onnxruntime-web's WebGPU provider, parsed from `docs/webgpu-operators.md` of the npm package
  (`cd /tmp && npm pack onnxruntime-web@1.30.0 && tar xzf onnxruntime-web-1.30.0.tgz`, then
  `python -m export.op_support webgpu /tmp/package/docs/webgpu-operators.md --version 1.30.0`);
* `wasm_ops.json`: the CPU kernels that onnxruntime-web's WASM backend is built from. The npm package ships no such
  list, so it is read from the Python onnxruntime's CPU kernel registry (`python -m export.op_support wasm`); the
  versions of the two runtimes are recorded in the file.

A table maps operator -> domain -> list of [first, last] kernel versions (last null = open-ended). A node is supported
when the version of the operator that the model's opset selects falls inside one of them.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import onnx

HERE = Path(__file__).resolve().parent
WEBGPU_TABLE = HERE / "webgpu_ops.json"
WASM_TABLE = HERE / "wasm_ops.json"
DEFAULT_DOMAIN = "ai.onnx"


class UnsupportedOperatorError(ValueError):
    """A graph uses an operator that its target runtime does not implement."""


def load_table(path: str | Path) -> dict:
    """An operator table (see the module docstring) with its provenance fields."""
    table = json.loads(Path(path).read_text())
    if "operators" not in table or "source" not in table:
        raise ValueError(f"{path} is not an operator table (needs 'source' and 'operators')")
    return table


def _since_version(op: str, domain: str, opset: int) -> int:
    """The version of `op` that opset `opset` selects (kernels are registered by these versions)."""
    try:
        return onnx.defs.get_schema(op, opset, "" if domain == DEFAULT_DOMAIN else domain).since_version
    except onnx.defs.SchemaError:  # an operator onnx does not know (a runtime's own domain): trust the opset
        return opset


def unsupported_nodes(model: onnx.ModelProto, table: dict) -> list[str]:
    """Descriptions of the nodes whose operator (at the model's opset) is missing from `table`; empty if none."""
    opsets = {(o.domain or DEFAULT_DOMAIN): o.version for o in model.opset_import}
    missing = []
    for node in model.graph.node:
        domain = node.domain or DEFAULT_DOMAIN
        version = _since_version(node.op_type, domain, opsets.get(domain, 1))
        ranges = table["operators"].get(node.op_type, {}).get(domain, [])
        if not any(lo <= version and (hi is None or version <= hi) for lo, hi in ranges):
            missing.append(f"{node.name or '<unnamed>'}: {node.op_type} ({domain} v{version})")
    return missing


def check_operators(model: onnx.ModelProto, table: dict, graph: str) -> None:
    """Raise UnsupportedOperatorError naming every node of `model` that the table's runtime cannot run."""
    missing = unsupported_nodes(model, table)
    if missing:
        raise UnsupportedOperatorError(
            f"{graph} uses operators that {table['runtime']} does not implement (list: {table['source']}): "
            + "; ".join(missing)
        )


def parse_webgpu_doc(text: str) -> tuple[dict, dict]:
    """(operator -> domain -> ranges, operator -> comment) from the table of onnxruntime-web's webgpu-operators.md."""
    operators = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not re.fullmatch(r"[A-Za-z0-9]+", cells[0]) or cells[0] == "Operator":
            continue
        domains = {}
        for domain, spec in re.findall(r"([\w.]+)\(([^)]*)\)", cells[1]):
            ranges = []
            for part in spec.split(","):
                part = part.strip()
                if part.endswith("+"):
                    ranges.append([int(part[:-1]), None])
                else:
                    lo, _, hi = part.partition("-")
                    ranges.append([int(lo), int(hi or lo)])
            domains[domain] = ranges
        operators[cells[0]] = {"domains": domains, "comment": cells[2] if len(cells) > 2 else ""}
    if not operators:
        raise ValueError("no operator rows found: is this onnxruntime-web's docs/webgpu-operators.md?")
    return {name: entry["domains"] for name, entry in operators.items()}, {
        name: entry["comment"] for name, entry in operators.items() if entry["comment"]
    }


def cpu_kernel_table() -> dict:
    """operator -> domain -> ranges of the CPU kernels registered in the installed onnxruntime."""
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_c

    operators: dict[str, dict[str, list]] = {}
    for kernel in ort_c.get_all_opkernel_def():
        if kernel.provider != "CPUExecutionProvider":
            continue
        lo, hi = kernel.version_range
        ranges = operators.setdefault(kernel.op_name, {}).setdefault(kernel.domain or DEFAULT_DOMAIN, [])
        entry = [lo, None if hi >= 2**31 - 1 else hi]
        if entry not in ranges:
            ranges.append(entry)
    return {op: {d: sorted(r, key=lambda x: x[0]) for d, r in doms.items()} for op, doms in sorted(operators.items())}


def _dump(table: dict) -> str:
    """JSON with one operator per line: readable diffs when the runtime version changes."""
    lines = [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in table.items() if k not in ("operators", "comments")]
    for key in ("operators", "comments"):
        if key in table:
            rows = [f"  {json.dumps(op)}: {json.dumps(v)}" for op, v in table[key].items()]
            lines.append(f" {json.dumps(key)}: {{\n" + ",\n".join(rows) + "\n },")
    lines[-1] = lines[-1].rstrip(",")
    return "{\n" + "\n".join(lines) + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.op_support", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="table", required=True)
    web = sub.add_parser("webgpu", help=f"write {WEBGPU_TABLE.name} from onnxruntime-web's webgpu-operators.md")
    web.add_argument("doc", type=Path)
    web.add_argument("--version", required=True, help="the onnxruntime-web version the doc comes from")
    sub.add_parser("wasm", help=f"write {WASM_TABLE.name} from the installed onnxruntime's CPU kernels")
    args = parser.parse_args(argv)
    if args.table == "webgpu":
        operators, comments = parse_webgpu_doc(args.doc.read_text())
        table = {
            "runtime": f"onnxruntime-web {args.version} WebGPU",
            "source": f"npm onnxruntime-web@{args.version}: docs/webgpu-operators.md",
            "operators": operators,
            "comments": comments,
        }
        out = WEBGPU_TABLE
    else:
        import onnxruntime

        table = {
            "runtime": "onnxruntime-web WASM (CPU execution provider kernels)",
            "source": f"onnxruntime {onnxruntime.__version__} (Python) CPUExecutionProvider kernel registry; "
            "onnxruntime-web ships no operator list for WASM and is built from the same CPU kernels",
            "operators": cpu_kernel_table(),
        }
        out = WASM_TABLE
    out.write_text(_dump(table))
    print(f"wrote {out} ({len(table['operators'])} operators)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
