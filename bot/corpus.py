"""Loading documents from the corpus folder and cutting them into chunks that keep structure."""
from __future__ import annotations

import codecs
import hashlib
import os
import re
import sys
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

from .errors import CorpusError
from .records import Chunk, Span

SUFFIXES = (".txt", ".md")
MAX_FILE_BYTES = 50 * 1024 * 1024
PROGRESS_BYTES = 1024 * 1024  # larger files get a "reading ..." line on stderr

_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
# "1) Definition", "1.1 - Was ist", "2.3 - Beispiel", "3. Results"
_NUMBERED_HEADING = re.compile(r"^\s*\d{1,3}(?:\.\d{1,3})*\s*(?:[).:]|\s-|\s–)\s*\S")
# Words ending in a period that do not end a sentence (German and English).
_ABBREVIATIONS = {
    "z.b", "u.a", "d.h", "bzw", "ca", "usw", "etc", "vgl", "evtl", "ggf", "inkl", "bspw", "dr", "prof",
    "nr", "str", "vs", "e.g", "i.e", "mr", "mrs", "ms", "no", "fig", "approx", "cf", "al", "st",
}
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”“»)]*(?=\s+)")


@dataclass(frozen=True)
class Document:
    path: Path  # on disk
    source: str  # as shown to people, e.g. "corpus/x.txt"
    text: str
    sha256: str


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def find_files(corpus: Path) -> list[Path]:
    """The .txt and .md files below corpus, sorted; links that leave the folder are skipped."""
    if not corpus.is_dir():
        raise CorpusError(f"corpus folder {corpus} does not exist: create it and put .txt or .md files in it")
    root = corpus.resolve()
    found = []
    for path in sorted(corpus.rglob("*")):
        if path.suffix.lower() not in SUFFIXES or any(p.startswith(".") for p in path.relative_to(corpus).parts):
            continue
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:
            # Such a name cannot be written to the index or shown reliably.
            shown = os.fsencode(path).decode("utf-8", "backslashreplace")
            warn(f"skipping {shown}: its name is not valid UTF-8; rename the file")
            continue
        try:
            real = path.resolve()
            if not real.is_relative_to(root):
                warn(f"skipping {path}: it links outside the corpus folder")
                continue
            if real.is_file():
                found.append(path)
        except RuntimeError:  # Python 3.11 reports a symlink loop this way
            warn(f"skipping {path}: it is a symlink loop")
        except OSError as e:
            warn(f"skipping {path}: {e.strerror or e}")
    return found


def decode(data: bytes) -> str | None:
    """Text of a file: UTF-8 (with or without BOM), UTF-16 with BOM, else Latin-1; None if binary."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = data.decode("cp1252", errors="replace")
    # Many C0/C1 control characters mean it is not text in any 8-bit encoding either.
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\t\n\r\f")
    return None if controls > 8 else text


def load(corpus: Path) -> list[Document]:
    """Every readable document below corpus; unreadable ones are skipped with a warning."""
    docs = []
    for path in find_files(corpus):
        source = (Path(corpus.name) / path.relative_to(corpus)).as_posix()
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:  # decided before reading: the file never enters memory
                warn(f"skipping {source}: larger than {MAX_FILE_BYTES // 2**20} MB; split it into smaller files")
                continue
            if size >= PROGRESS_BYTES:
                print(f"reading {source} ({size / 2**20:.1f} MB) ...", file=sys.stderr, flush=True)
            data = path.read_bytes()
        except OSError as e:
            warn(f"skipping {source}: {e.strerror or e}")
            continue
        sha = hashlib.sha256(data).hexdigest()
        text = decode(data)
        del data
        if text is None:
            warn(f"skipping {source}: it is not a text file")
            continue
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        docs.append(Document(path, source, text, sha))
    return docs


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Spans of the sentences in text[start:end], trimmed of surrounding whitespace."""
    end = len(text) if end is None else end
    spans, begin = [], start
    for m in _SENTENCE_END.finditer(text, start, end):
        word = text[text.rfind(" ", begin, m.start()) + 1:m.start()].lstrip("(\"'„“«").lower()
        if m.group().startswith(".") and (word in _ABBREVIATIONS or len(word) == 1 or "." in word):
            continue
        nxt = m.end()
        while nxt < end and text[nxt].isspace():
            nxt += 1
        if nxt < end and text[nxt].islower():
            continue  # "Abb. 3 zeigt" or an ellipsis inside a sentence
        spans.append((begin, m.end()))
        begin = nxt
    if begin < end:
        spans.append((begin, end))
    return [_strip(text, s, e) for s, e in spans if text[s:e].strip()]


