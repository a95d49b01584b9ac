"""`python -m bot eval`: retrieval and answer quality on a questions file, per corpus and split.

A questions file holds "questions" (with gold excerpts: a passage is a hit when it contains
one), "unanswerable" questions and "conversations" (gold for the last turn). Without a
"corpora" section they are asked against the configured corpus; with one, each item names
its corpus ("corpus") and may name its half ("split": "dev" or "held-out"), and each corpus
is built from its recipe (see corpora.py) with an index of its own in the cache folder.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import BotError
from .matching import fold

DEFAULT = "default"


def _load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BotError(f"questions file {path} not found") from None
    except (OSError, ValueError) as e:
        raise BotError(f"questions file {path} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("questions", []), list):
        raise BotError(f"questions file {path} must hold an object with a 'questions' list")
    return data


def _contains(text: str, gold: list[str]) -> bool:
    # Whitespace-insensitive: justified man-page lines hold runs of spaces that a reader may reflow;
    # folded (matching.fold): a PDF prints the gold's "--preserve" as "−−preserve", "RFILE's" as "RFILE’s".
    flat = " ".join(fold(text).split())
    return any(" ".join(fold(g).split()) in flat for g in gold)


def _items(data: dict, kind: str, split: str | None, only: str | None) -> dict[str, list[dict]]:
    """Items of one kind grouped by corpus, filtered by split and corpus name."""
    out: dict[str, list[dict]] = {}
    for item in data.get(kind, []):
        item = {"q": item} if isinstance(item, str) else item
        if split and item.get("split", split) != split:
            continue
        corpus = item.get("corpus", DEFAULT)
        if only and corpus != only:
            continue
        out.setdefault(corpus, []).append(item)
    return out


def evaluate_file(settings, path: Path, top_k: int = 5, split: str | None = None, only: str | None = None,
                  cache: Path = Path(".eval-cache")) -> dict:
    """{corpus name: evaluate(...)} for every corpus the (filtered) file asks about."""
    from .chatbot import Chatbot
    from .corpora import materialize
    data = _load(path)
    kinds = {k: _items(data, k, split, only) for k in ("questions", "unanswerable", "conversations")}
    names = sorted({name for groups in kinds.values() for name in groups})
    recipes = data.get("corpora", {})
    results = {}
    for name in names:
        if name == DEFAULT:
            corpus_settings = settings
        elif name in recipes:
            folder = materialize(name, recipes[name], cache)
            corpus_settings = settings.with_(corpus=folder, index=folder.parent / "index")
        else:
            raise BotError(f"questions file {path} names corpus {name!r} but has no recipe for it in 'corpora'")
        bot = Chatbot(corpus_settings, quiet=True)
        results[name] = evaluate(bot, {k: groups.get(name, []) for k, groups in kinds.items()}, top_k)
    if not results:
        raise BotError(f"questions file {path} has no questions" + (f" in split {split!r}" if split else "")
                       + (f" for corpus {only!r}" if only else ""))
    return results


def evaluate(bot, items: dict, top_k: int = 5) -> dict:
    depth = max(top_k, 10)
    rows, timings = [], {"retrieve": [], "refusal": [], "answer": [], "total": []}
    for item in items.get("questions", []):
        a = bot.ask(item["q"], top_k=depth)
        rank = next((i for i, h in enumerate(a.hits, 1) if _contains(h.chunk.text, item["gold"])), None)
        cited = any(_contains(c.hit.chunk.text, item["gold"]) for c in a.citations)
        rows.append({"q": item["q"], "lang": item.get("lang", "?"), "rank": rank, "cited": cited,
                     "refused": a.refused, "signals": a.signals})
        for name, values in timings.items():
            values.append(a.timings_ms.get(name, 0.0))
    unanswerable = []
    for item in items.get("unanswerable", []):
        a = bot.ask(item["q"], top_k=depth)
        unanswerable.append({"q": item["q"], "refused": a.refused, "kind": item.get("kind"), "signals": a.signals})
    conversations = []
    for conv in items.get("conversations", []):
        history: list[str] = []
        for turn in conv["turns"]:
            a = bot.ask(turn, history)
            history.append(a.query)
        rank = next((i for i, h in enumerate(a.hits, 1) if _contains(h.chunk.text, conv["gold"])), None)
        conversations.append({"turns": conv["turns"], "query": a.query, "rank": rank, "refused": a.refused,
                              "cited": any(_contains(c.hit.chunk.text, conv["gold"]) for c in a.citations)})

    def metrics(subset):
        ranks = [r["rank"] for r in subset]
        n = len(ranks)
        return {"n": n,
                "recall@1": sum(1 for r in ranks if r == 1) / n if n else 0.0,
                "recall@3": sum(1 for r in ranks if r and r <= 3) / n if n else 0.0,
                "mrr": sum(1 / r for r in ranks if r) / n if n else 0.0}

    langs = sorted({r["lang"] for r in rows})
    return {
        "retrieval": {"overall": metrics(rows), **{lang: metrics([r for r in rows if r["lang"] == lang])
                                                   for lang in langs}},
        "answers": {"n": len(rows), "cited_gold": sum(r["cited"] and not r["refused"] for r in rows),
                    "refused": sum(r["refused"] for r in rows)},
        "unanswerable": {"n": len(unanswerable), "refused": sum(u["refused"] for u in unanswerable)},
        "conversations": {"n": len(conversations),
                          "gold_in_top3": sum(1 for c in conversations if c["rank"] and c["rank"] <= 3),
                          "cited_gold": sum(c["cited"] for c in conversations)},
        "timings_ms": {name: {"median": float(np.median(v)) if v else 0.0,
                              "p95": float(np.percentile(v, 95)) if v else 0.0}
                       for name, v in timings.items()},
        "details": {"questions": rows, "unanswerable": unanswerable, "conversations": conversations},
    }


def report(results: dict, misses: bool = True) -> str:
    out = []
    for name, r in results.items():
        if len(results) > 1 or name != DEFAULT:
            out.append(f"== corpus {name}")
        out.append(_report_one(r, misses))
    if len(results) > 1:
        out.append("== summary")
        out.append(f"  {'corpus':10} {'n':>3} {'R@1':>5} {'R@3':>5} {'cited':>6} {'false ref.':>10} "
                   f"{'refused':>8} {'follow-ups':>10}")
        for name, r in results.items():
            m, a, u, c = r["retrieval"]["overall"], r["answers"], r["unanswerable"], r["conversations"]
            out.append(f"  {name:10} {m['n']:>3} {m['recall@1']:>5.2f} {m['recall@3']:>5.2f} "
                       f"{a['cited_gold']:>3}/{a['n']:<2} {a['refused']:>6}/{a['n']:<3} "
                       f"{u['refused']:>5}/{u['n']:<2} {c['cited_gold']:>7}/{c['n']:<2}")
    return "\n".join(out)


def _report_one(r: dict, misses: bool) -> str:
    out = ["Retrieval (answerable questions):",
           f"  {'':8} {'n':>3} {'R@1':>6} {'R@3':>6} {'MRR':>6}"]
    for name, m in r["retrieval"].items():
        out.append(f"  {name:8} {m['n']:>3} {m['recall@1']:>6.2f} {m['recall@3']:>6.2f} {m['mrr']:>6.2f}")
    a, u, c = r["answers"], r["unanswerable"], r["conversations"]
    out += ["Answers:",
            f"  cite a gold excerpt      {a['cited_gold']}/{a['n']}",
            f"  refused (answerable)     {a['refused']}/{a['n']}",
            f"  refused (unanswerable)   {u['refused']}/{u['n']}",
            f"  conversations, last turn gold in top 3: {c['gold_in_top3']}/{c['n']}, cited: {c['cited_gold']}/{c['n']}"]
    t = r["timings_ms"]
    out.append("Timings (ms, answerable questions): " + ", ".join(
        f"{name} median {v['median']:.1f} p95 {v['p95']:.1f}" for name, v in t.items()))
    if misses:
        wrong = [q for q in r["details"]["questions"] if q["rank"] != 1 or not q["cited"] or q["refused"]]
        wrong += [{"q": u["q"], "note": "not refused"} for u in r["details"]["unanswerable"] if not u["refused"]]
        wrong += [{"q": " / ".join(c["turns"]), "rank": c["rank"], "query": c["query"]}
                  for c in r["details"]["conversations"] if not c["rank"] or c["rank"] > 3 or not c["cited"]]
        if wrong:
            out.append("Misses:")
            out += [f"  {json.dumps(m, ensure_ascii=False)}" for m in wrong]
    return "\n".join(out)
