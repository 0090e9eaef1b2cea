"""The Voilà dashboard's widgets and callbacks: upload, drop, paste, photograph or draw, and see
what the network sees.

``dashboards/app.ipynb`` only builds a :class:`Dashboard` and displays it with
:func:`page_script`, so everything here can be imported and tested without a browser. The result
cards are HTML made by :mod:`digitlib.cards`; the page's styles and script are the files in
``digitlib/web/``. The serving kernel imports OpenCV and ONNX Runtime, never TensorFlow.

Stable CSS classes (docs/architecture.md): ``digit-upload`` (the FileUpload), ``digit-camera``
(take a photo, on touch screens), ``digit-result`` (one card per processed image),
``digit-prediction`` (the element whose text is the predicted digit or number), ``digit-error``
(a sentence for the user), ``digit-canvas`` (the drawing area), ``digit-clear``, ``digit-live``
(the drawing's answer), ``digit-download``, ``digit-correct`` (save the right answer: on every
card with an answer and on the drawing pad, :mod:`digitlib.feedback`).
"""

from __future__ import annotations

import ctypes
import functools
import html
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import ipywidgets as widgets
import numpy as np

from digitlib import config, corrections, imageio, samples
from digitlib.cards import (  # noqa: F401 - the card functions are also this module's API
    GENERIC_ERROR,
    _fit,
    _png_data_uri,
    _unsure_badge,
    bars_html,
    digit_html,
    download_html,
    error_html,
    error_record,
    network_input_uri,
    number_html,
    process,
    read,
    results_csv,
)
from digitlib.corrections import Correction
from digitlib.errors import NoDigitFoundError
from digitlib.feedback import CorrectionControl, ResultCard
from digitlib.prediction import NumberReading
from digitlib.recognizer import Prediction, Recognizer

log = logging.getLogger("digitlib.dashboard")

ACCEPT = "image/*,.png,.jpg,.jpeg,.webp,.bmp,.gif,.tif,.tiff"
MAX_FILES = 20  # files handled from one upload; the rest get a sentence
MAX_CARDS = 24  # result cards kept on the page, newest first
CANVAS_SIDE = 280  # the drawing area, in CSS pixels (fits a 360 px phone with its margins)
PEN_WIDTH = 18  # canvas pen, so a digit drawn across the canvas has MNIST's stroke proportion
LIVE_INTERVAL = 0.05  # seconds between live predictions while drawing
MODES = (("Single digit", "digit"), ("Whole number", "number"))
WEB = Path(__file__).with_name("web")  # the page's styles and script


def release_memory() -> None:
    """Give the memory freed by the last batch of files back to the system (glibc keeps it for
    the process otherwise). Measured on one kernel after 10 photos and 5 numbers: 121 MB
    private with this and the models' arena off, 149 MB with neither; 1 ms a batch."""
    try:
        _libc().malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


@functools.cache
def _libc():
    return ctypes.CDLL("libc.so.6")


def page_css() -> str:
    """The dashboard's styles, as a ``<style>`` element."""
    return "<style>\n" + (WEB / "dashboard.css").read_text(encoding="utf-8") + "</style>\n"


def page_script():
    """The page-side script for the notebook to display: the upload size guard, and drop,
    paste and camera going in through the upload (``digitlib/web/page.js``)."""
    from IPython.display import HTML

    script = (WEB / "page.js").read_text(encoding="utf-8")
    return HTML("<script>\n" + script.replace("__LIMIT__", str(imageio.MAX_BYTES)) + "</script>")


