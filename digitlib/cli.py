"""The ``digitlib`` command line."""

from __future__ import annotations

import argparse
import sys

from digitlib import config


def _fetch_data(args: argparse.Namespace) -> int:
    from digitlib.data import DataIntegrityError, DataUnavailableError, fetch_mnist

    try:
        path = fetch_mnist(args.dest, args.source, log=lambda line: print(line, file=sys.stderr))
    except (DataUnavailableError, DataIntegrityError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"MNIST verified in {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input or missing data)."""
    parser = argparse.ArgumentParser(prog="digitlib", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch-data", help="fetch and verify MNIST into data/mnist")
    fetch.add_argument("--from", dest="source", help="a folder holding the four MNIST IDX files")
    fetch.add_argument(
        "--dest", default=str(config.MNIST_DIR), help="cache folder (default %(default)s)"
    )
    fetch.set_defaults(handler=_fetch_data)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
