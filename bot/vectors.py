"""Chunks to vectors: which texts a corpus embeds (its row layout) and embedding them, each
distinct text once, reusing the vectors an earlier build already made for the same text."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .chunking import embedding_text


def row_layout(chunks, late: bool = False, context: bool = False) -> tuple[list[str], np.ndarray]:
    """Texts to embed and, per row, (chunk position, sentence number or -1 for the whole chunk).
    With late chunking a sentence row's "text" is a key (chunk text, sentence number): its
    vector comes from the chunk's forward pass. With context, a whole-chunk row also names
    its document and section ("sort · BESCHREIBUNG > -n, --numeric-sort: ...")."""
    texts, rows = [], []
    for pos, c in enumerate(chunks):
        whole = embedding_text(c.text)
        if context:
            whole = f"{chunk_context(c)}: {whole}"
        texts.append(whole)
        rows.append((pos, -1))
        if len(c.sentences) > 1:
            for j, (s, e) in enumerate(c.sentences):
                texts.append(f"{whole}\x00{j}" if late else embedding_text(c.text[s:e]))
                rows.append((pos, j))
    return texts, np.array(rows, dtype=np.int32).reshape(-1, 2)


def chunk_context(c) -> str:
    """The document and section a chunk stands in, as a reader would name them."""
    name = Path(c.source).stem.replace("_", " ").replace("-", " ")
    path = " > ".join(c.headings) if getattr(c, "headings", ()) else c.section
    return f"{name} · {path}" if path else name


def known_vectors(index, embedder_id: str, late: bool = False) -> dict:
    """The vectors of an index by the text they embed, so a rebuild embeds only what is new;
    empty when they embed other texts than these keys say (another embedder or layout)."""
    if index.manifest.get("embedder") != embedder_id or index.manifest.get("sentence_vectors", "separate") != \
            ("late" if late else "separate") or "chunk_context" not in index.manifest:
        return {}
    # Keys are the texts as embedded then, with or without context.
    texts, _ = row_layout(index.chunks, late, bool(index.manifest.get("chunk_context")))
    return dict(zip(texts, index.vectors))


def embed_late(embedder, chunks, texts, rows, known, on_texts=None) -> tuple[np.ndarray, int]:
    """Chunk vectors and their sentences' vectors from one forward pass per chunk; on_texts(n)
    after each batch, with the chunks embedded so far."""
    from .index import chunk_rows
    vectors = np.empty((len(texts), embedder.dim), np.float32)
    starts = chunk_rows(rows, len(chunks))
    todo = []
    for pos in range(len(chunks)):
        a, b = starts[pos], starts[pos + 1]
        if all(t in known for t in texts[a:b]):
            vectors[a:b] = [known[t] for t in texts[a:b]]
        else:
            todo.append(pos)
    batch = 64
    for i in range(0, len(todo), batch):
        part = todo[i:i + batch]
        whole, pooled = embedder.passages_with_spans(
            [texts[starts[p]] for p in part],
            [_reflowed_spans(chunks[p], texts[starts[p]]) if len(chunks[p].sentences) > 1 else [] for p in part])
        for p, w, sentences in zip(part, whole, pooled):
            a, b = starts[p], starts[p + 1]
            vectors[a] = w
            vectors[a + 1:b] = sentences
        if on_texts:
            on_texts(i + len(part))
    return vectors, len(todo)


def _reflowed_spans(chunk, whole: str) -> list[tuple[int, int]]:
    """The chunk's sentence spans inside its embedding text (sentences reflowed one by one)."""
    spans, at = [], 0
    for s, e in chunk.sentences:
        piece = embedding_text(chunk.text[s:e])
        start = whole.find(piece, at)
        start = start if start >= 0 else at
        spans.append((start, start + len(piece)))
        at = start + len(piece)
    return spans


class Vectors(np.ndarray):
    """An array that also says how many of its rows were embedded rather than reused."""
    embedded: int


def embed(embedder, texts: list[str], queries: bool = False, known: dict | None = None, on_texts=None) -> np.ndarray:
    """Vectors for texts, taking those in known as they are and embedding each other distinct
    text once (man pages repeat their "--help" lines, licences their clauses); on_texts(n)
    after each batch, with the texts embedded so far."""
    known = known or {}
    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        first.setdefault(t, i)
    todo = [i for t, i in first.items() if t not in known]
    if len(todo) == len(texts):
        vectors = _encode(embedder, texts, queries, on_texts)  # no second copy of a large corpus
    else:
        vectors = np.empty((len(texts), embedder.dim), np.float32)
        if todo:
            fresh = _encode(embedder, [texts[i] for i in todo], queries, on_texts)
            vectors[todo] = fresh
            del fresh
        for i, t in enumerate(texts):
            if t in known:
                vectors[i] = known[t]
            elif first[t] != i:
                vectors[i] = vectors[first[t]]
    out = vectors.view(Vectors)
    out.embedded = len(todo)
    return out


def embedding_order(texts: list[str]) -> list[int]:
    """The order texts are embedded in: shortest first, so each batch holds texts of about one
    length and pads little (six man pages on the torch engine: 10 s instead of 20 s in document
    order; `python -m bot bench --pages`). Progress estimates follow the same order."""
    return sorted(range(len(texts)), key=lambda i: len(texts[i]))


def _encode(embedder, texts: list[str], queries: bool, on_texts=None) -> np.ndarray:
    from .embedders import batch_size
    batch = batch_size(embedder)
    encode = embedder.queries if queries else embedder.passages
    order = embedding_order(texts)
    # Filled in place: a large corpus needs one copy of its vectors, not two.
    vectors = np.empty((len(texts), embedder.dim), np.float32)
    for i in range(0, len(texts), batch):
        part = order[i:i + batch]
        vectors[part] = encode([texts[j] for j in part])
        if on_texts:
            on_texts(i + len(part))
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors
