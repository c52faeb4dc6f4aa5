"""The package's layer order (src/vthinker/__init__.py): a module imports only from its own
layer or lower ones, lazy imports inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "vthinker"
# The order stated in src/vthinker/__init__.py.
LAYERS = {
    "trace": 1,
    "extract": 1,
    "jsonl_log": 1,
    "command_args": 1,
    "metrics": 2,
    "data": 2,
    "models": 3,
    "llm": 4,
    "rewards": 5,
    "training": 6,
    "evaluation": 7,
    "curation": 8,
    "cli": 8,
}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "vthinker" or len(parts) < 2:
        return None
    return LAYERS[parts[1]]


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return found


# Every source file is parsed here, at collection, before any test has started a thread:
# CPython 3.11's `ast` keeps its recursion depth in shared state, and a parse while another
# thread parses can fail with "AST constructor recursion depth mismatch" (python/cpython#106905).
SOURCES = sorted(SRC.rglob("*.py"))
IMPORTS = {path: _imports(path) for path in SOURCES}


def test_every_top_level_room_has_a_layer():
    rooms = {p.stem for p in SRC.iterdir() if p.suffix == ".py" or p.is_dir()}
    rooms -= {"__init__", "__pycache__"}
    assert rooms == set(LAYERS), "add the new module to the layer list (and __init__'s docstring)"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_upward_import(path):
    rel = path.relative_to(SRC).with_suffix("")
    if rel.parts[0] == "__init__":
        return
    own = LAYERS[rel.parts[0]]
    upward = [
        f"line {line}: {module} (layer {_layer(module)})"
        for line, module in IMPORTS[path]
        if (_layer(module) or 0) > own
    ]
    assert not upward, f"{rel} (layer {own}) imports from a higher layer: {upward}"


def test_the_checker_sees_an_upward_import(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from vthinker.cli import cli\n")
    assert _imports(bad) == [(2, "vthinker.cli")] and _layer("vthinker.cli") == 8
