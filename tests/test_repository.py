"""The repository's own promises: clean notebooks, consistent set-up files, CI calling make test."""

from __future__ import annotations

import re

import nbformat
import pytest

from digitlib import config, pipeline

NOTEBOOKS = sorted(config.NOTEBOOKS_DIR.glob("*.ipynb"))


def test_pipeline_notebooks_exist_in_order():
    assert [path.stem for path in NOTEBOOKS] == list(pipeline.NOTEBOOKS + pipeline.OPTIONAL)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_committed_notebooks_carry_no_outputs_and_keep_their_parameters_tag(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert notebook.cells[0].source.startswith("# "), "each notebook opens with an H1 title"
    assert pipeline.declared_parameters(path), "papermill must see the parameters"


@pytest.mark.parametrize("name", ["smoke", "default", "robust"])
def test_parameter_sets_only_name_declared_parameters(name):
    declared = set().union(*(pipeline.declared_parameters(path) for path in NOTEBOOKS))
    assert set(pipeline.load_params(name)) <= declared


def test_makefile_documents_the_readme_verbs():
    makefile = (config.ROOT / "Makefile").read_text()
    documented = set(re.findall(r"^([a-z-]+):.*## ", makefile, flags=re.M))
    assert {"test", "dashboard", "pipeline", "help", "data"} <= documented
    readme = (config.ROOT / "README.md").read_text()
    for verb in ("make dashboard", "make test", "make pipeline"):
        assert verb in readme


def test_ci_runs_the_readme_test_command():
    assert re.search(r"^\s*make test\b", (config.ROOT / ".ci" / "run").read_text(), flags=re.M)


def test_readme_shows_the_measured_upload_benchmark():
    import json

    report = json.loads((config.REPORTS_DIR / "uploads.json").read_text())
    readme = (config.ROOT / "README.md").read_text()
    for kind, values in report["accuracy"].items():
        name, _, seed = kind.partition("@")
        shown = f"{name} (seed {seed}, never tuned on)" if seed else name
        assert f"| {shown} | {values['images']} | {values['accuracy']:.2%} |" in readme


def test_readme_shows_the_measured_dashboard_benchmark_and_screenshot():
    readme = (config.ROOT / "README.md").read_text()
    table = (config.REPORTS_DIR / "dashboard.md").read_text().strip().splitlines()
    assert len(table) >= 5
    for line in table:
        assert line in readme, line
    assert "(reports/figures/dashboard.png)" in readme
    assert (config.FIGURES_DIR / "dashboard.png").read_bytes().startswith(b"\x89PNG")


def test_readme_generated_blocks_are_the_reports():
    # `make bench` ends with benchmarks/readme_tables.py, which copies each report into its block.
    readme = (config.ROOT / "README.md").read_text()
    blocks = dict(
        re.findall(r"<!-- ([a-z_]+): generated -->\n(.*?)<!-- /\1 -->", readme, flags=re.S)
    )
    assert {"uploads", "dashboard", "robustness", "gate", "benchmarks"} <= set(blocks)
    for name, body in blocks.items():
        report = (config.REPORTS_DIR / f"{name}.md").read_text().strip() + "\n"
        assert body == report, f"README block {name} differs from reports/{name}.md"
