"""Cross-lingual query terms from the Ding German-English dictionary (Debian `trans-de-en`),
pruned to one corpus at index time.

The whole dictionary costs 7-19 s and 420 MB to load, so it is read at index time and only
what the corpus can use is kept (lexicon.json in the index folder, loaded in milliseconds).
Only the lines with a word whose stem is in the corpus are parsed: an index from stems to
dictionary lines is computed once per machine (about 15 s) and kept in the user's cache folder
(~/.cache/bot/ding-*.npz, 25 MB). What is kept: English phrases whose German translation
occurs in the corpus (EN -> DE), German words whose English translation occurs (DE -> EN), and
short glosses of the corpus's German words. Translation is applied only between a question and passages of the other
language: measured, translating towards the question's own language made it worse.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import language
from .lexical import LexicalIndex, normalise, split_compound, stem, stopwords, technical, words

DEFAULT = Path("/usr/share/trans/de-en")
FILES = ("lexicon.json",)
VERSION = 1
MAX_WORDS = 3  # longer sub-entries are example sentences, not terms
MAX_GLOSSES = 4
_ANNOTATION = re.compile(r"\{[^}]*\}|\[[^\]]*\]|\([^)]*\)|<[^>]*>|/[^/ ]+/")
_RAW = re.compile(r"[^\W\d_]{3,}")
LINES_VERSION = 1  # of the cached stem -> dictionary lines index


def _dictionary_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read().split("\n")


def _line_index(path: Path, lines: list[str]) -> dict[str, tuple[dict[str, int], np.ndarray, np.ndarray]]:
    """For each side ("de", "en"), the numbers of the dictionary lines whose words on that side
    have a stem, as postings: (stem -> position, pointers, line numbers). Stemming the 3
    million words of the dictionary takes seconds, so the index is computed once per
    dictionary file and kept in the user's cache folder."""
    import hashlib
    import os
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{LINES_VERSION}".encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bot" / f"ding-{key}.npz"
    try:
        with np.load(cache, allow_pickle=False) as z:
            return {lang: (dict(zip(str(z[f"{lang}_stems"]).split("\n"), range(len(z[f"{lang}_ptr"]) - 1))),
                           z[f"{lang}_ptr"], z[f"{lang}_ids"]) for lang in ("de", "en")}
    except Exception:  # missing, or damaged (a cache): computed again and replaced
        pass
    postings: dict[str, dict[str, list[int]]] = {"de": {}, "en": {}}
    memo: dict[tuple[str, str], str] = {}
    for number, line in enumerate(lines):
        if line.startswith("#") or " :: " not in line:
            continue
        for lang, side in zip(("de", "en"), line.split(" :: ", 1)):
            for w in set(_RAW.findall(side.lower())):
                s = memo.get((w, lang))
                if s is None:
                    s = memo[(w, lang)] = stem(w, lang)
                postings[lang].setdefault(s, []).append(number)
    index, arrays = {}, {}
    for lang, table in postings.items():
        stems = sorted(table)
        ptr = np.cumsum([0] + [len(table[t]) for t in stems]).astype(np.int64)
        ids = np.array([n for t in stems for n in table[t]], dtype=np.int32)
        index[lang] = (dict(zip(stems, range(len(stems)))), ptr, ids)
        arrays.update({f"{lang}_stems": np.array("\n".join(stems)), f"{lang}_ptr": ptr, f"{lang}_ids": ids})
    try:  # written whole or not at all; without a writable cache folder it is rebuilt each time
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, cache)
    except OSError:
        pass
    return index


def _candidate_lines(path: Path, vocab: dict[str, set[str]]) -> tuple[list[str], list[int]]:
    """The dictionary's lines and, in order, the numbers of those with a word (on the side of
    its language) whose stem is in the corpus's vocabulary: the only lines that can matter."""
    lines = _dictionary_lines(path)
    index = _line_index(path, lines)
    found = []
    for lang in ("de", "en"):
        positions, ptr, ids = index[lang]
        found += [ids[ptr[i]:ptr[i + 1]] for i in (positions.get(s) for s in vocab[lang]) if i is not None]
    return lines, (np.unique(np.concatenate(found)).tolist() if found else [])


_noted = False


def _note_missing(path: Path) -> None:
    global _noted
    if not _noted:
        _noted = True
        print(f"note: no German-English dictionary at {path}; `apt-get install trans-de-en` enables "
              "cross-lingual query terms", file=sys.stderr)


def _clean(term: str, lang: str) -> list[str]:
    """Words of one dictionary synonym without annotations; [] for sentences and long phrases."""
    term = _ANNOTATION.sub(" ", term).strip()
    if not term or any(ch in term for ch in ".?!…"):
        return []
    ws = words(normalise(term))
    if lang == "en" and len(ws) > 1 and ws[0] == "to":
        ws = ws[1:]  # "to forecast" is looked up as "forecast"
    return ws if 0 < len(ws) <= MAX_WORDS else []


