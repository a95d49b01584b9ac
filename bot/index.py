"""The loaded index: read-only, in memory (or memory-mapped), what retrieval and refusal ask.

It holds one row per chunk, then one row per sentence of a chunk with several (their vectors
in a FAISS index, or for a PostgreSQL store in pgvector), the chunks, the BM25 arrays, the
corpus's slice of the dictionary and the refusal calibration. It is built by build.py,
written and loaded by a store (stores/), and imports nothing above it.
"""
from __future__ import annotations

import json
import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import IndexCorrupt
from .records import Chunk

HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 128


class ChunkList:
    """The chunks of an index, parsed from chunks.jsonl only when asked for (start-up stays
    fast for large corpora). Behaves like a read-only list."""

    def __init__(self, path: Path, offsets: np.ndarray):
        self._offsets = offsets
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            self._data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        self._cache: dict[int, Chunk] = {}

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, pos):
        if isinstance(pos, slice):
            return [self[i] for i in range(*pos.indices(len(self)))]
        pos = int(pos)
        if pos < 0:
            pos += len(self)
        if not 0 <= pos < len(self):
            raise IndexError(pos)
        chunk = self._cache.get(pos)
        if chunk is None:
            line = self._data[int(self._offsets[pos]):int(self._offsets[pos + 1])]
            try:
                chunk = Chunk.from_json(json.loads(line))
            except (ValueError, TypeError, KeyError) as e:
                raise IndexCorrupt(f"index chunk {pos} is unreadable ({type(e).__name__}): rebuild with "
                                   "`python -m bot index --rebuild`") from e
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[pos] = chunk
        return chunk

    def __iter__(self):
        return (self[i] for i in range(len(self)))


@dataclass
class Index:
    manifest: dict
    chunks: ChunkList | list[Chunk]
    rows: np.ndarray  # (n_rows, 2) int32: chunk position, sentence number (-1: whole chunk)
    chunk_rows: np.ndarray  # first row of each chunk, plus the total at the end
    # A FAISS index, or for a PostgreSQL store stores.postgres.PgVectors (the same few methods,
    # answered by pgvector): search, reconstruct_batch, reconstruct_n, ntotal, d.
    faiss_index: object
    lexical: object = None  # lexical.LexicalIndex
    lexicon: object = None  # lexicon.Lexicon, None without the dictionary
    calibration: dict = field(default_factory=dict)

    @property
    def row_chunk(self) -> np.ndarray:
        return self.rows[:, 0]

    @property
    def row_sentence(self) -> np.ndarray:
        return self.rows[:, 1]

    @property
    def vectors(self) -> np.ndarray:
        """All vectors, as a new array: for tests and tools, not for answering questions."""
        n = self.faiss_index.ntotal
        return self.faiss_index.reconstruct_n(0, n) if n else np.zeros((0, self.faiss_index.d), np.float32)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Inner-product top-k rows: (scores, rows), best first."""
        k = min(k, self.faiss_index.ntotal)
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        scores, rows = self.faiss_index.search(query.reshape(1, -1).astype(np.float32), k)
        keep = rows[0] >= 0
        return scores[0][keep], rows[0][keep]

    def chunk_vectors(self, positions) -> tuple[np.ndarray, np.ndarray]:
        """The vectors of all rows of the given chunks, and the row count of each chunk."""
        positions = np.asarray(positions, dtype=np.int64)
        starts, ends = self.chunk_rows[positions], self.chunk_rows[positions + 1]
        counts = ends - starts
        rows = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)]) if len(positions) else \
            np.zeros(0, np.int64)
        return self.faiss_index.reconstruct_batch(rows.astype(np.int64)), counts


def chunk_rows(rows: np.ndarray, n_chunks: int) -> np.ndarray:
    """The first row of each chunk, plus the total at the end (rows are sorted by chunk)."""
    return np.searchsorted(rows[:, 0], np.arange(n_chunks + 1), side="left").astype(np.int64)


def dense(vectors: np.ndarray, kind: str):
    """A FAISS inner-product index over vectors: exact ("flat") or an HNSW graph ("hnsw")."""
    import faiss
    dim = vectors.shape[1]
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexFlatIP(dim)
    index.add(vectors)
    return index
