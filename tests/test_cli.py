"""The command line as a person runs it: real processes, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=60,
    )


def test_ask_prints_answer_and_quote() -> None:
    done = run("ask", "What is ISIS-K?")
    assert done.returncode == 0, done.stderr
    assert "branch of the Islamic State" in done.stdout
    assert "  > “ISIS-K is how the branch of the Islamic State (ISIS)" in done.stdout
    assert "What is ISIS-K, its differences" in done.stdout


def test_ask_json_lines_from_stdin() -> None:
    done = run("ask", "--json", stdin="who claimed the kabul attack?\nwhat's the weather like?\n\n")
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["matched"] is True and first["id"] == "attack-claimed-by"
    assert first["quote"] and first["answer"] and first["score"] > 0
    assert set(first) >= {"question", "matched", "id", "answer", "quote", "score", "suggestions"}
    assert second["matched"] is False and second["id"] is None and second["answer"] is None
    for suggestion in first["suggestions"]:
        assert set(suggestion) == {"id", "question", "score"}


def test_ask_json_with_arguments() -> None:
    done = run("ask", "--json", "hello", "asdfghjkl")
    hello, gibberish = (json.loads(line) for line in done.stdout.splitlines())
    assert hello["verdict"] == "small_talk" and hello["matched"] is False
    assert gibberish["verdict"] == "none"


def test_chat_answers_like_ask() -> None:
    done = run("chat", stdin="What is ISIS-K?\n/topics\n/quit\n")
    assert done.returncode == 0, done.stderr
    assert "branch of the Islamic State" in done.stdout
    assert "Questions I can answer" in done.stdout


def test_validate_ok_on_shipped_file() -> None:
    done = run("validate")
    assert done.returncode == 0
    assert "OK" in done.stdout


@pytest.mark.parametrize(
    "content",
    [b"entries: [\n", b"", b"- a\n", b"entries:\n  - 3\n", b"entries:\n  - id: x\n", b"\xff\xfe"],
)
def test_validate_bad_files_exit_1_without_traceback(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "article.md").write_bytes((ROOT / "knowledge" / "article.md").read_bytes())
    qa = tmp_path / "qa.yaml"
    qa.write_bytes(content)
    done = run("validate", str(qa))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert str(qa) in done.stderr
    assert "problem" in done.stderr.splitlines()[-1]


def test_validate_missing_path_and_directory(tmp_path: Path) -> None:
    for target in (tmp_path / "missing.yaml", tmp_path):
        done = run("validate", str(target))
        assert done.returncode == 1
        assert "Traceback" not in done.stderr


def test_run_without_token_points_to_chat() -> None:
    done = run("run", env={"TELEGRAM_BOT_TOKEN": ""})
    assert done.returncode == 2
    assert "python -m bot chat" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_bad_setting_is_named() -> None:
    done = run("ask", "hi", env={"ADMIN_IDS": "alice"})
    assert done.returncode == 2
    assert "ADMIN_IDS" in done.stderr and "Traceback" not in done.stderr
