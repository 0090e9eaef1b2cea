"""The dashboard server's kernel manager (digitlib.kernels) on Voilà's pool class, without
starting kernels: a kernel's life in the pool, at hand-out and after its page has gone is
played out with the clock moved by hand, and what the culler shuts down is recorded."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace

import pytest
from traitlets import Unicode
from traitlets.config import Configurable

from digitlib import kernels

NOTEBOOK = "app.ipynb"


class _Server(Configurable):
    root_dir = Unicode()
    notebook_path = None


class _Kernel:
    kernel_name = "digitlib"
    kernel_spec = SimpleNamespace(metadata={})
    execution_state = "idle"

    def __init__(self, idle_for: float):
        self.last_activity = kernels.utcnow() - timedelta(seconds=idle_for)


@pytest.fixture
def manager(tmp_path, monkeypatch):
    from voila.voila_kernel_manager import voila_kernel_manager_factory

    pool_class = voila_kernel_manager_factory(kernels.VisitorKernelManager, True, 1)
    clock = SimpleNamespace(now=1000.0)
    # The manager's clock only: asyncio's own runs on (it reads time.monotonic too).
    monkeypatch.setattr(kernels, "time", SimpleNamespace(monotonic=lambda: clock.now))
    made = pool_class(parent=_Server(root_dir=str(tmp_path)), cull_idle_timeout=30)
    made.clock = clock
    made.culled = []

    async def shutdown_kernel(kernel_id, *args, **kwargs):
        made.culled.append(kernel_id)
        made._kernels.pop(kernel_id, None)

    made.shutdown_kernel = shutdown_kernel
    made.fill_if_needed = lambda *args, **kwargs: None  # no replacement kernels here
    return made


def _pool_kernel(manager, kernel_id: str, idle_for: float, preheated: bool):
    """A kernel started for the pool; its pool item is finished once it has preheated."""
    manager._kernels[kernel_id] = _Kernel(idle_for)
    manager.notebook_data.setdefault(NOTEBOOK, {"kernel_ids": set()})["kernel_ids"].add(kernel_id)
    item = asyncio.get_running_loop().create_future()
    if preheated:
        item.set_result(_content(kernel_id))
    manager._pools.setdefault(NOTEBOOK, []).append(item)
    return item


def _content(kernel_id: str) -> dict:
    renderer = SimpleNamespace(stop_generator=False, rendered_cache=[])
    return {"renderer": renderer, "task": None, "kernel_id": kernel_id}


def _play(coroutine_function, manager):
    asyncio.run(coroutine_function(manager))


def test_a_kernel_seen_while_preheating_is_not_culled_at_its_hand_out(manager):
    # The cause of two visitors' "HTTP 404" in a crowd of 20: the culler saw a kernel while it
    # was still preheating, took that for its hand-out, and culled it on the real hand-out
    # minutes later, its idle clock running since the end of its preheating.
    async def play(manager):
        item = _pool_kernel(manager, "k1", idle_for=0, preheated=False)
        await manager.cull_kernels()
        item.set_result(_content("k1"))
        for _ in range(30):  # 5 minutes in the pool, culled every 10 s
            manager.clock.now += 10
            manager._kernels["k1"].last_activity -= timedelta(seconds=10)
            await manager.cull_kernels()
        assert manager.culled == []
        _, _, kernel_id = await manager.get_rendered_notebook(NOTEBOOK)
        assert kernel_id == "k1"
        manager.clock.now += 10
        await manager.cull_kernels()  # its page has not connected yet
        assert manager.culled == []

    _play(play, manager)


def test_a_page_that_never_connects_loses_its_kernel_after_the_grace(manager):
    async def play(manager):
        _pool_kernel(manager, "k1", idle_for=200, preheated=True)
        await manager.get_rendered_notebook(NOTEBOOK)
        manager.clock.now += manager.first_connect_grace - 1
        manager._kernels["k1"].last_activity -= timedelta(seconds=manager.first_connect_grace)
        await manager.cull_kernels()
        assert manager.culled == []  # a page still loading
        manager.clock.now += 2
        await manager.cull_kernels()
        assert manager.culled == ["k1"]

    _play(play, manager)


def test_a_connected_page_that_goes_away_is_culled_after_the_idle_timeout(manager):
    async def play(manager):
        _pool_kernel(manager, "k1", idle_for=200, preheated=True)
        _pool_kernel(manager, "k2", idle_for=200, preheated=True)
        await manager.get_rendered_notebook(NOTEBOOK)  # k1 to a page; k2 waits in the pool
        manager.notify_connect("k1")
        manager.notify_disconnect("k1")
        manager.clock.now += 10
        manager._kernels["k1"].last_activity -= timedelta(seconds=20)
        await manager.cull_kernels()
        assert manager.culled == []  # 20 s idle, under the 30 s timeout
        manager.clock.now += 20
        manager._kernels["k1"].last_activity -= timedelta(seconds=20)
        await manager.cull_kernels()
        assert manager.culled == ["k1"]  # the pool's k2, idle for minutes, is kept

    _play(play, manager)


def test_a_kernel_started_for_a_page_without_a_pool_gets_the_whole_timeout(manager):
    async def play(manager):
        manager._kernels["k9"] = _Kernel(idle_for=100)  # not of the pool: no notebook_data
        await manager.cull_kernels()
        assert manager.culled == []
        manager.notify_connect("k9")
        manager.notify_disconnect("k9")
        manager.clock.now += 31
        manager._kernels["k9"].last_activity -= timedelta(seconds=31)
        await manager.cull_kernels()
        assert manager.culled == ["k9"]

    _play(play, manager)


def test_a_replacement_a_visitor_already_waits_for_starts_without_the_quiet(manager):
    # A crowd took every ready kernel but one and then a replacement still waiting for a quiet
    # moment: that visitor's page waited for the whole crowd to pass (one page over 60 s).
    async def play(manager):
        manager.clock.now = 0.0
        manager._last_visitor = 0.0  # visitors keep coming: never quiet
        _pool_kernel(manager, "ready", idle_for=0, preheated=True)
        started = []

        async def start():
            started.append(True)
            return {"task": None}

        replacement = asyncio.ensure_future(manager._refill_wait(1.0, start()))
        manager._pools[NOTEBOOK].append(replacement)
        await asyncio.sleep(0.6)
        assert started == []  # still in the pool, a kernel ready: it makes way
        manager._pools[NOTEBOOK].remove(replacement)  # a visitor pops it and waits
        await asyncio.wait_for(replacement, 2.0)
        assert started == [True]

    _play(play, manager)
