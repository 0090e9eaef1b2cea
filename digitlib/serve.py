"""Serve the dashboard with Voilà: ``python -m digitlib.serve`` (``make dashboard``).

One place for the serving options, used by the Makefile, the browser tests and the benchmark:

* ``--Voila.port_retries=0``: fail loudly if the port is taken instead of moving silently;
* a preheated kernel pool, so the first visitor gets a page whose kernel is already running;
* a closed tab's kernel shut down at once (the template's ``_xsrf`` cookie), a vanished page's
  kernel culled within a minute (``digitlib.kernels``), sources stripped, tracebacks never shown;
* Tornado's websocket limit raised from 10 MiB (over which a message is dropped silently and
  the upload callback never runs) so that files up to the 25 MiB limit arrive, and bigger ones
  arrive far enough to be refused with a sentence.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from digitlib import config

NOTEBOOK = config.ROOT / "dashboards" / "app.ipynb"
# Holds voila/templates/digitlib: Voilà's lab template without its links to a font CDN.
SHARE = config.ROOT / "dashboards" / "share"
HOST = "127.0.0.1"
PORT = 8866
POOL_SIZE = 2  # preheated kernels waiting for visitors
WEBSOCKET_MAX_BYTES = 256 * 1024 * 1024  # several 25 MiB files in one upload still arrive
# A closed or reloaded tab's kernel is shut down at once (see the page template); a kernel whose
# page went away without saying so (a crash, a lost connection, a phone that killed the tab) is
# culled once it has had no connection and no activity for CULL_IDLE_SECONDS, checked every
# CULL_INTERVAL_SECONDS: within a minute. A page that is open keeps its kernel however long it
# sits idle (cull_connected is off), and the preheated pool's kernels are never culled.
CULL_IDLE_SECONDS = 30
CULL_INTERVAL_SECONDS = 10
# Its idle clock starts when it leaves the pool (digitlib.kernels): at most 10 + 30 + 10 s.
KERNEL_MANAGER = "digitlib.kernels.VisitorKernelManager"
# How long a notebook cell's output may take to arrive while a kernel is preheated. nbclient's
# 4 s is too short on two busy cores: under a crowd, a preheating kernel's widget output came
# late, was dropped, and the page handed that kernel never showed the widgets.
IOPUB_TIMEOUT_SECONDS = 60
# The browser the tests and the benchmark drive: Debian's chromium (Playwright downloads none).
# As root in a container, and with no network: no sandbox, no background connections.
CHROMIUM = os.environ.get("DIGITLIB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def voila_command(port: int = PORT, host: str = HOST, pool_size: int = POOL_SIZE) -> list[str]:
    """The full ``voila`` command line."""
    voila = shutil.which("voila", path=os.path.dirname(sys.executable)) or "voila"
    return [
        voila,
        str(NOTEBOOK),
        "--no-browser",
        f"--Voila.ip={host}",
        f"--port={port}",
        "--Voila.port_retries=0",
        "--strip_sources=True",
        "--show_tracebacks=False",
        "--preheat_kernel=True",
        f"--pool_size={pool_size}",
        f"--Voila.tornado_settings={{'websocket_max_message_size': {WEBSOCKET_MAX_BYTES}}}",
        f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_SECONDS}",
        f"--MappingKernelManager.cull_interval={CULL_INTERVAL_SECONDS}",
        "--MappingKernelManager.cull_connected=False",
        f"--VoilaConfiguration.multi_kernel_manager_class={KERNEL_MANAGER}",
        f"--VoilaExecutor.iopub_timeout={IOPUB_TIMEOUT_SECONDS}",
        "--theme=light",
        "--template=digitlib",
    ]


def voila_environment() -> dict[str, str]:
    """The environment Voilà runs in: our template on the Jupyter path, no deprecation noise."""
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(SHARE), env.get("JUPYTER_PATH")]))
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class BackgroundServer:
    """The dashboard served exactly as ``make dashboard`` serves it, on a free port, for the
    browser tests and the benchmark. ``stop()`` ends Voilà and its kernels."""

    def __init__(
        self,
        log_path: Path,
        pool_size: int = POOL_SIZE,
        port: int | None = None,
        extra: list[str] | None = None,
    ):
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}/"
        self.pool_size = pool_size
        self.log_path = Path(log_path)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "digitlib.serve", f"--port={self.port}"]
            + [f"--pool-size={pool_size}"]
            + list(extra or []),
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=config.ROOT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_ready(self, timeout: float = 120.0) -> None:
        """Until the page is served and, with a pool, the pool is filled."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Voilà exited:\n{self.log()}")
            log = self.log()
            if "Voilà is running at" in log and (
                self.pool_size <= 0 or "Kernel pool of app.ipynb is filled" in log
            ):
                with urllib.request.urlopen(self.url, timeout=30) as response:
                    if response.status == 200:
                        return
            time.sleep(0.25)
        raise TimeoutError(f"Voilà not ready after {timeout} s:\n{self.log()}")

    def kernel_pids(self) -> list[int]:
        """The kernels Voilà started (its child processes)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the digit-recognition dashboard.")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--pool-size", type=int, default=POOL_SIZE)
    arguments, extra = parser.parse_known_args(argv)
    if not config.DEFAULT_ONNX.is_file():
        print(f"No model at {config.DEFAULT_ONNX}; run `make pipeline` first.", file=sys.stderr)
        return 1
    # Anything else is passed on to Voilà (e.g. --VoilaKernelManager.fill_delay=5).
    command = voila_command(arguments.port, arguments.host, arguments.pool_size) + extra
    print(f"Dashboard on http://{arguments.host}:{arguments.port}/ (Ctrl-C stops it)", flush=True)
    os.execve(command[0], command, voila_environment())
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    raise SystemExit(main())
