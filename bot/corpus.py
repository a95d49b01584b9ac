"""Finding the documents in the corpus folder and reading them; structure is the readers', chunks the chunker's."""
from __future__ import annotations

import codecs
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from . import readers
from .chunking import chunk, split_sentences  # noqa: F401  (split_sentences: public here too)
from .errors import CorpusError, UnreadableDocument
from .readers import Block
from .records import Chunk

SUFFIXES = readers.SUFFIXES
MAX_FILE_BYTES = 50 * 1024 * 1024
PROGRESS_BYTES = 1024 * 1024  # larger files get a "reading ..." line on stderr


@dataclass(frozen=True)
class Document:
    path: Path  # on disk
    source: str  # as shown to people, e.g. "corpus/x.txt"
    text: str | None  # the decoded text of a text format; None for PDF, DOCX, HTML
    sha256: str
    blocks: tuple[Block, ...] | None = None  # read already (all formats but plain text and Markdown)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def find_files(corpus: Path) -> list[Path]:
    """The documents below corpus (SUFFIXES), sorted; hidden files and folders are skipped, and
    so are links that leave the folder (links to folders are not followed)."""
    return [Path(p) for p in find_paths(corpus)]


def find_paths(corpus: Path) -> list[str]:
    """find_files as plain strings ("corpus/sub/a.txt"), for the check at every start."""
    if corpus.is_file():
        raise CorpusError(f"corpus folder {corpus} is a file: give --corpus the folder that holds your documents")
    if not corpus.is_dir():
        raise CorpusError(f"corpus folder {corpus} does not exist: create it and put your documents "
                          "(.txt, .md, .pdf, .docx, .html) in it")
    root = corpus.resolve()
    found = []
    # os.walk and plain strings: every start walks the corpus to see whether it changed, and
    # pathlib's per-file work cost 0.3 s on 1,320 files.
    for folder, subfolders, names in os.walk(corpus):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        real_folder = None
        for name in names:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in SUFFIXES:
                continue
            path = os.path.join(folder, name)
            try:
                path.encode("utf-8")
            except UnicodeEncodeError:
                # Such a name cannot be written to the index or shown reliably.
                shown = os.fsencode(path).decode("utf-8", "backslashreplace")
                warn(f"skipping {shown}: its name is not valid UTF-8; rename the file")
                continue
            try:
                if os.path.islink(path):
                    real = Path(path).resolve()
                else:
                    real_folder = real_folder or Path(folder).resolve()
                    real = real_folder / name
                if not real.is_relative_to(root):
                    warn(f"skipping {path}: it links outside the corpus folder")
                    continue
                if real.is_file():
                    found.append(path)
            except RuntimeError:  # Python 3.11 reports a symlink loop this way
                warn(f"skipping {path}: it is a symlink loop")
            except OSError as e:
                warn(f"skipping {path}: {e.strerror or e}")
    rel = len(str(corpus).rstrip(os.sep)) + 1
    return sorted(found, key=lambda p: p[rel:].split(os.sep))


def sha256_file(path: Path) -> str | None:
    """The file's SHA-256, streamed so a large file is never read into memory at once; None if unreadable."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None


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


def load(corpus: Path, only: set[str] | None = None) -> list[Document]:
    """Every readable document below corpus (or those of only, paths relative to it like
    "sub/a.txt"); unreadable ones are skipped with a warning."""
    docs = []
    for path in find_files(corpus):
        if only is not None and path.relative_to(corpus).as_posix() not in only:
            continue
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
        try:
            doc = read(path, source, data, sha)
        except UnreadableDocument as e:
            warn(f"skipping {source}: {e}")
            continue
        del data
        docs.append(doc)
    return docs


def read(path: Path, source: str, data: bytes, sha: str = "") -> Document:
    """One document from its bytes; UnreadableDocument says why it cannot be read."""
    if not readers.is_text(path):
        blocks = readers.read(path.suffix, data)
        if not blocks:
            raise UnreadableDocument("no text found in it (a scanned or empty document?)")
        return Document(path, source, None, sha, tuple(blocks))
    text = decode(data)
    if text is None:
        raise UnreadableDocument("it is not a text file")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if path.suffix.lower() in (".md", ".markdown"):
        # Chunks quote Markdown as it reads ("grep", not "**grep**"), line for line.
        from .readers.markdown import shown
        text, blocks = shown(text, readers.read(path.suffix, b"", text))
        return Document(path, source, text, sha, tuple(blocks))
    return Document(path, source, text, sha)


def blocks_of(doc: Document) -> list[Block]:
    if doc.blocks is not None:
        return list(doc.blocks)
    suffix = Path(doc.source).suffix.lower()
    return readers.read(suffix if suffix in readers.TEXT_SUFFIXES else ".txt", b"", doc.text)


def chunk_document(doc: Document, max_chars: int, first_id: int = 0) -> list[Chunk]:
    """Chunks of one document: its blocks, long ones split on sentence boundaries."""
    return chunk(doc.source, blocks_of(doc), max_chars, text=doc.text, first_id=first_id)


def chunk_all(docs: list[Document], max_chars: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    for doc in docs:
        chunks.extend(chunk_document(doc, max_chars, first_id=len(chunks)))
    return chunks


