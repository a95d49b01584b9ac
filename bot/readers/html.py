"""HTML through BeautifulSoup: the main content only, h1-h6 as sections, lists, tables and definitions kept."""
from __future__ import annotations

from .blocks import Block, option_like

_DROP = ("script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "svg", "head")
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_LEAVES = {"p": "paragraph", "li": "list_item", "pre": "code", "blockquote": "paragraph", "dd": "definition",
           "dt": "definition", "figcaption": "paragraph", "caption": "paragraph", "address": "paragraph"}
_CONTAINERS = ("ul", "ol", "dl", "table", "thead", "tbody", "tfoot", "li", "blockquote", "div", "section",
               "article", "main", "body", "html", "details", "figure", "center")


def parse(data: bytes) -> list[Block]:
    from bs4 import BeautifulSoup

    try:
        soup = BeautifulSoup(data, "lxml")
    except Exception:  # lxml missing: the slower parser from the standard library
        soup = BeautifulSoup(data, "html.parser")
    for tag in soup.find_all(_DROP):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\u2028")  # a line break we can find again (source newlines are just spaces)
    # A table of contents of in-page links (man -Thtml puts one at the top) is navigation.
    for a in soup.find_all("a", href=lambda h: h and h.startswith("#")):
        if a.parent is not None and a.parent.name in ("body", "div", "nav", "main", "section"):
            a.decompose()
    root = soup.find("main") or soup.find(attrs={"role": "main"}) or soup.find("article") or soup.body or soup
    out = _Walker()
    out.walk(root)
    out.flush_term()
    return out.blocks


def _text(el, keep_lines: bool = False) -> str:
    if keep_lines:
        return el.get_text().strip("\n")
    # Inline markup is no word boundary ("<b>-A</b>," is "-A,"); block children are.
    from bs4 import Tag
    parts = []
    for child in el.children:
        if isinstance(child, Tag) and child.name in _LEAVES or isinstance(child, Tag) and child.name in _HEADINGS:
            parts.append(" ")
        parts.append(child.get_text() if isinstance(child, Tag) else str(child))
    return " ".join("".join(parts).split())


class _Walker:
    def __init__(self):
        self.blocks: list[Block] = []
        self.path: list[tuple[int, str]] = []
        self.term = ""  # a <dt> waiting for its <dd>

    def add(self, kind: str, text: str, term: str = "") -> None:
        if text.strip():
            self.blocks.append(Block(kind, text, tuple(t for _, t in self.path), term=term))

    def flush_term(self) -> None:
        if self.term:
            self.add("definition", self.term, self.term)
            self.term = ""

    def walk(self, el) -> None:
        from bs4 import NavigableString, Tag

        loose: list[str] = []  # text standing directly in a container, between blocks

        def flush_loose():
            text = " ".join(" ".join(loose).split())
            loose.clear()
            if text:
                self.flush_term()
                self.add("paragraph", text)

        for child in el.children:
            if isinstance(child, NavigableString):
                if type(child).__name__ in ("Comment", "Doctype", "Declaration", "ProcessingInstruction", "CData"):
                    continue
                loose.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name == "br" or name not in _HEADINGS and name not in _LEAVES and name not in _CONTAINERS \
                    and name != "tr" and name != "hr":
                loose.append(child.get_text() if name != "br" else " ")
                continue
            flush_loose()
            if name in _HEADINGS:
                self.flush_term()
                level = int(name[1])
                title = _text(child)
                if title:
                    while self.path and self.path[-1][0] >= level:
                        self.path.pop()
                    self.path.append((level, title))
            elif name == "tr":
                self.flush_term()
                cells = [_text(c) for c in child.find_all(["td", "th"], recursive=False)]
                self.add("table_row", " | ".join(c for c in cells if c))
            elif name == "dt":
                self.flush_term()
                self.term = _text(child)
            elif name == "dd":
                term, self.term = self.term, ""
                body = _text(child)
                self.add("definition", f"{term}\n{body}" if term else body, term)
            elif name in _LEAVES and not child.find(list(_LEAVES) + list(_HEADINGS) + ["table", "div"]):
                self.flush_term()
                text = _text(child, keep_lines=name == "pre")
                head, _, last = child.get_text().rstrip().rpartition("\u2028")
                last = " ".join(last.split())
                if name == "p" and head.strip() and option_like(last) and text.endswith(last):
                    # groff puts an option after a line break in the paragraph before its description
                    self.add("paragraph", text[:-len(last)].rstrip())
                    self.add("paragraph", last)
                else:
                    self.add(_LEAVES[name], text)
            elif name != "hr":
                self.walk(child)
        flush_loose()
