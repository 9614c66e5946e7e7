"""Webhook mode: a small tornado server that takes Telegram's POSTs, plus a health check.

Several replicas can run behind a load balancer. Each POST is checked before its body is
read (the secret header first, then the concurrency bound, the content type and the
declared size), so a stranger's 100 MB upload costs no memory; the body is streamed in
and cut off at WEBHOOK_MAX_BODY. Telegram is answered only once the update has been
handled (or WEBHOOK_DEADLINE has passed): an update lost to a crash was never
acknowledged, so Telegram sends it again, and `Store.claim_update` keeps a re-sent update
that was already answered from being answered twice. A transient failure answers 500, so
Telegram re-sends the update later.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
from dataclasses import dataclass
from typing import Any

import tornado.web
from telegram import Bot, Update
from telegram.ext import Application
from tornado.http1connection import HTTP1Connection
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPServerRequest

from bot import health
from bot.settings import Settings
from bot.telegram.lifecycle import patiently, shut_down, start_up
from bot.telegram.ordering import ChatOrder

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram"
HEALTH_PATH = "/healthz"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DRAIN_SECONDS = 5.0
"""How long shutting down waits for handled updates' answers to reach Telegram."""

AppType = Application[Any, Any, Any, Any, Any, Any]


@dataclass
class Door:
    """What every webhook request is checked against, and how many are inside."""

    secret: str
    max_body: int
    max_requests: int
    deadline: float
    inside: int = 0
    closing: bool = False

    def __post_init__(self) -> None:
        self.empty = asyncio.Event()
        self.empty.set()

    def enter(self) -> None:
        self.inside += 1
        self.empty.clear()

    def leave(self) -> None:
        self.inside -= 1
        if not self.inside:
            self.empty.set()


@tornado.web.stream_request_body
class UpdateHandler(tornado.web.RequestHandler):
    """POST /telegram: one update from Telegram, answered once it has been handled."""

    def initialize(self, app: AppType, door: Door) -> None:
        self.app = app
        self.door = door
        self.chunks: list[bytes] = []
        self.size = 0
        self.entered = False

    def prepare(self) -> None:
        """Everything that can be refused is refused here, before the body is read."""
        door = self.door
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), door.secret.encode()):
            log.warning("Refused a webhook request without the right secret token")
            self.refuse(403)
            return
        if door.closing or not self.app.running:
            self.refuse(503)  # Telegram re-sends it, to this replica's successor
            return
        if door.inside >= door.max_requests:
            log.warning("Refused a webhook request: %d already in hand", door.inside)
            self.refuse(503)
            return
        kind = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            log.warning("Refused a webhook request that is not JSON")
            self.refuse(415)
            return
        declared = self.request.headers.get("Content-Length")
        if declared is not None and (not declared.isdigit() or int(declared) > door.max_body):
            log.warning("Refused a webhook request over %d bytes", door.max_body)
            self.refuse(413)
            return
        _limit_body(self.request, door.max_body)
        door.enter()
        self.entered = True

    def refuse(self, status: int) -> None:
        """Answer now, and drop the connection instead of reading a body nobody wants."""
        _limit_body(self.request, 0)
        if status == 503:
            self.set_header("Retry-After", "1")
        self.send_error(status)

    def data_received(self, chunk: bytes) -> None:
        if self._finished:
            return
        self.size += len(chunk)
        if self.size > self.door.max_body:  # a chunked body that did not say its size
            log.warning("Refused a webhook request over %d bytes", self.door.max_body)
            self.refuse(413)
            return
        self.chunks.append(chunk)

    async def post(self) -> None:
        try:
            data = json.loads(b"".join(self.chunks))
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update object")
            update = Update.de_json(data, self.app.bot)
        except Exception:  # anything that is not a valid update is the sender's mistake
            log.warning("Refused a webhook request whose body is not a Telegram update")
            raise tornado.web.HTTPError(400) from None
        processor = self.app.update_processor
        outcome = processor.outcome(update.update_id) if isinstance(processor, ChatOrder) else None
        await self.app.update_queue.put(update)
        handled = True
        if outcome is not None:
            try:
                handled = await asyncio.wait_for(asyncio.shield(outcome), self.door.deadline)
            except TimeoutError:
                log.warning(
                    "Update %d not handled within %.0f s; acknowledged anyway",
                    update.update_id,
                    self.door.deadline,
                )
        self.set_status(200 if handled else 500)

    def on_finish(self) -> None:
        self.leave()

    def on_connection_close(self) -> None:
        self.leave()

    def leave(self) -> None:
        if self.entered:
            self.entered = False
            self.door.leave()

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, tornado.web.HTTPError):
            return
        super().log_exception(typ, value, tb)


