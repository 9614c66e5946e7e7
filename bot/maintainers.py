"""What people asked that the bot could not answer, and how they voted on its answers.

Everything here returns data (`Report`); `bot.cli` prints it and `bot.replies` renders it
for /unanswered. Nothing here prints or imports `telegram`; the coverage tool lives in
`bot.coverage`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from rapidfuzz import fuzz, process

from bot.engine import Engine
from bot.store import SQLiteStore, Store, UnansweredQuestion, VoteCount
from bot.text import plain

REPORT_VOTE_KEY = b"report: reads votes, never casts them"
"""The report only reads, so it needs no secret; any non-empty key opens the store."""

MAX_EXAMPLES = 3


# --- unanswered questions --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Closest:
    """The entry nearest to a question: the first candidate to extend or to add beside."""

    entry_id: str
    score: float
    question: str | None = None
    """The entry's question, when the knowledge was loaded."""


@dataclass(frozen=True, slots=True)
class UnansweredGroup:
    """Near-identical unanswered questions, counted together."""

    text: str
    """The most frequent wording."""
    count: int
    examples: tuple[str, ...]
    """Up to three other wordings, those that differ in more than case first."""
    last_asked: datetime
    closest: Closest | None = None
    now_answered: bool = False
    """The current knowledge answers it: an entry was added since it was asked."""


@dataclass(frozen=True, slots=True)
class EntryVotes:
    """One entry's votes, with its question for the reader."""

    entry_id: str
    question: str | None
    """None when the entry is no longer in the Q&A file (or it could not be loaded)."""
    up: int
    down: int

    @property
    def weak(self) -> bool:
        """The store's rule for an answer worth rewriting, applied to these totals."""
        return VoteCount(self.up, self.down).weak


@dataclass(frozen=True, slots=True)
class Report:
    """Everything `python -m bot report` shows."""

    unanswered_total: int
    groups_total: int
    groups: tuple[UnansweredGroup, ...]
    """The most frequent groups, at most `limit`."""
    votes: tuple[EntryVotes, ...]
    """Sorted by 👎, most first."""

    def to_json(self) -> dict[str, object]:
        return {
            "unanswered_total": self.unanswered_total,
            "groups_total": self.groups_total,
            "unanswered": [_group_json(g) for g in self.groups],
            "votes": [
                {
                    "id": v.entry_id,
                    "question": v.question,
                    "up": v.up,
                    "down": v.down,
                    "weak": v.weak,
                }
                for v in self.votes
            ],
        }


_LENGTH_RATIO = 0.7
"""Wordings shorter than this share of another's length cannot reach 85 % similarity."""


def group_unanswered(
    rows: Iterable[UnansweredQuestion], *, similarity: float = 85.0
) -> list[UnansweredGroup]:
    """Group near-duplicate questions, most asked first (then most recent).

    Greedy: the most frequent remaining wording takes every remaining wording whose
    `token_sort_ratio` (on `plain` text) reaches `similarity`. `closest` is the one
    recorded when it was asked; `build_report` replaces it with today's.
    """
    forms: dict[str, list[UnansweredQuestion]] = {}
    for row in rows:
        forms.setdefault(plain(row.text) or row.text.casefold(), []).append(row)
    order = sorted(forms, key=lambda form: _popularity(forms[form]), reverse=True)
    # Two wordings this alike differ little in length (token_sort_ratio is an edit
    # ratio), so each seed is compared only with wordings of similar length.
    by_length = sorted(range(len(order)), key=lambda i: len(order[i]))
    lengths = [len(order[i]) for i in by_length]
    taken = [False] * len(order)
    groups = []
    for i, seed in enumerate(order):
        if taken[i]:
            continue
        taken[i] = True
        low = bisect_left(lengths, len(seed) * _LENGTH_RATIO)
        high = bisect_right(lengths, len(seed) / _LENGTH_RATIO)
        window = [j for j in by_length[low:high] if not taken[j]]
        found = process.extract(
            seed,
            [order[j] for j in window],
            scorer=fuzz.token_sort_ratio,
            score_cutoff=similarity,
            limit=None,
        )
        members = [i, *(window[k] for _, _, k in found)]
        for j in members:
            taken[j] = True
        groups.append(_group([row for j in members for row in forms[order[j]]]))
    groups.sort(key=lambda g: (g.count, g.last_asked), reverse=True)
    return groups


