"""Rank the knowledge's documents (entries, then the questions it does not answer) for the
tokens of a question: the word view of the matcher.

The score blends two views of the same tokens (see `bot.text`), each weighted by how rare
a word is among the entries (a rare place name counts, "group" hardly does):
- how well the question matches the document's best phrasing (a weighted F-measure that
  also punishes phrasings with many words the question lacks), and
- how much of the question the document covers anywhere: phrasings, answer or quote.
A word the knowledge has never seen weighs the most of all. The sums run in numpy over
posting arrays, so a question costs well under a millisecond on the shipped file and a few
milliseconds on ten thousand entries. Nothing here imports `telegram`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz, process

from bot.knowledge import Knowledge
from bot.pacing import give_way
from bot.text import plain, tokens, words

PHRASING_WEIGHT = 0.8
"""Share of the token score from the best phrasing; the rest is coverage."""
SPELLING_WEIGHT = 0.3
"""Share of the confidence from character-level similarity to the closest phrasing, as
typed (names unmerged): it separates two names the lexicon merges ("NATO", "the alliance")."""
UNKNOWN_FACTOR = 1.0
"""A word the knowledge never uses weighs this many times the rarest known word."""
NAME_FACTOR = 0.7
"""Names (of groups, places, years...) weigh at least this share of the rarest word's
weight, however many entries use them: "who founded group A" must not pass for "who
founded group B" just because both names are common in the file."""
ACTOR_MISS_PENALTY = 0.7
"""Each actor the question names (the lexicon's `kind: actor` terms) that a document
never mentions scales its score by this."""
RECALL_BIAS = 1.25
"""How much more the phrasing's words found count than the question's words explained."""
RESCORED = 12
"""How many of the best token-scored documents get the (slower) character-level look."""

Ints = NDArray[np.int32]
Floats = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Scored:
    """One document's score for a question, with the parts the decision looks at."""

    index: int
    """The document: an entry's position, or (from `SearchIndex.gap_start`) a gap's."""
    score: float
    """Confidence, 0-100."""
    phrasing: float
    coverage: float
    spelling: float
    actor_miss: int
    precision: float = 0.0
    """Share of the question's weight the best phrasing explains."""
    recall: float = 0.0
    """Share of the best phrasing's weight the question contains."""
    best_at: int = -1
    """The position of the best phrasing."""


