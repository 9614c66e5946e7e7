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


async def listening(port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:`port` (a server started as
    another process); fails after `timeout`."""

    async def ready() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    deadline = time.monotonic() + timeout
    while not await ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing listens on 127.0.0.1:{port} within {timeout}s")
        await asyncio.sleep(0.02)
