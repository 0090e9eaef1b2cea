"""Copy the measured tables from ``reports/`` into the README's generated blocks.

``make bench`` runs this last, so the README always shows what the last benchmark measured. A
block is ``<!-- NAME: generated -->`` ... ``<!-- /NAME -->``; its body is ``reports/NAME.md``.
``tests/test_repository.py`` checks that every block matches its report.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(
    r"(<!-- (?P<name>[a-z_]+): generated -->\n)(?P<body>.*?)(<!-- /(?P=name) -->)", re.S
)


def blocks(readme: str) -> dict[str, str]:
    """Each generated block's name and body."""
    return {match["name"]: match["body"] for match in BLOCK.finditer(readme)}


def spliced(readme: str, reports: Path) -> str:
    """The README with each generated block's body replaced by its report."""

    def body(match: re.Match) -> str:
        report = (reports / f"{match['name']}.md").read_text().strip() + "\n"
        return match.group(1) + report + match.group(4)

    return BLOCK.sub(body, readme)


def main() -> int:
    path = ROOT / "README.md"
    readme = path.read_text()
    names = sorted(blocks(readme))
    path.write_text(spliced(readme, ROOT / "reports"))
    print(f"README: {', '.join(names)} tables copied from reports/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
