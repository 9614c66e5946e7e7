"""Load and check the article and the Q&A file into immutable objects.

Everything a maintainer can get wrong is collected as a `Problem` (file, line, entry id,
what to fix) and raised together in one `KnowledgeError`, so one `validate` run lists
every mistake. Nothing here imports `telegram`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bot.errors import KnowledgeError, Problem

MAX_FILE_BYTES = 20_000_000
"""Far above any real Q&A file; stops a runaway paste from stalling the loader."""

ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Entry(BaseModel):
    """One curated question and the passage of the article that answers it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=48)] = Field(
        description="Stable slug (lowercase letters, digits, hyphens); used in share links."
    )
    question: Annotated[Text, StringConstraints(max_length=200)] = Field(
        description="The canonical question, shown on buttons and in inline results."
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

    @property
    def phrasings(self) -> tuple[str, ...]:
        """The question and its alternates: everything the matcher compares against."""
        return (self.question, *self.alternates)


class QAFile(BaseModel):
    """The whole Q&A file; its JSON Schema is what editors validate against."""

    model_config = ConfigDict(
        extra="forbid",
        title="Article Q&A file",
        json_schema_extra={"description": "Curated questions about the article (knowledge/)."},
    )

    entries: list[Entry] = Field(min_length=1, description="The curated entries.")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the Q&A file, generated from the model the loader uses."""
    schema = QAFile.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# --- the article -----------------------------------------------------------------------

_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'"})
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")


def normalise_text(text: str) -> str:
    """Fold what a quote may differ in from the article: whitespace, quote style."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text)).translate(_QUOTES)
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Article:
    """The cleaned article: the text every quote is checked against."""

    path: Path
    title: str
    date: str
    paragraphs: tuple[str, ...]
    _normalised: str = field(repr=False, default="")
    _index: tuple[int, ...] = field(repr=False, default=())

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def text(self) -> str:
        """Everything a quote may come from: title, date line and body."""
        return "\n\n".join((self.title, self.date, *self.paragraphs))

    def find(self, quote: str) -> str | None:
        """The article's own words for `quote`, or None when it is not in the article.

        Matching ignores whitespace and quote style; what is returned is the article's
        exact characters, so a user always sees the author's words.
        """
        needle = normalise_text(quote)
        start = self._normalised.find(needle) if needle else -1
        if start < 0:
            return None
        end = start + len(needle) - 1
        return self.text[self._index[start] : self._index[end] + 1]

    def sentences(self) -> Iterator[str]:
        """Each sentence of the body (for coverage), split on end punctuation."""
        for paragraph in self.paragraphs:
            if paragraph.startswith("#"):
                continue
            yield from (s for s in _SENTENCE_END.split(paragraph) if s.strip())


_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][”’\"]))\s+(?=[“‘\"A-Z])")


def _normalise_with_index(text: str) -> tuple[str, tuple[int, ...]]:
    """`normalise_text`, plus for each output character its position in `text`."""
    out: list[str] = []
    index: list[int] = []
    pending_space = False
    for pos, char in enumerate(text):
        if _INVISIBLE.match(char):
            continue
        if char.isspace():
            pending_space = bool(out)
            continue
        if pending_space:
            out.append(" ")
            index.append(pos - 1)
            pending_space = False
        out.append(char.translate(_QUOTES))
        index.append(pos)
    return "".join(out), tuple(index)


def load_article(path: Path) -> Article:
    """Read `article.md`: a `# title` line, a date line, then paragraphs."""
    text = unicodedata.normalize("NFC", _read_text(path))
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    if not blocks or not blocks[0].startswith("# "):
        raise KnowledgeError(
            [Problem(str(path), 1, "the article must start with a '# Title' line", "add one")]
        )
    title = blocks[0][2:].strip()
    date = blocks[1] if len(blocks) > 1 else ""
    paragraphs = tuple(blocks[2:])
    if not paragraphs:
        raise KnowledgeError(
            [
                Problem(
                    str(path),
                    None,
                    "the article has no paragraphs after its title and date",
                    "paste the article's text below the date line",
                )
            ]
        )
    article = Article(path, title, date, paragraphs)
    normalised, index = _normalise_with_index(article.text)
    return Article(path, title, date, paragraphs, normalised, index)


