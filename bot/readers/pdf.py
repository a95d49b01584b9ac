"""PDF: text per page, running headers and footers dropped, structure as in plain text.

pypdf opens the file (encryption, page count, page labels). The text comes from poppler's
`pdftotext` where it is installed: pypdf splits words where groff kerns or stretches a line
("fortf ahren", "V erzeichnis"), which no question then matches. Without poppler, pypdf's text
serves, with a one-line note."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import replace

from . import Block

# "-a, --all", "--block-size=GRÖSSE", "-k, --key=SCHLÜSSELDEF", "-I MUSTER": options only, no prose
_OPTION_LINE = re.compile(r"-{1,2}[^\s,]+,?(?:\s+(?:-{1,2}[^\s,]+|[A-ZÄÖÜ_\[\]=.…]+),?)*")
# "-i Vor jeder Entfernung nachfragen": a short option and its description on one line (the
# column gap between them is lost in a PDF's text)
_INLINE_OPTION = re.compile(r"(-[A-Za-z]|--[A-Za-z][\w-]*)\s+([A-ZÄÖÜ].*)")


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
    pages = _pdftotext(data, len(reader.pages))
    if pages is None:
        pages = [(page.extract_text() or "").replace("\r", "\n") for page in reader.pages]
    try:
        labels = list(reader.page_labels)
    except Exception:  # a broken label tree: page numbers alone still serve
        labels = []
    if not any(p.strip() for p in pages):
        raise UnreadableDocument("it has no text layer (a scan?): run OCR on it first")
    pages = drop_running_lines(pages)
    from .text import parse as parse_text

    blocks: list[Block] = []
    path: tuple[str, ...] = ()
    for n, text in enumerate(pages, 1):
        label = labels[n - 1] if n - 1 < len(labels) else None
        for b in parse_text(_layout(text), titles=False):
            # Headings carry over from the pages before: a page that starts mid-section is in it.
            section = b.section if b.section else path
            blocks.append(replace(b, section=section, start_line=None, end_line=None, span=None,
                                  page=n, page_label=label if label != str(n) else None))
        if blocks:
            path = blocks[-1].section
    return blocks


_noted = False


def _pdftotext(data: bytes, n_pages: int) -> list[str] | None:
    """Each page's text from poppler's pdftotext, or None without it (or when it disagrees
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
            out = subprocess.run(["pdftotext", "-raw", "-q", "-enc", "UTF-8", f.name, "-"], capture_output=True,
                                 timeout=120)
        except subprocess.TimeoutExpired:
            return None
    if out.returncode != 0:
        return None
    pages = out.stdout.decode("utf-8", "replace").split("\f")
    return pages[:n_pages] if len(pages) == n_pages + 1 and not pages[-1].strip() else None


def _shape(line: str) -> str:
    # Page numbers and dates change from page to page; the rest of a running line does not.
    return re.sub(r"\d+", "#", " ".join(line.split()))


def drop_running_lines(pages: list[str]) -> list[str]:
    """Pages without the header and footer lines that repeat (page numbers aside) on most pages."""
    if len(pages) < 2:
        return pages
    counts: Counter[str] = Counter()
    for text in pages:
        lines = [line for line in text.split("\n") if line.strip()]
        counts.update({_shape(line) for line in lines[:2] + lines[-2:]})
    running = {shape for shape, k in counts.items() if k >= max(2, 0.6 * len(pages))}
    out = []
    for text in pages:
        lines = text.split("\n")
        nonblank = [i for i, line in enumerate(lines) if line.strip()]
        edge = set(nonblank[:2] + nonblank[-2:])
        out.append("\n".join(line for i, line in enumerate(lines) if not (i in edge and _shape(line) in running)))
    return out


def _layout(text: str) -> str:
    """Page text with the paragraph breaks and indents a PDF's text layer does not keep: a line
    that stops well short of the right margin ends a paragraph; an ALL-CAPS line is a heading;
    the lines under a short option line ("-a, --all") are indented as its description, and an
    option with its description on the same line ("-i Vor jeder Entfernung nachfragen") is
    split into the two."""
    from .text import caps_heading

    lines = [line.strip() for line in text.split("\n")]
    widths = sorted(len(line) for line in lines if line)
    full = widths[int(len(widths) * 0.9)] if widths else 0
    out: list[str] = []
    described = False
    for line in lines:
        if not line:
            out.append("")
            described = False
            continue
        short = len(line) < 0.7 * full
        if caps_heading(line) and len(line) >= 4:
            out += ["", line, ""]
            described = False
            continue
        inline = not described and _INLINE_OPTION.fullmatch(line)
        if inline:
            if out and out[-1]:
                out.append("")
            out += [inline.group(1), "    " + inline.group(2)]
            described = not short
            if short:
                out.append("")
            continue
        # An option line ends the description above it ("--interactive[=WANN]" after "-I ...").
        option = short and _OPTION_LINE.fullmatch(line)
        if option:
            described = False
        if option and out and out[-1]:
            out.append("")
        out.append("    " + line if described else line)
        if option:
            described = True
        elif short:
            out.append("")
            described = False
    return "\n".join(out)
