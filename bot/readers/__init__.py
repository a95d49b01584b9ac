"""One reader per format, all returning the same Block records; parsers are imported lazily."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
BINARY_SUFFIXES = (".pdf", ".docx")
SUFFIXES = (".txt", ".md", ".markdown", ".pdf", ".docx", ".html", ".htm")
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


def read(suffix: str, data: bytes, text: str | None = None) -> list[Block]:
    """Blocks of one document. Text formats take the decoded text; others the raw bytes.

    Raises errors.UnreadableDocument with the reason when the parser cannot read it.
    """
    suffix = suffix.lower()
    if suffix in (".md", ".markdown"):
        from .markdown import parse
        return pair_terms(parse(text), text)
    if suffix == ".txt":
        from .text import parse
        return parse(text)
    if suffix in (".html", ".htm"):
        from .html import parse
    elif suffix == ".pdf":
        from .pdf import parse
    elif suffix == ".docx":
        from .docx import parse
    else:
        raise ValueError(f"no reader for {suffix}")
    from ..errors import UnreadableDocument
    try:
        return pair_terms(parse(data))
    except UnreadableDocument:
        raise
    except ImportError as e:
        raise UnreadableDocument(f"the {e.name} package is missing: pip install it") from e
    except Exception as e:  # a damaged file makes parsers fail in many ways; all mean "cannot read"
        detail = str(e).splitlines()[0][:120] if str(e) else ""
        raise UnreadableDocument(f"it cannot be read ({type(e).__name__}{': ' + detail if detail else ''})") from e


def is_text(path: Path | str) -> bool:
    return Path(path).suffix.lower() in TEXT_SUFFIXES


def option_like(text: str) -> bool:
    """An option ("-a, --all", "−a, −−all") or an environment variable ("POSIXLY_CORRECT", "TZ") on its own."""
    import re

    from ..matching import fold
    bare = fold(text).strip().strip("*_\\`[]")
    return len(text) <= 60 and "\n" not in text.strip() and bool(
        re.match(r"-{1,2}[\w?]", bare) or re.fullmatch(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*", bare))


def pair_terms(blocks: list[Block], text: str | None = None) -> list[Block]:
    """An option line standing alone ("-a, --all") and the paragraph after it become one
    definition, labelled by the option: formats that lose indentation (PDF, HTML, DOCX) need this."""
    import re
    from dataclasses import replace

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
