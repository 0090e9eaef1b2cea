"""End to end: the dashboard served by Voilà, driven in Debian's headless chromium by Playwright.

The server is started exactly as ``make dashboard`` starts it (``digitlib.serve``), on a free
port. Nothing is downloaded: Playwright drives ``/usr/bin/chromium`` (``make test`` installs it).
A screenshot of every scenario is saved under ``runs/browser/``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from digitlib import config, synth
from digitlib.serve import CHROMIUM, CHROMIUM_ARGS, BackgroundServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = config.RUNS_DIR / "browser"
TIMEOUT_MS = 30_000


def _chromium_or_skip() -> str:
    if Path(CHROMIUM).is_file():
        return CHROMIUM
    if "DIGITLIB_CHROMIUM" in os.environ:  # `make test` promised a browser: missing is a failure
        pytest.fail(f"chromium is not at {CHROMIUM}; `make test` should have installed it")
    pytest.skip("chromium is not installed (`make test` installs Debian's chromium)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = BackgroundServer(tmp_path_factory.mktemp("voila") / "voila.log")
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    executable = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server, request):
    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    outside = []
    page.on(
        "request",
        lambda r: (
            outside.append(r.url)
            if not r.url.startswith((server.url, "data:", "blob:", "ws://127.0.0.1"))
            else None
        ),
    )
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url)
    page.locator(".digit-upload").wait_for(state="visible")
    yield page
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{request.node.name}.png"), full_page=True)
    text = page.locator("body").inner_text()
    page.close()
    assert "Traceback" not in text and "Error:" not in text
    assert outside == [], f"the page asked for outside resources: {outside}"


@pytest.fixture(scope="module")
def files(mnist, tmp_path_factory):
    """Realistic uploads of held-out MNIST test digits, written as a user's files."""
    folder = tmp_path_factory.mktemp("uploads")
    rng = np.random.default_rng(2026)
    images, labels = mnist.x_test, mnist.y_test
    made = {}

    def save(name, sample):
        path = folder / name
        path.write_bytes(sample.data)
        made[name] = (path, sample.label)

    save("photo.jpg", synth.photo(images[200], int(labels[200]), rng, side=1000))
    save("drawing.png", synth.canvas(images[201], int(labels[201]), rng, side=500))
    save("crop.jpg", synth.crop(images[202], int(labels[202]), rng, side=150))
    number = [203, 204, 205, 206]
    save(
        "amount.jpg",
        synth.number_photo([images[i] for i in number], [int(labels[i]) for i in number], rng),
    )
    broken = folder / "broken.jpg"
    broken.write_bytes(made["photo.jpg"][0].read_bytes()[:2000])
    made["broken.jpg"] = (broken, None)
    return made


def upload(page, *paths: Path) -> None:
    """Choose files in the FileUpload as a person does (its input is detached, so through the
    file chooser), then wait for one new card per file."""
    from playwright.sync_api import expect

    cards = page.locator(".digit-result")
    before = cards.count()
    with page.expect_file_chooser() as chooser:
        page.locator(".digit-upload").click()
    chooser.value.set_files([str(p) for p in paths])
    expect(cards).to_have_count(before + len(paths))


def card_texts(page, count: int) -> list[tuple[str | None, str | None]]:
    """(prediction, error) for the newest ``count`` cards, in upload order."""
    out = []
    for index in range(count):
        card = page.locator(".digit-result").nth(index)
        prediction = card.locator(".digit-prediction")
        error = card.locator(".digit-error")
        out.append(
            (
                prediction.inner_text() if prediction.count() else None,
                error.inner_text() if error.count() else None,
            )
        )
    return out


def test_upload_one_photo_shows_the_right_digit(page, files):
    path, label = files["photo.jpg"]
    upload(page, path)
    assert card_texts(page, 1) == [(label, None)]
    card = page.locator(".digit-result").first
    assert card.locator("img.digit-preview").count() == 1
    assert card.locator(".digit-bar").count() == 10


