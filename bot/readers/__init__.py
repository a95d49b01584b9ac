"""One reader per format, all returning the same Block records; parsers are imported lazily."""
from __future__ import annotations

from pathlib import Path

from .blocks import KINDS, Block, option_like, pair_terms  # noqa: F401  (the package's record, public here)

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
BINARY_SUFFIXES = (".pdf", ".docx")
SUFFIXES = (".txt", ".md", ".markdown", ".pdf", ".docx", ".html", ".htm")


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
