"""Follow-up questions: a standalone query from the conversation so far, without a language model.

Two moves, tried in order:
- An elliptical turn ("And the sales operations manager?", "Und in einer Beratung?") takes
  the place of the most similar phrase of the previous query: "What does a sales manager do
  in a startup?" becomes "What does the sales operations manager do in a startup?". With no
  similar phrase it is added to the previous query: "Who handles the pipeline in a consulting firm?".
- Any other follow-up (a pronoun such as "they", a leading "and", very few words) is
  searched together with the previous query.
A question that stands on its own is searched as it is.
"""
from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Sequence

_OPENER = (r"and what about|what about|how about|and how about|same for|and|but|also|"
           r"und was ist mit|was ist mit|wie ist es mit|wie sieht es mit|und wie ist es mit|und|aber|auch")
_ELLIPSIS = re.compile(rf"^\s*(?:{_OPENER})\s+(?P<x>.+?)(?:\s+aus)?\s*[?.!]*\s*$", re.IGNORECASE)
_STARTS_FOLLOWUP = re.compile(rf"^\s*(?:{_OPENER})\b", re.IGNORECASE)
_QUESTION_WORDS = set("who what which whom whose how why when where is are does do did can could would should "
                      "wer was welche welcher welches welchen wie warum wann wo wem wen ist sind macht gibt".split())
_REFERRING = re.compile(
    r"\b(?:they|them|their|it|its|he|she|his|her|there|that role|this role|these|those|"
    r"diese[rnms]? rolle|damit|dafür|dazu|davon|dort|deren|ihnen)\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
MAX_QUERY_CHARS = 400


def is_followup(question: str) -> bool:
    return bool(_STARTS_FOLLOWUP.match(question) or _REFERRING.search(question)) or len(_WORD.findall(question)) <= 2


def standalone(question: str, history: Sequence[str]) -> str:
    """The query to search for this turn; history holds earlier turns' standalone queries."""
    if not history or not is_followup(question):
        return question
    previous = history[-1]
    replaced = _substitute(question, previous)
    if replaced:
        return replaced
    joined = f"{previous} {question}"
    # Keep the most recent context when a long chain of follow-ups piles up.
    return joined if len(joined) <= MAX_QUERY_CHARS else joined[-MAX_QUERY_CHARS:].split(" ", 1)[-1]


def _substitute(question: str, previous: str) -> str | None:
    """previous with its phrase most like the elliptical question's phrase replaced, or None."""
    m = _ELLIPSIS.match(question)
    if not m:
        return None
    phrase = m.group("x").strip()
    words = _WORD.findall(phrase)
    if not words or len(words) > 6 or words[0].lower() in _QUESTION_WORDS:
        return None  # "And who analyses the data?" is a question of its own
    # Candidate phrases never swallow the question words ("what does ... do") of previous.
    spans = [(w.start(), w.end()) for w in _WORD.finditer(previous)]
    asking = [previous[a:b].lower() in _QUESTION_WORDS or previous[a:b].lower() in ("do", "does") for a, b in spans]
    best, best_ratio = None, 0.0
    for i in range(len(spans)):
        for j in range(i, min(i + len(words) + 1, len(spans))):
            if any(asking[i:j + 1]):
                break
            candidate = previous[spans[i][0]:spans[j][1]]
            ratio = SequenceMatcher(None, candidate.casefold(), phrase.casefold()).ratio()
            if ratio > best_ratio:
                best, best_ratio = (spans[i][0], spans[j][1]), ratio
    if best is None or best_ratio < 0.5:
        # Nothing to replace: the phrase adds a condition ("... in a consulting firm?").
        stripped = previous.rstrip(" ?.!")
        return f"{stripped} {phrase}{previous[len(stripped):].strip() or '?'}"
    return previous[:best[0]] + phrase + previous[best[1]:]
