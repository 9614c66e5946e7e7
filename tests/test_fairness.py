"""Per-user fairness: a budget per sender (and per group), one "slow down" beyond it, and
a flood that never delays anyone else's answer by more than a couple of seconds."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pytest
from helpers.botapi import BotApiStandin
from helpers.running import bot_settings, serve

from bot.telegram.fairness import PRUNE_EVERY, Admission, Budgets
from bot.telegram.handlers import SLOW_DOWN

ROOT = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_budget_is_spent_warned_once_then_dropped_and_refills() -> None:
    clock = Clock()
    budgets = Budgets(budget=3, window=60, clock=clock)
    assert [budgets.admit("u") for _ in range(6)] == [
        *[Admission.OK] * 3,
        Admission.WARN,
        Admission.DROP,
        Admission.DROP,
    ]
    assert budgets.admit("someone else") is Admission.OK
    clock.now += 20  # one message's worth refilled (3 per 60 s)
    assert budgets.admit("u") is Admission.OK  # still flooding: answered at the refill rate
    assert budgets.admit("u") is Admission.DROP  # ...but not told again
    clock.now += 40  # calmed down: the bucket is back to two of three
    assert [budgets.admit("u") for _ in range(4)] == [
        *[Admission.OK] * 2,
        Admission.WARN,  # a new episode: told again, once
        Admission.DROP,
    ]


def test_a_steady_flood_is_told_to_slow_down_once() -> None:
    clock = Clock()
    budgets = Budgets(budget=20, window=60, clock=clock)
    verdicts = []
    for _ in range(600):  # ten minutes of one message a second
        verdicts.append(budgets.admit("flooder"))
        clock.now += 1
    assert verdicts.count(Admission.WARN) == 1
    assert 20 + 190 <= verdicts.count(Admission.OK) <= 20 + 200  # the refill rate


def test_refilled_buckets_are_forgotten() -> None:
    clock = Clock()
    budgets = Budgets(budget=2, window=1, clock=clock)
    for user in range(PRUNE_EVERY - 1):
        budgets.admit(user)
    clock.now += 10
    budgets.admit("last")
    assert len(budgets) == 1  # memory stays flat however many people wrote


async def test_a_flooding_user_does_not_delay_anyone_else(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    qa = Path(shutil.copytree(ROOT / "knowledge", tmp_path / "knowledge")) / "qa.yaml"
    async with BotApiStandin() as api:
        settings = bot_settings(api, qa, tmp_path / "data").model_copy(
            update={"user_budget": 10, "user_budget_window": 60}
        )
        async with serve(api, settings) as bot:
            for i in range(300):  # one person, 300 messages at once
                api.push_message(f"what is isis-k {i}", user_id=6001, chat_id=6001)
            start = time.monotonic()
            api.push_message("who claimed the attack", user_id=6002, chat_id=6002)
            await api.wait_for("sendMessage", where=lambda p: p["chat_id"] == 6002, timeout=5)
            assert time.monotonic() - start < 2.0
            await bot.settle()
    flood = api.texts(6001)
    assert len(flood) == 11  # the budget, then one "slow down"
    assert flood[-1] == SLOW_DOWN and SLOW_DOWN not in flood[:-1]
    warnings = [r for r in caplog.records if "over the budget" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "6001" not in warnings[0].getMessage()  # who it was is not logged
    api.assert_no_errors()


async def test_a_group_is_held_to_telegrams_group_limit(tmp_path: Path) -> None:
    """Many people /ask-ing in one group: 19 answers, then one slow down (20 a minute)."""
    qa = Path(shutil.copytree(ROOT / "knowledge", tmp_path / "knowledge")) / "qa.yaml"
    async with BotApiStandin() as api:
        settings = bot_settings(api, qa, tmp_path / "data").model_copy(
            update={"send_rate_limit": 0}
        )
        async with serve(api, settings) as bot:
            group = -100_777
            for i in range(40):
                api.push_message(
                    "/ask what is isis-k", chat_type="supergroup", chat_id=group, user_id=7000 + i
                )
            await bot.settle()
    answers = api.texts(group)
    assert len(answers) == 20 and answers[-1] == SLOW_DOWN
