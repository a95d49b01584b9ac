"""Ranking chunks for a query: whole-chunk and best-sentence similarity, on FAISS candidates only."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from .index import Index
from .records import Hit

# Measured on the development questions: the chunk alone finds the right passage first
# 93% of the time, its best sentence alone 79%, the mean of both 100% (docs/benchmarks.md).
CHUNK_WEIGHT = 0.5
# The candidates of a question: the chunks of its POOL_ROWS best FAISS rows (a chunk is a
# candidate through any of its rows: itself or one of its sentences) and the lexical channel's
# best chunks. Fusion normalises over them, so the pool is fixed whatever the number of passages
# shown: asking for more never changes the ranking or the answer. More than the pool holds
# come from a deeper search and rank after it, by dense score.
POOL_ROWS = 128
ROWS_PER_HIT = 16
# Fusion of normalised (z) scores over the candidates: dense + BM25 + dictionary coverage of
# the question's terms in the passage's language (docs/how-it-works.md, "Lexical and cross-lingual signal").
LEXICAL_CANDIDATES = 20
BM25_WEIGHT = 0.1
COVERAGE_WEIGHT = 0.3
# Dense scores are compared across documents after subtracting this share of each document's
# level: the median of the generic questions' best scores in it (refusal calibration). A man
# page's copyright line matches any question a little; it no longer outranks the article's
# answer to "Who owns forecasting?" when the page sits beside it. Dev half: R@1 unchanged
# everywhere (0.5 and 1.0 tie); one document alone is not affected at all.
DOCUMENT_LEVEL = 0.5
# A question that names an option or variable literally ("What does grep -v do?") is asked
# about its definition: chunks labelled with it (section "... > -v, --invert-match") in the
# documents the question names gain this much, in z units. 16 option questions over the dev
# man pages (not in the dev set): R@1 10 -> 14 of 16 at 2 (13 at 1, 15 at 3, which costs a
# dev man answer); the dev set's man conversation "Und mit -A?" 2/3 -> 3/3, the rest unchanged.
LABEL_WEIGHT = 2.0
# A passage's standing (how far its fused score is above the candidates' mean, in standard
# deviations: its relevance label) needs this many candidates to mean anything.
MIN_STANDING = 8
# A lone document's name is left out of the embedded question when at most this share of
# its chunks say it (see unnamed).
NAME_SHARE = 0.5


def dense_hits(index: Index, query: np.ndarray, depth: int = POOL_ROWS, extra=()) -> list[Hit]:
    """Candidate chunks for a normalised query vector, scored exactly, best first.

    Candidates are the chunks of the top depth FAISS rows plus any positions in extra (found
    by another channel); all rows of each candidate are scored, so a chunk's score never
    depends on the candidate cut-off. The cost depends on depth, not on the size of the index."""
    if not len(index.chunks) or depth <= 0:
        return []
    _, rows = index.search(query, depth)
    candidates = np.unique(np.concatenate([index.row_chunk[rows].astype(np.int64),
                                           np.asarray(list(extra), dtype=np.int64)]))
    vectors, counts = index.chunk_vectors(candidates)
    sims = vectors @ query
    hits, at = [], 0
    for pos, n in zip(candidates, counts):
        s = sims[at:at + n]
        at += n
        sentences = s[1:] if n > 1 else s[:1]
        score = CHUNK_WEIGHT * float(s[0]) + (1 - CHUNK_WEIGHT) * float(sentences.max())
        hits.append(Hit(index.chunks[int(pos)], score, tuple(float(x) for x in sentences)))
    hits.sort(key=lambda h: (-h.score, h.chunk.id))
    return hits


def retrieve(index: Index, query: np.ndarray, k: int, text: str | None = None) -> list[Hit]:
    """The k best chunks for a normalised query vector (and the query's text, which brings
    in the lexical channel and dictionary terms), best first."""
    if not text or index.lexical is None:
        hits = dense_hits(index, query)
        standing = _standing(_z(np.array([h.score for h in hits])))
        return _deeper(index, query, _distinct((replace(h, standing=z) for h, z in zip(hits, standing)), k), k)
    extra = [pos for pos, _ in index.lexical.search(text, LEXICAL_CANDIDATES)]
    hits = dense_hits(index, query, POOL_ROWS, extra)
    if len(hits) < 2:
        return _deeper(index, query, hits[:k], k)
    positions = np.array([h.chunk.id for h in hits])
    offsets = DOCUMENT_LEVEL * _levels(index, hits, text)
    fused = _z(np.array([h.score for h in hits]) - offsets)
    if BM25_WEIGHT:
        fused += BM25_WEIGHT * _z(index.lexical.score(text, positions))
    if index.lexicon is not None and COVERAGE_WEIGHT:
        fused += COVERAGE_WEIGHT * _z(index.lexicon.coverage(text, positions))
    labelled = _labelled(text, hits)
    fused += LABEL_WEIGHT * labelled
    order = sorted(range(len(hits)), key=lambda i: (-fused[i], hits[i].chunk.id))
    dense = np.array([h.score for h in hits])
    z = _z(fused)
    ranked = dense.mean() + dense.std() * z  # the fused standing in dense units
    standing = _standing(z)
    out = _distinct((replace(hits[i], ranked=float(ranked[i]), offset=float(offsets[i]),
                             labelled=bool(labelled[i]), standing=standing[i]) for i in order), k)
    return _deeper(index, query, out, k)


def _deeper(index: Index, query: np.ndarray, hits: list[Hit], k: int) -> list[Hit]:
    """hits, then the next chunks by dense score when more than the pool holds are wanted."""
    if len(hits) >= k or ROWS_PER_HIT * k <= POOL_ROWS or len(hits) >= len(index.chunks):
        return hits
    have = {h.chunk.id for h in hits}
    more = [h for h in dense_hits(index, query, ROWS_PER_HIT * k) if h.chunk.id not in have]
    return _distinct([*hits, *more], k)


def _distinct(hits, k: int) -> list[Hit]:
    """The first k hits without repeats of a passage: a document that says "und danach" three
    times keeps three chunks (every line is in one), but one hit; the same text under another
    heading is another fact ("Wie -l" under two options)."""
    seen, out = set(), []
    for h in hits:
        if len(out) >= k:
            break
        key = (h.chunk.source, h.chunk.section, " ".join(h.chunk.text.split()).casefold())
        if key not in seen:
            seen.add(key)
            out.append(h)
    return out


def _labelled(text: str, hits: list[Hit]) -> np.ndarray:
    """1 for the hits whose label (the last part of their section: the option or variable a
    definition is for, "-v, --invert-match") holds an option or identifier the question names,
    among the documents the question names (grep's -v, not cp's)."""
    from .lexical import normalise, technical
    asked = set(technical(normalise(text)))
    if not asked:
        return np.zeros(len(hits))
    named = {id(h) for h in named_documents(text, hits)}
    return np.array([id(h) in named and bool(asked & set(technical(normalise(h.chunk.section.rsplit(" > ", 1)[-1]))))
                     for h in hits], dtype=float)


def _levels(index: Index, hits: list[Hit], text: str) -> np.ndarray:
    """Each hit's document level for the question's language (0 without a calibration)."""
    levels = index.calibration.get("levels") if index.calibration else None
    if not levels:
        return np.zeros(len(hits))
    from .language import detect
    lang = detect(text)
    return np.array([levels.get(h.chunk.source, {}).get(lang, 0.0) for h in hits])


def _standing(z: np.ndarray) -> list[float | None]:
    """The candidates' z-scores as their standing, or None for all when they are too few to compare."""
    return [None] * len(z) if len(z) < MIN_STANDING else [float(x) for x in z]


