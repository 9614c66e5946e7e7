"""Published knowledge: one version of the files for every replica, kept in the database.

    publish_files(store, qa_path)   read the files, check them, store them (a version number)
    check_published(published)      a stored version, checked again by this bot before it
                                    is served (an older or newer bot may have published it)

A version is the text of the Q&A file, its article, lexicon and calibration (the last two
when they exist), plus `FORMAT_FILE` naming the layout, and the knowledge fingerprint.
What is checked is exactly what is stored: the texts are written to a temporary folder
and loaded from there, so a file saved while it is published cannot slip in unchecked.
Nothing here imports `telegram`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from bot.decision import calibration_path_for
from bot.engine import Engine, ReloadOutcome, sharing_the_interpreter
from bot.errors import KnowledgeError, Problem
from bot.knowledge import Knowledge, article_path_for, load_knowledge
from bot.language import LANGUAGES
from bot.lexicon import layer_path_for, lexicon_path_for
from bot.store import PublishedKnowledge, Store
from bot.textfile import read_text

FORMAT = "article-qa/1"
"""The layout of a published version; a bot refuses a version of a layout it does not know."""
FORMAT_FILE = "format"
QA_NAME, ARTICLE_NAME, LEXICON_NAME, CALIBRATION_NAME = (
    "qa.yaml",
    "article.md",
    "lexicon.yaml",
    "calibration.yaml",
)
LAYER_NAMES = {
    f"lexicon.{code}.yaml": language for code, language in LANGUAGES.items() if code != "en"
}
"""Each other language's lexicon layer (`lexicon.es.yaml`), published with the rest."""
OPTIONAL = (LEXICON_NAME, CALIBRATION_NAME, *LAYER_NAMES)


@dataclass(frozen=True, slots=True)
class Published:
    """A version in the database and the knowledge it holds."""

    version: int
    knowledge: Knowledge


def read_files(qa_path: Path) -> dict[str, str]:
    """The texts a version is made of, by their published names; KnowledgeError (located
    at the real path) when the Q&A file or the article cannot be read."""
    qa_path = Path(qa_path)
    files = {FORMAT_FILE: FORMAT}
    problems: list[Problem] = []
    paths = {
        QA_NAME: qa_path,
        ARTICLE_NAME: article_path_for(qa_path),
        LEXICON_NAME: lexicon_path_for(qa_path),
        CALIBRATION_NAME: calibration_path_for(qa_path),
        **{
            name: layer_path_for(lexicon_path_for(qa_path), language)
            for name, language in LAYER_NAMES.items()
        },
    }
    for name, path in paths.items():
        if name in OPTIONAL and not path.exists():
            continue
        try:
            files[name] = read_text(path)
        except KnowledgeError as exc:
            problems += exc.problems
    if problems:
        raise KnowledgeError(problems)
    return files


def check_files(files: Mapping[str, str], *, label: str) -> Knowledge:
    """Load and check a version's texts as the bot serves them; the problems name `label`
    (a folder, or "published version N") instead of the temporary folder."""
    layout = files.get(FORMAT_FILE)
    if layout != FORMAT:
        raise KnowledgeError(
            [
                Problem(
                    label,
                    None,
                    f"published in layout {layout!r}, which this bot does not read ({FORMAT!r})",
                    "publish it again with this bot's version: python -m bot publish",
                )
            ]
        )
    with tempfile.TemporaryDirectory(prefix="bot-knowledge-") as folder:
        for name, text in files.items():
            if name in {QA_NAME, ARTICLE_NAME, *OPTIONAL}:
                (Path(folder) / name).write_text(text, encoding="utf-8")
        qa_path = Path(folder) / QA_NAME
        try:
            knowledge = load_knowledge(qa_path)
        except KnowledgeError as exc:
            raise KnowledgeError([_relabel(p, folder, label) for p in exc.problems]) from None
    return replace(knowledge, qa_path=Path(label) / QA_NAME)


def publish_files(store: Store, qa_path: Path) -> Published:
    """Check the files beside `qa_path` and store them as the newest version (the same
    number again when the newest already has this fingerprint); KnowledgeError if any
    is wrong, and then nothing is stored."""
    files = read_files(qa_path)
    knowledge = check_files(files, label=str(Path(qa_path).parent))
    knowledge = replace(knowledge, qa_path=Path(qa_path))
    version = store.publish_knowledge(knowledge.fingerprint, files)
    return Published(version, knowledge)


def check_published(published: PublishedKnowledge) -> Knowledge:
    """A stored version checked by this bot; KnowledgeError when it refuses it. The
    version number, not the fingerprint, names it: another release of the bot may
    fingerprint the same files differently."""
    return check_files(published.files, label=f"published version {published.version}")


@dataclass(frozen=True, slots=True)
class Followed:
    """What following the newest published version did."""

    outcome: ReloadOutcome
    version: int | None
    """The newest published version looked at (served, or refused)."""
    report: bool = False
    """True for the one replica that should tell the admins about a refused version."""


def follow_latest(engine: Engine, store: Store) -> Followed:
    """Serve the newest published version if it is newer than the served one (blocking:
    checking and indexing take a while, so async code runs it in a thread)."""
    latest = store.latest_knowledge()
    served = len(engine.knowledge.entries)
    if latest is None or (engine.version is not None and latest.version <= engine.version):
        return Followed(ReloadOutcome(False, served, version=engine.version), engine.version)
    with sharing_the_interpreter():  # checking and adopting: one rebuild beside answers
        try:
            knowledge = check_published(latest)
        except KnowledgeError as exc:
            engine.last_problems = tuple(exc.problems)
            first = store.claim_once(f"knowledge-refused:{latest.version}")
            refused = ReloadOutcome(False, served, engine.last_problems)
            return Followed(refused, latest.version, first)
        return Followed(engine.adopt(knowledge, latest.version), latest.version)


def publish_local(engine: Engine, store: Store) -> ReloadOutcome:
    """An admin's /reload on a replica: publish the files it sees and serve them here at
    once (the other replicas follow the notice); a bad file changes nothing anywhere."""
    with sharing_the_interpreter():  # checking and adopting: one rebuild beside answers
        try:
            published = publish_files(store, engine.qa_path)
        except KnowledgeError as exc:
            engine.last_problems = tuple(exc.problems)
            return ReloadOutcome(False, len(engine.knowledge.entries), engine.last_problems)
        return engine.adopt(published.knowledge, published.version)


def start_engine(qa_path: Path, store: Store) -> tuple[Engine, tuple[Problem, ...]]:
    """A replica's engine at start: the newest published version; the local files (then
    published, when nothing is yet) if there is none or this bot refuses it, with the
    refusal's problems. KnowledgeError when neither can be served."""
    latest = store.latest_knowledge()
    refused: tuple[Problem, ...] = ()
    if latest is not None:
        try:
            return Engine(qa_path, knowledge=check_published(latest), version=latest.version), ()
        except KnowledgeError as exc:
            refused = tuple(exc.problems)
    if latest is None:
        published = publish_files(store, qa_path)
        return Engine(qa_path, knowledge=published.knowledge, version=published.version), ()
    return Engine(qa_path), refused


def _relabel(problem: Problem, folder: str, label: str) -> Problem:
    if problem.file.startswith(folder):
        return replace(problem, file=label + problem.file[len(folder) :])
    return problem
