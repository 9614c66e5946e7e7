"""Wait for a condition with a deadline, instead of sleeping a fixed time and hoping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

POLL = 0.01
"""Seconds between two looks at the condition."""


async def until(check: Callable[[], object], timeout: float = 5.0, what: str = "") -> float:
    """Poll `check` until it is true; the seconds it took. Fails after `timeout`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s: {what or check}")
        await asyncio.sleep(POLL)
    return time.monotonic() - start
