"""The dashboard server's kernel manager (``digitlib.serve`` names it to Voilà).

Voilà keeps a pool of preheated kernels and hands one to each page it serves; the page connects
to it once it has loaded in the browser. Two things are changed here.

**The idle clock starts at hand-out.** Voilà never culls a kernel while it waits in the pool,
but a kernel's idle clock runs from its last message, which for a preheated kernel is the end of
its preheating: a kernel that waited in the pool longer than the idle timeout was culled as soon
as it was handed out, before its page could connect (measured: 20 visitors at once, a pool of
22, every page whose kernel had waited 50 s lost it). Here the idle clock of a kernel restarts
when Voilà hands it to a page (``get_rendered_notebook``), so a page always has the whole idle
timeout to connect, and a page that went away without a word loses its kernel one timeout
later. A kernel whose page has not connected yet is kept two minutes from hand-out (a page
still loading). A kernel of the pool is never culled before its hand-out, also while it is
still preheating, when Voilà's own guard does not know it yet: the hand-out used to be taken
as the moment the culler first saw a kernel outside the pool's finished items, and a kernel
first seen while preheating was culled on its real hand-out two minutes later, before its
page connected (2 of 20 browserless visitors got "HTTP 404" from the kernel's websocket).

**The pool is refilled when the visitors are served, not while they are.** Voilà starts a
replacement kernel ``fill_delay`` (1 s) after each hand-out; when a crowd arrives, those starts
(a second or more of CPU each) take the cores from the pages being served. Measured with 20
browserless visitors at once and a pool of 22 (benchmarks/bench_dashboard.py): page ready p95
8.0 s and answers p95 1.4 s with Voilà's refill, 2.1 s and 0.31 s with the refill held back.
Here a replacement waits until ``REFILL_QUIET_SECONDS`` (``refill_quiet`` below) have passed
without a new visitor, and starts at once when the pool has no ready kernel left (the next
visitor would wait for it anyway); at most ``REFILL_AT_ONCE`` replacements start at the same
time, each holding its slot until its notebook has run, so a refill of twenty never preheats
twenty kernels at once on two cores (which killed one, "Kernel died before replying to
kernel_info", and left pages without widgets, "Timeout waiting for IOPub output").
"""

from __future__ import annotations

import asyncio
import time

from jupyter_server._tz import utcnow  # the clock of last_activity
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from traitlets import Float, Integer

REFILL_QUIET_SECONDS = 5.0
# A page on a busy device can take long to load: twenty chromium windows on two cores took 50-60 s
# to connect, and their kernels, culled 30-40 s after hand-out, were lost.
FIRST_CONNECT_GRACE_SECONDS = 120.0
REFILL_AT_ONCE = 2  # one per core on the 2-core machine it was measured on
REFILL_POLL_SECONDS = 0.25


