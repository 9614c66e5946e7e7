"""The command line: run the Telegram bot, or use the same answers without it.

    python -m bot chat                  talk to the bot in the terminal (no token, no network)
    python -m bot ask "QUESTION"        one answer with its quoted passage
    python -m bot ask --json [Q ...]    JSON lines; questions as arguments or one per stdin line
    python -m bot validate [FILE]       check the Q&A file; exit 1 with one line per problem
    python -m bot run [--webhook]       the Telegram bot (TELEGRAM_BOT_TOKEN); --no-setup
    python -m bot setup                 register the webhook and command menus (deploy step)
    python -m bot publish [FILE]        check the knowledge files and store them in the
                                        database as a new version, which replicas follow
    python -m bot report [--json]       unanswered questions and votes, for maintainers
    python -m bot coverage              article sentences that no entry quotes
    python -m bot schema [lexicon]      print the JSON Schema of the Q&A file (or the lexicon)
    python -m bot health                exit 0 if the running bot is alive (HEALTH_FILE), else 1

A mistake (a bad file, a missing token) prints what to fix and exits non-zero, never a
traceback. This is the only module that prints: the others return data.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.conversation import take_turn
from bot.engine import Engine
from bot.errors import BotError, ConfigError, KnowledgeError
from bot.knowledge import json_schema, load_knowledge
from bot.language import pick_language
from bot.lexicon import lexicon_schema
from bot.matching import MatchResult
from bot.messages import check_catalogues
from bot.replies import (
    cut,
    help_reply,
    result_reply,
    source_reply,
    topics_reply,
    turn_reply,
)
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.maintainers import Report

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run the command, print what it returns; the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    _reconfigure_stdio()
    try:
        file = getattr(args, "file", None)
        settings = Settings.from_env(**({"qa_file": Path(file)} if file else {}))
        return int(args.handler(args, settings))
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
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
    except BrokenPipeError:  # the reader stopped early (`| head`): not a mistake
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _reconfigure_stdio() -> None:
    """Print curly quotes and emoji even where the terminal's encoding is not UTF-8."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure:
            reconfigure(errors="replace")


