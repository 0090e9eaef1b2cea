"""The Voilà dashboard's widgets and callbacks: upload or draw, see what the network sees.

``dashboards/app.ipynb`` only builds a :class:`Dashboard` and displays it, so everything here can
be imported and tested without a browser. The serving kernel imports OpenCV and ONNX Runtime,
never TensorFlow.

Stable CSS classes (docs/architecture.md): ``digit-upload`` (the FileUpload), ``digit-result`` (one
card per processed image), ``digit-prediction`` (the element whose text is the predicted digit or
number), ``digit-error`` (a sentence for the user), ``digit-canvas`` (the drawing area).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import ipywidgets as widgets
import numpy as np

from digitlib import imageio, samples
from digitlib.errors import InvalidImageError, NoDigitFoundError
from digitlib.recognizer import NUMBER_SIDE, NumberReading, Prediction, Recognizer

log = logging.getLogger("digitlib.dashboard")

ACCEPT = "image/*,.png,.jpg,.jpeg,.webp,.bmp,.gif,.tif,.tiff"
MAX_FILES = 20  # files handled from one upload; the rest get a sentence
MAX_CARDS = 24  # result cards kept on the page, newest first
PREVIEW_SIDE = 360  # long side of the uploaded image as shown in its card
STAGE_SIDE = 120  # each preprocessing stage's thumbnail
INPUT_SIDE = 112  # the 28x28 network input, drawn 4x with visible pixels
CANVAS_SIDE = 280  # the drawing area, in CSS pixels
PEN_WIDTH = 18  # canvas pen, so a digit drawn across the canvas has MNIST's stroke proportion
LIVE_INTERVAL = 0.05  # seconds between live predictions while drawing
BOX_COLOURS_BGR = ((40, 170, 40), (200, 90, 20), (30, 30, 210), (0, 140, 230))
MODES = (("Single digit", "digit"), ("Whole number", "number"))
POLARITY_WORDS = {
    "dark-on-light": "dark ink on light paper",
    "light-on-dark": "light ink on dark",
    "alpha": "drawing on transparent",
}
GENERIC_ERROR = (
    "Something went wrong while reading this file. It has been logged; please try another image."
)

CSS = """
<style>
.digit-app { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; }
.digit-app h1 { font-size: 1.6em; margin: 0.2em 0; }
.digit-app .digit-lead { color: #444; margin: 0 0 0.6em 0; }
.digit-result { border: 1px solid #ddd; border-radius: 8px; padding: 10px 14px; margin: 8px 0;
  background: #fff; }
.digit-card-head { display: flex; gap: 12px; align-items: baseline; color: #555;
  font-size: 0.9em; margin-bottom: 6px; flex-wrap: wrap; }
.digit-card-head .digit-file { font-weight: 600; color: #222; word-break: break-all; }
.digit-card-body { display: flex; gap: 18px; align-items: flex-start; flex-wrap: wrap; }
.digit-card-body figure, .digit-stages figure { margin: 0; text-align: center; }
.digit-card-body figcaption, .digit-stages figcaption { font-size: 0.75em; color: #666; }
.digit-preview { max-width: 360px; max-height: 360px; border: 1px solid #eee; }
.digit-input { image-rendering: pixelated; border: 1px solid #ccc; background: #000; }
.digit-answer { min-width: 150px; }
.digit-prediction { font-size: 4em; font-weight: 700; line-height: 1; letter-spacing: 0.05em;
  color: #1a1a1a; }
.digit-confidence { color: #333; margin-top: 4px; }
.digit-unsure { display: inline-block; background: #f5a623; color: #000; border-radius: 4px;
  padding: 1px 8px; font-size: 0.85em; font-weight: 600; margin-top: 6px; }
.digit-bars { display: grid; grid-template-columns: 1.2em 180px 3.6em; gap: 2px 6px;
  align-items: center; font-size: 0.85em; }
.digit-bar { height: 12px; background: #cfd8e3; border-radius: 2px; }
.digit-bar.top1 { background: #2e7d32; } .digit-bar.top2 { background: #5c8fbf; }
.digit-bar.top3 { background: #8fb3d6; }
.digit-bar-track { background: #f2f2f2; border-radius: 2px; }
.digit-stages { display: flex; gap: 10px; margin-top: 8px; flex-wrap: wrap; }
.digit-stages img { width: 120px; height: auto; border: 1px solid #eee;
  image-rendering: pixelated; }
.digit-digits { display: flex; gap: 12px; flex-wrap: wrap; margin-top: 6px; }
.digit-digit { text-align: center; font-size: 0.85em; }
.digit-digit b { font-size: 1.6em; display: block; }
.digit-error { color: #a40000; background: #fff2f2; border-left: 4px solid #d32f2f;
  padding: 8px 12px; }
canvas.digit-canvas { border: 2px solid #888; border-radius: 6px; touch-action: none;
  cursor: crosshair; }
.digit-sample img { border: 1px solid #ddd; border-radius: 4px; }
.digit-live .digit-prediction { font-size: 4.5em; }
.digit-live .digit-answer { min-width: 110px; }
.digit-upload.widget-upload { font-size: 0 !important; }  /* ipywidgets writes "(0)" after the */
.digit-upload.widget-upload i { font-size: 13px; margin-right: 6px; }  /* label: our own instead */
.digit-upload.widget-upload::after { content: "Upload images"; font-size: 13px; }
.digit-download a { font-weight: 600; margin: 0 2px; }
.digit-live-top { display: flex; gap: 12px; align-items: flex-start; margin-bottom: 8px; }
.digit-live .digit-bars { grid-template-columns: 1.2em 150px 3.6em; }
</style>
"""


# Runs in the page (the notebook displays it as HTML, which Voilà renders into the page). The
# FileUpload reads every chosen file whole with FileReader.readAsArrayBuffer and sends it in one
# websocket message; a file over the limit is read as empty instead, so its size still arrives
# (the kernel answers with a sentence) and hundreds of megabytes never cross the socket.
UPLOAD_GUARD = """
<script>
(function () {
  if (window.__digitUploadGuard) { return; }
  window.__digitUploadGuard = true;
  const limit = %d;
  const read = FileReader.prototype.readAsArrayBuffer;
  FileReader.prototype.readAsArrayBuffer = function (blob) {
    return read.call(this, blob && blob.size > limit ? blob.slice(0, 0) : blob);
  };
})();
</script>
"""


def upload_guard():
    """The page-side size guard, for the notebook to display (see ``UPLOAD_GUARD``)."""
    from IPython.display import HTML

    return HTML(UPLOAD_GUARD % imageio.MAX_BYTES)


@dataclass
class UploadedFile:
    """One file as the browser sent it."""

    name: str
    data: bytes
    size: int  # as the browser reported it: more than len(data) when the guard held it back


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


def _unsure_badge(unsure: bool) -> str:
    return (
        '<div class="digit-unsure" title="the network\'s confidence is under the threshold">'
        "unsure</div>"
        if unsure
        else ""
    )


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
        + _unsure_badge(reading.unsure)
        + f'<div class="digit-digits">{digits}</div></div>'
        + "</div>"
    )


def process(recognizer: Recognizer, name: str, data: bytes, mode: str) -> tuple[str, bool, dict]:
    """Recognise one uploaded file; return the card's HTML, whether it succeeded, and what the
    card says as a record for the results download.

    Never raises: bad input becomes a sentence, and anything unexpected is logged and shown as
    a plain apology (no traceback reaches the page).
    """
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
            return number_html(name, decoded, reading, elapsed), True, record
        try:
            prediction = recognizer.predict(decoded, keep_stages=True)
        except NoDigitFoundError as error:  # a number uploaded as one digit points to the mode
            raise recognizer.single_digit_refusal(data, error) from None
        elapsed = (time.perf_counter() - started) * 1000
        record.update(answer=str(prediction.digit), **prediction.to_dict())
        return digit_html(name, decoded, prediction, elapsed), True, record
    except (InvalidImageError, NoDigitFoundError) as error:
        message = str(error)
    except MemoryError:
        log.exception("out of memory on %r", name)
        message = "This image is too large to process here."
    except Exception:  # noqa: BLE001 - the page must never show a traceback
        log.exception("unexpected failure on %r", name)
        message = GENERIC_ERROR
    return error_html(name, message), False, error_record(name, mode, message)


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


def uploaded_files(value) -> list[UploadedFile]:
    """ipywidgets 8 ``FileUpload.value`` (a tuple of dicts, content a memoryview) as plain
    objects. Older dict-shaped values are accepted too."""
    items = value.values() if isinstance(value, dict) else value
    files = []
    for item in items:
        content = item.get("content", b"")
        data = content.tobytes() if isinstance(content, memoryview) else bytes(content)
        size = int(item.get("size", len(data)) or len(data))
        files.append(UploadedFile(str(item.get("name", "upload")), data, max(size, len(data))))
    return files


class Dashboard:
    """Everything on the page. ``Dashboard().widget`` is what the notebook displays."""

    def __init__(self, recognizer: Recognizer | None = None, samples_dir: Path | None = None):
        self.recognizer = recognizer or Recognizer.load()
        self.samples_dir = Path(samples_dir or samples.SAMPLES_DIR)
        self._last_batch: list[UploadedFile] = []
        self._switching = False

        self.mode = widgets.ToggleButtons(
            options=MODES,
            value="digit",
            description="Read:",
            tooltips=["one digit per image", "a written number, left to right"],
            style={"button_width": "130px"},
        )
        self.mode.add_class("digit-mode")
        self.mode.observe(self._mode_changed, names="value")

        self.upload = widgets.FileUpload(
            accept=ACCEPT, multiple=True, description="Upload images", button_style="primary"
        )
        self.upload.layout.width = "220px"
        self.upload.add_class("digit-upload")
        self.upload.observe(self._uploaded, names="value")

        self.status = widgets.HTML()
        self.status.add_class("digit-status")
        self.records: list[dict] = []  # one per card shown, newest first
        self.download = widgets.HTML()
        self.download.add_class("digit-download")
        self.results = widgets.VBox(layout=widgets.Layout(width="100%"))
        self.results.add_class("digit-results")

        self.samples_row = self._samples_row()
        self.drawing = DrawingPad(self.recognizer)

        self.widget = widgets.VBox(
            [
                widgets.HTML(
                    CSS
                    + "<h1>Handwritten digit recognition</h1>"
                    + '<p class="digit-lead">Upload photos, scans or drawings of digits (several'
                    + " at once, up to 25 MiB each), try an example, or draw one below. The"
                    + " network is a CNN trained on MNIST; every answer shows what it saw.</p>"
                ),
                widgets.HBox(
                    [
                        widgets.VBox(
                            [
                                widgets.HBox(
                                    [self.upload, self.mode], layout=widgets.Layout(gap="16px")
                                ),
                                widgets.HTML(
                                    "<b>Examples</b> (made by the project's image generator):"
                                ),
                                self.samples_row,
                            ],
                            layout=widgets.Layout(flex="1 1 520px"),
                        ),
                        widgets.VBox(
                            [widgets.HTML("<b>Or draw a digit</b>"), self.drawing.widget],
                            layout=widgets.Layout(flex="0 1 auto"),
                        ),
                    ],
                    layout=widgets.Layout(gap="24px", flex_flow="row wrap"),
                ),
                self.status,
                self.download,
                self.results,
            ]
        )
        self.widget.add_class("digit-app")

    # Uploads ---------------------------------------------------------------------------------

    def _uploaded(self, change) -> None:
        if not change["new"]:
            return  # our own reset below
        try:
            files = uploaded_files(change["new"])
        finally:
            # Reset, or choosing the same file again would not fire.
            self.upload.value = ()
        self.handle(files)

    def handle(self, files: list[UploadedFile]) -> list[widgets.HTML]:
        """Process a batch of files and put one card per file at the top of the results."""
        self._last_batch = files[:MAX_FILES]
        made = [self._card(f) for f in self._last_batch]
        for extra in files[MAX_FILES:]:
            message = f"Only {MAX_FILES} files are read per upload; upload this one again."
            record = error_record(extra.name, self.mode.value, message)
            made.append((self._card_html(error_html(extra.name, message)), record))
        cards = [card for card, _ in made]
        self._show(cards, [record for _, record in made])
        good = sum("digit-error" not in card.value for card in cards)
        self.status.value = (
            f"<span>{good} of {len(cards)} file{'s' if len(cards) != 1 else ''} read.</span>"
        )
        return cards

    def _card(self, upload: UploadedFile) -> tuple[widgets.HTML, dict]:
        if upload.size > imageio.MAX_BYTES:  # refused by its size: its bytes never came
            message = imageio.size_sentence(upload.size)
            body = error_html(upload.name, message)
            record = error_record(upload.name, self.mode.value, message)
        else:
            body, _, record = process(self.recognizer, upload.name, upload.data, self.mode.value)
        return self._card_html(body), record

    @staticmethod
    def _card_html(body: str) -> widgets.HTML:
        card = widgets.HTML(body, layout=widgets.Layout(width="auto"))
        card.add_class("digit-result")
        return card

    def _show(self, cards: list[widgets.HTML], records: list[dict]) -> None:
        kept = list(cards) + list(self.results.children)
        for old in kept[MAX_CARDS:]:
            old.close()
        self.results.children = kept[:MAX_CARDS]
        self.records = (list(records) + self.records)[:MAX_CARDS]
        self.download.value = download_html(self.records)

    def _mode_changed(self, change) -> None:
        if self._switching or not self._last_batch:
            return
        self.handle(self._last_batch)  # read the last files again in the new mode

    # Examples --------------------------------------------------------------------------------

    def sample_paths(self) -> list[Path]:
        order = {kind: i for i, kind in enumerate(samples.TITLES)}
        paths = [p for p in self.samples_dir.glob("*-*.*") if p.stem.split("-")[0] in order]
        return sorted(paths, key=lambda p: (order[p.stem.split("-")[0]], p.name))

    def _samples_row(self) -> widgets.HBox:
        items = []
        for path in self.sample_paths():
            kind = path.stem.split("-")[0]
            try:
                thumb = _png_data_uri(
                    _fit(imageio.load(path.read_bytes()).pixels, 96)[0], quality=85
                )
            except (OSError, ValueError):
                log.exception("example %s cannot be shown", path)
                continue
            button = widgets.Button(
                description=f"{samples.TITLES[kind]}", tooltip=f"recognise {path.name}"
            )
            button.layout.width = "100px"
            button.add_class("digit-sample-button")
            button.on_click(lambda _button, path=path: self.open_sample(path))
            item = widgets.VBox(
                [
                    widgets.HTML(
                        f'<img src="{thumb}" height="72" style="max-width:100px;'
                        f'object-fit:contain" alt="{path.name}">'
                    ),
                    button,
                ],
                layout=widgets.Layout(align_items="center"),
            )
            item.add_class("digit-sample")
            items.append(item)
        return widgets.HBox(items, layout=widgets.Layout(gap="8px", flex_flow="row wrap"))

    def open_sample(self, path: Path) -> list[widgets.HTML]:
        """Recognise an example, switching to number mode for the number."""
        wanted = "number" if path.stem.startswith("number") else "digit"
        if self.mode.value != wanted:
            self._switching = True
            try:
                self.mode.value = wanted
            finally:
                self._switching = False
        return self.handle([UploadedFile(path.name, path.read_bytes(), path.stat().st_size)])


class DrawingPad:
    """A canvas to draw on with mouse, pen or finger; the prediction follows the pen."""

    def __init__(self, recognizer: Recognizer):
        from ipycanvas import Canvas  # only the dashboard needs it

        self.recognizer = recognizer
        self.raster = np.full((CANVAS_SIDE, CANVAS_SIDE), 255, np.uint8)
        self.strokes: list[list[tuple[float, float]]] = []
        self._drawing = False
        self._last_live = 0.0

        self.canvas = Canvas(width=CANVAS_SIDE, height=CANVAS_SIDE)
        self.canvas.layout.width = f"{CANVAS_SIDE}px"
        self.canvas.layout.height = f"{CANVAS_SIDE}px"
        self.canvas.add_class("digit-canvas")
        self.canvas.on_client_ready(self._repaint)
        self.canvas.on_mouse_down(self._down)
        self.canvas.on_mouse_move(self._move)
        self.canvas.on_mouse_up(self._up)
        self.canvas.on_mouse_out(self._up)
        self.canvas.on_touch_start(lambda touches: self._down(*touches[0]))
        self.canvas.on_touch_move(lambda touches: self._move(*touches[0]))
        self.canvas.on_touch_end(lambda touches: self._up(0, 0))

        self.clear_button = widgets.Button(description="Clear", icon="eraser")
        self.clear_button.add_class("digit-clear")
        self.clear_button.on_click(lambda _button: self.clear())
        self.answer = widgets.HTML(self._idle_html(), layout=widgets.Layout(width="250px"))
        self.answer.add_class("digit-live")
        self.widget = widgets.HBox(
            [widgets.VBox([self.canvas, self.clear_button]), self.answer],
            layout=widgets.Layout(gap="16px", align_items="flex-start"),
        )
        self.widget.add_class("digit-draw")

    @staticmethod
    def _idle_html() -> str:
        return (
            '<div class="digit-answer">Draw a digit in the box with your mouse, pen or finger;'
            " the answer follows as you draw.</div>"
        )

    def _style(self) -> None:
        self.canvas.stroke_style = "#111"
        self.canvas.line_width = PEN_WIDTH
        self.canvas.line_cap = "round"
        self.canvas.line_join = "round"

    def _repaint(self) -> None:
        """Paint the paper and any strokes so far: runs whenever a browser view appears."""
        from ipycanvas import hold_canvas

        with hold_canvas(self.canvas):
            self.canvas.clear()
            self.canvas.fill_style = "white"
            self.canvas.fill_rect(0, 0, CANVAS_SIDE, CANVAS_SIDE)
            self._style()
            for stroke in self.strokes:
                for (x0, y0), (x1, y1) in zip(stroke, stroke[1:] or stroke, strict=False):
                    self.canvas.stroke_line(x0, y0, x1, y1)

    def _down(self, x: float, y: float) -> None:
        self._drawing = True
        self.strokes.append([(x, y)])
        self._segment((x, y), (x, y))

    def _move(self, x: float, y: float) -> None:
        if not self._drawing:
            return
        stroke = self.strokes[-1]
        self._segment(stroke[-1], (x, y))
        stroke.append((x, y))
        if time.perf_counter() - self._last_live >= LIVE_INTERVAL:
            self.update()

    def _up(self, x: float, y: float) -> None:
        if self._drawing:
            self._drawing = False
            self.update()

    def _segment(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        self._style()
        self.canvas.stroke_line(*start, *end)
        cv2.line(
            self.raster,
            (int(round(start[0])), int(round(start[1]))),
            (int(round(end[0])), int(round(end[1]))),
            0,
            PEN_WIDTH,
            cv2.LINE_AA,
        )

    def draw(self, points: list[tuple[float, float]]) -> None:
        """Draw one stroke through ``points`` as if with the mouse (used by tests)."""
        self._down(*points[0])
        for point in points[1:]:
            self._move(*point)
        self._up(*points[-1])

    def clear(self) -> None:
        self.strokes.clear()
        self.raster[:] = 255
        self._repaint()
        self.answer.value = self._idle_html()

    def update(self) -> Prediction | None:
        """Predict from what is drawn so far and show it."""
        self._last_live = time.perf_counter()
        try:
            prediction = self.recognizer.predict(self.raster)
        except NoDigitFoundError:
            # Nothing drawn yet, or strokes that do not (yet) look like a digit.
            self.answer.value = (
                '<div class="digit-answer digit-not-yet">Not a digit yet: keep drawing.</div>'
                if self.strokes
                else self._idle_html()
            )
            return None
        except Exception:  # noqa: BLE001 - never a traceback on the page
            log.exception("live prediction failed")
            self.answer.value = f'<div class="digit-error">{html.escape(GENERIC_ERROR)}</div>'
            return None
        self.answer.value = (
            '<div class="digit-live-top">'
            + '<div class="digit-answer"><div class="digit-prediction">'
            + f"{prediction.digit}</div>"
            + f'<div class="digit-confidence">{prediction.confidence * 100:.1f}% sure</div>'
            + _unsure_badge(prediction.unsure)
            + "</div>"
            + '<figure><img class="digit-input" width="84" height="84" '
            + f'src="{network_input_uri(prediction.network_input, 84)}" alt="network input">'
            + "<figcaption>network input</figcaption></figure></div>"
            + bars_html(prediction.probabilities)
        )
        return prediction
