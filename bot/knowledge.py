"""Load and check the Q&A file against its article into one immutable `Knowledge`.

Everything a maintainer can get wrong is collected as a `Problem` (file, line, entry id,
what to fix) and raised together in one `KnowledgeError`, so one `validate` run lists
every mistake. Nothing here imports `telegram`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bot.article import Article, load_article, normalise_text
from bot.decision import (
    DEFAULT,
    Calibration,
    calibration_path_for,
    dump_calibration,
    load_calibration,
)
from bot.errors import KnowledgeError, Problem
from bot.language import LANGUAGES
from bot.lexicon import (
    EMPTY,
    Lexicon,
    lexicon_path_for,
    load_language_lexicon,
    load_lexicon,
)
from bot.pacing import give_way
from bot.textfile import read_text
from bot.validation import describe
from bot.yamlfile import line_of, parse_yaml

__all__ = [
    "Article",
    "Entry",
    "Knowledge",
    "QAFile",
    "article_path_for",
    "json_schema",
    "load_article",
    "load_knowledge",
    "normalise_text",
]

ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
LABEL_MAX = 32
"""Characters a button label may have: phones cut longer ones."""

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]


class Translation(BaseModel):
    """An entry in another language: how its speakers ask it, and the answer in their
    words. The quote stays the article's own (it is the evidence)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: Annotated[Text, StringConstraints(max_length=200)] = Field(
        description="The canonical question in this language."
    )
    label: Annotated[Text, StringConstraints(max_length=LABEL_MAX)] | None = Field(
        default=None, description=f"A button label of at most {LABEL_MAX} characters."
    )
    alternates: tuple[Annotated[Text, StringConstraints(max_length=200)], ...] = Field(
        default=(), description="Ways speakers of this language type it (typos, no accents…)."
    )
    answer: Annotated[Text, StringConstraints(max_length=1000)] = Field(
        description="The answer in this language, in plain words (no HTML or Markdown)."
    )


class Entry(BaseModel):
    """One curated question and the passage of the article that answers it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=48)] = Field(
        description="Stable slug (lowercase letters, digits, hyphens); used in share links."
    )
    question: Annotated[Text, StringConstraints(max_length=200)] = Field(
        description="The canonical question, shown in inline results and /topics."
    )
    label: Annotated[Text, StringConstraints(max_length=LABEL_MAX)] | None = Field(
        default=None,
        description=f"A short form of the question for buttons (at most {LABEL_MAX} "
        "characters); made from the question when absent.",
    )
    alternates: tuple[Annotated[Text, StringConstraints(max_length=200)], ...] = Field(
        default=(),
        description="Other ways people ask it: short forms, typos, other names, 'X vs Y'.",
    )
    answer: Annotated[Text, StringConstraints(max_length=1000)] = Field(
        description="The short answer, in plain words (no HTML or Markdown)."
    )
    quote: Annotated[Text, StringConstraints(max_length=1500)] = Field(
        description="A verbatim passage of article.md that backs the answer."
    )
    related: tuple[Annotated[str, StringConstraints(pattern=ID_PATTERN)], ...] = Field(
        default=(), description="Ids of entries to offer as follow-ups."
    )
    tags: tuple[Text, ...] = Field(default=(), description="Free labels for maintainers.")
    translations: dict[LanguageCode, Translation] = Field(
        default_factory=dict,
        description="The entry in other languages, by code ('es'): required for every "
        "language the file lists under 'languages'.",
    )

    @property
    def phrasings(self) -> tuple[str, ...]:
        """The question and its alternates: everything the matcher compares against."""
        return (self.question, *self.alternates)

    @property
    def button_label(self) -> str:
        """What a button shows: the label, or the question cut at a word to fit a phone."""
        return self.label or short_label(self.question)


def short_label(question: str, limit: int = LABEL_MAX) -> str:
    """`question` cut at a word boundary to at most `limit` characters, with "…"."""
    text = " ".join(question.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:-")
    return cut + "…"


class Gap(BaseModel):
    """A question people ask that the article does not answer: declined by name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=48)] = Field(
        description="Stable slug, unique among entries and gaps."
    )
    topic: Annotated[Text, StringConstraints(max_length=120)] = Field(
        description="Completes 'The article doesn't say …', e.g. 'who leads ISIS-K'."
    )
    phrasings: tuple[Annotated[Text, StringConstraints(max_length=200)], ...] = Field(
        min_length=1, description="Ways people ask it."
    )


