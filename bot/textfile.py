"""Read a maintainer's text file, turning every way it can fail into a located Problem."""

from __future__ import annotations

from pathlib import Path

from bot.errors import KnowledgeError, Problem

MAX_FILE_BYTES = 20_000_000
"""Far above any real knowledge file; stops a runaway paste from stalling the loader."""


def read_text(path: Path) -> str:
    """Read a UTF-8 file, turning every way it can fail into a located Problem."""
    name = str(path)
    if not path.exists():
        raise KnowledgeError(
            [Problem(name, None, "no such file", "check the path, or set QA_FILE to the Q&A file")]
        )
    if path.is_dir():
        raise KnowledgeError(
            [Problem(name, None, "this is a folder, not a file", "name the .yaml file in it")]
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KnowledgeError(
            [Problem(name, None, f"cannot read it ({exc.strerror})", "check its permissions")]
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise KnowledgeError(
            [Problem(name, None, f"the file is {len(raw):,} bytes, over {MAX_FILE_BYTES:,}")]
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise KnowledgeError(
            [
                Problem(
                    name,
                    line,
                    f"byte 0x{raw[exc.start]:02x} is not UTF-8",
                    "save the file as UTF-8 (retype the character on that line)",
                )
            ]
        ) from None
