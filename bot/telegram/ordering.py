"""Updates handled concurrently across chats, in arrival order within one chat.

python-telegram-bot hands every update to an update processor (`BaseUpdateProcessor`) in
the order it fetched them. `ChatOrder` gives each chat a FIFO lock, so a chat's second
question is answered after its first, while a reply that is retrying (or waiting out a
429) for one chat holds up nobody else. At most `concurrency` handlers run at once; waiting
for a chat's turn does not take one of those slots, so a flooded chat cannot use them up.

Before its turn an update passes the `Gate` (de-duplication, per-sender budgets); after
it, whoever waits for it (the webhook's answer to Telegram) learns whether it was handled
or failed in a way worth a re-delivery (`mark_failed`, called by the error handler).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Coroutine, Hashable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from telegram import Update
from telegram.ext import BaseUpdateProcessor

DONE_MEMORY = 10_000
"""Finished update ids remembered for `wait_handled` (polling confirms a batch at a time)."""
BACKLOG = 100_000
"""python-telegram-bot's own cap on updates in hand, waiting ones included: effectively
none, since `concurrency` and the per-chat locks do the bounding."""


class Skip(enum.Enum):
    SKIP = "skip"


SKIP = Skip.SKIP
"""What `Gate.admit` returns for an update that must not be handled (seen before, dropped)."""


class Gate(Protocol):
    """Decides whether an update is handled, and cleans up after it."""

    async def admit(self, update: object) -> Coroutine[Any, Any, Any] | Skip | None:
        """As it arrives: None: handle it; SKIP: do nothing; a coroutine: run that instead."""

    async def claim(self, update: object) -> bool:
        """At its turn: False if it was handled before (a re-delivery)."""

    async def release(self, update: object, *, failed: bool) -> None:
        """The update is done (`failed`: a transient failure, worth a re-delivery)."""


@dataclass
class _Handling:
    failed: bool = False
    before_send: Callable[[], Awaitable[None]] | None = None


_current: ContextVar[_Handling | None] = ContextVar("handling", default=None)


def mark_failed() -> None:
    """The update being handled failed transiently (Telegram unreachable): let it come back."""
    handling = _current.get()
    if handling is not None:
        handling.failed = True


def before_first_send(hook: Callable[[], Awaitable[None]]) -> None:
    """Run `hook` once, just before the update being handled makes its first Bot API call
    (the gate marks its claim finished there: from then on a reply may have reached
    Telegram, and a re-delivery must not answer it again)."""
    handling = _current.get()
    if handling is not None:
        handling.before_send = hook


async def sending() -> None:
    """A Bot API call is about to leave (`RetryingRequest`): run the handling's hook."""
    handling = _current.get()
    if handling is not None and (hook := handling.before_send) is not None:
        handling.before_send = None
        await hook()


def chat_key(update: object) -> Hashable | None:
    """What orders an update: its chat, else its sender (inline queries), else nothing."""
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return ("chat", update.effective_chat.id)
    if update.effective_user is not None:
        return ("user", update.effective_user.id)
    return None


class ChatOrder(BaseUpdateProcessor):
    """Per-chat FIFO, `concurrency` handlers at a time, an optional `Gate` in front."""

    def __init__(self, concurrency: int, gate: Gate | None = None) -> None:
        super().__init__(max_concurrent_updates=BACKLOG)
        self.concurrency = concurrency
        self.gate = gate
        self._slots = asyncio.Semaphore(concurrency)
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: dict[Hashable, int] = {}
        self._waiting: dict[int, asyncio.Future[bool]] = {}
        self._in_hand = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._done: deque[int] = deque(maxlen=DONE_MEMORY)
        self._done_set: set[int] = set()
        self._progress = asyncio.Event()

    @property
    def in_hand(self) -> int:
        """Updates admitted and not yet finished (waiting for their turn included)."""
        return self._in_hand

    async def wait_idle(self) -> None:
        """Return once no update is in hand."""
        await self._idle.wait()

    def outcome(self, update_id: int) -> asyncio.Future[bool]:
        """A future for the update with this id: True once handled (or skipped), False
        if it failed transiently. Ask before the update is queued."""
        future = self._waiting.get(update_id)
        if future is None:
            future = self._waiting[update_id] = asyncio.get_running_loop().create_future()
        return future

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        self._in_hand += 1
        self._idle.clear()
        handling = _Handling()
        try:
            work = await self.gate.admit(update) if self.gate else None
            if work is SKIP:
                _close(coroutine)
                return
            if work is not None:
                _close(coroutine)
                coroutine = work
            key = chat_key(update)
            token = _current.set(handling)
            try:
                async with self._turn(key), self._slots:
                    # Claimed only now: a crash loses no update still waiting for its turn.
                    if self.gate and not await self.gate.claim(update):
                        _close(coroutine)
                        return
                    await coroutine
                if self.gate:
                    await self.gate.release(update, failed=handling.failed)
            finally:
                _current.reset(token)
        finally:
            self._finish(update, ok=not handling.failed)

    @contextlib.asynccontextmanager
    async def _turn(self, key: Hashable | None) -> Any:
        """The chat's FIFO lock, forgotten when nobody holds or awaits it."""
        if key is None:
            yield
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    async def wait_handled(self, update_ids: Collection[int], stall: float) -> bool:
        """Wait until these updates are done (handled, skipped or failed); False once none
        of those left has finished for `stall` seconds (a reply that is retrying)."""
        loop = asyncio.get_running_loop()
        left = set(update_ids) - self._done_set
        deadline = loop.time() + stall
        while left:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)
            still = left - self._done_set
            if len(still) < len(left):  # progress: the batch is being worked through
                deadline = loop.time() + stall
            left = still
        return True

    def _finish(self, update: object, *, ok: bool) -> None:
        self._in_hand -= 1
        if not self._in_hand:
            self._idle.set()
        if isinstance(update, Update):
            if len(self._done) == self._done.maxlen:
                self._done_set.discard(self._done[0])
            self._done.append(update.update_id)
            self._done_set.add(update.update_id)
            progress, self._progress = self._progress, asyncio.Event()
            progress.set()
            future = self._waiting.pop(update.update_id, None)
            if future is not None and not future.done():
                future.set_result(ok)

    async def initialize(self) -> None:
        """Nothing to set up: locks are made as chats appear."""

    async def shutdown(self) -> None:
        """Release anyone still waiting for an outcome (the application stopped)."""
        for future in self._waiting.values():
            if not future.done():
                future.set_result(False)
        self._waiting.clear()


def _close(coroutine: Awaitable[Any]) -> None:
    """Discard a handler coroutine that will not run (no 'never awaited' warning)."""
    if isinstance(coroutine, Coroutine):
        coroutine.close()