class VisitorKernelManager(AsyncMappingKernelManager):
    """Culls a visitor's kernel only once it has been idle, out of the pool, for the timeout,
    and refills Voilà's pool when the visitors have been served."""

    first_connect_grace = Float(
        FIRST_CONNECT_GRACE_SECONDS,
        help="Seconds a handed-out kernel waits for its page's first connection before culling.",
    ).tag(config=True)
    refill_quiet = Float(
        REFILL_QUIET_SECONDS,
        help="Seconds without a new visitor before the pool's replacement kernels start.",
    ).tag(config=True)
    refill_at_once = Integer(
        REFILL_AT_ONCE, help="Replacement kernels started at the same time, at most."
    ).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._connected_once: set[str] = set()
        self._handed_out_at: dict[str, float] = {}
        self._last_visitor = 0.0
        self._starting: asyncio.Semaphore | None = None
        if hasattr(type(self), "get_rendered_notebook"):  # Voilà's pool class, built on this one
            _take_over_pool(self)

    def notify_connect(self, kernel_id):
        """A page's websocket connected to its kernel: from now on the 30 s rule applies."""
        self._connected_once.add(kernel_id)
        super().notify_connect(kernel_id)

    async def cull_kernels(self):
        """Forget the kernels that are gone, then cull as usual."""
        alive = set(self._kernels)
        self._connected_once &= alive
        self._handed_out_at = {k: t for k, t in self._handed_out_at.items() if k in alive}
        await super().cull_kernels()

    def handed_out(self, kernel_id: str) -> None:
        """A kernel is given to a page: its idle clock starts now."""
        self._handed_out_at[kernel_id] = time.monotonic()
        kernel = self._kernels.get(kernel_id)
        if kernel is not None and hasattr(kernel, "last_activity"):
            kernel.last_activity = utcnow()

    def _in_pool(self, kernel_id: str) -> bool:
        """Started for Voilà's pool (preheating or waiting) and not handed out yet."""
        if kernel_id in self._handed_out_at:
            return False
        data = getattr(self, "notebook_data", {})
        return any(kernel_id in entry.get("kernel_ids", ()) for entry in data.values())

    async def cull_kernel_if_idle(self, kernel_id):
        """A kernel of the pool is kept until its hand-out. A kernel seen for the first time
        and not of the pool is one Voilà started for a page (no pool): its idle clock starts
        now. Until its page has connected once, a handed-out kernel is kept for
        ``first_connect_grace`` seconds: a page still loading on a slow or busy device has not
        gone away."""
        if self._in_pool(kernel_id):
            return None
        if kernel_id not in self._handed_out_at:
            self.handed_out(kernel_id)
            return None
        waited = time.monotonic() - self._handed_out_at[kernel_id]
        if kernel_id not in self._connected_once and waited < self.first_connect_grace:
            return None
        return await super().cull_kernel_if_idle(kernel_id)

    # The pool's refill ------------------------------------------------------------------------

    def _ready_left(self) -> int:
        """Kernels in the pool that are started and preheated, ready for the next visitor."""
        pools = getattr(self, "_pools", {})
        return sum(task.done() and not task.cancelled() for pool in pools.values() for task in pool)

    def _still_pooled(self, task) -> bool:
        return any(task is item for pool in getattr(self, "_pools", {}).values() for item in pool)

    async def _refill_wait(self, delay: float, start):
        """Stands in for Voilà's ``wait_before(delay, start)`` for the pool's replacements."""
        if self._starting is None:
            self._starting = asyncio.Semaphore(max(1, self.refill_at_once))
        this = asyncio.current_task()  # the pool item itself (Voilà makes one task of this)
        if delay > 0:  # 0 is the first fill at server start: nobody to make way for
            # A visitor who took this item from the pool waits for it: it starts at once.
            while self._ready_left() > 0 and self._still_pooled(this):
                if time.monotonic() - self._last_visitor >= self.refill_quiet:
                    break
                await asyncio.sleep(REFILL_POLL_SECONDS)
        async with self._starting:
            content = await start
            # Voilà runs the notebook in a task of its own once the kernel is up; the slot is
            # held until it has run (a kernel is ready when its page is rendered), or 22
            # kernels preheating at once on two cores time out ("Timeout waiting for IOPub
            # output") and their pages never show the widgets.
            rendering = content.get("task") if isinstance(content, dict) else None
            if isinstance(rendering, asyncio.Future):
                await asyncio.wait({rendering})
            return content


def _take_over_pool(manager: VisitorKernelManager) -> None:
    """Route Voilà's refill through ``_refill_wait`` and tell the manager of each hand-out.

    Voilà builds its pool class on top of this one, so its methods come first; the ones wrapped
    here are set on the instance. ``fill_if_needed`` makes each replacement as
    ``wait_before(delay, self._initialize(...))``, a module function it looks up when called,
    so it is swapped for the manager's wait for the duration of the call (synchronous: nothing
    else runs meanwhile). ``get_rendered_notebook`` pops a kernel from the pool for a page."""
    from voila import voila_kernel_manager as voila_pool

    fill_if_needed = type(manager).fill_if_needed
    get_rendered_notebook = type(manager).get_rendered_notebook

    def fill(*args, **kwargs):
        if kwargs.get("delay", args[0] if args else None) != 0:
            manager._last_visitor = time.monotonic()  # a refill follows a hand-out
        original = voila_pool.wait_before
        voila_pool.wait_before = manager._refill_wait
        try:
            return fill_if_needed(manager, *args, **kwargs)
        finally:
            voila_pool.wait_before = original

    async def hand_out(*args, **kwargs):
        rendering, cache, kernel_id = await get_rendered_notebook(manager, *args, **kwargs)
        manager.handed_out(kernel_id)
        return rendering, cache, kernel_id

    manager.fill_if_needed = fill
    manager.get_rendered_notebook = hand_out
