"""The structure docs/architecture.md describes is the structure the code has: the README points
inside the repository, every stage module is documented, and the serving path's tuned numbers
live only in digitlib/tuning.py."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from digitlib import config
from digitlib.tuning import TUNING, Tuning

ROOT = config.ROOT
DOC = ROOT / "docs" / "architecture.md"
# The serving path's modules that decide answers: they may define no tuning of their own.
DECIDING = [
    *sorted((ROOT / "digitlib" / "stages").glob("*.py")),
    ROOT / "digitlib" / "preprocess.py",
    ROOT / "digitlib" / "cascade.py",
    ROOT / "digitlib" / "segment.py",
]


def test_readme_links_point_inside_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "ARCHITECTURE.md" not in readme  # the old pointer outside the repository
    targets = re.findall(r"\]\(([^)#]+)\)", readme)
    local = [t for t in targets if not re.match(r"[a-z]+:", t)]
    assert "docs/architecture.md" in local
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, missing


def test_every_stage_module_is_in_the_architecture_document():
    text = DOC.read_text()
    for module in (ROOT / "digitlib" / "stages").glob("*.py"):
        if module.name != "__init__.py":
            assert f"digitlib/stages/{module.name}" in text, module.name
    for path in re.findall(r"`(digitlib/[a-z_/]+\.py)`", text):
        assert (ROOT / path).is_file(), path


def _module_constants(path: Path) -> list[str]:
    """Module-level names bound to a number, a tuple of numbers or a number expression."""

    def numeric(node) -> bool:
        if isinstance(node, ast.Constant):
            return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
        if isinstance(node, (ast.Tuple, ast.List)):
            return bool(node.elts) and all(numeric(e) for e in node.elts)
        if isinstance(node, ast.BinOp):
            return numeric(node.left) and numeric(node.right)
        if isinstance(node, ast.UnaryOp):
            return numeric(node.operand)
        return False

    found = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if numeric(node.value):
                found += [t.id for t in targets if isinstance(t, ast.Name)]
    return found


@pytest.mark.parametrize("path", DECIDING, ids=lambda path: path.name)
def test_no_tuning_constants_outside_the_tuning_module(path):
    assert _module_constants(path) == []


def test_the_check_finds_a_constant_where_there_is_one(tmp_path):
    module = tmp_path / "stage.py"
    module.write_text(
        "import numpy as np\nPIECE_GAP = 0.25\nSIDES = (16, 24)\nFRAME = np.ones(3)\n"
    )
    assert _module_constants(module) == ["PIECE_GAP", "SIDES"]


def test_the_tuning_is_frozen_and_every_value_is_typed():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TUNING.cascade.look_again = 0.5  # type: ignore[misc]
    for section in dataclasses.fields(Tuning):
        for item in dataclasses.fields(getattr(TUNING, section.name)):
            assert item.type, (section.name, item.name)
    assert (
        TUNING.looks.quick.work_side < TUNING.looks.full.work_side < TUNING.looks.number.work_side
    )
