"""Deciding that the documents do not answer a question, calibrated per corpus.

E5 similarities are compressed (an unrelated question still scores 0.7-0.9) and their level
differs from corpus to corpus, so no fixed cut-off works. Instead each index is calibrated
when it is built: a fixed set of generic questions about everyday topics
(data/generic_questions.txt, English and German, written without any corpus in mind) is run
against it, and their best passage scores in each document give that document's "nothing
here" distribution. A question whose best passage in each of the documents it is answered from
scores no better than most generic questions of its language there is refused: the documents
match it no better than they match questions about boiling eggs.
"""
from __future__ import annotations

import hashlib
import re
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

VERSION = 4  # 4: per document only (3 kept the corpus-wide one too); others are rebuilt
DATA = Path(__file__).parent / "data"
GENERIC = DATA / "generic_questions.txt"
SHIPPED = DATA / "generic_vectors.npz"
# Refuse when the best passage beats fewer than this share of same-language generic questions.
# Dev half (article, licences, man pages, mixed, XQuAD): 0.80-0.90 refuse the same unanswerable
# questions; 0.90 refused one more answerable English question, 0.95 three more.
MIN_PERCENTILE = 0.85
# ... or, below ABSENT_PERCENTILE, when this share of the question's words is nowhere in the corpus.
ABSENT_SHARE = 0.67
ABSENT_PERCENTILE = 0.99


@lru_cache(maxsize=1)
def generic_questions() -> list[tuple[str, str]]:
    """(lang, question) pairs."""
    out = []
    for line in GENERIC.read_text(encoding="utf-8").splitlines():
        if line.strip():
            lang, _, question = line.split("\t")
            out.append((lang, question))
    return out


@lru_cache(maxsize=1)
def generic_digest() -> str:
    return hashlib.sha256(GENERIC.read_bytes()).hexdigest()[:16]


_vectors: dict[str, np.ndarray] = {}
_lock = threading.Lock()


def generic_vectors(embedder) -> np.ndarray:
    """Query vectors of the generic questions: shipped for the default E5 model, otherwise
    embedded once per process (about 5 s)."""
    with _lock:
        cached = _vectors.get(embedder.id)
    if cached is not None:
        return cached
    vectors = None
    if SHIPPED.is_file():
        with np.load(SHIPPED, allow_pickle=False) as data:
            if str(data["embedder"]) == embedder.id and str(data["digest"]) == generic_digest():
                vectors = data["vectors"].astype(np.float32)
    if vectors is None:
        texts = [q for _, q in generic_questions()]
        vectors = np.vstack([embedder.queries(texts[i:i + 32]) for i in range(0, len(texts), 32)])
    with _lock:
        _vectors[embedder.id] = vectors
    return vectors


def ship(embedder) -> None:
    """Write data/generic_vectors.npz for this embedder (run when the questions or model change)."""
    texts = [q for _, q in generic_questions()]
    vectors = np.vstack([embedder.queries(texts[i:i + 32]) for i in range(0, len(texts), 32)])
    np.savez_compressed(SHIPPED, embedder=np.array(embedder.id), digest=np.array(generic_digest()),
                        vectors=vectors.astype(np.float16))


def calibrate(index, embedder) -> dict:
    """Per document: the generic questions' best passage scores in it, and its level (their
    median), for each question language."""
    documents = _per_document(index, embedder)
    levels = {source: {lang: float(np.median(v)) for lang, v in by_lang.items() if v}
              for source, by_lang in documents.items()}
    return {"documents": documents, "levels": levels, "digest": generic_digest()}


