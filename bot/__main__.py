"""The command line: run the Telegram bot, or use the same answers without it.

    python -m bot chat                  talk to the bot in the terminal (no token, no network)
    python -m bot ask "QUESTION"        one answer with its quoted passage
    python -m bot ask --json [Q ...]    JSON lines; questions as arguments or one per stdin line
    python -m bot validate [FILE]       check the Q&A file; exit 1 with one line per problem
    python -m bot run [--webhook]       the Telegram bot (TELEGRAM_BOT_TOKEN)
    python -m bot report [--json]       unanswered questions and votes, for maintainers
    python -m bot coverage              article sentences that no entry quotes
    python -m bot schema [lexicon]      print the JSON Schema of the Q&A file (or the lexicon)

A mistake (a bad file, a missing token) prints what to fix and exits non-zero, never a
traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from bot.config import Settings
from bot.engine import Engine
from bot.errors import BotError, ConfigError, KnowledgeError
from bot.knowledge import json_schema, load_knowledge
from bot.lexicon import lexicon_schema
from bot.matching import MatchResult
from bot.replies import help_reply, result_reply, source_reply, topics_reply

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _reconfigure_stdio()
    try:
        settings = Settings.from_env()
        if getattr(args, "file", None):
            settings = _with_qa_file(settings, Path(args.file))
        return int(args.handler(args, settings) or EXIT_OK)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(f"{count} problem{'s' * (count != 1)} found.", file=sys.stderr)
        return EXIT_PROBLEM
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    except KeyboardInterrupt:
        return 130


def _with_qa_file(settings: Settings, path: Path) -> Settings:
    from dataclasses import replace

    return replace(settings, qa_file=path, knowledge_dir=path.parent)


def _reconfigure_stdio() -> None:
    """Print curly quotes and emoji even where the terminal's encoding is not UTF-8."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure:
            reconfigure(errors="replace")


# --- commands --------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    """Check the Q&A file against its article; KnowledgeError reports what is wrong."""
    knowledge = load_knowledge(settings.qa_path, settings.article_path)
    print(
        f"{settings.qa_path}: OK: {len(knowledge.entries)} entries, every quote found in "
        f"{settings.article_path.name}; lexicon: {len(knowledge.lexicon.phrases)} phrases."
    )
    return EXIT_OK


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    schema = lexicon_schema() if args.file == "lexicon" else json_schema()
    print(json.dumps(schema, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    engine = Engine(settings.qa_path)
    questions: Iterable[str] = args.question
    if not questions:
        if sys.stdin.isatty() and not args.json:
            print('usage: python -m bot ask "QUESTION"  (or pipe questions, one per line)')
            return EXIT_USAGE
        questions = (line.rstrip("\n") for line in sys.stdin)
    for question in questions:
        if not question.strip():
            continue
        result = engine.ask(question)
        if args.json:
            print(json.dumps(result_json(result, engine), ensure_ascii=False), flush=True)
        else:
            print(result_reply(engine.knowledge, result).plain)
            print()
    return EXIT_OK


def result_json(result: MatchResult, engine: Engine) -> dict[str, object]:
    """The JSON line for one question (`ask --json`), also used by the evaluation."""
    best = result.best
    asserted = result.matched and best is not None
    knowledge = engine.knowledge
    return {
        "question": result.question,
        "matched": asserted,
        "verdict": result.verdict.value,
        "id": best.entry.id if asserted and best else None,
        "answer": best.entry.answer if asserted and best else None,
        "quote": knowledge.quote_of(best.entry) if asserted and best else None,
        "score": result.score,
        "confidence": result.confidence,
        "read_as": result.read_as if result.read_as != result.question else None,
        "suggestions": [
            {"id": c.entry.id, "question": c.entry.question, "score": c.score}
            for c in result.suggestions
        ],
        "small_talk": result.small_talk.value if result.small_talk else None,
        "not_in_article": result.gap.id if result.gap else None,
    }


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    """A terminal conversation with the same replies as Telegram."""
    engine = Engine(settings.qa_path)
    knowledge = engine.knowledge
    interactive = sys.stdin.isatty()
    print(f"Ask me about “{knowledge.article.title}”.")
    print("Commands: /topics, /source, /help, /quit. A number picks a suggestion.\n")
    choices: list[str] = []
    while True:
        try:
            line = input("you> " if interactive else "")
        except (EOFError, KeyboardInterrupt):
            print()
            return EXIT_OK
        text = line.strip()
        if not text:
            continue
        if text in {"/quit", "/exit", "quit", "exit"}:
            return EXIT_OK
        knowledge = engine.knowledge
        command = text.split()[0].lower()
        if command == "/topics":
            print(topics_reply(knowledge).plain, end="\n\n")
            continue
        if command == "/source":
            print(source_reply(knowledge).plain, end="\n\n")
            continue
        if command in {"/help", "/start"}:
            print(help_reply(knowledge).plain, end="\n\n")
            continue
        if text.isdigit() and 1 <= int(text) <= len(choices):
            entry = knowledge.entry(choices[int(text) - 1])
            if entry is not None:
                text = entry.question
        result = engine.ask(text)
        reply = result_reply(knowledge, result)
        choices = [c.entry.id for c in result.suggestions] if not result.matched else []
        print(f"bot> {reply.plain}\n")


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.token:
        print(
            "error: TELEGRAM_BOT_TOKEN is not set. Get a token from @BotFather, or try the "
            "bot without one: python -m bot chat",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from bot.telegram.app import run

    return run(settings, webhook=args.webhook)


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from bot.maintainers import print_report

    return print_report(settings, as_json=args.json, limit=args.limit)


def cmd_coverage(args: argparse.Namespace, settings: Settings) -> int:
    from bot.coverage import print_coverage

    return print_coverage(settings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Answers questions about one news article, quoting the article.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("chat", help="talk to the bot in the terminal (no token needed)")
    p.set_defaults(handler=cmd_chat)

    p = sub.add_parser("ask", help="answer questions once and exit")
    p.add_argument("question", nargs="*", help="questions (default: one per line on stdin)")
    p.add_argument("--json", action="store_true", help="write one JSON object per line")
    p.set_defaults(handler=cmd_ask)

    p = sub.add_parser("validate", help="check the Q&A file against the article")
    p.add_argument("file", nargs="?", help="the Q&A file (default: knowledge/qa.yaml)")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("run", help="run the Telegram bot (needs TELEGRAM_BOT_TOKEN)")
    p.add_argument("--webhook", action="store_true", help="receive updates by webhook")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("report", help="unanswered questions and votes")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--limit", type=int, default=20, help="how many groups to show")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("coverage", help="article sentences no entry quotes")
    p.set_defaults(handler=cmd_coverage)

    p = sub.add_parser("schema", help="print the JSON Schema of the Q&A file or the lexicon")
    p.add_argument("file", nargs="?", choices=("qa", "lexicon"), default="qa")
    p.set_defaults(handler=cmd_schema)
    return parser


if __name__ == "__main__":
    sys.exit(main())
