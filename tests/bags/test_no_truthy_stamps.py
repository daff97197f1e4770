"""No truthiness tests on timestamps: 0 is a valid stamp (the boundary rule in toolkit/bags/timebounds.py).

Scans the parts that read, slice, extract and catalogue bags for ``if start:``, ``x_ns or …``,
``not end_ns`` and the like, where a timestamp or bound stands alone as a condition.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARTS = ["toolkit/bags", "toolkit/data", "toolkit/datasets", "toolkit/cli/data.py", "toolkit/cli/bags_info.py"]
# Names that hold a stamp or a range bound (byte offsets such as summary_start are checked by name too,
# so they are listed as allowed below rather than left to chance).
STAMP = re.compile(r"(^|_)(start|end|stamp|time|lo|hi|t0|t1|since|until)(_ns|_time|_iso)?$|_ns$")
ALLOWED = {"summary_start", "offsets_start"}  # MCAP footer byte offsets: 0 means "none" by the spec
# (file, condition) pairs whose name looks like a stamp but is not one.
NOT_STAMPS = {
    ("toolkit/data/repo.py", "start"),  # the directory a repo search starts from
    ("toolkit/datasets/extract.py", "job.every_ns"),  # a sampling interval; 0 means "keep every frame"
}


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        arg = node.args[0] if node.args else None
        return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
    return None


def _bare_conditions(tree: ast.AST) -> list[ast.AST]:
    out: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If | ast.IfExp | ast.While | ast.Assert):
            out.append(node.test)
        elif isinstance(node, ast.BoolOp):
            out.extend(node.values)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            out.append(node.operand)
        elif isinstance(node, ast.comprehension):
            out.extend(node.ifs)
    return out


def truthy_stamp_tests(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for cond in _bare_conditions(tree):
        name = _name(cond)
        rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
        if name and STAMP.search(name) and name not in ALLOWED and (rel, ast.unparse(cond)) not in NOT_STAMPS:
            found.append(f"{rel}:{cond.lineno}: {ast.unparse(cond)}")
    return found


def _files() -> list[Path]:
    files: list[Path] = []
    for part in PARTS:
        p = ROOT / part
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    return files


def test_no_timestamp_is_tested_for_truthiness() -> None:
    found = [hit for f in _files() for hit in truthy_stamp_tests(f)]
    assert found == []


def test_the_scan_sees_the_patterns_it_forbids(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(start_ns, step, lo, hi):\n"
        "    a = start_ns or 0\n"
        "    if lo:\n"
        "        pass\n"
        "    b = [x for x in step if not hi]\n"
        "    return step.get('end') or '-'\n"
    )
    hits = sorted(hit.split(": ", 1)[1] for hit in truthy_stamp_tests(sample))
    assert hits == ["hi", "lo", "start_ns", "step.get('end')"]
