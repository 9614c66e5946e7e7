"""Measure the reliability floors of issue 9: faults, crashes, big POSTs, load, floods.

    python bench/reliability.py              the full run, the table for the README
    python bench/reliability.py --quick      fewer questions, one round of each
    python bench/reliability.py --logs DIR   keep every process's log in DIR
    python bench/reliability.py --only flood one scenario (a word of its name)

Every scenario runs the real bot as a process (`python -m bot run`, `--webhook` where a
floor says so) against the test suite's Bot API stand-in (tests/helpers/botapi.py) on
127.0.0.1, with its fault layer (tests/helpers/faults.py) where a floor asks for faults.
Settings are the bot's defaults unless a floor says otherwise (each row says so). Memory
is the process's VmRSS from /proc; latency runs from the moment a question is queued at
the stand-in to the moment the bot's sendMessage reaches it. Replies are counted exactly:
a warm-up chat learns the reply to each question, and each user asks each question once.

Progress goes to stderr; a Markdown table (floor, measured, pass/fail) to stdout. Exits 1
if a floor fails. Every load loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # the bot, if it is not installed
# The Bot API stand-in and its fault layer live with the tests, in tests/helpers, whose
# modules import each other as the top-level package `helpers`: so tests/ goes on the path.
sys.path.insert(0, str(ROOT / "tests"))

from botrun import (  # noqa: E402
    BotProcess,
    Replies,
    Tally,
    bot_env,
    default,
    fingerprint,
    free_port,
    percentile,
    snapshot,
    tally,
    until,
)
from helpers.botapi import BotApiStandin  # noqa: E402
from helpers.faults import Fault, WebhookDelivery  # noqa: E402
from helpers.waiting import listening  # noqa: E402

CANDIDATES = [
    "What is ISIS-K?",
    "who claimed the attack",
    "how many people died",
    "when was the article published",
    "what is the difference between isis-k and the taliban",
    "what does al qaeda want",
    "where is khorasan",
    "is isis-k at war with the taliban",
    "who started isis k",
    "why is isis k called al qaeda on steroids",
    "which provinces does iskp control",
    "what's the weather in kabul",
    "tell me a joke",
    "hi",
]
"""Questions of every kind: answered, declined (logged as unanswered), small talk."""
WARMUP_CHAT = 999
RETRY_AFTER = 2
"""Seconds a 429 of the fault mix asks the bot to wait."""
SEED = 9
WEBHOOK_SECRET = "bench-secret"
HUNDRED_MB = 100 * 1024 * 1024
ALREADY_HANDLED = "was delivered again and is already handled"
"""What the bot logs when it skips a re-delivered update it has claimed before."""
Row = tuple[str, str, bool]
"""floor, measured, passed."""


def fault_mix() -> dict[Fault, float]:
    """Issue 9's mix, on every sendMessage: 10 % 5xx (half JSON 500s, half nginx HTML
    502 pages), 5 % 429 with retry_after, 3 % connection resets (none of those took
    effect), 2 % answers held past the read timeout (the message was sent; the answer is
    late)."""
    held = default("send_read_timeout") + 1.0
    return {
        Fault.error(500): 0.05,
        Fault.html(502): 0.05,
        Fault.flood(RETRY_AFTER): 0.05,
        Fault.reset(): 0.03,
        Fault.hold(held, applied=True): 0.02,
    }


@dataclass(frozen=True)
class Scale:
    users: int = 30  # private chats asking questions under faults / none / a crash
    per_user: int = 10  # distinct questions each
    webhook_rounds: int = 3  # crash, re-delivery and restart, each on a fresh bot
    load_seconds: float = 60.0  # sustained 25 questions/s
    throughput_questions: int = 3000
    throughput_rounds: int = 3  # each bot's median counts
    memory_messages: int = 10_000
    flood: int = 300  # messages from one user in flood_seconds
    flood_seconds: float = 10.0


FULL = Scale()
QUICK = replace(
    FULL,
    per_user=5,
    webhook_rounds=1,
    load_seconds=15.0,
    throughput_questions=1000,
    throughput_rounds=1,
    memory_messages=2000,
)


class Run:
    """What every scenario shares: the scale, fresh folders, logs, progress lines."""

    def __init__(self, scale: Scale, work: Path, logs: Path) -> None:
        self.scale, self.work, self.logs = scale, work, logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.source = snapshot(work / "source")  # the version of the bot this run measures
        self.start = time.monotonic()
        self._count = 0
        self.tracebacks: dict[str, int] = {}  # log file -> tracebacks, every process

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f} s] {message}", file=sys.stderr, flush=True)

    def fresh(self, name: str) -> tuple[Path, Path]:
        """A new data folder and log file for one process."""
        self._count += 1
        label = f"{self._count:02d}-{name}"
        data = self.work / label
        data.mkdir()
        return data, self.logs / f"{label}.log"

    async def polling_bot(self, standin: BotApiStandin, name: str, **settings: object) -> Bot:
        """`python -m bot run` on `standin`, once it polls for updates."""
        data, log = self.fresh(name)
        polls = sum(1 for e in standin.exchanges if e.method == "getUpdates")
        env = bot_env(standin, data, self.source, **settings)
        process = await BotProcess.bot(env, log, source=self.source)
        await until(
            lambda: sum(1 for e in standin.exchanges if e.method == "getUpdates") > polls,
            timeout=60,
            what=f"{name}: the bot polling",
            process=process,
        )
        return Bot(self, process, name, data)

    async def webhook_bot(
        self, standin: BotApiStandin, name: str, port: int, data: Path | None = None
    ) -> Bot:
        """`python -m bot run --webhook` on 127.0.0.1:`port`, once it listens."""
        fresh, log = self.fresh(name)
        data = data or fresh
        env = bot_env(
            standin,
            data,
            self.source,
            WEBHOOK_URL="https://bot.example.org",
            WEBHOOK_SECRET=WEBHOOK_SECRET,
            WEBHOOK_LISTEN="127.0.0.1",
            PORT=port,
        )
        hooks = len(standin.sent("setWebhook"))
        process = await BotProcess.bot(env, log, "--webhook", source=self.source)
        await until(
            lambda: len(standin.sent("setWebhook")) > hooks,
            timeout=60,
            what=f"{name}: setWebhook",
            process=process,
        )
        await listening(port, timeout=30.0)
        return Bot(self, process, name, data)


@dataclass
class Bot:
    run: Run
    process: BotProcess
    name: str
    data: Path  # its data folder (database)

    async def stop(self) -> int | None:
        code = await self.process.stop()
        self.run.tracebacks[self.process.log_path.name] = self.process.tracebacks()
        return code

    async def kill(self) -> None:
        await self.process.kill()
        self.run.tracebacks[self.process.log_path.name] = self.process.tracebacks()


def ask(standin: BotApiStandin, chat: int, text: str) -> dict[str, Any]:
    """A question from user `chat` in their private chat."""
    return standin.push_message(text, user_id=chat, chat_id=chat, first_name="U", username=None)


async def learn_replies(standin: BotApiStandin, replies: Replies, wanted: int) -> dict[str, str]:
    """Ask every candidate once in a warm-up chat; keep `wanted` questions whose replies
    differ from every other candidate's, so a reply names its question."""
    for text in CANDIDATES:
        ask(standin, WARMUP_CHAT, text)
    await until(
        lambda: replies.delivered([WARMUP_CHAT]) >= len(CANDIDATES), 60, "the warm-up replies"
    )
    texts = replies.texts(WARMUP_CHAT)
    distinct = {q: t for q, t in zip(CANDIDATES, texts, strict=False) if texts.count(t) == 1}
    if len(distinct) < wanted:
        raise RuntimeError(f"only {len(distinct)} candidates have replies of their own")
    return dict(list(distinct.items())[:wanted])


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} % ({part} of {whole})"