def _strip(text: str, s: int, e: int) -> Span:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def _heading(line: str) -> str | None:
    """The heading text if the line is a Markdown or numbered heading, else None."""
    m = _MD_HEADING.match(line)
    if m:
        return m.group(1)
    stripped = line.strip()
    if len(stripped) <= 100 and _NUMBERED_HEADING.match(stripped) and not stripped.endswith((".", ",", ";")):
        return stripped
    return None


def _title_like(line: str) -> bool:
    s = line.strip()
    return 0 < len(s) <= 100 and len(s.split()) <= 12 and not s.endswith((".", ",", ";", ":", "!"))


def paragraphs(text: str, markdown: bool = False) -> list[tuple[str, Span]]:
    """(section heading, span) for each paragraph, in order."""
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    result: list[tuple[str, Span]] = []
    section, block = "", []
    # Plain text: blocks of short title-like lines, not yet known to be headings or text.
    pending: list[list[int]] = []

    def emit(group: list[int]):
        # Hard-wrapped text: the block is one paragraph; long lines: each line is one.
        groups = [group] if max(len(lines[i]) for i in group) <= 120 else [[i] for i in group]
        for g in groups:
            span = _strip(text, offsets[g[0]], offsets[g[-1]] + len(lines[g[-1]]))
            if span[0] < span[1]:
                result.append((section, span))

    def settle(as_headings: bool):
        nonlocal section
        # Title lines above text or a heading are headings; with nothing after them they
        # are the text itself (a short note, a list), which must not be lost.
        if pending and as_headings:
            section = lines[pending[-1][-1]].strip()
        else:
            for group in pending:
                emit(group)
        pending.clear()

    def flush():
        nonlocal section
        if not block:
            return
        if not markdown:
            if all(_title_like(lines[i]) for i in block):
                pending.append(block[:])
                block.clear()
                return
            settle(as_headings=True)
            # A title line opening a block is a heading when a long paragraph line follows.
            if _title_like(lines[block[0]]) and len(lines[block[1]]) > 120:
                section = lines[block.pop(0)].strip()
        emit(block)
        block.clear()

    in_fence = False
    for i, line in enumerate(lines):
        fence = markdown and line.lstrip().startswith("```")
        if fence:
            in_fence = not in_fence
        if not line.strip():
            if not in_fence:
                flush()
            continue
        head = None if in_fence or fence else _heading(line)
        if head is not None:
            flush()
            settle(as_headings=True)
            section = head
            continue
        block.append(i)
    flush()
    settle(as_headings=False)
    return result


def chunk_document(doc: Document, max_chars: int, first_id: int = 0) -> list[Chunk]:
    """Chunks of one document: paragraphs, long ones split on sentence boundaries, duplicates dropped."""
    text = doc.text
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for section, (start, end) in paragraphs(text, markdown=doc.source.lower().endswith(".md")):
        for piece in _pieces(text, start, end, max_chars):
            s, e = piece[0][0], piece[-1][1]
            key = " ".join(text[s:e].split()).casefold()
            if key in seen:
                continue
            seen.add(key)
            chunks.append(Chunk(
                id=first_id + len(chunks), source=doc.source, section=section,
                start_line=bisect_right(line_starts, s), end_line=bisect_right(line_starts, e - 1),
                text=text[s:e], sentences=tuple((a - s, b - s) for a, b in piece)))
    return chunks


def _pieces(text: str, start: int, end: int, max_chars: int) -> list[list[Span]]:
    """Groups of sentence spans, each group at most max_chars long (longer sentences are cut)."""
    sentences: list[Span] = []
    for s, e in split_sentences(text, start, end):
        while e - s > max_chars:  # one enormous "sentence": cut at the last space that fits
            cut = text.rfind(" ", s + 1, s + max_chars)
            cut = cut if cut > s else s + max_chars
            sentences.append(_strip(text, s, cut))
            s = _strip(text, cut, e)[0]
        if s < e:
            sentences.append((s, e))
    groups: list[list[Span]] = []
    for span in sentences:
        if groups and span[1] - groups[-1][0][0] <= max_chars:
            groups[-1].append(span)
        else:
            groups.append([span])
    return groups


def chunk_all(docs: list[Document], max_chars: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    for doc in docs:
        chunks.extend(chunk_document(doc, max_chars, first_id=len(chunks)))
    return chunks
