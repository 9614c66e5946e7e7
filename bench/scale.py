"""Measure the big-file floors of issue 10: a 10,000-entry Q&A file in a running bot.

    python bench/scale.py                 the table for the README
    python bench/scale.py --quick         fewer entries and a shorter load
    python bench/scale.py --entries 2000  another file size

One bot process (`python -m bot run`, every setting at its default) serves a generated
file of N entries (bench/benchmark.py's generator: the shipped entries, then
recombinations of their words) against the test suite's Bot API stand-in on 127.0.0.1.
Questions arrive at a steady rate from many private chats; mid-run the file is rewritten
(one answer changed), so the bot reloads and rebuilds its whole index while answering.
Latency runs from the moment a question is queued at the stand-in to the moment the
bot's reply reaches it; "during the reload" means from the edit to the log line that
says the new version is served. Memory is the process's VmRSS and VmHWM from /proc.

Progress goes to stderr; a Markdown table (floor, measured, pass/fail) to stdout. Exits 1
if a floor fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmark import generated_file
from botrun import BotProcess, Replies, fingerprint, percentile, until
from reliability import CANDIDATES, WARMUP_CHAT, Row, Run, Scale, ask, footer, table

from bot.knowledge import load_knowledge
from bot.matching import Matcher

RELOADED = "Knowledge reloaded"
"""What the bot logs once a changed file is served."""


@dataclass(frozen=True)
class Size:
    entries: int
    rate: float  # questions a second
    seconds: float  # of load, the reload in its middle


FULL = Size(10_000, 20.0, 40.0)
QUICK = Size(2_000, 20.0, 20.0)


def load_and_index(qa: Path) -> tuple[float, float]:
    """Seconds to load, check and index `qa` in this process, and to build the matcher."""
    start = time.perf_counter()
    knowledge = load_knowledge(qa)
    loaded = time.perf_counter()
    Matcher(knowledge)
    return loaded - start, time.perf_counter() - loaded


async def reload_under_load(run: Run, size: Size, qa: Path) -> list[Row]:
    load, index = load_and_index(qa)
    run.say(f"in this process: load and check {load:.2f} s, index {index:.2f} s")
    rows: list[Row] = [
        (
            f"load, check and index {size.entries:,} entries ≤ 1 s",
            f"{load + index:.2f} s (load and check {load:.2f} s, index {index:.2f} s)",
            load + index <= 1.0,
        )
    ]
    from helpers.botapi import BotApiStandin

    async with BotApiStandin() as standin, Replies(standin) as replies:
        bot = await run.polling_bot(standin, "big-file", QA_FILE=qa)
        for text in CANDIDATES:
            ask(standin, WARMUP_CHAT, text)
        await until(lambda: replies.delivered() >= len(CANDIDATES), 120, "warm-up")
        idle = bot.process.memory()
        pushed: dict[int, list[float]] = {}
        count = int(size.rate * size.seconds)
        edit_at = size.seconds / 2
        edited: list[float] = []
        reloaded: float | None = None  # when the log first said so (checked every 0.1 s)
        start = time.monotonic()
        for i in range(count):
            delay = start + i / size.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if not edited and time.monotonic() - start >= edit_at:
                text = qa.read_text(encoding="utf-8")
                qa.write_text(text.replace("answer: ", "answer: Edited. ", 1), encoding="utf-8")
                edited.append(time.monotonic())
                run.say("edited the file: the bot reloads while answering")
            chat = 10_000 + i
            ask(standin, chat, CANDIDATES[i % len(CANDIDATES)])
            pushed[chat] = [time.monotonic()]
            if reloaded is None and i % 2 == 0 and RELOADED in bot.process.log():
                reloaded = time.monotonic()
        await until(lambda: replies.delivered(pushed) >= count, 60, "every answer", every=0.05)
        if reloaded is None:
            await until(lambda: RELOADED in bot.process.log(), 120, "the reload", every=0.05)
            reloaded = time.monotonic()
        after = bot.process.memory()
        await bot.stop()
    during, outside = [], []  # outside: before the edit; during: from it to the reload
    for chat, (asked,) in pushed.items():
        latency = replies.ok_times(chat)[0] - asked
        if asked < edited[0]:
            outside.append(latency)
        elif asked <= reloaded:
            during.append(latency)
    after_reload = [
        replies.ok_times(chat)[0] - asked
        for chat, (asked,) in pushed.items()
        if reloaded < asked <= reloaded + 2
    ]
    if os.environ.get("SCALE_DEBUG"):  # every answer: asked (s after the edit), latency
        for chat, (asked,) in sorted(pushed.items()):
            latency = replies.ok_times(chat)[0] - asked
            print(f"{asked - edited[0]:.2f} {latency:.3f}", file=sys.stderr)
    p99_in, p99_out = percentile(during or [0.0], 0.99), percentile(outside, 0.99)
    p99_next = percentile(after_reload or [0.0], 0.99)
    run.say(
        f"reload took {reloaded - edited[0]:.1f} s; p99 {p99_in * 1000:.0f} ms during it "
        f"({len(during)} answers), {p99_out * 1000:.0f} ms outside ({len(outside)})"
    )
    rows += [
        (
            f"reload of {size.entries:,} entries under {size.rate:.0f} questions/s: "
            "p99 during ≤ 2 × p99 outside",
            f"{p99_in * 1000:.0f} ms during ({len(during)} answers; reload took "
            f"{reloaded - edited[0]:.1f} s) vs {p99_out * 1000:.0f} ms before it "
            f"({len(outside)} answers); {p99_next * 1000:.0f} ms in the 2 s after it",
            bool(during) and max(p99_in, p99_next) <= 2 * p99_out,
        ),
        (
            f"RSS with {size.entries:,} entries ≤ 150 MB",
            f"{after.rss_mb:.0f} MB after the reload ({idle.rss_mb:.0f} MB before it; "
            f"peak {after.peak_mb:.0f} MB)",
            max(after.rss_mb, idle.rss_mb) <= 150,
        ),
    ]
    return rows


async def measure(args: argparse.Namespace) -> int:
    size = QUICK if args.quick else FULL
    if args.entries:
        size = Size(args.entries, size.rate, size.seconds)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        run = Run(Scale(), Path(tmp), Path(tmp) / "logs")
        version = fingerprint(run.source)
        run.say(f"generating {size.entries:,} entries (bot source {version})…")
        folder = Path(tmp) / "big"
        folder.mkdir()
        qa = generated_file(folder, size.entries)
        try:
            rows = await reload_under_load(run, size, qa)
        finally:
            await BotProcess.kill_all()
        took = time.monotonic() - run.start
    print(table(rows))
    print(f"\n{footer(f'{size.entries:,} entries', took, version)}.")
    return 0 if all(ok for _, _, ok in rows) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 entries, shorter load")
    parser.add_argument("--entries", type=int, help="entries in the generated file")
    return asyncio.run(measure(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