def _per_document(index, embedder, batch: int = 20_000) -> dict:
    """{document: {question language: the generic questions' best passage scores in it, sorted}}.

    A question is judged against the documents it is answered from: an unrelated document
    added beside the article (a man page whose copyright line matches any question a little)
    must not raise the bar for questions about the article."""
    from .retrieval import CHUNK_WEIGHT
    vectors = generic_vectors(embedder)
    langs = np.array([lang for lang, _ in generic_questions()])
    n = len(index.chunks)
    best: dict[str, np.ndarray] = {}
    for lo in range(0, n, batch):
        positions = np.arange(lo, min(n, lo + batch))
        rows, counts = index.chunk_vectors(positions)
        sims = rows @ vectors.T  # rows x generic questions
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        sentences = sims.copy()
        sentences[starts[counts > 1]] = -np.inf  # a chunk's best sentence, or the chunk itself when it is one
        scores = CHUNK_WEIGHT * sims[starts] + (1 - CHUNK_WEIGHT) * np.maximum.reduceat(sentences, starts, axis=0)
        for pos, row in zip(positions, scores):
            source = index.chunks[int(pos)].source
            have = best.get(source)
            best[source] = row if have is None else np.maximum(have, row)
    return {source: {lang: sorted(round(float(x), 4) for x in row[langs == lang]) for lang in sorted(set(langs))}
            for source, row in best.items()}


def standing(calibration: dict, lang: str, hits, top: int = 3) -> float:
    """The share of generic questions of the question's language that the question beats in
    the document where it does best, among the documents of its top hits: how much better than
    chance its best document answers it. (Every document of an index is calibrated; an index
    calibrated otherwise is rebuilt, see VERSION.)"""
    documents = calibration.get("documents", {})
    best: dict[str, float] = {}
    for h in hits[:top]:
        best[h.chunk.source] = max(best.get(h.chunk.source, -1.0), h.score)
    out = 0.0
    for source, score in best.items():
        values = documents.get(source, {}).get(lang)
        if not values:
            return 1.0  # nothing to compare with: this signal does not refuse
        out = max(out, float(np.searchsorted(np.asarray(values), score, side="left")) / len(values))
    return out


@lru_cache(maxsize=1)
def question_words() -> frozenset[str]:
    """Function words the generic stopword lists lack ("who", "wer", "how many")."""
    return frozenset((DATA / "stopwords.txt").read_text(encoding="utf-8").split())


def absent_share(index, query: str) -> float:
    """The share of the question's content words that occur nowhere in the corpus, neither as
    they are (stemmed, or as a compound part) nor through a dictionary translation:
    "certifications", "salary" or "weather" over an article that never mentions them."""
    if index.lexical is None:
        return 0.0
    from .lexical import normalise, stopwords, words
    stop = stopwords() | question_words()
    content = [w for w in dict.fromkeys(words(normalise(query))) if len(w) > 2 and w not in stop and not w.isdigit()]
    if not content:
        return 0.0
    return sum(not _known(index, w) for w in content) / len(content)


def _known(index, word: str) -> bool:
    from .lexical import stem
    if stem(word, "en") in index.lexical.vocab or stem(word, "de") in index.lexical.vocab:
        return True
    lexicon = index.lexicon
    return lexicon is not None and bool(lexicon.terms(word, "de") or lexicon.terms(word, "en"))


# "... in a restaurant?", "... im Krankenhaus?": where the question is set (a place taken with
# an article, as a setting; "in what year", "bei der Weitergabe" are no settings).
_SETTING = re.compile(r"\b(?:(?:in|at) (?:a|an|the)|im|in (?:einem|einer))\s+([^\W\d_][\w-]*(?:\s+[^\W\d_][\w-]*){0,2})",
                      re.IGNORECASE)
# Idioms that read like a setting: "im Einsatz" (in use), "in the end", "at the moment".
_NO_SETTING = frozenset("einsatz allgemeinen wesentlichen gegensatz rahmen vergleich laufe falle detail voraus "
                        "zusammenhang bereich prinzip grunde moment augenblick nachhinein vorfeld hinblick zuge sinne "
                        "gange griff end meantime past future moment time long way sense case event world first "
                        "beginning middle".split())


def absent_setting(index, query: str) -> str | None:
    """The setting a question is asked in when the corpus never mentions it, not even as the
    front of a compound ("Who is responsible for the kitchen in a restaurant?" over an article
    about sales roles; but "im Vertriebsablauf" is about "Vertrieb")."""
    if index.lexical is None:
        return None
    from .lexical import normalise, stopwords
    for m in _SETTING.finditer(normalise(query)):
        # The phrase up to a function word: "a young startup" is about a startup, known or not.
        phrase = []
        for word in m.group(1).split():
            if word.casefold() in stopwords() or word.casefold() in question_words():
                break
            phrase.append(word)
        if phrase and all(_unknown_setting(index, w.casefold()) for w in phrase):
            return " ".join(phrase)
    return None


