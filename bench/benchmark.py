"""Time the matcher: per-question latency on the shipped file and on 10,000 entries.

    python bench/benchmark.py               the table for the README
    python bench/benchmark.py --entries 2000 --questions 200

Beside each figure stands the time of a bare `rapidfuzz.process.extractOne` over the same
phrasings: the floor for a fuzzy-matching approach. Load time covers reading, validating
and checking every quote of the shipped file, and building the matcher's index.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rapidfuzz import fuzz, process

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.knowledge import load_knowledge  # noqa: E402
from bot.matching import Matcher  # noqa: E402

QUESTIONS = [
    "What is ISIS-K?",
    "who started isis k",
    "how many ppl died in kabul",
    "isis-k vs taliban",
    "what does the taliban think of al qaida",
    "what's the weather in kabul",
    "tell me a joke",
    "hi",
    "why is isis k called al qaeda on steroids",
    "which provinces does iskp control",
]


def timed(fn, questions: list[str], rounds: int) -> list[float]:
    """Milliseconds per call, over `rounds` passes through `questions`."""
    samples = []
    for _ in range(rounds):
        for q in questions:
            start = time.perf_counter()
            fn(q)
            samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return statistics.median(ordered), p99


def generated_file(folder: Path, count: int, seed: int = 7) -> Path:
    """A Q&A file of `count` entries: the shipped ones, then recombinations of their words."""
    for name in ("article.md", "lexicon.yaml", "calibration.yaml"):  # English only
        shutil.copy(ROOT / "knowledge" / name, folder / name)
    shipped = yaml.safe_load((ROOT / "knowledge" / "qa.yaml").read_text(encoding="utf-8"))
    entries = shipped["entries"]
    rng = random.Random(seed)
    words = sorted(
        {w for e in entries for p in [e["question"], *e["alternates"]] for w in p.split()}
    )
    out = [{k: v for k, v in e.items() if k != "translations"} for e in entries]  # English
    for i in range(count - len(entries)):
        base = rng.choice(entries)
        phrasings = [" ".join(rng.sample(words, rng.randint(3, 8))) for _ in range(6)]
        out.append(
            {
                "id": f"generated-{i}",
                "question": f"{phrasings[0]} {i}?",
                "alternates": [f"{p} {i}" for p in phrasings[1:]],
                "answer": base["answer"],
                "quote": base["quote"],
            }
        )
    path = folder / "qa.yaml"
    path.write_text(yaml.safe_dump({"entries": out}, allow_unicode=True), encoding="utf-8")
    return path


def measure(qa: Path, rounds: int, label: str) -> list[str]:
    start = time.perf_counter()
    knowledge = load_knowledge(qa)
    matcher = Matcher(knowledge)
    load_ms = (time.perf_counter() - start) * 1000
    phrasings = [p for e in knowledge.entries for p in e.phrasings]
    matcher.match(QUESTIONS[0])  # warm caches, as a running bot has them
    ours = summary(timed(matcher.match, QUESTIONS, rounds))
    floor = summary(
        timed(lambda q: process.extractOne(q, phrasings, scorer=fuzz.QRatio), QUESTIONS, rounds)
    )
    return [
        f"| {label} | {len(knowledge.entries):,} | {ours[0]:.2f} ms | {ours[1]:.2f} ms "
        f"| {floor[0]:.2f} ms | {floor[1]:.2f} ms | {load_ms:.0f} ms |"
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30, help="passes over the questions")
    args = parser.parse_args()
    rows = [
        "| file | entries | median | p99 | extractOne median | extractOne p99 | load + check |",
        "|---|---|---|---|---|---|---|",
    ]
    print("measuring the shipped file...", file=sys.stderr)
    rows += measure(ROOT / "knowledge" / "qa.yaml", args.rounds, "shipped")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"generating {args.entries:,} entries...", file=sys.stderr)
        qa = generated_file(Path(tmp), args.entries)
        print("measuring them...", file=sys.stderr)
        rows += measure(qa, max(3, args.rounds // 10), "generated")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
