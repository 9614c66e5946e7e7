"""`python -m bot run` as a process against the Bot API stand-in: start-up failures are
one clear line and an exit code, never a traceback; and the token never reaches the log."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from botapi_standin import BotApiStandin

ROOT = Path(__file__).resolve().parent.parent


async def start_bot(env: dict[str, str]) -> asyncio.subprocess.Process:
    environment = {**os.environ, "PTB_TIMEDELTA": "true", **env}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
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
