"""Parse a YAML file once: its data, and the line of every key and item for messages.

libyaml's parser is used when PyYAML has it (ten times faster on big files). Aliases are
refused before anything is built from them: a 'billion laughs' file is small as a node
graph but explodes when constructed and validated.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml

from bot.errors import KnowledgeError, Problem
from bot.pacing import give_way

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML has it (ten times faster on big files), else pure Python."""
_preemptible: ContextVar[bool] = ContextVar("preemptible", default=False)
POLITE_ABOVE = 1 << 20
"""Characters from which `preemptible_parsing` takes the pure-Python parser: libyaml
holds the interpreter about 20 ms for a file of a few hundred kilobytes (the shipped
one), which no answer notices, and parses it three times faster."""


class _PoliteLoader(yaml.SafeLoader):
    """PyYAML's pure-Python loader, giving way (`bot.pacing`) at every node it builds."""

    def check_printable(self, data: str) -> None:
        step = 1 << 16  # one regular expression over a big file holds the interpreter
        for start in range(0, len(data), step):
            give_way()
            super().check_printable(data[start : start + step])

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        give_way()
        return super().compose_node(parent, index)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        give_way()
        return super().construct_object(node, deep)


@contextmanager
def preemptible_parsing() -> Iterator[None]:
    """Parse files over `POLITE_ABOVE` characters with PyYAML's pure-Python parser inside
    this block: slower, but it lets other threads run every few milliseconds, where
    libyaml holds the interpreter for the whole file (a second and more on a big one)
    and would stall a bot answering meanwhile."""
    token = _preemptible.set(True)
    try:
        yield
    finally:
        _preemptible.reset(token)


def parse_yaml(path: Path, text: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse YAML once: the data, and the line of every mapping key and list item.

    Aliases are refused before anything is built from them: a 'billion laughs' file is
    small as a node graph but explodes when constructed and validated.
    """
    name = str(path)
    polite = _preemptible.get() and len(text) > POLITE_ABOVE
    loader = (_PoliteLoader if polite else _Loader)(text)
    try:
        node = loader.get_single_node()
        lines: dict[tuple[Any, ...], int] = {}
        if node is not None:
            _record_lines(node, (), lines, set())
        data = loader.construct_document(node) if node is not None else None
        if node is not None and polite:
            _dismantle(node)
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


def _dismantle(root: yaml.Node) -> None:
    """Free a node graph a few nodes at a time: dropped whole, a big file's graph is freed
    in one go that holds the interpreter for a tenth of a second."""
    stack: list[Any] = [root]
    while stack:
        give_way()
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += (key, value)
            node.value = []
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
            node.value = []


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
    give_way()
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


def line_of(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest known part of `loc` (a field, else its entry)."""
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None
