"""The corrections store: what the dashboard got wrong, as its users told it.

A correction is saved only when a visitor chooses the right answer on a card (or the drawing
pad) and presses "Save correction". Each is one row of a SQLite database (the standard
library's ``sqlite3``): the upload's bytes as they came (a drawing: the pad as a PNG), the 28x28
network input(s), the answer given with its probabilities, the right label, the SHA-256 of the
model that answered, and the time (UTC).

The database is ``data/corrections/corrections.sqlite``, or the path in
``DIGITLIB_CORRECTIONS_DB``. It is in WAL mode and every save is one transaction of its own, on
a connection of its own, so several visitors' kernels (processes) and threads save at once
without losing a row; a save that finds the database locked waits up to ``BUSY_SECONDS``. A
database that is damaged, locked for longer, or not writable is never replaced or repaired
here: the save fails with :class:`CorrectionNotSaved`, whose message is a sentence for the
page, and the rows already in it stay as they are.

``digitlib corrections list|export DIR|import DIR`` (:func:`main`) reviews, shares and versions
them: an export is the original files, each network input as a PNG, and ``labels.csv``.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import io
import json
import os
import sqlite3
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from digitlib import config

DEFAULT_DB = config.DATA_DIR / "corrections" / "corrections.sqlite"
NOT_A_DIGIT = "not a digit"
DIGIT_LABELS = tuple(str(d) for d in range(10)) + (NOT_A_DIGIT,)
BUSY_SECONDS = 10.0  # how long a save waits for another writer before it gives up
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS corrections (
    id INTEGER PRIMARY KEY,
    saved_at TEXT NOT NULL,        -- UTC, ISO 8601
    source TEXT NOT NULL,          -- 'upload' or 'drawing'
    file_name TEXT NOT NULL,
    mode TEXT NOT NULL,            -- 'digit' or 'number'
    original BLOB NOT NULL,        -- the file's bytes as uploaded (a drawing: a PNG of the pad)
    original_sha256 TEXT NOT NULL,
    network_input BLOB NOT NULL,   -- uint8 (n, 28, 28) as an .npy file: n = 1 for a digit
    answer TEXT NOT NULL,          -- what the card said
    probabilities TEXT NOT NULL,   -- JSON: one list of ten per network input
    label TEXT NOT NULL,           -- the right answer: '0'..'9', a number, or 'not a digit'
    model_sha256 TEXT NOT NULL,
    UNIQUE (original_sha256, saved_at, label)
);
"""
EXPORT_FIELDS = (
    "id",
    "saved_at",
    "source",
    "file_name",
    "mode",
    "original",
    "original_sha256",
    "network_input",
    "answer",
    "probabilities",
    "label",
    "model_sha256",
)


class CorrectionNotSaved(Exception):
    """A correction could not be stored; the message is a sentence for the user."""


@dataclass
class Correction:
    """One correction, as stored."""

    source: str
    file_name: str
    mode: str
    original: bytes
    network_input: np.ndarray  # (n, 28, 28) floats in 0..1 or uint8
    answer: str
    probabilities: list  # one list of ten per network input
    label: str
    model_sha256: str
    saved_at: str = field(default_factory=lambda: utc_now())
    id: int | None = None

    @property
    def original_sha256(self) -> str:
        return hashlib.sha256(self.original).hexdigest()

    def inputs_uint8(self) -> np.ndarray:
        """The network input(s) as (n, 28, 28) uint8, as stored."""
        inputs = np.asarray(self.network_input)
        if inputs.ndim == 2:
            inputs = inputs[None]
        if inputs.dtype != np.uint8:
            inputs = np.clip(np.rint(inputs * 255.0), 0, 255).astype(np.uint8)
        return inputs

    @property
    def wrong(self) -> bool:
        """The answer was not the right one (a saved correction may also confirm an answer)."""
        return self.answer != self.label


def utc_now() -> str:
    """The time a correction is saved: UTC, ISO 8601, to the microsecond."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def database_path(path: str | Path | None = None) -> Path:
    """The database a save goes to: ``path``, ``DIGITLIB_CORRECTIONS_DB``, or the default."""
    chosen = path or os.environ.get("DIGITLIB_CORRECTIONS_DB") or DEFAULT_DB
    return Path(chosen).expanduser()


@functools.cache
def _file_sha256(path: Path, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_sha256(path: str | Path) -> str:
    """The SHA-256 of a model file (cached while the file is unchanged)."""
    path = Path(path).resolve()
    stat = path.stat()
    return _file_sha256(path, stat.st_size, stat.st_mtime)


def _npy(inputs: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, inputs, allow_pickle=False)
    return buffer.getvalue()


def _from_npy(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None)
    connection.execute(f"PRAGMA busy_timeout = {int(BUSY_SECONDS * 1000)}")
    return connection


def _sentence(error: Exception) -> str:
    text = str(error).lower()
    if isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return (
            "The correction could not be saved: the corrections database is busy. "
            "Please press Save again in a moment."
        )
    if isinstance(error, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        return (
            "The correction could not be saved: the corrections database is damaged. "
            "Nothing was written to it; the corrections already in it are kept."
        )
    return (
        "The correction could not be saved: the corrections database cannot be written "
        f"({error.__class__.__name__}). The corrections already in it are kept."
    )


def _open(path: Path) -> sqlite3.Connection:
    """A connection to the database at ``path``, created (WAL mode) if it is new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = _connect(path)
    try:
        if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at each checkpoint
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute(SCHEMA)
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        elif version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"the database's schema {version} is newer than this digitlib's ({SCHEMA_VERSION})"
            )
    except BaseException:
        connection.close()
        raise
    return connection


