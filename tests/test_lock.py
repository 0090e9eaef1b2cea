"""The lock files keep every install the same: in step with pyproject.toml and environment.yml,
hashed, the serving install free of the research stack, and this test run on exactly the lock."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
import tomllib

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

from digitlib import config, locks

REQUIREMENTS = config.ROOT / "requirements"
SERVE = locks.read_lock(REQUIREMENTS / "serve.txt")
DEV = locks.read_lock(REQUIREMENTS / "dev.txt")
PROJECT = tomllib.loads((config.ROOT / "pyproject.toml").read_text())["project"]
# The lock is resolved for Linux x86_64 and Python 3.11 (Makefile, LOCK_FLAGS).
LOCKED_FOR = {
    **default_environment(),
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "python_version": "3.11",
}
# What only training, the notebooks and the tests need: never in the serving install.
RESEARCH_ONLY = {
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "tf2onnx",
    "onnx",
    "matplotlib",
    "jupyterlab",
    "papermill",
    "pytest",
    "playwright",
    "scikit-learn",
}


def wanted(extras: tuple[str, ...]) -> list[Requirement]:
    """pyproject.toml's requirements for these extras (digitlib[...] expanded), with the build
    tools of requirements/tools.in, whose markers hold where the lock is meant to be used."""
    lines = list(PROJECT["dependencies"])
    seen, todo = set(), list(extras)
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in PROJECT["optional-dependencies"][extra]:
            requirement = Requirement(line)
            if requirement.name == "digitlib":
                todo.extend(requirement.extras)
            else:
                lines.append(line)
    tools = (REQUIREMENTS / "tools.in").read_text().splitlines()
    lines += [line for line in tools if line.strip() and not line.startswith("#")]
    requirements = [Requirement(line) for line in lines]
    return [r for r in requirements if r.marker is None or r.marker.evaluate(LOCKED_FOR)]


@pytest.mark.parametrize(
    ("lock", "extras"), [(SERVE, ("serve",)), (DEV, ("dev",))], ids=["serve", "dev"]
)
def test_each_lock_holds_what_pyproject_asks_within_its_ranges(lock, extras):
    requirements = wanted(extras)
    assert len(requirements) >= 6
    for requirement in requirements:
        name = locks.canonical(requirement.name)
        assert name in lock, f"{name} is in pyproject.toml but not locked: run `make lock`"
        version = lock[name].version
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} is outside pyproject.toml's {requirement.specifier}: "
            "run `make lock`"
        )


@pytest.mark.parametrize("lock", [SERVE, DEV], ids=["serve", "dev"])
def test_every_pin_is_exact_hashed_and_within_the_lock_policy(lock):
    constraints = [
        Requirement(line)
        for line in (REQUIREMENTS / "constraints.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert constraints
    for pin in lock.values():
        assert pin.hashes, f"{pin.name} has no hash"
        assert all(len(digest) == 64 for digest in pin.hashes)
    for constraint in constraints:
        name = locks.canonical(constraint.name)
        if name in lock:
            assert constraint.specifier.contains(lock[name].version), lock[name].requirement


def test_serving_lock_is_the_dev_lock_less_the_research_stack():
    assert set(SERVE) < set(DEV)
    for name, pin in SERVE.items():
        assert (pin.version, sorted(pin.hashes)) == (DEV[name].version, sorted(DEV[name].hashes))
    assert RESEARCH_ONLY - {"tensorflow"} <= set(DEV)  # tensorflow-cpu on x86_64
    assert not RESEARCH_ONLY & set(SERVE), sorted(RESEARCH_ONLY & set(SERVE))
    assert {"voila", "ipywidgets", "ipycanvas", "ipykernel", "onnxruntime"} <= set(SERVE)
    assert {"opencv-python-headless", "numpy"} <= set(SERVE)


def test_environment_yml_pins_the_dev_lock():
    import yaml

    text = (config.ROOT / "environment.yml").read_text()
    environment = yaml.safe_load(text)
    conda = [item for item in environment["dependencies"] if isinstance(item, str)]
    pip = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    assert "python=3.11" in conda and "nodejs" in conda
    assert "-e ." in pip
    expected = {name: pin.version for name, pin in DEV.items() if name != "pip"}
    assert locks.read_environment_pins(config.ROOT / "environment.yml") == expected
    assert text == locks.environment_yml(DEV, "requirements/dev.txt"), "run `make lock`"


def test_this_test_run_uses_exactly_the_locked_versions():
    # `make test` installs requirements/dev.txt; a range-resolved environment (pip install -e
    # '.[dev]', as for reports/versions.md's newest column) fails here on purpose.
    different = {}
    for name, pin in DEV.items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != pin.version:
            different[name] = (installed, pin.version)
    assert not different, f"installed differs from requirements/dev.txt: {different}"


def test_make_dashboard_installs_only_the_serving_lock(tmp_path):
    # Dry run on a machine with no .venv: what `make dashboard` would do.
    venv = tmp_path / "venv"
    run = subprocess.run(
        ["make", "-n", "-C", str(config.ROOT), "dashboard", f"VENV={venv}"],
        capture_output=True,
        text=True,
        check=True,
    )
    steps = run.stdout
    assert "requirements/serve.txt" in steps and "--require-hashes" in steps
    assert "requirements/dev.txt" not in steps
    assert "-m digitlib.serve" in steps
    tests = subprocess.run(
        ["make", "-n", "-C", str(config.ROOT), "test", f"VENV={venv}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "requirements/dev.txt" in tests and "--require-hashes" in tests


def test_serving_works_with_the_research_stack_absent(tmp_path):
    # The serving install has no TensorFlow, Keras, Matplotlib, yaml, papermill or JupyterLab:
    # hide them and use what a serving user uses. The CLI reads a sample; the dashboard builds
    # and reads one; `digitlib train` says in a sentence what to install.
    hidden = sorted(RESEARCH_ONLY | {"yaml", "sklearn", "tensorflow"} - {"tensorflow-cpu"})
    script = textwrap.dedent(
        f"""
        import sys, importlib.abc
        HIDDEN = {[name.replace("-", "_") for name in hidden]!r}
        class Hide(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in HIDDEN:
                    raise ModuleNotFoundError(f"No module named {{name!r}}")
        sys.meta_path.insert(0, Hide())
        from digitlib import cli
        from digitlib.dashboard import Dashboard
        status = cli.main(["predict", {str(config.DATA_DIR / "samples" / "photo-7.jpg")!r}])
        app = Dashboard()
        print("STATUS", status)
        print("TRAIN", cli.main(["train", "--params", "smoke"]))
        print("LOADED", sorted(set(HIDDEN) & {{m.split(".")[0] for m in sys.modules}}))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "photo-7.jpg: 7" in run.stdout
    assert "STATUS 0" in run.stdout and "TRAIN 2" in run.stdout
    assert "LOADED []" in run.stdout
    assert "research install" in run.stderr and "Traceback" not in run.stderr
