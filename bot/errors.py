"""The project's exceptions, so callers can tell a person's mistake from a bug.

BotError                 base: a mistake someone can fix; never shown as a traceback
├── ConfigError          a setting in the environment is missing or malformed
└── KnowledgeError       the article or the Q&A file is unusable; carries every Problem
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a knowledge file, located precisely enough to fix it."""

    file: str
    line: int | None
    message: str
    fix: str = ""
    entry_id: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        entry = f" [entry '{self.entry_id}']" if self.entry_id else ""
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"{where}:{entry} {self.message}.{fix}"


class BotError(Exception):
    """Base of every error a person (not a bug) can cause."""


class ConfigError(BotError):
    """A setting is missing or malformed; the message names the variable."""


class KnowledgeError(BotError):
    """The knowledge files cannot be loaded; `problems` lists every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
