"""The one object every front end asks: current knowledge, its matcher, and safe reloads.

A reload swaps in a new, fully checked snapshot or changes nothing: a file that fails
validation, or one still being written, never replaces what is being served.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from bot.decision import calibration_path_for
from bot.errors import KnowledgeError, Problem
from bot.knowledge import Knowledge, article_path_for, load_knowledge
from bot.language import LANGUAGES, pick_language
from bot.lexicon import layer_path_for, lexicon_path_for
from bot.matching import Matcher, MatchResult
from bot.pacing import paced
from bot.yamlfile import preemptible_parsing

log = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.001
"""Seconds a rebuilding thread may hold the interpreter before an answering one gets it
(Python's default is 0.005: five times the wait for every step of every answer)."""


_sharing: ContextVar[bool] = ContextVar("sharing", default=False)


@contextmanager
def sharing_the_interpreter() -> Iterator[None]:
    """A rebuild running beside answers: parse big files with a parser that lets other
    threads in, rest while the event loop has work (`bot.pacing`) and hand the
    interpreter over more often, so a reload never stalls serving; under load it takes
    longer (18 s instead of 7 s for 10,000 entries at 20 questions a second).

    The cyclic garbage collector is off meanwhile: building a big index makes it walk
    every object again and again, each walk holding the interpreter for a tenth of a
    second and more. What the rebuild made is then frozen (`gc.freeze`): it lives until
    the next reload and holds no cycles, so the collector need never walk it again; the
    snapshot it replaces is freed by reference counting as before.
    """
    if _sharing.get():  # already inside one (a follower checks, then adopts): one is enough
        yield
        return
    previous = sys.getswitchinterval()
    collecting = gc.isenabled()
    gc.disable()
    sys.setswitchinterval(min(previous, SWITCH_INTERVAL))
    token = _sharing.set(True)
    try:
        with preemptible_parsing(), paced():
            yield
    finally:
        _sharing.reset(token)
        sys.setswitchinterval(previous)
        gc.freeze()
        if collecting:
            gc.enable()
        _return_free_memory()


def _return_free_memory() -> None:
    """Give the memory the replaced snapshot freed back to the system (glibc keeps it
    otherwise: a reload of a big file would leave the process a third bigger)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # ctypes lets other threads run meanwhile


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What a reload did: `loaded` entries, or the `problems` that kept the old ones."""

    changed: bool
    entries: int
    problems: tuple[Problem, ...] = ()
    version: int | None = None
    """The published version served (or refused), when knowledge comes from the database."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self, limit: int = 20) -> str:
        """One line of outcome, then at most `limit` problems (a message must stay short)."""
        if self.problems:
            shown = [str(p) for p in self.problems[:limit]]
            more = len(self.problems) - len(shown)
            if more:
                shown.append(f"…and {more} more (run: python -m bot validate)")
            lines = "\n".join(shown)
            return f"Not reloaded; still serving {self.entries} entries. Fix:\n{lines}"
        verb = "Reloaded" if self.changed else "Unchanged"
        if self.version is not None:
            return (
                f"{verb}: {self.entries} entries loaded, published as version {self.version}"
                " (every replica serves it within seconds)."
            )
        return f"{verb}: {self.entries} entries loaded."


_Stamp = tuple[tuple[int, int], ...]


class Engine:
    """Holds the served snapshot; `ask` is what Telegram, the terminal and JSON all call."""

    def __init__(
        self,
        qa_path: Path,
        *,
        settle: float = 0.2,
        calibrated: bool = True,
        knowledge: Knowledge | None = None,
        version: int | None = None,
    ) -> None:
        self.qa_path = Path(qa_path)
        self.article_path = article_path_for(self.qa_path)
        self.lexicon_path = lexicon_path_for(self.qa_path)
        self.calibration_path = calibration_path_for(self.qa_path)
        self.settle = settle
        """Seconds a changed file must stay unchanged before it is read (mid-save guard)."""
        self._stamp = self._read_stamp()
        self.calibrated = calibrated
        self.matcher = Matcher(self._load() if knowledge is None else knowledge)
        self.version = version
        """The published version served (`bot.publishing`); None when read from files."""
        self.last_problems: tuple[Problem, ...] = ()
        self._reloading = threading.Lock()

    @property
    def knowledge(self) -> Knowledge:
        """The served snapshot; it lives in the matcher so one assignment swaps both."""
        return self.matcher.knowledge

    def ask(
        self, question: str, *, previous: str | None = None, language: str | None = None
    ) -> MatchResult:
        """Match `question` in its own language (`language`: the asker's, when the text
        does not say); `previous` (an entry id) is what was answered just before."""
        matcher = self.matcher
        code = pick_language(question, language, matcher.languages)
        return matcher.in_language(code).match(question, previous=previous)

    def changed_on_disk(self) -> bool:
        """Cheap check (two stat calls) for the file watcher."""
        return self._read_stamp() != self._stamp

    def reload(self) -> ReloadOutcome:
        """Load the files again; keep serving the old snapshot if anything is wrong.

        One reload at a time: the watcher and /reload may ask at once, from two threads.
        """
        with self._reloading, sharing_the_interpreter():
            return self._reload()

    def adopt(self, knowledge: Knowledge, version: int | None) -> ReloadOutcome:
        """Serve an already checked snapshot (a published version), building its matcher in
        the caller's thread; a version older than the one served changes nothing."""
        with self._reloading, sharing_the_interpreter():
            if version is not None and self.version is not None and version < self.version:
                return ReloadOutcome(False, len(self.knowledge.entries), version=self.version)
            changed = knowledge.fingerprint != self.knowledge.fingerprint
            if changed:
                self.matcher = Matcher(knowledge)
            self.version = version
            self.last_problems = ()
            return ReloadOutcome(changed, len(knowledge.entries), version=version)

    def _reload(self) -> ReloadOutcome:
        stamp = self._wait_until_settled()
        try:
            knowledge = self._load()
        except KnowledgeError as exc:
            if self._read_stamp() != stamp:  # written to while we read it: look again later
                return ReloadOutcome(False, len(self.knowledge.entries))
            self._stamp = stamp  # report a broken file once, not on every poll
            self.last_problems = tuple(exc.problems)
            return ReloadOutcome(False, len(self.knowledge.entries), self.last_problems)
        if self._read_stamp() != stamp:  # written to while we read it: try again later
            return ReloadOutcome(False, len(self.knowledge.entries))
        self._stamp = stamp
        self.last_problems = ()
        changed = knowledge.fingerprint != self.knowledge.fingerprint
        if changed:
            self.matcher = Matcher(knowledge)
        return ReloadOutcome(changed, len(knowledge.entries))

    def _load(self) -> Knowledge:
        return load_knowledge(self.qa_path, self.article_path, calibrated=self.calibrated)

    def _read_stamp(self) -> _Stamp:
        stamps = []
        layers = [layer_path_for(self.lexicon_path, x) for c, x in LANGUAGES.items() if c != "en"]
        for path in (
            self.qa_path,
            self.article_path,
            self.lexicon_path,
            self.calibration_path,
            *layers,
        ):
            try:
                st = path.stat()
                stamps.append((st.st_mtime_ns, st.st_size))
            except OSError:
                stamps.append((0, -1))
        return tuple(stamps)

    def _wait_until_settled(self, limit: float = 2.0) -> _Stamp:
        """Wait until the files stop changing, so a save in progress is not read half-done."""
        stamp = self._read_stamp()
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            time.sleep(self.settle)
            again = self._read_stamp()
            if again == stamp:
                break
            stamp = again
        return stamp
