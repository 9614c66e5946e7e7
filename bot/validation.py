"""Pydantic's validation errors, told in a maintainer's words: what is wrong, how to fix it.

Shared by every file maintainers edit (the Q&A file, the lexicon), so a mistake reads the
same whichever file it is in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_PATTERN_FIX = {
    "id": "use lowercase letters, digits and single hyphens, e.g. 'who-founded-isis-k'",
    "related": "use lowercase letters, digits and single hyphens, e.g. 'who-founded-isis-k'",
    "term": "use lowercase letters and digits only, e.g. 'isisk'",
}
_WHAT = {"id": "id", "related": "id", "term": "term"}


def describe(error: Mapping[str, Any], help: Mapping[str, str], known: str = "") -> tuple[str, str]:
    """A pydantic error as (what is wrong, how to fix it).

    `help` says, per field name, what a good value looks like; `known` lists the fields
    allowed where an unknown one was found (default: every field in `help`).
    """
    loc = error["loc"]
    name = next((str(p) for p in reversed(loc) if isinstance(p, str)), "entry")
    kind = error["type"]
    wanted = help.get(name, "")
    if kind == "missing":
        return f"'{name}' is missing", f"add '{name}:' with {wanted}"
    if kind == "extra_forbidden":
        allowed = known or ", ".join(help)
        return f"unknown field '{name}'", f"remove it or correct the spelling (known: {allowed})"
    if kind == "string_too_short":
        return f"'{name}' is empty", f"write {wanted}"
    if kind == "string_too_long":
        limit = error.get("ctx", {}).get("max_length")
        return f"'{name}' is too long (over {limit} characters)", "shorten it"
    if kind == "string_pattern_mismatch":
        return (
            f"'{name}' value {error.get('input')!r} is not a valid {_WHAT.get(name, 'value')}",
            _PATTERN_FIX.get(name, f"write {wanted}"),
        )
    if kind == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        return f"'{name}' value {error.get('input')!r} is not allowed", f"use one of {expected}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, "), f"write {wanted}" if wanted else ""
    if kind == "too_short" and name == "entries":
        return "the file has no entries", "add at least one entry under 'entries:'"
    if kind in {"string_type", "tuple_type", "list_type", "model_type", "dict_type"}:
        got = type(error.get("input")).__name__
        got = {"NoneType": "nothing", "dict": "a mapping", "list": "a list"}.get(got, got)
        if kind == "model_type":
            first = next(iter(help))
            return f"an entry must be a mapping of fields, got {got}", (
                f"start each entry with '- {first}: ...' and indent its fields under it"
            )
        return f"'{name}' has the wrong type (got {got})", f"write {wanted}"
    return f"'{name}': {error['msg']}", f"write {wanted}" if wanted else ""
