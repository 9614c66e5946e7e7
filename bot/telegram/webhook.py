"""Webhook mode: a small tornado server that takes Telegram's POSTs, plus a health check.

Several replicas can run behind a load balancer: each one verifies Telegram's secret
header, queues the update for its own Application and answers at once.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
from typing import Any

import tornado.web
from telegram import Update
from telegram.ext import Application
from tornado.httpserver import HTTPServer

from bot import health
from bot.settings import Settings

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram"
HEALTH_PATH = "/healthz"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class UpdateHandler(tornado.web.RequestHandler):
    """POST /telegram: one update from Telegram, refused without the right secret."""

    def initialize(self, app: Application[Any, Any, Any, Any, Any, Any], secret: str) -> None:
        self.app = app
        self.secret = secret

    async def post(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("Refused a webhook request without the right secret token")
            raise tornado.web.HTTPError(403)
        try:
            data = json.loads(self.request.body)
            if not isinstance(data, dict):
                raise ValueError("not an update object")
            update = Update.de_json(data, self.app.bot)
        except Exception:  # anything that is not a valid update is the sender's mistake
            log.warning("Refused a webhook request whose body is not a Telegram update")
            raise tornado.web.HTTPError(400) from None
        if update is not None:
            await self.app.update_queue.put(update)
        self.set_status(200)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, tornado.web.HTTPError):
            return
        super().log_exception(typ, value, tb)


class HealthHandler(tornado.web.RequestHandler):
    """GET /healthz: 200 with what is served, for the load balancer."""

    def initialize(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        self.app = app

    def get(self) -> None:
        engine = self.app.bot_data["handlers"].engine
        self.write(
            {
                "status": "ok",
                "entries": len(engine.knowledge.entries),
                "version": engine.knowledge.fingerprint,
                "running": self.app.running,
            }
        )


def web_app(app: Application[Any, Any, Any, Any, Any, Any], secret: str) -> tornado.web.Application:
    return tornado.web.Application(
        [
            (WEBHOOK_PATH, UpdateHandler, {"app": app, "secret": secret}),
            (HEALTH_PATH, HealthHandler, {"app": app}),
        ],
        log_function=lambda handler: None,  # access logs would only repeat Telegram's POSTs
    )


async def serve_webhook(app: Application[Any, Any, Any, Any, Any, Any], settings: Settings) -> int:
    """Run until SIGINT/SIGTERM: set the webhook, serve, and shut down cleanly.

    The application's own `post_init` and `post_shutdown` hooks run as they do in polling
    mode. Whatever fails on the way up (Telegram refusing the URL, a port in use), the
    application is stopped and the watcher and database closed before the error goes on.
    The caller has checked that WEBHOOK_URL and WEBHOOK_SECRET are set.
    """
    secret = settings.webhook_secret.get_secret_value()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server: HTTPServer | None = None
    await app.initialize()
    try:
        if app.post_init:
            await app.post_init(app)
        await app.start()
        url = settings.webhook_url.rstrip("/") + WEBHOOK_PATH
        await app.bot.set_webhook(url, secret_token=secret, allowed_updates=Update.ALL_TYPES)
        server = HTTPServer(web_app(app, secret))
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
        if server is not None:
            server.stop()
        if app.running:
            await app.stop()
        if app.post_shutdown:
            await app.post_shutdown(app)
        await app.shutdown()
    return 0
