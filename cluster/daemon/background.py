"""Long operations that outlive the RPC that started them.

A cmapplyconf killed half-way must not leave a change half-applied: the operation runs
as its own task, and the RPC only reads its progress. If the reader goes away, the
task carries on to the end and its lines go to the log.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from cluster.errors import CmError

log = logging.getLogger("cmcld")

_DONE = object()


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def detach(self, source: AsyncIterator[str], what: str) -> AsyncIterator[str]:
        queue: asyncio.Queue[object] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for line in source:
                    log.info("%s: %s", what, line)
                    queue.put_nowait(line)
            except CmError as exc:
                log.warning("%s: %s", what, exc)
                queue.put_nowait(exc)
                return
            except Exception as exc:
                log.exception("%s failed", what)
                queue.put_nowait(CmError(f"internal error in cmcld: {exc}; see cmcld.log"))
                return
            queue.put_nowait(_DONE)

        task = asyncio.create_task(pump(), name=what)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

        async def progress() -> AsyncIterator[str]:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, CmError):
                    raise item
                assert isinstance(item, str)
                yield item

        return progress()

    async def finish(self, timeout: float) -> None:
        """At shutdown: let running operations end (a change is never cut in half)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)


def report_end(task: "asyncio.Task[Any]") -> None:
    """Done callback for a task that should live as long as cmcld (or its epoch): its
    end is logged with the reason, since nothing else would ever say it stopped."""
    if task.cancelled():
        log.debug("task %s cancelled", task.get_name())
        return
    exc = task.exception()
    if exc is not None:
        log.error("task %s failed: %r", task.get_name(), exc, exc_info=exc)
    else:
        log.debug("task %s ended", task.get_name())
