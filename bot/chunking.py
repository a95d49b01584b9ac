"""One chunker for every format: blocks -> chunks of at most max_chars, split on sentence boundaries."""
from __future__ import annotations

import re
from bisect import bisect_right

from .matching import normalise
from .readers import Block
from .records import Chunk, Span

# Words ending in a period that do not end a sentence (German and English).
_ABBREVIATIONS = {
    "z.b", "u.a", "d.h", "bzw", "ca", "usw", "etc", "vgl", "evtl", "ggf", "inkl", "bspw", "dr", "prof",
    "nr", "str", "vs", "e.g", "i.e", "mr", "mrs", "ms", "no", "fig", "approx", "cf", "al", "st",
}
_WORD = re.compile(r"\w")
# Rules and box edges ("=====", "*****") say nothing to the embedder.
_RULE = re.compile(r"([^\w\s])\1{2,}")
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”“»)]*(?=\s+)")
# Lists and tables are read as a whole when they fit; paragraphs and options stay units of their own.
_MERGE = ("list_item", "table_row")


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
    out: list[Span] = []
    for s, e in (_strip(text, s, e) for s, e in spans if text[s:e].strip()):
        if out and not _WORD.search(text, s, e):
            out[-1] = (out[-1][0], e)  # a rule or box line after a sentence is not a sentence
        elif out and not _WORD.search(text, *out[-1]):
            out[-1] = (out[-1][0], e)  # ... nor before one
        else:
            out.append((s, e))
    return out


def _strip(text: str, s: int, e: int) -> Span:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def embedding_text(text: str) -> str:
    """What the embedder sees of a chunk's (or sentence's) text: words broken at line ends
    joined, dashes and quotes folded (matching.py), whitespace reflowed. The chunk's own text stays as in the source, so quotes and
    line numbers stay exact."""
    return " ".join(normalise(_RULE.sub(" ", text)).split())


def label(block: Block) -> str:
    """The section shown with a citation: the nearest heading, plus the term of a definition."""
    section = block.section[-1] if block.section else ""
    if block.kind == "definition" and block.term:
        return f"{section} > {block.term}" if section else block.term
    return section


def chunk(source: str, blocks: list[Block], max_chars: int, text: str | None = None,
          first_id: int = 0) -> list[Chunk]:
    """Chunks of one document's blocks. With text (text formats) chunks are exact slices of it
    and carry line numbers; otherwise each chunk's text is made of its blocks' texts."""
    chunks: list[Chunk] = []
    starts = None
    for group in _groups(blocks, max_chars, text):
        first = group[0]
        if text is not None and first.span is not None:
            body = text
            sentences = [sp for b in group for sp in split_sentences(text, *b.span)]
        else:
            body, sentences = "", []
            for b in group:
                if body:
                    body += "\n"
                start = len(body)
                body += b.text
                sentences += split_sentences(body, start, len(body))
        line_starts = None
        if first.start_line is not None and text is not None:
            if starts is None:
                starts = [0] + [m.end() for m in re.finditer("\n", text)]
            line_starts = starts
        region_end = group[-1].span[1] if body is text else len(body)
        for piece in _pieces(body, sentences, max_chars, region_end):
            s, e = piece[0][0], piece[-1][1]
            start_line = end_line = None
            if line_starts is not None:
                start_line, end_line = bisect_right(line_starts, s), bisect_right(line_starts, e - 1)
            chunks.append(Chunk(
                id=first_id + len(chunks), source=source, section=label(first), start_line=start_line,
                end_line=end_line, text=body[s:e], sentences=tuple((a - s, b - s) for a, b in piece),
                page=first.page, page_label=first.page_label, headings=first.section))
    return chunks


def _groups(blocks: list[Block], max_chars: int, text: str | None) -> list[list[Block]]:
    groups: list[list[Block]] = []
    for b in blocks:
        if groups:
            last = groups[-1]
            prev = last[-1]
            if (b.kind in _MERGE and b.kind == prev.kind and b.section == prev.section and b.page == prev.page
                    and _size(last + [b], text) <= max_chars
                    and (text is None or b.span is None or not text[prev.span[1]:b.span[0]].strip())):
                last.append(b)
                continue
        groups.append([b])
    return groups


def _size(group: list[Block], text: str | None) -> int:
    if text is not None and group[0].span is not None:
        return group[-1].span[1] - group[0].span[0]
    return sum(len(b.text) + 1 for b in group) - 1


def _pieces(text: str, sentences: list[Span], max_chars: int, region_end: int | None = None) -> list[list[Span]]:
    """Groups of sentence spans, each group at most max_chars long (longer sentences are cut)."""
    cut_sentences: list[Span] = []
    for s, e in sentences:
        while e - s > max_chars:  # one enormous "sentence": cut at the last space that fits
            # Rows of a table or a list without full stops: cut at a line end if one is near.
            cut = text.rfind("\n", s + 1, s + max_chars)
            if cut <= s + max_chars // 2:
                cut = max(cut, text.rfind(" ", s + 1, s + max_chars))
            if cut <= s:
                cut = s + max_chars
            cut_sentences.append(_strip(text, s, cut))
            s = _strip(text, cut, e)[0]
        if s < e:
            cut_sentences.append((s, e))
    def line_end(e: int) -> int:
        """Where the line holding position e-1 ends (within the region), trimmed."""
        if region_end is None:
            return e
        nl = text.find("\n", e, region_end)
        x = region_end if nl < 0 else nl
        while x > e and text[x - 1].isspace():
            x -= 1
        return x

    groups: list[list[Span]] = []
    for span in cut_sentences:
        if groups and line_end(span[1]) - groups[-1][0][0] <= max_chars:
            groups[-1].append(span)
        else:
            groups.append([span])
    # A piece that ends inside a line takes the rest of that line too (the next piece starts
    # again at its sentence): so every line lies whole inside some chunk and its line range.
    for g in groups:
        e = g[-1][1]
        end = line_end(e)
        if end > e and end - g[0][0] <= max_chars:
            g.append(_strip(text, e, end))
    return groups