# --- under the fault mix, and at 0 % faults ----------------------------------------------


async def answered_once(run: Run, *, faults: bool) -> tuple[Tally, dict[str, Any]]:
    """users x per_user questions, all queued at once; with or without the fault mix."""
    scale, name = run.scale, "fault-mix" if faults else "no-faults"
    async with BotApiStandin() as standin, Replies(standin) as replies:
        bot = await run.polling_bot(standin, name)
        expected = await learn_replies(standin, replies, scale.per_user)
        if faults:
            standin.faults.randomly(["sendMessage"], fault_mix(), seed=SEED)
        asked, updates = [], []
        for question in expected:
            for user in range(scale.users):
                chat = 3000 + user
                updates.append(ask(standin, chat, question))
                asked.append((chat, question))
        run.say(f"{name}: {len(asked)} questions from {scale.users} users queued")
        try:
            took = await until(
                lambda: tally(replies, asked, expected).lost == 0,
                timeout=150,
                what="every question answered",
                process=bot.process,
                every=0.1,
            )
            run.say(f"{name}: every question answered after {took:.1f} s")
        except TimeoutError as exc:
            run.say(f"{name}: {exc}")
        # A retry or a late duplicate would come within the backoff cap (5 s) or a hold.
        await replies.quiet(seconds=8.0 if faults else 2.0, timeout=60)
        result = tally(replies, asked, expected)
        stand_in_view = standin.answers(updates)
        info = {
            "alive": bot.process.alive,
            "injected": dict(standin.faults.counts()),
            "standin_lost": sum(1 for r in stand_in_view.values() if not r),
            "standin_twice": sum(1 for r in stand_in_view.values() if len(r) > 1),
        }
        info["exit"] = await bot.stop()
        info["tracebacks"] = bot.process.tracebacks()
    run.say(f"{name}: {result}; {info}")
    return result, info