def closest_entry(engine: Engine, question: str) -> tuple[Closest | None, bool]:
    """The current knowledge's best entry for `question`, and whether it now answers it."""
    result = engine.ask(question)
    if result.best is None:
        return None, False
    entry = result.best.entry
    return Closest(entry.id, result.best.score, entry.question), result.matched


def build_report(store: Store, engine: Engine | None, limit: int | None = None) -> Report:
    """Group the unanswered questions and collect the votes; `limit` caps the groups."""
    rows = store.unanswered()
    groups = group_unanswered(rows)
    shown = groups if limit is None or limit < 1 else groups[:limit]
    if engine is not None:
        shown = [_with_closest(group, engine) for group in shown]
    return Report(len(rows), len(groups), tuple(shown), _entry_votes(store, engine))


def read_report(
    path: Path,
    engine: Engine | None,
    limit: int | None = None,
    *,
    max_rows: int = 10_000,
    retention_days: int | None = None,
) -> Report | None:
    """The report of the database at `path`, or None when nothing was recorded yet (no
    file: reading never creates one). Questions older than `retention_days` are left out."""
    if not path.exists():
        return None
    store = SQLiteStore(
        path, max_rows=max_rows, retention_days=retention_days, vote_key=REPORT_VOTE_KEY
    )
    with store:
        return build_report(store, engine, limit)


def _popularity(rows: Sequence[UnansweredQuestion]) -> tuple[int, datetime]:
    return len(rows), max(row.asked_at for row in rows)


def _group(rows: list[UnansweredQuestion]) -> UnansweredGroup:
    """One group from its rows: the most frequent wording represents it."""
    wordings: dict[str, list[UnansweredQuestion]] = {}
    for row in rows:
        wordings.setdefault(row.text, []).append(row)
    ranked = sorted(wordings, key=lambda w: _popularity(wordings[w]), reverse=True)
    text = ranked[0]
    form = plain(text)
    others = sorted(ranked[1:], key=lambda w: plain(w) == form)  # stable: keeps popularity
    last = max(row.asked_at for row in rows)
    closest = _recorded_closest(wordings[text])
    return UnansweredGroup(text, len(rows), tuple(others[:MAX_EXAMPLES]), last, closest)


def _recorded_closest(rows: list[UnansweredQuestion]) -> Closest | None:
    """The closest entry noted the last time this wording was asked (if any was)."""
    for row in sorted(rows, key=lambda r: r.asked_at, reverse=True):
        if row.closest_id:
            return Closest(row.closest_id, row.score)
    return None


def _with_closest(group: UnansweredGroup, engine: Engine) -> UnansweredGroup:
    closest, answered = closest_entry(engine, group.text)
    return replace(group, closest=closest, now_answered=answered)


def _entry_votes(store: Store, engine: Engine | None) -> tuple[EntryVotes, ...]:
    entries = engine.knowledge.by_id if engine is not None else {}
    votes = [
        EntryVotes(
            entry_id,
            entries[entry_id].question if entry_id in entries else None,
            count.up,
            count.down,
        )
        for entry_id, count in store.votes().items()
    ]
    votes.sort(key=lambda v: (-v.down, v.up, v.entry_id))
    return tuple(votes)


def _group_json(group: UnansweredGroup) -> dict[str, object]:
    closest = group.closest
    return {
        "question": group.text,
        "count": group.count,
        "examples": list(group.examples),
        "last_asked": group.last_asked.isoformat(),
        "closest": None
        if closest is None
        else {"id": closest.entry_id, "question": closest.question, "score": closest.score},
        "now_answered": group.now_answered,
    }