def test_several_files_at_once_with_a_broken_one(page, files):
    names = ["drawing.png", "broken.jpg", "crop.jpg"]
    upload(page, *(files[name][0] for name in names))
    drawing, broken, crop = card_texts(page, 3)
    assert drawing == (files["drawing.png"][1], None)
    assert crop == (files["crop.jpg"][1], None)
    assert broken[0] is None and "truncated" in broken[1]


def test_same_file_twice(page, files):
    path, label = files["crop.jpg"]
    upload(page, path)
    upload(page, path)
    assert card_texts(page, 2) == [(label, None)] * 2


def test_number_mode_reads_a_number(page, files):
    page.get_by_role("button", name="Whole number").click()
    path, label = files["amount.jpg"]
    upload(page, path)
    assert card_texts(page, 1) == [(label, None)]
    assert page.locator(".digit-result").first.locator(".digit-digit").count() == len(label)


def test_correct_an_answer_and_the_row_holds_the_original_file(page, files, corrections_elsewhere):
    from playwright.sync_api import expect

    from digitlib import corrections

    path, label = files["photo.jpg"]
    upload(page, path)
    card = page.locator(".digit-result").first
    shown = card.locator(".digit-prediction").inner_text()
    right = str((int(label) + 3) % 10)  # as if the answer had been wrong
    card.locator(".digit-correct-open").click()  # "Wrong?" opens the control
    control = card.locator(".digit-correct")
    expect(control).to_be_visible()
    control.locator(".digit-correct-choice select").select_option(right)
    control.locator(".digit-correct-save").click()
    expect(control.locator(".digit-correct-saved")).to_contain_text(
        f"the right answer is {right}", timeout=TIMEOUT_MS
    )
    expect(control.locator(".digit-correct-save")).to_be_disabled()
    rows = [
        row for row in corrections.load(corrections_elsewhere) if row.original == path.read_bytes()
    ]
    assert len(rows) == 1
    (row,) = rows
    assert row.file_name == "photo.jpg" and row.label == right and row.answer == shown
    assert row.source == "upload" and row.network_input.shape == (1, 28, 28)
    assert row.model_sha256 == hashlib.sha256(config.DEFAULT_ONNX.read_bytes()).hexdigest()


