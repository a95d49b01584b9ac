"""`python -m bot eval`: retrieval and answer quality on a questions file."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import BotError


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
    return any(g in text for g in gold)


def evaluate(bot, path: Path, top_k: int = 5) -> dict:
    data = _load(path)
    depth = max(top_k, 10)
    rows, timings = [], {"retrieve": [], "refusal": [], "answer": [], "total": []}
    for item in data.get("questions", []):
        a = bot.ask(item["q"], top_k=depth)
        rank = next((i for i, h in enumerate(a.hits, 1) if _contains(h.chunk.text, item["gold"])), None)
        cited = any(_contains(c.hit.chunk.text, item["gold"]) for c in a.citations)
        rows.append({"q": item["q"], "lang": item.get("lang", "?"), "rank": rank, "cited": cited,
                     "refused": a.refused})
        for name, values in timings.items():
            values.append(a.timings_ms[name])
    unanswerable = []
    for q in data.get("unanswerable", []):
        a = bot.ask(q, top_k=depth)
        unanswerable.append({"q": q, "refused": a.refused})
    conversations = []
    for conv in data.get("conversations", []):
        history: list[str] = []
        for turn in conv["turns"]:
            a = bot.ask(turn, history)
            history.append(a.query)
        rank = next((i for i, h in enumerate(a.hits, 1) if _contains(h.chunk.text, conv["gold"])), None)
        conversations.append({"turns": conv["turns"], "query": a.query, "rank": rank,
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


def report(r: dict) -> str:
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
    misses = [q for q in r["details"]["questions"] if q["rank"] != 1 or not q["cited"] or q["refused"]]
    misses += [{"q": u["q"], "note": "not refused"} for u in r["details"]["unanswerable"] if not u["refused"]]
    misses += [{"q": " / ".join(c["turns"]), "rank": c["rank"], "query": c["query"]}
               for c in r["details"]["conversations"] if not c["rank"] or c["rank"] > 3]
    if misses:
        out.append("Misses:")
        out += [f"  {json.dumps(m, ensure_ascii=False)}" for m in misses]
    return "\n".join(out)
