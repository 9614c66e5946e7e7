"""Bot API requests that ride out Telegram's bad moments, decided in one place.

Why the request layer: every call the bot makes (a reply, an edit, a callback or inline
answer, the start-up calls) passes through one `do_request`, which still sees what really
happened: the HTTP status, the raw body, and which httpx error cut a call short. Above it,
python-telegram-bot has turned all of that into `NetworkError`s that look alike.

What is retried, with exponential backoff and jitter (tenacity), within `deadline` seconds
of the first attempt:

* Telegram answered 5xx (its own JSON, or an HTML page from a proxy), or 429 (after the
  `retry_after` it asked for; only this call waits, so other chats go on);
* the call never reached Telegram: no connection, connect/pool/write timeout, write error;
* the connection was dropped without an answer (a reset): in the common case the request
  never reached the Bot API (a stale pooled connection, a proxy restarting), so it is sent
  again, even a message;
* a read timeout only for calls that are harmless to repeat (edits, callback and inline
  answers, getters, settings). A message (`send*`, `forward*`, `copy*`) is *not* sent again
  after a read timeout: Telegram had the whole request and most likely sent it, just late,
  and a second copy is worse than a rare lost one.

Any other 4xx (bad HTML, chat not found, bot blocked) will fail again: it goes straight up
to the caller, which logs it once. A non-JSON error body becomes a one-line Telegram-style
error here, so no HTML page or JSON-decoding traceback ever reaches the log.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Collection, Coroutine
from http import HTTPStatus
from typing import Any

import httpx
from telegram._utils.types import JSONDict
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.ext import BaseRateLimiter
from telegram.request import HTTPXRequest, RequestData
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_before_delay,
    wait_exponential_jitter,
)

from bot.store import StoreError
from bot.telegram.ordering import sending

log = logging.getLogger(__name__)

NOT_REPEATABLE = ("send", "forward", "copy")
"""Bot API method prefixes whose repetition would show the user a second message."""
NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
)
"""httpx errors raised before Telegram could have read the whole request."""
DROPPED = (httpx.RemoteProtocolError, httpx.ReadError)
"""The connection closed without an answer: retried (see the module docstring)."""


class Transient(Exception):
    """One attempt that deserves another: Telegram's answer, or the error instead of one."""

    def __init__(
        self,
        reason: str,
        *,
        answer: tuple[int, bytes] | None = None,
        error: TelegramError | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.answer = answer
        self.error = error
        self.retry_after = retry_after


def tidy_error_body(code: int, payload: bytes) -> bytes:
    """An error answer as Telegram's JSON; an HTML page (a proxy's 502) becomes one line."""
    if HTTPStatus.OK <= code <= 299:
        return payload
    try:
        json.loads(payload)
    except ValueError:
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Unknown error"
        body = {"ok": False, "error_code": code, "description": f"{phrase} (not a JSON answer)"}
        return json.dumps(body).encode()
    return payload


def method_of(url: str) -> str:
    """The Bot API method a request URL calls (its last path segment)."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def retry_after_of(payload: bytes) -> float | None:
    """`parameters.retry_after` of a 429 answer, if it has one."""
    try:
        value = json.loads(payload)["parameters"]["retry_after"]
    except (ValueError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, int | float) else None


class TidyRequest(HTTPXRequest):
    """python-telegram-bot's HTTP request, minus the tracebacks a proxy's page causes."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        return code, tidy_error_body(code, payload)

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        """Like python-telegram-bot's, without its traceback and dump of the page."""
        try:
            data = json.loads(payload.decode("utf-8", "replace"))
        except ValueError:
            raise TelegramError("Invalid server response (not JSON)") from None
        if not isinstance(data, dict):
            raise TelegramError("Invalid server response (not a JSON object)")
        return data


WaitHandled = Callable[[Collection[int], float], Awaitable[bool]]


class PollingRequest(TidyRequest):
    """getUpdates' request. Telegram counts a fetched update as confirmed once the next
    getUpdates asks for later ones, so that next call first waits until the previous batch
    has been handled (or none of it has finished for `confirm_wait` seconds: a reply that
    is retrying must not stop the bot fetching). A crash then costs the updates being
    handled at that instant, or stuck that long; Telegram delivers the rest again."""

    def __init__(self, *, confirm_wait: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.confirm_wait = confirm_wait
        self.wait_handled: WaitHandled | None = None
        self._batch: list[int] = []

    async def do_request(self, url: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        polling = method_of(url) == "getUpdates"
        if polling and self._batch and self.wait_handled is not None:
            batch, self._batch = self._batch, []
            if not await self.wait_handled(batch, self.confirm_wait):
                log.debug("Confirming updates still in hand after %.1f s", self.confirm_wait)
        code, payload = await super().do_request(url, *args, **kwargs)
        if polling and code == HTTPStatus.OK:
            self._batch = _update_ids(payload)
        return code, payload


def _update_ids(payload: bytes) -> list[int]:
    try:
        result = json.loads(payload).get("result") or []
        return [u["update_id"] for u in result if isinstance(u.get("update_id"), int)]
    except (ValueError, AttributeError, TypeError):
        return []


class RetryingRequest(TidyRequest):
    """The request for every call but getUpdates: transient faults are retried (see the
    module docstring) for at most `deadline` seconds, then the last outcome goes up."""

    def __init__(
        self,
        *,
        deadline: float,
        backoff: float = 0.25,
        max_backoff: float = 5.0,
        jitter: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.deadline = deadline
        self._backoff = wait_exponential_jitter(multiplier=backoff, max=max_backoff, jitter=jitter)

    def _wait(self, state: RetryCallState) -> float:
        """Telegram's `retry_after` when it gave one, else exponential backoff with jitter."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Transient) and error.retry_after is not None:
            return error.retry_after
        return float(self._backoff(state))

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[int, bytes]:
        name = method_of(url)
        await sending()  # the update's claim is finished before anything can reach Telegram
        repeatable = not name.lower().startswith(NOT_REPEATABLE)
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Transient),
            wait=self._wait,
            stop=stop_before_delay(self.deadline),
            before_sleep=lambda state: _log_retry(name, state),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(
                        name, repeatable, url, method, request_data, *args, **kwargs
                    )
        except Transient as last:
            log.warning("%s failed, not retried further: %s", name, last.reason)
            if last.error is not None:
                raise last.error from None
            assert last.answer is not None
            return last.answer
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _attempt(
        self, name: str, repeatable: bool, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        """One try; raises `Transient` for an outcome worth another."""
        try:
            code, payload = await super().do_request(*args, **kwargs)
        except TimedOut as exc:
            if repeatable or isinstance(exc.__cause__, NEVER_SENT):
                raise Transient(f"timed out ({type(exc.__cause__).__name__})", error=exc) from exc
            log.warning("%s timed out waiting for Telegram's answer; not sent again", name)
            raise
        except NetworkError as exc:
            if isinstance(exc.__cause__, (*NEVER_SENT, *DROPPED)):
                raise Transient(f"{type(exc.__cause__).__name__}", error=exc) from exc
            raise
        if code == HTTPStatus.TOO_MANY_REQUESTS:
            wait = retry_after_of(payload)
            raise Transient(f"429 (retry after {wait})", answer=(code, payload), retry_after=wait)
        if code >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise Transient(f"HTTP {code}", answer=(code, payload))
        return code, payload


def _log_retry(name: str, state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    reason = error.reason if isinstance(error, Transient) else repr(error)
    log.info("%s: %s; retry %d in %.1f s", name, reason, state.attempt_number, state.upcoming_sleep)


# --- the send budget shared by replicas ---------------------------------------------------


def send_scopes(data: dict[str, Any]) -> tuple[str | None, str]:
    """The budgets a call with this data spends: its chat's ("chat:<id>" for a person,
    "group:<id>" for a group or channel; None when it names no numeric chat) and "global".
    Calls without a chat (inline and button answers) spend none: the caller checks."""
    raw = data.get("chat_id")
    try:
        chat = int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None, "global"
    return (f"chat:{chat}" if chat > 0 else f"group:{chat}"), "global"


class SharedRateLimiter(BaseRateLimiter[int]):
    """python-telegram-bot's rate limiter over `Store.take_send_tokens`, so that every
    replica spends one budget kept in the database (the PostgreSQL set-up): Telegram's
    limits hold for the bot token, not for each process.

    A call to a chat first waits for its chat's (or group's) token, then takes the
    global one and waits for that: the global slot is reserved for the moment the call
    really goes out, so a call waiting for a busy chat holds no global slot meanwhile.
    429s are retried per call by `RetryingRequest`, not here. If the database cannot be
    reached the call goes out unthrottled (an answer late is worse than a 429, which is
    retried anyway), with one warning per outage.
    """

    def __init__(self, take: Callable[[str], float]) -> None:
        self._take = take
        self._failing = False

    async def initialize(self) -> None:
        """Nothing to open: the store is opened and closed with the application."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        if "chat_id" in data:
            chat, overall = send_scopes(data)
            if chat is not None:
                await self._wait_for(chat)
            await self._wait_for(overall)
        return await callback(*args, **kwargs)

    async def _wait_for(self, scope: str) -> None:
        try:
            wait = await asyncio.to_thread(self._take, scope)
        except StoreError as exc:
            if not self._failing:
                log.warning("Send budget unavailable, sending unthrottled: %s", exc)
            self._failing = True
            return
        self._failing = False
        if wait > 0:
            await asyncio.sleep(wait)
