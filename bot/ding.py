"""The Ding German-English dictionary (Debian `trans-de-en`), parsed once per machine into a
memory-mapped index, so that a corpus's slice of it is a lookup of the corpus's stems.

Parsing the whole dictionary costs most of a minute; a corpus's slice was parsed afresh in
every build (11.6 s for six man pages). Now the first build on a machine parses every entry
once into plain arrays (`~/.cache/bot/ding-*.idx`, one file, written whole or not at all) and
every build after that maps the file and reads only what the corpus's stems select: a few
hundredths of a second.

What a slice holds, per entry ("sub-entry": one of a line's `|`-separated senses, German and
English side by side): when a German word of the entry occurs in the corpus (and the line has
a word of that side in the corpus), its English phrases map to the German words' stems
(en_de, for English questions over German text), and a one-word first sense glosses that
German word; the same the other way round (de_en). Phrases of more than MAX_WORDS words,
sentences and annotations ({f}, [Am.], (...)) are left out.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import mmap
import os
import re
from array import array
from pathlib import Path

import numpy as np

from . import lexical
from .lexical import normalise, stem, stopwords, words

DEFAULT = Path("/usr/share/trans/de-en")
MAX_WORDS = 3  # longer sub-entries are example sentences, not terms
MAX_GLOSSES = 4
FORMAT = 2  # of the cached index: bump when what it holds or how it is parsed changes
_MAGIC = b"bot-ding"
_ANNOTATION = re.compile(r"\{[^}]*\}|\[[^\]]*\]|\([^)]*\)|<[^>]*>|/[^/ ]+/")
_RAW = re.compile(r"[^\W\d_]{3,}")
# Snowball stems are prefixes of their words up to umlauts: a word of a dictionary line counts
# for the corpus only when its first three or four letters (umlauts folded) start a corpus stem.
_FOLD = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss"})
LANGS = ("de", "en")


def clean(term: str, lang: str) -> list[str]:
    """Words of one dictionary synonym without annotations; [] for sentences and long phrases."""
    term = _ANNOTATION.sub(" ", term).strip()
    if not term or any(ch in term for ch in ".?!…"):
        return []
    ws = words(normalise(term))
    if lang == "en" and len(ws) > 1 and ws[0] == "to":
        ws = ws[1:]  # "to forecast" is looked up as "forecast"
    return ws if 0 < len(ws) <= MAX_WORDS else []


def key(ws: list[str], lang: str) -> str:
    """How a phrase is looked up: the stems of all its words."""
    return " ".join(stem(w, lang) for w in ws)


def headword(sub_entry: str, word: str) -> str:
    """The dictionary's own spelling of word (its capitalisation) inside a sub-entry."""
    for syn in sub_entry.split(";"):
        syn = _ANNOTATION.sub(" ", syn).strip()
        if syn.casefold() == word:
            return syn
    return word


def _hash(strings) -> np.ndarray:
    return np.array([int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little")
                     for s in strings], dtype=np.uint64)


# -- the per-machine index ---------------------------------------------------------------

class _Table:
    """Strings interned as integer ids (stems, prefixes, words, phrases), in order of first use;
    those that slices look up (stems and prefixes) are also hashed."""

    def __init__(self):
        self.ids: dict[str, int] = {}
        self.lookup: set[int] = set()

    def __call__(self, s: str, lookup: bool = False) -> int:
        i = self.ids.get(s)
        if i is None:
            i = self.ids[s] = len(self.ids)
        if lookup:
            self.lookup.add(i)
        return i

    def arrays(self) -> dict[str, np.ndarray]:
        strings = list(self.ids)
        data = [s.encode("utf-8") for s in strings]
        looked = np.array(sorted(self.lookup), np.int64)
        h = _hash([strings[i] for i in looked])
        order = np.argsort(h, kind="stable")
        return {"str_blob": np.frombuffer(b"".join(data), np.uint8),
                "str_off": np.cumsum([0] + [len(d) for d in data]).astype(np.uint32),
                "str_hash": h[order], "str_hash_id": looked[order].astype(np.int32)}