def _unknown_setting(index, word: str) -> bool:
    if len(word) < 4 or word in _NO_SETTING or _known(index, word):
        return False
    return not any(_known(index, word[:i]) for i in range(5, len(word) - 2))


# Questions answered by a number: a count, a measure, a share.
_COUNT_QUESTION = re.compile(
    r"\b(?:how (?:many|much|often|long|old|tall|high|big|large|far|heavy|fast|deep|wide)|what percentage|"
    r"what (?:is|was|are|were) the (?:population|number|percentage|proportion|share|temperature|boiling point|"
    r"melting point|size|area|height|length|distance|age|score|total)|"
    r"wie (?:viele?|oft|lange|alt|hoch|groß|weit|schwer|schnell|tief|breit)|wieviele?|"
    r"(?:welche[nrs]?|wie hoch ist (?:der|die|das)) (?:anteil|prozentsatz|einwohnerzahl|bevölkerungszahl|temperatur|"
    r"siedepunkt|schmelzpunkt|größe|fläche|höhe|länge|entfernung|anzahl|zahl))\b", re.IGNORECASE)
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
_YEAR = re.compile(r"(?:1\d{3}|20\d{2})")
# Number words, also at the start of German compounds ("Zweidrittelmehrheit"), and words for
# none ("keiner"); without "one"/"ein": those are mostly pronouns and articles.
_NUMBER_WORD = re.compile(
    r"\b(?:(?:zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|zwanzig|dreißig|vierzig|fünfzig|hundert|"
    r"tausend|million|milliarde|dutzend|hälfte|doppelt|dreifach)\w*|two|three|four|five|six|seven|eight|nine|ten|"
    r"eleven|twelve|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundreds?|thousands?|millions?|billions?|"
    r"dozens?|half|twice|double|triple|none|no one|nobody|zero|kein(?:e[rnms]?)?|null)\b", re.IGNORECASE)


def gives_number(query: str, sentences) -> bool:
    """Whether the sentences an answer would quote hold a number the question does not: a
    count, not a year ("How many children did Luther have?" is not answered by "1519"); a
    span of years ("from 1321 to 1323") counts."""
    asked = set(_DIGITS.findall(query))
    for sentence in sentences:
        found = [n for n in _DIGITS.findall(sentence) if n not in asked]
        years = {n for n in found if _YEAR.fullmatch(n)}
        if len(years) >= 2 or any(n not in years for n in found) or _NUMBER_WORD.search(sentence):
            return True
    return False


# "What does a sales manager earn?", "Was kostet ...?": answered by an amount of money only.
_MONEY_QUESTION = re.compile(r"\b(?:salary|salaries|wages?|earns?|earnings|income|prices?|"
                             r"(?:does|do|did|will|would)\b[\w\s-]{0,40}\bcost|gehalt|gehälter|gehaltes|lohn|"
                             r"löhne|verdien\w*|einkommen|preis|preise|preises|kostet)\b", re.IGNORECASE)
_MONEY = re.compile(r"(?:[€$£]|\b(?:eur|usd|chf)\b)\s*\d|\d[\d.,]*\s*(?:€|\$|£|eur\b|euro|usd\b|dollars?|pounds?|chf\b|franken)",
                    re.IGNORECASE)


# Names: acronyms (MIT, ZIP, LGPL), inner capitals (HubSpot); in English also any capitalised
# word that does not open the sentence (Salesforce, Apache, Mozilla).
_ACRONYM = re.compile(r"(?<![\w-])(?:[A-ZÄÖÜ]{2,}|[A-Z][a-z]+[A-Z][A-Za-z]*)(?![\w])")
_CAPITALISED = re.compile(r"(?<=[^\W\d_] )[A-Z][a-z]{2,}\b")


def names(query: str, lang: str) -> list[str]:
    found = _ACRONYM.findall(query)
    if lang == "en":
        found += _CAPITALISED.findall(query)
    return list(dict.fromkeys(found))


