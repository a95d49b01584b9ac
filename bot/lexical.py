"""The lexical channel: BM25 over chunk texts with Snowball stems, German compound parts and
exact technical tokens (`--max-depth`, `POSIXLY_CORRECT`, `/etc/cron.allow`, `crontab -e`).

Stored as plain files (json + npy) beside the dense index; queries walk the postings of the
query's tokens only, so a query costs what its terms occur in, not the size of the corpus.
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from . import language, matching
from .records import Chunk

FILES = ("lexical.json", "lexical.npy")
VERSION = 3  # 3: matching.normalise (Unicode minus, quotes, ligatures, broken options)

_WORD = re.compile(r"[^\W\d_]+|\d+")
_OPTION = re.compile(r"(?<![\w-])--?[A-Za-z0-9][\w-]*")
_IDENT = re.compile(r"\b[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]*[A-Za-z0-9]\b")
_PATH = re.compile(r"(?<![\w/])(?:~|\.{1,2})?(?:/[\w.+-]+)+/?")
_COMMAND_OPTION = re.compile(r"\b([a-z][\w.]*)[ \t]+(--?[A-Za-z0-9][\w-]*)")
_CLAUSE = re.compile(r"[^.?!;:,]+")
# German separable verbs split in questions: "Wie kehre ich die Reihenfolge um?" (umkehren).
PARTICLES = frozenset("ab an auf aus bei ein fest her hin hinzu los mit nach um vor weg zu zurück "
                      "zusammen".split())
LINKERS = ("", "s", "es", "n", "en")
MIN_PART = 4  # shorter "parts" (ein, zu, ...) split real words into nonsense


@lru_cache(maxsize=2)
def stemmer(lang: str):
    import Stemmer
    return Stemmer.Stemmer("german" if lang == "de" else "english")


@lru_cache(maxsize=200_000)
def stem(word: str, lang: str) -> str:
    return stemmer(lang).stemWord(word)


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """bm25s's English and German lists. Read from its module file: importing the package
    imports scipy too, 0.3-0.4 s of every start for two word lists."""
    import importlib.util
    spec = importlib.util.find_spec("bm25s")
    path = Path(spec.origin).parent / "stopwords.py"
    module_spec = importlib.util.spec_from_file_location("_bm25s_stopwords", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return frozenset(module.STOPWORDS_EN) | frozenset(module.STOPWORDS_GERMAN)


def normalise(text: str) -> str:
    """What the lexical channel reads: the one matching normalisation (matching.py), so
    `−−almost−all` in a PDF and `--almost-all` in a question are one token."""
    return matching.normalise(text)


def words(text: str) -> list[str]:
    """Casefolded words of an already normalised text."""
    return [w.casefold() for w in _WORD.findall(text)]


def technical(text: str) -> list[str]:
    """Exact tokens kept whole: options (case matters: -r is not -R), identifiers, paths, `cmd -x`."""
    out = [m.group(0).rstrip("-") for m in _OPTION.finditer(text)]
    out += [m.group(0).casefold() for m in _IDENT.finditer(text)]
    out += [m.group(0).rstrip("./") for m in _PATH.finditer(text) if len(m.group(0)) > 2]
    out += [f"{m.group(1).casefold()} {m.group(2)}" for m in _COMMAND_OPTION.finditer(text)]
    return [t for t in out if len(t) > 1]


def split_compound(word: str, known: frozenset[str] | set[str], depth: int = 0) -> list[str]:
    """Parts of a German compound, or [] when it is none: the longest tail that is a corpus word
    (or a corpus word's stem), the front split again the same way.

    "verkaufsprognosen" -> ["verkaufs", "prognosen"]: German compounds put the head last, and
    the front often occurs only inside compounds, so it need not be known itself."""
    if depth > 3 or len(word) < 2 * MIN_PART:
        return []
    for j in range(MIN_PART, len(word) - MIN_PART + 1):
        tail = word[j:]
        if tail not in known and stem(tail, "de") not in known:
            continue
        front = word[:j]
        return [*(split_compound(front, known, depth + 1) or [front]), tail]
    return []


@dataclass
class LexicalIndex:
    """BM25 weights per (token, chunk) in CSC form: token t's chunks are docs[ptr[t]:ptr[t+1]]."""

    vocab: dict[str, int]
    ptr: np.ndarray  # int64, len(vocab) + 1
    docs: np.ndarray  # int32 chunk positions, sorted within each token
    weights: np.ndarray  # float32 BM25 weight of the token in that chunk
    langs: list[str]  # "de" / "en" per chunk
    known: frozenset[str] = field(default_factory=frozenset)  # words and stems that may be compound parts

    # -- tokenisation -------------------------------------------------------------------
    def tokens(self, text: str, lang: str | None) -> list[str]:
        """Index tokens of a text: stems (of lang, or of both languages when None), compound
        parts' stems for German, and technical tokens prefixed with "=" so they never collide."""
        return tokenize(text, lang, self.known)

    # -- queries ------------------------------------------------------------------------
    def _postings(self, token: str) -> tuple[np.ndarray, np.ndarray] | None:
        t = self.vocab.get(token)
        if t is None:
            return None
        a, b = self.ptr[t], self.ptr[t + 1]
        return self.docs[a:b], self.weights[a:b]

    def query_tokens(self, query: str) -> list[str]:
        # Both languages' stems: a question's language says little about its passage's.
        return sorted(set(tokenize(query, None, self.known)) | set(separable_verbs(query)))

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The k best chunks by BM25 as (chunk position, score), best first; only chunks that
        share a token with the query."""
        lists = [p for p in map(self._postings, self.query_tokens(query)) if p is not None]
        if not lists or k <= 0:
            return []
        docs = np.concatenate([d for d, _ in lists])
        weights = np.concatenate([w for _, w in lists])
        order = np.argsort(docs, kind="stable")
        docs, weights = docs[order], weights[order]
        starts = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
        ids, scores = docs[starts], np.add.reduceat(weights, starts)
        top = np.lexsort((ids, -scores))[:k]
        return [(int(ids[i]), float(scores[i])) for i in top]

    def score(self, query: str, positions) -> np.ndarray:
        """BM25 scores of the given chunk positions (0 for a chunk without query tokens)."""
        positions = np.asarray(positions, dtype=np.int64)
        out = np.zeros(len(positions), np.float32)
        for tok in self.query_tokens(query):
            p = self._postings(tok)
            if p is None:
                continue
            docs, weights = p
            at = np.searchsorted(docs, positions)
            at_ok = np.minimum(at, len(docs) - 1)
            hit = docs[at_ok] == positions
            out += np.where(hit, weights[at_ok], 0.0).astype(np.float32)
        return out

    def contains(self, token: str, positions: np.ndarray) -> np.ndarray:
        """Which of the chunks hold the token (bool per position)."""
        p = self._postings(token)
        if p is None:
            return np.zeros(len(positions), bool)
        docs = p[0]
        at = np.minimum(np.searchsorted(docs, positions), len(docs) - 1)
        return docs[at] == positions

    def spelled_like(self, word: str, distance: int) -> bool:
        """Whether a token of the corpus is spelled like word, up to distance edits (insertions,
        deletions, substitutions, swaps of neighbours; accents ignored): "Maastrich" and
        "Maastricht", "Gegeen" and "Gegen", "Zeria" and "Zeira"."""
        w = unaccent(word)
        if not w:
            return False
        for token in self._by_head.get(w[0], ()):
            if abs(len(token) - len(w)) <= distance and edit_distance(token, w, distance) <= distance:
                return True
        return False

    def inside(self, fragment: str) -> bool:
        """Whether some corpus token holds fragment ("atlant" in "transatlant")."""
        f = unaccent(fragment)
        return bool(f) and any(f in token for head in self._by_head.values() for token in head)

    @cached_property
    def _by_head(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for token in self.vocab:
            if not token.startswith("="):
                f = unaccent(token)
                if f:
                    out.setdefault(f[0], []).append(f)
        return out

    def idf(self, token: str) -> float:
        t = self.vocab.get(token)
        n = len(self.langs)
        df = 0 if t is None else int(self.ptr[t + 1] - self.ptr[t])
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

    # -- building and storage -----------------------------------------------------------
    @classmethod
    def build(cls, chunks: list[Chunk], k1: float = 1.5, b: float = 0.75, context=None) -> "LexicalIndex":
        """context(chunk) -> text indexed with the chunk (its document and section), if given."""
        # A chunk too short to tell ("-r, --reverse / Das Ergebnis der Vergleiche umkehren") is
        # in its document's language: as English it was stemmed wrongly and never translated to.
        texts: dict[str, list[str]] = {}
        for c in chunks:
            texts.setdefault(c.source, []).append(c.text)
        document = {source: language.detect("\n".join(t)) for source, t in texts.items()}
        langs = [language.detect(c.text, document[c.source]) for c in chunks]
        known = compound_vocabulary(c.text for c, lang in zip(chunks, langs) if lang == "de")
        corpus = [tokenize(f"{context(c)}\n{c.text}" if context else c.text, lang, known)
                  for c, lang in zip(chunks, langs)]
        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in corpus]
        if not vocab:
            return cls({}, np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), langs, known)
        ptr, docs, weights = bm25_weights(ids, len(vocab), k1, b)
        return cls(vocab, ptr, docs, weights, langs, known)

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        meta = {"version": VERSION, "vocab": sorted(self.vocab, key=self.vocab.get), "langs": self.langs,
                "known": sorted(self.known), "postings": int(len(self.docs))}
        (folder / FILES[0]).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        # One array file: pointer, chunk ids and weights side by side (weights bit-cast).
        np.save(folder / FILES[1], np.concatenate([self.ptr, self.docs.astype(np.int64),
                                                   self.weights.view(np.int32).astype(np.int64)]),
                allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> "LexicalIndex":
        folder = Path(folder)
        meta = json.loads((folder / FILES[0]).read_text(encoding="utf-8"))
        if meta.get("version") != VERSION:
            raise ValueError(f"lexical index in {folder} has version {meta.get('version')}, expected {VERSION}")
        arr = np.load(folder / FILES[1], allow_pickle=False)
        nv, npost = len(meta["vocab"]), meta["postings"]
        if arr.shape != (nv + 1 + 2 * npost,):
            raise ValueError(f"lexical index in {folder} disagrees with its json")
        ptr = arr[:nv + 1]
        docs = arr[nv + 1:nv + 1 + npost].astype(np.int32)
        weights = arr[nv + 1 + npost:].astype(np.int32).view(np.float32)
        return cls({t: i for i, t in enumerate(meta["vocab"])}, ptr, docs, weights, meta["langs"],
                   frozenset(meta["known"]))


def bm25_weights(ids: list[list[int]], n_vocab: int, k1: float, b: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Lucene BM25 weight of every (token, chunk) pair as bm25s computes it (its default
    method, the same float operations in the same order; tests/test_lexical.py compares), in
    CSC form: (pointer per token, chunk ids, weights). Importing bm25s imports scipy, 0.3-0.5 s
    of every build for a few lines of arithmetic."""
    n_docs = len(ids)
    avg_len = np.array([len(doc) for doc in ids]).mean()
    df = np.zeros(n_vocab, np.int64)
    for doc in ids:
        df[list(set(doc))] += 1
    idf = np.zeros(n_vocab, np.float32)
    for token, n in enumerate(df.tolist()):
        if n:
            idf[token] = math.log(1 + (n_docs - n + 0.5) / (n + 0.5))
    size = int(df.sum())
    data, rows, cols = np.empty(size, np.float32), np.empty(size, np.int32), np.empty(size, np.int32)
    at = 0
    for doc_id, doc in enumerate(ids):
        counts = Counter(doc)
        tokens = np.array(list(counts.keys()), dtype=np.int32)
        tf = np.array(list(counts.values()), dtype=np.float32)
        tfc = tf / (k1 * ((1 - b) + b * len(doc) / avg_len) + tf)
        data[at:at + len(tokens)] = idf[tokens] * tfc
        rows[at:at + len(tokens)] = doc_id
        cols[at:at + len(tokens)] = tokens
        at += len(tokens)
    order = np.argsort((cols.astype(np.int64) << 32) | rows.astype(np.int64))
    ptr = np.zeros(n_vocab + 1, np.int64)
    np.cumsum(np.bincount(cols, minlength=n_vocab), out=ptr[1:])
    return ptr, rows[order], data[order]


def unaccent(word: str) -> str:
    """Casefolded, without accents: "Đằng" -> "đang", "Müller" -> "muller"."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", word.casefold()) if not unicodedata.combining(ch))


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance of a and b, or limit + 1 once it exceeds limit."""
    if a == b:
        return 0
    previous2, previous = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if previous2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        previous2, previous = previous, row
    return previous[-1]


def compound_vocabulary(texts) -> frozenset[str]:
    """Words (and their German stems) that may stand as parts of compounds."""
    stop = stopwords()
    out = set()
    for text in texts:
        for w in words(normalise(text)):
            if len(w) >= MIN_PART and w not in stop and not w.isdigit():
                out.add(w)
                out.add(stem(w, "de"))
    return frozenset(out)


def separable_verbs(text: str) -> list[str]:
    """German separable verbs put back together, as stems: a clause that ends in a particle
    has its verb first or second ("Zeigt ls ... an?", "Wie kehre ich ... um?"), so the
    particle joined to each of those two words gives "anzeig", "umkehr". Joins that are no
    word match nothing."""
    out = []
    for clause in _CLAUSE.findall(normalise(text)):
        ws = words(clause)
        if len(ws) >= 3 and ws[-1] in PARTICLES:
            for w in ws[:2]:
                out.append(stem(ws[-1] + w, "de"))
                if w.endswith("t"):  # "zeigt" keeps its t in Snowball: "anzeigt" is not "anzeig"
                    out.append(stem(ws[-1] + w[:-1], "de"))
    return out


def tokenize(text: str, lang: str | None, known: frozenset[str] = frozenset()) -> list[str]:
    """Tokens of a text (see LexicalIndex.tokens); lang None gives both languages' stems."""
    text = normalise(text)
    stop = stopwords()
    out = []
    for w in words(text):
        if w in stop:
            continue
        if lang in ("en", None):
            out.append(stem(w, "en"))
        if lang in ("de", None):
            s = stem(w, "de")
            if lang is None and s == out[-1]:
                pass
            else:
                out.append(s)
            if known:
                out.extend(stem(p, "de") for p in split_compound(w, known))
    out.extend("=" + t for t in technical(text))
    return out