@dataclass
class UploadedFile:
    """One file as the browser sent it."""

    name: str
    data: bytes
    size: int  # as the browser reported it: more than len(data) when the guard held it back


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

    def __init__(
        self,
        recognizer: Recognizer | None = None,
        samples_dir: Path | None = None,
        corrections_db: str | Path | None = None,
    ):
        # A kernel per visitor, idle most of the time: no memory kept between runs.
        self.recognizer = recognizer or Recognizer.load(arena=False)
        self.samples_dir = Path(samples_dir or samples.SAMPLES_DIR)
        self.corrections_db = corrections_db  # None: $DIGITLIB_CORRECTIONS_DB or the default
        self.model_sha256 = corrections.model_sha256(
            getattr(self.recognizer, "model_path", config.DEFAULT_ONNX)
        )
        self._last_batch: list[UploadedFile] = []
        self._switching = False

        self.mode = widgets.ToggleButtons(
            options=MODES,
            value="digit",
            description="Read:",
            tooltips=["one digit per image", "a written number, left to right"],
            style={"button_width": "120px", "description_width": "initial"},
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
        self.drawing = DrawingPad(self.recognizer, self.model_sha256, corrections_db)

        # The page's script takes files dropped or pasted anywhere, and the camera's photo, in
        # through self.upload, so they arrive exactly as chosen files do.
        self.camera = widgets.HTML(
            '<button class="digit-camera" type="button" title="take a photo of a digit">'
            "Take a photo</button>"
        )
        controls = widgets.HBox(
            [self.upload, self.camera, self.mode],
            layout=widgets.Layout(gap="8px 16px", align_items="center"),
        )
        controls.add_class("digit-controls")
        columns = widgets.HBox(
            [
                widgets.VBox(
                    [
                        controls,
                        widgets.HTML("<b>Examples</b> (made by the project's image generator):"),
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
        )
        columns.add_class("digit-columns")
        self.widget = widgets.VBox(
            [
                widgets.HTML(
                    page_css()
                    + "<h1>Handwritten digit recognition</h1>"
                    + '<p class="digit-lead">Upload photos, scans or drawings of digits (several'
                    + " at once, up to 25 MiB each; or drop or paste them anywhere on the page),"
                    + " try an example, or draw one below. The network is a CNN trained on"
                    + " MNIST; every answer shows what it saw.</p>"
                ),
                columns,
                self.status,
                self.download,
                self.results,
            ]
        )
        self.widget.add_class("digit-app")
        release_memory()  # what building the page freed (model loading, the examples)

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

    def handle(self, files: list[UploadedFile]) -> list[ResultCard]:
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
        release_memory()
        return cards

    def _card(self, upload: UploadedFile) -> tuple[ResultCard, dict]:
        if upload.size > imageio.MAX_BYTES:  # refused by its size: its bytes never came
            message = imageio.size_sentence(upload.size)
            body = error_html(upload.name, message)
            record = error_record(upload.name, self.mode.value, message)
            return self._card_html(body), record
        mode = self.mode.value
        body, _, record, answer = read(self.recognizer, upload.name, upload.data, mode)
        digits = answer.digits if isinstance(answer, NumberReading) else [answer]
        if answer is None or not digits:
            return self._card_html(body), record
        # Made now, so the card keeps the file and the inputs but not the answer's stage images.
        draft = correction_draft(upload.name, upload.data, mode, answer, self.model_sha256)
        control = CorrectionControl(lambda: draft, mode, self.corrections_db)
        return ResultCard(body, control), record

    @staticmethod
    def _card_html(body: str) -> ResultCard:
        return ResultCard(body)

    def _show(self, cards: list[ResultCard], records: list[dict]) -> None:
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

    def open_sample(self, path: Path) -> list[ResultCard]:
        """Recognise an example, switching to number mode for the number."""
        wanted = "number" if path.stem.startswith("number") else "digit"
        if self.mode.value != wanted:
            self._switching = True
            try:
                self.mode.value = wanted
            finally:
                self._switching = False
        return self.handle([UploadedFile(path.name, path.read_bytes(), path.stat().st_size)])


def correction_draft(
    name: str,
    data: bytes,
    mode: str,
    answer: Prediction | NumberReading,
    model_sha256: str,
    source: str = "upload",
) -> Correction:
    """What a correction of this answer stores, all but the right label."""
    digits = answer.digits if isinstance(answer, NumberReading) else [answer]
    return Correction(
        source=source,
        file_name=name,
        mode=mode,
        original=data,
        network_input=np.stack([d.network_input for d in digits]),
        answer=answer.text if isinstance(answer, NumberReading) else str(answer.digit),
        probabilities=[[round(float(p), 6) for p in d.probabilities] for d in digits],
        label="",
        model_sha256=model_sha256,
    )


class DrawingPad:
    """A canvas to draw on with mouse, pen or finger; the prediction follows the pen."""

    def __init__(
        self,
        recognizer: Recognizer,
        model_sha256: str = "",
        corrections_db: str | Path | None = None,
    ):
        from ipycanvas import Canvas  # only the dashboard needs it

        self.recognizer = recognizer
        self.model_sha256 = model_sha256
        self.last: Prediction | None = None  # the answer shown, what a correction corrects
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
        pad = widgets.VBox([self.canvas, self.clear_button])
        pad.add_class("digit-pad")  # never shrinks: the answer goes below rather than over it
        drawn = widgets.HBox(
            [pad, self.answer],
            layout=widgets.Layout(gap="8px 16px", align_items="flex-start"),
        )
        drawn.add_class("digit-draw")
        self.correction = CorrectionControl(self._draft, "digit", corrections_db)
        self.widget = widgets.VBox([drawn, self.correction.widget])
        self.correction.place(self.widget)

    def _draft(self) -> Correction | None:
        """The drawing as a PNG and the answer shown for it."""
        if self.last is None:
            return None
        ok, png = cv2.imencode(".png", self.raster)
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
            raise RuntimeError("could not encode the drawing")
        return correction_draft(
            "drawing.png", png.tobytes(), "digit", self.last, self.model_sha256, "drawing"
        )

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
        if self.correction.saved is not None:  # a new drawing gets a correction of its own
            self.correction.reset()
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
        self.last = None
        self.correction.reset()

    def update(self) -> Prediction | None:
        """Predict from what is drawn so far and show it."""
        self._last_live = time.perf_counter()
        try:
            prediction = self.recognizer.predict(self.raster)
        except NoDigitFoundError:
            # Nothing drawn yet, or strokes that do not (yet) look like a digit.
            self.last = None
            self.answer.value = (
                '<div class="digit-answer digit-not-yet">Not a digit yet: keep drawing.</div>'
                if self.strokes
                else self._idle_html()
            )
            return None
        except Exception:  # noqa: BLE001 - never a traceback on the page
            log.exception("live prediction failed")
            self.last = None
            self.answer.value = f'<div class="digit-error">{html.escape(GENERIC_ERROR)}</div>'
            return None
        self.last = prediction
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