def test_draw_a_digit_with_the_mouse(page):
    canvas = page.locator("canvas.digit-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y = box["x"], box["y"]
    # A 7: the bar, then the stem, in small mouse steps.
    page.mouse.move(x + 80, y + 55)
    page.mouse.down()
    page.mouse.move(x + 200, y + 55, steps=15)
    page.mouse.move(x + 115, y + 240, steps=25)
    page.mouse.up()
    live = page.locator(".digit-live .digit-prediction")
    from playwright.sync_api import expect

    expect(live).to_have_text("7")
    page.get_by_role("button", name="Clear").click()
    expect(live).to_have_count(0)


def test_click_an_example(page):
    from playwright.sync_api import expect

    page.locator(".digit-sample button").first.click()
    expect(page.locator(".digit-result")).to_have_count(1)
    first = sorted(
        (p for p in (config.DATA_DIR / "samples").glob("photo-*")), key=lambda p: p.name
    )[0]
    assert card_texts(page, 1) == [(first.stem.split("-")[1], None)]
    page.locator(".digit-sample button", has_text="Number").click()
    expect(page.locator(".digit-result")).to_have_count(2)
    number = next((config.DATA_DIR / "samples").glob("number-*"))
    assert card_texts(page, 1) == [(number.stem.split("-")[1], None)]


def test_large_photo_over_the_default_websocket_limit_and_oversized_files(
    page, files, mnist, tmp_path
):
    # A 12-megapixel PNG with a phone's grain: more than Tornado's default 10 MiB message.
    sample = synth.photo(mnist.x_test[207], int(mnist.y_test[207]), np.random.default_rng(3), 4000)
    pixels = cv2.imdecode(np.frombuffer(sample.data, np.uint8), cv2.IMREAD_COLOR)
    grain = np.random.default_rng(4).normal(0, 3, pixels.shape)
    pixels = np.clip(pixels + grain, 0, 255).astype(np.uint8)
    big = tmp_path / "phone.png"
    big.write_bytes(cv2.imencode(".png", pixels)[1].tobytes())
    assert 10.5 * 2**20 < big.stat().st_size < 25e6, big.stat().st_size
    too_big = tmp_path / "scan.tif"
    too_big.write_bytes(b"II*\x00" + bytes(30 * 2**20 - 4))
    # Over the raised websocket limit too: only the page's guard can answer for this one.
    huge = tmp_path / "video.png"
    with huge.open("wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.truncate(300 * 2**20)  # sparse: costs no disk
    upload(page, big, too_big, huge)
    (photo, scan, video) = card_texts(page, 3)
    assert photo == (sample.label, None)
    assert scan[0] is None and re.search(r"30\.0 MiB; the limit is 25\.0 MiB", scan[1])
    assert video[0] is None and re.search(r"300\.0 MiB; the limit is 25\.0 MiB", video[1])


def test_readme_screenshot(page, files):
    """The README's picture: a photo, a drawing and a number read, and a digit drawn by hand.
    Saved as runs/browser/dashboard.png; `make screenshot` copies it into reports/figures."""
    from playwright.sync_api import expect

    upload(page, files["photo.jpg"][0], files["drawing.png"][0])
    page.locator(".digit-sample button", has_text="Number").click()
    expect(page.locator(".digit-result")).to_have_count(3)
    canvas = page.locator("canvas.digit-canvas")
    box = canvas.bounding_box()
    x, y = box["x"], box["y"]
    # A 2: the arc, the diagonal and the base.
    page.mouse.move(x + 85, y + 95)
    page.mouse.down()
    for px, py in ((110, 60), (160, 52), (195, 85), (185, 130), (95, 230), (205, 230)):
        page.mouse.move(x + px, y + py, steps=8)
    page.mouse.up()
    expect(page.locator(".digit-live .digit-prediction")).to_have_text("2")
    assert [text for text, _ in card_texts(page, 3)] == [
        next((config.DATA_DIR / "samples").glob("number-*")).stem.split("-")[1],
        files["photo.jpg"][1],
        files["drawing.png"][1],
    ]
    page.evaluate("window.scrollTo(0, 0)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(SHOTS / "dashboard.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 1500}
    )


def test_draw_a_digit_with_a_finger(browser, server):
    """Touch events, as a phone sends them (dispatched through the DevTools protocol)."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 800, "height": 1000}, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url)
    canvas = page.locator("canvas.digit-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    devtools = context.new_cdp_session(page)

    def touch(kind: str, x: float, y: float) -> None:
        points = [] if kind == "touchEnd" else [{"x": box["x"] + x, "y": box["y"] + y}]
        devtools.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", 140, 40)
    for step in range(1, 41):
        touch("touchMove", 140 - step * 0.5, 40 + step * 5)
    touch("touchEnd", 0, 0)
    expect(page.locator(".digit-live .digit-prediction")).to_have_text("1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "test_draw_a_digit_with_a_finger.png"))
    context.close()


def _kernel_id(page) -> str:
    """The id of the kernel Voilà gave this page (its page configuration)."""
    config_data = page.locator("#jupyter-config-data").text_content()
    return json.loads(config_data)["kernelId"]


def _wait_for_log(server, text: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in server.log():
            return True
        time.sleep(0.2)
    return False


def _open(context):
    """A page of the dashboard in ``context``, ready, and its kernel's id."""
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(context.server_url)
    page.locator(".digit-upload").wait_for(state="visible")
    return page, _kernel_id(page)


@pytest.fixture
def context(browser, server):
    """A browser window of its own (closing a page opened with ``browser.new_page`` closes its
    whole window, where a page's last requests are dropped)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.server_url = server.url
    yield context
    context.close()


@pytest.mark.parametrize("leave", ["close the tab", "reload"])
def test_leaving_a_page_shuts_its_kernel_down_at_once(context, server, leave):
    """A closed or reloaded tab's kernel is shut down when the page goes (Voilà's page-close
    request used to be refused, 403 '_xsrf' argument missing, and the kernel lived until culled)."""
    context.new_page().goto("about:blank")  # another tab stays open, as in a real browser
    page, kernel = _open(context)
    assert f"Kernel shutdown: {kernel}" not in server.log()
    if leave == "reload":
        page.reload()
        page.locator(".digit-upload").wait_for(state="visible")
        assert _kernel_id(page) != kernel  # the reloaded page has a kernel of its own
    else:
        page.close(run_before_unload=True)  # what closing the tab does
    # Shut down on request, long before any cull could (a disconnected kernel: 30 s idle).
    assert _wait_for_log(server, f"Kernel shutdown: {kernel}", 10.0), server.log()[-3000:]
    assert "403 POST /voila/api/shutdown" not in server.log()
    assert kernel not in _culled(server.log())


def test_a_page_that_vanishes_has_its_kernel_culled_within_a_minute(browser, server):
    """The second line of defence: the whole browser window goes at once (its last requests
    are dropped, as when a phone kills a tab or a laptop sleeps), so the page never says goodbye;
    its kernel, disconnected and idle, is culled within a minute. An open page's idle kernel is
    kept."""
    window = browser.new_context()
    window.server_url = server.url
    _, kernel = _open(window)
    staying = browser.new_context()
    staying.server_url = server.url
    _, kept = _open(staying)
    window.close()
    assert _wait_for_log(server, f"Kernel shutdown: {kernel}", 60.0), server.log()[-3000:]
    assert kernel in _culled(server.log())
    assert kept not in _culled(server.log()) and f"Kernel shutdown: {kept}" not in server.log()
    staying.close()


def _culled(log: str) -> str:
    return "\n".join(line for line in log.splitlines() if "Culling" in line)


def test_download_the_results_and_the_upload_label(page, files):
    import csv
    import io

    upload(page, files["photo.jpg"][0], files["broken.jpg"][0])
    with page.expect_download() as download:
        page.locator(".digit-download-csv").click()
    assert download.value.suggested_filename == "digit-results.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    by_file = {row["file"]: row for row in rows}
    assert by_file["photo.jpg"]["answer"] == files["photo.jpg"][1]
    assert "truncated" in by_file["broken.jpg"]["error"]
    with page.expect_download() as download:
        page.locator(".digit-download-json").click()
    records = json.loads(Path(download.value.path()).read_text())
    assert {r["file"] for r in records} >= {"photo.jpg", "broken.jpg"}
    # The upload button says what it does, with no "(0)" count after it.
    label = page.evaluate(
        "getComputedStyle(document.querySelector('.digit-upload'), '::after').content"
    )
    assert label == '"Upload images"'
    assert page.locator(".digit-upload").evaluate("b => getComputedStyle(b).fontSize") == "0px"


# Phones, drag and drop, paste and the camera ------------------------------------------------

PHONES = {"360x740": (360, 740), "390x844": (390, 844), "414x896": (414, 896)}


def _phone(browser, server, size):
    """A phone-sized window with a touch screen (coarse pointer), the page ready."""
    width, height = size
    context = browser.new_context(
        viewport={"width": width, "height": height},
        has_touch=True,
        is_mobile=True,
        device_scale_factor=2,
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url)
    page.locator(".digit-upload").wait_for(state="visible")
    return context, page


def _wider_than_the_screen(page) -> list[str]:
    """Visible elements of the app whose right edge is past the screen's (sideways scroll)."""
    return page.evaluate(
        """() => {
          const out = [];
          for (const el of document.querySelectorAll('.digit-app *')) {
            const r = el.getBoundingClientRect();
            if (r.width > 0 && r.right > window.innerWidth + 1) {
              out.push(`${el.tagName}.${el.className} right=${Math.round(r.right)}`);
            }
          }
          return out.slice(0, 5);
        }"""
    )


