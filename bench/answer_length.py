"""How long answers are on a phone: every entry's private answer, measured.

    python bench/answer_length.py            the README's table
    python bench/answer_length.py --each     also one line per entry

"Visible" is what a reader sees before tapping anything: the text with tags removed, a
folded (expandable) blockquote counted as the lines it shows (`COLLAPSED_CHARS`). The
target (issue: short answers) is a median of at most 350, none over 700, at most two rows
of buttons.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from bot.knowledge import load_knowledge
from bot.replies import (
    EXPANDABLE_OVER,
    Links,
    answer_reply,
    says_the_same,
    visible_before_expanding,
)

ROOT = Path(__file__).resolve().parent.parent
MEDIAN_TARGET, MAX_TARGET, ROWS_TARGET = 350, 700, 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, default=ROOT / "knowledge" / "qa.yaml")
    parser.add_argument("--each", action="store_true", help="one line per entry")
    args = parser.parse_args()
    knowledge = load_knowledge(args.qa)
    links = Links(bot_username="example_bot")
    lengths, rows, same, folded = [], [], 0, 0
    for entry in knowledge.entries:
        reply = answer_reply(knowledge, entry, links)
        quote = knowledge.quote_of(entry)
        length = visible_before_expanding(reply.html)
        lengths.append(length)
        rows.append(len(reply.buttons))
        same += says_the_same(entry.answer, quote)
        folded += len(quote) > EXPANDABLE_OVER
        if args.each:
            print(f"{length:4d}  {len(reply.buttons)} rows  {entry.id}")
    median, longest, most_rows = statistics.median(lengths), max(lengths), max(rows)
    print("| measure | value | target |\n|---|---|---|")
    print(f"| entries | {len(lengths)} | – |")
    print(f"| median visible characters | {median:.0f} | ≤ {MEDIAN_TARGET} |")
    print(f"| longest | {longest} | ≤ {MAX_TARGET} |")
    print(f"| most button rows | {most_rows} | ≤ {ROWS_TARGET} |")
    print(f"| quote shown alone (it says what the answer says) | {same} | – |")
    print(f"| long quote folded | {folded} | – |")
    ok = median <= MEDIAN_TARGET and longest <= MAX_TARGET and most_rows <= ROWS_TARGET
    print("\nall targets met" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
