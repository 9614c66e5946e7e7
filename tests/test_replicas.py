"""Three webhook replicas behind nginx, sharing one PostgreSQL, as `compose.yaml` runs them.

Real processes: a throwaway PostgreSQL (the `postgres_server` fixture), nginx on a
loopback port from a config generated here, `python -m bot setup` once, then three
`python -m bot run --webhook --no-setup` replicas, and the Bot API stand-in with
`WebhookDelivery` re-sending what nginx did not get acknowledged (as Telegram does).
Skipped only where the nginx binary is missing (`.ci/run` installs it).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from helpers.botapi import BotApiStandin
from helpers.faults import WebhookDelivery
from helpers.postgres import PostgresServer, free_port
from helpers.waiting import until

from bot.store.base import ballot_hash

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
)
REPLICAS = 3
USERS = 30
RATE_LIMIT = 15
VOTE_KEY = "replica-test-vote-key"
ON_TOPIC = ["What is ISIS-K?", "who claimed the attack", "how many died", "when was isis-k formed"]

pytestmark = [
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (.ci/run does)"),
    pytest.mark.xdist_group("processes"),  # never beside another suite of real processes
]


def nginx_conf(folder: Path, port: int, upstreams: list[int]) -> str:
    """The load balancer: round robin over the replicas; a replica that refuses the
    connection is passed over (the POST was never sent, so that is safe)."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    servers = "".join(
        f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=30s;\n" for p in upstreams
    )
    temp = "".join(
        f"  {kind}_temp_path {folder}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
{temp}  upstream bot {{
{servers}  }}
  server {{
    listen 127.0.0.1:{port};
    location /telegram {{ proxy_pass http://bot; proxy_read_timeout 60s; }}
    location /healthz {{ proxy_pass http://bot; }}
  }}
}}
"""


def bot_command(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m bot ARGS` with its log in a file (a pipe nobody reads would block it)."""
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            cwd=ROOT,
            env={**os.environ, "PTB_TIMEDELTA": "true", **env},
            stdout=handle,
            stderr=handle,
        )


async def finished(process: subprocess.Popen[bytes], timeout: float = 60) -> int:
    code = await asyncio.wait_for(asyncio.to_thread(process.wait), timeout)
    return int(code)


async def versions(ports: list[int]) -> list[Any]:
    """Each replica's served knowledge version (None where it does not answer)."""
    found: list[Any] = []
    async with httpx.AsyncClient(trust_env=False, timeout=1) as client:
        for port in ports:
            try:
                found.append((await client.get(f"http://127.0.0.1:{port}/healthz")).json())
            except httpx.HTTPError:
                found.append(None)
    return [f and f.get("knowledge_version") for f in found]


def tag(n: int) -> str:
    """A word of letters unique to `n` (numbers might be masked as personal data)."""
    return "".join("bcdfghjklmnpqrstvwxz"[int(d)] for d in f"{n:03d}")


async def test_three_replicas_behind_nginx_answer_once_follow_one_version_and_share_a_budget(
    standin: BotApiStandin, postgres_server: PostgresServer, shipped_copy: Path, tmp_path: Path
) -> None:
    assert NGINX is not None
    url = postgres_server.fresh_database()
    ports = [free_port() for _ in range(REPLICAS)]
    lb_port = free_port()
    env = {
        "TELEGRAM_BOT_TOKEN": standin.token,
        "TELEGRAM_BASE_URL": standin.api_base_url,
        "DATABASE_URL": url,
        "QA_FILE": str(shipped_copy),
        "WEBHOOK_URL": "https://bot.example.org",
        "WEBHOOK_SECRET": "replica-secret",
        "WEBHOOK_LISTEN": "127.0.0.1",
        "VOTE_KEY": VOTE_KEY,
        "SEND_RATE_LIMIT": str(RATE_LIMIT),
        "USER_BUDGET": "1000",
        "RUN_SETUP": "0",
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    # The deploy step, once: webhook and menus.
    setup = bot_command("setup", env=env, log=logs / "setup.log")
    assert await finished(setup) == 0, (logs / "setup.log").read_text()
    nginx_dir = tmp_path / "nginx"
    nginx_dir.mkdir()
    (nginx_dir / "nginx.conf").write_text(nginx_conf(nginx_dir, lb_port, ports))
    with (nginx_dir / "stderr.log").open("wb") as errors:
        lb = subprocess.Popen(
            [NGINX, "-c", str(nginx_dir / "nginx.conf"), "-p", str(nginx_dir)],
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    replicas = [
        bot_command("run", "--webhook", env={**env, "PORT": str(p)}, log=logs / f"r{i}.log")
        for i, p in enumerate(ports)
    ]
    rng = random.Random(10)
    last_click: dict[int, bool] = {}
    asked: list[dict[str, Any]] = []
    off_topic: list[str] = []
    clicks: list[dict[str, Any]] = []

    def push_round(round_: int, questions: int, votes: int) -> None:
        for u in range(USERS):
            user = 7000 + u
            for q in range(questions):
                text = ON_TOPIC[(u + q + round_) % len(ON_TOPIC)]
                asked.append(standin.push_message(text, user_id=user, chat_id=user))
            question = f"what is a good pasta recipe for dinner {tag(u)} {tag(round_)}"
            off_topic.append(question)
            asked.append(standin.push_message(question, user_id=user, chat_id=user))
            for _ in range(votes):  # on one earlier answer of theirs; the last click wins
                up = rng.random() < 0.5
                last_click[user] = up
                data = f"v:what-is-isis-k:{'+' if up else '-'}"
                clicks.append(
                    standin.push_callback_query(data, message_id=1, chat_id=user, user_id=user)
                )

    try:
        for _ in range(300):  # every replica up, serving the first version (1)
            if await versions(ports) == [1] * REPLICAS:
                break
            await asyncio.sleep(0.1)
        assert await versions(ports) == [1] * REPLICAS
        hook_url = f"http://127.0.0.1:{lb_port}/telegram"
        async with WebhookDelivery(standin, hook_url, attempts=1000, max_backoff=0.2) as hook:
            push_round(0, questions=2, votes=4)
            total = len(asked)
            await until(lambda: len(standin.delivered()) >= total // 4, timeout=30, what="load")
            # A new knowledge version, published mid-run: every replica serves it in 2 s.
            with shipped_copy.open("a", encoding="utf-8") as qa:
                qa.write("\n# edited while serving\n")
            publish = bot_command("publish", env=env, log=logs / "publish.log")
            assert await finished(publish) == 0, (logs / "publish.log").read_text()
            published = time.monotonic()
            while await versions(ports) != [2] * REPLICAS:
                assert time.monotonic() - published < 2.0, await versions(ports)
                await asyncio.sleep(0.05)
            # One replica killed mid-run; nginx passes over it, Telegram re-sends.
            await until(lambda: len(standin.delivered()) >= total // 2, timeout=30, what="more")
            replicas[1].send_signal(signal.SIGKILL)
            await finished(replicas[1])
            push_round(1, questions=1, votes=2)
            await hook.wait_idle(timeout=45)
            assert not hook.given_up
    finally:
        for process in replicas:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = [await finished(p, timeout=30) for p in replicas]
        lb.send_signal(signal.SIGQUIT)
        await finished(lb, timeout=10)  # type: ignore[arg-type]
    assert codes[0] == codes[2] == 0 and codes[1] == -signal.SIGKILL
    for log in logs.iterdir():
        assert "Traceback" not in log.read_text(), log.name

    # Every question (and off-topic question) answered exactly once, every click answered.
    answers = standin.answers(asked + clicks)
    twice = [uid for uid, replies in answers.items() if len(replies) > 1]
    lost = [uid for uid, replies in answers.items() if not replies]
    assert not twice, f"answered more than once: {twice}"
    # An update the killed replica had claimed but not answered is taken over by its
    # re-delivery once the replica's heartbeat goes stale (Store.claim_update). The one
    # exception is by design (at most once, bot.telegram.admission): an update the killed
    # replica had marked "sending" (finished just before its sendMessage) whose message
    # had not reached Telegram yet. Such an update was never acknowledged (its first POST
    # failed), and its re-delivery was found finished. A chat may miss a reply only if it
    # holds such an update, and no more replies than it holds of them.
    with psycopg.connect(url) as conn:
        claims = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT update_id, holder, claimed_at, finished_at FROM handled_updates"
            )
        }
        beats = conn.execute("SELECT instance, seen_at FROM replicas").fetchall()
    done = {uid for uid, (_, _, finished) in claims.items() if finished is not None}

    def warnings(folder: Path) -> list[str]:
        """Every replica's warnings and errors: a send given up says so there."""
        return [
            f"{log.name}: {line}"
            for log in sorted(folder.glob("r*.log"))
            for line in log.read_text().splitlines()
            if " WARNING " in line or " ERROR " in line
        ][:20]

    def story(uid: int) -> str:
        """What happened to one update: every POST, and its claim in the database."""
        posts = [(a.status, a.error) for a in hook.log if a.update_id == uid]
        return f"{uid}: POSTs {posts}, claim (holder, claimed, finished) {claims.get(uid)}"

    first_try = {}
    for attempt in hook.log:
        first_try.setdefault(attempt.update_id, attempt.status)
    in_flight_at_kill = {uid for uid, status in first_try.items() if status != 200 and uid in done}
    chat_of = {u["update_id"]: u["message"]["chat"]["id"] for u in asked}
    for chat in {chat_of[uid] for uid in lost if uid in chat_of}:
        missing = [uid for uid in lost if chat_of.get(uid) == chat]
        window = [uid for uid in in_flight_at_kill if chat_of.get(uid) == chat]
        assert len(missing) <= len(window), (
            f"chat {chat} lost {missing}, but only {window} were in flight at the kill; "
            + "; ".join(story(uid) for uid in missing)
            + f"; replicas (instance, last heartbeat): {beats}; "
            + "; ".join(warnings(logs))
        )
    assert not [uid for uid in lost if uid not in chat_of], f"a click went unanswered: {lost}"
    assert all(answers[uid] for uid in (u["update_id"] for u in asked[: USERS // 2])), (
        "an update handled before the kill was lost"
    )
    # Every off-topic question logged exactly once (a re-sent update is not logged again).
    with psycopg.connect(url) as conn:
        logged = [row[0] for row in conn.execute("SELECT text FROM unanswered").fetchall()]
        ballots = dict(conn.execute("SELECT ballot, up FROM votes").fetchall())
    assert sorted(q for q in logged if "pasta" in q) == sorted(off_topic)
    # Each person's vote is their last click, whichever replica took which click.
    key = VOTE_KEY.encode()
    for user, up in last_click.items():
        assert ballots[ballot_hash(key, f"{user}:1", str(user))] is up, user
    # The three replicas together never sent more than the limit in any one second.
    times = sorted(e.at for e in standin.exchanges if e.method == "sendMessage")
    busiest = max(sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times))
    assert busiest <= RATE_LIMIT, busiest
    # Setup was the deploy step's alone: the replicas registered nothing.
    assert len(standin.sent("setWebhook")) == 1
