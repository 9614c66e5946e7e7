"""One turn of a conversation: a message, read after what was answered before it.

A message may ask several questions ("What is ISIS-K? And who founded it?"): each is
matched in the context of the answer before it, so "it" in the second part means what the
first part was about. A message with one question is matched whole, exactly as the
matcher always read it (it finds the question inside filler itself). Both front ends
(Telegram and the terminal) take turns through here; nothing here imports `telegram`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.matching import Matcher, MatchResult
from bot.questions import split_questions


@dataclass(frozen=True, slots=True)
class Turn:
    """What a message asked and what each question got, in order."""

    parts: tuple[tuple[str, MatchResult], ...]
    dropped: int = 0
    """Questions beyond the ones answered (a message may ask at most MAX_QUESTIONS)."""

    @property
    def several(self) -> bool:
        return len(self.parts) > 1

    @property
    def results(self) -> tuple[MatchResult, ...]:
        return tuple(result for _, result in self.parts)

    def context_after(self, previous: str | None) -> str | None:
        """The entry a follow-up to this turn refers to: the last one answered, else the
        one before ("tell me more" and a declined question keep the conversation's topic)."""
        for result in reversed(self.results):
            if result.matched and result.best is not None:
                return result.best.entry.id
        return previous


def take_turn(matcher: Matcher, text: str, previous: str | None = None) -> Turn:
    """Match `text` (each of its questions) after `previous`, the entry answered last."""
    questions = split_questions(text)
    if not questions.several:
        return Turn(((text, matcher.match(text, previous=previous)),))
    parts, context = [], previous
    for part in questions.parts:
        result = matcher.match(part, previous=context)
        parts.append((part, result))
        if result.matched and result.best is not None:
            context = result.best.entry.id
    return Turn(tuple(parts), questions.dropped)


@dataclass
class RecentAnswers:
    """Each conversation's last answer, in memory, for `max_age` seconds: what one process
    needs for follow-ups (replicas share theirs through the store instead). Bounded: the
    oldest conversations are forgotten first."""

    max_age: float
    limit: int = 100_000
    clock: Callable[[], float] = time.monotonic
    _last: OrderedDict[str, tuple[str, float]] = field(default_factory=OrderedDict)

    def remember(self, key: str, entry_id: str) -> None:
        self._last[key] = (entry_id, self.clock())
        self._last.move_to_end(key)
        while len(self._last) > self.limit:
            self._last.popitem(last=False)

    def recall(self, key: str) -> str | None:
        found = self._last.get(key)
        if found is None or self.clock() - found[1] > self.max_age:
            return None
        return found[0]

    def clear(self) -> None:
        self._last.clear()
