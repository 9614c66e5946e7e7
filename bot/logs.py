"""Logging that can never print the bot token.

httpx logs every request URL at INFO, and Bot API URLs contain the token, so httpx is held
at WARNING; and every record, with its traceback, is scrubbed of the token on its way out.
"""

from __future__ import annotations

import logging

from pydantic import SecretStr

REDACTED = "<token>"


class Redactor(logging.Filter):
    """Replaces secrets in a record's message and arguments before any handler sees it."""

    def __init__(self, *secrets: SecretStr) -> None:
        super().__init__()
        self.secrets = [s.get_secret_value() for s in secrets if s.get_secret_value()]

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

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
