"""English glosses of a corpus's German nouns, for English askers reading German quotes.

Built at index time from the Ding dictionary (Debian `trans-de-en`) and kept in the index (the
lexicon's `glosses`), so showing them costs a lookup. A noun's gloss is the first English term of
each of its first senses, at most SENSES of them, from the dictionary's noun senses only:

- a sense is any sub-entry in which the word is a one-word German term ("Vertriebsleiter {m}" is
  the 15th sub-entry of the "Leiter" line), its plural sub-entries included ("Verkaufsziele {pl}");
- senses where the word is the first German term come first, then the others, each in the
  dictionary's order (measured on nouns of the article and of `find`'s German man page: the
  first gloss fits the text for 38 of 47 and 37 of 52; see docs/benchmarks.md);
- a noun with no entry is composed from its parts ("Vertriebsoperationsleiter" = Vertrieb +
  Operation + Leiter -> "sales operations manager"), each part's English chosen by how the
  dictionary's English side combines them ("operations manager", "sales" as a modifier), and
  marked as composed.

The dictionary is parsed once per machine into a small index (`~/.cache/bot/glosses-*.npz`:
each one-word German term's lines, and counts of English word pairs); an index build then
reads only the lines of its corpus's words.
"""
from __future__ import annotations

import hashlib
import mmap
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .lexical import stopwords

DEFAULT = Path("/usr/share/trans/de-en")
SENSES = 3  # English terms shown per noun: the first senses, not the whole entry
FORMAT = 2  # of the per-machine index
MAX_WORDS = 3  # longer English sub-entries are examples, not terms
MIN_PART = 3  # letters of the shortest compound part
LINKS = ("", "s", "es", "n", "en", "e", "er")  # linking letters between compound parts
NOUN_TAGS = {"m", "f", "n", "pl"}
_ANNOTATION = re.compile(r"\{[^}]*\}|\[[^\]]*\]|\([^)]*\)|<[^>]*>|/[^/ ]+/")
_TAGS = re.compile(r"\{([^}]*)\}")
_TERM = re.compile(r"[^\W\d_][^\W\d_-]*(?:-[^\W\d_]+)*")
_EN_WORD = re.compile(r"[a-z][a-z'-]*")
_CAPITALISED = re.compile(r"\b[A-ZÄÖÜ][^\W\d_]*(?:-[^\W\d_]+)*")
_SENTENCE = re.compile(r"[.?!…/]")  # sentences, and alternatives the dictionary writes "a/an"


@dataclass(frozen=True)
class Sense:
    """One sub-entry of a dictionary line, seen from one of its one-word German terms."""

    word: str  # the German term, casefolded
    spelling: str  # as the dictionary writes it ("Vertriebsleiter")
    noun: bool  # tagged {m}, {f}, {n} or {pl}
    first: bool  # the first German term of its sub-entry
    english: tuple[str, ...]  # the sub-entry's English terms, without annotations


_BRACKETS = re.compile(r"\([^()]*\)|\[[^\]]*\]|\{[^}]*\}")


def _split(text: str, sep: str) -> list[str]:
    """text split at sep outside brackets: "Rolle {f} (Theater; Film)" is one synonym."""
    if sep not in text:
        return [text]
    hidden = _BRACKETS.sub(lambda m: m.group().replace(sep, "\0"), text)
    return [part.replace("\0", sep) for part in hidden.split(sep)]


def _english(term: str) -> str:
    term = _ANNOTATION.sub(" ", term)
    if _SENTENCE.search(term):
        return ""
    words = term.split()
    return " ".join(words) if 0 < len(words) <= MAX_WORDS else ""


def parse_line(line: str) -> list[Sense]:
    """The senses a Ding line gives its one-word German terms, in order."""
    if line.startswith("#") or " :: " not in line:
        return []
    de, en = line.split(" :: ", 1)
    de_subs, en_subs = de.split(" | "), en.split(" | ")
    if len(de_subs) != len(en_subs):
        return []
    out = []
    for d, e in zip(de_subs, en_subs):
        english = tuple(dict.fromkeys(t for t in (_english(x) for x in _split(e, ";")) if t))
        if not english:
            continue
        for k, syn in enumerate(_split(d, ";")):
            term = _ANNOTATION.sub(" ", syn).strip()
            if not _TERM.fullmatch(term):
                continue
            tags = {t.strip() for group in _TAGS.findall(syn) for t in group.split(",")}
            out.append(Sense(term.casefold(), term, bool(tags & NOUN_TAGS), k == 0, english))
    return out


def fold(text: str) -> str:
    """"rôle" and "role", "co-operation" and "cooperation", "cooperator" and "cooperators"
    count as one gloss."""
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in text if not unicodedata.combining(ch) and ch != "-").removesuffix("s")


def choose(senses: list[Sense], limit: int = SENSES) -> list[str]:
    """The gloss of a noun: the first English term of its first noun senses (first-term senses
    first, then the dictionary's order), each meaning once."""
    ranked = sorted((s for s in senses if s.noun), key=lambda s: not s.first)  # stable: dictionary order
    out: list[str] = []
    for s in ranked:
        if fold(s.english[0]) not in map(fold, out):
            out.append(s.english[0])
        if len(out) == limit:
            break
    return out


