"""`python -m bot run` as a process against the Bot API stand-in: start-up failures are
one clear line and an exit code, never a traceback; and the token never reaches the log."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest
from helpers.botapi import BotApiStandin
from helpers.faults import Fault, WebhookDelivery
from helpers.waiting import listening, until

pytestmark = pytest.mark.xdist_group("processes")  # real bot processes, one suite at a time

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


async def health(env: dict[str, str]) -> tuple[int, str]:
    """`python -m bot health` (the image's HEALTHCHECK): exit code and its one line."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "health",
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, out.decode().strip()


async def test_polling_process_answers_is_healthy_and_stops_on_sigterm(
    standin: BotApiStandin, tmp_path: Path
) -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": standin.token,
        "TELEGRAM_BASE_URL": standin.api_base_url,
        "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
        "HEALTH_FILE": str(tmp_path / "health"),
        "LOG_LEVEL": "DEBUG",
    }
    assert (await health(env))[0] == 1  # not started yet
    process = await start_bot(env)
    try:
        standin.push_message("who claimed the attack?")
        (sent,) = await standin.wait_for("sendMessage", timeout=20)
        assert "<blockquote>" in sent["text"]
        code, line = await health(env)
        assert code == 0 and line.startswith("ok: polling"), line
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    log = err.decode()
    assert process.returncode == 0, log
    assert standin.token not in log
    assert "Traceback" not in log
    assert (await health(env))[0] == 1  # a stopped bot is not alive


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
    env = {**webhook_env(standin, tmp_path, port), "HEALTH_FILE": str(tmp_path / "health")}
    process = await start_bot(env, "--webhook")
    try:
        (hook,) = await standin.wait_for("setWebhook", timeout=20)
        assert hook["url"] == "https://bot.example.org/telegram"
        assert hook["secret_token"] == "s3cret-token"
        await until(lambda: (tmp_path / "health").exists(), what="the health record")
        async with httpx.AsyncClient(trust_env=False) as client:
            answer = await client.get(f"http://127.0.0.1:{port}/healthz")
        assert answer.status_code == 200 and answer.json()["status"] == "ok"
        code, line = await health(env)
        assert code == 0 and line.startswith("ok: webhook"), line
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


# --- reliability: start-up blips, restarts and crashes (issue 9) -----------------------


async def test_start_up_rides_out_a_blip(standin: BotApiStandin, tmp_path: Path) -> None:
    standin.faults.script("getMe", Fault.error(500), Fault.html(502))
    standin.faults.script("setMyCommands", Fault.reset())
    standin.faults.script("deleteWebhook", Fault.error(500))
    env = {**polling_env(standin, tmp_path), "STARTUP_DEADLINE": "20"}
    process = await start_bot(env)
    try:
        standin.push_message("who claimed the attack?")
        await standin.wait_for("sendMessage", timeout=20)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()


async def test_start_up_gives_up_after_its_deadline_with_one_line(
    standin: BotApiStandin, tmp_path: Path
) -> None:
    standin.faults.script("getMe", Fault.html(502), times=10_000)
    env = {**polling_env(standin, tmp_path), "STARTUP_DEADLINE": "1", "SEND_DEADLINE": "0.3"}
    start = time.monotonic()
    process = await start_bot(env)
    _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    log = err.decode()
    assert process.returncode == 1, log
    assert time.monotonic() - start < 15
    assert "Traceback" not in log and "<html>" not in log
    assert "Could not reach the Bot API" in log and "for 1 s" in log


def polling_env(standin: BotApiStandin, tmp_path: Path) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": standin.token,
        "TELEGRAM_BASE_URL": standin.api_base_url,
        "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
        "SEND_RATE_LIMIT": "0",
        "USER_BUDGET": "1000",
    }


def questions(standin: BotApiStandin, users: int, each: int) -> list[dict[str, object]]:
    """`each` questions from each of `users` private chats, interleaved."""
    return [
        standin.push_message(text, user_id=5000 + u, chat_id=5000 + u)
        for text in ["What is ISIS-K?", "who claimed the attack", "how many died"][:each]
        for u in range(users)
    ]


async def test_polling_restart_mid_load_loses_nothing(
    standin: BotApiStandin, tmp_path: Path
) -> None:
    """SIGTERM with most questions unanswered: those fetched are answered before exit,
    the rest by the next process; none twice."""
    env = polling_env(standin, tmp_path)
    process = await start_bot(env)
    await standin.wait_for("deleteWebhook", timeout=20)
    asked = questions(standin, users=70, each=3)
    await until(lambda: len(standin.delivered()) >= 20, timeout=20, what="some answers")
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode()
    assert len(standin.delivered()) < len(asked)  # it was stopped mid-load
    process = await start_bot(env)
    try:
        await until(lambda: len(standin.delivered()) >= len(asked), timeout=30, what="all")
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    standin.assert_answered_once(asked)
    assert "Traceback" not in err.decode()


async def test_webhook_crash_mid_load_with_redelivery_loses_nothing_and_repeats_nothing(
    standin: BotApiStandin, tmp_path: Path
) -> None:
    """SIGKILL while replies are in flight; Telegram re-sends every unacknowledged update
    to the restarted bot: each question answered exactly once.

    The kill comes when every update in hand is waiting for a reply Telegram has already
    taken (held answers): the instant at which a naive bot would lose or repeat them."""
    port = free_port()
    env = {**webhook_env(standin, tmp_path, port), "SEND_RATE_LIMIT": "0", "USER_BUDGET": "1000"}
    process = await start_bot(env, "--webhook")
    url = f"http://127.0.0.1:{port}/telegram"
    try:
        await standin.wait_for("setWebhook", timeout=20)
        await listening(port)
        async with WebhookDelivery(standin, url, attempts=1000, max_backoff=0.2) as hook:
            asked = questions(standin, users=20, each=3)
            await until(lambda: len(standin.delivered()) >= 15, timeout=20, what="answers")
            standin.faults.script("sendMessage", Fault.hold(60, applied=True), times=10_000)

            def all_in_hand_held() -> bool:
                held = [e for e in standin.exchanges if e.fault and e.status is None]
                chats = {u["message"]["chat"]["id"] for u in standin.pending}
                return len(held) == len(chats) > 0

            await until(all_in_hand_held, timeout=20, what="every update in hand held")
            process.kill()
            await process.wait()
            standin.faults.clear()
            process = await start_bot(env, "--webhook")
            await hook.wait_idle(timeout=30)
            assert not hook.given_up
            assert any(tries > 1 for tries in hook.acknowledged.values())  # re-sent
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    standin.assert_answered_once(asked)
    assert "Traceback" not in err.decode()