INSERT = (
    "INSERT{or_ignore} INTO corrections (saved_at, source, file_name, mode, original,"
    " original_sha256, network_input, answer, probabilities, label, model_sha256)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _insert(items: list[Correction], path: Path, skip_existing: bool) -> tuple[int, int]:
    """Insert ``items`` in one transaction; return (the last row id, rows added). A row already
    there (the same file, time and label) is skipped with ``skip_existing``, an error without.

    Raises :class:`CorrectionNotSaved` (a sentence) when the database is damaged, stays locked
    or cannot be written; the rows already in it are left as they are."""
    try:
        connection = _open(path)
    except (sqlite3.Error, OSError) as error:
        raise CorrectionNotSaved(_sentence(error)) from error
    try:
        with connection:  # BEGIN ... COMMIT, or ROLLBACK on an error
            connection.execute("BEGIN IMMEDIATE")
            before, last = connection.total_changes, 0
            statement = INSERT.format(or_ignore=" OR IGNORE" if skip_existing else "")
            for item in items:  # execute, not executemany: that leaves lastrowid unset
                last = connection.execute(statement, _row(item)).lastrowid or last
            added = connection.total_changes - before
        return int(last), added
    except (sqlite3.Error, OSError) as error:
        raise CorrectionNotSaved(_sentence(error)) from error
    finally:
        connection.close()


def save(correction: Correction, path: str | Path | None = None) -> int:
    """Store one correction in one transaction; return its row id.

    Raises :class:`CorrectionNotSaved` (a sentence) when the database is damaged, stays locked
    or cannot be written; the rows already in it are left as they are."""
    correction.id, _ = _insert([correction], database_path(path), skip_existing=False)
    return correction.id


def _row(correction: Correction) -> tuple:
    return (
        correction.saved_at,
        correction.source,
        correction.file_name,
        correction.mode,
        sqlite3.Binary(correction.original),
        correction.original_sha256,
        sqlite3.Binary(_npy(correction.inputs_uint8())),
        correction.answer,
        json.dumps(correction.probabilities),
        correction.label,
        correction.model_sha256,
    )


def load(path: str | Path | None = None) -> list[Correction]:
    """Every correction in the database, oldest first (none when there is no database)."""
    path = database_path(path)
    if not path.is_file():
        return []
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_SECONDS)
    try:
        rows = connection.execute(
            "SELECT id, saved_at, source, file_name, mode, original, network_input, answer,"
            " probabilities, label, model_sha256 FROM corrections ORDER BY id"
        ).fetchall()
    finally:
        connection.close()
    return [
        Correction(
            id=row[0],
            saved_at=row[1],
            source=row[2],
            file_name=row[3],
            mode=row[4],
            original=bytes(row[5]),
            network_input=_from_npy(row[6]),
            answer=row[7],
            probabilities=json.loads(row[8]),
            label=row[9],
            model_sha256=row[10],
        )
        for row in rows
    ]


def training_set(items: list[Correction]) -> tuple[np.ndarray, np.ndarray]:
    """The corrections a classifier can learn from, as (n, 28, 28) uint8 inputs and labels:
    each digit labelled 0-9, and each digit of a number whose right answer has as many digits
    as the card read. "Not a digit" and numbers cut into another count of pieces are left out
    (the classifier has no class for them)."""
    inputs, labels = [], []
    for item in items:
        stack = item.inputs_uint8()
        if not item.label.isdigit() or len(item.label) != len(stack):
            continue
        inputs.extend(stack)
        labels.extend(int(character) for character in item.label)
    if not inputs:
        return np.zeros((0, 28, 28), np.uint8), np.zeros((0,), np.int64)
    return np.stack(inputs), np.asarray(labels, np.int64)


# Export and import -------------------------------------------------------------------------


def _extension(data: bytes) -> str:
    signatures = {
        b"\x89PNG": ".png",
        b"\xff\xd8\xff": ".jpg",
        b"GIF8": ".gif",
        b"BM": ".bmp",
        b"RIFF": ".webp",
        b"II*\x00": ".tif",
        b"MM\x00*": ".tif",
    }
    return next((ext for magic, ext in signatures.items() if data.startswith(magic)), ".bin")