# --- the Q&A file ----------------------------------------------------------------------


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

    def entry(self, entry_id: str) -> Entry | None:
        """The entry with this id, or None (ids come from users' buttons and links)."""
        return self.by_id.get(entry_id)

    def quote_of(self, entry: Entry) -> str:
        """The passage to show: the article's own characters for the entry's quote."""
        return self.quotes.get(entry.id, entry.quote)


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML has it (ten times faster on big files), else pure Python."""


def _read_text(path: Path) -> str:
    """Read a UTF-8 file, turning every way it can fail into a located Problem."""
    name = str(path)
    if not path.exists():
        raise KnowledgeError(
            [Problem(name, None, "no such file", "check the path, or set QA_FILE to the Q&A file")]
        )
    if path.is_dir():
        raise KnowledgeError(
            [Problem(name, None, "this is a folder, not a file", "name the .yaml file in it")]
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KnowledgeError(
            [Problem(name, None, f"cannot read it ({exc.strerror})", "check its permissions")]
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise KnowledgeError(
            [Problem(name, None, f"the file is {len(raw):,} bytes, over {MAX_FILE_BYTES:,}")]
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise KnowledgeError(
            [
                Problem(
                    name,
                    line,
                    f"byte 0x{raw[exc.start]:02x} is not UTF-8",
                    "save the file as UTF-8 (retype the character on that line)",
                )
            ]
        ) from None


def _parse_yaml(path: Path, text: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse YAML once: the data, and the line of every mapping key and list item.

    Aliases are refused before anything is built from them: a 'billion laughs' file is
    small as a node graph but explodes when constructed and validated.
    """
    name = str(path)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines: dict[tuple[Any, ...], int] = {}
        if node is not None:
            _record_lines(node, (), lines, set())
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = (exc.problem or "invalid YAML").strip()
        if exc.context:
            problem = f"{exc.context.strip()}: {problem}"
        raise KnowledgeError(
            [Problem(name, line, f"invalid YAML: {problem}", _yaml_fix(problem, text, line))]
        ) from None
    except yaml.YAMLError as exc:
        raise KnowledgeError([Problem(name, None, f"invalid YAML: {exc}")]) from None
    except _AliasFound as found:
        raise KnowledgeError(
            [
                Problem(
                    name,
                    found.line,
                    "YAML aliases (*name) are not allowed in the Q&A file",
                    "write the text out in full instead of reusing it with & and *",
                )
            ]
        ) from None
    finally:
        loader.dispose()
    return data, lines


