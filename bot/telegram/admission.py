"""The gate every update passes before its chat's turn: seen before? over budget?

De-duplication: Telegram re-sends a webhook update it saw no answer to (perhaps to another
replica), and after a crash in polling mode it delivers the updates it was not told were
fetched. `Store.claim_update` is one atomic insert in the shared database, so exactly one
process handles each update id; a claim is released when handling failed transiently, so a
re-delivery gets a second chance.

Fairness: messages count against their sender's budget, and in groups against the group's
too (Telegram lets a bot post about 20 messages a minute in one group, so a backlog
beyond that would only grow). Callback and inline queries are cheap and never counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.constants import ChatType

from bot.store import Store
from bot.telegram.fairness import Admission, Budgets
from bot.telegram.ordering import SKIP, Skip

log = logging.getLogger(__name__)

GROUP_BUDGET = 19
GROUP_WINDOW = 60.0
"""Telegram lets a bot post about 20 messages a minute in one group: 19 answers and the
"slow down" fit in it, so the rate limiter never has to hold a group's reply back."""

SlowDown = Callable[[Update], Coroutine[Any, Any, None]]


@dataclass
class UpdateGate:
    """De-duplicates through the store and applies per-user and per-group budgets."""

    store: Store
    users: Budgets
    groups: Budgets
    slow_down: SlowDown

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
        if failed and isinstance(update, Update):
            try:
                await asyncio.to_thread(self.store.forget_update, update.update_id)
            except Exception as exc:  # the database is the shared one: never fatal here
                log.warning("Could not release update %d: %s", update.update_id, exc)

    async def claim(self, update: object) -> bool:
        if not isinstance(update, Update):
            return True
        try:
            fresh = await asyncio.to_thread(self.store.claim_update, update.update_id)
        except Exception as exc:  # better a rare duplicate than a lost question
            log.warning("Could not record update %d (handled anyway): %s", update.update_id, exc)
            return True
        if not fresh:
            log.info("Update %d was delivered again and is already handled", update.update_id)
        return fresh
