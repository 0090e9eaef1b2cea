"""The dashboard's result cards as HTML: one card per uploaded file, and the results download.

Pure functions of a decoded image and what the recogniser said, so they are tested without a
browser or widgets. ``process`` is the one entry point the dashboard calls per file: it never
raises (bad input becomes a sentence; anything unexpected is logged and shown as an apology).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import logging
import time

import cv2
import numpy as np

from digitlib import imageio
from digitlib.errors import InvalidImageError, NoDigitFoundError
from digitlib.recognizer import NUMBER_SIDE, NumberReading, Prediction, Recognizer

log = logging.getLogger("digitlib.dashboard")

PREVIEW_SIDE = 360  # long side of the uploaded image as shown in its card
STAGE_SIDE = 120  # each preprocessing stage's thumbnail
INPUT_SIDE = 112  # the 28x28 network input, drawn 4x with visible pixels
BOX_COLOURS_BGR = ((40, 170, 40), (200, 90, 20), (30, 30, 210), (0, 140, 230))
POLARITY_WORDS = {
    "dark-on-light": "dark ink on light paper",
    "light-on-dark": "light ink on dark",
    "alpha": "drawing on transparent",
}
GENERIC_ERROR = (
    "Something went wrong while reading this file. It has been logged; please try another image."
)


def _png_data_uri(image: np.ndarray, quality: int | None = None) -> str:
    """An image as a data URI: JPEG for photos (``quality``), PNG otherwise."""
    if quality is not None:
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        kind = "jpeg"
    else:
        ok, buffer = cv2.imencode(".png", image)
        kind = "png"
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise RuntimeError("could not encode a preview")
    return f"data:image/{kind};base64," + base64.b64encode(buffer.tobytes()).decode("ascii")


def _fit(image: np.ndarray, side: int, interpolation=cv2.INTER_AREA) -> tuple[np.ndarray, float]:
    """Shrink so the long side is at most ``side``; return the image and the factor used."""
    factor = min(1.0, side / max(image.shape[:2]))
    if factor < 1.0:
        size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
        image = cv2.resize(image, size, interpolation=interpolation)
    return image, factor


def preview(decoded: imageio.DecodedImage, boxes: list[tuple[int, int, int, int]]) -> str:
    """The uploaded image, shrunk for the page, with each found digit boxed (and numbered when
    there are several)."""
    pixels = decoded.pixels
    shown, factor = _fit(pixels, PREVIEW_SIDE)
    if shown.ndim == 2:
        shown = cv2.cvtColor(shown, cv2.COLOR_GRAY2BGR)
    else:
        shown = shown.copy()
    factor *= decoded.scale  # boxes are in the stored file's pixels
    thickness = 2 if max(shown.shape[:2]) > 120 else 1
    for number, (x, y, w, h) in enumerate(boxes):
        colour = BOX_COLOURS_BGR[number % len(BOX_COLOURS_BGR)]
        top_left = (int(x * factor), int(y * factor))
        bottom_right = (int((x + w) * factor), int((y + h) * factor))
        cv2.rectangle(shown, top_left, bottom_right, colour, thickness)
        if len(boxes) > 1:
            cv2.putText(
                shown,
                str(number + 1),
                (top_left[0], max(12, top_left[1] - 3)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.45,
                colour,
                1,
                cv2.LINE_AA,
            )
    return _png_data_uri(shown, quality=85)


def network_input_uri(network_input: np.ndarray, side: int = INPUT_SIDE) -> str:
    """The 28x28 input the network saw, enlarged with visible pixels."""
    pixels = np.clip(network_input * 255.0, 0, 255).astype(np.uint8)
    return _png_data_uri(cv2.resize(pixels, (side, side), interpolation=cv2.INTER_NEAREST))


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%" if value >= 0.001 else "<0.1%"


def bars_html(probabilities: np.ndarray) -> str:
    """All ten probabilities as horizontal bars, the three most probable highlighted and
    labelled with their percentage."""
    order = list(np.argsort(-probabilities)[:3])
    rows = []
    for digit, value in enumerate(probabilities):
        rank = order.index(digit) + 1 if digit in order else 0
        width = max(0.0, min(100.0, float(value) * 100.0))
        label = _percent(value) if rank else ""
        rows.append(
            f'<span>{digit}</span><div class="digit-bar-track"><div class="digit-bar'
            f'{f" top{rank}" if rank else ""}" style="width:{width:.1f}%"></div></div>'
            f"<span>{label}</span>"
        )
    return f'<div class="digit-bars" title="probability of each digit">{"".join(rows)}</div>'


def _unsure_badge(
    unsure: bool, why: str = "the network's confidence is under the threshold"
) -> str:
    return f'<div class="digit-unsure" title="{html.escape(why)}">unsure</div>' if unsure else ""


def _head(name: str, details: str) -> str:
    return (
        f'<div class="digit-card-head"><span class="digit-file">{html.escape(name)}</span>'
        f"<span>{html.escape(details)}</span></div>"
    )


def error_html(name: str, message: str) -> str:
    """A card body for a file that could not be read."""
    return _head(name, "") + f'<div class="digit-error">{html.escape(message)}</div>'


def digit_html(
    name: str, decoded: imageio.DecodedImage, prediction: Prediction, elapsed_ms: float
) -> str:
    """A card for one recognised digit: preview, answer, bars and the preprocessing stages."""
    width, height = decoded.original_size
    head = _head(
        name,
        f"{decoded.format} {width}x{height} · "
        f"{POLARITY_WORDS.get(prediction.polarity, prediction.polarity)} · {elapsed_ms:.0f} ms",
    )
    stages = "".join(
        f'<figure><img src="{_png_data_uri(_fit(image, STAGE_SIDE)[0])}" alt="{title}">'
        f"<figcaption>{title}</figcaption></figure>"
        for title, image in prediction.stages.items()
        if title != "network input"
    )
    return (
        head
        + '<div class="digit-card-body">'
        + f'<figure><img class="digit-preview" src="{preview(decoded, [prediction.box])}" '
        + 'alt="uploaded image"><figcaption>your image, digit boxed</figcaption></figure>'
        + f'<figure><img class="digit-input" width="{INPUT_SIDE}" height="{INPUT_SIDE}" '
        + f'src="{network_input_uri(prediction.network_input)}" alt="network input">'
        + "<figcaption>what the network sees (28x28)</figcaption></figure>"
        + f'<div class="digit-answer"><div class="digit-prediction">{prediction.digit}</div>'
        + f'<div class="digit-confidence">{prediction.confidence * 100:.1f}% sure</div>'
        + _unsure_badge(prediction.unsure)
        + "</div>"
        + bars_html(prediction.probabilities)
        + "</div>"
        + (f'<div class="digit-stages">{stages}</div>' if stages else "")
    )


def number_html(
    name: str, decoded: imageio.DecodedImage, reading: NumberReading, elapsed_ms: float
) -> str:
    """A card for a number: preview with numbered boxes, the text, and each digit's input,
    answer and top-3."""
    width, height = decoded.original_size
    head = _head(
        name,
        f"{decoded.format} {width}x{height} · {len(reading.digits)} digits · {elapsed_ms:.0f} ms",
    )
    digits = "".join(
        f'<div class="digit-digit"><img class="digit-input" width="56" height="56" '
        f'src="{network_input_uri(d.network_input, 56)}" alt="digit {i + 1}">'
        f"<b>{d.digit}</b>{d.confidence * 100:.1f}%"
        + ("<br>" + "<br>".join(f"{k}: {_percent(p)}" for k, p in d.top(3)[1:]))
        + _unsure_badge(d.unsure)
        + "</div>"
        for i, d in enumerate(reading.digits)
    )
    boxed = preview(decoded, [d.box for d in reading.digits])
    return (
        head
        + '<div class="digit-card-body">'
        + f'<figure><img class="digit-preview" src="{boxed}" '
        + 'alt="uploaded image"><figcaption>your image, digits boxed left to right</figcaption>'
        + "</figure>"
        + f'<div class="digit-answer"><div class="digit-prediction">{reading.text}</div>'
        + f'<div class="digit-confidence">weakest digit {reading.confidence * 100:.1f}% sure'
        + "</div>"
        + _unsure_badge(
            reading.unsure,
            "; ".join(reading.doubts) or "a digit's confidence is under the threshold",
        )
        + "".join(
            f'<div class="digit-doubt">{html.escape(doubt)}</div>' for doubt in reading.doubts
        )
        + f'<div class="digit-digits">{digits}</div></div>'
        + "</div>"
    )


def process(recognizer: Recognizer, name: str, data: bytes, mode: str) -> tuple[str, bool, dict]:
    """Recognise one uploaded file; return the card's HTML, whether it succeeded, and what the
    card says as a record for the results download.

    Never raises: bad input becomes a sentence, and anything unexpected is logged and shown as
    a plain apology (no traceback reaches the page).
    """
    body, ok, record, _ = read(recognizer, name, data, mode)
    return body, ok, record


def read(
    recognizer: Recognizer, name: str, data: bytes, mode: str
) -> tuple[str, bool, dict, Prediction | NumberReading | None]:
    """:func:`process`, and the answer itself (``None`` for a sentence): what a correction of
    the card stores beside the file."""
    started = time.perf_counter()
    record = {"file": name, "mode": mode}
    try:
        # A number is read at more pixels than one digit (the same decoding read_number does).
        side = NUMBER_SIDE if mode == "number" else imageio.JPEG_TARGET_SIDE
        decoded = imageio.load(data, min_side=side)
        if mode == "number":
            reading = recognizer.read_number(decoded)
            elapsed = (time.perf_counter() - started) * 1000
            record.update(answer=reading.text, **reading.to_dict())
            return number_html(name, decoded, reading, elapsed), True, record, reading
        try:
            prediction = recognizer.predict(decoded, keep_stages=True)
        except NoDigitFoundError as error:  # a number uploaded as one digit points to the mode
            raise recognizer.single_digit_refusal(data, error) from None
        elapsed = (time.perf_counter() - started) * 1000
        record.update(answer=str(prediction.digit), **prediction.to_dict())
        return digit_html(name, decoded, prediction, elapsed), True, record, prediction
    except (InvalidImageError, NoDigitFoundError) as error:
        message = str(error)
    except MemoryError:
        log.exception("out of memory on %r", name)
        message = "This image is too large to process here."
    except Exception:  # noqa: BLE001 - the page must never show a traceback
        log.exception("unexpected failure on %r", name)
        message = GENERIC_ERROR
    return error_html(name, message), False, error_record(name, mode, message), None


def error_record(name: str, mode: str, message: str) -> dict:
    """The download's record of a card that shows a sentence instead of an answer."""
    return {"file": name, "mode": mode, "answer": "", "error": message}


