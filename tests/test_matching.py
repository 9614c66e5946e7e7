"""The matcher on its own: names, typos, off-topic, small talk, thresholds, speed paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.knowledge import load_knowledge
from bot.lexicon import Lexicon
from bot.matching import MAX_QUESTION_CHARS, Matcher, Verdict
from bot.ranking import ACTOR_MISS_PENALTY
from bot.smalltalk import SmallTalk, whole_message_kind
from bot.text import tokens, words

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_knowledge(ROOT / "knowledge" / "qa.yaml"))


@pytest.fixture(scope="module")
def lexicon(matcher: Matcher) -> Lexicon:
    return matcher.knowledge.lexicon


@pytest.mark.parametrize(
    "name",
    [
        "ISIS-K",
        "isis k",
        "IS-K",
        "ISKP",
        "Islamic State Khorasan",
        "Islamic State in the Khorasan Province",
        "EI-K",
        "Daesh-K",
        "isis-k's",
    ],
)
def test_every_name_of_isis_k_is_one_token(lexicon: Lexicon, name: str) -> None:
    assert tokens(name, lexicon) == ["isisk"]


@pytest.mark.parametrize("name", ["al-Qaeda", "al Qaida", "Al-Qaida", "alqaeda", "al qaeda"])
def test_every_spelling_of_al_qaeda_is_one_token(lexicon: Lexicon, name: str) -> None:
    assert tokens(name, lexicon) == ["alqaeda"]


def test_us_the_country_is_not_us_the_pronoun(lexicon: Lexicon) -> None:
    assert tokens("tell us about the US troops", lexicon) == ["usa", "troop"]
    assert tokens("us troops", lexicon) == ["usa", "troop"]
    assert "usa" in tokens("the United States and the Taliban", lexicon)
    assert tokens("what is khorasan", lexicon) == ["what", "khorasan"]
    assert tokens("WHAT IS KHORASAN", lexicon) == ["what", "khorasan"]


def test_accents_and_case_fold(lexicon: Lexicon) -> None:
    assert words("Estado Islámico", lexicon) == words("estado islamico", lexicon) == ["isis"]


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("What is ISIS-K?", "what-is-isis-k"),
        ("who claimed the kabul attack", "attack-claimed-by"),
        ("how many ppl died in kabul", "attack-death-toll"),
        ("when was iskp formed", "isis-k-founded-when"),
        ("wich provinces does isis k still controll", "isis-k-kunar-nangarhar"),
        ("why is isis-k called al qaeda on steriods", "al-qaeda-on-steroids"),
        ("hi, who founded isis-k?", "isis-k-founders"),
    ],
)
def test_paraphrases_and_typos_are_answered(matcher: Matcher, question: str, entry_id: str) -> None:
    result = matcher.match(question)
    assert result.verdict is Verdict.ANSWER, result
    assert result.best is not None and result.best.entry.id == entry_id
    assert 0 <= result.score <= 100


@pytest.mark.parametrize(
    "question",
    [
        "what's the weather in paris",
        "who won the world cup",
        "tell me a joke",
        "asdfghjkl",
        "42",
        "???",
        "",
        "   ",
        "what is the capital of france",
        "bitcoin price today",
    ],
)
def test_off_topic_is_declined(matcher: Matcher, question: str) -> None:
    result = matcher.match(question)
    assert not result.matched, result
    assert result.verdict in {Verdict.NONE, Verdict.UNSURE}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("🤔", SmallTalk.EMOJI),
        ("😂😂😂", SmallTalk.EMOJI),
        ("👍", SmallTalk.ACK),
        ("you are stupid", SmallTalk.INSULT),
        ("this bot sucks", SmallTalk.INSULT),
        ("thanks!", SmallTalk.THANKS),
        ("¿Quién reivindicó el ataque del aeropuerto?", SmallTalk.OTHER_LANGUAGE),
        ("что такое ИГИЛ-К", SmallTalk.OTHER_LANGUAGE),
        ("wer ist der Anführer der Taliban", SmallTalk.OTHER_LANGUAGE),
    ],
)
def test_messages_that_are_no_question_get_a_kind_of_their_own(
    matcher: Matcher, text: str, kind: SmallTalk
) -> None:
    """Emoji, insults, thanks and other languages get short fitting replies, not the long
    "I don't know that one" with examples."""
    result = matcher.match(text)
    assert result.verdict is Verdict.SMALL_TALK
    assert result.small_talk is kind


@pytest.mark.parametrize(
    "text",
    [
        "stupid question but who founded isis k and when was it",  # a question with a swear
        "who is the leader of the taliban in afghanistan",
        "la la land",
    ],
)
def test_whole_message_kinds_leave_real_questions_alone(text: str) -> None:
    assert whole_message_kind(text) is None


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("hi", SmallTalk.GREETING),
        ("Hello!", SmallTalk.GREETING),
        ("thanks a lot", SmallTalk.THANKS),
        ("who are you?", SmallTalk.ABOUT),
        ("what can you do", SmallTalk.ABOUT),
        ("help", SmallTalk.HELP),
        ("bye", SmallTalk.GOODBYE),
        ("ok", SmallTalk.ACK),
        ("👍", SmallTalk.ACK),
    ],
)
def test_small_talk_gets_its_own_verdict(matcher: Matcher, message: str, kind: SmallTalk) -> None:
    result = matcher.match(message)
    assert result.verdict is Verdict.SMALL_TALK
    assert result.small_talk is kind
    assert not result.matched


def test_suggestions_are_runners_up_with_scores(matcher: Matcher) -> None:
    result = matcher.match("isis-k vs taliban")
    assert result.best is not None
    assert len(result.suggestions) <= 3
    assert all(s.entry.id != result.best.entry.id for s in result.suggestions)
    assert all(s.score <= result.best.score for s in result.suggestions)


def _cut(matcher: Matcher, answer_at: float, suggest_at: float) -> Matcher:
    calibration = matcher.knowledge.calibration.model_copy(
        update={"answer_at": answer_at, "suggest_at": suggest_at}
    )
    return Matcher(matcher.knowledge, calibration)


def test_below_the_answer_cut_it_asks_with_choices(matcher: Matcher) -> None:
    """Between the two cuts, plausible entries are offered, not asserted."""
    cautious = _cut(matcher, 1.0, 0.0)
    result = cautious.match("so how do the taliban and isis k differ then")
    assert result.verdict is Verdict.UNSURE
    assert 1 <= len(result.suggestions) <= 3


def test_the_cuts_come_from_the_calibration(matcher: Matcher) -> None:
    assert _cut(matcher, 1.0, 1.0).match("so what is ISIS-K then").verdict is Verdict.NONE
    assert _cut(matcher, 0.0, 0.0).match("who claimed the attack").verdict is Verdict.ANSWER


def test_exact_phrasing_wins_a_near_tie(matcher: Matcher) -> None:
    """'What is ISIS-K?' and 'what is EI-K' are the same tokens; as typed, each is exact."""
    first = matcher.match("What is ISIS-K?")
    second = matcher.match("what is ei-k")
    assert first.best and first.best.entry.id == "what-is-isis-k" and first.matched
    assert second.best and second.best.entry.id == "isis-k-full-name" and second.matched


def test_very_long_input_is_cut_before_matching(matcher: Matcher) -> None:
    """Only the first MAX_QUESTION_CHARS count: words after the cut change nothing."""
    head = "who claimed responsibility for the kabul attack "
    filler = "x" * (MAX_QUESTION_CHARS - len(head))
    short = matcher.match(head + filler)
    long = matcher.match(head + filler + " weather football recipe " * 500)
    assert len(long.question) == MAX_QUESTION_CHARS
    assert (long.verdict, long.score) == (short.verdict, short.score)


@pytest.mark.parametrize(
    "message",
    ["hello how many provinces", "hey whats the death toll", "good morning whats isis-k"],
)
def test_a_greeting_does_not_swallow_the_question(matcher: Matcher, message: str) -> None:
    assert matcher.match(message).verdict is not Verdict.SMALL_TALK


def test_a_greeting_in_front_changes_nothing(matcher: Matcher) -> None:
    plain, greeted = matcher.match("what is EI-K"), matcher.match("hi, what is EI-K")
    assert plain.best and greeted.best
    assert (greeted.verdict, greeted.best.entry.id) == (plain.verdict, plain.best.entry.id)


@pytest.mark.parametrize("word", ["taliban", "people", "kabul"])
def test_a_lone_shared_word_is_offered_not_asserted(matcher: Matcher, word: str) -> None:
    result = matcher.match(word)
    assert result.verdict is Verdict.UNSURE
    assert len(result.suggestions) >= 2


def test_an_actor_the_entry_never_mentions_lowers_it(matcher: Matcher) -> None:
    """ "When was ISIS-K formed?" must not answer a question about al-Qaeda."""
    about_isis_k = matcher.match("when was isis-k founded")
    about_al_qaeda = matcher.match("when was al qaeda founded")
    assert about_isis_k.matched and about_isis_k.best
    assert about_isis_k.best.entry.id == "isis-k-founded-when"
    assert not about_al_qaeda.matched
    assert about_al_qaeda.score < about_isis_k.score * ACTOR_MISS_PENALTY + 1


# --- follow-ups --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "message", "entry_id"),
    [
        ("what-is-isis-k", "and when was it formed?", "isis-k-founded-when"),
        ("what-is-isis-k", "who founded it?", "isis-k-founders"),
        ("attack-claimed-by", "and where was it?", "attack-location"),
        ("what-is-isis-k", "how many provinces is it in", "isis-k-provinces-count"),
    ],
)
def test_a_follow_up_is_read_after_the_previous_answer(
    matcher: Matcher, previous: str, message: str, entry_id: str
) -> None:
    result = matcher.match(message, previous=previous)
    assert result.matched and result.best is not None
    assert result.best.entry.id == entry_id
    assert result.context == previous or matcher.match(message).matched


def test_without_a_previous_answer_a_follow_up_is_not_answered(matcher: Matcher) -> None:
    assert not matcher.match("and where was it?").matched


def test_tell_me_more_offers_the_related_entries(matcher: Matcher) -> None:
    entry = matcher.knowledge.entry("what-is-isis-k")
    assert entry is not None and entry.related
    result = matcher.match("tell me more", previous=entry.id)
    assert result.verdict is Verdict.UNSURE
    assert [c.entry.id for c in result.suggestions] == list(entry.related[:3])
    assert result.context == entry.id


def test_a_full_question_ignores_the_previous_answer(matcher: Matcher) -> None:
    alone = matcher.match("who claimed responsibility for the kabul airport attack")
    after = matcher.match(
        "who claimed responsibility for the kabul airport attack", previous="what-is-khorasan"
    )
    assert alone.best and after.best and alone.best.entry.id == after.best.entry.id
    assert after.context is None
