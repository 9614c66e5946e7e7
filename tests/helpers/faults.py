"""Misbehaving Telegram, for reliability tests: injected faults and webhook re-delivery.

Faults: before answering a call, the stand-in asks its :class:`FaultPlan`
(``standin.faults``) whether to fail it, and how (see :class:`Fault`)::

    standin.faults.script("sendMessage", Fault.error(500), Fault.reset(applied=True))
    standin.faults.randomly(
        ["sendMessage", "editMessageText"],
        {Fault.error(500): 0.05, Fault.html(): 0.05, Fault.flood(1): 0.05, Fault.reset(): 0.03,
         Fault.hold(6, applied=True): 0.02},
        seed=7,
    )
    ...
    standin.faults.counts()  # Counter({"500": 12, "html 502": 9, "429": 10, ...})

An *applied* fault lets the call take effect (a message is stored, an edit made) and
only loses its answer: the case that turns a naive retry into a duplicate. A fault that
is not applied leaves no trace but the record: a retry is needed, or the reply is lost.

Webhook: :class:`WebhookDelivery` POSTs the stand-in's pending updates to a webhook
the way Telegram does, re-sending whatever was not acknowledged with a 2xx.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import httpx

if TYPE_CHECKING:
    from helpers.botapi import BotApiStandin

__all__ = ["Attempt", "Fault", "FaultPlan", "Injected", "WebhookDelivery"]

JSONDict = dict[str, Any]
FaultKind = Literal["error", "html", "reset", "hold"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_NGINX_PAGE = (
    "<html>\r\n<head><title>{0}</title></head>\r\n<body>\r\n<center><h1>{0}</h1></center>\r\n"
    "<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class Fault:
    """One way a Bot API call fails; build it with the class methods below."""

    kind: FaultKind
    status: int = 0  # error, html: the HTTP status
    description: str = ""  # error: Telegram's description
    retry_after: int | None = None  # error: parameters.retry_after (429)
    seconds: float = 0.0  # hold: how long the answer is held back
    applied: bool = False  # the call takes effect; only its answer is lost

    @classmethod
    def error(
        cls,
        status: int = 500,
        description: str = "Internal Server Error",
        *,
        retry_after: int | None = None,
        applied: bool = False,
    ) -> Fault:
        """A JSON error answer like Telegram's: ``{"ok": false, "error_code": status, ...}``."""
        return cls("error", status, description, retry_after, applied=applied)

    @classmethod
    def flood(cls, retry_after: int = 1) -> Fault:
        """429 ``Too Many Requests: retry after N`` with ``parameters.retry_after``."""
        return cls.error(
            429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
        )

    @classmethod
    def html(cls, status: int = 502, *, applied: bool = False) -> Fault:
        """An nginx-style HTML error page (``text/html``), as a broken proxy sends."""
        return cls("html", status, applied=applied)

    @classmethod
    def reset(cls, *, applied: bool = False) -> Fault:
        """The connection is reset (TCP RST) instead of answered."""
        return cls("reset", applied=applied)

    @classmethod
    def hold(cls, seconds: float, *, applied: bool = False) -> Fault:
        """The answer is held ``seconds`` (past the client's read timeout, usually).

        Applied: the call takes effect at once, and a client still waiting after
        ``seconds`` gets its real answer (a slow success). Not applied: the connection
        is dropped after ``seconds`` and nothing happened.
        """
        if seconds <= 0:
            raise ValueError("a hold needs seconds > 0")
        return cls("hold", seconds=seconds, applied=applied)

    @property
    def label(self) -> str:
        """The kind as counted: ``"500"``, ``"429"``, ``"html 502"``, ``"reset"``, ``"hold"``."""
        if self.kind == "error":
            return str(self.status)
        return f"html {self.status}" if self.kind == "html" else self.kind

    def payload(self) -> JSONDict:
        """The JSON body of an ``error`` fault."""
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body

    def page(self) -> str:
        """The HTML body of an ``html`` fault."""
        phrase = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        return _NGINX_PAGE.format(f"{self.status} {phrase.get(self.status, 'Error')}")

    def __str__(self) -> str:
        return f"{self.label} (applied)" if self.applied else self.label


@dataclass(frozen=True)
class Injected:
    """A fault as injected: the call it hit and what was done to it."""

    method: str
    params: JSONDict
    fault: Fault


class FaultPlan:
    """Which calls fail, and how: scripted faults first, then seeded random ones.

    Off until configured. Method names as Telegram spells them (case-insensitive).
    """

    def __init__(self) -> None:
        self.log: list[Injected] = []  # every injected fault, in order
        self._scripts: dict[str, deque[Fault]] = {}
        self._mixes: dict[str, tuple[int, list[tuple[Fault, float]]]] = {}
        self._draws: Counter[str] = Counter()

    def script(self, method: str, *faults: Fault, times: int = 1) -> None:
        """Fail the next calls of ``method`` with ``faults``, in order, each ``times`` times."""
        queue = self._scripts.setdefault(method.lower(), deque())
        queue.extend(fault for fault in faults for _ in range(times))

    def randomly(
        self, methods: Iterable[str], mix: Mapping[Fault, float], *, seed: int = 0
    ) -> None:
        """Fail each call of ``methods`` with a fault of ``mix`` at its probability.

        Reproducible: the n-th call of a method to a chat always draws the same fault
        for a seed, however calls to different chats interleave.
        """
        if sum(mix.values()) > 1 + 1e-9:
            raise ValueError("the probabilities of a mix add up to more than 1")
        for method in methods:
            self._mixes[method.lower()] = (seed, list(mix.items()))

    def clear(self) -> None:
        """No more faults, and an empty log."""
        self.log.clear()
        self._scripts.clear()
        self._mixes.clear()
        self._draws.clear()

    def draw(self, method: str, params: JSONDict) -> Fault | None:
        """The fault for this call, if any (logged); the stand-in calls this once a call."""
        fault = self._pick(method, params)
        if fault is not None:
            self.log.append(Injected(method, params, fault))
        return fault

    def _pick(self, method: str, params: JSONDict) -> Fault | None:
        script = self._scripts.get(method.lower())
        if script:
            return script.popleft()
        if method.lower() not in self._mixes:
            return None
        seed, mix = self._mixes[method.lower()]
        key = f"{seed}:{method.lower()}:{params.get('chat_id')}"
        roll = random.Random(f"{key}:{self._draws[key]}").random()
        self._draws[key] += 1
        for fault, probability in mix:
            roll -= probability
            if roll < 0:
                return fault
        return None

    def counts(self, *, applied: bool | None = None) -> Counter[str]:
        """Injected faults by :attr:`Fault.label` (only applied or unapplied ones if given)."""
        return Counter(
            i.fault.label for i in self.log if applied is None or i.fault.applied == applied
        )


