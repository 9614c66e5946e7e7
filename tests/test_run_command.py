"""`python -m bot run` as a process against the Bot API stand-in: start-up failures are
one clear line and an exit code, never a traceback; and the token never reaches the log."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
from botapi_standin import BotApiStandin

ROOT = Path(__file__).resolve().parent.parent


async def start_bot(env: dict[str, str], *options: str) -> asyncio.subprocess.Process:
    """`python -m bot run [options]` as its own process, its output captured."""
    environment = {**os.environ, "PTB_TIMEDELTA": "true", **env}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        *options,
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_wrong_token_exits_2_with_one_clear_line(
    standin: BotApiStandin, tmp_path: Path
) -> None:
    process = await start_bot(
        {
            "TELEGRAM_BOT_TOKEN": "999:wrong-token",
            "TELEGRAM_BASE_URL": standin.api_base_url,
            "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
        }
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    log = err.decode()
    assert process.returncode == 2, log
    assert "Traceback" not in log
    assert "refused TELEGRAM_BOT_TOKEN" in log
    assert "999:wrong-token" not in log


async def test_polling_process_answers_and_stops_on_sigterm(
    standin: BotApiStandin, tmp_path: Path
) -> None:
    process = await start_bot(
        {
            "TELEGRAM_BOT_TOKEN": standin.token,
            "TELEGRAM_BASE_URL": standin.api_base_url,
            "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
            "LOG_LEVEL": "DEBUG",
        }
    )
    try:
        standin.push_message("who claimed the attack?")
        (sent,) = await standin.wait_for("sendMessage", timeout=20)
        assert "<blockquote>" in sent["text"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    log = err.decode()
    assert process.returncode == 0, log
    assert standin.token not in log
    assert "Traceback" not in log


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def webhook_env(standin: BotApiStandin, tmp_path: Path, port: int) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": standin.token,
        "TELEGRAM_BASE_URL": standin.api_base_url,
        "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
        "WEBHOOK_URL": "https://bot.example.org",
        "WEBHOOK_SECRET": "s3cret-token",
        "WEBHOOK_LISTEN": "127.0.0.1",
        "PORT": str(port),
    }


async def test_webhook_mode_serves_health_and_stops_cleanly(
    standin: BotApiStandin, tmp_path: Path
) -> None:
    port = free_port()
    process = await start_bot(webhook_env(standin, tmp_path, port), "--webhook")
    try:
        (hook,) = await standin.wait_for("setWebhook", timeout=20)
        assert hook["url"] == "https://bot.example.org/telegram"
        assert hook["secret_token"] == "s3cret-token"
        async with httpx.AsyncClient() as client:
            for _ in range(100):
                try:
                    health = await client.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.1)
        assert health.status_code == 200 and health.json()["status"] == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()


async def test_webhook_refused_by_telegram_is_one_line(
    standin: BotApiStandin, tmp_path: Path
) -> None:
    standin.fail_next(
        "setWebhook", description="Bad Request: bad webhook: HTTPS url must be provided"
    )
    process = await start_bot(webhook_env(standin, tmp_path, free_port()), "--webhook")
    _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    log = err.decode()
    assert process.returncode == 2, log
    assert "Traceback" not in log and "bad webhook" in log.lower()


async def test_webhook_port_in_use_is_one_line(standin: BotApiStandin, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await start_bot(webhook_env(standin, tmp_path, port), "--webhook")
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    log = err.decode()
    assert process.returncode == 1, log
    assert "Traceback" not in log and "Cannot listen" in log


async def test_webhook_settings_are_checked_before_start(tmp_path: Path) -> None:
    process = await start_bot(
        {"TELEGRAM_BOT_TOKEN": "1:x", "WEBHOOK_URL": "http://plain.example.org"}, "--webhook"
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 2
    assert "https" in err.decode() and "Traceback" not in err.decode()
