"""Callback data: what buttons carry, encoded and decoded in one place, strictly."""

from __future__ import annotations

import pytest

from bot.callbacks import MAX_BYTES, ShowAnswer, ShowTopics, Vote, decode


@pytest.mark.parametrize(
    "action",
    [
        ShowAnswer("what-is-isis-k"),
        ShowTopics(0),
        ShowTopics(12),
        Vote("attack-claimed-by", up=True),
        Vote("a" * 48, up=False),
    ],
)
def test_every_action_survives_the_round_trip(action: ShowAnswer | ShowTopics | Vote) -> None:
    data = action.encode()
    assert len(data.encode()) <= MAX_BYTES
    assert decode(data) == action


def test_the_wire_format_is_short_and_stable() -> None:
    assert ShowAnswer("x-1").encode() == "a:x-1"
    assert ShowTopics(3).encode() == "t:3"
    assert Vote("x-1", up=True).encode() == "v:x-1:+"
    assert Vote("x-1", up=False).encode() == "v:x-1:-"


@pytest.mark.parametrize(
    "data",
    [
        "t:²",  # a digit to str.isdigit, not to int()
        "t:٣",  # an Arabic-Indic digit
        "t:-1",
        "t:",
        "t:99999",
        "t:1 ",
        "t:1\n",
        "a:",
        "a:UPPER",
        "a:two words",
        "a:-leading",
        "a:é",
        "v:x:",
        "v:x:*",
        "v:x",
        "v::+",
        "noop",
        "",
        "x:1",
        None,
        42,
    ],
)
def test_odd_data_decodes_to_none_and_never_raises(data: object) -> None:
    assert decode(data) is None


def test_data_over_telegrams_limit_is_refused_when_encoding() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        ShowAnswer("a" * 63).encode()
