"""Measure answer quality on labelled questions: top-1, top-3, off-topic declined.

    python bench/evaluate.py                      every set (dev, test, holdout, final), a table
    python bench/evaluate.py bench/eval_test.yaml one set
    python bench/evaluate.py --misses             also list every miss
    python bench/evaluate.py --json               machine-readable

Each labelled question has `q`, `expect` (an entry id, a list of ids, null for off-topic,
or "small-talk") and `kind`. "Declined" means the bot did not assert an answer: it said it
does not know, or asked "did you mean" — both are honest, unlike a wrong answer.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.engine import Engine  # noqa: E402
from bot.matching import Verdict  # noqa: E402

SETS = [ROOT / "bench" / f"eval_{name}.yaml" for name in ("dev", "test", "holdout", "final")]
SMALL_TALK = "small-talk"


@dataclass
class Report:
    name: str
    answerable: int = 0
    top1: int = 0
    top3: int = 0
    wrong: int = 0
    """Confident answers with the wrong entry: the failure users must never see."""
    off_topic: int = 0
    declined: int = 0
    small_talk: int = 0
    small_talk_ok: int = 0
    worst_right: float = 100.0
    best_off_topic: float = 0.0
    misses: list[str] = field(default_factory=list)

    def pct(self, part: int, whole: int) -> float:
        return round(100 * part / whole, 1) if whole else 100.0

    @property
    def figures(self) -> dict[str, float]:
        return {
            "top1": self.pct(self.top1, self.answerable),
            "top3": self.pct(self.top3, self.answerable),
            "wrong": self.pct(self.wrong, self.answerable),
            "declined": self.pct(self.declined, self.off_topic),
            "small_talk": self.pct(self.small_talk_ok, self.small_talk),
        }


def load_cases(path: Path) -> list[dict]:
    cases = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(cases, list):
        raise SystemExit(f"{path}: expected a list of questions")
    return cases


def evaluate(engine: Engine, cases: list[dict], name: str = "") -> Report:
    report = Report(name)
    for case in cases:
        question, expect = str(case["q"]), case.get("expect")
        result = engine.ask(question)
        top = [c.entry.id for c in ((result.best,) if result.best else ())]
        top += [c.entry.id for c in result.suggestions if c.entry.id not in top]
        asserted = result.best.entry.id if result.matched and result.best else None
        if expect == SMALL_TALK:
            report.small_talk += 1
            ok = result.verdict is Verdict.SMALL_TALK
            report.small_talk_ok += ok
            if not ok:
                report.misses.append(f"small talk  {question!r} -> {result.verdict.value}")
            continue
        if expect is None:
            report.off_topic += 1
            if result.verdict is not Verdict.ANSWER:
                report.declined += 1
            else:
                report.best_off_topic = max(report.best_off_topic, result.score)
                report.misses.append(f"off-topic   {question!r} -> {asserted} ({result.score})")
            continue
        wanted = {expect} if isinstance(expect, str) else set(expect)
        report.answerable += 1
        report.top3 += bool(wanted & set(top[:3]))
        if asserted in wanted:
            report.top1 += 1
            report.worst_right = min(report.worst_right, result.score)
        else:
            report.wrong += asserted is not None
            got = asserted or f"{result.verdict.value}: {top[:3]}"
            report.misses.append(
                f"{'WRONG' if asserted else 'missed'}      {question!r} -> {got} "
                f"({result.score}) want {sorted(wanted)}"
            )
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="labelled sets (default: all)")
    parser.add_argument("--qa", type=Path, default=ROOT / "knowledge" / "qa.yaml")
    parser.add_argument("--misses", action="store_true", help="list every miss")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    engine = Engine(args.qa)
    reports = [evaluate(engine, load_cases(p), p.stem) for p in (args.files or SETS)]
    if args.json:
        print(json.dumps([{**asdict(r), **r.figures} for r in reports], indent=2))
        return 0
    print("| set | questions | top-1 | top-3 | wrong answers | off-topic declined | small talk |")
    print("|---|---|---|---|---|---|---|")
    for r in reports:
        f = r.figures
        total = r.answerable + r.off_topic + r.small_talk
        print(
            f"| {r.name} | {total} | {f['top1']} % | {f['top3']} % | {f['wrong']} % "
            f"| {f['declined']} % | {f['small_talk']} % |"
        )
    for r in reports:
        print(
            f"\n{r.name}: lowest score of a right answer {r.worst_right}, "
            f"highest of an answered off-topic question {r.best_off_topic}"
        )
        if args.misses:
            print("\n".join(f"  {m}" for m in r.misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