def _hash(strings) -> np.ndarray:
    return np.array([int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little")
                     for s in strings], dtype=np.uint64)


def _index_path(path: Path) -> Path:
    st = path.stat()
    stamp = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{FORMAT}"
    digest = hashlib.sha256(stamp.encode()).hexdigest()[:16]
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bot" / f"glosses-{digest}.npz"


def _parse(path: Path) -> dict[str, np.ndarray]:
    """The per-machine index: each term's lines (by byte offset), whether it has a noun sense,
    and how often English words follow each other and modify others in the dictionary's terms."""
    lines_of: dict[str, list[int]] = {}
    noun: set[str] = set()
    pairs: dict[str, int] = {}
    modifiers: dict[str, int] = {}
    offsets: list[int] = []
    with open(path, "rb") as fh:
        at = 0
        for raw in fh:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            senses = parse_line(line)
            if senses:
                number = len(offsets)
                offsets.append(at)
                for s in senses:
                    seen = lines_of.setdefault(s.word, [])
                    if not seen or seen[-1] != number:
                        seen.append(number)
                    if s.noun:
                        noun.add(s.word)
                for term in {t for s in senses for t in s.english}:
                    ws = _EN_WORD.findall(term.lower())
                    for a, b in zip(ws, ws[1:]):
                        pairs[f"{a} {b}"] = pairs.get(f"{a} {b}", 0) + 1
                        modifiers[a] = modifiers.get(a, 0) + 1
            at += len(raw)
    terms = sorted(lines_of)
    h = _hash(terms)
    order = np.argsort(h, kind="stable")
    ptr = np.cumsum([0] + [len(lines_of[t]) for t in terms]).astype(np.int64)
    counts = {**{k: v for k, v in pairs.items()}, **{"> " + k: v for k, v in modifiers.items()}}
    ch = _hash(counts)
    corder = np.argsort(ch, kind="stable")
    return {"term_hash": h[order], "term_row": order.astype(np.int32), "term_noun": np.array([t in noun for t in terms]),
            "ptr": ptr, "lines": np.array([n for t in terms for n in lines_of[t]], np.int32),
            "offsets": np.array(offsets, np.int64), "count_hash": ch[corder],
            "count": np.array(list(counts.values()), np.int32)[corder]}


class Dictionary:
    """The Ding dictionary at path, for glossing: senses of a word, noun or not, English counts."""

    def __init__(self, path: Path = DEFAULT):
        self.path = Path(path)
        cache = _index_path(self.path)
        try:
            with np.load(cache, allow_pickle=False) as z:
                self.a = {k: z[k] for k in z.files}
        except Exception:  # missing or damaged (a cache): parsed again and replaced
            self.a = _parse(self.path)
            try:  # written whole or not at all; without a writable cache folder it is parsed each time
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
                np.savez(tmp, **self.a)
                os.replace(tmp, cache)
            except OSError:
                pass
        with open(self.path, "rb") as fh:
            self._text = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self._memo: dict[str, list[Sense]] = {}
        self._rows: dict[str, int | None] = {}
        self._counts: dict[str, int] = {}

    def _row(self, word: str) -> int | None:
        if word not in self._rows:
            h = _hash([word])[0]
            i = int(np.searchsorted(self.a["term_hash"], h))
            found = i < len(self.a["term_hash"]) and self.a["term_hash"][i] == h
            self._rows[word] = int(self.a["term_row"][i]) if found else None
        return self._rows[word]

    def senses(self, word: str) -> list[Sense]:
        """Every sense the dictionary gives the one-word German term word (casefolded), in order."""
        word = word.casefold()
        got = self._memo.get(word)
        if got is None:
            row, got = self._row(word), []
            if row is not None:
                ptr, offsets, text = self.a["ptr"], self.a["offsets"], self._text
                for n in self.a["lines"][ptr[row]:ptr[row + 1]]:
                    start = int(offsets[n])
                    end = text.find(b"\n", start)
                    line = text[start:end if end >= 0 else len(text)].decode("utf-8", errors="replace")
                    got += [s for s in parse_line(line) if s.word == word]
            self._memo[word] = got
        return got

    def is_noun(self, word: str) -> bool:
        row = self._row(word.casefold())
        return row is not None and bool(self.a["term_noun"][row])

    def count(self, key: str) -> int:
        """How often "a b" occurs in the dictionary's English terms, or "> a" (a modifying a word)."""
        if key not in self._counts:
            h = _hash([key])[0]
            i = int(np.searchsorted(self.a["count_hash"], h))
            found = i < len(self.a["count_hash"]) and self.a["count_hash"][i] == h
            self._counts[key] = int(self.a["count"][i]) if found else 0
        return self._counts[key]


