"""Strip outputs, execution counts and noisy metadata from notebooks, keeping cell tags.

Usage: ``python -m digitlib.notebooks_clean NOTEBOOK...`` (``make clean-notebooks``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

KEPT_CELL_METADATA = ("tags",)


def clean(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return the notebook without outputs or execution counts; papermill's tags survive."""
    for cell in notebook.cells:
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in KEPT_CELL_METADATA}
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    notebook.metadata = {
        k: notebook.metadata[k] for k in ("kernelspec", "language_info") if k in notebook.metadata
    }
    return notebook


def main(paths: list[str]) -> int:
    """Clean each notebook in place; print the ones that changed."""
    for path in map(Path, paths):
        before = path.read_text()
        notebook = clean(nbformat.reads(before, as_version=4))
        after = nbformat.writes(notebook) + "\n"
        if after != before:
            path.write_text(after)
            print(f"cleaned {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