def _z(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    sd = x.std()
    return (x - x.mean()) / sd if sd > 1e-9 else np.zeros_like(x)


def named_documents(query: str, hits: list[Hit]) -> list[Hit]:
    """The hits from the documents the question names by file name ("BSD" for BSD.txt, "kill"
    for kill.txt), when it names some but not all of the hits' documents; otherwise all hits.

    Measured on the development half: answers that quote only the named document cite a gold
    passage more often (licences 13 -> 14 of 16, man pages unchanged; held-out man pages
    18 -> 19 of 29, the rest unchanged), e.g. "What about the BSD licence?" no longer quotes
    the GFDL's "Warranty Disclaimers"."""
    from .lexical import normalise, stopwords, words
    asked = set(words(normalise(query))) - stopwords()
    named = [h for h in hits if name_words(h.chunk.source) & asked]
    # Only when the best passage is in a named document: a file named after a common word
    # ("Private_school.txt", "United_Methodist_Church.txt") is not named by every question that
    # says "private" or "church" (XQuAD dev: 6 English answers quoted such a file while their
    # first passage, elsewhere, was right).
    if named and named[0] is hits[0] and len({h.chunk.source for h in named}) < len({h.chunk.source for h in hits}):
        return named
    return hits


def name_words(source: str) -> set[str]:
    """The words of a document's file name: "LGPL-2.1.txt" -> {"lgpl"}."""
    return set(re.findall(r"[^\W\d_]{2,}", Path(source).name.split(".")[0].casefold()))


def unnamed(index: Index, query: str) -> str:
    """The question as embedded: without the name of the corpus's only document when the
    document seldom says it ("Apache" in Apache-2.0.txt, not "Vertriebsleiter" in the article).

    Naming a lone document tells nothing about where in it the answer is, but the name drew
    the question to the title and boilerplate chunks that repeat it ("Licensed under the
    Apache License, Version 2.0"). Dev half, each licence question over its licence alone:
    R@1 Artistic 0.75 -> 1.00, others unchanged; the four dev corpora unchanged."""
    docs = (index.calibration or {}).get("documents", {})
    if len(docs) != 1 or index.lexical is None or not len(index.lexical.langs):
        return query
    (source,) = docs
    from .lexical import normalise, stem, words
    asked = set(words(normalise(query)))
    lex = index.lexical

    def share(w: str) -> float:  # of the chunks that hold the word
        tokens = [lex.vocab[t] for t in {stem(w, "en"), stem(w, "de")} if t in lex.vocab]
        return max((int(lex.ptr[t + 1] - lex.ptr[t]) for t in tokens), default=0) / len(lex.langs)

    drop = sorted(w for w in name_words(source) & asked if share(w) < NAME_SHARE)
    if not drop:
        return query
    out = re.sub(r"\b(?:" + "|".join(map(re.escape, drop)) + r")\b[ \t]*", "", query, flags=re.IGNORECASE).strip()
    return out if len(out.split()) >= 2 else query


def mentions(index: Index, phrase: str, hits: list[Hit]) -> list[bool]:
    """Which hits say every word of phrase (in their own language, through the dictionary)."""
    if not phrase or index.lexical is None or not hits:
        return [False] * len(hits)
    positions = [h.chunk.id for h in hits]
    if index.lexicon is not None:
        return [bool(x >= 0.999) for x in index.lexicon.coverage(phrase, positions)]
    from .lexical import normalise, stem, stopwords, words
    lex = index.lexical
    out = np.ones(len(hits), bool)
    for w in set(words(normalise(phrase))) - stopwords():
        out &= lex.contains(stem(w, "de"), np.array(positions)) | lex.contains(stem(w, "en"), np.array(positions))
    return [bool(x) for x in out]