def _limit_body(request: HTTPServerRequest, size: int) -> None:
    """Tornado's own cap on the body still to come: beyond it the connection is dropped."""
    connection = request.connection
    if isinstance(connection, HTTP1Connection):
        connection.set_max_body_size(size)


class HealthHandler(tornado.web.RequestHandler):
    """GET /healthz: 200 with what is served, for the load balancer and for a deploy that
    checks every replica serves the published version (`knowledge_version`; null when
    the knowledge comes from files)."""

    def initialize(self, app: AppType) -> None:
        self.app = app

    def get(self) -> None:
        engine = self.app.bot_data["handlers"].engine
        self.write(
            {
                "status": "ok",
                "entries": len(engine.knowledge.entries),
                "version": engine.knowledge.fingerprint,
                "knowledge_version": engine.version,
                "running": self.app.running,
            }
        )


def web_app(app: AppType, door: Door) -> tornado.web.Application:
    return tornado.web.Application(
        [
            (WEBHOOK_PATH, UpdateHandler, {"app": app, "door": door}),
            (HEALTH_PATH, HealthHandler, {"app": app}),
        ],
        log_function=lambda handler: None,  # access logs would only repeat Telegram's POSTs
    )


def door_for(settings: Settings) -> Door:
    return Door(
        secret=settings.webhook_secret.get_secret_value(),
        max_body=settings.webhook_max_body,
        max_requests=settings.webhook_max_connections,
        deadline=settings.webhook_deadline,
    )


async def register_webhook(bot: Bot, settings: Settings) -> bool:
    """setWebhook: `<WEBHOOK_URL>/telegram`, with the secret and max_connections."""
    return await bot.set_webhook(
        settings.webhook_url.rstrip("/") + WEBHOOK_PATH,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=Update.ALL_TYPES,
        max_connections=settings.webhook_max_connections,
    )


async def serve_webhook(app: AppType, settings: Settings) -> int:
    """Run until SIGINT/SIGTERM: set the webhook, serve, and shut down cleanly.

    Start-up rides out Telegram's blips for STARTUP_DEADLINE seconds. On the way down the
    server stops taking updates (503: Telegram re-sends them later), finishes those in
    hand and answers Telegram for them, then closes. The caller has checked that
    WEBHOOK_URL and WEBHOOK_SECRET are set.
    """
    door = door_for(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server: HTTPServer | None = None
    try:
        await start_up(app, settings)
        if settings.run_setup:  # else `python -m bot setup` did it, once for all replicas
            await patiently(settings, "setWebhook", lambda: register_webhook(app.bot, settings))
        server = HTTPServer(web_app(app, door), max_body_size=settings.webhook_max_body)
        server.listen(settings.webhook_port, settings.webhook_listen)
        log.info("Webhook server on %s:%d", settings.webhook_listen, settings.webhook_port)
        if settings.health_file is not None:
            host = settings.webhook_listen
            if host in {"0.0.0.0", "::", ""}:  # every address: ask over loopback
                host = "127.0.0.1"
            health.mark_webhook(
                settings.health_file, f"http://{host}:{settings.webhook_port}{HEALTH_PATH}"
            )
        await stop.wait()
    except OSError as exc:
        log.error("Cannot listen on %s:%d: %s", settings.webhook_listen, settings.webhook_port, exc)
        return 1
    finally:
        door.closing = True
        if server is not None:
            server.stop()
        if app.running:
            await app.stop()  # every update in hand is handled
        try:
            await asyncio.wait_for(door.empty.wait(), DRAIN_SECONDS)
        except TimeoutError:
            log.warning("%d webhook answers not sent before shutting down", door.inside)
        if server is not None:
            await server.close_all_connections()
        await shut_down(app)
    return 0