def _box_when_shown(page, hook: str) -> dict | None:
    """The element's box; the live answer is redrawn as the pen lifts, so it is read again if it
    was being replaced at that moment."""
    deadline = time.monotonic() + 5.0
    while True:
        box = page.locator(hook).bounding_box()
        if box is not None or time.monotonic() > deadline:
            return box
        time.sleep(0.1)


def _touch_stroke(context, page, box, points) -> None:
    devtools = context.new_cdp_session(page)

    def touch(kind, x=0.0, y=0.0):
        at = [] if kind == "touchEnd" else [{"x": box["x"] + x, "y": box["y"] + y}]
        devtools.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": at})

    touch("touchStart", *points[0])
    for x, y in points[1:]:
        touch("touchMove", x, y)
    touch("touchEnd")


@pytest.mark.parametrize("size", list(PHONES), ids=list(PHONES))
def test_phone_layout_keeps_the_canvas_clear_and_the_page_on_screen(browser, server, files, size):
    """On a phone the answer never lies over the canvas: a 1 drawn in the canvas's right part
    (where the answer panel used to sit) is read, its stroke stays visible, and Clear and the
    answer are on screen with the canvas. Nothing is wider than the screen, before or after a
    photo's card appears."""
    from playwright.sync_api import expect

    context, page = _phone(browser, server, PHONES[size])
    assert _wider_than_the_screen(page) == []
    canvas = page.locator("canvas.digit-canvas")
    canvas.evaluate("c => c.scrollIntoView({block: 'start'})")
    box = canvas.bounding_box()
    assert box["width"] == 280 and box["x"] >= 0 and box["x"] + box["width"] <= PHONES[size][0]
    stroke = [(232 - step * 0.3, 40 + step * 5) for step in range(41)]  # the right 40%
    _touch_stroke(context, page, box, stroke)
    expect(page.locator(".digit-live .digit-prediction")).to_have_text("1")
    # Nothing lies over the stroke, and the canvas shows it (dark pixels where it went).
    on_top, darkness = page.evaluate(
        """([x, y]) => {
          const c = document.querySelector('canvas.digit-canvas');
          const r = c.getBoundingClientRect();
          const hit = document.elementFromPoint(r.left + x, r.top + y);
          const px = c.getContext('2d').getImageData(
            Math.round(x * c.width / r.width), Math.round(y * c.height / r.height), 1, 1).data;
          return [hit === c, 255 - (px[0] + px[1] + px[2]) / 3];
        }""",
        list(stroke[20]),
    )
    assert on_top, "something lies over the canvas where the finger drew"
    assert darkness > 150, f"the stroke is not visible on the canvas (darkness {darkness})"
    viewport_height = PHONES[size][1]
    for hook in ("canvas.digit-canvas", ".digit-clear", ".digit-live .digit-prediction"):
        seen = _box_when_shown(page, hook)
        assert 0 <= seen["y"] and seen["y"] + seen["height"] <= viewport_height, (hook, seen)
    if size == "390x844":  # the README's phone pictures (`make screenshot` copies them)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "phone-drawing.png"))
    upload(page, files["photo.jpg"][0])
    assert card_texts(page, 1) == [(files["photo.jpg"][1], None)]
    assert _wider_than_the_screen(page) == []
    if size == "390x844":
        page.locator(".digit-result").first.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "phone-photo.png"))
    context.close()


