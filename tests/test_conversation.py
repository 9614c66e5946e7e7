"""Turns: a message's questions, each read after the answer before it (no Telegram)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.conversation import RecentAnswers, take_turn
from bot.engine import Engine
from bot.matching import Matcher, MatchResult, Verdict
from bot.replies import several_reply, turn_reply

SHIPPED_QA = Path(__file__).resolve().parent.parent / "knowledge" / "qa.yaml"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Engine(SHIPPED_QA).matcher


def answered(results: tuple[MatchResult, ...]) -> list[str | None]:
    return [r.best.entry.id if r.matched and r.best else None for r in results]


def test_one_question_is_matched_whole_exactly_as_before(matcher: Matcher) -> None:
    text = "hey so I was reading this last night, who actually started isis k?"
    turn = take_turn(matcher, text)
    assert not turn.several
    assert turn.parts[0][0] == text
    assert turn.results[0] == matcher.match(text)


def test_two_questions_get_two_answers_the_second_read_after_the_first(
    matcher: Matcher,
) -> None:
    turn = take_turn(matcher, "What is ISIS-K? And who founded it?")
    assert turn.several and turn.dropped == 0
    assert answered(turn.results) == ["what-is-isis-k", "isis-k-founders"]
    assert turn.results[1].context == "what-is-isis-k"  # "it" is ISIS-K
    assert turn.context_after(None) == "isis-k-founders"


def test_at_most_three_questions_and_the_rest_is_counted(matcher: Matcher) -> None:
    turn = take_turn(
        matcher, "what is isis-k? what is khorasan? who is kopel? when was the attack?"
    )
    assert len(turn.parts) == 3 and turn.dropped == 1
    reply = several_reply(matcher.knowledge, turn)
    assert reply.html.count("<blockquote") == 3
    assert "3 questions at a time" in reply.plain


def test_a_part_that_cannot_be_answered_is_named(matcher: Matcher) -> None:
    turn = take_turn(matcher, "Who claimed the Kabul attack? What is the price of bread?")
    assert turn.results[0].verdict is Verdict.ANSWER
    assert not turn.results[1].matched
    reply = turn_reply(matcher.knowledge, turn)
    assert "2. What is the price of bread?" in reply.plain
    assert "doesn't answer this one" in reply.plain or "not sure" in reply.plain
    assert reply.html.count("<blockquote") == 1


def test_follow_ups_read_after_the_previous_answer(matcher: Matcher) -> None:
    first = take_turn(matcher, "who founded isis k")
    assert answered(first.results) == ["isis-k-founders"]
    then = take_turn(matcher, "and when?", first.context_after(None))
    assert answered(then.results) == ["isis-k-founded-when"]
    alone = take_turn(matcher, "and when?")
    assert not alone.results[0].matched  # without a previous answer: declined as before


def test_tell_me_more_keeps_the_topic(matcher: Matcher) -> None:
    turn = take_turn(matcher, "tell me more", "isis-k-founders")
    (result,) = turn.results
    assert result.more and result.verdict is Verdict.UNSURE
    assert turn.context_after("isis-k-founders") == "isis-k-founders"
    assert turn_reply(matcher.knowledge, turn).html.startswith("More on this:")


def test_recent_answers_expire_and_stay_bounded() -> None:
    now = [0.0]
    recent = RecentAnswers(max_age=600, limit=2, clock=lambda: now[0])
    recent.remember("a", "what-is-isis-k")
    assert recent.recall("a") == "what-is-isis-k"
    now[0] += 601
    assert recent.recall("a") is None  # too old to be what "and when?" refers to
    recent.remember("a", "x")
    recent.remember("b", "y")
    recent.remember("c", "z")
    assert recent.recall("a") is None and recent.recall("c") == "z"  # oldest forgotten
