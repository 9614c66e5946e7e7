"""The getUpdates request of polling mode, marking the bot alive after each success."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot import health
from bot.telegram.sending import PollingRequest


class LivenessRequest(PollingRequest):
    """getUpdates' request (bot.telegram.sending.PollingRequest) that also refreshes the
    HEALTH_FILE whenever Telegram answered 200."""

    def __init__(self, path: Path) -> None:
        super().__init__(connection_pool_size=1)
        self.path = path

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        if code == 200:
            health.mark_polling(self.path)
        return code, payload