def _parse(path: Path) -> dict[str, np.ndarray]:
    """Every entry of the dictionary, reduced to what a slice needs (see Dictionary.slice):
    - per line and side, its words of three or more letters (as ids into a word table that
      holds each word's stem and folded three- and four-letter prefixes);
    - per sense ("sub-entry") and side, the stems of all its words;
    - per sense and side, its terms (clean synonyms): lookup key (the stems of its words),
      whether it may be looked up (not a lone stopword), its target (the stems of its
      non-stopwords); for an English term its text, and for a one-word German term of a
      line's first sense the word and its headword (a gloss)."""
    strings, stop = _Table(), stopwords()
    sub_line: list[int] = []
    sub_n: list[int] = []
    sides = {lang: _Side(lang, strings, stop) for lang in LANGS}
    de_side, en_side = sides["de"], sides["en"]
    lines = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("#") or " :: " not in line:
                continue
            de, en = line.split(" :: ", 1)
            de_subs, en_subs = de.split(" | "), en.split(" | ")
            if len(de_subs) != len(en_subs):
                continue
            subs = []
            for n, (d, e) in enumerate(zip(de_subs, en_subs)):
                de_terms = [ws for ws in (clean(x, "de") for x in d.split(";")) if ws]
                if de_terms:
                    en_terms = [ws for ws in (clean(x, "en") for x in e.split(";")) if ws]
                    if en_terms:
                        subs.append((n, d, e, de_terms, en_terms))
            if not subs:
                continue  # nothing on this line can enter a slice
            de_side.line(de)
            en_side.line(en)
            for n, d, e, de_terms, en_terms in subs:
                sub_line.append(lines)
                sub_n.append(n)
                de_side.sense(d, de_terms, n == 0)
                en_side.sense(e, en_terms, n == 0)
            lines += 1
    arrays = strings.arrays()
    arrays["sub_line"], arrays["sub_n"] = np.array(sub_line, np.int32), np.array(sub_n, np.int32)
    for side in sides.values():
        arrays.update(side.arrays())
    return arrays


class _Side:
    """What _parse collects of one language's side of the entries."""

    def __init__(self, lang: str, strings: _Table, stop: frozenset[str]):
        self.lang, self.strings, self.stop = lang, strings, stop
        self.stems: dict[str, int] = {}  # word -> stem's string id
        self.word_ids: dict[str, int] = {}  # word -> row of the word table
        self.targets: dict[tuple, int] = {}  # stem ids -> target id
        self.keys: dict[tuple, int] = {}  # stem ids -> key id
        # Typed arrays, not lists: tens of millions of Python ints would take gigabytes.
        c = self.c = {name: array("i") for name in ("raw_word", "word_stem", "word_p4", "word_p3", "known_stem",
                                                    "term_key", "term_source", "term_target", "target_stem",
                                                    "key_stem")}
        c.update({name: array("i") for name in (("term_text",) if lang == "en" else ("term_word", "term_head"))})
        for name in ("raw_ptr", "known_ptr", "term_ptr", "target_ptr", "key_ptr"):
            c[name] = array("i", [0])

    def stem(self, w: str) -> int:
        i = self.stems.get(w)
        if i is None:
            i = self.stems[w] = self.strings(stem(w, self.lang), lookup=True)
        return i

    def line(self, side: str) -> None:
        c, ids = self.c, self.word_ids
        raw = c["raw_word"]
        for w in set(_RAW.findall(side.lower())):
            i = ids.get(w)
            if i is None:
                f = w.translate(_FOLD)
                i = ids[w] = len(c["word_stem"])
                c["word_stem"].append(self.stem(w))
                c["word_p4"].append(self.strings(f[:4], lookup=True))
                c["word_p3"].append(self.strings(f[:3], lookup=True))
            raw.append(i)
        c["raw_ptr"].append(len(raw))

    def _interned(self, table: dict, name: str, stems: tuple) -> int:
        i = table.get(stems)
        if i is None:
            ptr, flat = self.c[name + "_ptr"], self.c[name + "_stem"]
            i = table[stems] = len(ptr) - 1
            flat.extend(stems)
            ptr.append(len(flat))
        return i

    def sense(self, side: str, terms: list[list[str]], first: bool) -> None:
        c, stem_of, stop = self.c, self.stem, self.stop
        known = c["known_stem"]
        known.extend({stem_of(w) for w in words(normalise(side))})
        c["known_ptr"].append(len(known))
        # Glosses come from a line's first sense: only there are texts and headwords kept.
        english, strings = self.lang == "en", self.strings
        key, source, target_of = c["term_key"], c["term_source"], c["term_target"]
        for ws in terms:
            stems = tuple(stem_of(w) for w in ws)
            key.append(self._interned(self.keys, "key", stems))
            source.append(len(ws) > 1 or ws[0] not in stop)
            if english:
                c["term_text"].append(strings(" ".join(ws)) if first else -1)
            else:
                gloss = first and len(ws) == 1
                c["term_word"].append(strings(ws[0]) if gloss else -1)
                c["term_head"].append(strings(headword(side, ws[0])) if gloss else -1)
            target = tuple(s for w, s in zip(ws, stems) if w not in stop)
            target_of.append(self._interned(self.targets, "target", target) if target else -1)
        c["term_ptr"].append(len(key))

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"{self.lang}_{name}": np.frombuffer(values, np.int32).astype(np.uint8 if name == "term_source"
                                                                             else np.int32)
                for name, values in self.c.items()}