def export(folder: str | Path, path: str | Path | None = None) -> int:
    """Write every correction to ``folder``: ``originals/`` (the files as uploaded),
    ``inputs/`` (each network input as a 28-pixel-high PNG strip) and ``labels.csv``. Returns
    the number written."""
    import cv2

    folder = Path(folder)
    (folder / "originals").mkdir(parents=True, exist_ok=True)
    (folder / "inputs").mkdir(parents=True, exist_ok=True)
    items = load(path)
    with (folder / "labels.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, EXPORT_FIELDS)
        writer.writeheader()
        for item in items:
            original = f"originals/{item.id:06d}{_extension(item.original)}"
            strip = f"inputs/{item.id:06d}.png"
            (folder / original).write_bytes(item.original)
            ok, png = cv2.imencode(".png", np.hstack(list(item.inputs_uint8())))
            if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
                raise RuntimeError("could not encode a network input")
            (folder / strip).write_bytes(png.tobytes())
            writer.writerow(
                {
                    "id": item.id,
                    "saved_at": item.saved_at,
                    "source": item.source,
                    "file_name": item.file_name,
                    "mode": item.mode,
                    "original": original,
                    "original_sha256": item.original_sha256,
                    "network_input": strip,
                    "answer": item.answer,
                    "probabilities": json.dumps(item.probabilities),
                    "label": item.label,
                    "model_sha256": item.model_sha256,
                }
            )
    return len(items)


def import_folder(folder: str | Path, path: str | Path | None = None) -> tuple[int, int]:
    """Add the corrections of an export to the database, in one transaction: a correction
    already there (the same file, time and label) is skipped. Returns (added, skipped).

    Raises ``ValueError`` with a sentence for a folder that is not an export (nothing is added
    then), :class:`CorrectionNotSaved` for a database that cannot be written."""
    import cv2

    folder = Path(folder)
    table = folder / "labels.csv"
    if not table.is_file():
        raise ValueError(f"{folder} has no labels.csv: it is not an export of corrections")
    items = []
    with table.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            try:
                original = (folder / row["original"]).read_bytes()
                if hashlib.sha256(original).hexdigest() != row["original_sha256"]:
                    raise ValueError(f"{row['original']} is not the file that was exported")
                strip = cv2.imdecode(
                    np.frombuffer((folder / row["network_input"]).read_bytes(), np.uint8),
                    cv2.IMREAD_GRAYSCALE,
                )
                if strip is None or strip.shape[0] != 28 or strip.shape[1] % 28:
                    raise ValueError(f"{row['network_input']} is not a strip of 28x28 inputs")
                inputs = np.stack(np.split(strip, strip.shape[1] // 28, axis=1))
                items.append(
                    Correction(
                        source=row["source"],
                        file_name=row["file_name"],
                        mode=row["mode"],
                        original=original,
                        network_input=inputs,
                        answer=row["answer"],
                        probabilities=json.loads(row["probabilities"]),
                        label=row["label"],
                        model_sha256=row["model_sha256"],
                        saved_at=row["saved_at"],
                    )
                )
            except (KeyError, OSError, ValueError, TypeError) as error:
                raise ValueError(f"labels.csv line {number}: {error}") from error
    _, added = _insert(items, database_path(path), skip_existing=True)
    return added, len(items) - added


# The command line: digitlib corrections list|export DIR|import DIR ----------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    default = DEFAULT_DB.relative_to(config.ROOT)
    parser.add_argument(
        "--db", help=f"the database (default: $DIGITLIB_CORRECTIONS_DB or {default})"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="one line per correction")
    out = actions.add_parser("export", help="write the originals, inputs and labels.csv to DIR")
    out.add_argument("folder", metavar="DIR")
    into = actions.add_parser("import", help="add the corrections of an export in DIR")
    into.add_argument("folder", metavar="DIR")


def run_from_arguments(args: argparse.Namespace) -> int:
    """``digitlib corrections ...``: 0 done, 1 the database or folder cannot be used."""
    path = database_path(args.db)
    try:
        if args.action == "list":
            items = load(path)
            for item in items:
                print(
                    f"{item.id:>5}  {item.saved_at[:19]}  {item.source:<7} {item.mode:<6} "
                    f"answered {item.answer or '-':<8} right {item.label:<11} {item.file_name}"
                )
            wrong = sum(item.wrong for item in items)
            print(f"{len(items)} correction(s), {wrong} of them wrong answers, in {path}")
        elif args.action == "export":
            count = export(args.folder, path)
            print(f"exported {count} correction(s) from {path} to {args.folder}")
        else:
            added, skipped = import_folder(args.folder, path)
            print(f"imported {added} correction(s) into {path}; {skipped} already there")
    except (sqlite3.Error, OSError) as error:
        print(f"error: {path}: {_sentence(error)}", file=sys.stderr)
        return 1
    except (CorrectionNotSaved, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