@dataclass(slots=True)
class SearchIndex:
    """Inverted indexes over the documents, built once per loaded knowledge."""

    gap_start: int = 0
    """Documents from here on are the gaps (`not_in_article`), not entries."""
    idf: dict[str, float] = field(default_factory=dict)
    unknown_weight: float = 1.0
    phrasing_owner: Ints = field(default_factory=lambda: np.zeros(0, np.int32))
    phrasing_weight: Floats = field(default_factory=lambda: np.zeros(0))
    doc_starts: Ints = field(default_factory=lambda: np.zeros(0, np.int32))
    """Where each document's phrasings start (they are stored contiguously)."""
    phrasing_postings: dict[str, Ints] = field(default_factory=dict)
    doc_postings: dict[str, Ints] = field(default_factory=dict)
    plain_phrasings: list[tuple[str, ...]] = field(default_factory=list)
    flat_phrasings: list[str] = field(default_factory=list)
    """Every phrasing's `plain` form, by position."""
    doc_tokens: list[frozenset[str]] = field(default_factory=list)
    """Every token of each document: an entry's phrasings, answer and quote; a gap's phrasings."""
    lexicon: frozenset[str] = frozenset()
    """Every word of the knowledge as typed (names unmerged): what spelling is checked against."""
    word_list: list[str] = field(default_factory=list)
    actors: frozenset[str] = frozenset()
    """The stemmed tokens of the lexicon's actors (groups, countries, people)."""
    names: frozenset[str] = frozenset()
    """The stemmed tokens of every name and number of the article and lexicon."""
    known: frozenset[str] = frozenset()
    """Every stemmed token of the entries and the article: what the knowledge speaks of."""
    phrasing_actors: list[tuple[str, ...]] = field(default_factory=list)
    """Each phrasing's actors in the order it names them ("what A thinks of B": A, B)."""
    answer_gives: list[frozenset[str]] = field(default_factory=list)
    """What each entry's answer states: "number" and/or "date" (see `_gives`)."""

    @property
    def documents(self) -> int:
        return len(self.doc_tokens)

    def phrasing_range(self, doc: int) -> range:
        """The positions of `doc`'s phrasings."""
        end = self.doc_starts[doc + 1] if doc + 1 < self.documents else len(self.flat_phrasings)
        return range(int(self.doc_starts[doc]), int(end))

    def entries_using(self, token: str) -> int:
        """How many entries (gaps not counted) use `token` anywhere."""
        postings = self.doc_postings.get(token)
        return 0 if postings is None else int(np.count_nonzero(postings < self.gap_start))

    def weight(self, token: str) -> float:
        return self.idf.get(token, self.unknown_weight)

    def score(
        self,
        query: list[str],
        typed: str = "",
        limit: int = RESCORED,
        hidden: frozenset[int] = frozenset(),
    ) -> list[Scored]:
        """The `limit` best documents for tokenised `query` (`typed`: its `plain` form);
        `hidden` phrasings (by position) are ignored."""
        if not query or not self.documents:
            return []
        distinct = list(dict.fromkeys(query))
        weights = [self.weight(t) for t in distinct]
        total = float(sum(weights))
        overlap = _accumulate(self.phrasing_postings, distinct, weights, len(self.flat_phrasings))
        if hidden:
            overlap[list(hidden)] = 0.0
        coverage = _accumulate(self.doc_postings, distinct, weights, self.documents)
        found = overlap > 0
        precision = overlap / total
        recall = np.divide(overlap, self.phrasing_weight, out=np.zeros_like(overlap), where=found)
        beta2 = RECALL_BIAS**2
        # F-measure of the phrasing's words found (recall) and the question's words
        # explained (precision); recall counts more, as questions carry extra words.
        dice = np.divide(
            (1 + beta2) * precision * recall,
            beta2 * precision + recall,
            out=np.zeros_like(overlap),
            where=found,
        )
        best = np.maximum.reduceat(dice, self.doc_starts)
        scores = 100 * (PHRASING_WEIGHT * best + (1 - PHRASING_WEIGHT) * coverage / total)
        candidates = np.flatnonzero(coverage > 0)
        if len(candidates) > RESCORED:
            keep = np.argpartition(-scores[candidates], RESCORED - 1)[:RESCORED]
            candidates = candidates[keep]
        # ties go to the document that comes first in the file
        candidates = candidates[np.lexsort((candidates, -scores[candidates]))]
        actors = [t for t in distinct if t in self.actors]
        rescored = []
        for doc in candidates.tolist():
            unmentioned = sum(1 for t in actors if t not in self.doc_tokens[doc])
            score = float(scores[doc]) * ACTOR_MISS_PENALTY**unmentioned  # "who founded A"
            span = self.phrasing_range(doc)
            spelling = self._spelling(typed, span, hidden)
            j = span.start + int(np.argmax(dice[span.start : span.stop]))
            rescored.append(
                Scored(
                    doc,
                    round((1 - SPELLING_WEIGHT) * score + SPELLING_WEIGHT * spelling, 1),
                    float(best[doc]),
                    float(coverage[doc]) / total,
                    spelling,
                    unmentioned,
                    float(precision[j]) if dice[j] > 0 else 0.0,
                    float(recall[j]) if dice[j] > 0 else 0.0,
                    j,
                )
            )
        rescored.sort(key=lambda s: (-s.score, s.index))
        return rescored[:limit]

    def _spelling(self, typed: str, span: range, hidden: frozenset[int]) -> float:
        """Character-level similarity of `typed` to the closest visible phrasing, 0-100."""
        choices = [self.flat_phrasings[p] for p in span if p not in hidden]
        if not choices:
            return 0.0
        found = process.extractOne(typed, choices, scorer=fuzz.ratio)
        return float(found[1]) if found else 0.0


def _accumulate(
    postings: dict[str, Ints], tokens_: list[str], weights: list[float], size: int
) -> Floats:
    """For each position, the summed weight of the tokens whose postings list it."""
    arrays = [postings[t] for t in tokens_ if t in postings]
    if not arrays:
        return np.zeros(size)
    each = [w for t, w in zip(tokens_, weights, strict=True) if t in postings]
    ids = np.concatenate(arrays)
    values = np.repeat(np.asarray(each), [len(a) for a in arrays])
    return np.bincount(ids, weights=values, minlength=size).astype(np.float64)


