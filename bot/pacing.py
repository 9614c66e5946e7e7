"""Let a long rebuild in a background thread give way to the event loop answering people.

Python runs one thread at a time. A thread that only computes (checking and indexing a
big Q&A file) takes the interpreter back every millisecond, and the event loop, which
needs it again after every network read and write, then waits at each of those steps:
answers slow to a crawl for as long as the rebuild lasts. So the rebuild's loops call
`give_way()` often, which, inside `paced()`, rests while the event loop has work: the loop
runs on a selector that says when it is waiting for the network (`watched_event_loop`).
While the loop waits, and outside `paced()` (start-up, the command line), the rebuild
runs at full speed; `give_way()` then costs one lookup.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

REST = 0.0005
"""Seconds a paced rebuild rests at a time while the loop has work."""
LONGEST_REST = 0.05
"""Rest at most this long in one go, then compute `WORK` seconds whatever the loop does:
a loop kept busy by a flood must not stop reloads."""
WORK = 0.002
"""Seconds a rebuild computes, without looking, after resting `LONGEST_REST` in vain."""


class Demand:
    """Whether the watched event loop is busy (running callbacks rather than waiting for
    the network), and how many jobs its thread pool runs (blocking calls it awaits)."""

    __slots__ = ("busy", "jobs")

    def __init__(self) -> None:
        self.busy = False
        self.jobs = 0

    @property
    def waiting(self) -> bool:
        """Someone besides the rebuild (itself one pool job) needs the interpreter."""
        return self.busy or self.jobs > 1


DEMAND = Demand()


class _WatchedSelector(selectors.DefaultSelector):
    """The platform's selector, marking the loop idle while it waits for the network."""

    def select(self, timeout: float | None = None) -> Any:
        DEMAND.busy = False
        try:
            return super().select(timeout)
        finally:
            DEMAND.busy = True

    def close(self) -> None:
        """The loop is gone: nothing is waiting for the interpreter on its behalf."""
        super().close()
        DEMAND.busy = False


class _CountingPool(ThreadPoolExecutor):
    """The loop's default thread pool (`asyncio.to_thread`), counting the jobs it runs."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def counted() -> Any:
            DEMAND.jobs += 1
            try:
                return fn(*args, **kwargs)
            finally:
                DEMAND.jobs -= 1

        return super().submit(counted)


def watched_event_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose rebuilds give way to it (`asyncio.Runner(loop_factory=...)`)."""
    loop = asyncio.SelectorEventLoop(_WatchedSelector())
    loop.set_default_executor(_CountingPool(thread_name_prefix="asyncio"))
    return loop


class _Pace:
    __slots__ = ("_free_until", "rest", "work")

    def __init__(self, work: float, rest: float) -> None:
        self.work, self.rest = work, rest
        self._free_until = 0.0

    def tick(self) -> None:
        if not DEMAND.waiting:
            return
        now = time.perf_counter()
        if now < self._free_until:  # a slice of its own, after a long wait
            return
        deadline = now + LONGEST_REST
        while DEMAND.waiting and time.perf_counter() < deadline:
            time.sleep(self.rest)
        if DEMAND.waiting:  # a loop busy this long still lets the rebuild on, slowly
            self._free_until = time.perf_counter() + self.work


_pace: ContextVar[_Pace | None] = ContextVar("pace", default=None)


def give_way() -> None:
    """Rest while the event loop has work (only inside `paced`)."""
    pace = _pace.get()
    if pace is not None:
        pace.tick()


@contextmanager
def paced(work: float = WORK, rest: float = REST) -> Iterator[None]:
    """Inside this block, `give_way()` lets the event loop go first."""
    token = _pace.set(_Pace(work, rest))
    try:
        yield
    finally:
        _pace.reset(token)