# --- commands --------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    """Check the Q&A file against its article, and the messages catalogues; KnowledgeError
    reports what is wrong."""
    knowledge = load_knowledge(settings.qa_file, settings.article_path)
    check_catalogues()
    others = [c for c in knowledge.languages if c != knowledge.language]
    translated = f"; translated into {', '.join(others)}" if others else ""
    print(
        f"{settings.qa_file}: OK: {len(knowledge.entries)} entries, every quote found in "
        f"{settings.article_path.name}; {len(knowledge.gaps)} topics the article does not "
        f"answer; lexicon: {len(knowledge.lexicon.phrases)} phrases{translated}."
    )
    return EXIT_OK


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    schema = lexicon_schema() if args.which == "lexicon" else json_schema()
    print(json.dumps(schema, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    engine = Engine(settings.qa_file)
    questions: Iterable[str] = args.question
    if not questions:
        if sys.stdin.isatty() and not args.json:
            print('usage: python -m bot ask "QUESTION"  (or pipe questions, one per line)')
            return EXIT_USAGE
        questions = (line.rstrip("\n") for line in sys.stdin)
    for question in questions:
        if not question.strip():
            continue
        code = language_for(engine, question, args.lang)
        result = engine.matcher.in_language(code).match(question, previous=args.previous)
        if args.json:
            line = {**result_json(result, engine), "language": code}
            print(json.dumps(line, ensure_ascii=False), flush=True)
        else:
            print(result_reply(engine.knowledge.in_language(code), result).plain)
            print()
    return EXIT_OK


def language_for(engine: Engine, text: str, asked: str | None) -> str:
    """--lang when given (it must be one the knowledge is answered in), else the text's."""
    languages = engine.matcher.languages
    if asked:
        if asked not in languages:
            raise ConfigError(
                f"--lang {asked}: the knowledge is answered in {', '.join(languages)} only"
            )
        return asked
    return pick_language(text, None, languages)


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
        "follow_up_to": result.context,
    }


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    """A terminal conversation with the same replies as Telegram."""
    engine = Engine(settings.qa_file)
    knowledge = engine.knowledge
    interactive = sys.stdin.isatty()
    print(f"Ask me about “{knowledge.article.title}”.")
    print("Commands: /topics, /source, /help, /quit. A number picks a suggestion.\n")
    choices: list[str] = []
    previous: str | None = None  # the last entry answered: follow-ups are read after it
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
        code = language_for(engine, text, args.lang)
        turn = take_turn(engine.matcher.in_language(code), text, previous)
        first = previous is None and code != knowledge.language
        reply = turn_reply(knowledge.in_language(code), turn, note=first)
        last = turn.results[-1]
        choices = [c.entry.id for c in last.suggestions] if not turn.several else []
        if last.matched:
            choices = []
        previous = turn.context_after(previous)
        print(f"bot> {reply.plain}\n")


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.token.get_secret_value():
        print(
            "error: TELEGRAM_BOT_TOKEN is not set. Get a token from @BotFather, or try the "
            "bot without one: python -m bot chat",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.webhook and not (settings.webhook_url and settings.webhook_secret):
        print(
            "error: webhook mode needs WEBHOOK_URL (the public https base URL) and "
            "WEBHOOK_SECRET (1-256 characters: A-Z, a-z, 0-9, _ and -).",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from bot.telegram.app import run

    if args.no_setup:
        settings = settings.model_copy(update={"run_setup": False})
    return run(settings, webhook=args.webhook)


def cmd_setup(args: argparse.Namespace, settings: Settings) -> int:
    """The deploy step: setWebhook (with WEBHOOK_URL) and the command menus, once."""
    if not settings.token.get_secret_value():
        print("error: TELEGRAM_BOT_TOKEN is not set.", file=sys.stderr)
        return EXIT_USAGE
    if bool(settings.webhook_url) != bool(settings.webhook_secret.get_secret_value()):
        print(
            "error: registering a webhook needs both WEBHOOK_URL and WEBHOOK_SECRET.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from bot.telegram.app import setup

    return setup(settings)


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    """Check the Q&A file, article, lexicon and calibration and store them as the newest
    knowledge version; replicas with DATABASE_URL serve it within seconds."""
    from bot.publishing import publish_files
    from bot.store import open_store

    with open_store(settings, vote_key=b"publishing casts no votes") as store:
        before = store.latest_knowledge()
        published = publish_files(store, settings.qa_file)
    knowledge = published.knowledge
    fresh = before is None or before.version != published.version
    verb = "Published" if fresh else "Unchanged: already published as"
    print(
        f"{verb} version {published.version} (fingerprint {knowledge.fingerprint}): "
        f"{len(knowledge.entries)} entries from {settings.qa_file}."
    )
    if not settings.shared:
        print(
            f"note: DATABASE_URL is not set, so this went to the SQLite file "
            f"{settings.database_path}; a bot without DATABASE_URL serves its files instead.",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    """The container's HEALTHCHECK: one line, exit 0 when alive, 1 when not."""
    from bot.health import check

    if settings.health_file is None:
        print("error: HEALTH_FILE is not set, so the bot keeps no health record", file=sys.stderr)
        return EXIT_USAGE
    verdict = check(settings.health_file)
    print(f"{'ok' if verdict.ok else 'unhealthy'}: {verdict.reason}")
    return EXIT_OK if verdict.ok else EXIT_PROBLEM


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    return print_report(settings, as_json=args.json, limit=args.limit)


def cmd_coverage(args: argparse.Namespace, settings: Settings) -> int:
    return print_coverage(settings)


# --- printing what the maintainers' functions return -------------------------------------


def print_report(settings: Settings, *, as_json: bool = False, limit: int | None = 20) -> int:
    """`python -m bot report`: a table in the terminal, or one JSON object with `--json`.
    With DATABASE_URL, the shared database every replica records into."""
    from bot.maintainers import REPORT_VOTE_KEY, Report, build_report, read_report
    from bot.store import open_store

    if settings.shared:
        where = "the shared database (DATABASE_URL)"
        engine = _engine_or_none(settings)
        with open_store(settings, vote_key=REPORT_VOTE_KEY) as store:
            shared = build_report(store, engine, limit)
        report = shared if shared.unanswered_total or shared.votes else None
    else:
        path = settings.database_path
        where = str(path)
        report = read_report(
            path,
            _engine_or_none(settings) if path.exists() else None,
            limit,
            max_rows=settings.unanswered_max_rows,
            retention_days=settings.unanswered_retention_days,
        )
    if report is None:
        message = f"No questions recorded yet (database: {where})."
        if as_json:  # keep stdout valid JSON for scripts; the note goes to stderr
            print(json.dumps({"database": where, **Report(0, 0, (), ()).to_json()}))
            print(message, file=sys.stderr)
        else:
            print(message)
        return EXIT_OK
    if as_json:
        data = {"database": where, **report.to_json()}
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print("\n".join(report_lines(report, where)))
    return EXIT_OK


def _engine_or_none(settings: Settings) -> Engine | None:
    """The engine for today's closest entries; a broken Q&A file must not hide the report."""
    try:
        return Engine(settings.qa_file)
    except KnowledgeError as exc:
        print(
            f"note: {settings.qa_file} has {len(exc.problems)} problem(s) (see `python -m bot "
            "validate`); closest entries are shown as recorded.",
            file=sys.stderr,
        )
        return None


def report_lines(report: Report, where: str) -> list[str]:
    """The terminal report: unanswered groups, then votes per entry."""
    shown = len(report.groups)
    lines = [
        f"Unanswered questions: {report.unanswered_total} recorded in {report.groups_total} "
        f"group(s), showing {shown} (database: {where})."
    ]
    if report.groups:
        lines += ["", f"{'Count':>5}  {'Last asked':<10}  {'Question':<50}  Closest entry (score)"]
        for g in report.groups:
            closest = f"{g.closest.entry_id} ({g.closest.score:.0f})" if g.closest else "-"
            if g.now_answered:
                closest += "  now answered"
            day = g.last_asked.strftime("%Y-%m-%d")
            lines.append(f"{g.count:>5}  {day:<10}  {cut(g.text, 50):<50}  {closest}")
            if g.examples:
                also = ", ".join(f"“{cut(e, 40)}”" for e in g.examples)
                lines.append(f"{'':>5}  {'':<10}  also: {also}")
    lines += ["", f"Votes per entry, most 👎 first ({len(report.votes)} entries):"]
    if not report.votes:
        lines.append("  No votes yet.")
        return lines
    width = max(len(v.entry_id) for v in report.votes)
    lines.append(f"{'Down':>5}  {'Up':>5}  {'Entry':<{width}}  Question")
    for v in report.votes:
        question = v.question or "(not in the Q&A file)"
        flag = "  WEAK" if v.weak else ""
        lines.append(f"{v.down:>5}  {v.up:>5}  {v.entry_id:<{width}}  {question}{flag}")
    return lines


def print_coverage(settings: Settings) -> int:
    """`python -m bot coverage`: the figure, then every sentence left to write entries for."""
    from bot.coverage import coverage

    result = coverage(load_knowledge(settings.qa_file, settings.article_path))
    print(
        f"Coverage: {result.covered} of {result.total} sentences quoted ({result.percent:.0f} %)."
    )
    if result.uncovered:
        print("\nNot quoted by any entry (paragraphs counted from the first after the date):")
        width = len(str(len(result.uncovered)))
        for n, sentence in enumerate(result.uncovered, 1):
            print(f"{n:>{width}}. [paragraph {sentence.paragraph}] {sentence.text}")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Answers questions about one news article, quoting the article.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("chat", help="talk to the bot in the terminal (no token needed)")
    p.add_argument("--lang", help="answer in this language (default: each message's own)")
    p.set_defaults(handler=cmd_chat)

    p = sub.add_parser("ask", help="answer questions once and exit")
    p.add_argument("question", nargs="*", help="questions (default: one per line on stdin)")
    p.add_argument("--lang", help="answer in this language (default: the question's own)")
    p.add_argument("--json", action="store_true", help="write one JSON object per line")
    p.add_argument(
        "--previous", metavar="ID", help="the entry answered just before (for follow-ups)"
    )
    p.set_defaults(handler=cmd_ask)

    p = sub.add_parser("validate", help="check the Q&A file against the article")
    p.add_argument("file", nargs="?", help="the Q&A file (default: knowledge/qa.yaml)")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("run", help="run the Telegram bot (needs TELEGRAM_BOT_TOKEN)")
    p.add_argument("--webhook", action="store_true", help="receive updates by webhook")
    p.add_argument(
        "--no-setup",
        action="store_true",
        help="skip setWebhook and the command menus (done by `setup`); as RUN_SETUP=0",
    )
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("setup", help="register the webhook and command menus (deploy step)")
    p.set_defaults(handler=cmd_setup)

    p = sub.add_parser("publish", help="store the knowledge files as the version replicas serve")
    p.add_argument("file", nargs="?", help="the Q&A file (default: knowledge/qa.yaml)")
    p.set_defaults(handler=cmd_publish)

    p = sub.add_parser("report", help="unanswered questions and votes")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--limit", type=int, default=20, help="how many groups to show")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("coverage", help="article sentences no entry quotes")
    p.set_defaults(handler=cmd_coverage)

    p = sub.add_parser("schema", help="print the JSON Schema of the Q&A file or the lexicon")
    p.add_argument("which", nargs="?", choices=("qa", "lexicon"), default="qa")
    p.set_defaults(handler=cmd_schema)

    p = sub.add_parser("health", help="exit 0 if the running bot is alive (HEALTH_FILE)")
    p.set_defaults(handler=cmd_health)
    return parser


if __name__ == "__main__":
    sys.exit(main())
