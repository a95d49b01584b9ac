"""Follow-up questions: a standalone query from the conversation so far, without a language model.

Moves, tried in order:
- "which one" / "welche(r)" in a follow-up stands for the previous question's "which role":
  "And which one is compared to a referee?" after "Which role is compared to a coach?"
  becomes "Which role is compared to a referee?", a question of its own.
- An elliptical turn ("And the sales operations manager?", "Und in einer Beratung?", "What
  about the LGPL?") takes the place of the matching phrase of the previous query: a phrase
  opened by the same preposition, a phrase spelled alike, a name for a name, or, across
  languages, the noun phrase the embedding model finds closest. When the previous question
  asks "who", the new phrase fills that slot. With no such phrase it is added as a condition.
  An option takes the place of the previous question's option ("And -a?" after "What does
  ls -l do?").
- Any other follow-up (a pronoun such as "they", a leading "and", very few words) is
  searched together with the previous query.
A question that stands on its own is searched as it is.
"""
from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Callable, Sequence

_OPENER = (r"and what about|what about|how about|and how about|same for|and|but|also|"
           r"und was ist mit|was ist mit|wie ist es mit|wie sieht es mit|und wie ist es mit|und|aber|auch")
_ELLIPSIS = re.compile(rf"^\s*(?:{_OPENER})\s+(?P<x>.+?)(?:\s+aus)?\s*[?.!]*\s*$", re.IGNORECASE)
_STARTS_FOLLOWUP = re.compile(rf"^\s*(?:{_OPENER})\b", re.IGNORECASE)
_LEADING_OPENER = re.compile(r"^\s*(?:and|but|also|und|aber|auch)\s+", re.IGNORECASE)
_QUESTION_WORDS = set("who what which whom whose how why when where is are does do did can could would should "
                      "wer was welche welcher welches welchen welchem wie warum wann wo wem wen ist sind macht "
                      "gibt".split())
_REFERRING = re.compile(
    r"\b(?:they|them|their|it|its|he|she|his|her|there|that role|this role|these|those|"
    r"diese[rnms]? rolle|damit|dafür|dazu|davon|dort|deren|ihnen)\b", re.IGNORECASE)
# "which one", "welche" standing alone: the noun it stands for comes from the previous question.
_WHICH_ONE = re.compile(r"\b(which(?: one)?|welche[rsnm]?)\b(?!\s+(?:one\b)?\s*[A-Za-zÄÖÜäöüß]*(?:role|rolle|person))",
                        re.IGNORECASE)
_WHICH_NOUN = re.compile(r"\b(which|welche[rsnm]?)\s+([^\W\d_]+)", re.IGNORECASE)
_WHO = re.compile(r"^\s*(who|wer)\b", re.IGNORECASE)
_DETERMINERS = set("a an the this that ein eine einer einen einem eines der die das den dem des".split())
_PREPOSITIONS = set("in at on for with without by from to under about during into "
                    "in im bei beim mit ohne für von vom zu zum zur unter über während nach auf an am".split())
_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*|--?[\w-]+")
_OPTION = re.compile(r"^--?[^\W\d_][\w-]*$")  # -a, --all; not -1 or a hyphenated word
MAX_QUERY_CHARS = 400
# Across languages a noun phrase is taken only when the model finds it clearly the closest
# (E5 similarities are compressed: unrelated short phrases still score about 0.85).
MIN_MARGIN = 0.03
MIN_SIMILARITY_ALONE = 0.87

Similarity = Callable[[str, list[str]], list[float]]


def is_followup(question: str) -> bool:
    return bool(_STARTS_FOLLOWUP.match(question) or _REFERRING.search(question)) or len(_WORD.findall(question)) <= 2


def standalone(question: str, history: Sequence[str], similar: Similarity | None = None) -> str:
    """The query to search for this turn; history holds earlier turns' standalone queries.

    similar(phrase, candidates) -> similarity of each candidate (optional; the chatbot passes
    the embedding model's, so that "the sales manager" can stand for "ein Vertriebsleiter")."""
    if not history:
        return question
    previous = history[-1]
    which = _which_one(question, previous, similar)
    if which:
        return which
    if not is_followup(question):
        return question
    own = _LEADING_OPENER.sub("", question, count=1)
    if own != question and _asks_on_its_own(own):
        return own[0].upper() + own[1:]  # "And who analyses the data?" is a question of its own
    replaced = _substitute(question, previous, similar)
    if replaced:
        return replaced
    joined = f"{previous} {question}"
    # Keep the most recent context when a long chain of follow-ups piles up.
    return joined if len(joined) <= MAX_QUERY_CHARS else joined[-MAX_QUERY_CHARS:].split(" ", 1)[-1]


def _asks_on_its_own(question: str) -> bool:
    words = _WORD.findall(question)
    return len(words) >= 3 and words[0].lower() in _QUESTION_WORDS and not _REFERRING.search(question)


def _which_one(question: str, previous: str, similar: Similarity | None = None) -> str | None:
    """'And which one is compared to a referee?' -> 'Which role is compared to a referee?'"""
    noun = _WHICH_NOUN.search(previous)
    if not noun or noun.group(2).lower() in ("one", "other") or noun.group(2).lower() in _QUESTION_WORDS:
        return None
    body = _LEADING_OPENER.sub("", question, count=1)
    m = _WHICH_ONE.search(body)
    if not m or m.start() > 2:
        return None
    rest = body[m.end():].strip()
    words = _WORD.findall(rest)
    if len(words) < 2:  # "And which one?" says nothing new: a plain follow-up
        return None
    if words[0].lower() in _PREPOSITIONS:  # "Und welche mit einem Schiedsrichter?": a condition
        return _substitute(f"und {rest}", previous, similar)
    head = f"{noun.group(1)} {noun.group(2)}"
    head = head[0].upper() + head[1:]
    return f"{head} {rest}"