def build_index(knowledge: Knowledge) -> SearchIndex:
    """Tokenise every phrasing, answer and quote once; weigh each token by its rarity."""
    index = SearchIndex(gap_start=len(knowledge.entries))
    doc_tokens: list[set[str]] = []
    phrasing_tokens: list[set[str]] = []
    owners: list[int] = []
    stem = knowledge.lexicon.language.stem
    starts: list[int] = []
    lexicon: set[str] = set(knowledge.lexicon.words)
    vocabulary: dict[str, str] = {}

    seen: dict[str, list[str]] = {}  # quotes and answers repeat: one article, many entries

    def tokenise_in_order(text: str) -> list[str]:
        if text in seen:
            return seen[text]
        lexicon.update(plain(text).split())
        found = []
        for word in words(text, knowledge.lexicon):
            vocabulary.setdefault(word, stem(word))
            found.append(vocabulary[word])
        seen[text] = found
        return found

    def tokenise(text: str) -> set[str]:
        return set(tokenise_in_order(text))

    actor_stems = {stem(a) for a in knowledge.lexicon.actors}

    def add(phrasings: tuple[str, ...], extra: set[str]) -> None:
        give_way()
        doc = len(doc_tokens)
        starts.append(len(phrasing_tokens))
        everything = set(extra)
        for phrasing in phrasings:
            ordered = tokenise_in_order(phrasing)
            toks = set(ordered)
            phrasing_tokens.append(toks)
            index.phrasing_actors.append(
                tuple(dict.fromkeys(t for t in ordered if t in actor_stems))
            )
            owners.append(doc)
            everything |= toks
        doc_tokens.append(everything)
        index.plain_phrasings.append(tuple(plain(p) for p in phrasings))

    for entry in knowledge.entries:
        add(entry.phrasings, tokenise(entry.answer) | tokenise(knowledge.quote_of(entry)))
        index.answer_gives.append(_gives(entry.answer))
    tokenise(knowledge.article.title)
    tokenise(knowledge.article.body)
    index.known = frozenset(vocabulary.values())
    for gap in knowledge.gaps:
        add(gap.phrasings, set())

    n = max(index.gap_start, 1)
    df: dict[str, int] = {}
    for toks in doc_tokens[: index.gap_start]:  # rarity among the entries; gaps are not answers
        for t in toks:
            df[t] = df.get(t, 0) + 1
    rarest = math.log(1 + n)
    index.idf = {t: math.log(1 + n / c) for t, c in df.items()}
    for stem_ in set(vocabulary.values()) - index.idf.keys():
        index.idf[stem_] = rarest  # in the article (or a gap) but in no entry: still rare
    index.doc_tokens = [frozenset(toks) for toks in doc_tokens]
    index.names = frozenset(_names(knowledge))
    for name in index.names & index.idf.keys():
        index.idf[name] = max(index.idf[name], NAME_FACTOR * rarest)
    index.unknown_weight = UNKNOWN_FACTOR * rarest
    index.phrasing_owner = np.asarray(owners, np.int32)
    index.doc_starts = np.asarray(starts, np.int32)
    index.phrasing_weight = np.asarray(
        [sum(index.idf[t] for t in toks) for toks in phrasing_tokens], np.float64
    )
    index.phrasing_postings = _postings(phrasing_tokens)
    index.doc_postings = _postings(doc_tokens)
    index.flat_phrasings = [p for doc in index.plain_phrasings for p in doc]
    index.lexicon = frozenset(lexicon)
    index.actors = frozenset(stem(a) for a in knowledge.lexicon.actors)
    index.word_list = sorted(w for w in lexicon if len(w) >= 4 and not w.isdigit())
    return index


_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|"
    r"thirty|forty|fifty|hundred|thousand|million|dozens?|century|half|"
    r"uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|veinte|cien|ciento|mil|"
    r"mill[oó]n|docenas?|siglo|mitad)\b",
    re.IGNORECASE,
)
_DATE = re.compile(
    r"\b(?:\d{3,4}|monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|"
    r"february|march|april|may|june|july|august|september|october|november|december|"
    r"century|years?|ago|last month|today|yesterday|"
    r"lunes|martes|mi[eé]rcoles|jueves|viernes|s[aá]bado|domingo|enero|febrero|marzo|"
    r"abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|"
    r"siglo|a[nñ]os?|hace|mes pasado|hoy|ayer)\b",
    re.IGNORECASE,
)


def _gives(answer: str) -> frozenset[str]:
    """What kind of fact an answer states, for questions that ask for one: a number
    ("how many...") or a time ("when..."). An answer with neither cannot answer them."""
    kinds = set()
    if _NUMBER.search(answer):
        kinds.add("number")
    if _DATE.search(answer):
        kinds.add("date")
    return frozenset(kinds)


def _postings(token_sets: list[set[str]]) -> dict[str, Ints]:
    lists: dict[str, list[int]] = {}
    for i, toks in enumerate(token_sets):
        give_way()
        for t in toks:
            lists.setdefault(t, []).append(i)
    return {t: np.asarray(ids, np.int32) for t, ids in lists.items()}


_CAPITALISED = re.compile(r"(?<=[\w,;:)] )[A-Z][\w-]+|\d+")


def _names(knowledge: Knowledge) -> set[str]:
    """Tokens of the names and numbers in the article: words capitalised inside sentences
    and never written in lower case (a city, not the "Province" of a title)."""
    text = knowledge.article.text
    found = set(knowledge.lexicon.names)
    for sentence in knowledge.article.sentences():
        for name in _CAPITALISED.findall(sentence):
            if not re.search(rf"\b{re.escape(name.lower())}", text):
                found.update(tokens(name, knowledge.lexicon))
    return found
