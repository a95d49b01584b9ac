"""PDF: words with their positions, read as a page is seen (layout.py), then structured by the
text parser; every block keeps its page.

pypdf opens the file (encryption, page count, page labels). The words and their boxes come from
poppler's `pdftotext -bbox-layout` where it is installed: measured against pdfplumber
(pdfminer.six) on man pages from gropdf, Ghostscript and Chromium it splits no word where
groff kerns or stretches a line and is 10-20x faster (docs/formats.md). Without poppler,
pypdf's layout-mode text serves (its columns standing in for positions), with a one-line note.
"""
from __future__ import annotations

import html
import io
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from bisect import bisect_right
from dataclasses import replace

from .blocks import Block
from .layout import Page, Word, compose, drop_running, lines, stops

_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">')
_WORD = re.compile(r'<word xMin="([-\d.]+)" yMin="([-\d.]+)" xMax="([-\d.]+)" yMax="([-\d.]+)">(.*?)</word>', re.S)


def parse(data: bytes) -> list[Block]:
    import logging
    import warnings

    from pypdf import PdfReader

    from ..errors import UnreadableDocument

    # pypdf logs every oddity of a damaged file; the caller reports one line per file instead.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="pypdf")
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        try:
            if not reader.decrypt(""):
                raise UnreadableDocument("it is encrypted: save an unprotected copy")
        except UnreadableDocument:
            raise
        except Exception as e:
            raise UnreadableDocument("it is encrypted: save an unprotected copy") from e
    pages = _poppler_pages(data, len(reader.pages))
    if pages is None:
        pages = [_pypdf_page(page) for page in reader.pages]
    try:
        labels = list(reader.page_labels)
    except Exception:  # a broken label tree: page numbers alone still serve
        labels = []
    if not any(p.words for p in pages):
        raise UnreadableDocument("it has no text layer (a scan?): run OCR on it first")
    indents = stops(pages)
    text, page_of, marks = compose(drop_running([lines(p, n, indents) for n, p in enumerate(pages, 1)],
                                                pages[0].height))
    from .text import parse as parse_text

    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    blocks: list[Block] = []
    for b in parse_text(text, titles=False, headings=marks):
        # One block per page it lies on: a description that runs on over a page break is cited
        # on each page with its option's label.
        first, last = bisect_right(starts, b.span[0]) - 1, bisect_right(starts, b.span[1] - 1) - 1
        n = first
        while n <= last:
            m = n
            while m + 1 <= last and page_of[m + 1] == page_of[n]:
                m += 1
            s = max(starts[n], b.span[0])
            e = min(starts[m + 1] - 1 if m + 1 < len(starts) else len(text), b.span[1])
            piece = textwrap.dedent(" " * (s - starts[n]) + text[s:e])
            if piece.strip():
                page = page_of[n]
                label = labels[page - 1] if page - 1 < len(labels) else None
                blocks.append(replace(b, text=piece.strip(), start_line=None, end_line=None, span=None, page=page,
                                      page_label=label if label != str(page) else None))
            n = m + 1
    return blocks


_noted = False


def _poppler_pages(data: bytes, n_pages: int) -> list[Page] | None:
    """Each page's words from poppler's pdftotext, or None without it (or when it disagrees
    with pypdf about the number of pages)."""
    global _noted
    if not shutil.which("pdftotext"):
        if not _noted:
            _noted = True
            print("note: pdftotext not found; PDF text comes from pypdf, which splits some words: "
                  "`apt-get install poppler-utils` reads PDFs better", file=sys.stderr)
        return None
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(data)
        f.flush()
        try:
            out = subprocess.run(["pdftotext", "-bbox-layout", "-q", "-enc", "UTF-8", f.name, "-"],
                                 capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            return None
    if out.returncode != 0:
        return None
    xml = out.stdout.decode("utf-8", "replace")
    heads = list(_PAGE.finditer(xml))
    if len(heads) != n_pages:
        return None
    pages = []
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(xml)
        words = tuple(Word(float(a), float(b), float(c), float(d), html.unescape(t))
                      for a, b, c, d, t in _WORD.findall(xml, head.end(), end) if t.strip())
        pages.append(Page(float(head.group(1)), float(head.group(2)), words))
    return pages


def _pypdf_page(page) -> Page:
    """Words of pypdf's layout-mode text placed by their character columns and rows. Layout
    mode puts gaps inside words it finds kerned ("--par    ents"); its plain text has them
    whole, so two pieces are one word where plain text has them together and not apart."""
    try:
        text = page.extract_text(extraction_mode="layout") or ""
        whole = set((page.extract_text() or "").split())
    except Exception:  # layout mode fails on some odd fonts; plain text still has the words
        text, whole = page.extract_text() or "", set()
    words = []
    for row, line in enumerate(text.replace("\r", "\n").split("\n")):
        found = [[m.start(), m.end(), m.group()] for m in re.finditer(r"\S+", line)]
        merged: list[list] = []
        for w in found:
            if merged and merged[-1][2] + w[2] in whole and not (merged[-1][2] in whole and w[2] in whole):
                merged[-1][1:] = [w[1], merged[-1][2] + w[2]]
            else:
                merged.append(w)
        # 5 x 10 units per character: columns as wide as half the words are high, as in print
        words += [Word(5.0 * a, 12.0 * row, 5.0 * b, 12.0 * row + 10.0, t) for a, b, t in merged]
    return Page(5.0 * max((len(x) for x in text.split("\n")), default=0), 12.0 * (text.count("\n") + 1), tuple(words))
