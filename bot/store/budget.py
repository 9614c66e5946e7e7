"""The send budget's arithmetic: token buckets per scope, the same on every back end.

A scope is "global" (everything the bot token sends), "chat:<id>" or "group:<id>".
Taking a token *reserves* it: the answer is how long to wait before sending (0: send
now), and the caller sends after that wait without asking again. So callers that ask at
once are spaced `1 / per_second` apart, and in any window of T seconds at most
`burst + T * per_second` messages go out, whichever replica asked.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

_SCOPE = re.compile(r"(?:global|(?P<kind>chat|group):-?\d+)")

IDLE_FORGET = 3_600.0
"""Seconds after which an idle bucket is dropped: it has refilled long since, and a
missing bucket is a full one, so forgetting it changes nothing."""


@dataclass(frozen=True, slots=True)
class Rate:
    """A bucket's refill rate and size; `burst` tokens may go at once after a pause."""

    per_second: float
    burst: float = 1.0

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("a rate needs per_second > 0 and burst >= 1")


@dataclass(frozen=True, slots=True)
class SendRates:
    """Telegram's limits for one bot token: ~30 messages/s in all, 1/s to one chat, 20 a
    minute to one group. `overall=None` lifts the overall limit (SEND_RATE_LIMIT=0)."""

    overall: Rate | None = field(default_factory=lambda: Rate(30.0))
    chat: Rate = field(default_factory=lambda: Rate(1.0))
    group: Rate = field(default_factory=lambda: Rate(20 / 60))

    def for_scope(self, scope: str) -> Rate | None:
        """The rate of `scope`; None when it is unlimited. ValueError for an unknown scope."""
        match = _SCOPE.fullmatch(scope)
        if match is None:
            raise ValueError(f"unknown send scope {scope!r}: use global, chat:<id> or group:<id>")
        kind = match.group("kind")
        return self.overall if kind is None else self.chat if kind == "chat" else self.group


HEADROOM = 0.8
"""The share of SEND_RATE_LIMIT the bot plans for: messages are spaced 1 / (0.8 N) s
apart, so that jitter (a message reserved early but delivered late) cannot put more than
N into any one second as Telegram counts them. At 0.9, three replicas on one busy 2-core
machine put 16 messages into one second under a limit of 15 (about one run in ten)."""


def overall_rate(limit: int) -> Rate | None:
    """SEND_RATE_LIMIT as the overall bucket: evenly spaced with `HEADROOM`, no bursts;
    None (no limit) for 0. It means this for all replicas together, or for one process."""
    return Rate(limit * HEADROOM) if limit > 0 else None


def take(tokens: float, updated: float, now: float, rate: Rate) -> tuple[float, float, float]:
    """One reservation on a bucket holding `tokens` at time `updated`: the bucket's new
    (tokens, updated) and the wait from `now`. A `now` behind the bucket's time (another
    thread's or machine's clock) refills nothing and waits the difference too."""
    left = min(rate.burst, tokens + max(0.0, now - updated) * rate.per_second) - 1
    at = max(updated, now)
    return left, at, wait_after(left, at, now, rate)


def wait_after(left: float, at: float, now: float, rate: Rate) -> float:
    """Seconds from `now` until a bucket holding `left` tokens at time `at` is back at 0,
    which is when the token just reserved may be spent."""
    return max(0.0, at - now - left / rate.per_second)


class LocalBudget:
    """Buckets in this process's memory: enough for one process (the SQLite set-up)."""

    def __init__(self, rates: SendRates) -> None:
        self.rates = rates
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._swept_at = 0.0

    def take(self, scope: str, now: float) -> float:
        rate = self.rates.for_scope(scope)
        if rate is None:
            return 0.0
        with self._lock:
            if now - self._swept_at > IDLE_FORGET:
                self._swept_at = now
                self._buckets = {s: b for s, b in self._buckets.items() if now - b[1] < IDLE_FORGET}
            tokens, updated = self._buckets.get(scope, (rate.burst, now))
            tokens, updated, wait = take(tokens, updated, now, rate)
            self._buckets[scope] = (tokens, updated)
        return wait
