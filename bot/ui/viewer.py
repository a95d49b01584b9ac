"""The document viewer: a cited passage shown in its document, with the paragraphs around it.

Text and Markdown files are read again from the corpus folder, so the reader sees what the source
cards leave out. Other formats (and a file changed since indexing) fall back to the document's
chunks in order, which works for every reader.
"""
from __future__ import annotations

import html
from pathlib import Path

from ..corpus import read
from ..errors import UnreadableDocument
from ..readers import TEXT_SUFFIXES
from .rendering import highlighted, wants_gloss, where

CONTEXT_CHARS = 2500  # text shown before and after the passage, widened to whole paragraphs
CONTEXT_CHUNKS = 3


def _read(corpus: Path, source: str) -> str | None:
    """The source file's text; source is relative to the corpus folder's parent ("corpus/x.txt")."""
    path = corpus.parent / source
    try:
        if not path.resolve().is_relative_to(corpus.resolve()):
            return None  # only ever files inside the corpus folder
        data = path.read_bytes()
    except OSError:
        return None
    try:
        doc = read(path, source, data)  # as it was chunked: Markdown without its markup
    except UnreadableDocument:
        return None
    return doc.text


def _paragraph_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) widened by CONTEXT_CHARS to the nearest blank lines."""
    lo = max(0, start - CONTEXT_CHARS)
    hi = min(len(text), end + CONTEXT_CHARS)
    if lo > 0:
        m = text.find("\n\n", lo, start)
        lo = m + 2 if m >= 0 else lo
    if hi < len(text):
        m = text.rfind("\n\n", end, hi)
        hi = m if m >= 0 else hi
    return lo, hi


def _offset_of(full: str, chunk_text: str, start_line: int | None) -> int:
    """Where the chunk's text starts in the file: the occurrence nearest its first line."""
    line_start = 0
    if start_line:
        for _ in range(start_line - 1):
            nxt = full.find("\n", line_start)
            if nxt < 0:
                break
            line_start = nxt + 1
    hit = full.find(chunk_text, max(0, line_start - 200))
    return hit if hit >= 0 else full.find(chunk_text)


def _header(question: str, cited: dict) -> str:
    return (f'<div class="viewer-head"><button class="back" type="button" title="Back to the source cards (Esc)">'
            f'← Sources</button><span class="src-n">[{int(cited["n"])}]</span> '
            f'<span class="src-file">{html.escape(where(cited))}</span></div>')


def _open(cited: dict) -> str:
    """The viewer's own element: a labelled region the page moves the keyboard's focus to."""
    label = f"Source {int(cited['n'])} in its document: {where(cited)}"
    return (f'<section class="viewer" tabindex="-1" aria-label="{html.escape(label)}" '
            f'data-source="{html.escape(cited["source"])}">')


def viewer_html(corpus: Path, chunks: list, question: str, cited: dict, gloss_for=None) -> str:
    """The cited passage in context: the file's surrounding paragraphs, or the document's chunks."""
    spans = cited.get("highlights", ())
    gloss = None
    if gloss_for is not None:
        quoted = " ".join(cited["text"][s:e] for s, e in spans)
        if quoted and wants_gloss(question, quoted):
            gloss = gloss_for(quoted) or None
    passage = f'<div class="cited" id="cited">{highlighted(cited["text"], spans, gloss)}</div>'
    source = cited["source"]
    if Path(source).suffix.lower() in TEXT_SUFFIXES:
        full = _read(corpus, source)
        at = _offset_of(full, cited["text"], cited.get("start_line")) if full else -1
        if at >= 0:
            end = at + len(cited["text"])
            lo, hi = _paragraph_bounds(full, at, end)
            shown_from = full.count("\n", 0, lo) + 1
            before = f'<div class="more">… lines 1-{shown_from - 1} above</div>' if lo > 0 else ""
            after = '<div class="more">… more below</div>' if hi < len(full) else ""
            body = (f'{before}<div class="ctx">{html.escape(full[lo:at])}</div>{passage}'
                    f'<div class="ctx">{html.escape(full[end:hi])}</div>{after}')
            return f'{_open(cited)}{_header(question, cited)}<div class="doc-text">{body}</div></section>'
    return f'{_open(cited)}{_header(question, cited)}{_chunks_view(chunks, cited, passage)}</section>'


def _chunks_view(chunks: list, cited: dict, passage: str) -> str:
    """Any format: the document's chunks in reading order, the cited one marked, pages labelled."""
    same = [c for c in chunks if c.source == cited["source"]]
    pos = next((i for i, c in enumerate(same) if c.text == cited["text"]), None)
    if pos is None:
        return f'<div class="doc-text">{passage}<div class="more">The document has changed since it was indexed.</div></div>'
    parts, page = [], None
    lo, hi = max(0, pos - CONTEXT_CHUNKS), min(len(same), pos + CONTEXT_CHUNKS + 1)
    if lo > 0:
        parts.append(f'<div class="more">… {lo} earlier passages not shown</div>')
    for i in range(lo, hi):
        c = same[i]
        if c.page is not None and c.page != page:
            page = c.page
            parts.append(f'<div class="page-label">{html.escape(c.location)}</div>')
        parts.append(passage if i == pos else f'<div class="ctx">{html.escape(c.text)}</div>')
    if hi < len(same):
        parts.append(f'<div class="more">… {len(same) - hi} more passages</div>')
    return f'<div class="doc-text">{"".join(parts)}</div>'

