"""Composing an extractive answer with [n] citations, or an honest refusal."""
from __future__ import annotations

import re

from .records import Citation, Hit

MAX_SENTENCES = 3
# A further sentence joins the answer only when it matches nearly as well as the best one.
JOIN_MARGIN = 0.02
REFUSALS = {
    "en": "The documents do not cover this question.",
    "de": "Dazu enthalten die Dokumente keine Antwort.",
}
QUOTES = {"en": ("“", "”"), "de": ("„", "“")}


def refusal(lang: str) -> str:
    return REFUSALS.get(lang, REFUSALS["en"])


def compose(hits: list[Hit], lang: str, passages: int = 3) -> tuple[str, tuple[Citation, ...]]:
    """The best one to three sentences of the top passages, most direct first, each followed by [n]."""
    candidates = []
    for rank, hit in enumerate(hits[:passages]):
        for j, span in enumerate(hit.chunk.sentences):
            sim = hit.sentence_scores[j] if j < len(hit.sentence_scores) else hit.score
            # The sentence's own match, backed by how well its passage matches as a whole.
            candidates.append((0.5 * sim + 0.5 * hit.score, rank, j, hit, span))
    if not candidates:
        return "", ()
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    best = candidates[0][0]
    chosen, seen = [], set()
    for score, rank, j, hit, span in candidates:
        if len(chosen) == MAX_SENTENCES or score < best - JOIN_MARGIN:
            break
        key = " ".join(hit.chunk.text[span[0]:span[1]].split()).casefold()
        if key in seen:
            continue
        seen.add(key)
        chosen.append((hit, span))
    numbers: dict[int, int] = {}
    spans: dict[int, list] = {}
    parts = []
    open_q, close_q = QUOTES.get(lang, QUOTES["en"])
    for hit, span in chosen:
        n = numbers.setdefault(hit.chunk.id, len(numbers) + 1)
        spans.setdefault(n, []).append(span)
        sentence = _inert_markers(" ".join(hit.chunk.text[span[0]:span[1]].split()))
        parts.append(f"{open_q}{sentence}{close_q} [{n}]")
    by_id = {h.chunk.id: h for h, _ in chosen}
    citations = tuple(Citation(n, by_id[cid], tuple(sorted(spans[n]))) for cid, n in numbers.items())
    return " ".join(parts), citations


def _inert_markers(sentence: str) -> str:
    """Bracketed numbers inside a quoted sentence would read as our own citation markers."""
    return re.sub(r"\[(\d+)\]", r"(\1)", sentence)


def markers(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"\[(\d+)\]", text)]