class QAFile(BaseModel):
    """The whole Q&A file; its JSON Schema is what editors validate against."""

    model_config = ConfigDict(
        extra="forbid",
        title="Article Q&A file",
        json_schema_extra={"description": "Curated questions about the article (knowledge/)."},
    )

    languages: tuple[LanguageCode, ...] = Field(
        default=(),
        description="Other languages every entry is translated into ('es'); questions in "
        "them are answered in them.",
    )
    entries: list[Entry] = Field(min_length=1, description="The curated entries.")
    not_in_article: list[Gap] = Field(
        default_factory=list,
        description="Questions the article does not answer, so the bot can say so by name.",
    )


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the Q&A file, generated from the model the loader uses."""
    schema = QAFile.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


@dataclass(frozen=True, slots=True)
class Knowledge:
    """An immutable, checked snapshot of the article and its entries."""

    article: Article
    entries: tuple[Entry, ...]
    qa_path: Path
    fingerprint: str
    quotes: dict[str, str] = field(repr=False, default_factory=dict)
    """Entry id -> the article's exact words for its quote."""

    by_id: dict[str, Entry] = field(repr=False, default_factory=dict)
    lexicon: Lexicon = field(repr=False, default=EMPTY)
    """The article's names, synonyms and shorthand (`lexicon.yaml`)."""
    calibration: Calibration = field(repr=False, default=DEFAULT)
    """The fitted decision (`calibration.yaml`)."""
    gaps: tuple[Gap, ...] = ()
    """Questions the article does not answer (`not_in_article` in qa.yaml)."""
    language: str = "en"
    """The language of the entries' questions and answers (the article's is English)."""
    translated: dict[str, Knowledge] = field(repr=False, default_factory=dict)
    """The same knowledge in each other language the file declares, by code."""

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language questions are answered in: this one first."""
        return (self.language, *self.translated)

    def in_language(self, code: str) -> Knowledge:
        """This knowledge in language `code` (itself for its own or an unknown one)."""
        return self.translated.get(code, self)

    def entry(self, entry_id: str) -> Entry | None:
        """The entry with this id, or None (ids come from users' buttons and links)."""
        return self.by_id.get(entry_id)

    def quote_of(self, entry: Entry) -> str:
        """The passage to show: the article's own characters for the entry's quote."""
        return self.quotes.get(entry.id, entry.quote)


_FIELD_HELP = {
    "id": "a short lowercase slug such as 'when-was-isis-k-formed'",
    "question": "the canonical question, e.g. 'When was ISIS-K formed?'",
    "label": f"a short button label of at most {LABEL_MAX} characters",
    "alternates": "a list of other phrasings, one '- ' item per line",
    "answer": "a short answer in plain words",
    "quote": "a passage copied exactly from article.md",
    "related": "a list of ids of other entries",
    "tags": "a list of short labels",
    "entries": "a list of entries, each starting with '- id: ...'",
    "not_in_article": "a list of topics, each starting with '- id: ...'",
    "topic": "the words that complete 'The article doesn't say …'",
    "phrasings": "a list of ways people ask it, one '- ' item per line",
    "translations": "a mapping of language code to the entry's translation, e.g. 'es:'",
    "languages": "a list of language codes such as [es]",
}
_ENTRY_FIELDS = "id, question, label, alternates, answer, quote, related, tags"


def article_path_for(qa_path: Path) -> Path:
    """The article always sits beside the Q&A file that quotes it."""
    return Path(qa_path).parent / "article.md"


def load_knowledge(
    qa_path: Path, article_path: Path | None = None, *, calibrated: bool = True
) -> Knowledge:
    """Load and fully check the Q&A file against its article, and the lexicon beside
    them; raise every Problem of every file at once. `calibrated=False` ignores the
    fitted decision (what `bench/calibrate.py` starts from)."""
    qa_path = Path(qa_path)
    problems: list[Problem] = []
    try:
        lexicon = load_lexicon(lexicon_path_for(qa_path))
    except KnowledgeError as exc:
        lexicon = EMPTY
        problems += exc.problems
    calibration = DEFAULT
    try:
        if calibrated:
            calibration = load_calibration(calibration_path_for(qa_path))
    except KnowledgeError as exc:
        problems += exc.problems
    try:
        knowledge = _load_entries(qa_path, article_path, lexicon)
    except KnowledgeError as exc:
        raise KnowledgeError([*problems, *exc.problems]) from None
    if problems:
        raise KnowledgeError(problems)
    if calibration is not DEFAULT:  # a new calibration alone is a new version too
        fitted = json.dumps(dump_calibration(calibration), sort_keys=True)
        digest = hashlib.sha256(knowledge.fingerprint.encode() + fitted.encode())
        knowledge = replace(knowledge, fingerprint=digest.hexdigest()[:12])
    views = {
        code: replace(view, calibration=calibration, fingerprint=knowledge.fingerprint)
        for code, view in knowledge.translated.items()
    }
    return replace(knowledge, calibration=calibration, translated=views)


def _load_entries(qa_path: Path, article_path: Path | None, lexicon: Lexicon) -> Knowledge:
    article = load_article(article_path or article_path_for(qa_path))
    name = str(qa_path)
    text = read_text(qa_path)
    data, lines = parse_yaml(qa_path, text)
    if data is None:
        raise KnowledgeError(
            [Problem(name, None, "the file is empty", "start it with 'entries:' and a list")]
        )
    if not isinstance(data, dict):
        got = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise KnowledgeError(
            [
                Problem(
                    name,
                    1,
                    f"the top level must be a mapping with 'entries:', got {got}",
                    "put 'entries:' on the first line and the entries indented under it",
                )
            ]
        )
    problems: list[Problem] = []
    raw_entries = data.get("entries")
    entries, gaps = _validate_entries(name, data, raw_entries, lines, problems)
    quotes = _check_entries(name, article, entries, lines, problems)
    problems.extend(_check_gaps(name, entries, gaps, lines))
    languages = _declared_languages(name, data, lines, problems)
    problems.extend(_check_translations(name, languages, entries, lines))
    lexicons: dict[str, Lexicon] = {}
    for code in languages:
        try:
            lexicons[code] = load_language_lexicon(lexicon_path_for(qa_path), LANGUAGES[code])
        except KnowledgeError as exc:
            problems.extend(exc.problems)
    if problems:
        raise KnowledgeError(sorted(problems, key=lambda p: p.line or 0))
    prints = lexicon.fingerprint + "".join(x.fingerprint for x in lexicons.values())
    digest = hashlib.sha256(text.encode() + article.text.encode() + prints.encode())
    ordered = tuple(entries.values())
    by_id = {e.id: e for e in ordered}
    knowledge = Knowledge(
        article,
        ordered,
        qa_path,
        digest.hexdigest()[:12],
        quotes,
        by_id,
        lexicon,
        gaps=tuple(gaps),
    )
    views = {code: _translated(knowledge, code, lexicons[code]) for code in languages}
    return replace(knowledge, translated=views)


def _declared_languages(
    name: str, data: dict[str, Any], lines: dict[tuple[Any, ...], int], problems: list[Problem]
) -> tuple[str, ...]:
    """The languages the file declares (`languages: [es]`) that the bot can read."""
    declared = data.get("languages") or ()
    if not isinstance(declared, list):
        return ()  # the file's shape check has said so
    known = []
    for i, code in enumerate(declared):
        if code in LANGUAGES and code != "en":
            known.append(str(code))
        else:
            readable = ", ".join(c for c in LANGUAGES if c != "en")
            problems.append(
                Problem(
                    name,
                    line_of(lines, ("languages", i)),
                    f"the bot cannot read the language {code!r}",
                    f"use one of: {readable} (a new language needs its stemmer in "
                    "bot/language.py and a messages file in bot/locales/)",
                )
            )
    return tuple(known)


def _check_translations(
    name: str,
    languages: tuple[str, ...],
    entries: dict[int, Entry],
    lines: dict[tuple[Any, ...], int],
) -> Iterable[Problem]:
    """Every entry in every declared language, and really translated (not the English
    copied over); a translation for an undeclared language is pointed out too."""
    for i, entry in entries.items():
        give_way()
        at = line_of(lines, ("entries", i, "id"))
        for code in languages:
            translation = entry.translations.get(code)
            if translation is None:
                yield Problem(
                    name,
                    at,
                    f"entry '{entry.id}' has no {LANGUAGES[code].name} translation",
                    f"add 'translations: {code}:' with question, answer and alternates "
                    "(see knowledge/README.md)",
                )
                continue
            where, language = line_of(lines, ("entries", i, "translations", code)), LANGUAGES[code]
            for part in ("question", "answer"):
                if getattr(translation, part).strip() == getattr(entry, part).strip():
                    yield Problem(
                        name,
                        where,
                        f"entry '{entry.id}': the {language.name} {part} is the English one",
                        f"write the {part} in {language.name}",
                    )
        for code in set(entry.translations) - set(languages):
            yield Problem(
                name,
                line_of(lines, ("entries", i, "translations", code)),
                f"entry '{entry.id}' is translated into '{code}', which the file does not list",
                f"add {code} to 'languages:' at the top of the file, or remove the translation",
            )


def _translated(knowledge: Knowledge, code: str, lexicon: Lexicon) -> Knowledge:
    """The knowledge as its `code` speakers see it: their questions and answers, the
    article's own quotes, their lexicon. Gaps are English phrasings, so they stay out."""
    entries = []
    for entry in knowledge.entries:
        give_way()
        t = entry.translations[code]
        entries.append(
            entry.model_copy(
                update={
                    "question": t.question,
                    "label": t.label,
                    "alternates": t.alternates,
                    "answer": t.answer,
                }
            )
        )
    ordered = tuple(entries)
    return replace(
        knowledge,
        entries=ordered,
        by_id={e.id: e for e in ordered},
        lexicon=lexicon,
        gaps=(),
        language=code,
    )


def _entry_id(raw: Any) -> str | None:
    return str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") else None


def _validate_entries(
    name: str,
    data: dict[str, Any],
    raw_entries: Any,
    lines: dict[tuple[Any, ...], int],
    problems: list[Problem],
) -> tuple[dict[int, Entry], list[Gap]]:
    """Validate the file's shape (and its gaps), then each entry on its own so one bad entry
    spares the rest."""
    raw_gaps = data.get("not_in_article")
    shape = {**data, "entries": []} if isinstance(raw_entries, list) else dict(data)
    if isinstance(raw_gaps, list):
        shape["not_in_article"] = []
    try:
        QAFile.model_validate(shape)
    except ValidationError as exc:
        for err in exc.errors():
            if err["type"] == "too_short":
                continue
            what, fix = describe(err, _FIELD_HELP, "entries, not_in_article")
            problems.append(Problem(name, line_of(lines, err["loc"]), what, fix))
    gaps = _validate_gaps(name, raw_gaps, lines, problems)
    if not isinstance(raw_entries, list):
        return {}, gaps
    if not raw_entries:
        what, fix = describe({"loc": ("entries",), "type": "too_short", "msg": ""}, _FIELD_HELP)
        problems.append(Problem(name, lines.get(("entries",)), what, fix))
    valid: dict[int, Entry] = {}
    for i, raw in enumerate(raw_entries):
        give_way()
        try:
            valid[i] = Entry.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                what, fix = describe(err, _FIELD_HELP, _ENTRY_FIELDS)
                line = line_of(lines, ("entries", i, *err["loc"]))
                problems.append(Problem(name, line, what, fix, _entry_id(raw)))
    return valid, gaps


def _check_entries(
    name: str,
    article: Article,
    entries: dict[int, Entry],
    lines: dict[tuple[Any, ...], int],
    problems: list[Problem],
) -> dict[str, str]:
    """Cross-entry checks: quotes in the article, unique ids and questions, related ids."""
    quotes: dict[str, str] = {}
    seen_ids: dict[str, int] = {}
    seen_questions: dict[str, str] = {}
    known_ids = {e.id for e in entries.values()}
    alternates = Counter(
        phrasing
        for e in entries.values()
        for phrasing in {normalise_text(p).casefold() for p in e.phrasings}
    )

    def at(i: int, *loc: Any) -> int | None:
        return line_of(lines, ("entries", i, *loc))

    for i, entry in entries.items():
        give_way()
        if entry.id in seen_ids:
            problems.append(
                Problem(
                    name,
                    at(i, "id"),
                    f"duplicate id '{entry.id}' (first used on line {seen_ids[entry.id]})",
                    "give this entry a new, unique id",
                    entry.id,
                )
            )
        else:
            seen_ids[entry.id] = at(i, "id") or 0
        question = normalise_text(entry.question).casefold()
        if question in seen_questions:
            problems.append(
                Problem(
                    name,
                    at(i, "question"),
                    f"the same question is already entry '{seen_questions[question]}'",
                    "merge the two entries, or reword this question",
                    entry.id,
                )
            )
        else:
            seen_questions[question] = entry.id
        for j, phrasing in enumerate(entry.alternates):
            if alternates[normalise_text(phrasing).casefold()] > 1:
                problems.append(
                    Problem(
                        name,
                        at(i, "alternates", j),
                        f"the phrasing {phrasing!r} is used by another entry too",
                        "keep it only in the entry that answers it",
                        entry.id,
                    )
                )
        exact = article.find(entry.quote)
        if exact is None:
            problems.append(
                Problem(
                    name,
                    at(i, "quote"),
                    f"the quote is not in {article.path.name}: {_shorten(entry.quote)!r}",
                    f"copy the passage exactly from {article.path.name} "
                    "(whitespace and quote style may differ, words may not)",
                    entry.id,
                )
            )
        else:
            quotes[entry.id] = exact
        for j, rel in enumerate(entry.related):
            if rel not in known_ids or rel == entry.id:
                why = "points to itself" if rel == entry.id else "is not an entry's id"
                problems.append(
                    Problem(
                        name,
                        at(i, "related", j),
                        f"related id '{rel}' {why}",
                        "use the id of another entry in this file, or remove it",
                        entry.id,
                    )
                )
    return quotes


def _validate_gaps(
    name: str, raw_gaps: Any, lines: dict[tuple[Any, ...], int], problems: list[Problem]
) -> list[Gap]:
    """Each `not_in_article` topic on its own, so one bad topic spares the rest."""
    if not isinstance(raw_gaps, list):
        return []
    valid = []
    for i, raw in enumerate(raw_gaps):
        give_way()
        try:
            valid.append(Gap.model_validate(raw))
        except ValidationError as exc:
            for err in exc.errors():
                what, fix = describe(err, _FIELD_HELP, "id, topic, phrasings")
                line = line_of(lines, ("not_in_article", i, *err["loc"]))
                problems.append(Problem(name, line, what, fix, _entry_id(raw)))
    return valid


def _check_gaps(
    name: str,
    entries: dict[int, Entry],
    gaps: list[Gap],
    lines: dict[tuple[Any, ...], int],
) -> list[Problem]:
    """A gap's id is unique among entries and gaps; its phrasings are nobody else's."""
    problems: list[Problem] = []
    ids = {e.id for e in entries.values()}
    owner = {normalise_text(p).casefold(): e.id for e in entries.values() for p in e.phrasings}
    for i, gap in enumerate(gaps):
        give_way()
        if gap.id in ids:
            problems.append(
                Problem(
                    name,
                    line_of(lines, ("not_in_article", i, "id")),
                    f"the id '{gap.id}' is already used",
                    "give this topic an id no entry or other topic uses",
                    gap.id,
                )
            )
        ids.add(gap.id)
        for j, phrasing in enumerate(gap.phrasings):
            key = normalise_text(phrasing).casefold()
            if key in owner and owner[key] != gap.id:
                problems.append(
                    Problem(
                        name,
                        line_of(lines, ("not_in_article", i, "phrasings", j)),
                        f"the phrasing {phrasing!r} is also '{owner[key]}'s",
                        "an entry answers it, so remove it here; or remove it there",
                        gap.id,
                    )
                )
            owner.setdefault(key, gap.id)
    return problems


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