async def under_faults(run: Run) -> list[Row]:
    result, info = await answered_once(run, faults=True)
    injected = ", ".join(f"{n} × {label}" for label, n in sorted(info["injected"].items()))
    alive = "alive" if info["alive"] else "**dead**"
    tracebacks = info["tracebacks"]
    how = f"{alive} (faults injected: {injected}; exit {info['exit']} on SIGTERM)"
    lost_ok = result.lost <= 0.01 * result.asked
    twice_ok = result.twice <= 0.005 * result.asked
    return [
        ("Fault mix: questions unanswered ≤ 1 %", share(result.lost, result.asked), lost_ok),
        ("Fault mix: answered twice ≤ 0.5 %", share(result.twice, result.asked), twice_ok),
        ("Fault mix: tracebacks in the bot's log: 0", str(tracebacks), tracebacks == 0),
        ("Fault mix: process alive", how, info["alive"]),
    ]


async def without_faults(run: Run) -> list[Row]:
    result, _ = await answered_once(run, faults=False)
    text = f"{result.once} of {result.asked} once ({result.lost} lost, {result.twice} twice)"
    exact = result.once == result.asked and result.stray == 0
    return [("0 % faults: every question answered exactly once", text, exact)]


# --- webhook: SIGKILL mid-load, Telegram-style re-delivery, restart -----------------------


async def webhook_crash(run: Run) -> list[Row]:
    scale = run.scale
    asked_total = lost = twice = resent = given_up = skipped = 0
    notes = []
    for round_ in range(scale.webhook_rounds):
        kill_share = (round_ + 1) / (scale.webhook_rounds + 1)
        async with BotApiStandin() as standin, Replies(standin) as replies:
            port = free_port()
            bot = await run.webhook_bot(standin, f"webhook-{round_ + 1}", port)
            data = bot.data  # the restart keeps the database, and so its claims
            url = f"http://127.0.0.1:{port}/telegram"
            async with WebhookDelivery(standin, url, attempts=500, max_backoff=0.5) as hook:
                expected = await learn_replies(standin, replies, scale.per_user)
                asked = []
                for question in expected:
                    for user in range(scale.users):
                        ask(standin, 4000 + user, question)
                        asked.append((4000 + user, question))
                chats = sorted({chat for chat, _ in asked})
                kill_at = int(len(asked) * kill_share)
                await until(
                    lambda chats=chats, kill_at=kill_at: replies.delivered(chats) >= kill_at,
                    60,
                    "answers before the kill",
                    process=bot.process,
                    every=0.005,
                )
                in_hand = len(standin.pending)
                await bot.kill()
                done = replies.delivered(chats)
                run.say(
                    f"webhook round {round_ + 1}: SIGKILL after {done} of {len(asked)} "
                    f"answers, {in_hand} updates unacknowledged; restarting"
                )
                bot = await run.webhook_bot(standin, f"webhook-{round_ + 1}-restart", port, data)
                try:
                    await hook.wait_idle(timeout=120)
                except TimeoutError:
                    run.say("webhook: re-delivery did not finish within 120 s")
                await replies.quiet(seconds=2.0, timeout=30)
                result = tally(replies, asked, expected)
                resent += sum(1 for tries in hook.acknowledged.values() if tries > 1)
                given_up += len(hook.given_up)
            await bot.stop()
            skipped += bot.process.log().count(ALREADY_HANDLED)
        run.say(f"webhook round {round_ + 1}: {result}")
        asked_total += result.asked
        lost += result.lost
        twice += result.twice
        notes.append(f"{done}")
    how = (
        f"of {asked_total} questions ({scale.webhook_rounds} kills, after "
        f"{'/'.join(notes)} answers; {resent} updates re-sent, {given_up} given up; "
        f"the restarted bot skipped {skipped} as already handled)"
    )
    return [
        ("Webhook SIGKILL + re-delivery + restart: lost 0", f"{lost} {how}", lost == 0),
        ("Webhook SIGKILL + re-delivery + restart: answered twice 0", f"{twice}", twice == 0),
    ]