def _spans(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]


def _substitute(question: str, previous: str, similar: Similarity | None) -> str | None:
    """previous with the phrase that the elliptical question's phrase stands for replaced, or None."""
    m = _ELLIPSIS.match(question)
    if not m:
        return None
    phrase = m.group("x").strip()
    words = _WORD.findall(phrase)
    if not words or len(words) > 6 or words[0].lower() in _QUESTION_WORDS:
        return None  # "And who analyses the data?" is a question of its own
    spans = _spans(previous)
    asking = [w.lower() in _QUESTION_WORDS or w.lower() in ("do", "does") for _, _, w in spans]
    first = words[0].lower()

    # An option for an option: "What does ls -l do?" + "And -a?" (or "Und mit -A?").
    given = words[1:] if first in _PREPOSITIONS else words
    named = [n for n, (_, _, w) in enumerate(spans) if _OPTION.match(w)]
    if given and named and all(_OPTION.match(w) for w in given):
        i, j = named[0], named[-1]
        if j - i + 1 == len(named):  # one run of options: all of it stands for the new ones
            return previous[:spans[i][0]] + " ".join(given) + previous[spans[j][1]:]

    # A condition for a condition: "in a startup" -> "in a consulting firm".
    if first in _PREPOSITIONS:
        for i, (a, _, w) in enumerate(spans):
            if w.lower() == first and i + 1 < len(spans):
                # As many words as the new phrase: "mit einem Trainer verglichen" keeps its verb.
                end = min(_phrase_end(spans, i + 1, asking), i + len(words) - 1)
                return previous[:a] + phrase + previous[spans[end][1]:]
        stripped = previous.rstrip(" ?.!")
        return f"{stripped}, {phrase}{previous[len(stripped):].strip() or '?'}"

    # A phrase spelled alike: "a sales manager" -> "the sales operations manager".
    best, best_ratio = None, 0.0
    for i in range(len(spans)):
        for j in range(i, min(i + len(words) + 1, len(spans))):
            if any(asking[i:j + 1]):
                break
            candidate = previous[spans[i][0]:spans[j][1]]
            ratio = SequenceMatcher(None, candidate.casefold(), phrase.casefold()).ratio()
            if ratio > best_ratio:
                best, best_ratio = (spans[i][0], spans[j][1]), ratio
    if best is not None and best_ratio >= 0.6:
        return previous[:best[0]] + phrase + previous[best[1]:]

    # A name for a name: "the LGPL" for "the Artistic License".
    if any(w[:1].isupper() for w in words):
        names = [(i, j) for i, j in _capitalised_runs(spans) if not any(asking[i:j + 1])]
        if names:
            i, j = names[-1]
            if i > 0 and spans[i - 1][2].lower() in _DETERMINERS:
                i -= 1
            return previous[:spans[i][0]] + phrase + previous[spans[j][1]:]

    # Across languages: the noun phrase of previous closest in meaning.
    phrases = _noun_phrases(spans, asking)
    if similar and phrases:
        texts = [previous[spans[i][0]:spans[j][1]] for i, j in phrases]
        scores = similar(phrase, texts)
        ranked = sorted(range(len(texts)), key=lambda n: -scores[n])
        k = ranked[0]
        if (scores[k] - scores[ranked[1]] >= MIN_MARGIN) if len(ranked) > 1 else scores[k] >= MIN_SIMILARITY_ALONE:
            i, j = phrases[k]
            return previous[:spans[i][0]] + phrase + previous[spans[j][1]:]

    # "Who owns forecasting?" + "And the sales manager?": the new phrase fills the asked-for slot.
    who = _WHO.match(previous)
    if who:
        return f"{phrase} {previous[who.end():].strip()}"
    stripped = previous.rstrip(" ?.!")
    return f"{stripped}, {phrase}{previous[len(stripped):].strip() or '?'}"


def _phrase_end(spans, start: int, asking) -> int:
    """Last word of the phrase starting at start: up to the next preposition or question word."""
    end = start
    while end + 1 < len(spans) and spans[end + 1][2].lower() not in _PREPOSITIONS and not asking[end + 1]:
        end += 1
    return end


def _capitalised_runs(spans) -> list[tuple[int, int]]:
    """Runs of capitalised words or acronyms that are not the question's first word."""
    runs, i = [], 1
    while i < len(spans):
        if spans[i][2][:1].isupper():
            j = i
            while j + 1 < len(spans) and spans[j + 1][2][:1].isupper():
                j += 1
            runs.append((i, j))
            i = j + 1
        else:
            i += 1
    return runs


def _noun_phrases(spans, asking) -> list[tuple[int, int]]:
    """Determiner + following words up to a preposition or question word: 'ein Vertriebsleiter'."""
    out = []
    for i, (_, _, w) in enumerate(spans):
        if w.lower() in _DETERMINERS and i + 1 < len(spans) and not asking[i + 1]:
            out.append((i, min(_phrase_end(spans, i + 1, asking), i + 4)))
    return out