def _hand_over(page, paths, how: str) -> None:
    """Files dropped on the page or pasted into it, as the browser delivers them."""
    payload = [
        {"name": p.name, "data": base64.b64encode(p.read_bytes()).decode("ascii")} for p in paths
    ]
    page.evaluate(
        """([files, how]) => {
          const list = new DataTransfer();
          for (const f of files) {
            const bytes = Uint8Array.from(atob(f.data), c => c.charCodeAt(0));
            list.items.add(new File([bytes], f.name));
          }
          if (how === 'paste') {
            document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: list,
              bubbles: true, cancelable: true}));
            return;
          }
          const target = document.querySelector('canvas.digit-canvas');  // anywhere on the page
          for (const type of ['dragenter', 'dragover']) {
            target.dispatchEvent(new DragEvent(type, {dataTransfer: list, bubbles: true,
              cancelable: true}));
          }
          window.__dropHint = document.body.classList.contains('digit-dropping');
          target.dispatchEvent(new DragEvent('drop', {dataTransfer: list, bubbles: true,
            cancelable: true}));
        }""",
        [payload, how],
    )


def test_drag_and_drop_and_paste_read_files_like_the_button(page, files):
    """Files dropped anywhere (here on the canvas) or pasted are read as chosen ones are, each
    with its card; the page says where a drag goes while it is over the page, and a broken file
    dropped among good ones gets its sentence."""
    from playwright.sync_api import expect

    cards = page.locator(".digit-result")
    _hand_over(page, [files["photo.jpg"][0], files["broken.jpg"][0]], "drop")
    expect(cards).to_have_count(2)
    assert page.evaluate("window.__dropHint") is True
    assert page.evaluate("document.body.classList.contains('digit-dropping')") is False
    (photo, _), (_, broken) = card_texts(page, 2)
    assert photo == files["photo.jpg"][1] and "truncated" in broken
    _hand_over(page, [files["drawing.png"][0]], "paste")
    expect(cards).to_have_count(3)
    assert card_texts(page, 1) == [(files["drawing.png"][1], None)]
    # The same file dropped again is read again (the upload's value is reset each time).
    _hand_over(page, [files["drawing.png"][0]], "drop")
    expect(cards).to_have_count(4)
    # The camera button is for touch screens; a desktop's chooser is the upload button.
    assert not page.locator(".digit-camera").is_visible()


