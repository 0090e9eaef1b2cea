"""A dashboard visitor without a browser: the same requests and kernel messages a page sends.

Twenty headless chromium windows on the server's own two cores measure the browsers more than
the server (reports/experiments/dashboard-crowds.md: 77 CPU-seconds of chromium against 2.5 of
Voilà and its kernels for one crowd). A real visitor's browser runs on the visitor's own
machine, so the server's share is measured here with what reaches the server from a page:

1. ``GET /`` (the preheated page; its ``#jupyter-config-data`` names the kernel);
2. every static file a real page loads (recorded once from chromium by :func:`page_assets`),
   six at a time as a browser fetches them, with an empty cache as a first visit has;
3. the kernel's websocket, ``kernel_info_request``, and ipywidgets 8's control comm
   (``request_states``): when the widget states arrive the browser has all it needs to draw the
   page, and that moment is this visitor's *page ready*;
4. one photo set as the FileUpload's value (the ``update`` message the upload button's view
   sends, the file as a binary buffer), and the time until the card with the digit arrives:
   the *answer*;
5. leaving as a closed tab leaves: the page-close request ``POST voila/api/shutdown/<kernel>``
   with the ``_xsrf`` double-submit cookie the page template sets.

The client is asyncio on Tornado (a Voilà dependency): no new package, a few milliseconds of
CPU per visitor.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from jupyter_server.services.kernels.connection.base import (
    deserialize_binary_message,
    serialize_binary_message,
)
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

PARALLEL_ASSETS = 6  # a browser's connections per host
PREDICTION = re.compile(r'class="digit-prediction">([^<]*)<')
ERROR = re.compile(r'class="digit-error">([^<]*)<')


@dataclass
class Visit:
    page_ready_s: float | None = None
    answer_ms: float | None = None
    shown: str = ""
    kernel: str = ""
    error: str = ""
    leave: object = None  # a coroutine function: close the tab


async def page_assets(browser, url: str) -> list[str]:
    """The same-origin files a real page loads (scripts, styles, fonts, extensions), recorded
    from one chromium visit; the page itself and the kernel's own endpoints are left out."""
    context = await browser.new_context()
    page = await context.new_page()
    seen: list[str] = []
    page.on("requestfinished", lambda request: seen.append(request.url))
    await page.goto(url)
    await page.locator(".digit-upload").wait_for(state="visible", timeout=120_000)
    await context.close()
    origin = url.rstrip("/")
    assets = []
    for address in seen:
        path = urlsplit(address).path
        if address.startswith(origin) and address.rstrip("/") != origin and "/api/" not in path:
            if address not in assets:
                assets.append(address)
    return assets


def _message(
    msg_type: str, content: dict, session: str, buffers=(), metadata: dict | None = None
) -> dict:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "username": "visitor",
            "session": session,
            "date": "",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": metadata or {},
        "content": content,
        "channel": "shell",
        "buffers": list(buffers),
    }


async def visit(
    url: str,
    assets: list[str],
    photo: bytes,
    name: str = "photo.jpg",
    timeout: float = 60.0,
) -> Visit:
    """One visitor: page ready and one photo answered. The page stays open until
    ``await result.leave()`` closes it as a tab is closed (so a crowd's pages are all open at
    once)."""
    result = Visit()
    client = AsyncHTTPClient(force_instance=True, max_clients=PARALLEL_ASSETS)
    xsrf = secrets.token_hex(16)
    started = time.perf_counter()
    socket = None
    stage = "the page"
    try:
        page = await client.fetch(url, request_timeout=timeout)
        config = re.search(
            r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
            page.body.decode("utf-8", "replace"),
            re.S,
        )
        result.kernel = json.loads(config.group(1))["kernelId"]
        stage = "a static file"
        await asyncio.gather(*(_asset(client, a, timeout) for a in assets))
        stage = "the kernel's websocket"

        session = uuid.uuid4().hex
        ws_url = url.replace("http://", "ws://", 1).rstrip("/")
        socket = await websocket_connect(
            HTTPRequest(
                f"{ws_url}/api/kernels/{result.kernel}/channels?session_id={session}",
                request_timeout=timeout,
            ),
            max_message_size=256 * 1024 * 1024,
        )
        await socket.write_message(json.dumps(_message("kernel_info_request", {}, session)))
        control = uuid.uuid4().hex
        await socket.write_message(
            json.dumps(
                _message(
                    "comm_open",
                    {"comm_id": control, "target_name": "jupyter.widget.control", "data": {}},
                    session,
                    metadata={"version": "1.0.0"},  # ipywidgets 8's control protocol
                )
            )
        )
        await socket.write_message(
            json.dumps(
                _message(
                    "comm_msg",
                    {"comm_id": control, "data": {"method": "request_states"}},
                    session,
                )
            )
        )
        stage = "the widgets' states"
        states = None
        deadline = started + timeout
        while states is None:
            message = await _receive(socket, deadline)
            data = message.get("content", {}).get("data", {})
            if message["msg_type"] == "comm_msg" and data.get("method") == "update_states":
                states = data["states"]
        result.page_ready_s = time.perf_counter() - started

        upload = next(
            model for model, state in states.items() if state["model_name"] == "FileUploadModel"
        )
        stage = "the answer"
        chosen = time.perf_counter()
        value = [
            {
                "name": name,
                "type": "image/jpeg",
                "size": len(photo),
                "last_modified": int(time.time() * 1000),
            }
        ]
        update = _message(
            "comm_msg",
            {
                "comm_id": upload,
                "data": {
                    "method": "update",
                    "state": {"value": value},
                    "buffer_paths": [["value", 0, "content"]],
                },
            },
            session,
            buffers=[photo],
        )
        await socket.write_message(serialize_binary_message(update), binary=True)
        deadline = chosen + timeout
        while not result.shown:
            message = await _receive(socket, deadline)
            state = message.get("content", {}).get("data", {}).get("state", {})
            html = state.get("value") if isinstance(state.get("value"), str) else ""
            found = PREDICTION.search(html) or ERROR.search(html)
            if found and "digit-card-head" in html:
                result.shown = found.group(1).strip()
        result.answer_ms = (time.perf_counter() - chosen) * 1000
    except Exception as error:  # a visitor lost: counted by the caller, not fatal
        result.error = f"{stage}: {type(error).__name__}: {error}"[:200]

    async def leave() -> None:
        if socket is not None:
            socket.close()
        if result.kernel:  # what the page does on beforeunload
            try:
                await client.fetch(
                    f"{url.rstrip('/')}/voila/api/shutdown/{result.kernel}",
                    method="POST",
                    body=f"_xsrf={xsrf}",
                    headers={"Cookie": f"_xsrf={xsrf}"},
                    request_timeout=10,
                )
            except Exception:  # noqa: BLE001 - the cull is the second line of defence
                pass
        client.close()

    result.leave = leave
    return result


async def _asset(client, address: str, timeout: float):
    try:
        return await client.fetch(address, request_timeout=timeout)
    except Exception as error:  # which file: the visitor's error names it
        raise RuntimeError(f"{urlsplit(address).path}: {type(error).__name__}: {error}") from error


async def _receive(socket, deadline: float) -> dict:
    """The next kernel message, decoded (binary frames carry buffers)."""
    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        raise TimeoutError("no answer in time")
    frame = await asyncio.wait_for(socket.read_message(), remaining)
    if frame is None:
        raise ConnectionError("the kernel's websocket closed")
    if isinstance(frame, bytes):
        return deserialize_binary_message(frame)
    return json.loads(frame)
