"""The record every reader returns, and what the readers share: a Block is one unit of a
document; an option line standing alone and the paragraph after it become a definition."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..matching import fold

KINDS = ("heading", "paragraph", "list_item", "definition", "code", "table_row")


@dataclass(frozen=True)
class Block:
    """A unit of a document: a paragraph, a list item, an option and its description, a code block..."""

    kind: str  # one of KINDS
    text: str  # faithful source text (for text formats exactly text[span[0]:span[1]])
    section: tuple[str, ...] = ()  # heading path, outermost first
    start_line: int | None = None  # 1-based, inclusive; text formats only
    end_line: int | None = None
    page: int | None = None  # 1-based PDF page
    page_label: str | None = None
    term: str = ""  # what a definition defines, e.g. "-a, --all"
    span: tuple[int, int] | None = None  # offsets in the decoded source text (text formats)


def option_like(text: str) -> bool:
    """An option ("-a, --all", "−a, −−all") or an environment variable ("POSIXLY_CORRECT", "TZ") on its own."""
    bare = fold(text).strip().strip("*_\\`[]")
    return len(text) <= 60 and "\n" not in text.strip() and bool(
        re.match(r"-{1,2}[\w?]", bare) or re.fullmatch(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*", bare))


def pair_terms(blocks: list[Block], text: str | None = None) -> list[Block]:
    """An option line standing alone ("-a, --all") and the paragraph after it become one
    definition, labelled by the option: formats that lose indentation (PDF, HTML, DOCX) need this."""
    out: list[Block] = []
    i = 0
    while i < len(blocks):
        b = blocks[i]
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        if (nxt is not None and b.kind == "paragraph" and nxt.kind == "paragraph" and b.section == nxt.section
                and b.page == nxt.page and option_like(b.text) and not option_like(nxt.text)):
            term = re.sub(r"[*`\\]", "", " ".join(b.text.split())).strip("_")  # POSIXLY_CORRECT keeps its _
            if text is not None and b.span and nxt.span:
                merged = replace(b, kind="definition", text=text[b.span[0]:nxt.span[1]], term=term,
                                 end_line=nxt.end_line, span=(b.span[0], nxt.span[1]))
            else:
                merged = replace(b, kind="definition", text=f"{b.text}\n{nxt.text}", term=term)
            out.append(merged)
            i += 2
            continue
        out.append(b)
        i += 1
    return out
