"""Deciding that the documents do not answer a question.

E5 similarities are compressed (an unrelated question still scores 0.7-0.9), so a fixed
cut-off cannot tell answerable from unanswerable questions. Two relative signals can:

- gap: how far the best passage stands above the median passage for this question. A
  question the documents answer singles out a few passages; an off-topic one lifts all alike.
- support: for each content word of the question, how much better a word of the corpus
  matches it than a word of generic background text (data/background.txt, everyday topics
  in English and German). The weakest word counts: "certifications" or "salary" are matched
  better by generic text than by anything in an article that never mentions them.

The question is refused when gap + SUPPORT_WEIGHT * support < THRESHOLD. The weight is the
ratio of the two signals' spreads; the threshold was set on the development questions (see
README, "How it works") and checked on a separate set written for the purpose.
"""
from __future__ import annotations

import re
import threading
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

SUPPORT_WEIGHT = 0.32
THRESHOLD = -0.004
# Above this gap no support value seen (>= -0.15) can lead to a refusal: skip the word check.
CLEAR_GAP = 0.05
# With this few passages the median says nothing; use a typical gap of an answerable question.
MIN_CHUNKS_FOR_GAP = 8
TYPICAL_GAP = 0.03
VOCABULARY_LIMIT = 20_000
MAX_QUESTION_WORDS = 24

DATA = Path(__file__).parent / "data"
_TOKEN = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    return frozenset((DATA / "stopwords.txt").read_text(encoding="utf-8").split())


def content_words(text: str) -> list[str]:
    """Words that carry meaning: no stopwords, no short tokens; hyphenated compounds also by part."""
    stop, out = stopwords(), []
    for token in _TOKEN.findall(text):
        for w in [token, *token.split("-")] if "-" in token else [token]:
            if len(w) > 2 and w.casefold() not in stop and w not in out:
                out.append(w)
    return out


def vocabulary(texts, limit: int = VOCABULARY_LIMIT) -> list[str]:
    """The most frequent content words of the texts, at most limit of them."""
    counts = Counter(w for t in texts for w in content_words(t))
    return sorted(w for w, _ in counts.most_common(limit))


@lru_cache(maxsize=1)
def background_words() -> list[str]:
    return vocabulary((DATA / "background.txt").read_text(encoding="utf-8").splitlines())


_word_cache: dict[tuple[str, str], np.ndarray] = {}
_cache_lock = threading.Lock()


def word_vectors(embedder, words: list[str]) -> np.ndarray:
    """Query-side vectors of single words, cached per embedder (questions repeat words)."""
    if not words:
        return np.zeros((0, embedder.dim), np.float32)
    with _cache_lock:
        found = {w: _word_cache.get((embedder.id, w)) for w in words}
    missing = [w for w, v in found.items() if v is None]
    if missing:
        found.update(zip(missing, embedder.queries(missing)))
        with _cache_lock:
            if len(_word_cache) > 100_000:
                _word_cache.clear()
            _word_cache.update({(embedder.id, w): found[w] for w in missing})
    return np.stack([found[w] for w in words])


def support(index, embedder, query: str) -> float:
    """How well the corpus, rather than generic text, covers the question's weakest word."""
    words = content_words(query)[:MAX_QUESTION_WORDS]  # bounds the cost of a very long question
    if not words or not len(index.word_vectors) or not len(index.background_vectors):
        return 0.0
    w = word_vectors(embedder, words)
    margin = (w @ index.word_vectors.T).max(1) - (w @ index.background_vectors.T).max(1)
    return float(margin.min())


def gap(chunk_scores: np.ndarray) -> float:
    if len(chunk_scores) < MIN_CHUNKS_FOR_GAP:
        return TYPICAL_GAP
    return float(chunk_scores.max() - np.median(chunk_scores))


def should_refuse(index, embedder, query: str, chunk_scores: np.ndarray) -> bool:
    if not len(chunk_scores):
        return True
    g = gap(chunk_scores)
    if g >= CLEAR_GAP:
        return False
    return g + SUPPORT_WEIGHT * support(index, embedder, query) < THRESHOLD


@lru_cache(maxsize=1)
def background_digest() -> str:
    import hashlib
    return hashlib.sha256((DATA / "background.txt").read_bytes() + (DATA / "stopwords.txt").read_bytes()).hexdigest()[:16]


_background: dict[str, np.ndarray] = {}


def background_vectors(embedder, known: dict | None = None) -> np.ndarray:
    """Vectors of the background vocabulary, computed once per embedder and process
    (known: vectors by word, e.g. from the previous index, taken as they are)."""
    with _cache_lock:
        cached = _background.get(embedder.id)
    if cached is None:
        words = background_words()
        if known and all(w in known for w in words):
            cached = np.stack([known[w] for w in words]).astype(np.float32)
        else:
            cached = np.vstack([embedder.queries(words[i:i + 64]) for i in range(0, len(words), 64)])
        with _cache_lock:
            _background[embedder.id] = cached
    return cached
