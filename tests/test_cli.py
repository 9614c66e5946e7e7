"""The command line as a person runs it: exit codes, what it prints, never a traceback.

Most tests call `bot.cli.main` in this process (the same function `python -m bot` runs,
with its own stdin, stdout and environment); a few start real processes, to show that
nothing else stands between a person and `main`.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Done:
    """What a run of the command line left: like subprocess.CompletedProcess."""

    returncode: int
    stdout: str
    stderr: str


Run = Callable[..., Done]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Run:
    """`run(*args, stdin=..., env=...)`: `python -m bot ARGS`, in this process."""
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env; the shipped knowledge is found beside

    def run(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> Done:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(args))
        out, err = capsys.readouterr()
        return Done(code, out, err)

    return run


def run_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` as a process of its own."""
    environment = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=60,
    )


def test_ask_prints_answer_and_quote() -> None:
    done = run_process("ask", "What is ISIS-K?")
    assert done.returncode == 0, done.stderr
    assert "branch of the Islamic State" in done.stdout
    assert "  > “ISIS-K is how the branch of the Islamic State (ISIS)" in done.stdout
    assert "What is ISIS-K, its differences" in done.stdout


def test_ask_json_lines_from_stdin(run: Run) -> None:
    done = run("ask", "--json", stdin="who claimed the kabul attack?\nwhat's the weather like?\n\n")
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["matched"] is True and first["id"] == "attack-claimed-by"
    assert first["quote"] and first["answer"] and first["score"] > 0
    assert set(first) >= {"question", "matched", "id", "answer", "quote", "score", "suggestions"}
    assert second["matched"] is False and second["id"] is None and second["answer"] is None
    for suggestion in first["suggestions"]:
        assert set(suggestion) == {"id", "question", "score"}


def test_ask_json_with_arguments(run: Run) -> None:
    done = run("ask", "--json", "hello", "asdfghjkl")
    hello, gibberish = (json.loads(line) for line in done.stdout.splitlines())
    assert hello["verdict"] == "small_talk" and hello["matched"] is False
    assert gibberish["verdict"] == "none"


def test_chat_answers_like_ask(run: Run) -> None:
    done = run("chat", stdin="What is ISIS-K?\n/topics\n/quit\n")
    assert done.returncode == 0, done.stderr
    assert "branch of the Islamic State" in done.stdout
    assert "Questions I can answer" in done.stdout


def test_validate_ok_on_shipped_file(run: Run) -> None:
    done = run("validate")
    assert done.returncode == 0
    assert "OK" in done.stdout


@pytest.mark.parametrize(
    "content",
    [b"entries: [\n", b"", b"- a\n", b"entries:\n  - 3\n", b"entries:\n  - id: x\n", b"\xff\xfe"],
)
def test_validate_bad_files_exit_1_without_traceback(
    run: Run, tmp_path: Path, content: bytes
) -> None:
    (tmp_path / "article.md").write_bytes((ROOT / "knowledge" / "article.md").read_bytes())
    qa = tmp_path / "qa.yaml"
    qa.write_bytes(content)
    done = run("validate", str(qa))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert str(qa) in done.stderr
    assert "problem" in done.stderr.splitlines()[-1]


def test_validate_missing_path_and_directory(run: Run, tmp_path: Path) -> None:
    for target in (tmp_path / "missing.yaml", tmp_path):
        done = run("validate", str(target))
        assert done.returncode == 1
        assert "Traceback" not in done.stderr


def test_run_without_token_points_to_chat(run: Run) -> None:
    done = run("run", env={"TELEGRAM_BOT_TOKEN": ""})
    assert done.returncode == 2
    assert "python -m bot chat" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_bad_setting_is_one_line_naming_it() -> None:
    done = run_process("ask", "hi", env={"ADMIN_IDS": "alice", "PORT": "x"})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert sorted(done.stderr.splitlines()) == [
        "error: ADMIN_IDS='alice' must be Telegram user ids separated by commas, e.g. 12345,67890",
        "error: PORT='x' must be a whole number from 1 to 65535",
    ]
