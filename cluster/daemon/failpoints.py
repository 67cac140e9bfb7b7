"""Failpoints: named places where a test can make cmcld wait, to open a window that is
otherwise milliseconds wide (a node killed between the two phases of cmapplyconf).

Off unless CMCLUSTER_FAILPOINTS is set when cmcld starts, e.g.
    CMCLUSTER_FAILPOINTS="config.before-commit=3.5"   (seconds to wait)
Each use is logged, so a daemon run with failpoints can never pass for a normal one.
"""

import asyncio
import logging
import os

ENV = "CMCLUSTER_FAILPOINTS"
log = logging.getLogger("cmcld.failpoints")


def _parse(text: str) -> dict[str, float]:
    points: dict[str, float] = {}
    for item in text.split(","):
        name, _, value = item.strip().partition("=")
        if name:
            points[name] = float(value or 0)
    return points


_POINTS = _parse(os.environ.get(ENV, ""))


async def failpoint(name: str) -> None:
    delay = _POINTS.get(name)
    if delay is not None:
        log.warning("failpoint %s: waiting %.1f s", name, delay)
        await asyncio.sleep(delay)