class _AliasFound(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _yaml_fix(problem: str, text: str = "", line: int | None = None) -> str:
    """The most likely fix for a YAML error, from its message and the offending line."""
    lines = text.splitlines()
    offending = lines[line - 1] if line and 0 < line <= len(lines) else ""
    if "alias" in problem or "anchor" in problem:
        return "write the text out in full instead of reusing it with & and *"
    if "tab" in problem or "\t" in offending[: len(offending) - len(offending.lstrip())]:
        return "indent with spaces, not tabs"
    if ":" in problem or "mapping" in problem:
        return "check the indentation; put text containing ': ' or '#' under '>-' or in quotes"
    return "check the indentation and quoting on that line"


def _record_lines(
    node: yaml.Node, path: tuple[Any, ...], lines: dict, seen: set[int], line: int = 1
) -> None:
    """Record where each part is; a node met twice is an alias (nodes are shared)."""
    if id(node) in seen:
        raise _AliasFound(line)
    seen.add(id(node))
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            key_line = key.start_mark.line + 1
            child = (*path, key.value if isinstance(key, yaml.ScalarNode) else key_line)
            _record_lines(value, child, lines, seen, key_line)
            lines[child] = key_line
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _record_lines(item, (*path, i), lines, seen, node.start_mark.line + 1)


def _line_of(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest known part of `loc` (a field, else its entry)."""
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


_FIELD_HELP = {
    "id": "a short lowercase slug such as 'when-was-isis-k-formed'",
    "question": "the canonical question, e.g. 'When was ISIS-K formed?'",
    "alternates": "a list of other phrasings, one '- ' item per line",
    "answer": "a short answer in plain words",
    "quote": "a passage copied exactly from article.md",
    "related": "a list of ids of other entries",
    "tags": "a list of short labels",
    "entries": "a list of entries, each starting with '- id: ...'",
}


def _describe(error: dict[str, Any], *, in_entry: bool = False) -> tuple[str, str]:
    """A pydantic error as (what is wrong, how to fix it) in a maintainer's words."""
    loc = error["loc"]
    name = next((str(p) for p in reversed(loc) if isinstance(p, str)), "entry")
    kind = error["type"]
    wanted = _FIELD_HELP.get(name, "")
    if kind == "missing":
        return f"'{name}' is missing", f"add '{name}:' with {wanted}"
    if kind == "extra_forbidden":
        known = ", ".join(list(_FIELD_HELP)[:-1]) if in_entry else "entries"
        return f"unknown field '{name}'", f"remove it or correct the spelling (known: {known})"
    if kind == "string_too_short":
        return f"'{name}' is empty", f"write {wanted}"
    if kind == "string_too_long":
        limit = error.get("ctx", {}).get("max_length")
        return f"'{name}' is too long (over {limit} characters)", "shorten it"
    if kind == "string_pattern_mismatch":
        return (
            f"'{name}' value {error.get('input')!r} is not a valid id",
            "use lowercase letters, digits and single hyphens, e.g. 'who-founded-isis-k'",
        )
    if kind == "too_short" and name == "entries":
        return "the file has no entries", "add at least one entry under 'entries:'"
    if kind in {"string_type", "tuple_type", "list_type", "model_type", "dict_type"}:
        got = type(error.get("input")).__name__
        got = {"NoneType": "nothing", "dict": "a mapping", "list": "a list"}.get(got, got)
        if kind == "model_type":
            return f"an entry must be a mapping of fields, got {got}", (
                "start each entry with '- id: ...' and indent its fields under it"
            )
        return f"'{name}' has the wrong type (got {got})", f"write {wanted}"
    return f"'{name}': {error['msg']}", f"write {wanted}" if wanted else ""


def article_path_for(qa_path: Path) -> Path:
    """The article always sits beside the Q&A file that quotes it."""
    return Path(qa_path).parent / "article.md"


def load_knowledge(qa_path: Path, article_path: Path | None = None) -> Knowledge:
    """Load and fully check the Q&A file against its article; raise every Problem at once."""
    qa_path = Path(qa_path)
    article = load_article(article_path or article_path_for(qa_path))
    name = str(qa_path)
    text = _read_text(qa_path)
    data, lines = _parse_yaml(qa_path, text)
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
    entries = _validate_entries(name, data, raw_entries, lines, problems)
    quotes = _check_entries(name, article, entries, lines, problems)
    if problems:
        raise KnowledgeError(sorted(problems, key=lambda p: p.line or 0))
    fingerprint = hashlib.sha256(text.encode() + article.text.encode()).hexdigest()[:12]
    ordered = tuple(entries.values())
    by_id = {e.id: e for e in ordered}
    return Knowledge(article, ordered, qa_path, fingerprint, quotes, by_id)


def _entry_id(raw: Any) -> str | None:
    return str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") else None


def _validate_entries(
    name: str,
    data: dict[str, Any],
    raw_entries: Any,
    lines: dict[tuple[Any, ...], int],
    problems: list[Problem],
) -> dict[int, Entry]:
    """Validate the file's shape, then each entry on its own so one bad entry spares the rest."""
    try:
        QAFile.model_validate({**data, "entries": []} if isinstance(raw_entries, list) else data)
    except ValidationError as exc:
        for err in exc.errors():
            if err["type"] == "too_short":
                continue
            what, fix = _describe(err)
            problems.append(Problem(name, _line_of(lines, err["loc"]), what, fix))
    if not isinstance(raw_entries, list):
        return {}
    if not raw_entries:
        what, fix = _describe({"loc": ("entries",), "type": "too_short", "msg": ""})
        problems.append(Problem(name, lines.get(("entries",)), what, fix))
    valid: dict[int, Entry] = {}
    for i, raw in enumerate(raw_entries):
        try:
            valid[i] = Entry.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                what, fix = _describe(err, in_entry=True)
                line = _line_of(lines, ("entries", i, *err["loc"]))
                problems.append(Problem(name, line, what, fix, _entry_id(raw)))
    return valid


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
        return _line_of(lines, ("entries", i, *loc))

    for i, entry in entries.items():
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


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
