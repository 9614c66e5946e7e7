"""A second, independent view of which entry a question is about: character n-grams.

The matcher ranks by words; this ranks by the letters' 3- and 4-grams (TF-IDF, cosine), so
it sees "recruit" in "recruitment" and shrugs off a typo the word view would miss. When
the two views pick the same entry the answer is much more often right than when they
disagree: that agreement is one of the decision's signals.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from bot.text import plain

SIZES = (3, 4)


def grams(text: str) -> Counter[str]:
    """The character 3- and 4-grams of `text` folded to plain words, spaces at the ends."""
    padded = f" {plain(text)} "
    found: Counter[str] = Counter()
    for size in SIZES:
        for i in range(len(padded) - size + 1):
            found[padded[i : i + size]] += 1
    return found


class CharGramIndex:
    """Cosine similarity of TF-IDF character n-gram vectors, one vector per document."""

    def __init__(self, documents: Sequence[Iterable[str]]) -> None:
        counts = []
        for texts in documents:
            total: Counter[str] = Counter()
            for text in texts:
                total.update(grams(text))
            counts.append(total)
        n = max(len(counts), 1)
        df: Counter[str] = Counter(g for c in counts for g in c)
        self._idf = {g: math.log(1 + n / c) for g, c in df.items()}
        self._unknown = math.log(1 + n)
        self._size = len(counts)
        lists: dict[str, tuple[list[int], list[float]]] = {}
        for d, c in enumerate(counts):
            for gram, weight in self._vector(c).items():
                docs, weights = lists.setdefault(gram, ([], []))
                docs.append(d)
                weights.append(weight)
        self._postings: dict[str, tuple[NDArray[np.int32], NDArray[np.float64]]] = {
            g: (np.asarray(d, np.int32), np.asarray(w)) for g, (d, w) in lists.items()
        }

    def _vector(self, counts: Counter[str]) -> dict[str, float]:
        vector = {g: (1 + math.log(x)) * self._idf.get(g, self._unknown) for g, x in counts.items()}
        norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
        return {g: w / norm for g, w in vector.items()}

    def best(self, text: str) -> tuple[int, float]:
        """The most similar document and its cosine (0-1); (-1, 0.0) when nothing shares."""
        docs, weights = [], []
        for gram, weight in self._vector(grams(text)).items():
            posting = self._postings.get(gram)
            if posting is not None:
                docs.append(posting[0])
                weights.append(posting[1] * weight)
        if not docs:
            return -1, 0.0
        scores = np.bincount(np.concatenate(docs), np.concatenate(weights), self._size)
        d = int(np.argmax(scores))  # the first of equals: the earlier document
        return d, float(scores[d])
