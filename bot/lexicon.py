"""The article's own language, as data: names, synonyms, shorthand and filler.

`knowledge/lexicon.yaml` tells the matcher what the code cannot know about one article:
that "N.A.T.O." and "North Atlantic Treaty Organization" are NATO, that "US" is a
country but "us" a pronoun, that "casualties" means the dead. The file is checked like
the Q&A file (one pydantic model, file:line problems, a generated JSON Schema) and is
compiled into an immutable `Lexicon` of word-sequence tables. Nothing here imports
`telegram`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bot.errors import KnowledgeError, Problem
from bot.language import ENGLISH, Language
from bot.textfile import read_text
from bot.validation import describe
from bot.yamlfile import line_of, parse_yaml

TERM_PATTERN = r"^[a-z0-9]+$"
MAX_PHRASE_WORDS = 8

Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
TermToken = Annotated[str, StringConstraints(pattern=TERM_PATTERN, max_length=32)]

_WORD = re.compile(r"[A-Za-z0-9]+")


class TermKind(StrEnum):
    ACTOR = "actor"
    """A party the article speaks of (a group, a country, a person): a question naming
    an actor that an entry never mentions is not that entry's question."""
    NAME = "name"
    """Another name (a place, a region): weighed as a name, but no actor."""
    WORD = "word"
    """An everyday word and its synonyms: "casualties" for the dead."""


class Term(BaseModel):
    """One meaning and every way people write it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    term: TermToken = Field(
        description="The one token the matcher uses for every way of saying it "
        "(lowercase letters and digits, e.g. 'nato')."
    )
    kind: TermKind = Field(default=TermKind.WORD, description="actor, name or word.")
    says: tuple[Phrase, ...] = Field(
        default=(),
        description="Ways of writing it, matched as whole words in any case, hyphens and "
        "punctuation ignored: 'NATO', 'North Atlantic Treaty Organization', 'N.A.T.O.'.",
    )
    says_exactly: tuple[Phrase, ...] = Field(
        default=(),
        description="Ways that count only in this capitalisation: 'US' (not the pronoun "
        "'us'), 'UN', 'IS-K'.",
    )
    says_before: dict[Phrase, tuple[Phrase, ...]] = Field(
        default_factory=dict,
        description="An ambiguous short form, and the words after which it means this "
        "term: us: [troops, withdrawal] makes 'us troops' the USA, 'tell us' not.",
    )


class LexiconFile(BaseModel):
    """The whole lexicon file; its JSON Schema is what editors validate against."""

    model_config = ConfigDict(
        extra="forbid",
        title="Article lexicon",
        json_schema_extra={"description": "What the matcher knows of the article's language."},
    )

    terms: list[Term] = Field(default_factory=list, description="Names and synonyms.")
    shorthand: dict[Phrase, str] = Field(
        default_factory=dict,
        description="Chat shorthand and the words it stands for ('ppl': 'people'); an "
        "empty value drops it ('pls': '').",
    )
    filler: tuple[Phrase, ...] = Field(
        default=(),
        description="Phrases people wrap a question in that say nothing about it "
        "('quick question', 'i was reading'); dropped before matching.",
    )


_FIELD_HELP = {
    "term": "one lowercase token such as 'nato'",
    "kind": "actor, name or word",
    "says": "a list of phrases, one '- ' item per line",
    "says_exactly": "a list of phrases that count only as capitalised, such as 'US'",
    "says_before": "a mapping from a short form to a list of words that may follow it",
    "terms": "a list of terms, each starting with '- term: ...'",
    "shorthand": "a mapping such as 'ppl: people'",
    "filler": "a list of phrases",
}


def _known(loc: tuple[Any, ...]) -> str:
    """The fields allowed where an unknown one was found: a term's, or the file's."""
    return (
        "term, kind, says, says_exactly, says_before"
        if loc[:1] == ("terms",)
        else ("terms, shorthand, filler")
    )


def lexicon_schema() -> dict[str, Any]:
    """The JSON Schema of the lexicon file, generated from the model the loader uses."""
    schema = LexiconFile.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def fold_word_text(text: str) -> str:
    """Accents off, one kind of apostrophe: "Jorasán" and "Jorasan" are typed alike."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return text.replace("’", "'").replace("‘", "'")


def split_words(text: str) -> list[str]:
    """The words of `text` as typed (case kept), hyphens and punctuation dropped."""
    return _WORD.findall(fold_word_text(text))


