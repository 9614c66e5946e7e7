"""Per-sender budgets, so one flooding person (or group) cannot starve everyone else.

A token bucket per key: `budget` messages at once, refilled at `budget / window` a second.
A message within budget is handled; the first one beyond it gets one short "slow down"
(and one log line); the rest are dropped without a word. A sender who keeps flooding is
answered at the refill rate, and told once: the "slow down" is said again only after they
have calmed down (their bucket back to half full), not at every token that trickles in. Counting
happens when an update arrives, before it waits for its chat's turn, so a flood is cut off
at once instead of queueing. No telegram import: the caller says whose update it is.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

PRUNE_EVERY = 1024
"""Admissions between two sweeps of buckets that have refilled (memory stays flat)."""
CALM = 0.5
"""A warned sender is warned again only once their bucket is this full again."""


class Admission(enum.Enum):
    OK = "ok"
    WARN = "warn"  # the first message over budget: tell them once
    DROP = "drop"  # over budget and already told


@dataclass
class _Bucket:
    tokens: float
    at: float
    warned: bool = False


@dataclass
class Budgets:
    """Token buckets keyed by anything hashable (a user id, a group's chat id)."""

    budget: int
    window: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[Hashable, _Bucket] = field(default_factory=dict)
    _since_prune: int = 0

    @property
    def rate(self) -> float:
        return self.budget / self.window

    def admit(self, key: Hashable) -> Admission:
        """Spend one message of `key`'s budget, if there is one left."""
        now = self.clock()
        self._since_prune += 1
        if self._since_prune >= PRUNE_EVERY:
            self._prune(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.budget), now)
        else:
            bucket.tokens = min(self.budget, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
        if bucket.tokens >= CALM * self.budget:
            bucket.warned = False  # they slowed down: a new flood is a new episode
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Admission.OK
        if bucket.warned:
            return Admission.DROP
        bucket.warned = True
        return Admission.WARN

    def __len__(self) -> int:
        return len(self._buckets)

    def _prune(self, now: float) -> None:
        """Forget buckets that are full again: they behave exactly like new ones."""
        self._since_prune = 0
        full = [
            key
            for key, b in self._buckets.items()
            if b.tokens + (now - b.at) * self.rate >= self.budget
        ]
        for key in full:
            del self._buckets[key]
