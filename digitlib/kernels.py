"""The dashboard server's kernel manager (``digitlib.serve`` names it to Voilà).

Voilà keeps a pool of preheated kernels and hands one to each page it serves; the page connects
to it once it has loaded in the browser. Voilà never culls a kernel while it waits in the pool,
but a kernel's idle clock runs from its last message, which for a preheated kernel is the end of
its preheating: a kernel that waited in the pool longer than the idle timeout was culled as soon
as it was handed out, before its page could connect (measured: 20 visitors at once, a pool of
22, every page whose kernel had waited 50 s lost it). Here the idle clock of a kernel restarts
when the culler first sees it out of the pool, so a page always has the whole idle timeout to
connect, and a page that went away without a word loses its kernel one timeout later.
"""

from __future__ import annotations

from jupyter_server._tz import utcnow  # the clock of last_activity
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager


class VisitorKernelManager(AsyncMappingKernelManager):
    """Culls a visitor's kernel only once it has been idle, out of the pool, for the timeout."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._seen_out_of_pool: set[str] = set()

    async def cull_kernels(self):
        """Forget the kernels that are gone, then cull as usual."""
        self._seen_out_of_pool &= set(self._kernels)
        await super().cull_kernels()

    async def cull_kernel_if_idle(self, kernel_id):
        """Voilà's pool has kept its own kernels out of here; a kernel seen for the first time is
        one just handed to a page (or started for one): its idle clock starts now."""
        if kernel_id not in self._seen_out_of_pool:
            self._seen_out_of_pool.add(kernel_id)
            kernel = self._kernels.get(kernel_id)
            if kernel is not None and hasattr(kernel, "last_activity"):
                kernel.last_activity = utcnow()
            return None
        return await super().cull_kernel_if_idle(kernel_id)
