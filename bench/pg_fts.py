"""PostgreSQL full-text search as the lexical channel, against the bot's own BM25.

    python bench/pg_fts.py URL tests/data/dev/questions.json --split dev [--only man]

For each corpus of the questions file (built from its recipe into .eval-cache/, as `eval`
does), the chunks go into a scratch table with a tsvector in their language's configuration
(german or english), and every answerable question is ranked twice with the same fusion
(z(dense) + 0.1 z(lexical) + 0.3 z(coverage), retrieval.py): the lexical candidates and scores
from the bot's BM25, then from PostgreSQL (`ts_rank_cd` over the question's terms joined with
OR in both configurations). Prints R@1/R@3 per corpus for each.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import retrieval  # noqa: E402
from bot.chatbot import Chatbot  # noqa: E402
from bot.config import from_env  # noqa: E402
from bot.corpora import materialize  # noqa: E402
from bot.evaluation import _contains, _items, _load  # noqa: E402

CONFIG = {"de": "german", "en": "english"}
# The question's words in both configurations, any of them (plainto_tsquery would want all).
QUERY = ("(SELECT replace(plainto_tsquery('german', %(q)s)::text, '&', '|')::tsquery || "
         "replace(plainto_tsquery('english', %(q)s)::text, '&', '|')::tsquery AS q) AS t")


class PostgresLexical:
    """The bot's LexicalIndex with search and score answered by PostgreSQL's text search."""

    def __init__(self, lexical, conn):
        self._lexical, self._conn = lexical, conn

    def __getattr__(self, name):
        return getattr(self._lexical, name)

    def search(self, text: str, k: int):
        return self._conn.execute(f"SELECT pos, ts_rank_cd(tsv, t.q) FROM bench_fts, {QUERY} WHERE tsv @@ t.q "
                                  "ORDER BY 2 DESC, pos LIMIT %(k)s", {"q": text, "k": k}).fetchall()

    def score(self, text: str, positions) -> np.ndarray:
        positions = [int(p) for p in positions]
        found = dict(self._conn.execute(f"SELECT pos, ts_rank_cd(tsv, t.q) FROM bench_fts, {QUERY} "
                                        "WHERE pos = ANY(%(p)s)", {"q": text, "p": positions}).fetchall())
        return np.array([found.get(p, 0.0) for p in positions], np.float32)


def main() -> int:
    import psycopg
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("file", type=Path)
    p.add_argument("--split", choices=["dev", "held-out"])
    p.add_argument("--only")
    p.add_argument("--cache", type=Path, default=Path(".eval-cache"))
    args = p.parse_args()
    data = _load(args.file)
    groups = _items(data, "questions", args.split, args.only)
    settings = from_env()
    conn = psycopg.connect(args.url, autocommit=True)
    print(f"{'corpus':10} {'n':>3}  {'BM25 R@1':>8} {'R@3':>5}   {'PG FTS R@1':>10} {'R@3':>5}")
    for name in sorted(groups):
        folder = materialize(name, data["corpora"][name], args.cache)
        bot = Chatbot(settings.with_(corpus=folder, index=folder.parent / "index"), quiet=True)
        index = bot.index
        conn.execute("DROP TABLE IF EXISTS bench_fts")
        conn.execute("CREATE TABLE bench_fts (pos integer PRIMARY KEY, tsv tsvector NOT NULL)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO bench_fts VALUES (%s, to_tsvector(%s::regconfig, %s))",
                            [(pos, CONFIG.get(lang, "simple"), c.text)
                             for pos, (c, lang) in enumerate(zip(index.chunks, index.lexical.langs))])
        conn.execute("CREATE INDEX ON bench_fts USING gin (tsv)")
        fts = dataclasses.replace(index, lexical=PostgresLexical(index.lexical, conn))
        ranks = {"bm25": [], "fts": []}
        for item in groups[name]:
            qvec = bot.embedder.queries([item["q"]])[0]
            for key, idx in (("bm25", index), ("fts", fts)):
                hits = retrieval.retrieve(idx, qvec, 3, item["q"])
                ranks[key].append(next((i for i, h in enumerate(hits, 1) if _contains(h.chunk.text, item["gold"])),
                                       None))
        n = len(groups[name])

        def r(key, k):
            return sum(1 for x in ranks[key] if x is not None and x <= k) / n
        print(f"{name:10} {n:3}  {r('bm25', 1):8.2f} {r('bm25', 3):5.2f}   {r('fts', 1):10.2f} {r('fts', 3):5.2f}",
              flush=True)
    conn.execute("DROP TABLE IF EXISTS bench_fts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
