"""Settings: every documented variable, `.env`, and one clear line per mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import DEFAULT_BASE_URL, Settings

VARIABLES = [
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_BASE_URL",
    "QA_FILE",
    "LOG_LEVEL",
    "ADMIN_IDS",
    "DATABASE_PATH",
    "UNANSWERED_MAX_ROWS",
    "UNANSWERED_RETENTION_DAYS",
    "RELOAD_INTERVAL",
    "VOTE_KEY",
    "WEBHOOK_URL",
    "WEBHOOK_SECRET",
    "WEBHOOK_LISTEN",
    "PORT",
    "HEALTH_FILE",
]
README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable of the real environment, and a working folder without `.env`."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_match_the_readme() -> None:
    settings = Settings.from_env()
    assert settings.token.get_secret_value() == ""
    assert settings.base_url == DEFAULT_BASE_URL
    assert settings.log_level == "INFO"
    assert settings.admin_ids == frozenset()
    assert settings.database_path == Path("data/bot.sqlite3")
    assert settings.unanswered_max_rows == 10_000
    assert settings.reload_interval == 0.5
    assert (settings.webhook_url, settings.webhook_listen, settings.webhook_port) == (
        "",
        "0.0.0.0",
        8080,
    )
    assert settings.health_file is None
    assert settings.qa_file.name == "qa.yaml"
    assert settings.article_path == settings.qa_file.with_name("article.md")


def test_every_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "TELEGRAM_BOT_TOKEN": "1:abc",
        "TELEGRAM_BASE_URL": "http://127.0.0.1:9/bot",
        "QA_FILE": "elsewhere/qa.yaml",
        "LOG_LEVEL": "debug",
        "ADMIN_IDS": "12, 34;56",
        "DATABASE_PATH": "db/x.sqlite3",
        "UNANSWERED_MAX_ROWS": "7",
        "RELOAD_INTERVAL": "2.5",
        "VOTE_KEY": "votes",
        "WEBHOOK_URL": "https://bot.example.org",
        "WEBHOOK_SECRET": "s3cret_-",
        "WEBHOOK_LISTEN": "127.0.0.1",
        "PORT": "8443",
        "HEALTH_FILE": "run/health",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    s = Settings.from_env()
    assert s.token.get_secret_value() == "1:abc" and s.base_url == "http://127.0.0.1:9/bot"
    assert s.qa_file == Path("elsewhere/qa.yaml")
    assert s.article_path == Path("elsewhere/article.md")
    assert (s.log_level, s.admin_ids) == ("DEBUG", frozenset({12, 34, 56}))
    assert (s.database_path, s.unanswered_max_rows, s.reload_interval) == (
        Path("db/x.sqlite3"),
        7,
        2.5,
    )
    assert s.ballot_key == b"votes"
    assert (s.webhook_url, s.webhook_secret.get_secret_value()) == (
        "https://bot.example.org",
        "s3cret_-",
    )
    assert (s.webhook_listen, s.webhook_port, s.health_file) == (
        "127.0.0.1",
        8443,
        Path("run/health"),
    )


def test_secrets_never_show_in_a_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:very-secret")
    monkeypatch.setenv("WEBHOOK_SECRET", "also-secret")
    settings = Settings.from_env()
    assert "very-secret" not in repr(settings) and "also-secret" not in repr(settings)
    assert settings.ballot_key == b"123:very-secret"  # the token when VOTE_KEY is unset


def test_dotenv_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "# a comment\nTELEGRAM_BOT_TOKEN=from-dotenv\nLOG_LEVEL=ERROR\nPORT=\nUNRELATED=x\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    settings = Settings.from_env()
    assert settings.token.get_secret_value() == "from-dotenv"
    assert settings.log_level == "WARNING"
    assert settings.webhook_port == 8080  # empty means the default


def test_docker_secret_files_are_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "TELEGRAM_BOT_TOKEN").write_text("123:from-a-secret\n", encoding="utf-8")
    (secrets / "VOTE_KEY").write_text("vote-secret", encoding="utf-8")
    monkeypatch.setenv("VOTE_KEY", "from-the-environment")
    settings = Settings.from_env(secrets_dir=secrets)
    assert settings.token.get_secret_value() == "123:from-a-secret"
    assert settings.vote_key.get_secret_value() == "from-the-environment"
    assert Settings.from_env(secrets_dir=tmp_path / "none").token.get_secret_value() == ""


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("ADMIN_IDS", "alice", "ADMIN_IDS='alice' must be Telegram user ids"),
        ("LOG_LEVEL", "loud", "is not a log level; use DEBUG, INFO, WARNING or ERROR"),
        ("PORT", "70000", "PORT='70000' must be a whole number from 1 to 65535"),
        ("PORT", "http", "PORT='http' must be a whole number"),
        ("UNANSWERED_MAX_ROWS", "0", "UNANSWERED_MAX_ROWS='0' must be a whole number, at least 1"),
        ("RELOAD_INTERVAL", "0.001", "RELOAD_INTERVAL='0.001' must be a number of seconds"),
        ("WEBHOOK_URL", "http://plain.example.org", "must be a public https:// URL"),
        ("WEBHOOK_SECRET", "has spaces!", "WEBHOOK_SECRET may only hold 1-256 characters"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env()
    message = str(caught.value)
    assert expected in message
    assert len(message.splitlines()) == 1


def test_two_bad_values_are_two_lines_and_secrets_are_not_repeated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORT", "0")
    monkeypatch.setenv("WEBHOOK_SECRET", "secret with spaces")
    with pytest.raises(ConfigError) as caught:
        Settings.from_env()
    lines = str(caught.value).splitlines()
    assert sorted(line.split("=")[0].split()[0] for line in lines) == ["PORT", "WEBHOOK_SECRET"]
    assert "secret with spaces" not in str(caught.value)


def test_settings_do_not_import_the_knowledge_module() -> None:
    code = "import sys, bot.settings; print('bot.knowledge' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_readme_documents_every_variable() -> None:
    table = README.read_text(encoding="utf-8").split("## Configuration", 1)[1]
    for name in VARIABLES:
        assert f"| `{name}` |" in table, name
