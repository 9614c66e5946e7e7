"""The evaluation: labelled sets load in both styles, and every outcome is counted once,
in the column a user would put it (a wrong answer asserted is worse than a decline)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.evaluation import (
    ANSWERABLE,
    OFF_TOPIC,
    SMALL_TALK,
    TRAP,
    UNANSWERABLE,
    Case,
    Report,
    evaluate,
    load_cases,
)
from bot.knowledge import Entry
from bot.matching import Candidate, MatchResult, Verdict
from bot.smalltalk import SmallTalk


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "set.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def entry(entry_id: str) -> Entry:
    return Entry(
        id=entry_id, question=f"Question about {entry_id}?", answer="An answer.", quote="A quote."
    )


def result(verdict: Verdict, *ranking: str, confidence: float = 0.5) -> MatchResult:
    """What the matcher would say: `ranking` best first; the first is `best`."""
    ranked = tuple(Candidate(entry(i), 90.0 - 10 * n, n) for n, i in enumerate(ranking))
    return MatchResult(
        "q",
        verdict,
        best=ranked[0] if ranked else None,
        suggestions=ranked[1:] if verdict is Verdict.UNSURE else (),
        small_talk=SmallTalk.GREETING if verdict is Verdict.SMALL_TALK else None,
        confidence=confidence,
        ranking=ranked,
    )


def asking(replies: dict[str, MatchResult]) -> Callable[[str], MatchResult]:
    """A stand-in for the matcher that only knows the questions of the test."""
    return replies.__getitem__


# --- loading --------------------------------------------------------------------------


def test_old_style_sets_load(tmp_path: Path) -> None:
    """Old sets: `kind` was a style, `expect: null` meant off-topic."""
    path = write(
        tmp_path,
        "- q: when was isis-k formd\n"
        "  expect: when-formed\n"
        "  kind: typo\n"
        "- q: weather in kabul\n"
        "  expect: null\n"
        "  kind: paraphrase\n"
        "- q: hi there\n"
        "  expect: small-talk\n",
    )
    assert load_cases(path) == [
        Case("when was isis-k formd", ANSWERABLE, frozenset({"when-formed"}), "typo"),
        Case("weather in kabul", OFF_TOPIC, frozenset(), "paraphrase"),
        Case("hi there", SMALL_TALK),
    ]


def test_new_style_sets_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "- q: who founded it\n"
        "  kind: answerable\n"
        "  expect: [who-founded, when-formed]\n"
        "  style: paraphrase\n"
        "- q: who leads isis-k today\n"
        "  kind: answerable\n"
        "  expect: []\n"
        "- q: how many were injured in kabul\n"
        "  kind: unanswerable\n"
        "- q: best kebab in kabul\n"
        "  kind: trap\n"
        "- q: price of bitcoin\n"
        "  kind: off-topic\n"
        "- q: thanks!\n"
        "  kind: small-talk\n",
    )
    cases = load_cases(path)
    assert [c.kind for c in cases] == [
        ANSWERABLE,
        ANSWERABLE,
        UNANSWERABLE,
        TRAP,
        OFF_TOPIC,
        SMALL_TALK,
    ]
    assert cases[0].expect == {"who-founded", "when-formed"}
    assert cases[0].style == "paraphrase"
    assert cases[1].expect == frozenset()  # no entry covers the fact
    assert cases[3].question == "best kebab in kabul"
    assert cases[3].style == "trap"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- q: fine\n  expect: a\n- q: who leads it\n  kind: answerable\n", "item 2 is answerable"),
        ("- q: fine\n  expect: a\n- expect: b\n", "item 2 needs a 'q'"),
        ("- just a string\n", "item 1 needs a 'q'"),
        ("q: not a list\n", "expected a list of questions"),
    ],
)
def test_malformed_sets_name_the_item(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as caught:
        load_cases(path)
    assert str(path) in str(caught.value)


# --- counting -------------------------------------------------------------------------


def test_right_answer_counts_as_right_first_and_top3() -> None:
    cases = [Case("a", ANSWERABLE, frozenset({"x"}))]
    report = evaluate(asking({"a": result(Verdict.ANSWER, "x", "y")}), cases, "set")
    assert report.name == "set"
    assert (report.answerable, report.right, report.first, report.top3) == (1, 1, 1, 1)
    assert (report.asserted, report.asserted_wrong) == (1, 0)
    assert report.misses == [] and report.misranked == []


def test_any_of_several_expected_entries_is_right() -> None:
    cases = [Case("a", ANSWERABLE, frozenset({"x", "z"}))]
    report = evaluate(asking({"a": result(Verdict.ANSWER, "z", "x")}), cases)
    assert report.right == 1 and report.first == 1


def test_wrong_answer_asserted_is_wrong_and_misranked() -> None:
    cases = [Case("a", ANSWERABLE, frozenset({"x"}), "typo")]
    report = evaluate(asking({"a": result(Verdict.ANSWER, "y", "z", "x")}), cases)
    assert (report.right, report.first, report.top3) == (0, 0, 1)
    assert (report.asserted, report.asserted_wrong) == (1, 1)
    assert report.figures["wrong_asserted"] == 100.0
    (miss,) = report.misses
    assert miss.startswith("WRONG") and "-> y" in miss and "want ['x']" in miss
    (misranked,) = report.misranked
    assert misranked.startswith("typo") and "ranked ['y', 'z', 'x']" in misranked


def test_right_entry_offered_but_not_asserted_is_a_miss_not_a_wrong_answer() -> None:
    cases = [Case("a", ANSWERABLE, frozenset({"x"})), Case("b", ANSWERABLE, frozenset({"x"}))]
    replies = {"a": result(Verdict.UNSURE, "x", "y"), "b": result(Verdict.NONE)}
    report = evaluate(asking(replies), cases)
    assert (report.answerable, report.right, report.first, report.top3) == (2, 0, 1, 1)
    assert (report.asserted, report.asserted_wrong) == (0, 0)
    assert report.figures["wrong_asserted"] == 0.0  # nothing asserted: nothing wrong
    assert [m.split()[0] for m in report.misses] == ["missed", "missed"]
    assert len(report.misranked) == 1  # "b" ranked nothing


def test_answering_a_fact_no_entry_covers_is_wrong() -> None:
    cases = [Case("who leads isis-k", ANSWERABLE, frozenset())]
    report = evaluate(asking({"who leads isis-k": result(Verdict.ANSWER, "x")}), cases)
    assert (report.right, report.asserted_wrong) == (0, 1)
    assert "a missing entry" in report.misses[0]


def test_off_topic_unsure_is_declined_with_a_suggestion() -> None:
    cases = [Case("a", OFF_TOPIC), Case("b", OFF_TOPIC), Case("c", OFF_TOPIC)]
    replies = {
        "a": result(Verdict.UNSURE, "x", "y"),
        "b": result(Verdict.NONE, "x"),
        "c": result(Verdict.ANSWER, "x", confidence=0.93),
    }
    report = evaluate(asking(replies), cases)
    assert (report.off_topic, report.off_topic_declined, report.off_topic_suggested) == (3, 2, 1)
    assert (report.asserted, report.asserted_wrong) == (1, 1)
    assert report.near_domain == 0 and report.answerable == 0
    assert report.figures["off_topic_declined"] == pytest.approx(66.7)
    assert report.figures["off_topic_suggested"] == 50.0
    (miss,) = report.misses
    assert miss.startswith("off-topic") and "'c' -> x (0.93)" in miss


def test_declined_trap_counts_as_off_topic_and_near_domain_declined() -> None:
    cases = [Case("best kebab in kabul", TRAP), Case("isis-k salary", TRAP)]
    replies = {
        "best kebab in kabul": result(Verdict.NONE, "x"),
        "isis-k salary": result(Verdict.ANSWER, "x"),
    }
    report = evaluate(asking(replies), cases)
    assert (report.near_domain, report.near_domain_declined) == (2, 1)
    assert (report.off_topic, report.off_topic_declined) == (2, 1)
    assert report.unanswerable == 0
    assert report.asserted_wrong == 1
    assert report.figures["near_domain_declined"] == 50.0


def test_answering_an_unanswerable_question_is_a_wrong_answer() -> None:
    cases = [Case("how many injured", UNANSWERABLE), Case("who leads it", UNANSWERABLE)]
    replies = {
        "how many injured": result(Verdict.ANSWER, "death-toll"),
        "who leads it": result(Verdict.UNSURE, "who-founded"),
    }
    report = evaluate(asking(replies), cases)
    assert (report.unanswerable, report.unanswerable_declined) == (2, 1)
    assert (report.near_domain, report.near_domain_declined) == (2, 1)
    assert report.off_topic == 0
    assert (report.asserted, report.asserted_wrong) == (1, 1)
    assert report.figures["wrong_asserted"] == 100.0
    assert report.figures["unanswerable_declined"] == 50.0


def test_small_talk_must_be_recognised_and_never_counts_as_an_answer() -> None:
    cases = [Case("hi", SMALL_TALK), Case("thanks", SMALL_TALK)]
    replies = {"hi": result(Verdict.SMALL_TALK), "thanks": result(Verdict.ANSWER, "x")}
    report = evaluate(asking(replies), cases)
    assert (report.small_talk, report.small_talk_ok) == (2, 1)
    assert report.asserted == 0
    assert report.misses == ["small talk   'thanks' -> answer"]


def test_a_mixed_set_adds_up() -> None:
    """Every case is counted once in `questions`; the figures are the README's."""
    cases = [
        Case("right", ANSWERABLE, frozenset({"x"})),
        Case("wrong", ANSWERABLE, frozenset({"x"})),
        Case("offered", ANSWERABLE, frozenset({"x"})),
        Case("off", OFF_TOPIC),
        Case("trap", TRAP),
        Case("unanswerable", UNANSWERABLE),
        Case("hello", SMALL_TALK),
    ]
    replies = {
        "right": result(Verdict.ANSWER, "x"),
        "wrong": result(Verdict.ANSWER, "y", "x"),
        "offered": result(Verdict.UNSURE, "y", "z", "x"),
        "off": result(Verdict.UNSURE, "y"),
        "trap": result(Verdict.NONE, "x"),
        "unanswerable": result(Verdict.ANSWER, "x"),
        "hello": result(Verdict.SMALL_TALK),
    }
    report = evaluate(asking(replies), cases)
    assert report.questions == len(cases)
    assert report.figures == {
        "right": 33.3,
        "first": 33.3,
        "top3": 100.0,
        "wrong_asserted": 66.7,
        "off_topic_declined": 100.0,
        "off_topic_suggested": 50.0,
        "near_domain_declined": 50.0,
        "unanswerable_declined": 0.0,
        "small_talk": 100.0,
    }


def test_an_empty_set_reports_nothing_wrong() -> None:
    report = evaluate(asking({}), [])
    assert report.questions == 0
    assert report.figures["right"] == 100.0 and report.figures["wrong_asserted"] == 0.0
    assert Report.pct(1, 3) == 33.3
