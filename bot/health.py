"""Liveness for a container's HEALTHCHECK, in both ways of receiving updates.

The running bot keeps a small file (HEALTH_FILE) up to date: in polling mode its
modification time is refreshed after every successful getUpdates (a long poll returns at
least every 10 seconds, so a stale file means the bot lost Telegram or hangs); in webhook
mode it names the local `/healthz` URL to ask. `check` reads it and says whether the bot
is alive; `python -m bot health` prints that and exits 0 or 1. Nothing here imports
`telegram`, so the check starts fast.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MAX_AGE = 60.0
"""Seconds since the last successful getUpdates after which polling counts as dead."""
POLLING = "polling"
WEBHOOK = "webhook"


@dataclass(frozen=True, slots=True)
class Health:
    """The verdict, and why, in one line."""

    ok: bool
    reason: str


def mark_polling(path: Path) -> None:
    """A successful getUpdates just returned: refresh the file's time."""
    try:
        os.utime(path)
    except FileNotFoundError:
        _write(path, POLLING)


def mark_webhook(path: Path, health_url: str) -> None:
    """The webhook server is listening: the check asks `health_url`."""
    _write(path, f"{WEBHOOK} {health_url}")


def clear(path: Path) -> None:
    """The bot stopped cleanly: it is no longer alive."""
    path.unlink(missing_ok=True)


def check(path: Path, *, now: float | None = None, timeout: float = 3.0) -> Health:
    """Whether the bot that keeps `path` is alive."""
    try:
        content = path.read_text(encoding="utf-8").split()
        modified = path.stat().st_mtime
    except OSError:
        return Health(False, f"{path} is missing: the bot is not running (or has not started)")
    if content[:1] == [POLLING]:
        age = (time.time() if now is None else now) - modified
        if age > MAX_AGE:
            return Health(False, f"no successful getUpdates for {age:.0f} s")
        return Health(True, f"polling; last getUpdates {age:.0f} s ago")
    if content[:1] == [WEBHOOK] and len(content) == 2:
        return _ask(content[1], timeout)
    return Health(False, f"{path} does not hold a health record")


def _ask(url: str, timeout: float) -> Health:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # a local URL
            body = json.loads(response.read())
    except (OSError, ValueError) as exc:
        return Health(False, f"{url} did not answer: {exc}")
    if body.get("running") is not True:
        return Health(False, f"{url} says the bot is not running")
    return Health(True, f"webhook; {url} serves {body.get('entries')} entries")


def _write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(content + "\n", encoding="utf-8")
    partial.replace(path)
