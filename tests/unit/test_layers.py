"""The house rule: imports point down the pipeline.

cli -> pipeline -> report | gates -> tracking -> outcome -> stages (load, quality, fidelity) -> loadgen
-> server -> stage protocol -> spec -> facts -> errors. A module may import its own package and anything
on a lower floor; report and gates (one floor) never import each other, nor do load and quality.
Lazy imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "harness"

FLOORS = {
    "__main__": 10, "cli": 9, "webui": 9,
    "pipeline": 8,
    "report": 7, "gates": 7,
    "tracking": 6,
    "outcome": 5,
    "load": 4, "quality": 4, "fidelity": 4,
    "loadgen": 3,
    "server": 2,
    "stage": 1.5,
    "spec": 1,
    "redaction": 0.5,
    "facts": 0.25,
    "stats": 0.5,
    "words": 0.5,
    "errors": 0,
    "__version__": -1,
    "evals": -1,  # the top-level evals/ (a link): lm-eval task files, package data read by quality/tasks.py
}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("harness"):
            out.append((node.lineno, node.module))
            if node.module == "harness":  # `from harness import report`
                out += [(node.lineno, f"harness.{a.name}") for a in node.names if (PKG / a.name).exists() or (PKG / f"{a.name}.py").exists()]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("harness.")]
    return out


def test_every_room_has_a_floor():
    rooms = {p.stem if p.is_file() else p.name for p in PKG.iterdir() if not p.name.startswith("_") and (p.suffix == ".py" or p.is_dir())}
    rooms.discard("__pycache__")
    assert rooms <= set(FLOORS), f"give these rooms a floor in FLOORS: {sorted(rooms - set(FLOORS))}"


def test_imports_point_down_the_pipeline():
    wrong = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        me = _room(".".join(rel.parts))
        if me == "__init__":  # the package face re-exports lazily
            continue
        for line, target in _imports(path):
            other = _room(target)
            if other in ("__init__", me):
                continue
            if FLOORS[other] >= FLOORS[me]:
                wrong.append(f"{rel}.py:{line} ({me}, floor {FLOORS[me]}) imports {target} (floor {FLOORS[other]})")
    assert not wrong, "imports against the pipeline's direction:\n" + "\n".join(wrong)