Sequence = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Lexicon:
    """The compiled lexicon: word-sequence tables the text pipeline looks up."""

    phrases: dict[Sequence, str] = field(default_factory=dict)
    """Lowercase word sequence -> the term that replaces it ('' drops it: filler)."""
    exact: dict[Sequence, str] = field(default_factory=dict)
    """Word sequence in its own capitalisation -> term."""
    before: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    """Ambiguous short form -> (term, the words after which it means the term)."""
    shorthand: dict[str, tuple[str, ...]] = field(default_factory=dict)
    actors: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    """Terms of kind actor or name."""
    words: frozenset[str] = frozenset()
    """Every lowercase word the lexicon spells: the spelling corrector leaves them alone."""
    longest: int = 1
    starts: dict[str, int] = field(default_factory=dict)
    """Lowercase first word of a phrase -> the longest phrase starting with it: most words
    start none, and are passed over with one look-up."""
    fingerprint: str = ""
    language: Language = ENGLISH
    """The language this lexicon reads: its stemmer, stop words and question words."""

    @classmethod
    def build(
        cls, model: LexiconFile, fingerprint: str = "", language: Language = ENGLISH
    ) -> Lexicon:
        """Compile the checked file into lookup tables."""
        phrases: dict[Sequence, str] = {}
        exact: dict[Sequence, str] = {}
        before: dict[str, tuple[str, frozenset[str]]] = {}
        words: set[str] = set()
        for term in model.terms:
            phrases[(term.term,)] = term.term
            for phrase in term.says:
                seq = tuple(w.lower() for w in split_words(phrase))
                phrases[seq] = term.term
            for phrase in term.says_exactly:
                exact[tuple(split_words(phrase))] = term.term
            for short, following in term.says_before.items():
                confirm = frozenset(w.lower() for f in following for w in split_words(f))
                before[short.lower()] = (term.term, confirm)
                words.update(confirm)
        for phrase in model.filler:
            phrases.setdefault(tuple(w.lower() for w in split_words(phrase)), "")
        for seq in (*phrases, *exact):
            words.update(w.lower() for w in seq)
        shorthand = {
            short.lower(): tuple(w.lower() for w in split_words(long))
            for short, long in model.shorthand.items()
        }
        longest = max((len(s) for s in (*phrases, *exact)), default=1)
        starts: dict[str, int] = {}
        for seq in (*phrases, *exact):
            first = seq[0].lower()
            starts[first] = max(starts.get(first, 0), len(seq))
        return cls(
            phrases=phrases,
            exact=exact,
            before=before,
            shorthand=shorthand,
            actors=frozenset(t.term for t in model.terms if t.kind is TermKind.ACTOR),
            names=frozenset(t.term for t in model.terms if t.kind is not TermKind.WORD),
            words=frozenset(words),
            longest=longest,
            starts=starts,
            fingerprint=fingerprint,
            language=language,
        )

    def merge(self, typed: list[str], *, shouted: bool | None = None) -> list[str]:
        """Replace every phrase of the lexicon in `typed` (words as typed) by its term.

        Longest match first at each position; repeated until nothing changes, so phrases
        compose ("United Nations" -> un, then "un security council" -> unsc). Returns
        lowercase words; filler phrases vanish. `shouted` (default: judged from `typed`)
        turns off the phrases that count only in their own capitalisation.
        """
        if shouted is None:
            shouted = is_shouted(typed)
        current = typed
        for _ in range(3):
            merged = self._merge_once(current, use_exact=not shouted)
            if merged == [w.lower() for w in current]:
                return merged
            current = merged
        return [w.lower() for w in current]

    def _merge_once(self, typed: list[str], *, use_exact: bool) -> list[str]:
        out: list[str] = []
        lower = [w.lower() for w in typed]
        i, n = 0, len(typed)
        while i < n:
            found: tuple[int, str] | None = None
            reach = self.starts.get(lower[i], 0)
            if not reach and lower[i] not in self.before:
                out.append(lower[i])
                i += 1
                continue
            for size in range(min(reach, n - i), 0, -1):
                if use_exact and (term := self.exact.get(tuple(typed[i : i + size]))):
                    found = (size, term)
                    break
                term_or_none = self.phrases.get(tuple(lower[i : i + size]))
                if term_or_none is not None:
                    found = (size, term_or_none)
                    break
            if found is None and lower[i] in self.before and i + 1 < n:
                term, confirm = self.before[lower[i]]
                if lower[i + 1] in confirm:
                    found = (1, term)
            if found is None:
                out.append(lower[i])
                i += 1
                continue
            size, term = found
            if term:
                out.append(term)
            i += size
        return out

    def expand(self, word: str) -> tuple[str, ...]:
        """Chat shorthand spelled out ("ppl" -> people); other words unchanged."""
        return self.shorthand.get(word, (word,))


EMPTY = Lexicon()


def is_shouted(typed: list[str]) -> bool:
    """Whether a message is typed all in capitals, so its case says nothing ("US" or "us")."""
    letters = [w for w in typed if w.isalpha()]
    return len(letters) >= 3 and all(w.isupper() for w in letters)


def lexicon_path_for(qa_path: Path) -> Path:
    """The lexicon sits beside the Q&A file, like the article."""
    return Path(qa_path).parent / "lexicon.yaml"


def load_lexicon(path: Path) -> Lexicon:
    """Load and check the lexicon file; a missing file is an empty lexicon (it is optional)."""
    if not path.exists():
        return EMPTY
    model, fingerprint = read_lexicon_file(path)
    return Lexicon.build(model, fingerprint)


def layer_path_for(lexicon_path: Path, language: Language) -> Path:
    """Another language's layer sits beside the lexicon: lexicon.es.yaml."""
    return lexicon_path.with_name(f"{lexicon_path.stem}.{language.code}.yaml")


