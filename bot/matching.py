"""Rank the entries for a question and decide: answer, ask "did you mean", or decline.

The score blends two views of the same tokens (see `bot.text`), each weighted by how rare
a word is among the entries (a rare place name counts, "group" hardly does):
- how well the question matches the entry's best phrasing (a weighted Dice overlap,
  which also punishes phrasings with many words the question lacks), and
- how much of the question the entry covers anywhere: phrasings, answer or quote.
A word the knowledge has never seen weighs the most of all. Misspelt words are first
corrected against the knowledge's own vocabulary, real words of the language never.

Whether to answer is then decided from a calibrated probability (`bot.decision`) over
signals about the best entry, for the whole message and for each clause of a long one:
"what's the weather in <a city the article names>" shares a name with an entry, but its
focus word, "weather", is one no entry covers, and it is declined. Nothing here imports
`telegram`, and nothing here knows the article: its words are in `knowledge/`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from enum import StrEnum

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from bot.chargrams import CharGramIndex
from bot.decision import Calibration, Features
from bot.followups import FollowUp, follow_up
from bot.knowledge import Entry, Gap, Knowledge
from bot.ranking import Scored, build_index
from bot.smalltalk import SmallTalk, detect_small_talk
from bot.text import plain, tokens, words

GAP_COVERAGE = 0.75
"""A question the article does not answer is named only when its phrasings explain this
share of the question: "weather in Paris" is no question about the weather in the city
the article names."""
NEAR_COPY = 90
"""Token-set similarity at which a phrasing counts as a near copy of a question."""
RANKED = 4
"""How many entries a reading keeps: the best, and the runners-up to offer."""

MAX_QUESTION_CHARS = 500
"""Longer input is cut: no real question is longer, and it bounds the work per message."""


MAX_SUGGESTIONS = 3
"""At most this many "did you mean" choices: three buttons fit a phone screen."""
SUGGEST_WITHIN = 0.8
"""A runner-up is offered only if it scores at least this share of the best entry."""
COMMON_ZIPF = 4.5
"""Words at least this common (Zipf) are everyday words; rarer ones carry the question."""
QUESTION_WORDS = frozenset("who whom whose what when where why how which howmany howmuch".split())
"""Words that open a question: what follows them is what it asks for."""
"""Question tokens that ask for a number or a time ("how many", "when", "what year")."""
CLAUSE_MIN_WORDS = 12
"""Messages this long are also read clause by clause: the question hides in filler."""


class Verdict(StrEnum):
    ANSWER = "answer"
    """Confident and clear: reply with the entry."""
    UNSURE = "unsure"
    """Plausible candidates but none certain, or the top two too close: ask."""
    NONE = "none"
    """Off-topic or unknown: decline honestly."""
    SMALL_TALK = "small_talk"
    """A greeting, thanks, or a question about the bot itself."""


@dataclass(frozen=True, slots=True)
class Candidate:
    entry: Entry
    score: float
    """Confidence, 0-100."""
    index: int = 0
    """The entry's position in the knowledge (for the matcher's own look-ups)."""


@dataclass(frozen=True, slots=True)
class MatchResult:
    """What the matcher concluded about one question; every front end renders this."""

    question: str
    verdict: Verdict
    best: Candidate | None = None
    suggestions: tuple[Candidate, ...] = ()
    """Runners-up (UNSURE: the choices to offer; ANSWER: close alternatives)."""
    small_talk: SmallTalk | None = None
    confidence: float = 0.0
    """The calibrated probability that `best` answers the question, 0-1."""
    features: Features | None = None
    """The signals the decision was made from (for evaluation and `ask --json`)."""
    read_as: str = ""
    """The part of the message the answer was matched on (the whole, or one clause)."""
    ranking: tuple[Candidate, ...] = ()
    """The best few entries whatever the verdict (for evaluation: is the right one first?)."""
    gap: Gap | None = None
    """Set when the question is one the article does not answer (declined by name)."""
    context: str | None = None
    """The id of the previous answer this message was read as a follow-up to."""
    more: bool = False
    """A "tell me more": the suggestions are what is related to the previous answer."""

    @property
    def matched(self) -> bool:
        """True only when an answer is asserted."""
        return self.verdict is Verdict.ANSWER

    @property
    def score(self) -> float:
        return self.best.score if self.best else 0.0


class Matcher:
    """Answers `match(question)` for one immutable `Knowledge`; rebuild it on reload."""

    def __init__(self, knowledge: Knowledge, calibration: Calibration | None = None) -> None:
        self.knowledge = knowledge
        self.calibration = calibration or knowledge.calibration
        self._entries = knowledge.entries
        self._language = language = knowledge.lexicon.language
        self._asks_number = frozenset({language.stem("howmany"), language.stem("howmuch")})
        self._asks_date = frozenset(language.stem(w) for w in language.date_words)
        self._index = build_index(knowledge)
        self._gap_start = len(knowledge.entries)
        self._chargrams = CharGramIndex([e.phrasings for e in knowledge.entries])
        self._translations = {code: Matcher(view) for code, view in knowledge.translated.items()}
        """A matcher for each other language the knowledge is translated into."""
        """Documents from here on are the gaps (`not_in_article`), not entries."""

    # --- public ------------------------------------------------------------------------

    def in_language(self, code: str | None) -> Matcher:
        """The matcher for questions in language `code` (this one for its own language,
        or one the knowledge is not translated into)."""
        return self._translations.get(code or "", self)

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages questions are matched in: this matcher's own first."""
        return (self.knowledge.language, *self._translations)

    def match(
        self, question: str, *, previous: str | None = None, unseen: bool = False
    ) -> MatchResult:
        """Rank every entry for `question` and turn the ranking into a verdict.

        `previous` is the id of the entry answered just before in this conversation: a
        short follow-up ("and when was it formed?", "why?", "tell me more") is read in its
        context. `unseen=True` scores the question as one nobody wrote phrasings from:
        phrasings that nearly repeat it are ignored. The calibration is fitted that way,
        so that its probabilities hold for new people's questions, not only for the
        labelled ones the phrasings were tuned on.
        """
        question = question[:MAX_QUESTION_CHARS]
        remainder, talk = detect_small_talk(question)
        if talk is SmallTalk.OTHER_LANGUAGE and self._language.code != "en":
            remainder, talk = question, None  # "another language" is this one
        before = self.knowledge.entry(previous) if previous else None
        kind = follow_up(remainder) if before is not None else None
        if before is not None and kind is FollowUp.MORE:
            return self._more_about(question, before)
        hidden = self._near_copies(remainder) if unseen else frozenset()
        reading = self._best_reading(remainder, hidden)
        if before is not None and kind is FollowUp.CONTEXT:
            in_context = self._read(remainder, hidden, context=before)
            alone = reading.features is not None and reading.features.lone
            standalone_sure = reading.confidence >= self.calibration.answer_at and not alone
            if in_context.scored and not standalone_sure:
                reading = in_context
        if talk is not None and not reading.query:
            return MatchResult(question, Verdict.SMALL_TALK, small_talk=talk)
        result = self._decide(question, reading)
        if talk is not None and not result.matched and not _asks(remainder):
            return MatchResult(question, Verdict.SMALL_TALK, small_talk=talk)  # "thanks, great"
        return result

    def _near_copies(self, text: str) -> frozenset[int]:
        """The phrasings (by position) that nearly repeat `text`."""
        found = process.extract(
            plain(text),
            self._index.flat_phrasings,
            scorer=fuzz.token_set_ratio,
            score_cutoff=NEAR_COPY,
            limit=None,
        )
        return frozenset(position for _, _, position in found)

    def _best_reading(self, text: str, hidden: frozenset[int] = frozenset()) -> _Reading:
        """The whole message, or the clause of it the knowledge answers most surely."""
        best = self._read(text, hidden)
        if len(text.split()) < CLAUSE_MIN_WORDS:
            return best
        for clause in _clauses(text):
            if not _asks(clause):  # "sorry my english" is no question of its own
                continue
            reading = self._read(clause, hidden)
            if len(set(reading.query)) >= 2 and reading.confidence > best.confidence:
                best = reading
        return best

    def _read(
        self, text: str, hidden: frozenset[int] = frozenset(), context: Entry | None = None
    ) -> _Reading:
        """Tokenise, rank and measure one reading of the message; with `context` (the
        previous answer's entry), its question's words join the message's and the entry
        itself is not offered again."""
        query_words = words(text, self.knowledge.lexicon, self._correct)
        if context is not None:
            known = set(query_words)
            query_words += [
                w
                for w in words(context.question, self.knowledge.lexicon)
                if w not in QUESTION_WORDS and w not in known
            ]
        query = [self._language.stem(w) for w in query_words]
        typed = plain(text)
        everything = self._index.score(query, typed, hidden=hidden)
        if context is not None:
            skip = self.knowledge.entries.index(context)
            everything = [s for s in everything if s.index != skip]
        scored = [s for s in everything if s.index < self._gap_start][:RANKED]
        gap = next((s for s in everything if s.index >= self._gap_start), None)
        if not scored:
            return _Reading(text, query, [], None, 0.0, gap)
        features = self._features(query_words, query, typed, scored, gap, hidden)
        p = self.calibration.probability(features)
        return _Reading(text, query, scored, features, p, gap, context)

    def _more_about(self, question: str, before: Entry) -> MatchResult:
        """ "Tell me more": the previous answer's related entries, offered as choices."""
        related = [e for e in (self.knowledge.entry(i) for i in before.related) if e]
        position = {e.id: i for i, e in enumerate(self.knowledge.entries)}
        choices = tuple(Candidate(e, 0.0, position[e.id]) for e in related[:MAX_SUGGESTIONS])
        if not choices:
            return MatchResult(question, Verdict.NONE, context=before.id)
        return MatchResult(
            question,
            Verdict.UNSURE,
            choices[0],
            choices,
            context=before.id,
            ranking=choices,
            more=True,
        )

    def _features(
        self,
        query_words: list[str],
        query: list[str],
        typed: str,
        scored: list[Scored],
        gap: Scored | None,
        hidden: frozenset[int],
    ) -> Features:
        """The signals the decision weighs, about the best entry."""
        index, top = self._index, scored[0]
        distinct = set(query)
        runner_up = scored[1].score if len(scored) > 1 else 0.0
        doc_tokens = index.doc_tokens[top.index]
        language = self._language
        stem = language.stem
        foreign = {w for w in query_words if stem(w) not in index.known and language.is_common(w)}
        missed = {w for w in query_words if stem(w) not in doc_tokens}
        rare = {w for w in missed if language.zipf(w) < COMMON_ZIPF}
        named = {w for w in query_words if stem(w) in index.names}
        focus = _focus(query_words, named)
        char_best, char_similarity = self._chargrams.best(typed)
        asked = {"number"} if distinct & self._asks_number else set()
        asked |= {"date"} if distinct & self._asks_date else set()
        question_actors = tuple(dict.fromkeys(t for t in query if t in index.actors))
        phrasing_actors = index.phrasing_actors[top.best_at] if top.best_at >= 0 else ()
        return Features(
            kind_miss=float(bool(asked - index.answer_gives[top.index])),
            reversed=float(
                len(question_actors) >= 2
                and len(phrasing_actors) >= 2
                and question_actors[:2] == phrasing_actors[1::-1]
            ),
            agree=float(char_best == top.index),
            char_similarity=char_similarity,
            score=top.score / 100,
            margin=(top.score - runner_up) / 100,
            gap_margin=(top.score - (gap.score if gap else 0.0)) / 100,
            phrasing=top.phrasing,
            precision=top.precision,
            recall=top.recall,
            coverage=top.coverage,
            spelling=top.spelling / 100,
            uncovered=float(sum(1 for t in distinct if t not in doc_tokens)),
            foreign=float(len(foreign)),
            miss_rare=float(len(rare - named)),
            miss_common=float(len(missed - rare - named)),
            focus_miss=float(any(stem(w) not in doc_tokens for w in focus)),
            name_miss=float(len(missed & named)),
            actor_miss=float(top.actor_miss),
            exact=float(
                any(
                    index.flat_phrasings[p] == typed and p not in hidden
                    for p in index.phrasing_range(top.index)
                )
            ),
            lone=float(not self._specific(query)),
            words=math.log1p(len(distinct)),
        )

    def rank(self, query: list[str], typed: str = "", limit: int = 4) -> list[Candidate]:
        """The `limit` best entries for tokenised `query` (`typed`: its `plain` form)."""
        scored = self._index.score(query, typed)
        entries = [s for s in scored if s.index < self._gap_start][:limit]
        return [Candidate(self._entries[s.index], s.score, s.index) for s in entries]

    def query_tokens(self, text: str) -> list[str]:
        """Stemmed content tokens of `text`, misspellings corrected to known words."""
        return tokens(text, self.knowledge.lexicon, self._correct)

    # --- private -----------------------------------------------------------------------

    def _correct(self, word: str) -> str:
        """The nearest known word, for unknown words long enough that a near miss is a typo.

        Short and common words are left alone (or "joke" would become "Joe"); a swap of two
        letters counts as one edit (optimal string alignment distance).
        """
        language = self._language
        if len(word) < 5 or word in self._index.lexicon or word in language.stop_words:
            return word
        if language.is_common(word):  # a real word the knowledge lacks is no typo: "weather"
            return word
        limit = 1 if len(word) < 8 else 2
        found = process.extractOne(
            word, self._index.word_list, scorer=OSA.distance, score_cutoff=limit
        )
        return found[0] if found else word

    def _specific(self, query: list[str]) -> bool:
        """Whether the question says enough to single out one fact.

        A lone word that several entries share (a group's name, "people") is a topic, not a
        question: offer the entries rather than assert one.
        """
        distinct = set(query)
        if len(distinct) != 1:
            return True
        return self._index.entries_using(next(iter(distinct))) <= 1

    def _gap_wins(self, gap: Scored, reading: _Reading) -> bool:
        """Whether the question is one the article does not answer: a listed gap explains
        it better than any entry, and asks for something (a word) the best entry lacks."""
        if not reading.scored:
            return gap.coverage >= GAP_COVERAGE
        top = reading.scored[0]
        if gap.score <= top.score or gap.coverage < GAP_COVERAGE:
            return False
        gap_tokens = self._index.doc_tokens[gap.index]
        doc_tokens = self._index.doc_tokens[top.index]
        return any(t in gap_tokens and t not in doc_tokens for t in reading.query)

    def _decide(self, question: str, reading: _Reading) -> MatchResult:
        """Answer, ask or decline, by the calibrated probability that the best entry is right."""
        gap = reading.gap
        if gap is not None and self._gap_wins(gap, reading):
            known_gap = self.knowledge.gaps[gap.index - self._gap_start]
            return MatchResult(question, Verdict.NONE, read_as=reading.text, gap=known_gap)
        if not reading.scored or reading.features is None:
            return MatchResult(question, Verdict.NONE, read_as=reading.text)
        cal, p = self.calibration, reading.confidence
        ranked = [Candidate(self._entries[s.index], s.score, s.index) for s in reading.scored]
        best = ranked[0]
        plausible = [c for c in ranked if c.score >= SUGGEST_WITHIN * best.score]
        if reading.features.lone:  # a topic, not a question: offer its entries
            plausible = ranked
        declined = MatchResult(
            question,
            Verdict.NONE,
            best,
            confidence=round(p, 3),
            features=reading.features,
            read_as=reading.text,
            ranking=tuple(ranked),
            context=reading.context.id if reading.context else None,
        )
        lone, exact = reading.features.lone, reading.features.exact
        if not lone and (p >= cal.answer_at or exact):  # exact: a maintainer's own phrasing
            runners = tuple(plausible[1 : 1 + MAX_SUGGESTIONS])
            return replace(declined, verdict=Verdict.ANSWER, suggestions=runners)
        if p >= cal.suggest_at or lone:
            choices = tuple(plausible[:MAX_SUGGESTIONS])
            return replace(declined, verdict=Verdict.UNSURE, suggestions=choices)
        return declined


