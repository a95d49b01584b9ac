"""Ranking chunks for a query: whole-chunk and best-sentence similarity together."""
from __future__ import annotations

import numpy as np

from .index import Index
from .records import Hit

# Measured on the development questions: the chunk alone finds the right passage first
# 93% of the time, its best sentence alone 79%, the mean of both 100% (see README).
CHUNK_WEIGHT = 0.5


def retrieve(index: Index, query: np.ndarray, k: int) -> list[Hit]:
    """The k best chunks for a normalised query vector, best first."""
    if not index.chunks or k <= 0:
        return []
    # FAISS finds the candidate chunks through any of their rows; their other rows are
    # then scored exactly, so a chunk's score never depends on the candidate cut-off.
    _, rows = index.search(query, max(64, 16 * k))
    candidates = np.unique(index.row_chunk[rows])
    starts = np.searchsorted(index.row_chunk, candidates, side="left")
    ends = np.searchsorted(index.row_chunk, candidates, side="right")
    hits = []
    for pos, a, b in zip(candidates, starts, ends):
        s = index.vectors[a:b] @ query
        sentences = s[1:] if b - a > 1 else s[:1]
        score = CHUNK_WEIGHT * float(s[0]) + (1 - CHUNK_WEIGHT) * float(sentences.max())
        hits.append(Hit(index.chunks[pos], score, tuple(float(x) for x in sentences)))
    hits.sort(key=lambda h: (-h.score, h.chunk.id))
    return hits[:k]


def chunk_scores(index: Index, query: np.ndarray) -> np.ndarray:
    """The combined score of every chunk (the same formula as retrieve), by one matrix product."""
    if not index.chunks:
        return np.zeros(0, np.float32)
    rows = index.vectors @ query
    starts = np.flatnonzero(np.r_[True, np.diff(index.row_chunk) != 0])
    whole = rows[starts]
    sentences = np.where(index.row_sentence >= 0, rows, -np.inf)
    best = np.maximum.reduceat(sentences, starts)
    best = np.where(np.isfinite(best), best, whole)  # one-sentence chunks have only their own row
    return CHUNK_WEIGHT * whole + (1 - CHUNK_WEIGHT) * best
