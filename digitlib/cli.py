"""The ``digitlib`` command line: predict, read-number, fetch-data, train, corrections.

Exit status: 0 when every file was recognised, 1 when some file had no digit or could not be
read (each gets its own line), 2 for a usage error or missing data.
"""

from __future__ import annotations

import argparse
import json
import sys

from digitlib import config

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE = 0, 1, 2


def _fetch_data(args: argparse.Namespace) -> int:
    from digitlib.data import DataIntegrityError, DataUnavailableError, fetch_mnist

    try:
        path = fetch_mnist(args.dest, args.source, log=lambda line: print(line, file=sys.stderr))
    except (DataUnavailableError, DataIntegrityError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"MNIST verified in {path}")
    return EXIT_OK


def _recognise(args: argparse.Namespace, number: bool) -> int:
    from digitlib.errors import InvalidImageError, NoDigitFoundError
    from digitlib.recognizer import Recognizer

    try:
        recognizer = Recognizer.load(args.model)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    status = EXIT_OK
    for path in args.files:
        try:
            result = recognizer.read_number(path) if number else recognizer.predict(path)
        except (InvalidImageError, NoDigitFoundError) as error:
            status = EXIT_BAD_INPUT
            if not number and isinstance(error, NoDigitFoundError):
                error = recognizer.single_digit_refusal(path, error)
            if args.json:
                print(json.dumps({"file": path, "error": str(error)}))
            else:
                print(f"{path}: error: {error}")
            continue
        if args.json:
            print(json.dumps({"file": path, **result.to_dict()}))
        else:
            answer = result.text if number else str(result.digit)
            flag = "  (unsure)" if result.unsure else ""
            print(f"{path}: {answer}  confidence {result.confidence:.1%}{flag}")
    return status


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    parser = argparse.ArgumentParser(prog="digitlib", description="Handwritten digit recognition.")
    commands = parser.add_subparsers(dest="command", required=True)

    for name, help_text in (
        ("predict", "recognise the single digit in each image"),
        ("read-number", "read the number (several digits) in each image"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("files", nargs="+", metavar="FILE")
        command.add_argument("--json", action="store_true", help="one JSON object per line")
        command.add_argument("--model", help="an exported .onnx model (default: the committed one)")
        command.set_defaults(
            handler=lambda args, number=(name == "read-number"): _recognise(args, number)
        )

    fetch = commands.add_parser("fetch-data", help="fetch and verify MNIST into data/mnist")
    fetch.add_argument("--from", dest="source", help="a folder holding the four MNIST IDX files")
    fetch.add_argument(
        "--dest", default=str(config.MNIST_DIR), help="cache folder (default %(default)s)"
    )
    fetch.set_defaults(handler=_fetch_data)

    from digitlib import corrections, pipeline

    stored = commands.add_parser(
        "corrections", help="list, export or import the corrections saved in the dashboard"
    )
    corrections.add_arguments(stored)
    stored.set_defaults(handler=corrections.run_from_arguments)

    train = commands.add_parser("train", help="run the research pipeline (notebooks 01-04)")
    pipeline.add_arguments(train)
    train.set_defaults(handler=pipeline.run_from_arguments)

    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
