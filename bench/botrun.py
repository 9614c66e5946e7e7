"""The bot as a process against the Bot API stand-in, and what reaches the chats.

Support for `bench/reliability.py`: start `python -m bot run` (or any command) with its
log in a file, read its memory from /proc, and watch the stand-in's sendMessage calls as
they arrive, so latencies and exact reply counts stay cheap at 10,000 messages (the
stand-in's own `sent()` and `delivered()` scan every exchange on each call).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import shutil
import signal
import socket
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.settings import Settings

if TYPE_CHECKING:  # tests/ is on sys.path only once bench/reliability.py has put it there
    from helpers.botapi import BotApiStandin, Exchange

ROOT = Path(__file__).resolve().parent.parent
SETTING_NAMES = frozenset(str(f.validation_alias) for f in Settings.model_fields.values())
PROXY_NAMES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})
TRACEBACK = "Traceback (most recent call last)"


def default(name: str) -> Any:
    """A setting's default, as the bot would use it (e.g. `send_read_timeout`)."""
    return Settings.model_fields[name].default


def snapshot(dest: Path) -> Path:
    """Copy the bot's code and knowledge to `dest`, and return it: every process of a run
    starts from this copy, so a run measures one version of the bot even while people
    edit the working tree (a process run from `dest` imports `dest/bot`, not the tree's)."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("bot", "knowledge"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=skip)
    return dest


def fingerprint(source: Path) -> str:
    """A short hash of the bot's code and knowledge in `source`: which version was measured."""
    digest = hashlib.sha256()
    for path in sorted((source / "bot").rglob("*.py")) + sorted((source / "knowledge").iterdir()):
        digest.update(path.relative_to(source).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def bot_env(
    standin: BotApiStandin, data_dir: Path, source: Path = ROOT, **settings: object
) -> dict[str, str]:
    """The environment for a bot from `source` on `standin`: every other setting at its
    default unless given here; no inherited bot setting or proxy (all on 127.0.0.1)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in SETTING_NAMES and k.lower() not in PROXY_NAMES
    }
    env.update(
        PTB_TIMEDELTA="true",
        NO_PROXY="127.0.0.1,localhost",
        TELEGRAM_BOT_TOKEN=standin.token,
        TELEGRAM_BASE_URL=standin.api_base_url,
        DATABASE_PATH=str(data_dir / "bot.sqlite3"),
        QA_FILE=str(source / "knowledge" / "qa.yaml"),
        PYTHONPATH=str(source),
    )
    env.update({name: str(value) for name, value in settings.items()})
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Memory:
    rss_mb: float  # VmRSS: resident now
    peak_mb: float  # VmHWM: the most ever resident


class BotProcess:
    """One process, its output in `log_path`; killed at exit if still running."""

    running: list[BotProcess] = []  # noqa: RUF012 (every process started, for cleanup)

    def __init__(self, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    @classmethod
    async def start(
        cls, command: list[str], env: dict[str, str], log_path: Path, cwd: Path = ROOT
    ) -> BotProcess:
        with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            process = await asyncio.create_subprocess_exec(
                *command, cwd=cwd, env=env, stdout=log, stderr=log
            )
        started = cls(process, log_path)
        cls.running.append(started)
        return started

    @classmethod
    async def bot(
        cls, env: dict[str, str], log_path: Path, *options: str, source: Path = ROOT
    ) -> BotProcess:
        """`python -m bot run [options]`, from the bot's code in `source`."""
        command = [sys.executable, "-m", "bot", "run", *options]
        return await cls.start(command, env, log_path, cwd=source)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def memory(self) -> Memory:
        """From /proc/PID/status (kB there)."""
        fields = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024
        return Memory(fields["VmRSS"], fields["VmHWM"])

    async def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait (SIGKILL after `timeout`); the exit code."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                await self.kill()
        BotProcess._forget(self)
        return self.process.returncode

    async def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        if self.alive:
            self.process.kill()
        await self.process.wait()
        BotProcess._forget(self)

    @classmethod
    def _forget(cls, process: BotProcess) -> None:
        if process in cls.running:
            cls.running.remove(process)

    @classmethod
    async def kill_all(cls) -> None:
        """Every process this run started and did not stop (an interrupted run)."""
        for process in list(cls.running):
            await process.kill()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def tracebacks(self) -> int:
        return self.log().count(TRACEBACK)

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


async def until(
    check: Callable[[], object],
    timeout: float,
    what: str,
    *,
    process: BotProcess | None = None,
    every: float = 0.02,
) -> float:
    """Poll `check` until true; the seconds it took. Fails after `timeout`, or at once if
    `process` exited meanwhile."""
    start = time.monotonic()
    while not check():
        if process is not None and not process.alive:
            raise RuntimeError(f"the bot exited ({process.process.returncode}):\n{process.tail()}")
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(every)
    return time.monotonic() - start


@dataclass
class Replies:
    """Every sendMessage the stand-in receives, by chat, stamped when it arrived.

    Watches `standin.exchanges` incrementally (never call `standin.reset()` meanwhile)."""

    standin: BotApiStandin
    by_chat: dict[Any, list[tuple[float, Exchange]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    polls: int = 0  # getUpdates calls seen
    _seen: int = 0
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Replies:
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.scan()

    async def _watch(self) -> None:
        while True:
            self.scan()
            await self.standin.wait_changed(0.05)

    def scan(self) -> None:
        exchanges = self.standin.exchanges
        now = time.monotonic()
        for exchange in exchanges[self._seen :]:
            if exchange.method == "sendMessage":
                self.by_chat[exchange.params.get("chat_id")].append((now, exchange))
            elif exchange.method == "getUpdates":
                self.polls += 1
        self._seen = len(exchanges)

    def delivered(self, chats: Iterable[Any] | None = None) -> int:
        """Messages that took effect (a fault may have lost their answer), in `chats`."""
        self.scan()
        wanted = self.by_chat.keys() if chats is None else chats
        return sum(1 for c in wanted for _, e in self.by_chat.get(c, ()) if e.applied)

    def texts(self, chat: Any) -> list[str]:
        """What reached the chat, in order, duplicates included."""
        self.scan()
        return [e.effect["text"] for _, e in self.by_chat.get(chat, ()) if e.applied]

    def ok_times(self, chat: Any) -> list[float]:
        """When each successful sendMessage to the chat arrived, in order."""
        self.scan()
        return [t for t, e in self.by_chat.get(chat, ()) if e.ok]

    def last_arrival(self) -> float:
        self.scan()
        return max((t for calls in self.by_chat.values() for t, _ in calls), default=0.0)

    async def quiet(self, seconds: float, timeout: float) -> None:
        """Wait until no sendMessage has arrived for `seconds` (at most `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if time.monotonic() - max(self.last_arrival(), 0.0) >= seconds:
                return
            await asyncio.sleep(0.1)


@dataclass(frozen=True)
class Tally:
    """Each question's replies, counted exactly: who asked what, and which reply text
    answers which question (`expected`), so a message maps to one question."""

    asked: int
    lost: int
    twice: int
    stray: int  # messages in those chats that answer none of the questions

    @property
    def once(self) -> int:
        return self.asked - self.lost - self.twice


def tally(replies: Replies, asked: list[tuple[Any, str]], expected: dict[str, str]) -> Tally:
    """`asked`: (chat, question) pairs, each question at most once per chat."""
    if len(set(asked)) != len(asked):
        raise ValueError("a chat asked the same question twice: replies would be ambiguous")
    known = set(expected.values())
    lost = twice = stray = 0
    seen: dict[Any, Counter[str]] = {}
    for chat, question in asked:
        if chat not in seen:
            seen[chat] = Counter(replies.texts(chat))
            stray += sum(n for text, n in seen[chat].items() if text not in known)
        count = seen[chat][expected[question]]
        lost += count == 0
        twice += count > 1
    return Tally(len(asked), lost, twice, stray)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * share)) - 1]
