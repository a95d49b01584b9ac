"""Composing an extractive answer with [n] citations, or an honest refusal.

The answer quotes the sentences of the top passages that match the question best. A
sentence that opens with a pronoun ("Sie arbeiten ...") brings the sentence before it, so
the quote says who "Sie" is. Sentences of one passage stay together, in document order,
under one marker; the passage holding the best sentence comes first. A question that names
an option is answered from that option's definition only.
"""
from __future__ import annotations

import re

from .records import Citation, Hit

MAX_SENTENCES = 3
# A further sentence joins only when it matches nearly as well as the best one. Measured on
# the development half: 0.01 -> 0.03 lifts answers citing a gold passage from 50 to 54 of 69
# (man pages 16 -> 19 of 30: near-equal options are quoted side by side) for 1.65 -> 2.16
# citations per answer; held-out 49 -> 50 of 66.
JOIN_MARGIN = 0.03
REFUSALS = {
    "en": "The documents do not cover this question.",
    "de": "Dazu enthalten die Dokumente keine Antwort.",
}
QUOTES = {"en": ("“", "”"), "de": ("„", "“")}
_ANAPHORIC = re.compile(
    r"^(?:sie|er|es|ihr|ihre|ihren|ihrem|dies|diese|dieser|dieses|dadurch|dabei|dafür|damit|deshalb|"
    r"they|it|he|she|his|her|their|its|this|these|those|that)\b", re.IGNORECASE)


def refusal(lang: str) -> str:
    return REFUSALS.get(lang, REFUSALS["en"])


def choose(hits: list[Hit], passages: int = 3) -> list[tuple[Hit, list[int]]]:
    """(hit, sentence numbers) to quote, best passage first, sentences in document order."""
    candidates = []
    for rank, hit in enumerate(hits[:passages]):
        for j in range(len(hit.chunk.sentences)):
            sim = (hit.sentence_scores[j] if j < len(hit.sentence_scores) else hit.score) - hit.offset
            # The sentence's own match, backed by how well its passage matches as a whole
            # (all signals: a passage that merely repeats the question's words ranks lower).
            passage = hit.score if hit.ranked is None else hit.ranked
            candidates.append((0.5 * sim + 0.5 * passage, rank, j, hit))
    if not candidates:
        return []
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    # A question naming an option is answered from its definition ("What does grep -v do?":
    # grep's copyright line matches it better, sentence by sentence, and was quoted beside it).
    if any(c[3].labelled for c in candidates):
        candidates = [c for c in candidates if c[3].labelled]
    best = candidates[0][0]
    picked: dict[int, tuple[Hit, set[int]]] = {}
    seen: set[str] = set()
    count = 0
    for score, _, j, hit in candidates:
        if count >= MAX_SENTENCES or score < best - JOIN_MARGIN:
            break
        text = _sentence(hit, j)
        key = " ".join(text.split()).casefold()
        if key in seen:
            continue
        seen.add(key)
        numbers = picked.setdefault(hit.chunk.id, (hit, set()))[1]
        numbers.add(j)
        count += 1
        if j > 0 and _ANAPHORIC.match(text) and j - 1 not in numbers:
            numbers.add(j - 1)  # the context the pronoun points back to
            count += 1
    return [(hit, sorted(numbers)) for hit, numbers in picked.values()]


def quoted(hits: list[Hit], passages: int = 3) -> list[str]:
    """The sentences an answer from these hits would quote."""
    return [_sentence(hit, j) for hit, numbers in choose(hits, passages) for j in numbers]


def compose(hits: list[Hit], lang: str, passages: int = 3) -> tuple[str, tuple[Citation, ...]]:
    """The answer text with a [n] after each quote, and the citations those markers point at."""
    open_q, close_q = QUOTES.get(lang, QUOTES["en"])
    parts, citations = [], []
    for n, (hit, numbers) in enumerate(choose(hits, passages), 1):
        quote = " ".join(_inert_markers(" ".join(_sentence(hit, j).split())) for j in numbers)
        parts.append(f"{open_q}{quote}{close_q} [{n}]")
        citations.append(Citation(n, hit, tuple(hit.chunk.sentences[j] for j in numbers)))
    return " ".join(parts), tuple(citations)


def _sentence(hit: Hit, j: int) -> str:
    s, e = hit.chunk.sentences[j]
    return hit.chunk.text[s:e]


def _inert_markers(sentence: str) -> str:
    """Bracketed numbers inside a quoted sentence would read as our own citation markers."""
    return re.sub(r"\[(\d+)\]", r"(\1)", sentence)


def markers(text: str) -> list[int]:
    """The [n] citation markers of an answer, in order."""
    return [int(m) for m in re.findall(r"\[(\d+)\]", text)]
