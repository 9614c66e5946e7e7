"""The gate every update passes before its chat's turn: seen before? over budget?

De-duplication: Telegram re-sends a webhook update it saw no answer to (perhaps to another
replica), and after a crash in polling mode it delivers the updates it was not told were
fetched. `Store.claim_update` is atomic in the shared database, so one process at a time
handles each update id. A claim names its holder (this process's instance id, kept alive by
the heartbeat in bot.telegram.app) and is marked finished once handled; a claim whose holder
died unfinished (SIGKILL, a crash) is taken over by the re-delivery, so the question is
still answered. "Finished" is marked just before the update's first Bot API call (see
`before_first_send`): a process killed while its reply was in flight may have been
answered already, so that update is not answered again (at most once), while one killed
while waiting for its turn or for send tokens is answered by the takeover. A claim is
released when handling failed transiently, so a re-delivery gets a second chance. A
re-delivery of an update a live process still holds waits for it to finish or die
(`HELD_WAIT`), else asks Telegram to send it again later.

Fairness: messages count against their sender's budget, and in groups against the group's
too (Telegram lets a bot post about 20 messages a minute in one group, so a backlog
beyond that would only grow). Callback and inline queries are cheap and never counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.constants import ChatType

from bot.store import HOLDER_TIMEOUT, Store
from bot.telegram.fairness import Admission, Budgets
from bot.telegram.ordering import SKIP, Skip, before_first_send, mark_failed

log = logging.getLogger(__name__)

GROUP_BUDGET = 19
GROUP_WINDOW = 60.0
"""Telegram lets a bot post about 20 messages a minute in one group: 19 answers and the
"slow down" fit in it, so the rate limiter never has to hold a group's reply back."""

HELD_WAIT = HOLDER_TIMEOUT.total_seconds() + 1.0
"""Seconds a re-delivered update waits while another process holds its claim: long enough
for a killed holder to be seen dead (a SIGKILLed replica's updates come back at once, while
its last heartbeat is still fresh). After that the holder is alive and working (waiting
for send tokens): the update counts as failed, so Telegram sends it again later."""

HELD_POLL = 0.25
"""Seconds between looks at a held claim."""

SlowDown = Callable[[Update], Coroutine[Any, Any, None]]


@dataclass
class UpdateGate:
    """De-duplicates through the store and applies per-user and per-group budgets."""

    store: Store
    users: Budgets
    groups: Budgets
    slow_down: SlowDown
    holder: str | None = None
    """This process's instance id (None: claims count as finished at once, see
    `Store.claim_update`)."""
    _finished: set[int] = field(default_factory=set)
    """Claims already marked finished before their first send (no second write)."""

    async def admit(self, update: object) -> Coroutine[Any, Any, Any] | Skip | None:
        if not isinstance(update, Update):
            return None
        message, user, chat = update.message or update.edited_message, None, None
        if message is not None:
            user, chat = message.from_user, message.chat
        if user is None or chat is None:
            return None
        verdict = self.users.admit(user.id)
        where = "a private chat" if chat.type == ChatType.PRIVATE else "a group"
        if verdict is Admission.OK and chat.type != ChatType.PRIVATE:
            verdict = self.groups.admit(chat.id)
            where = "a group (the whole group)"
        if verdict is Admission.WARN:
            log.warning(
                "A sender in %s went over the budget; their messages are dropped until it refills",
                where,
            )
            return self.slow_down(update)
        return SKIP if verdict is Admission.DROP else None

    async def release(self, update: object, *, failed: bool) -> None:
        """Handled: mark the claim finished; failed transiently: release it."""
        if not isinstance(update, Update):
            return
        if not failed:
            if update.update_id not in self._finished:
                await self._finish(update.update_id)
            self._finished.discard(update.update_id)
            return
        self._finished.discard(update.update_id)
        try:
            await asyncio.to_thread(self.store.forget_update, update.update_id)
        except Exception as exc:  # the database is the shared one: never fatal here
            log.warning("Could not release update %d: %s", update.update_id, exc)

    async def _finish(self, update_id: int) -> None:
        """Never taken over again: called before the update's first Bot API call (a reply
        may reach Telegram from then on, even if this process dies before hearing back),
        and when it is done."""
        try:
            await asyncio.to_thread(self.store.finish_update, update_id)
        except Exception as exc:  # the database is the shared one: never fatal here
            log.warning("Could not mark update %d handled: %s", update_id, exc)
        else:
            self._finished.add(update_id)

    async def claim(self, update: object) -> bool:
        if not isinstance(update, Update):
            return True
        uid = update.update_id
        deadline = asyncio.get_running_loop().time() + HELD_WAIT
        while True:
            try:
                if await asyncio.to_thread(self.store.claim_update, uid, holder=self.holder):
                    before_first_send(lambda: self._finish(uid))
                    return True
                held = await asyncio.to_thread(self.store.update_held, uid)
            except Exception as exc:  # better a rare duplicate than a lost question
                log.warning("Could not record update %d (handled anyway): %s", uid, exc)
                return True
            if not held:
                log.info("Update %d was delivered again and is already handled", uid)
                return False
            if asyncio.get_running_loop().time() >= deadline:
                log.info("Update %d is being handled by another process; not yet acknowledged", uid)
                mark_failed()  # webhook: answered 500, so Telegram sends it again later
                return False
            await asyncio.sleep(HELD_POLL)
