"""bot.telegram.ordering: chats are handled concurrently, each chat's updates in order;
a reply that is slow or waiting out a 429 for one chat holds up no other chat."""

from __future__ import annotations

import asyncio
from typing import Any

from helpers.faults import Fault
from helpers.running import BotUnderTest
from helpers.waiting import until
from telegram import Update

from bot.telegram.ordering import SKIP, ChatOrder, Skip, chat_key, mark_failed


def message_update(update_id: int, chat_id: int, text: str = "hi") -> Update:
    data = {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 0,
            "chat": {"id": chat_id, "type": "private", "first_name": "A"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "A"},
            "text": text,
        },
    }
    return Update.de_json(data, None)


async def run_all(order: ChatOrder, jobs: list[tuple[Update, Any]]) -> None:
    """Hand the jobs to the processor as python-telegram-bot does: one task each, in order."""
    tasks = [asyncio.create_task(order.process_update(u, c)) for u, c in jobs]
    await asyncio.gather(*tasks)


async def test_one_chat_in_order_and_chats_at_once() -> None:
    order = ChatOrder(concurrency=8)
    done: list[tuple[int, int]] = []
    release = asyncio.Event()

    async def handle(chat: int, n: int, wait: bool) -> None:
        if wait:
            await release.wait()
        done.append((chat, n))

    jobs = [
        (message_update(1, 100), handle(100, 1, wait=True)),  # chat 100's first is slow
        (message_update(2, 100), handle(100, 2, wait=False)),
        (message_update(3, 200), handle(200, 1, wait=False)),
        (message_update(4, 200), handle(200, 2, wait=False)),
    ]
    running = asyncio.create_task(run_all(order, jobs))
    await until(lambda: len(done) == 2, what="chat 200 answered while chat 100 waits")
    assert done == [(200, 1), (200, 2)]
    assert order.in_hand == 2
    release.set()
    await running
    assert done[2:] == [(100, 1), (100, 2)]
    assert order.in_hand == 0
    assert not order._locks  # no lock outlives its chat's updates


async def test_concurrency_is_bounded_but_waiting_chats_take_no_slot() -> None:
    order = ChatOrder(concurrency=2)
    running = 0
    peak = 0

    async def handle() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    # 50 updates of one chat queue behind each other; ten other chats still get through.
    jobs = [(message_update(i, 1), handle()) for i in range(50)]
    jobs += [(message_update(100 + i, 1000 + i), handle()) for i in range(10)]
    await run_all(order, jobs)
    assert peak == 2


async def test_the_gate_can_skip_or_replace_and_outcomes_are_reported() -> None:
    seen: list[str] = []

    class Gate:
        async def admit(self, update: object) -> Any:
            assert isinstance(update, Update)
            if update.update_id == 1:
                return SKIP
            if update.update_id == 2:
                return note("replaced")
            return None

        async def claim(self, update: object) -> bool:
            return getattr(update, "update_id", None) != 3  # 3 was handled before

        async def release(self, update: object, *, failed: bool) -> None:
            seen.append(f"released {getattr(update, 'update_id', None)} failed={failed}")

    async def note(text: str) -> None:
        seen.append(text)

    async def fails() -> None:
        mark_failed()

    order = ChatOrder(concurrency=4, gate=Gate())
    outcomes = [order.outcome(i) for i in (1, 2, 3, 4)]
    await run_all(
        order,
        [
            (message_update(1, 5), note("skipped ran")),
            (message_update(2, 5), note("original ran")),
            (message_update(3, 5), note("a re-delivery ran")),
            (message_update(4, 5), fails()),
        ],
    )
    assert seen == ["replaced", "released 2 failed=False", "released 4 failed=True"]
    assert [f.result() for f in outcomes] == [True, True, True, False]
    assert isinstance(SKIP, Skip)


def test_chat_key_orders_by_chat_then_sender() -> None:
    assert chat_key(message_update(1, 42)) == ("chat", 42)
    inline = Update.de_json(
        {
            "update_id": 2,
            "inline_query": {
                "id": "1",
                "from": {"id": 7, "is_bot": False, "first_name": "B"},
                "query": "",
                "offset": "",
            },
        },
        None,
    )
    assert chat_key(inline) == ("user", 7)
    assert chat_key(object()) is None


# --- through the real application ------------------------------------------------------


async def test_a_slow_reply_to_one_chat_does_not_delay_another(shared_bot: BotUnderTest) -> None:
    api = shared_bot.api
    api.faults.script("sendMessage", Fault.hold(2.0, applied=True))  # a slow Telegram
    slow = api.push_message("What is ISIS-K?", user_id=501, chat_id=501)
    await until(lambda: any(e.fault for e in api.exchanges), what="the held reply")
    second = api.push_message("how many people died", user_id=501, chat_id=501)
    api.push_message("who claimed the attack", user_id=502, chat_id=502)
    await api.wait_for("sendMessage", where=lambda p: p["chat_id"] == 502)
    # Chat 502 was answered while chat 501's first reply was still held: 501's second
    # question had not been answered yet (a bot handling updates one by one would have).
    assert len(api.calls_to("sendMessage", 501)) == 1
    await api.wait_for("sendMessage", count=2, where=lambda p: p["chat_id"] == 501, timeout=10)
    api.assert_answered_once([slow, second])
    first, then = (m["text"] for m in api.delivered(501))
    assert "Islamic State" in first and "170" in then  # chat 501's answers in order


async def test_a_flood_wait_for_one_chat_does_not_delay_another(shared_bot: BotUnderTest) -> None:
    api = shared_bot.api
    api.faults.script("sendMessage", Fault.flood(2))
    waiting = api.push_message("What is ISIS-K?", user_id=511, chat_id=511)
    await until(lambda: any(e.fault for e in api.exchanges), what="the 429")
    other = api.push_message("who claimed the attack", user_id=512, chat_id=512)
    await api.wait_for("sendMessage", where=lambda p: p["chat_id"] == 512)
    assert not api.sent("sendMessage", where=lambda p: p["chat_id"] == 511)  # still waiting
    await api.wait_for("sendMessage", where=lambda p: p["chat_id"] == 511, timeout=10)
    api.assert_answered_once([waiting, other])
