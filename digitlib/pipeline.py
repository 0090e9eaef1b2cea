"""Run the research notebooks in order with papermill: ``python -m digitlib.pipeline``.

Parameter sets live in ``notebooks/params/{smoke,default}.yaml``, one flat mapping shared by all
notebooks: each notebook receives the keys its ``parameters`` cell declares, and a key that no
notebook declares is refused (a typo would otherwise be silently ignored).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from digitlib import config

NOTEBOOKS = ("01-load-data", "02-augment", "03-train", "04-evaluate", "05-robustness")
# Run only when asked (--only): learning from the dashboard's corrections changes the model the
# dashboard serves, from data its users gave, so it is a step of its own (`make learn`).
OPTIONAL = ("06-corrections",)
KERNEL = "digitlib"
# Training needs the research install; the serving install (`make dashboard`) has no yaml,
# papermill or TensorFlow, and says so in a sentence instead of a traceback.
NEEDS_RESEARCH = (
    "the research pipeline needs the research install: run `make install`, "
    "or `pip install 'digitlib[research]'`"
)


def _research(module: str):
    """Import one of the research install's modules, or say in a sentence what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{NEEDS_RESEARCH} ({error})") from error


def load_params(name_or_path: str | Path) -> dict:
    """Read a parameter set by name (``smoke``, ``default``) or path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = config.NOTEBOOKS_DIR / "params" / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ValueError(f"no parameter file {path}")
    return _research("yaml").safe_load(path.read_text()) or {}


def declared_parameters(notebook: Path) -> set[str]:
    """The names in a notebook's ``parameters`` cell."""
    return set(_research("papermill").inspect_notebook(str(notebook)))


def run(
    params: str | Path = "default",
    output_dir: str | Path | None = None,
    notebooks: tuple[str, ...] = NOTEBOOKS,
    overrides: dict | None = None,
    kernel: str = KERNEL,
    stream_output: bool = True,
) -> list[Path]:
    """Execute ``notebooks`` in order with a parameter set; return the executed copies' paths."""
    papermill = _research("papermill")

    values = {**load_params(params), **(overrides or {})}
    paths = [config.NOTEBOOKS_DIR / f"{name}.ipynb" for name in notebooks]
    declared = {path: declared_parameters(path) for path in paths}
    # A parameter set serves the whole pipeline, so with --only its other notebooks' keys are
    # fine; a key that no notebook declares (a typo) is refused, and so is an override that
    # none of the notebooks being run would see.
    everywhere = set().union(
        *(
            declared_parameters(config.NOTEBOOKS_DIR / f"{name}.ipynb")
            for name in NOTEBOOKS + OPTIONAL
        )
    )
    selected = set().union(*declared.values()) if declared else set()
    unknown = sorted((set(values) - everywhere) | (set(overrides or {}) - selected))
    if unknown:
        raise ValueError(f"parameters not declared by any of {list(notebooks)}: {unknown}")

    output_dir = Path(output_dir or config.RUNS_DIR / Path(str(params)).stem)
    output_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the kernels inherit it
    executed = []
    for path in paths:
        target = output_dir / path.name
        print(f"== {path.stem} -> {target}", flush=True)
        papermill.execute_notebook(
            str(path),
            str(target),
            parameters={key: value for key, value in values.items() if key in declared[path]},
            kernel_name=kernel,
            cwd=str(config.NOTEBOOKS_DIR),
            progress_bar=False,
            stdout_file=sys.stdout if stream_output else None,
            stderr_file=None,
        )
        executed.append(target)
    return executed


def parse_override(text: str) -> tuple[str, object]:
    key, separator, value = text.partition("=")
    if not separator:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, _research("yaml").safe_load(value)
    except ImportError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The pipeline's options, shared by ``python -m digitlib.pipeline`` and ``digitlib train``."""
    parser.add_argument("--params", default="default", help="parameter set name or YAML path")
    parser.add_argument("--output", help="folder for the executed notebooks (default runs/PARAMS)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=NOTEBOOKS + OPTIONAL,
        help="run just these notebooks (06-corrections runs only when named here)",
    )
    parser.add_argument(
        "-p",
        "--set",
        dest="overrides",
        action="append",
        type=parse_override,
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter, e.g. -p epochs=5",
    )


def run_from_arguments(args: argparse.Namespace) -> int:
    """Run with parsed options; exit status 2 with one line on a parameter error."""
    try:
        run(args.params, args.output, tuple(args.only or NOTEBOOKS), dict(args.overrides))
    except (ValueError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (``make pipeline``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_from_arguments(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