def _headword(sub_entry: str, word: str) -> str:
    """The dictionary's own spelling of word (its capitalisation) inside a sub-entry."""
    for syn in sub_entry.split(";"):
        syn = _ANNOTATION.sub(" ", syn).strip()
        if syn.casefold() == word:
            return syn
    return word


def _key(ws: list[str], lang: str) -> str:
    return " ".join(stem(w, lang) for w in ws)


@dataclass
class Lexicon:
    en_de: dict[str, list[list[str]]]  # English phrase stems -> alternatives of German stems
    de_en: dict[str, list[list[str]]]  # German word/phrase stems -> alternatives of English stems
    glosses: dict[str, list]  # German word (casefolded) -> [headword, [English, ...]]
    lexical: LexicalIndex

    # -- building -----------------------------------------------------------------------
    @classmethod
    def build(cls, chunks, dictionary_path: Path = DEFAULT, lexical: LexicalIndex | None = None) -> "Lexicon | None":
        """The corpus's lexicon, or None (and a one-time note) when the dictionary is missing."""
        path = Path(dictionary_path)
        if not path.is_file():
            _note_missing(path)
            return None
        lexical = lexical or LexicalIndex.build(chunks)
        vocab = {"de": set(), "en": set()}
        for c, lang in zip(chunks, lexical.langs):
            vocab[lang].update(lexical.tokens(c.text, lang))
        en_de: dict[str, list[list[str]]] = {}
        de_en: dict[str, list[list[str]]] = {}
        glosses: dict[str, list] = {}

        memo: dict[tuple[str, str], str] = {}

        fold = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss"})
        # Snowball stems are prefixes of their words up to umlauts: most words are ruled out
        # by four letters, without stemming.
        heads = {lang: {s.translate(fold)[:4] for s in vocab[lang]} for lang in vocab}

        def quick(w: str, lang: str) -> str:
            f = w.translate(fold)
            if f[:4] not in heads[lang] and f[:3] not in heads[lang]:
                return ""
            s = memo.get((w, lang))
            if s is None:
                s = memo[(w, lang)] = stem(w, lang)
            return s

        def known(sub_entry: str, lang: str) -> bool:
            for w in words(normalise(sub_entry)):
                s = memo.get((w, lang))
                if s is None:
                    s = memo[(w, lang)] = stem(w, lang)
                if s in vocab[lang]:
                    return True
            return False

        def german_target(ws: list[str]) -> list[str] | None:
            # Each German word must occur in the corpus, itself or as a compound part there
            # (the corpus side is decompounded, so "Prognose" finds "Verkaufsprognosen").
            out = [stem(w, "de") for w in ws if w not in stopwords()]
            return out if out and all(s in vocab["de"] for s in out) else None

        def english_target(ws: list[str]) -> list[str] | None:
            out = [stem(w, "en") for w in ws if w not in stopwords()]
            return out if out and all(s in vocab["en"] for s in out) else None

        def add(table, key, alt):
            alts = table.setdefault(key, [])
            if alt not in alts:
                alts.append(alt)

        lines, candidates = _candidate_lines(path, vocab)
        for number in candidates:
            line = lines[number]
            if line.startswith("#") or " :: " not in line:
                continue
            de, en = line.split(" :: ", 1)
            # Most lines share no word with a given corpus: a cheap look first, a parse after.
            want_de = bool(vocab["de"]) and any(quick(w, "de") in vocab["de"] for w in _RAW.findall(de.lower()))
            want_en = bool(vocab["en"]) and any(quick(w, "en") in vocab["en"] for w in _RAW.findall(en.lower()))
            if not (want_de or want_en):
                continue
            de_subs, en_subs = de.split(" | "), en.split(" | ")
            if len(de_subs) != len(en_subs):
                continue
            for n, (d, e) in enumerate(zip(de_subs, en_subs)):
                # A sub-entry adds something only if a word of the side it translates is in the corpus.
                need_de = want_de and known(d, "de")
                need_en = want_en and known(e, "en")
                if not (need_de or need_en):
                    continue
                de_terms = [t for t in (_clean(x, "de") for x in d.split(";")) if t]
                en_terms = [t for t in (_clean(x, "en") for x in e.split(";")) if t]
                if not de_terms or not en_terms:
                    continue
                if need_de:
                    for dws in de_terms:
                        target = german_target(dws)
                        if target is None:
                            continue
                        for ews in en_terms:
                            if len(ews) > 1 or ews[0] not in stopwords():
                                add(en_de, _key(ews, "en"), target)
                        if n == 0 and len(dws) == 1:
                            g = glosses.setdefault(dws[0], [_headword(d, dws[0]), []])
                            for ews in en_terms:
                                if len(g[1]) < MAX_GLOSSES and " ".join(ews) not in g[1]:
                                    g[1].append(" ".join(ews))
                if need_en:
                    for ews in en_terms:
                        target = english_target(ews)
                        if target is None:
                            continue
                        for dws in de_terms:
                            if len(dws) > 1 or dws[0] not in stopwords():
                                add(de_en, _key(dws, "de"), target)
        return cls(en_de, de_en, glosses, lexical)

    def save(self, folder: Path) -> None:
        data = {"version": VERSION, "en_de": self.en_de, "de_en": self.de_en, "glosses": self.glosses}
        (Path(folder) / FILES[0]).write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")),
                                             encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, lexical: LexicalIndex | None = None) -> "Lexicon | None":
        """The saved lexicon, or None when the index was built without the dictionary."""
        path = Path(folder) / FILES[0]
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != VERSION:
            raise ValueError(f"lexicon {path} has version {data.get('version')}, expected {VERSION}")
        return cls(data["en_de"], data["de_en"], data["glosses"], lexical or LexicalIndex.load(folder))

    # -- the query side -----------------------------------------------------------------
    def terms(self, question: str, to_lang: str | None = None) -> list[tuple[list[list[str]], float]]:
        """The question's terms as (alternatives, idf weight); an alternative is a list of stems
        that must all occur. With to_lang other than the question's language, each word or
        phrase (longest dictionary match first) also gets its translations."""
        q_lang = language.detect(question)
        to_lang = to_lang or q_lang
        text = normalise(question)
        ws = words(text)
        table = (self.en_de if q_lang == "en" else self.de_en) if to_lang != q_lang else {}
        out, i = [], 0
        while i < len(ws):
            for n in range(min(MAX_WORDS, len(ws) - i), 0, -1):
                if n == 1 and ws[i] in stopwords():
                    break
                alts = table.get(_key(ws[i:i + n], q_lang)) if table else None
                if alts is None and n > 1:
                    continue
                own = [[stem(w, to_lang) for w in ws[i:i + n] if w not in stopwords()]]
                if n == 1 and to_lang == "de":
                    parts = [stem(p, "de") for p in split_compound(ws[i], self.lexical.known)]
                    if parts:
                        own.append(parts)
                out.append((own + (alts or []) if n == 1 else (alts or []) + own, n))
                break
            i += n if n else 1
        out += [([["=" + t]], 1) for t in technical(text)]
        weighted = []
        for alts, _ in out:
            idfs = [min(self.lexical.idf(s) for s in alt) for alt in alts if alt and all(s in self.lexical.vocab for s in alt)]
            if idfs:
                # As informative as its commonest rendering: rare mistranslations must not dominate.
                weighted.append((alts, min(idfs)))
        return weighted

    def translate(self, question: str, to_lang: str) -> list[tuple[str, float]]:
        """The stems a question is matched on in to_lang passages, with their idf weights."""
        out = {}
        for alts, w in self.terms(question, to_lang):
            for alt in alts:
                for s in alt:
                    out.setdefault(s, w)
        return list(out.items())

    def coverage(self, question: str, positions) -> np.ndarray:
        """Idf-weighted share of the question's terms found in each chunk; terms are translated
        only for chunks in the other language than the question's."""
        positions = np.asarray(positions, dtype=np.int64)
        out = np.zeros(len(positions), np.float32)
        langs = np.array([self.lexical.langs[p] for p in positions]) if len(positions) else np.array([])
        for lang in ("de", "en"):
            mask = langs == lang
            if not mask.any():
                continue
            pos = positions[mask]
            terms = self.terms(question, lang)
            total = sum(w for _, w in terms)
            if not total:
                continue
            got = np.zeros(len(pos), np.float32)
            for alts, w in terms:
                found = np.zeros(len(pos), bool)
                for alt in alts:
                    has = np.ones(len(pos), bool)
                    for s in alt:
                        has &= self.lexical.contains(s, pos)
                    found |= has
                got += w * found
            out[mask] = got / total
        return out

    def gloss(self, word: str) -> list[str]:
        """English glosses of a German word, a compound by its parts:
        "Verkaufsprognose" -> ["Verkauf: sale, sales", "Prognose: forecast, prognosis"]."""
        w = normalise(word).strip().casefold()
        out = []
        for part in [w, *split_compound(w, self.lexical.known)]:
            g = self._gloss_entry(part)
            if g and f"{g[0]}: {', '.join(g[1])}" not in out:
                out.append(f"{g[0]}: {', '.join(g[1])}")
        return out

    def _gloss_entry(self, word: str):
        # A compound's front carries its linking letters ("verkaufs"): try without them too.
        for link in ("", "s", "es", "n", "en"):
            if link and not word.endswith(link):
                continue
            g = self.glosses.get(word[:len(word) - len(link)] if link else word)
            if g:
                return g
        return None