def absent_names(index, query: str, lang: str, hits=()) -> list[str]:
    """The names in the question that the corpus never says: not as they are, not in a
    spelling a letter or two apart ("Maastrich", "Gegeen"), not in its file names, and, when
    the passages it is answered from are in the other language, not in a dictionary
    translation either ("Anthem" for a text that says "Nationalhymne", "India" for "Indien").

    Across languages an acronym names no one for sure ("UK" for "Vereinigtes Königreich",
    "UMC" for the Methodist church): only an unknown word that is no dictionary word is
    taken as absent there, and without the dictionary none is."""
    lexical = index.lexical
    if lexical is None:
        return []
    from .lexical import edit_distance, stem, stopwords, unaccent, words
    from .retrieval import name_words

    langs = {lexical.langs[h.chunk.id] for h in hits[:3] if h.chunk.id < len(lexical.langs)}
    across = bool(langs) and lang not in langs
    lexicon = index.lexicon
    files = None
    out = []
    nearby = None
    for name in names(query, lang):
        w = name.casefold()
        if w in stopwords() and not name.isupper():  # "The United Methodist Church"
            continue
        if any(t in lexical.vocab for t in (stem(w, "en"), stem(w, "de"), w, "=" + w)):
            continue
        if len(w) >= 5:
            distance = 1 if len(w) < 9 else 2
            if nearby is None:  # the passages' own words, function words too ("Gegeen" for "Gegen Khan")
                nearby = {unaccent(x) for h in hits[:3] for x in words(h.chunk.text) if len(x) >= 4}
            if (lexical.spelled_like(w, distance) or _joined(w, lexical.vocab)
                    or any(abs(len(x) - len(w)) <= distance and edit_distance(x, unaccent(w), distance) <= distance
                           for x in nearby)
                    or (len(stem(w, lang)) >= 5 and lexical.inside(stem(w, lang)))):
                continue
        if files is None:  # LGPL-2.1.txt never says "LGPL": a document is known by its file name too
            files = {x for source in (index.calibration or {}).get("documents", {}) for x in name_words(source)}
        if w in files:
            continue
        if across and (lexicon is None or name.isupper() or lexicon.translations(name, lang)):
            continue
        out.append(name)
    return out


def _joined(word: str, vocab) -> bool:
    """Two corpus words written as one: "Superbowl" for "Super Bowl"."""
    from .lexical import stem
    def known(part: str) -> bool:
        return stem(part, "en") in vocab or stem(part, "de") in vocab

    return any(known(word[:i]) and known(word[i:]) for i in range(4, len(word) - 3))


def wants_number(query: str) -> bool:
    return bool(_COUNT_QUESTION.search(query))


def wants_amount(query: str) -> bool:
    return bool(_MONEY_QUESTION.search(query))


def judge(index, lang: str, query: str, hits, quoted=()) -> tuple[bool, dict]:
    """(refuse?, the signals behind it); quoted: the sentences the answer would quote."""
    if not hits:
        return True, {}
    signals = {"percentile": round(standing(index.calibration, lang, hits), 3),
               "absent": round(absent_share(index, query), 3)}
    # "How many ...?" is not answered by sentences without a count in them.
    if wants_number(query):
        signals["number"] = gives_number(query, quoted)
    # "What does a sales manager earn?" is not answered by passages without an amount of money.
    # (Passages, not the quoted sentences: on the dev half that refused no more unanswerable
    # questions and put more answerable ones at risk.)
    if wants_amount(query):
        signals["amount"] = any(_MONEY.search(h.chunk.text) for h in hits[:3])
    # "What does the MIT licence require?" over documents that never mention MIT.
    missing = absent_names(index, query, lang, hits)
    if missing:
        signals["absent_names"] = missing
    # "Wer verwaltet die Daten im Krankenhaus?" over documents that never mention a hospital.
    setting = absent_setting(index, query)
    if setting:
        signals["absent_setting"] = setting
    refuse = (signals["percentile"] < MIN_PERCENTILE or signals.get("number") is False
              or signals.get("amount") is False or bool(missing) or bool(setting)
              or (signals["absent"] >= ABSENT_SHARE and signals["percentile"] < ABSENT_PERCENTILE))
    return refuse, signals
