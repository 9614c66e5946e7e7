"""Measure answer quality on labelled questions; print the README's table.

    python bench/evaluate.py                      every set, a table
    python bench/evaluate.py bench/eval_test.yaml one set
    python bench/evaluate.py --misses             also list every miss
    python bench/evaluate.py --json               machine-readable
    python bench/evaluate.py --final              also the final blind set (see the README)

The sets and how each was used are described in the README ("Answer quality").
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from bot.engine import Engine
from bot.evaluation import Report, evaluate, load_cases

ROOT = Path(__file__).resolve().parent.parent
SETS = [
    ROOT / "bench" / f"eval_{name}.yaml"
    for name in (
        "dev",
        "test",
        "holdout",
        "final",
        "blind_dev",
        "blind_check",
        "blind_final",
        "blind_final2",
        "blind_check2",
        "followups_dev",
        "followups_check",
        "es_dev",
    )
]
FINALS = [
    ROOT / "bench" / f"eval_{name}.yaml" for name in ("blind_final3", "followups_final", "es_final")
]
"""Each measured once (see the README); shown only with --final, so that nobody tunes on
them by looking."""

COLUMNS = (
    ("set", lambda r, f: r.name),
    ("questions", lambda r, f: str(r.questions)),
    ("answered right", lambda r, f: f"{f['right']} %"),
    ("right ranked first", lambda r, f: f"{f['first']} %"),
    ("right in top 3", lambda r, f: f"{f['top3']} %"),
    ("wrong among asserted", lambda r, f: f"{f['wrong_asserted']} %"),
    ("off-topic declined", lambda r, f: f"{f['off_topic_declined']} %"),
    ("… with 'did you mean'", lambda r, f: f"{f['off_topic_suggested']} %"),
    (
        "near-domain declined",
        lambda r, f: f"{f['near_domain_declined']} %" if r.near_domain else "–",
    ),
    ("small talk", lambda r, f: f"{f['small_talk']} %" if r.small_talk else "–"),
)


def table(reports: list[Report]) -> str:
    """The reports as a Markdown table."""
    lines = [
        "| " + " | ".join(name for name, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for r in reports:
        f = r.figures
        lines.append("| " + " | ".join(cell(r, f) for _, cell in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="labelled sets (default: all)")
    parser.add_argument("--qa", type=Path, default=ROOT / "knowledge" / "qa.yaml")
    parser.add_argument("--misses", action="store_true", help="list every miss")
    parser.add_argument(
        "--ranking", action="store_true", help="list answerable questions not ranked first"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--final", action="store_true", help="include the final blind sets")
    args = parser.parse_args()
    engine = Engine(args.qa)
    files = args.files or [p for p in SETS if p.exists()]
    if args.final and not args.files:
        files += [p for p in FINALS if p.exists()]
    reports = []
    for path in files:
        print(f"evaluating {path.name}…", file=sys.stderr, flush=True)
        reports.append(evaluate(engine.ask, load_cases(path), path.stem))
    if args.json:
        print(json.dumps([{**asdict(r), **r.figures} for r in reports], indent=2))
        return 0
    print(table(reports))
    if args.misses:
        for r in reports:
            print(f"\n{r.name}:")
            print("\n".join(f"  {m}" for m in r.misses))
    if args.ranking:
        for r in reports:
            print(f"\n{r.name}: right entry not ranked first")
            print("\n".join(f"  {m}" for m in r.misranked))
    return 0


if __name__ == "__main__":
    sys.exit(main())