def _cache_path(path: Path) -> Path:
    st = path.stat()
    # The parse uses lexical's words and stems: a new lexical.VERSION parses again.
    stamp = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{FORMAT}|{lexical.VERSION}"
    digest = hashlib.sha256(stamp.encode()).hexdigest()[:16]
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bot" / f"ding-{digest}.idx"


def _write(target: Path, arrays: dict[str, np.ndarray]) -> None:
    """One file: magic, header length, a JSON header (name -> dtype, offset, count), the arrays."""
    layout, at = {}, 0
    for name, a in arrays.items():
        at = (at + 7) // 8 * 8
        layout[name] = [a.dtype.str, at, int(a.size)]
        at += a.nbytes
    header = json.dumps({"format": FORMAT, "arrays": layout, "size": at}).encode()
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(_MAGIC + len(header).to_bytes(8, "little") + header)
        base = fh.tell()
        for name, a in arrays.items():
            fh.seek(base + layout[name][1])
            fh.write(np.ascontiguousarray(a).tobytes())
        fh.truncate(base + at)
    os.replace(tmp, target)


def _read(cache: Path) -> dict[str, np.ndarray]:
    """The arrays of a cached index, memory-mapped; ValueError when it is not a whole one."""
    with open(cache, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < len(_MAGIC) + 8:
            raise ValueError("too short")
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    if mm[:len(_MAGIC)] != _MAGIC:
        raise ValueError("not an index")
    n = int.from_bytes(mm[len(_MAGIC):len(_MAGIC) + 8], "little")
    base = len(_MAGIC) + 8 + n
    header = json.loads(mm[len(_MAGIC) + 8:base])
    if header.get("format") != FORMAT or size != base + header["size"]:
        raise ValueError("another format, or cut short")
    return {name: np.frombuffer(mm, dtype=np.dtype(dtype), count=count, offset=base + offset)
            for name, (dtype, offset, count) in header["arrays"].items()}


def is_cached(path: Path = DEFAULT) -> bool:
    """Whether this machine has parsed the dictionary at path already (a slice is a lookup)."""
    try:
        _read(_cache_path(Path(path)))
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _load(path: Path) -> dict[str, np.ndarray]:
    """The index of the dictionary at path: the cached one, else parsed now and cached (one
    process parses while others wait for it, rather than all parsing at once)."""
    cache = _cache_path(path)
    try:
        return _read(cache)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        lock = open(cache.with_suffix(".lock"), "a+")
    except OSError:  # no writable cache folder: parsed in every process
        return _parse(path)
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _read(cache)  # made by another process while this one waited
        except (OSError, ValueError, KeyError, TypeError):
            pass
        arrays = _parse(path)
        try:
            _write(cache, arrays)
        except OSError:
            pass
        return arrays


class Dictionary:
    """The parsed dictionary of one file, for slicing by corpus."""

    def __init__(self, path: Path = DEFAULT):
        self.a = _load(Path(path))

    def _string(self, i: int) -> str:
        off = self.a["str_off"]
        return bytes(self.a["str_blob"][int(off[i]):int(off[i + 1])]).decode("utf-8")

    def _mask(self, strings) -> np.ndarray:
        """Which strings of the table are among strings."""
        mask = np.zeros(len(self.a["str_off"]) - 1, bool)
        strings = list(strings)
        if not strings:
            return mask
        table, ids = self.a["str_hash"], self.a["str_hash_id"]
        h = _hash(strings)
        lo, hi = np.searchsorted(table, h, "left"), np.searchsorted(table, h, "right")
        for s, a, b in zip(strings, lo, hi):
            for j in ids[a:b]:  # equal hashes: confirm the string itself
                if self._string(int(j)) == s:
                    mask[j] = True
        return mask

    def slice(self, vocab: dict[str, set[str]]) -> tuple[dict, dict, dict]:
        """(en_de, de_en, glosses) for a corpus whose stems by language are vocab: what the
        dictionary's senses give, in the dictionary's order (see the module docstring)."""
        a = self.a
        need, target_ok = {}, {}
        for lang in LANGS:
            m = self._mask(vocab[lang])
            heads = self._mask({s.translate(_FOLD)[:4] for s in vocab[lang]})
            # A side of a line counts when one of its words has a corpus stem and starts like one
            # (its first three or four letters); a sense of it, when one of its own words has one.
            word_ok = m[a[f"{lang}_word_stem"]] & (heads[a[f"{lang}_word_p4"]] | heads[a[f"{lang}_word_p3"]])
            line_ok = _any(word_ok[a[f"{lang}_raw_word"]], a[f"{lang}_raw_ptr"])
            need[lang] = line_ok[a["sub_line"]] & _any(m[a[f"{lang}_known_stem"]], a[f"{lang}_known_ptr"])
            # A term is a target when it has stems and all of them are the corpus's.
            ptr = a[f"{lang}_target_ptr"]
            target_ok[lang] = np.diff(ptr) == np.diff(np.concatenate([[0], np.cumsum(m[a[f"{lang}_target_stem"]])])[ptr])
        en_de = self._pairs(need["de"], "de", "en", target_ok["de"])
        de_en = self._pairs(need["en"], "en", "de", target_ok["en"])
        glosses: dict[str, list] = {}
        _, t, u = self._cross(need["de"] & (a["sub_n"] == 0), "de", "en", target_ok["de"], None)
        keep = a["de_term_word"][t] >= 0
        events = [a["de_term_word"][t][keep], a["de_term_head"][t][keep], a["en_term_text"][u][keep]]
        text = self._decode(np.concatenate(events))
        for word, head, phrase in zip(*(e.tolist() for e in events)):
            g = glosses.setdefault(text[word], [text[head], []])
            if len(g[1]) < MAX_GLOSSES and text[phrase] not in g[1]:
                g[1].append(text[phrase])
        return en_de, de_en, glosses

    def _cross(self, need, lang: str, other: str, target_ok, source: bool | None):
        """For each sense in need, in order: each of its lang terms with a corpus target,
        paired with each of its other-language terms (only the lookup-able ones with source):
        (sense, lang term, other term) arrays."""
        a = self.a
        subs = np.flatnonzero(need)

        def terms(side: str, keep):
            ptr = a[f"{side}_term_ptr"]
            counts = ptr[subs + 1] - ptr[subs]
            idx = np.repeat(ptr[subs] - np.cumsum(np.concatenate([[0], counts[:-1]])), counts) + np.arange(counts.sum())
            sub_of = np.repeat(np.arange(len(subs)), counts)
            ok = keep(idx)
            return idx[ok], np.bincount(sub_of[ok], minlength=len(subs))

        t, nt = terms(lang, lambda i: (a[f"{lang}_term_target"][i] >= 0)
                      & target_ok[np.maximum(a[f"{lang}_term_target"][i], 0)])
        u, nu = terms(other, (lambda i: a[f"{other}_term_source"][i] == 1) if source else
                      (lambda i: np.ones(len(i), bool)))
        # Per sense, every (t, u) pair, t-major: as the senses are read.
        pairs = nt * nu
        block = np.repeat(np.arange(len(subs)), pairs)
        k = np.arange(pairs.sum()) - np.repeat(np.cumsum(pairs) - pairs, pairs)
        t_start = np.cumsum(nt) - nt
        u_start = np.cumsum(nu) - nu
        nu_b = nu[block]
        return subs[block], t[t_start[block] + k // np.maximum(nu_b, 1)], u[u_start[block] + k % np.maximum(nu_b, 1)]

    def _pairs(self, need, lang: str, other: str, target_ok) -> dict[str, list[list[str]]]:
        """{other-language key: [lang target stems, ...]}: keys and alternatives in the order the
        dictionary first gives them, each alternative once per key."""
        a = self.a
        _, t, u = self._cross(need, lang, other, target_ok, True)
        keys, tgts = a[f"{other}_term_key"][u].astype(np.int64), a[f"{lang}_term_target"][t].astype(np.int64)
        _, first = np.unique(keys * len(a[f"{lang}_target_ptr"]) + tgts, return_index=True)
        first.sort()
        keys, tgts = keys[first], tgts[first]
        key_stems = self._runs(f"{other}_key", keys)
        target_stems = self._runs(f"{lang}_target", tgts)
        text = self._decode(np.concatenate([np.concatenate(list(key_stems.values()) or [[]]),
                                            np.concatenate(list(target_stems.values()) or [[]])]).astype(np.int64))
        keys_text = {k: " ".join(text[s] for s in v) for k, v in key_stems.items()}
        targets = {g: [text[s] for s in v] for g, v in target_stems.items()}
        out: dict[str, list[list[str]]] = {}
        for k, g in zip(keys.tolist(), tgts.tolist()):
            out.setdefault(keys_text[k], []).append(targets[g])  # shared lists: the lexicon only reads them
        return out

    def _runs(self, table: str, ids: np.ndarray) -> dict[int, list[int]]:
        """{id: the stem ids of key or target id} for the distinct ids."""
        ids = np.unique(ids)
        ptr, flat = self.a[f"{table}_ptr"], self.a[f"{table}_stem"]
        starts, ends = ptr[ids], ptr[ids + 1]
        lengths = (ends - starts).tolist()
        values = flat[np.repeat(starts - np.cumsum(np.concatenate([[0], ends[:-1] - starts[:-1]])), ends - starts)
                      + np.arange(int((ends - starts).sum()))].tolist()
        out, at = {}, 0
        for i, n in zip(ids.tolist(), lengths):
            out[i] = values[at:at + n]
            at += n
        return out

    def _decode(self, ids: np.ndarray) -> dict[int, str]:
        """{string id: the string} for the distinct ids."""
        ids = np.unique(ids)
        off, blob = self.a["str_off"], memoryview(self.a["str_blob"])
        return {i: str(blob[a:b], "utf-8") for i, a, b in zip(ids.tolist(), off[ids].tolist(), off[ids + 1].tolist())}


def _any(flags: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """Per run ptr[i]:ptr[i+1] of flags, whether any is set (False for an empty run)."""
    counts = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
    return counts[ptr[1:]] > counts[ptr[:-1]]