def load_language_lexicon(path: Path, language: Language) -> Lexicon:
    """The lexicon for reading `language`: the names of `path` (every spelling stays, an
    actor is an actor in any language), plus the language's layer beside it, which adds
    its own spellings to those terms, and brings its own shorthand and filler (English
    shorthand such as "y" for "why" must not read Spanish)."""
    base, base_print = read_lexicon_file(path) if path.exists() else (LexiconFile(), "")
    layer_path = layer_path_for(path, language)
    layer, layer_print = (
        read_lexicon_file(layer_path) if layer_path.exists() else (LexiconFile(), "")
    )
    terms = {t.term: _without_words_of(t, language) for t in base.terms}
    for extra in layer.terms:
        known = terms.get(extra.term)
        if known is None:
            terms[extra.term] = extra
            continue
        terms[extra.term] = known.model_copy(
            update={
                "says": (*known.says, *extra.says),
                "says_exactly": (*known.says_exactly, *extra.says_exactly),
                "says_before": {**known.says_before, **extra.says_before},
            }
        )
    merged = LexiconFile(terms=list(terms.values()), shorthand=layer.shorthand, filler=layer.filler)
    return Lexicon.build(merged, f"{base_print}+{layer_print}", language)


def _without_words_of(term: Term, language: Language) -> Term:
    """`term` without the one-word spellings that are everyday words of `language`: the
    English "un" (the UN) is the Spanish "a", and must not make every Spanish question
    about the United Nations."""
    says = tuple(p for p in term.says if not _everyday(p, language))
    return term.model_copy(update={"says": says}) if len(says) != len(term.says) else term


def _everyday(phrase: str, language: Language) -> bool:
    words = split_words(phrase)
    return len(words) == 1 and language.is_common(words[0].lower())


def read_lexicon_file(path: Path) -> tuple[LexiconFile, str]:
    """The checked contents of one lexicon file and its fingerprint; every problem at
    once, with its line, as a KnowledgeError."""
    import hashlib

    name = str(path)
    text = read_text(path)
    data, lines = parse_yaml(path, text)
    fingerprint = hashlib.sha256(text.encode()).hexdigest()[:12]
    if data is None:
        return LexiconFile(), fingerprint
    if not isinstance(data, dict):
        raise KnowledgeError(
            [
                Problem(
                    name,
                    1,
                    "the top level must be a mapping with 'terms:', 'shorthand:' and 'filler:'",
                    "put 'terms:' on the first line and the terms indented under it",
                )
            ]
        )
    problems: list[Problem] = []
    try:
        model = LexiconFile.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            what, fix = describe(err, _FIELD_HELP, _known(err["loc"]))
            problems.append(Problem(name, line_of(lines, err["loc"]), what, fix))
        raise KnowledgeError(sorted(problems, key=lambda p: p.line or 0)) from None
    problems.extend(_check(name, model, lines))
    if problems:
        raise KnowledgeError(sorted(problems, key=lambda p: p.line or 0))
    return model, fingerprint


def _check(name: str, model: LexiconFile, lines: dict[tuple[Any, ...], int]) -> Iterable[Problem]:
    """Cross-term checks: unique terms, each phrase meaning one thing, phrases with words."""
    owner: dict[Sequence, str] = {(t.term,): t.term for t in model.terms}
    first_line: dict[str, int | None] = {}
    for i, term in enumerate(model.terms):
        at = line_of(lines, ("terms", i, "term"))
        if term.term in first_line:
            yield Problem(
                name,
                at,
                f"the term '{term.term}' is already defined on line {first_line[term.term]}",
                "merge the two into one term",
            )
            continue
        first_line[term.term] = at
        fields = (("says", term.says, False), ("says_exactly", term.says_exactly, True))
        for field_name, phrases, keep_case in fields:
            for j, phrase in enumerate(phrases):
                where = line_of(lines, ("terms", i, field_name, j))
                typed = split_words(phrase)
                seq = tuple(typed if keep_case else (w.lower() for w in typed))
                if not seq:
                    yield Problem(
                        name,
                        where,
                        f"the phrase {phrase!r} has no letters or digits",
                        "write the word itself",
                    )
                elif len(seq) > MAX_PHRASE_WORDS:
                    yield Problem(
                        name,
                        where,
                        f"the phrase {phrase!r} is over {MAX_PHRASE_WORDS} words",
                        "keep phrases to the few words that name the thing",
                    )
                elif seq in owner and owner[seq] != term.term:
                    yield Problem(
                        name,
                        where,
                        f"the phrase {phrase!r} already means '{owner[seq]}'",
                        "a phrase may mean one term only: remove it from one of them",
                    )
                else:
                    owner[seq] = term.term
    for j, phrase in enumerate(model.filler):
        seq = tuple(w.lower() for w in split_words(phrase))
        if seq in owner:
            yield Problem(
                name,
                line_of(lines, ("filler", j)),
                f"the filler {phrase!r} is also a phrase of the term '{owner[seq]}'",
                "remove it from the filler list or from the term",
            )