# --- webhook: a 100 MB POST without the secret ---------------------------------------------


async def post_without_secret(port: int, size: int) -> tuple[int | None, int]:
    """POST `size` bytes of JSON to the webhook without the secret header, as fast as the
    bot reads them; the status it answered (None: none) and the bytes it took."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST /telegram HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    )
    writer.write(head.encode())
    chunk = b'{"update_id": 1, "message": {"text": "' + b"x" * (1024 * 1024 - 40)
    answer = asyncio.create_task(reader.readline())
    sent = 0
    try:
        async with asyncio.timeout(60):
            while sent < size and not answer.done():
                piece = chunk[: size - sent]
                writer.write(piece)
                await writer.drain()
                sent += len(piece)
            line = await asyncio.wait_for(answer, 10)
    except (ConnectionError, TimeoutError):
        line = answer.result() if answer.done() and not answer.exception() else b""
    finally:
        answer.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    parts = line.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    return status, sent


async def memory_during(bot: Bot, work: Awaitable[Any]) -> tuple[float, Any]:
    """The most RSS grew (MB) while `work` ran and for a second after, sampled every 5 ms
    and from VmHWM; and what `work` returned."""
    before = bot.process.memory()
    samples = [before.rss_mb]
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            samples.append(bot.process.memory().rss_mb)
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    result = await work
    await asyncio.sleep(1.0)
    stop.set()
    await sampler
    after = bot.process.memory()
    growth = max(max(samples) - before.rss_mb, after.peak_mb - before.peak_mb)
    return growth, result


async def big_post(run: Run) -> list[Row]:
    async with BotApiStandin() as standin:
        port = free_port()
        bot = await run.webhook_bot(standin, "webhook-post", port)
        url = f"http://127.0.0.1:{port}/telegram"
        async with WebhookDelivery(standin, url) as hook:  # warm: a few real updates first
            for text in CANDIDATES[:5]:
                ask(standin, 5000, text)
            await hook.wait_idle(timeout=30)
        await asyncio.sleep(1.0)
        idle = bot.process.memory().rss_mb
        one, (status, sent) = await memory_during(bot, post_without_secret(port, HUNDRED_MB))
        run.say(f"100 MB POST: answered {status}, {sent / 2**20:.1f} MB taken, RSS +{one:.2f} MB")
        four, outcomes = await memory_during(
            bot, asyncio.gather(*(post_without_secret(port, HUNDRED_MB) for _ in range(4)))
        )
        run.say(f"4 × 100 MB POSTs at once: {outcomes}, RSS +{four:.2f} MB")
        alive = bot.process.alive
        await bot.stop()
    statuses = "/".join(str(code) for code, _ in outcomes)
    written = max(taken for _, taken in [(status, sent), *outcomes]) / 2**20
    text = (
        f"+{one:.1f} MB (idle {idle:.0f} MB; answered {status}; 4 at once: +{four:.1f} MB, "
        f"{statuses}; at most {written:.0f} MB of a body written before the drop)"
    )
    return [("100 MB POST without the secret: RSS growth < 5 MB", text, one < 5 and alive)]


# --- sustained load: p99 latency at 25 questions/s; throughput without the limiter ----------


async def paced(rate: float, count: int, push: Callable[[int], None], seconds: float) -> float:
    """Call `push(i)` for i < count at `rate` a second, on a fixed schedule (no drift);
    the rate achieved. Stops after `seconds` + 5 s whatever happened."""
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if time.monotonic() - start > seconds + 5:
            raise TimeoutError("the load generator fell behind")
        push(i)
    return count / max(time.monotonic() - start, 1e-9) if count > 1 else rate


async def sustained_latency(run: Run) -> list[Row]:
    scale, rate, users = run.scale, 25.0, 150
    count = int(rate * scale.load_seconds)
    async with BotApiStandin() as standin, Replies(standin) as replies:
        bot = await run.polling_bot(standin, "latency")  # SEND_RATE_LIMIT: default, 30/s
        for text in CANDIDATES:
            ask(standin, WARMUP_CHAT, text)
        await until(lambda: replies.delivered() >= len(CANDIDATES), 60, "warm-up")
        pushed: dict[int, list[float]] = {}

        def push(i: int) -> None:
            chat = 6000 + i % users
            ask(standin, chat, CANDIDATES[i % len(CANDIDATES)])
            pushed.setdefault(chat, []).append(time.monotonic())

        run.say(f"latency: {count} questions at {rate:.0f}/s from {users} users")
        achieved = await paced(rate, count, push, scale.load_seconds)
        try:
            await until(lambda: replies.delivered(pushed) >= count, 30, "every answer", every=0.1)
        except TimeoutError as exc:
            run.say(f"latency: {exc}")
        latencies, missing = [], 0
        for chat, times in pushed.items():
            arrivals = replies.ok_times(chat)
            missing += max(0, len(times) - len(arrivals))
            latencies += [a - t for a, t in zip(arrivals, times, strict=False)]
        await bot.stop()
    p50, p99, worst = (percentile(latencies, p) for p in (0.5, 0.99, 1.0))
    run.say(f"latency: p50 {p50:.3f} s, p99 {p99:.3f} s, max {worst:.3f} s, {missing} missing")
    text = (
        f"{p99:.2f} s (p50 {p50:.2f} s, max {worst:.2f} s; {count} questions at "
        f"{achieved:.1f}/s, {missing} unanswered)"
    )
    floor = "25 questions/s, send limit 30/s: p99 reply latency ≤ 1 s"
    return [(floor, text, p99 <= 1.0 and missing == 0)]


async def throughput(run: Run, *, echo: bool) -> float:
    """Questions answered per second by a fresh process, all queued at once.

    Fresh each round: httpx's pool keeps every connection a burst opened, and its
    bookkeeping per request grows with them, so rounds on one process are not alike."""
    count, users = run.scale.throughput_questions, run.scale.throughput_questions // 10
    name = "echo-bot" if echo else "throughput"
    async with BotApiStandin() as standin, Replies(standin) as replies:
        if echo:
            data, log = run.fresh(name)
            command = [sys.executable, str(Path(__file__).resolve()), "--echo-bot"]
            env = bot_env(standin, data, run.source)
            process = await BotProcess.start(command, env, log)
            await until(lambda: replies.polls > 0, 60, "the echo bot polling", process=process)
            bot = Bot(run, process, name, data)
        else:
            bot = await run.polling_bot(standin, name, SEND_RATE_LIMIT=0)
        for i in range(50):  # warm-up, in chats of their own
            ask(standin, 8000 + i, CANDIDATES[i % len(CANDIDATES)])
        await until(lambda: replies.delivered() >= 50, 60, "warm-up", process=bot.process)
        chats = [100_000 + u for u in range(users)]  # ten questions each: within USER_BUDGET
        for i in range(count):
            ask(standin, chats[i % users], CANDIDATES[i % len(CANDIDATES)])
        start = time.monotonic()
        await until(
            lambda: replies.delivered(chats) >= count,
            180,
            f"{name}: {count} answers",
            process=bot.process,
            every=0.05,
        )
        last = max(t for chat in chats for t in replies.ok_times(chat))
        connections = standin.connection_count
        await bot.stop()
    rate = count / (last - start)
    run.say(f"{name}: {rate:.0f} answers/s ({connections} connections to the stand-in)")
    return rate


async def throughput_share(run: Run) -> list[Row]:
    ours, echo = [], []
    for _ in range(run.scale.throughput_rounds):  # interleaved, so both see the same machine
        ours.append(await throughput(run, echo=False))
        echo.append(await throughput(run, echo=True))
    ratio = statistics.median(ours) / statistics.median(echo)
    rounds = run.scale.throughput_rounds

    def spread(rates: list[float]) -> str:
        median = f"{statistics.median(rates):.0f}"
        return median if len(rates) == 1 else f"{median} ({min(rates):.0f}-{max(rates):.0f})"

    text = (
        f"{100 * ratio:.0f} % ({spread(ours)} vs {spread(echo)} answers/s; "
        f"{run.scale.throughput_questions} questions queued at once, "
        f"{'median of ' + str(rounds) + ' rounds' if rounds > 1 else 'one round'})"
    )
    return [("SEND_RATE_LIMIT=0: throughput ≥ 80 % of a bare PTB echo bot", text, ratio >= 0.8)]


# --- memory after 10,000 messages --------------------------------------------------------


async def memory_after_messages(run: Run) -> list[Row]:
    count, chunk = run.scale.memory_messages, 500
    users = count // 10  # ten messages each over the run: within USER_BUDGET
    rng = random.Random(SEED)
    words = "kabul taliban weather football price bitcoin airport leader money phone".split()
    async with BotApiStandin() as standin, Replies(standin) as replies:
        bot = await run.polling_bot(standin, "memory", SEND_RATE_LIMIT=0)
        await asyncio.sleep(1.0)
        idle = bot.process.memory().rss_mb
        for start in range(0, count, chunk):
            end = min(count, start + chunk)
            for i in range(start, end):
                kind = rng.random()
                text = rng.choice(CANDIDATES)
                if kind < 0.3:  # off-topic, each one different: logged as unanswered
                    text = f"what about the {rng.choice(words)} of {rng.choice(words)} {i}"
                elif kind < 0.6:
                    text = f"{text} {rng.choice(words)}"
                ask(standin, 10_000 + i % users, text)
            await until(
                lambda end=end: replies.delivered() >= end,
                120,
                "answers",
                process=bot.process,
                every=0.05,
            )
            if end % 2000 == 0:
                run.say(f"memory: {end} messages, RSS {bot.process.memory().rss_mb:.1f} MB")
        await asyncio.sleep(1.0)
        after = bot.process.memory()
        await bot.stop()
    text = f"{after.rss_mb:.1f} MB (idle {idle:.1f} MB before; peak {after.peak_mb:.1f} MB)"
    return [(f"RSS after {count:,} messages ≤ 80 MB", text, after.rss_mb <= 80)]


# --- one user flooding ------------------------------------------------------------------


async def flood(run: Run) -> list[Row]:
    scale, flooder, probes = run.scale, 7001, 10
    async with BotApiStandin() as standin, Replies(standin) as replies:
        bot = await run.polling_bot(standin, "flood")  # USER_BUDGET and the rest: defaults
        for text in CANDIDATES[:5]:
            ask(standin, WARMUP_CHAT, text)
        await until(lambda: replies.delivered() >= 5, 60, "warm-up", process=bot.process)
        # The flood at an even pace; another user's question every second in the middle.
        events = [(i * scale.flood_seconds / scale.flood, flooder) for i in range(scale.flood)]
        step = scale.flood_seconds / probes
        events += [(step / 2 + k * step, 7100 + k) for k in range(probes)]
        events.sort()
        asked_at: dict[int, float] = {}
        start = time.monotonic()
        for i, (due, chat) in enumerate(events):
            delay = start + due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            ask(standin, chat, CANDIDATES[i % len(CANDIDATES)] if chat == flooder else "hi")
            if chat != flooder:
                asked_at[chat] = time.monotonic()
        await until(lambda: all(replies.ok_times(c) for c in asked_at), 30, "the others' answers")
        waits = [replies.ok_times(c)[0] - t for c, t in asked_at.items()]
        await replies.quiet(2.0, 15)
        flooder_got = len(replies.texts(flooder))
        await bot.stop()
    worst = max(waits)
    text = (
        f"{worst:.2f} s at worst ({probes} questions from others during the flood, median "
        f"{statistics.median(waits):.2f} s; the flooder got {flooder_got} replies)"
    )
    return [("One user floods 300 messages in 10 s: another's answer ≤ 2 s", text, worst <= 2)]


# --- the echo bot (run as its own process by the throughput scenario) ----------------------


def echo_bot() -> None:
    """A bare python-telegram-bot echo bot (PTB's examples/echobot.py) with the bot's
    request settings: the same read timeout, connection pools, concurrency and polling."""
    from telegram import Update
    from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters
    from telegram.request import HTTPXRequest

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reply with the user's text."""
        if update.message and update.message.text:
            await update.message.reply_text(update.message.text)

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level="INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its URLs carry the token
    app = (
        ApplicationBuilder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(os.environ["TELEGRAM_BASE_URL"])
        .request(HTTPXRequest(read_timeout=default("send_read_timeout")))
        .get_updates_request(HTTPXRequest(connection_pool_size=1))
        .concurrent_updates(default("concurrent_updates"))
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.run_polling(allowed_updates=Update.ALL_TYPES)


# --- the run ------------------------------------------------------------------------------

SCENARIOS: list[tuple[str, Callable[[Run], Awaitable[list[Row]]]]] = [
    ("Fault mix", under_faults),
    ("0 % faults", without_faults),
    ("Webhook SIGKILL + re-delivery + restart", webhook_crash),
    ("100 MB POST without the secret", big_post),
    ("25 questions/s, send limit 30/s: p99 latency", sustained_latency),
    ("SEND_RATE_LIMIT=0: throughput vs echo bot", throughput_share),
    ("RSS after many messages", memory_after_messages),
    ("One user flooding", flood),
]


def table(rows: list[Row]) -> str:
    lines = ["| floor | measured | result |", "|---|---|---|"]
    lines += [f"| {f} | {m} | {'pass' if ok else '**FAIL**'} |" for f, m, ok in rows]
    return "\n".join(lines)


async def measure(args: argparse.Namespace) -> int:
    scale = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="bench-reliability-") as tmp:
        logs = Path(args.logs).resolve() if args.logs else Path(tmp) / "logs"
        run = Run(scale, Path(tmp), logs)
        mode = "quick" if args.quick else "full"
        version = fingerprint(run.source)
        run.say(f"{mode} run on {os.cpu_count()} cores, bot source {version}; logs in {logs}")
        rows: list[Row] = []
        try:
            for name, scenario in SCENARIOS:
                if args.only and args.only.lower() not in name.lower():
                    continue
                run.say(f"== {name}")
                try:
                    rows += await scenario(run)
                except Exception as exc:  # one broken scenario must not hide the others
                    run.say(f"{name}: not measured: {type(exc).__name__}: {exc}")
                    rows.append((name, f"not measured: {type(exc).__name__}: {exc}", False))
                finally:
                    await BotProcess.kill_all()
        finally:
            await BotProcess.kill_all()
        elsewhere = {log: n for log, n in run.tracebacks.items() if n}
        run.say(f"tracebacks in any process's log: {elsewhere or 'none'}")
        took = time.monotonic() - run.start
    print(table(rows))
    what = f"{'Quick' if args.quick else 'Full'} run"
    source = "(sha256 of bot/*.py and knowledge/, copied at the start)"
    print(f"\n{footer(what, took, version)} {source}.")
    return 0 if all(ok for _, _, ok in rows) else 1


def footer(what: str, seconds: float, version: str) -> str:
    """The line under a table: what ran, how long, on what, which version of the bot."""
    minutes, rest = divmod(seconds, 60)
    return (
        f"{what}: {minutes:.0f} min {rest:.0f} s on {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}; bot source {version}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run")
    parser.add_argument("--logs", metavar="DIR", help="keep every process's log in DIR")
    parser.add_argument("--only", metavar="WORD", help="only the scenarios named with WORD")
    parser.add_argument("--echo-bot", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.echo_bot:  # the reference bot of the throughput floor, as a process of its own
        echo_bot()
        return 0
    return asyncio.run(measure(args))


if __name__ == "__main__":
    sys.exit(main())
