"""Score the matcher on labelled questions: the figures the README reports.

A labelled set is a YAML list of cases: `q` (the message), `kind` (answerable, off-topic,
trap, unanswerable or small-talk) and, for answerable ones, `expect` (an entry id or a list
of ids that would all be right; an empty list when no entry covers the fact). Older sets
mark off-topic questions with `expect: null` and small talk with `expect: small-talk`.
A follow-up case also names `previous`, the entry answered just before (and, for people
reading the set, `first`, the question that got it): `q` is then read in its context.

"Declined" means the bot did not assert an answer: it said it does not know, or asked
"did you mean" — both honest, unlike a wrong answer asserted with a quote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.matching import MatchResult, Verdict

ANSWERABLE, OFF_TOPIC, TRAP, UNANSWERABLE, SMALL_TALK = (
    "answerable",
    "off-topic",
    "trap",
    "unanswerable",
    "small-talk",
)
KINDS = (ANSWERABLE, OFF_TOPIC, TRAP, UNANSWERABLE, SMALL_TALK)


@dataclass(frozen=True, slots=True)
class Case:
    """One labelled question."""

    question: str
    kind: str
    expect: frozenset[str] = frozenset()
    style: str = ""
    previous: str | None = None
    """For a follow-up: the entry answered just before `question`."""
    language: str | None = None
    """The asker's language as Telegram reports it (`lang`), when the set gives one."""


def load_cases(path: Path) -> list[Case]:
    """Read a labelled set, old style or new; a malformed case is an error naming it."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a list of questions")
    return [_case(path, i, item) for i, item in enumerate(raw)]


def _case(path: Path, i: int, item: Any) -> Case:
    if not isinstance(item, dict) or "q" not in item:
        raise ValueError(f"{path}: item {i + 1} needs a 'q'")
    expect, kind = item.get("expect"), str(item.get("kind", ""))
    if expect == SMALL_TALK:
        return Case(str(item["q"]), SMALL_TALK)
    if kind not in KINDS:  # an old set: the kind there was a style (paraphrase, typo...)
        kind = OFF_TOPIC if expect is None else ANSWERABLE
    ids = frozenset([expect] if isinstance(expect, str) else (expect or ()))
    if kind == ANSWERABLE and expect is None:
        raise ValueError(f"{path}: item {i + 1} is answerable but has no 'expect'")
    style = str(item.get("style", item.get("kind", "")))
    previous = item.get("previous")
    language = item.get("lang")
    return Case(
        str(item["q"]),
        kind,
        ids,
        style,
        str(previous) if previous else None,
        str(language) if language else None,
    )


@dataclass
class Report:
    """Counts over one labelled set; `figures` turns them into the README's percentages."""

    name: str
    answerable: int = 0
    right: int = 0
    """Answerable questions answered with a right entry."""
    first: int = 0
    """Answerable questions whose right entry the matcher ranked first (asserted or not)."""
    top3: int = 0
    asserted: int = 0
    """Answers asserted, on any kind of question."""
    asserted_wrong: int = 0
    """Asserted answers that were wrong: a wrong entry, or any answer to an unanswerable one."""
    off_topic: int = 0
    off_topic_declined: int = 0
    off_topic_suggested: int = 0
    """Declined off-topic questions that still got a "did you mean"."""
    near_domain: int = 0
    near_domain_declined: int = 0
    unanswerable: int = 0
    unanswerable_declined: int = 0
    small_talk: int = 0
    small_talk_ok: int = 0
    misses: list[str] = field(default_factory=list)
    misranked: list[str] = field(default_factory=list)
    """Answerable questions whose right entry was not ranked first."""

    @staticmethod
    def pct(part: int, whole: int) -> float:
        return round(100 * part / whole, 1) if whole else 100.0

    @property
    def questions(self) -> int:
        return self.answerable + self.off_topic + self.unanswerable + self.small_talk

    @property
    def figures(self) -> dict[str, float]:
        return {
            "right": self.pct(self.right, self.answerable),
            "first": self.pct(self.first, self.answerable),
            "top3": self.pct(self.top3, self.answerable),
            "wrong_asserted": self.pct(self.asserted_wrong, self.asserted)
            if self.asserted
            else 0.0,
            "off_topic_declined": self.pct(self.off_topic_declined, self.off_topic),
            "off_topic_suggested": self.pct(self.off_topic_suggested, self.off_topic_declined)
            if self.off_topic_declined
            else 0.0,
            "near_domain_declined": self.pct(self.near_domain_declined, self.near_domain),
            "unanswerable_declined": self.pct(self.unanswerable_declined, self.unanswerable),
            "small_talk": self.pct(self.small_talk_ok, self.small_talk),
        }


def evaluate(ask: Callable[..., MatchResult], cases: Iterable[Case], name: str = "") -> Report:
    """Ask every question (a follow-up after its previous answer: `ask(q, previous=id)`)
    and count what matters to a user."""
    report = Report(name)
    for case in cases:
        extra: dict[str, str] = {}
        if case.previous:
            extra["previous"] = case.previous
        if case.language:
            extra["language"] = case.language
        result = ask(case.question, **extra)
        _count(report, case, result)
    return report


def _count(report: Report, case: Case, result: MatchResult) -> None:
    asserted = result.best.entry.id if result.matched and result.best else None
    ranking = [c.entry.id for c in result.ranking]
    if case.kind == SMALL_TALK:
        report.small_talk += 1
        ok = result.verdict is Verdict.SMALL_TALK
        report.small_talk_ok += ok
        if not ok:
            report.misses.append(f"small talk   {case.question!r} -> {result.verdict.value}")
        return
    report.asserted += asserted is not None
    if case.kind != ANSWERABLE:
        declined = asserted is None
        report.asserted_wrong += not declined
        if case.kind in (OFF_TOPIC, TRAP):
            report.off_topic += 1
            report.off_topic_declined += declined
            report.off_topic_suggested += declined and result.verdict is Verdict.UNSURE
        if case.kind in (TRAP, UNANSWERABLE):
            report.near_domain += 1
            report.near_domain_declined += declined
        if case.kind == UNANSWERABLE:
            report.unanswerable += 1
            report.unanswerable_declined += declined
        if not declined:
            report.misses.append(
                f"{case.kind:<12} {case.question!r} -> {asserted} ({result.confidence:.2f})"
            )
        return
    report.answerable += 1
    report.first += bool(ranking) and ranking[0] in case.expect
    report.top3 += bool(case.expect & set(ranking[:3]))
    if not ranking or ranking[0] not in case.expect:
        report.misranked.append(
            f"{case.style:<10} {case.question!r}\n{'':13}ranked {ranking[:3]} "
            f"want {sorted(case.expect) or 'a missing entry'}"
        )
    offered = {c.entry.id for c in result.suggestions}
    if asserted in case.expect or (result.more and offered & case.expect):
        report.right += 1  # a "tell me more" is right when it offers what was wanted
        return
    report.asserted_wrong += asserted is not None
    got = asserted or f"{result.verdict.value}: {ranking[:3]}"
    report.misses.append(
        f"{'WRONG' if asserted else 'missed':<12} {case.question!r} -> {got} "
        f"({result.confidence:.2f}) want {sorted(case.expect) or 'a missing entry'}"
    )