@dataclass(frozen=True, slots=True)
class _Reading:
    """One way of reading a message (the whole, or a clause) and what it matched."""

    text: str
    query: list[str]
    scored: list[Scored]
    features: Features | None
    confidence: float
    gap: Scored | None = None
    """The best-scoring question the article does not answer, if any matched."""
    context: Entry | None = None
    """The previous answer this reading is a follow-up to."""


_CLAUSE_BREAK = re.compile(r"[.?!;:\n]+|,\s*|\s+(?:but|so|because|anyway|though)\s+", re.I)


def _focus(query_words: list[str], names: set[str]) -> list[str]:
    """The words the question asks about: the two after its first question word (or, with
    none, every word: a terse "city attack wounded" is all focus), names left out."""
    starts = [i for i, w in enumerate(query_words) if w in QUESTION_WORDS]
    words_after = query_words[starts[0] + 1 :] if starts else query_words
    content = [w for w in words_after if w not in QUESTION_WORDS and w not in names]
    return content[:2] if starts else content


def _clauses(text: str) -> list[str]:
    """The sentences and clauses of a long message, each a candidate question."""
    parts = [p.strip() for p in _CLAUSE_BREAK.split(text) if p and p.strip()]
    return parts if len(parts) > 1 else []


_QUESTION = re.compile(
    r"\?|^\W*(?:who|whom|whose|whos|what|whats|when|where|why|how|hows|which|is|are|was"
    r"|were|do|does|did|can|could|will|would|has|have|had|tell)\b"
    r"|\b(?:who|what|when|where|why|how|which)\b",
    re.IGNORECASE,
)


def _asks(text: str) -> bool:
    """Whether what is left after a greeting reads as a question of its own."""
    return bool(_QUESTION.search(text))
