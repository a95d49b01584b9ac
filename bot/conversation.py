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
A question that stands on its own is searched as it is. A turn that asks nothing ("Thanks!",
"ok") is answered briefly and searched for nothing.

resolve() also says what kind of turn it was: a turn that puts another subject into the
previous question ("And the sales manager?" after "Who owns forecasting?") is a "swap", and
its answer should be about the new subject, not the previous answer again (see chatbot.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
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
# The asked-for subject of the previous question: "Who ...", "Which role ...", "Welche Rolle ...".
_WHO = re.compile(r"^\s*(?:who|wer|(?:which|welche[rsnm]?)\s+(?:role|person|one|rolle|person|position|funktion))\b",
                  re.IGNORECASE)
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


# Turns that ask nothing: (pattern, language, reply), the first that occurs gives the reply.
_SOCIAL = [
    (r"thanks?(?: you)?(?: (?:so|very) much)?|thank you|thx|ty|cheers|much appreciated", "en",
     "You're welcome. Ask another question about the documents whenever you like."),
    (r"danke(?: schön| sehr)?|vielen dank|besten dank|dankeschön|merci", "de",
     "Gern geschehen. Fragen Sie gern weiter zu den Dokumenten."),
    (r"bye|goodbye|see you|ciao", "en", "Goodbye!"),
    (r"tschüss|auf wiedersehen|bis bald", "de", "Auf Wiedersehen!"),
    (r"hi|hello|hey|good (?:morning|afternoon|evening)", "en", "Hello! Ask me a question about the documents."),
    (r"hallo|guten (?:morgen|tag|abend)|servus|moin|grüß gott", "de",
     "Hallo! Stellen Sie mir eine Frage zu den Dokumenten."),
    (r"alles klar|verstanden|super|prima|toll|aha|ach so|genau|gut", "de",
     "Alles klar. Fragen Sie gern weiter zu den Dokumenten."),
    (r"ok(?:ay)?|k|alright|all right|got it|i see|great|cool|nice|perfect|understood|sure|fine|good", "en",
     "Okay. Ask another question about the documents whenever you like."),
]
_SOCIAL_WORD = "|".join(p for p, _, _ in _SOCIAL)
_SOCIAL_TURN = re.compile(rf"^[\s!.,:;)(-]*(?:(?:{_SOCIAL_WORD})\b[\s!.,:;)(-]*)+$", re.IGNORECASE)
_SOCIAL_REPLY = [(re.compile(rf"\b(?:{p})\b", re.IGNORECASE), lang, reply) for p, lang, reply in _SOCIAL]


@dataclass(frozen=True)
class Turn:
    """How a turn is answered: query is what to search ("" when nothing: a thank-you), kind
    one of "question" (stands on its own), "followup" (read with the previous turn), "swap"
    (the previous question with another subject in its asked-for slot) and "social" (reply
    says what to answer instead of searching)."""

    query: str
    kind: str
    reply: str = ""
    lang: str = "en"
    subject: str = ""  # for a swap: the phrase put in ("the sales manager")


def social(question: str) -> Turn | None:
    """A turn that asks nothing ("Thanks!", "ok", "Danke"), with its brief answer, or None."""
    if not _SOCIAL_TURN.match(question):
        return None
    lang, reply = next((lang, reply) for pattern, lang, reply in _SOCIAL_REPLY if pattern.search(question))
    return Turn("", "social", reply, lang)


def resolve(question: str, history: Sequence[str], similar: Similarity | None = None) -> Turn:
    """The turn's query and kind; history holds earlier turns' standalone queries ("" for a
    turn that searched nothing)."""
    chat = social(question)
    if chat:
        return chat
    history = [h for h in history if h]
    if not history:
        return Turn(question, "question")
    query, kind = _standalone(question, history[-1], similar)
    m = _ELLIPSIS.match(question) if kind == "swap" else None
    return Turn(query, kind, subject=m.group("x").strip() if m else "")


def standalone(question: str, history: Sequence[str], similar: Similarity | None = None) -> str:
    """The query to search for this turn (see resolve)."""
    return resolve(question, history, similar).query


def is_followup(question: str) -> bool:
    return bool(_STARTS_FOLLOWUP.match(question) or _REFERRING.search(question)) or len(_WORD.findall(question)) <= 2


def _standalone(question: str, previous: str, similar: Similarity | None) -> tuple[str, str]:
    """(query, kind) for a turn after the previous query.

    similar(phrase, candidates) -> similarity of each candidate (optional; the chatbot passes
    the embedding model's, so that "the sales manager" can stand for "ein Vertriebsleiter")."""
    which = _which_one(question, previous, similar)
    if which:
        return which, "followup"
    if not is_followup(question):
        return question, "question"
    own = _LEADING_OPENER.sub("", question, count=1)
    if own != question and _asks_on_its_own(own):
        return own[0].upper() + own[1:], "question"  # "And who analyses the data?" is a question of its own
    replaced = _substitute(question, previous, similar)
    if replaced:
        # A new subject in the previous question's asked-for slot: the predicate alone would
        # find the previous answer again (see chatbot.py). Other swaps name what they ask about.
        who = _WHO.match(previous)
        return replaced, "swap" if who and not replaced.startswith(previous[:who.end()]) else "followup"
    joined = f"{previous} {question}"
    # Keep the most recent context when a long chain of follow-ups piles up.
    return (joined if len(joined) <= MAX_QUERY_CHARS else joined[-MAX_QUERY_CHARS:].split(" ", 1)[-1]), "followup"


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

    # "Who owns forecasting?" + "And the sales manager?": another subject for the asked-for one,
    # unless the new phrase is spelled like a phrase of the question ("the sales operations
    # manager" for "a sales manager"). Before any guess by meaning: "der Vertriebsleiter" is no
    # stand-in for "die Verkaufsprognose".
    who = _WHO.match(previous)
    if who and not _spelled_alike(phrase, previous, spans, asking, words):
        return f"{phrase} {previous[who.end():].strip()}"

    # A phrase spelled alike: "a sales manager" -> "the sales operations manager".
    best = _spelled_alike(phrase, previous, spans, asking, words)
    if best is not None:
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

    stripped = previous.rstrip(" ?.!")
    return f"{stripped}, {phrase}{previous[len(stripped):].strip() or '?'}"


def _spelled_alike(phrase: str, previous: str, spans, asking, words) -> tuple[int, int] | None:
    """The span of previous spelled most like phrase, if alike enough (not the question words)."""
    best, best_ratio = None, 0.0
    for i in range(len(spans)):
        for j in range(i, min(i + len(words) + 1, len(spans))):
            if any(asking[i:j + 1]):
                break
            candidate = previous[spans[i][0]:spans[j][1]]
            ratio = SequenceMatcher(None, candidate.casefold(), phrase.casefold()).ratio()
            if ratio > best_ratio:
                best, best_ratio = (spans[i][0], spans[j][1]), ratio
    return best if best_ratio >= 0.6 else None


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
