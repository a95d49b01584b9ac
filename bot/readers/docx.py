"""DOCX through python-docx: headings from styles or outline level (also localized names), lists, tables."""
from __future__ import annotations

import io
import re

from .blocks import Block, option_like

# "Heading 2", "Überschrift 2", "Titre 2", "Título 2", "Kop 2"...; "Title"/"Titel" is level 0.
_HEADING_STYLE = re.compile(r"(?:heading|überschrift|titre|titolo|título|kop|rubrik|nagłówek)\s*(\d)", re.I)
_TITLE_STYLE = re.compile(r"^(?:title|titel|titre|titolo|título)$", re.I)


def parse(data: bytes) -> list[Block]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = docx.Document(io.BytesIO(data))
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    term = ""
    body = document.element.body
    for el in body.iterchildren():
        tag = el.tag.rsplit("}", 1)[-1]
        section = tuple(t for _, t in path)
        if tag == "tbl":
            for row in Table(el, document).rows:
                cells, seen = [], set()
                for cell in row.cells:  # merged cells repeat: keep each once
                    if id(cell._tc) in seen:
                        continue
                    seen.add(id(cell._tc))
                    text = " ".join(cell.text.split())
                    if text:
                        cells.append(text)
                if cells:
                    blocks.append(Block("table_row", " | ".join(cells), section))
            continue
        if tag != "p":
            continue
        p = Paragraph(el, document)
        text = p.text.strip()
        if not text:
            continue
        style = (p.style.name if p.style is not None else "") or ""
        level = _level(p, style)
        if level is not None:
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, " ".join(text.split())))
            continue
        lowered = style.lower()
        if "definition term" in lowered:
            term = " ".join(text.split())
            blocks.append(Block("definition", text, section, term=term))
            continue
        if lowered.startswith("definition") and blocks and blocks[-1].kind == "definition" and blocks[-1].term == term:
            last = blocks.pop()  # the description joins its term: one unit, labelled by the term
            blocks.append(Block("definition", f"{last.text}\n{text}", section, term=term))
            continue
        term = ""
        if "code" in lowered or "preformatted" in lowered:
            kind = "code"
        elif el.pPr is not None and el.pPr.numPr is not None or "list" in lowered or "liste" in lowered:
            kind = "list_item"
        else:
            kind = "paragraph"
        head, _, last = text.rpartition("\n")
        if kind == "paragraph" and head.strip() and option_like(last.strip()):
            # An option after a line break, its description in the next paragraph (pandoc from man)
            blocks += [Block(kind, head.rstrip(), section), Block(kind, last.strip(), section)]
            continue
        blocks.append(Block(kind, text, section))
    return blocks


def _level(p, style: str) -> int | None:
    m = _HEADING_STYLE.search(style)
    if m:
        return int(m.group(1))
    if _TITLE_STYLE.match(style.strip()):
        return 0
    ppr = p._p.pPr
    outline = ppr.find("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}outlineLvl") \
        if ppr is not None else None
    if outline is not None:
        val = outline.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}val")
        if val is not None and val.isdigit() and int(val) < 9:
            return int(val) + 1
    return None
