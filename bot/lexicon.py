"""Cross-lingual query terms from the Ding German-English dictionary (Debian `trans-de-en`),
pruned to one corpus at index time.

The whole dictionary costs 7-19 s and 420 MB to load, so only what the corpus can use is kept
(lexicon.json in the index folder, loaded in milliseconds): English phrases whose German
translation occurs in the corpus (EN -> DE), German words whose English translation occurs
(DE -> EN), and short glosses of the corpus's German nouns (see glosses.py). The slice is a
lookup of the corpus's stems in the dictionary parsed once per machine (see ding.py). Translation is applied
only between a question and passages of the other language: measured, translating towards the
question's own language made it worse.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import ding, glosses as glosses_mod, language
from .lexical import LexicalIndex, normalise, split_compound, stem, stopwords, technical, words

DEFAULT = ding.DEFAULT
FILES = ("lexicon.json",)
VERSION = 2  # 2: glosses from glosses.py


_noted = False


def _note_missing(path: Path) -> None:
    global _noted
    if not _noted:
        _noted = True
        print(f"note: no German-English dictionary at {path}; `apt-get install trans-de-en` enables "
              "cross-lingual query terms", file=sys.stderr)


@dataclass
class Lexicon:
    en_de: dict[str, list[list[str]]]  # English phrase stems -> alternatives of German stems
    de_en: dict[str, list[list[str]]]  # German word/phrase stems -> alternatives of English stems
    glosses: dict[str, list]  # German noun (casefolded) -> [spelling, [English, ...], [parts if composed]]
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
        # The slice's own glosses (each line's first sense) are superseded by glosses.py's.
        en_de, de_en, _ = ding.Dictionary(path).slice(vocab)
        return cls(en_de, de_en, glosses_mod.of_chunks(chunks, lexical.langs, path), lexical)

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
            for n in range(min(ding.MAX_WORDS, len(ws) - i), 0, -1):
                if n == 1 and ws[i] in stopwords():
                    break
                alts = table.get(ding.key(ws[i:i + n], q_lang)) if table else None
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

    def translations(self, word: str, lang: str) -> list[list[str]]:
        """The corpus's renderings of one word of language lang in the other language, as
        alternatives of stems ("anthem" -> [["hymn"], ["nationalhymn"]]); [] when none occurs."""
        ws = words(normalise(word))
        return (self.en_de if lang == "en" else self.de_en).get(ding.key(ws, lang), []) if ws else []

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
        """English glosses of a German noun of the corpus (see glosses.py): ["sales manager"],
        ["sales operations manager (composed: Vertrieb + Operation + Leiter)"]; [] for other words."""
        return glosses_mod.lookup(self.glosses, word)
