"""The getUpdates request of polling mode, marking the bot alive after each success."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from telegram.request import HTTPXRequest

from bot import health


class LivenessRequest(HTTPXRequest):
    """python-telegram-bot's own HTTP request (one connection, as for getUpdates by
    default) that refreshes the HEALTH_FILE whenever Telegram answered 200."""

    def __init__(self, path: Path) -> None:
        super().__init__(connection_pool_size=1)
        self.path = path

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        if code == 200:
            health.mark_polling(self.path)
        return code, payload
