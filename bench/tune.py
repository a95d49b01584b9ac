"""Grid-search fusion weights and refusal rules on a questions file (tune on the dev half only).

    python bench/tune.py tests/data/dev/questions.json --split dev [--only man]

For every answerable question it scores the real candidate set (FAISS candidates plus the
BM25 top 20) with each signal, then reports R@1/R@3 per corpus for a grid of fusion weights
z(dense) + a z(bm25) + b z(coverage); for every question it records the refusal signals and
reports, per corpus, answerable refused vs unanswerable refused for a grid of rules.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import retrieval  # noqa: E402
from bot.chatbot import Chatbot  # noqa: E402
from bot.config import from_env  # noqa: E402
from bot.corpora import materialize  # noqa: E402
from bot.evaluation import _contains, _items, _load  # noqa: E402

GRID_A = (0.0, 0.1, 0.2, 0.3)
GRID_B = (0.0, 0.3, 0.5, 0.8)
GRID_C = (0.0, 0.5, 1.0, 2.0)  # penalty for chunks shorter than SHORT_WORDS words
SHORT_WORDS = 8


def features(bot, question: str) -> dict:
    index = bot.index
    qvec = bot.embedder.queries([question])[0]
    extra = [pos for pos, _ in index.lexical.search(question, retrieval.LEXICAL_CANDIDATES)]
    hits = retrieval.dense_hits(index, qvec, retrieval.POOL_ROWS, extra)
    pos = np.array([h.chunk.id for h in hits])
    cov = index.lexicon.coverage(question, pos) if index.lexicon is not None else np.zeros(len(hits))
    return {"hits": hits, "dense": np.array([h.score for h in hits]), "bm25": index.lexical.score(question, pos),
            "cov": np.asarray(cov, float),
            "short": np.array([max(0.0, 1 - len(h.chunk.text.split()) / SHORT_WORDS) for h in hits])}


def fused_order(f: dict, a: float, b: float, c: float = 0.0) -> np.ndarray:
    z = retrieval._z
    s = z(f["dense"]) + a * z(f["bm25"]) + b * z(f["cov"]) - c * f["short"]
    return np.lexsort((np.array([h.chunk.id for h in f["hits"]]), -s))


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("file", type=Path)
    p.add_argument("--split", default="dev")
    p.add_argument("--only")
    p.add_argument("--cache", type=Path, default=Path(".eval-cache"))
    args = p.parse_args(argv)
    data = _load(args.file)
    settings = from_env()
    kinds = {k: _items(data, k, args.split, args.only) for k in ("questions", "unanswerable")}
    results = {}
    for name in sorted(set(kinds["questions"]) | set(kinds["unanswerable"])):
        folder = materialize(name, data["corpora"][name], args.cache)
        bot = Chatbot(settings.with_(corpus=folder, index=folder.parent / "index"), quiet=True)
        rows = []
        for item in kinds["questions"].get(name, []):
            f = features(bot, item["q"])
            f["gold"] = np.array([_contains(h.chunk.text, item["gold"]) for h in f["hits"]])
            f["lang"] = item.get("lang")
            rows.append(f)
        signals = []
        for kind in ("questions", "unanswerable"):
            for item in kinds[kind].get(name, []):
                a = bot.ask(item["q"])
                signals.append((kind == "unanswerable", a.signals, item["q"]))
        results[name] = (rows, signals)
        print(f"scored {name}", file=sys.stderr, flush=True)

    print("fusion: R@1 / R@3 per corpus (a = BM25 weight, b = coverage weight)")
    names = list(results)
    print(f"  {'a':>4} {'b':>4} {'c':>4} " + " ".join(f"{n:>16}" for n in names) + f" {'all R@1':>8}")
    for a, b, c in itertools.product(GRID_A, GRID_B, GRID_C):
        cells, r1_all, n_all = [], 0, 0
        for n in names:
            rows = results[n][0]
            ranks = [next((i for i, j in enumerate(fused_order(f, a, b, c)) if f["gold"][j]), 99) for f in rows]
            r1, r3 = sum(r == 0 for r in ranks), sum(r < 3 for r in ranks)
            cells.append(f"{r1 / max(len(rows), 1):.2f}/{r3 / max(len(rows), 1):.2f} ({len(rows)})")
            r1_all += r1
            n_all += len(rows)
        print(f"  {a:>4} {b:>4} {c:>4} " + " ".join(f"{x:>16}" for x in cells) + f" {r1_all / max(n_all, 1):>8.2f}")

    print("\nrefusal signals (u = unanswerable):")
    for n in names:
        for unans, s, q in sorted(results[n][1], key=lambda t: t[1].get("percentile", 0)):
            print(f"  {n:9} {'u' if unans else ' '} pct {s.get('percentile', 0):.3f} "
                  f"absent {s.get('absent', 0):.2f}  {q[:70]}")
    print("\nrefusal rules: answerable refused / unanswerable refused per corpus")
    for pmin, amin, pcap in itertools.product((0.9, 0.95, 0.98), (0.34, 0.5, 0.67, 2.0), (0.99, 1.01)):
        cells = []
        for n in names:
            sig = results[n][1]
            ref = [(u, s["percentile"] < pmin or (s["absent"] >= amin and s["percentile"] < pcap))
                   for u, s, _ in sig]
            fa = sum(r for u, r in ref if not u)
            tu = sum(r for u, r in ref if u)
            cells.append(f"{fa:>2}/{sum(not u for u, _ in ref):<2} {tu:>2}/{sum(u for u, _ in ref):<2}")
        print(f"  pct<{pmin} or (absent>={amin} and pct<{pcap}): " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
