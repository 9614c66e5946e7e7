"""bot.telegram.webhook's door: the secret before the body, a size limit, JSON only, a
bound on requests in hand, /healthz answering meanwhile, and Telegram answered only once
the update has been handled (500 when it failed and deserves a re-delivery)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from helpers.faults import Fault
from helpers.running import BotUnderTest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from bot.telegram.webhook import SECRET_HEADER, Door, web_app

SECRET = "hardening-secret"
LIMIT = 64 * 1024
JSON = {"Content-Type": "application/json"}
RIGHT = {SECRET_HEADER: SECRET, **JSON}


@pytest.fixture
async def door(shared_bot: BotUnderTest) -> AsyncIterator[tuple[Door, str]]:
    """The webhook on a loopback port with a small body limit and four requests at once."""
    door = Door(secret=SECRET, max_body=LIMIT, max_requests=4, deadline=10)
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(web_app(shared_bot.app, door), max_body_size=LIMIT)
    server.add_sockets(sockets)
    try:
        yield door, f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    finally:
        server.stop()
        await server.close_all_connections()


def update(update_id: int, text: str = "What is ISIS-K?", user: int = 880) -> dict[str, Any]:
    sender = {"id": user, "is_bot": False, "first_name": "W"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": user, "type": "private", "first_name": "W"},
            "from": sender,
            "text": text,
        },
    }


async def huge_body(megabytes: int) -> AsyncIterator[bytes]:
    chunk = b"x" * (1 << 20)
    for _ in range(megabytes):
        yield chunk


async def post_huge(base: str, headers: dict[str, str], megabytes: int) -> int | None:
    """POST a streamed body of `megabytes`; the status, or None if the server hung up."""
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        try:
            answer = await client.post(
                f"{base}/telegram",
                content=huge_body(megabytes),
                headers={**headers, "Content-Length": str(megabytes << 20)},
            )
        except httpx.HTTPError:
            return None
        return answer.status_code


async def test_a_huge_post_without_the_secret_costs_no_memory(
    shared_bot: BotUnderTest, door: tuple[Door, str]
) -> None:
    _, base = door
    statuses = await asyncio.gather(*(post_huge(base, JSON, 100) for _ in range(4)))
    assert all(s in (403, None) for s in statuses), statuses  # refused before the body
    # (what that saves in memory is measured by bench/reliability.py, not asserted here)
    async with httpx.AsyncClient(trust_env=False) as client:
        assert (await client.get(f"{base}/healthz")).status_code == 200


async def test_a_body_over_the_limit_is_413_even_with_the_secret(
    shared_bot: BotUnderTest, door: tuple[Door, str]
) -> None:
    _, base = door
    assert await post_huge(base, RIGHT, 2) in (413, None)
    async with httpx.AsyncClient(trust_env=False) as client:
        declared = await client.post(
            f"{base}/telegram", content=b"{}" + b" " * (LIMIT + 1), headers=RIGHT
        )
        assert declared.status_code == 413

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: cut off while read
            for _ in range(4):
                yield b" " * LIMIT

        try:
            streamed = await client.post(f"{base}/telegram", content=chunked(), headers=RIGHT)
            assert streamed.status_code in (413, 400)
        except httpx.HTTPError:
            pass  # the server hung up on the body: refused too
    shared_bot.api.assert_no_errors()


@pytest.mark.parametrize("kind", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_only_json_is_taken(
    shared_bot: BotUnderTest, door: tuple[Door, str], kind: str
) -> None:
    _, base = door
    async with httpx.AsyncClient(trust_env=False) as client:
        answer = await client.post(
            f"{base}/telegram",
            content=json.dumps(update(870_001)),
            headers={SECRET_HEADER: SECRET, "Content-Type": kind},
        )
    assert answer.status_code == 415
    await shared_bot.settle()
    assert not shared_bot.api.sent("sendMessage")


async def test_telegram_is_answered_only_after_the_update_was_handled(
    shared_bot: BotUnderTest, door: tuple[Door, str]
) -> None:
    _, base = door
    api = shared_bot.api
    api.faults.script("sendMessage", Fault.hold(0.5, applied=True))  # a slow reply
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        start = time.monotonic()
        answer = await client.post(f"{base}/telegram", json=update(870_010), headers=RIGHT)
        assert answer.status_code == 200
        assert time.monotonic() - start >= 0.5  # not before the reply was sent
        assert len(api.delivered(880)) == 1
        again = await client.post(f"{base}/telegram", json=update(870_010), headers=RIGHT)
        assert again.status_code == 200  # a re-delivery: acknowledged, not answered again
    await shared_bot.settle()
    assert len(api.delivered(880)) == 1


async def test_a_transient_failure_answers_500_so_telegram_sends_it_again(
    shared_bot: BotUnderTest, door: tuple[Door, str]
) -> None:
    _, base = door
    api = shared_bot.api
    api.faults.script("sendMessage", Fault.html(502), times=10_000)  # an outage
    request = shared_bot.app.bot.request  # give up the outage after 0.3 s, not 30
    deadline, request.deadline = request.deadline, 0.3  # type: ignore[attr-defined]
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
            failed = await client.post(
                f"{base}/telegram", json=update(870_020, user=881), headers=RIGHT
            )
            assert failed.status_code == 500
            api.faults.clear()
            retried = await client.post(
                f"{base}/telegram", json=update(870_020, user=881), headers=RIGHT
            )
            assert retried.status_code == 200
    finally:
        request.deadline = deadline  # type: ignore[attr-defined]
    assert len(api.delivered(881)) == 1


async def test_requests_beyond_the_bound_get_503_and_health_still_answers(
    shared_bot: BotUnderTest, door: tuple[Door, str]
) -> None:
    bound, base = door
    api = shared_bot.api
    api.faults.script("sendMessage", *[Fault.hold(1.0, applied=True)] * 4)
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        held = [
            asyncio.create_task(
                client.post(
                    f"{base}/telegram", json=update(870_100 + i, user=890 + i), headers=RIGHT
                )
            )
            for i in range(4)
        ]
        while bound.inside < 4:
            await asyncio.sleep(0.01)
        extra = await client.post(f"{base}/telegram", json=update(870_200), headers=RIGHT)
        assert extra.status_code == 503
        health = await client.get(f"{base}/healthz")
        assert health.status_code == 200  # answered while every slot is taken
        assert [r.status_code for r in await asyncio.gather(*held)] == [200] * 4
    assert bound.inside == 0
