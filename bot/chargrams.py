"""A second, independent view of which entry a question is about: character n-grams.

The matcher ranks by words; this ranks by the letters' 3- and 4-grams (TF-IDF, cosine), so
it sees "recruit" in "recruitment" and shrugs off a typo the word view would miss. When
the two views pick the same entry the answer is much more often right than when they
disagree: that agreement is one of the decision's signals.

The index is built with numpy over all phrasings at once (each gram an integer code), so
a file of 10,000 entries indexes in a fraction of a second and holds a few flat arrays
instead of a dictionary per gram.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bot.pacing import give_way
from bot.text import plain

SIZES = (3, 4)

_ALPHABET = " abcdefghijklmnopqrstuvwxyz0123456789"
"""Every character `plain` can return (code 1 and up); code 0 separates texts."""
_BASE = len(_ALPHABET) + 1
_CODE = np.zeros(256, np.int64)
_CODE[np.frombuffer(_ALPHABET.encode("ascii"), np.uint8)] = np.arange(1, _BASE)
_OFFSET = {3: 0, 4: _BASE**3}
"""4-gram codes start after the last 3-gram code, so one integer names any gram."""
_CODES = _BASE**3 + _BASE**4


def grams(text: str) -> Counter[str]:
    """The character 3- and 4-grams of `text` folded to plain words, spaces at the ends."""
    padded = f" {plain(text)} "
    found: Counter[str] = Counter()
    for size in SIZES:
        for i in range(len(padded) - size + 1):
            found[padded[i : i + size]] += 1
    return found


def gram_code(gram: str) -> int:
    """The integer the index uses for `gram` (3 or 4 characters of `_ALPHABET`)."""
    code = 0
    for char in gram:
        code = code * _BASE + int(_CODE[ord(char)])
    return code + _OFFSET[len(gram)]


STEP = 1 << 17
"""Array elements one numpy call handles at a time while building: a rebuild beside
answers gives way between calls (`bot.pacing`), so none may hold the interpreter long."""


def _piecewise(size: int, part: Callable[[slice], NDArray[Any]]) -> NDArray[Any]:
    """`part` of each slice of `range(size)`, `STEP` at a time, joined."""
    pieces = []
    for start in range(0, size, STEP):
        give_way()
        pieces.append(part(slice(start, min(start + STEP, size))))
    return np.concatenate(pieces) if pieces else np.zeros(0, np.int64)


def _keys(texts: list[str], owners: list[int], documents: int) -> NDArray[np.int64]:
    """One integer per gram of `texts`: its code times `documents` plus its owner."""
    joined = "\0".join(texts)  # \0 is code 0: no gram spans two texts
    codes = _CODE[np.frombuffer(joined.encode("ascii"), np.uint8)]
    lengths = np.asarray([len(t) + 1 for t in texts], np.int64)
    doc_at = np.repeat(np.asarray(owners, np.int64), lengths)[: len(codes)]
    keys: list[NDArray[np.int64]] = []
    for size in SIZES:
        span = len(codes) - size + 1
        if span <= 0:
            continue
        code = np.zeros(span, np.int64)
        valid = np.ones(span, bool)
        for k in range(size):
            part = codes[k : k + span]
            code = code * _BASE + part
            valid &= part != 0
        keys.append((code[valid] + _OFFSET[size]) * documents + doc_at[:span][valid])
    return np.concatenate(keys) if keys else np.zeros(0, np.int64)


def _gram_doc_counts(
    documents: Sequence[Iterable[str]],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """(gram code, document, count) for every gram of every document, sorted by gram and
    then document."""
    size_of_docs = max(len(documents), 1)
    keys: list[NDArray[np.int64]] = []
    texts: list[str] = []
    owners: list[int] = []
    for d, phrasings in enumerate(documents):
        give_way()
        for text in phrasings:
            texts.append(f" {plain(text)} ")
            owners.append(d)
        if len(texts) >= 1000:  # about 50,000 characters: a few milliseconds of numpy
            keys.append(_keys(texts, owners, size_of_docs))
            texts, owners = [], []
    keys.append(_keys(texts, owners, size_of_docs))
    every = np.concatenate(keys)
    every.sort()  # numpy sorts without holding the interpreter
    first = _run_starts(every)
    unique = _piecewise(len(first), lambda s: every[first[s]])
    return (
        _piecewise(len(unique), lambda s: unique[s] // size_of_docs),
        _piecewise(len(unique), lambda s: unique[s] % size_of_docs),
        np.diff(np.append(first, len(every))),
    )


def _run_starts(ordered: NDArray[np.int64]) -> NDArray[np.intp]:
    """Where each run of equal values starts in a sorted array."""
    if not len(ordered):
        return np.zeros(0, np.intp)
    changes = _piecewise(len(ordered) - 1, lambda s: ordered[1:][s] != ordered[:-1][s])
    return np.flatnonzero(np.concatenate(([True], changes)))


def _at(piece: slice) -> NDArray[np.intp]:
    """The positions of a `_piecewise` slice."""
    return np.arange(piece.start, piece.stop)


class CharGramIndex:
    """Cosine similarity of TF-IDF character n-gram vectors, one vector per document."""

    def __init__(self, documents: Sequence[Iterable[str]]) -> None:
        codes, docs, counts = _gram_doc_counts(documents)
        self._size = len(documents)
        n = max(self._size, 1)
        self._unknown = math.log(1 + n)
        starts = _run_starts(codes)
        df = np.diff(np.append(starts, len(codes)))
        self._grams = codes[starts]
        self._idf = np.log(1 + n / df)
        self._starts = np.append(starts, len(codes))
        row = _piecewise(len(codes), lambda s: np.searchsorted(self._starts, _at(s), "right") - 1)
        weights = _piecewise(len(codes), lambda s: (1 + np.log(counts[s])) * self._idf[row[s]])
        squares = _piecewise(len(codes), lambda s: weights[s] * weights[s])
        norms = np.sqrt(np.bincount(docs, squares, self._size))
        norms[norms == 0] = 1.0
        self._docs = _piecewise(len(codes), lambda s: docs[s].astype(np.int32))
        self._weights = _piecewise(len(codes), lambda s: weights[s] / norms[docs[s]])

    def _vector(self, counts: Counter[str]) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """Posting rows of the grams the index knows, and their normalised weights."""
        codes = np.fromiter((gram_code(g) for g in counts), np.int64, len(counts))
        rows = np.minimum(np.searchsorted(self._grams, codes), len(self._grams) - 1)
        known = self._grams[rows] == codes
        idf = np.where(known, self._idf[rows], self._unknown)
        vector = (1 + np.log(np.fromiter(counts.values(), np.float64, len(counts)))) * idf
        norm = math.sqrt(float(vector @ vector)) or 1.0
        return rows[known], vector[known] / norm

    def best(self, text: str) -> tuple[int, float]:
        """The most similar document and its cosine (0-1); (-1, 0.0) when nothing shares."""
        counts = grams(text)
        if not counts or not len(self._grams):
            return -1, 0.0
        rows, weights = self._vector(counts)
        if not len(rows):
            return -1, 0.0
        begins, lengths = self._starts[rows], self._starts[rows + 1] - self._starts[rows]
        offsets = np.repeat(begins - (np.cumsum(lengths) - lengths), lengths)
        postings = np.arange(int(lengths.sum())) + offsets
        values = self._weights[postings] * np.repeat(weights, lengths)
        scores = np.bincount(self._docs[postings], values, self._size)
        d = int(np.argmax(scores))  # the first of equals: the earlier document
        return d, float(scores[d])