# The results download: one row per card, newest first.
CSV_FIELDS = ("file", "mode", "answer", "confidence", "unsure", "digit_score", "answered_by", "box")


def _csv_cell(value) -> str:
    """A cell as text; one a spreadsheet would run as a formula (a file named "=cmd()") is
    quoted with an apostrophe, as spreadsheets themselves do."""
    text = " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def results_csv(records: list[dict]) -> str:
    """The records as CSV: the fields of ``CSV_FIELDS`` and the error sentence, if any."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_FIELDS, "error"])
    for record in records:
        writer.writerow([_csv_cell(record.get(key, "")) for key in (*CSV_FIELDS, "error")])
    return out.getvalue()


def download_html(records: list[dict]) -> str:
    """Links that download every card's result as CSV or JSON (nothing before the first)."""
    if not records:
        return ""

    def link(data: str, kind: str, name: str, label: str) -> str:
        encoded = base64.b64encode(data.encode("utf-8")).decode("ascii")
        return (
            f'<a class="digit-download-{label.lower()}" download="{name}" '
            f'href="data:{kind};charset=utf-8;base64,{encoded}">{label}</a>'
        )

    count = f"{len(records)} result{'s' if len(records) != 1 else ''}"
    return (
        f"<span>Download {count}: "
        + link(results_csv(records), "text/csv", "digit-results.csv", "CSV")
        + " · "
        + link(json.dumps(records, indent=2), "application/json", "digit-results.json", "JSON")
        + "</span>"
    )