def split(word: str, dictionary: Dictionary, depth: int = 0) -> list[str]:
    """A German compound's parts as dictionary terms, or [] when it is none: the longest noun
    at its end, the front (without linking letters) a term itself or split again."""
    w = word.casefold()
    if depth > 3 or len(w) < 2 * MIN_PART:
        return []
    for j in range(MIN_PART, len(w) - MIN_PART + 1):
        tail = w[j:]
        if not dictionary.is_noun(tail):
            continue
        front = w[:j]
        for link in LINKS:
            base = front[:len(front) - len(link)] if link else front
            if len(base) < MIN_PART or (link and not front.endswith(link)):
                continue
            if dictionary.senses(base):
                return [base, tail]
            parts = split(base, dictionary, depth + 1)
            if parts:
                return [*parts, tail]
    return []


def _candidates(part: str, dictionary: Dictionary, last: bool) -> list[str]:
    """English renderings of one compound part: the first terms of its senses (nouns first),
    and for a modifier, its plural too ("operation" -> "operations")."""
    senses = dictionary.senses(part)
    ranked = sorted(senses, key=lambda s: (not s.noun, not s.first))
    out = list(dict.fromkeys(t for s in ranked for t in s.english[:2] if len(t.split()) == 1 or last))[:8]
    if not last:
        out += [t + "s" for t in out if " " not in t and not t.endswith("s") and t + "s" not in out]
    return out


def compose(word: str, dictionary: Dictionary) -> tuple[str, list[str]] | None:
    """(English, German parts) for a compound without an entry of its own, or None.

    The head's rendering and each modifier's are chosen right to left: the pair the dictionary's
    English terms use most ("sales forecast"), else the modifier used most as one ("sales")."""
    parts = split(word, dictionary)
    if not parts:
        return None
    head = _candidates(parts[-1], dictionary, True)
    if not head:
        return None
    phrase = None
    for part in reversed(parts[:-1]):
        options = _candidates(part, dictionary, False)
        if not options:
            return None
        rights = [phrase] if phrase else head

        def score(pair):
            left, right = pair
            return (dictionary.count(f"{left.split()[-1].lower()} {right.split()[0].lower()}"),
                    dictionary.count("> " + left.split()[-1].lower()), -options.index(left), -rights.index(right))
        left, right = max(((o, r) for o in options for r in rights), key=score)
        phrase = f"{left} {right}"
    spellings = [(dictionary.senses(p)[0].spelling if dictionary.senses(p) else p) for p in parts]
    return phrase, spellings


def _entry(word: str, dictionary: Dictionary) -> list | None:
    """A noun's table entry: its own senses, else (a plural's dative, "Vertriebsleitern") the
    senses of the form without its last n, else composed from its parts; None for other words."""
    forms = [word, word[:-1]] if len(word) > 2 * MIN_PART and word.endswith("n") else [word]
    for form in forms:
        senses = dictionary.senses(form)
        if any(s.noun for s in senses):
            return [next(s.spelling for s in senses if s.noun), choose(senses), []]
        if senses and form == word:
            return None  # a word of another kind: no noun gloss
    for form in forms:
        composed = compose(form, dictionary)
        if composed:
            return [form.capitalize(), [composed[0]], composed[1]]
    return None


def build(words, path: Path = DEFAULT) -> dict[str, list]:
    """The gloss table of a corpus's capitalised German words (any order, repeats allowed):
    {word casefolded: [spelling, [English, ...], [German parts if composed]]}; {} without the
    dictionary."""
    if not Path(path).is_file():
        return {}
    dictionary, stop = Dictionary(path), stopwords()  # "Sie" opens a sentence; it is no noun
    pieces = {p for w in dict.fromkeys(x.casefold() for x in words) for p in w.split("-") if len(p) >= MIN_PART}
    table: dict[str, list] = {}

    def add(piece: str) -> list | None:
        if piece not in table:
            # A dative plural whose nominative the corpus also has ("Vertriebsleitern") is glossed as that.
            same = piece[:-1] if piece.endswith("n") and piece[:-1] in pieces else None
            entry = add(same) if same else None
            table[piece] = entry or (None if piece in stop else _entry(piece, dictionary))
        return table[piece]

    for piece in sorted(pieces):
        add(piece)
    return {k: v for k, v in table.items() if v is not None}


def lookup(table: dict[str, list], word: str) -> list[str]:
    """The gloss of one word of a text, as lines for a tooltip; [] when it has none or is no noun
    (a German noun is capitalised)."""
    if not word[:1].isupper():
        return []
    pieces = word.split("-")
    out = []
    for piece in pieces:
        entry = table.get(piece.casefold())
        if not entry:
            continue
        spelling, english, parts = entry
        meaning = "; ".join(english)
        if parts:
            meaning += f" (composed: {' + '.join(parts)})"
        out.append(f"{spelling}: {meaning}" if len(pieces) > 1 else meaning)
    return out


def capitalised(text: str) -> list[str]:
    """The words of a German text that may be nouns: those written with a capital."""
    return _CAPITALISED.findall(text)


def of_chunks(chunks, langs, path: Path = DEFAULT) -> dict[str, list]:
    """The gloss table of a corpus: build() over the capitalised words of its German chunks
    (langs: each chunk's language)."""
    return build((w for c, lang in zip(chunks, langs) if lang == "de" for w in capitalised(c.text)), path)
