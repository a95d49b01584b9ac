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

The dictionary is parsed once per machine into an index (`~/.cache/bot/glosses-*.npz`: each
one-word German term's gloss and renderings, and counts of English word pairs); an index build
then looks its corpus's words up.
"""
from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .lexical import stopwords

DEFAULT = Path("/usr/share/trans/de-en")
SENSES = 3  # English terms shown per noun: the first senses, not the whole entry
FORMAT = 4  # of the per-machine index
MAX_WORDS = 3  # longer English sub-entries are examples, not terms
MIN_PART = 3  # letters of the shortest compound part
LINKS = ("", "s", "es", "n", "en", "e", "er")  # linking letters between compound parts
NOUN_TAGS = {"m", "f", "n", "pl"}
_ANNOTATION = re.compile(r"\{[^}]*\}|\[[^\]]*\]|\([^)]*\)|<[^>]*>|/[^/ ]+/")
_TAGS = re.compile(r"\{([^}]*)\}")
_TERM = re.compile(r"[^\W\d_][^\W\d_-]*(?:-[^\W\d_]+)*")
_EN_WORD = re.compile(r"[a-z][a-z'-]*")
_CAPITALISED = re.compile(r"\b[A-ZÄÖÜ][^\W\d_]*(?:-[^\W\d_]+)*")
_SEP, _LIST = "\x1f", "\x1e"  # fields and list items in the per-machine index's strings
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


def _term(sense: Sense) -> str:
    """A sense's English: its first term, or the plain word that term narrows when the sense also
    gives it ("theatrical role; role; part" -> "role")."""
    first = sense.english[0]
    plain = [t for t in sense.english[1:] if " " not in t and first.endswith(" " + t)]
    return plain[0] if plain else first


def choose(senses: list[Sense], limit: int = SENSES) -> list[str]:
    """The gloss of a noun: the English of its first noun senses (first-term senses first, then
    the dictionary's order), each meaning once."""
    ranked = sorted((s for s in senses if s.noun), key=lambda s: not s.first)  # stable: dictionary order
    out: list[str] = []
    for s in ranked:
        if fold(_term(s)) not in map(fold, out):
            out.append(_term(s))
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


def _candidates(senses: list[Sense], last: bool) -> list[str]:
    """English renderings of a word as a compound's part: the first terms of its senses (nouns
    first), and as a modifier, one-word terms and their plurals ("operation", "operations")."""
    ranked = sorted(senses, key=lambda s: (not s.noun, not s.first))
    out = list(dict.fromkeys(t for s in ranked for t in s.english[:2] if last or " " not in t))[:8]
    if not last:
        out += [t + "s" for t in out if not t.endswith("s") and t + "s" not in out]
    return out


def _parse(path: Path) -> dict[str, np.ndarray]:
    """The per-machine index: for each one-word German term its spelling, whether it is a noun,
    its gloss and its renderings as a compound's head and modifier; and how often English words
    follow each other, and modify another, in the dictionary's English terms."""
    senses_of: dict[str, list[Sense]] = {}
    counts: dict[str, int] = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            senses = parse_line(line.rstrip("\n"))
            for s in senses:
                senses_of.setdefault(s.word, []).append(s)
            for term in {t for s in senses for t in s.english}:
                ws = _EN_WORD.findall(term.lower())
                for a, b in zip(ws, ws[1:]):
                    counts[f"{a} {b}"] = counts.get(f"{a} {b}", 0) + 1
                    counts["> " + a] = counts.get("> " + a, 0) + 1
    terms = sorted(senses_of)
    info = []
    for t in terms:
        senses = senses_of[t]
        noun = any(s.noun for s in senses)
        spelling = next((s.spelling for s in senses if s.noun), senses[0].spelling)
        info.append(_SEP.join([spelling, "n" if noun else "", _LIST.join(choose(senses)),
                               _LIST.join(_candidates(senses, True)), _LIST.join(_candidates(senses, False))]))
    blob = [x.encode("utf-8") for x in info]
    h, ch = _hash(terms), _hash(counts)
    order, corder = np.argsort(h, kind="stable"), np.argsort(ch, kind="stable")
    return {"term_hash": h[order], "term_row": order.astype(np.int32),
            "info": np.frombuffer(b"".join(blob), np.uint8), "info_off": np.cumsum([0] + [len(x) for x in blob]),
            "count_hash": ch[corder], "count": np.array(list(counts.values()), np.int32)[corder]}


@dataclass(frozen=True)
class Term:
    """What the dictionary says of one German term, for glossing."""

    spelling: str
    noun: bool
    gloss: list[str]  # for a noun: its first senses' English
    heads: list[str]  # renderings as a compound's head
    modifiers: list[str]  # renderings as a compound's modifier


def is_cached(path: Path = DEFAULT) -> bool:
    """Whether this machine has parsed the dictionary at path for glossing already."""
    try:
        return _index_path(Path(path)).is_file()
    except OSError:
        return False


class Dictionary:
    """The Ding dictionary at path, parsed for glossing (once per machine, then a lookup)."""

    def __init__(self, path: Path = DEFAULT):
        cache = _index_path(Path(path))
        try:
            with np.load(cache, allow_pickle=False) as z:
                self.a = {k: z[k] for k in z.files}
        except Exception:  # missing or damaged (a cache): parsed again and replaced
            self.a = _parse(Path(path))
            try:  # written whole or not at all; without a writable cache folder it is parsed each time
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
                np.savez(tmp, **self.a)
                os.replace(tmp, cache)
            except OSError:
                pass
        self._terms: dict[str, Term | None] = {}
        self._counts: dict[str, int] = {}

    def term(self, word: str) -> Term | None:
        """The one-word German term word (any case), or None when the dictionary has none."""
        word = word.casefold()
        if word not in self._terms:
            h = _hash([word])[0]
            i = int(np.searchsorted(self.a["term_hash"], h))
            got = None
            if i < len(self.a["term_hash"]) and self.a["term_hash"][i] == h:
                row = int(self.a["term_row"][i])
                off = self.a["info_off"]
                spelling, noun, gloss, heads, modifiers = (
                    bytes(self.a["info"][off[row]:off[row + 1]]).decode("utf-8").split(_SEP))
                got = Term(spelling, bool(noun), *([x for x in f.split(_LIST) if x] for f in (gloss, heads, modifiers)))
            self._terms[word] = got
        return self._terms[word]

    def is_noun(self, word: str) -> bool:
        t = self.term(word)
        return t is not None and t.noun

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
            if dictionary.term(base):
                return [base, tail]
            parts = split(base, dictionary, depth + 1)
            if parts:
                return [*parts, tail]
    return []


def compose(word: str, dictionary: Dictionary) -> tuple[str, list[str]] | None:
    """(English, German parts) for a compound without an entry of its own, or None.

    The head's rendering and each modifier's are chosen right to left: the pair the dictionary's
    English terms use most ("sales forecast"), else the modifier used most as one ("sales")."""
    parts = split(word, dictionary)
    if not parts:
        return None
    terms = [dictionary.term(p) for p in parts]
    head = terms[-1].heads
    if not head:
        return None
    phrase = None
    for term in reversed(terms[:-1]):
        options = term.modifiers
        if not options:
            return None
        rights = [phrase] if phrase else head

        def score(pair):
            left, right = pair
            return (dictionary.count(f"{left.split()[-1].lower()} {right.split()[0].lower()}"),
                    dictionary.count("> " + left.split()[-1].lower()), -options.index(left), -rights.index(right))
        left, right = max(((o, r) for o in options for r in rights), key=score)
        phrase = f"{left} {right}"
    return phrase, [t.spelling for t in terms]


def _entry(word: str, dictionary: Dictionary) -> list | None:
    """A noun's table entry: its own gloss, else (a plural's dative, "Vertriebsleitern") the
    gloss of the form without its last n, else composed from its parts; None for other words."""
    forms = [word, word[:-1]] if len(word) > 2 * MIN_PART and word.endswith("n") else [word]
    for form in forms:
        term = dictionary.term(form)
        if term is not None and term.noun:
            return [term.spelling, term.gloss, []]
        if term is not None and form == word:
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