def test_the_camera_is_offered_on_a_phone(browser, server, files):
    """On a touch screen "Take a photo" opens a chooser that asks for the rear camera, and the
    photo taken is read like an upload."""
    context, page = _phone(browser, server, PHONES["390x844"])
    camera = page.locator(".digit-camera")
    assert camera.is_visible()
    with page.expect_file_chooser() as chooser_info:
        camera.click()
    chooser = chooser_info.value
    assert chooser.element.get_attribute("capture") == "environment"
    assert chooser.element.get_attribute("accept") == "image/*"
    chooser.set_files(str(files["photo.jpg"][0]))
    from playwright.sync_api import expect

    expect(page.locator(".digit-result")).to_have_count(1)
    assert card_texts(page, 1) == [(files["photo.jpg"][1], None)]
    context.close()


def test_the_benchmarks_browserless_visitor_is_served_like_a_page(server, files):
    """benchmarks/wire_visitor.py (the crowd benchmark's visitor without a browser) sends what
    a page sends: it gets the page's kernel, the widgets' states, the photo's right answer, and
    its page-close request shuts the kernel down, as a closed tab's does."""
    import asyncio
    import sys

    sys.path.insert(0, str(config.ROOT / "benchmarks"))
    import wire_visitor

    path, label = files["photo.jpg"]

    async def go():
        visit = await wire_visitor.visit(server.url, [], path.read_bytes())
        await visit.leave()
        return visit

    from concurrent.futures import ThreadPoolExecutor

    # Playwright's sync API keeps an event loop running in this thread: run the visit in another.
    with ThreadPoolExecutor(1) as worker:
        visit = worker.submit(asyncio.run, go()).result(timeout=120)
    assert visit.error == "" and visit.shown == label
    assert visit.page_ready_s is not None and visit.answer_ms is not None
    assert _wait_for_log(server, f"Kernel shutdown: {visit.kernel}", 10.0)
