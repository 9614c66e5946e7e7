"""A reload beside answers: the rebuild gives way to a busy event loop, parses with the
pure-Python loader to the same result, and indexes character n-grams exactly as the
plain definition says (TF-IDF, cosine) however it is cut into pieces."""

from __future__ import annotations

import asyncio
import gc
import math
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bot import chargrams, pacing, yamlfile
from bot import engine as engine_module
from bot.chargrams import CharGramIndex, grams
from bot.engine import Engine, sharing_the_interpreter
from bot.errors import KnowledgeError
from bot.knowledge import load_knowledge
from bot.yamlfile import parse_yaml, preemptible_parsing

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
QUESTIONS = [
    "who started isis k",
    "how many ppl died in kabul",
    "recruitment of fighters",
    "wat is iskp",
    "taliban vs al qaida",
    "what's the weather in kabul",
    "a",
    "",
    "ñandú 日本",
]


def reference_best(documents: list[tuple[str, ...]], text: str) -> tuple[int, float]:
    """The definition, written plainly: TF-IDF vectors of 3- and 4-grams, cosine."""
    counts = [sum((grams(t) for t in doc), Counter()) for doc in documents]
    n = max(len(counts), 1)
    df = Counter(g for c in counts for g in c)
    idf = {g: math.log(1 + n / c) for g, c in df.items()}

    def vector(c: Counter[str]) -> dict[str, float]:
        v = {g: (1 + math.log(x)) * idf.get(g, math.log(1 + n)) for g, x in c.items()}
        norm = math.sqrt(sum(w * w for w in v.values())) or 1.0
        return {g: w / norm for g, w in v.items()}

    query = vector(grams(text))
    scores = [sum(w * vector(c).get(g, 0.0) for g, w in query.items()) for c in counts]
    if not any(scores):
        return -1, 0.0
    best = max(range(len(scores)), key=lambda d: (scores[d], -d))
    return best, scores[best]


@pytest.fixture(scope="module")
def shipped_documents() -> list[tuple[str, ...]]:
    return [e.phrasings for e in load_knowledge(KNOWLEDGE / "qa.yaml").entries]


@pytest.mark.parametrize("step", [chargrams.STEP, 7])
def test_chargram_index_is_the_plain_definition_in_any_pieces(
    shipped_documents: list[tuple[str, ...]], step: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chargrams, "STEP", step)  # 7: every array cut into many pieces
    index = CharGramIndex(shipped_documents)
    for text in QUESTIONS:
        want = reference_best(shipped_documents, text)
        got = index.best(text)
        assert got[0] == want[0], text
        assert got[1] == pytest.approx(want[1], abs=1e-9), text


def test_chargram_index_of_nothing_finds_nothing() -> None:
    for documents in ([], [()], [("a",)], [("", "")]):
        assert CharGramIndex(documents).best("hello") == (-1, 0.0)


def test_give_way_rests_only_inside_paced_and_while_the_loop_is_busy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rests: list[float] = []
    monkeypatch.setattr(pacing.time, "sleep", rests.append)  # rests counted, not taken
    monkeypatch.setattr(pacing.DEMAND, "busy", True)
    pacing.give_way()
    assert rests == [], "outside paced() nothing rests"
    with pacing.paced(rest=0.0005, work=60.0):
        pacing.DEMAND.busy = False
        pacing.give_way()
        assert rests == [], "an idle loop: full speed"
        pacing.DEMAND.busy = True
        pacing.give_way()
        assert rests and set(rests) == {0.0005}, "a busy loop: the rebuild rests"
        rests.clear()
        pacing.give_way()  # busy for LONGEST_REST already: a slice of work of its own
        assert rests == []


def test_the_watched_loop_is_busy_running_callbacks_and_idle_waiting() -> None:
    seen: dict[str, bool] = {}

    async def main() -> None:
        seen["in a callback"] = pacing.DEMAND.busy
        looked = threading.Event()

        def look() -> None:  # another thread, while the loop waits for it
            deadline = time.monotonic() + 5
            while pacing.DEMAND.busy and time.monotonic() < deadline:
                time.sleep(0.001)  # until the loop is back in its selector
            seen["while waiting"] = pacing.DEMAND.busy
            looked.set()

        await asyncio.get_running_loop().run_in_executor(None, look)
        assert looked.is_set()

    with asyncio.Runner(loop_factory=pacing.watched_event_loop) as runner:
        runner.run(main())
    assert seen == {"in a callback": True, "while waiting": False}
    assert not pacing.DEMAND.busy, "a closed loop leaves later rebuilds at full speed"


def test_pure_python_parsing_gives_the_same_data_lines_and_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yamlfile, "POLITE_ABOVE", 0)  # the shipped file is under the size
    path = KNOWLEDGE / "qa.yaml"
    text = path.read_text(encoding="utf-8")
    fast = parse_yaml(path, text)
    turns: list[None] = []
    monkeypatch.setattr(yamlfile, "give_way", lambda: turns.append(None))
    with preemptible_parsing():
        polite = parse_yaml(path, text)
    assert len(turns) > 1000, "the pure-Python parser gave way at every node"
    assert polite == fast
    broken = "entries:\n  - id: a\n    question: [unclosed\n"
    problems = []
    for polite_parse in (False, True):
        try:
            if polite_parse:
                with preemptible_parsing():
                    parse_yaml(tmp_path / "qa.yaml", broken)
            else:
                parse_yaml(tmp_path / "qa.yaml", broken)
        except KnowledgeError as exc:
            problems.append([(p.line, p.message) for p in exc.problems])
    (fast_line, fast_message), (polite_line, polite_message) = problems[0][0], problems[1][0]
    assert fast_line == polite_line, "the same line for the maintainer"
    assert fast_message.split(":")[:2] == polite_message.split(":")[:2]
    assert yaml.safe_load(text) == fast[0]


def test_sharing_the_interpreter_is_undone_after_and_a_reload_serves_the_edit(
    shipped_copy: Path,
) -> None:
    engine = Engine(shipped_copy, settle=0.01)
    before = engine.ask("who started isis k")
    text = shipped_copy.read_text(encoding="utf-8")
    shipped_copy.write_text(text.replace("answer: ", "answer: Edited. ", 1), encoding="utf-8")
    interval, collecting = sys.getswitchinterval(), gc.isenabled()
    with sharing_the_interpreter():
        assert sys.getswitchinterval() < interval and not gc.isenabled()
    assert (sys.getswitchinterval(), gc.isenabled()) == (interval, collecting)
    outcome = engine.reload()
    assert outcome.ok and outcome.changed
    after = engine.ask("who started isis k")
    assert after.best is not None and before.best is not None
    assert after.best.entry.id == before.best.entry.id
    assert engine.knowledge.entries[0].answer.startswith("Edited. ")


def test_nested_sharing_freezes_and_trims_once(monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[None] = []
    monkeypatch.setattr(engine_module, "_return_free_memory", lambda: trims.append(None))
    with sharing_the_interpreter():
        with sharing_the_interpreter():  # a follower checks, then adopts
            assert not gc.isenabled()
        assert not gc.isenabled() and trims == [], "the inner one undid nothing"
    assert trims == [None]
