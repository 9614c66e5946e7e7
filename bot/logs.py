"""Logging that can never print the bot token.

httpx logs every request URL at INFO, and Bot API URLs contain the token, so httpx is held
at WARNING; and every record, with its traceback, is scrubbed of the token on its way out.
"""

from __future__ import annotations

import logging
import re

from pydantic import SecretStr

REDACTED = "<token>"


class Redactor(logging.Filter):
    """Replaces secrets in a record's message and arguments before any handler sees it."""

    def __init__(self, *secrets: SecretStr) -> None:
        super().__init__()
        self.secrets = [s.get_secret_value() for s in secrets if s.get_secret_value()]
        # Case-insensitive: python-telegram-bot lower-cases the descriptions of errors.
        self._pattern = (
            re.compile("|".join(re.escape(s) for s in self.secrets), re.IGNORECASE)
            if self.secrets
            else None
        )

    def scrub(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text) if self._pattern else text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # bad %-arguments: keep what was passed, scrubbed, never raise
            message = f"{record.msg} {record.args!r}"
        message = self.scrub(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        record.msg, record.args = message, None
        return True


def configure_logging(level: str, *secrets: SecretStr) -> Redactor:
    """Root logging at `level`, every handler scrubbing `secrets`; httpx kept quiet."""
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level, force=True
    )
    redactor = install_redactor(*secrets)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    return redactor


def install_redactor(*secrets: SecretStr) -> Redactor:
    """Scrub `secrets` from every record, whichever logger or handler it reaches.

    A filter on the root logger does not see records of child loggers, so the record
    factory is wrapped instead: every record is scrubbed as it is created.
    """
    redactor = Redactor(*secrets)
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redactor", None) is not None:
        previous = previous.previous  # type: ignore[attr-defined]

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redactor.filter(record)
        return record

    factory.redactor = redactor  # type: ignore[attr-defined]
    factory.previous = previous  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
    return redactor


ONE_LINE_LIMIT = 300
"""Characters kept of a collapsed record: enough for the reason, never a whole update."""


class OneLine(logging.Filter):
    """Telegram's outages and python-telegram-bot's own error reports as one short line.

    python-telegram-bot logs some conditions with a traceback and the data involved (an
    HTML page it could not parse as JSON, a whole update); and a Bot API error is a
    condition, not a bug. Such a record keeps its message and the error's one-line
    description, shortened; tracebacks of the bot's own bugs are left alone.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        from telegram.error import TelegramError  # the core never imports telegram

        error = record.exc_info[1] if record.exc_info else None
        from_ptb = record.name == "telegram" or record.name.startswith("telegram.")
        if not from_ptb and not isinstance(error, TelegramError):
            return True
        message = record.getMessage()
        if error is not None:
            message = f"{message} ({type(error).__name__}: {error})"
        message = " ".join(message.split())
        if len(message) > ONE_LINE_LIMIT:
            message = message[: ONE_LINE_LIMIT - 1] + "…"
        if self.redactor is not None:
            message = self.redactor.scrub(message)
        record.msg, record.args = message, None
        record.exc_info, record.exc_text = None, None
        return True


def one_line_telegram_errors(redactor: Redactor | None = None) -> OneLine:
    """Install `OneLine` on every root handler (call after `configure_logging`)."""
    keep = OneLine(redactor)
    for handler in logging.getLogger().handlers:
        handler.addFilter(keep)
    return keep