@dataclass(frozen=True)
class Attempt:
    """One webhook POST of an update and how it ended: a status, or the error's name."""

    update_id: int
    status: int | None
    error: str | None = None


class WebhookDelivery:
    """POSTs the stand-in's pending updates to ``url`` as Telegram does, until stopped.

    Each update goes as JSON with the secret header (``secret``, or the one the bot gave
    setWebhook). A 2xx acknowledges it (it leaves the stand-in's queue); any other
    status, a connection error or no answer within ``timeout`` s, and it is re-sent
    after a backoff (``backoff`` s, doubling up to ``max_backoff``), ``attempts`` POSTs
    at most, then given up. ``ordered``: one update of a chat at a time, in order
    (Telegram's way); otherwise all at once, ``max_connections`` in flight at most::

        async with WebhookDelivery(standin, f"http://127.0.0.1:{port}/telegram") as hook:
            ...  # push updates; kill the bot, start it again
            await hook.wait_idle(timeout=30)
        assert set(hook.acknowledged) >= {u["update_id"] for u in questions}
    """

    def __init__(
        self,
        standin: BotApiStandin,
        url: str,
        *,
        secret: str | None = None,
        ordered: bool = True,
        max_connections: int = 40,
        timeout: float = 5.0,
        attempts: int = 20,
        backoff: float = 0.05,
        max_backoff: float = 1.0,
    ) -> None:
        self.standin, self.url, self.secret, self.ordered = standin, url, secret, ordered
        self.max_connections, self.attempts = max_connections, attempts
        self.backoff, self.max_backoff = backoff, max_backoff
        self.acknowledged: dict[int, int] = {}  # update_id -> POSTs it took, in order
        self.given_up: list[int] = []
        self.log: list[Attempt] = []  # every POST, in the order they ended
        self._tries: Counter[int] = Counter()
        self._due: dict[int, float] = {}  # update_id -> when to re-send it
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._client = httpx.AsyncClient(
            trust_env=False, timeout=timeout, limits=httpx.Limits(max_connections=max_connections)
        )
        self._runner: asyncio.Task[None] | None = None

    async def __aenter__(self) -> WebhookDelivery:
        self._runner = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        tasks = [t for t in (self._runner, *self._in_flight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._client.aclose()

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until every pending update was acknowledged or given up."""
        async with asyncio.timeout(timeout):
            while self.standin.pending or self._in_flight:
                await self.standin.wait_changed(0.02)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now, wake = loop.time(), 0.5
            busy: set[Any] = set()  # chats with an earlier update not acknowledged yet
            for update in self.standin.pending:
                uid = update["update_id"]
                if self.ordered:
                    chat = _chat_key(update)
                    if chat in busy:
                        continue
                    busy.add(chat)
                if uid in self._in_flight or len(self._in_flight) >= self.max_connections:
                    continue
                if self._due.get(uid, now) > now:
                    wake = min(wake, self._due[uid] - now)
                    continue
                self._in_flight[uid] = asyncio.create_task(self._post(update))
            # Pushes and acknowledgements wake us; failures are noticed within 20 ms.
            await self.standin.wait_changed(min(wake, 0.02) if self._in_flight else wake)

    async def _post(self, update: JSONDict) -> None:
        uid = update["update_id"]
        secret = self.secret or (self.standin.webhook or {}).get("secret_token")
        headers = {SECRET_HEADER: str(secret)} if secret else {}
        self._tries[uid] += 1
        try:
            answer = await self._client.post(self.url, json=update, headers=headers)
            attempt = Attempt(uid, answer.status_code)
        except httpx.HTTPError as exc:
            attempt = Attempt(uid, None, type(exc).__name__)
        self.log.append(attempt)
        done = attempt.status is not None and 200 <= attempt.status < 300
        if done:
            self.acknowledged[uid] = self._tries[uid]
        elif self._tries[uid] >= self.attempts:
            self.given_up.append(uid)
            done = True
        else:
            delay = min(self.max_backoff, self.backoff * 2 ** (self._tries[uid] - 1))
            self._due[uid] = asyncio.get_running_loop().time() + delay
        del self._in_flight[uid]
        if done:
            self.standin.confirm(uid)


def _chat_key(update: JSONDict) -> Any:
    """The chat an update belongs to (the sender's for inline queries), for ordering."""
    body = next((v for k, v in update.items() if k != "update_id" and isinstance(v, dict)), {})
    message = body.get("message", body)  # a callback query's message, or the message itself
    if isinstance(message, dict) and isinstance(message.get("chat"), dict):
        return message["chat"].get("id")
    sender = body.get("from")
    return (
        ("user", sender.get("id"))
        if isinstance(sender, dict)
        else ("update", update.get("update_id"))
    )
