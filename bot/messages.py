"""Everything the bot says to people, per language: `bot/locales/<code>.yaml`.

A translator edits a YAML file, never Python: a third language is a copy of `en.yaml`
with its values translated. `say(language, "chat.gone", title=...)` looks a text up by its
dotted key and fills its {placeholders}; a language that lacks a key falls back to
English, and `check_catalogue` (run by `python -m bot validate`) names every missing key,
unknown key and placeholder that differs from English, with file and line.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.errors import KnowledgeError, Problem
from bot.textfile import read_text
from bot.yamlfile import line_of, parse_yaml

LOCALES = Path(__file__).resolve().parent / "locales"
ENGLISH = "en"


def catalogue_path(language: str) -> Path:
    return LOCALES / f"{language}.yaml"


def available() -> tuple[str, ...]:
    """The languages the bot can speak: one catalogue file each."""
    return tuple(sorted(p.stem for p in LOCALES.glob("*.yaml")))


@lru_cache(maxsize=8)
def _flat(language: str) -> dict[str, Any]:
    """The catalogue as dotted keys -> text (or list of lines); {} for an unknown one."""
    path = catalogue_path(language)
    if not path.exists():
        return {}
    data, _ = parse_yaml(path, read_text(path))
    return dict(_flatten(data)) if isinstance(data, dict) else {}


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            items.extend(_flatten(value, f"{dotted}."))
        else:
            items.append((dotted, value))
    return items


def say(language: str, key: str, **values: object) -> str:
    """The text for `key` in `language` (English when it lacks one), filled in."""
    text = _flat(language).get(key)
    if not isinstance(text, str):
        text = _flat(ENGLISH)[key]
    return str(text).format(**values) if values else str(text)


def say_lines(language: str, key: str, **values: object) -> list[str]:
    """A text kept as a list of lines (the help), each filled in."""
    lines = _flat(language).get(key)
    if not isinstance(lines, list):
        lines = _flat(ENGLISH)[key]
    return [str(line).format(**values) for line in lines]


def check_catalogue(language: str, path: Path | None = None) -> list[Problem]:
    """What a translator must fix in one catalogue (`path`: another file than the shipped
    one, e.g. a draft), against English: missing and unknown keys, and placeholders that
    differ (a missing {title} would show nothing)."""
    path = path or catalogue_path(language)
    data, lines = parse_yaml(path, read_text(path))
    if not isinstance(data, dict):
        return [Problem(str(path), 1, "the file must be a mapping of texts", "copy en.yaml")]
    english, theirs = _flat(ENGLISH), dict(_flatten(data))
    problems = []
    for key in english:
        if key not in theirs:
            problems.append(
                Problem(
                    str(path), None, f"the text '{key}' is missing", "translate it from en.yaml"
                )
            )
        elif _fields(theirs[key]) != _fields(english[key]):
            where = line_of(lines, tuple(key.split(".")))
            wanted = ", ".join(sorted(_fields(english[key]))) or "none"
            problems.append(
                Problem(
                    str(path),
                    where,
                    f"the text '{key}' has other placeholders than English's",
                    f"keep exactly these {{placeholders}}: {wanted}",
                )
            )
    for key in theirs.keys() - english.keys():
        problems.append(
            Problem(
                str(path),
                line_of(lines, tuple(key.split("."))),
                f"the text '{key}' is not one the bot uses",
                "remove it, or check its spelling against en.yaml",
            )
        )
    return problems


def check_catalogues() -> None:
    """Every catalogue against English; KnowledgeError with all problems at once."""
    problems = [p for code in available() if code != ENGLISH for p in check_catalogue(code)]
    if problems:
        raise KnowledgeError(problems)


def _fields(value: Any) -> set[str]:
    texts = value if isinstance(value, list) else [value]
    return {
        name
        for text in texts
        for _, name, _, _ in string.Formatter().parse(str(text))
        if name is not None
    }
