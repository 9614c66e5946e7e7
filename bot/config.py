"""Every setting in one frozen object, read once from the environment.

A `.env` file in the working directory is read too (its values never override the real
environment). The token is kept in a `Secret` so it cannot leak through a repr or a log.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bot.errors import ConfigError
from bot.knowledge import article_path_for

DEFAULT_BASE_URL = "https://api.telegram.org/bot"

T = TypeVar("T", int, float)


def _default_knowledge_dir() -> Path:
    """`./knowledge` if it is there, else the checkout's folder beside the package (an
    editable install run from elsewhere); if neither exists, `./knowledge`, so the error
    names the path a person expects."""
    here = Path.cwd() / "knowledge"
    beside = Path(__file__).resolve().parent.parent / "knowledge"
    if (here / "qa.yaml").is_file() or not (beside / "qa.yaml").is_file():
        return here
    return beside


class Secret:
    """A string that prints as asterisks, so a token cannot slip into a log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value; call only where it is handed to Telegram."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Settings:
    """The bot's whole configuration; build it with `Settings.from_env()`."""

    token: Secret = field(default_factory=lambda: Secret(""))
    base_url: str = DEFAULT_BASE_URL
    knowledge_dir: Path = field(default_factory=_default_knowledge_dir)
    qa_file: Path | None = None
    log_level: str = "INFO"
    admin_ids: frozenset[int] = frozenset()
    database_path: Path = Path("data/bot.sqlite3")
    unanswered_max_rows: int = 10_000
    reload_interval: float = 0.5
    webhook_url: str = ""
    webhook_secret: Secret = field(default_factory=lambda: Secret(""))
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8080
    vote_key: Secret = field(default_factory=lambda: Secret(""))
    """Keys the hash that makes one vote per person; the token when unset."""

    @property
    def qa_path(self) -> Path:
        """The Q&A file: QA_FILE if set, else `qa.yaml` in the knowledge folder."""
        return self.qa_file or self.knowledge_dir / "qa.yaml"

    @property
    def article_path(self) -> Path:
        return article_path_for(self.qa_path)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Settings:
        """Read the settings; a malformed value raises ConfigError naming the variable."""
        if env is None:
            if dotenv:
                _load_dotenv()
            env = os.environ
        defaults = cls()
        get = env.get
        qa = get("QA_FILE", "").strip()
        return cls(
            token=Secret(get("TELEGRAM_BOT_TOKEN", "").strip()),
            base_url=get("TELEGRAM_BASE_URL", "").strip() or DEFAULT_BASE_URL,
            knowledge_dir=Path(qa).parent if qa else defaults.knowledge_dir,
            qa_file=Path(qa) if qa else None,
            log_level=_log_level(get("LOG_LEVEL", "INFO")),
            admin_ids=_int_set("ADMIN_IDS", get("ADMIN_IDS", "")),
            database_path=Path(get("DATABASE_PATH", "").strip() or defaults.database_path),
            unanswered_max_rows=_number(env, "UNANSWERED_MAX_ROWS", 10_000, int, minimum=1),
            reload_interval=_number(env, "RELOAD_INTERVAL", 0.5, float, minimum=0.05),
            webhook_url=_https_url("WEBHOOK_URL", get("WEBHOOK_URL", "")),
            webhook_secret=Secret(_webhook_secret(get("WEBHOOK_SECRET", ""))),
            webhook_listen=get("WEBHOOK_LISTEN", "").strip() or "0.0.0.0",
            webhook_port=_number(env, "PORT", 8080, int, minimum=1, maximum=65535),
            vote_key=Secret(get("VOTE_KEY", "").strip()),
        )


def _load_dotenv() -> None:
    """Read `.env` from the working directory if there is one (never overriding)."""
    try:
        from dotenv import load_dotenv
    except ImportError:  # pragma: no cover - python-dotenv is a dependency
        return
    load_dotenv(Path.cwd() / ".env", override=False)


def _log_level(raw: str) -> str:
    level = raw.strip().upper() or "INFO"
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(
            f"LOG_LEVEL={raw!r} is not a log level; use DEBUG, INFO, WARNING or ERROR"
        )
    return level


def _int_set(name: str, raw: str) -> frozenset[int]:
    parts = [p for p in raw.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        return frozenset(int(p) for p in parts)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} must be Telegram user ids separated by commas, e.g. 12345,67890"
        ) from None


def _https_url(name: str, raw: str) -> str:
    url = raw.strip()
    if url and not re.fullmatch(r"https://[^\s/]+(?:/\S*)?", url):
        raise ConfigError(f"{name}={raw!r} must be a public https:// URL (Telegram requires https)")
    return url


def _webhook_secret(raw: str) -> str:
    secret = raw.strip()
    if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        raise ConfigError(
            "WEBHOOK_SECRET may only hold 1-256 characters A-Z, a-z, 0-9, _ and - "
            "(Telegram's rule for secret tokens)"
        )
    return secret


def _number(
    env: Mapping[str, str],
    name: str,
    default: T,
    kind: type[T],
    *,
    minimum: T,
    maximum: T | None = None,
) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} must be a {kind.__name__} number") from None
    if value < minimum or (maximum is not None and value > maximum):
        limits = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigError(f"{name}={raw!r} must be {limits}")
    return value
