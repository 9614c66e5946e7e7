"""Every setting in one frozen pydantic-settings model, read from the environment.

A `.env` file in the working folder is read too (the real environment wins over it), and
so are Docker secrets: a file in /run/secrets named after the variable (the environment
and `.env` win over it).
Secrets are `SecretStr`s, so a token cannot leak through a repr or a log line. A bad
value raises `ConfigError` with one line per variable: what is wrong and how to fix it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
SECRETS_DIR = Path("/run/secrets")
"""Where Docker and Compose mount secrets (`--secret TELEGRAM_BOT_TOKEN`)."""
SECRET_FIELDS = frozenset({"TELEGRAM_BOT_TOKEN", "WEBHOOK_SECRET", "VOTE_KEY", "DATABASE_URL"})
"""Variables whose value an error message must not repeat."""


def default_qa_file() -> Path:
    """`./knowledge/qa.yaml` if it is there, else the checkout's beside the package (an
    editable install run from elsewhere); if neither exists, `./knowledge/qa.yaml`, so the
    error names the path a person expects."""
    here = Path.cwd() / "knowledge" / "qa.yaml"
    beside = Path(__file__).resolve().parent.parent / "knowledge" / "qa.yaml"
    return beside if not here.is_file() and beside.is_file() else here


def _user_ids(raw: object) -> object:
    if not isinstance(raw, str):
        return raw
    parts = raw.replace(";", ",").replace(" ", ",").split(",")
    try:
        return frozenset(int(p) for p in parts if p)
    except ValueError:
        message = "must be Telegram user ids separated by commas, e.g. 12345,67890"
        raise ValueError(message) from None


def _https_url(url: str) -> str:
    scheme, _, rest = url.partition("://")
    if url and (scheme != "https" or not rest or rest.startswith("/") or " " in url):
        raise ValueError("must be a public https:// URL (Telegram requires https)")
    return url


def _secret_token(secret: SecretStr) -> SecretStr:
    if not re.fullmatch(r"[A-Za-z0-9_-]{0,256}", secret.get_secret_value()):
        raise ValueError(
            "may only hold 1-256 characters A-Z, a-z, 0-9, _ and - (Telegram's rule for "
            "secret tokens)"
        )
    return secret


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """The bot's whole configuration; `Settings.from_env()` reads and checks it."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # VAR= in .env means "the default", as it always did
        extra="ignore",
        frozen=True,
        str_strip_whitespace=True,
        validate_by_name=True,
        validate_default=False,
    )

    token: SecretStr = Field(SecretStr(""), validation_alias="TELEGRAM_BOT_TOKEN")
    base_url: str = Field(DEFAULT_BASE_URL, validation_alias="TELEGRAM_BASE_URL")
    qa_file: Path = Field(default_factory=default_qa_file, validation_alias="QA_FILE")
    log_level: LogLevel = Field("INFO", validation_alias="LOG_LEVEL")
    admin_ids: Annotated[frozenset[int], NoDecode, BeforeValidator(_user_ids)] = Field(
        frozenset(), validation_alias="ADMIN_IDS"
    )
    database_path: Path = Field(Path("data/bot.sqlite3"), validation_alias="DATABASE_PATH")
    database_url: SecretStr = Field(SecretStr(""), validation_alias="DATABASE_URL")
    """postgresql://... selects the shared PostgreSQL store (bot/store); unset: SQLite."""
    unanswered_max_rows: int = Field(10_000, ge=1, validation_alias="UNANSWERED_MAX_ROWS")
    unanswered_retention_days: int = Field(
        90, ge=1, le=36_500, validation_alias="UNANSWERED_RETENTION_DAYS"
    )
    """Unanswered questions older than this are deleted (privacy: nothing kept for ever)."""
    reload_interval: float = Field(0.5, ge=0.05, validation_alias="RELOAD_INTERVAL")
    follow_up_minutes: float = Field(10, gt=0, le=1440, validation_alias="FOLLOW_UP_MINUTES")
    """A follow-up ("and when?") is read after the last answer only this long after it."""
    vote_key: SecretStr = Field(SecretStr(""), validation_alias="VOTE_KEY")
    """Keys the hash that allows one vote per person; the token when unset."""
    webhook_url: Annotated[str, AfterValidator(_https_url)] = Field(
        "", validation_alias="WEBHOOK_URL"
    )
    webhook_secret: Annotated[SecretStr, AfterValidator(_secret_token)] = Field(
        SecretStr(""), validation_alias="WEBHOOK_SECRET"
    )
    webhook_listen: str = Field("0.0.0.0", validation_alias="WEBHOOK_LISTEN")
    webhook_port: int = Field(8080, ge=1, le=65535, validation_alias="PORT")
    health_file: Path | None = Field(None, validation_alias="HEALTH_FILE")
    """Kept fresh by the running bot for `python -m bot health`; unset: no file."""
    # --- reliability (bot/telegram/sending.py, ordering.py, fairness.py, webhook.py) ---
    send_deadline: float = Field(30.0, gt=0, le=600, validation_alias="SEND_DEADLINE")
    """Seconds one reply may take, retries and backoff included, before it is given up."""
    send_read_timeout: float = Field(5.0, gt=0, le=120, validation_alias="SEND_READ_TIMEOUT")
    """Seconds to wait for Telegram's answer to one call (a message is not re-sent after)."""
    startup_deadline: float = Field(60.0, gt=0, le=3600, validation_alias="STARTUP_DEADLINE")
    """Seconds start-up keeps retrying Telegram (getMe, webhook, menus) before exit 1."""
    send_rate_limit: int = Field(30, ge=0, le=1000, validation_alias="SEND_RATE_LIMIT")
    """Messages a second to all chats together (Telegram's limit); 0 turns it off."""
    concurrent_updates: int = Field(64, ge=1, le=4096, validation_alias="CONCURRENT_UPDATES")
    """Updates handled at once (different chats; one chat's are always in order)."""
    user_budget: int = Field(20, ge=1, le=100_000, validation_alias="USER_BUDGET")
    """Messages one person may send per USER_BUDGET_WINDOW; beyond it: one "slow down"."""
    user_budget_window: float = Field(60.0, gt=0, le=86_400, validation_alias="USER_BUDGET_WINDOW")
    """Seconds in which USER_BUDGET messages are allowed (refilled evenly)."""
    webhook_max_body: int = Field(
        1_048_576, ge=1024, le=104_857_600, validation_alias="WEBHOOK_MAX_BODY"
    )
    """Bytes a webhook POST may carry; larger ones get 413 before being read."""
    webhook_max_connections: int = Field(
        40, ge=1, le=100, validation_alias="WEBHOOK_MAX_CONNECTIONS"
    )
    """Webhook requests handled at once (also Telegram's max_connections); more get 503."""
    webhook_deadline: float = Field(50.0, gt=0, le=600, validation_alias="WEBHOOK_DEADLINE")
    """Seconds the webhook waits for an update's handling before it acknowledges anyway."""
    run_setup: bool = Field(True, validation_alias="RUN_SETUP")
    """`run` registers the webhook and command menus at start; 0 leaves that to
    `python -m bot setup` (a deploy step, so N replicas do not all repeat it)."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def article_path(self) -> Path:
        """The article always sits beside the Q&A file that quotes it."""
        return self.qa_file.with_name("article.md")

    @property
    def shared(self) -> bool:
        """DATABASE_URL is set: replicas share state, knowledge versions and the send budget."""
        return bool(self.database_url.get_secret_value().strip())

    @property
    def ballot_key(self) -> bytes:
        """The key for vote ballots: VOTE_KEY, else the token."""
        return (self.vote_key or self.token).get_secret_value().encode()

    @classmethod
    def from_env(cls, *, secrets_dir: Path = SECRETS_DIR, **overrides: Any) -> Settings:
        """Read the environment, `.env` and secret files; ConfigError names every malformed
        variable."""
        secrets = secrets_dir if secrets_dir.is_dir() else None
        try:
            return cls(_secrets_dir=secrets, **overrides)
        except ValidationError as exc:
            raise ConfigError("\n".join(_describe(error) for error in exc.errors())) from None


_FIXES = {
    "LOG_LEVEL": "is not a log level; use DEBUG, INFO, WARNING or ERROR",
    "UNANSWERED_MAX_ROWS": "must be a whole number, at least 1",
    "UNANSWERED_RETENTION_DAYS": "must be a whole number of days from 1 to 36500",
    "RELOAD_INTERVAL": "must be a number of seconds, at least 0.05",
    "FOLLOW_UP_MINUTES": "must be a number of minutes, above 0 and at most 1440",
    "PORT": "must be a whole number from 1 to 65535",
    "SEND_DEADLINE": "must be a number of seconds, above 0 and at most 600",
    "STARTUP_DEADLINE": "must be a number of seconds, above 0 and at most 3600",
    "SEND_READ_TIMEOUT": "must be a number of seconds, above 0 and at most 120",
    "SEND_RATE_LIMIT": "must be a whole number of messages a second, 0 (off) to 1000",
    "CONCURRENT_UPDATES": "must be a whole number from 1 to 4096",
    "USER_BUDGET": "must be a whole number of messages, at least 1",
    "USER_BUDGET_WINDOW": "must be a number of seconds, above 0",
    "WEBHOOK_MAX_BODY": "must be a number of bytes from 1024 to 104857600",
    "WEBHOOK_MAX_CONNECTIONS": "must be a whole number from 1 to 100",
    "WEBHOOK_DEADLINE": "must be a number of seconds, above 0 and at most 600",
    "RUN_SETUP": "must be 1 (register the webhook and menus at start) or 0 (leave it to setup)",
}


def _describe(error: Any) -> str:
    """One line for one bad variable: `NAME='value' must be ...`."""
    name = str(error["loc"][0]).upper() if error["loc"] else "a setting"
    value = "" if name in SECRET_FIELDS else f"={error.get('input')!r}"
    if error["type"] == "value_error":
        problem = str(error["ctx"]["error"])
    else:
        problem = _FIXES.get(name, error["msg"])
    return f"{name}{value} {problem}"
