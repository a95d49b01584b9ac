"""Plain text: headings, option/definition lists, bullets and hard-wrapped paragraphs, with exact line ranges.

Written for what people actually keep as .txt: articles with numbered headings, man pages
rendered with `man | col -bx` (ALL-CAPS headings, options indented under them), licence
texts, notes and lists. Every non-blank line ends up in a block or is a heading of one.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import replace

from ..matching import fold
from .blocks import Block

_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
# "1) Definition", "1.1 - Was ist", "2.3 - Beispiel", "3. Results"
_NUMBERED_HEADING = re.compile(r"^\s*(\d{1,3}(?:\.\d{1,3})*)\s*(?:[).:]|\s-|\s–)\s*\S")
_BULLET = re.compile(r"(?:[-*•·‣◦▪+–]|\(?\d{1,3}[.)]|\(?[a-z]\))\s+\S")
_UNDERLINE = re.compile(r"\s*([=\-~^*#_])\1{2,}\s*")
_DECORATION = re.compile(r"[^\w]+")  # a rule or a box line: "=====", "*****", "*      *"
# An option or term, two or more spaces, then its description: "-c     Mit -lt: ..."
_HANGING = re.compile(r"(\s*)(\S+(?: \S+)*?)( {2,})(\S)")
LONG_LINE = 120  # past this a line is a paragraph of its own (text that is not hard-wrapped)
MAX_TERM = 80


def heading(line: str) -> tuple[int, str] | None:
    """(level, text) if the line is a Markdown-style or numbered heading, else None."""
    m = _MD_HEADING.match(line)
    if m:
        return len(m.group(1)), m.group(2)
    stripped = line.strip()
    if _indent(line) > 3 or len(stripped) > 100 or stripped.endswith((".", ",", ";")):
        return None
    m = _NUMBERED_HEADING.match(stripped)
    return (m.group(1).count(".") + 1, stripped) if m else None


def title_like(line: str) -> bool:
    s = line.strip()
    return 0 < len(s) <= 100 and len(s.split()) <= 12 and not s.endswith((".", ",", ";", ":", "!"))


def caps_heading(line: str) -> bool:
    """A man-page style heading: BESCHREIBUNG, SIEHE AUCH, DEBIAN-SPEZIFISCH."""
    s = line.strip()
    letters = [c for c in s if c.isalpha()]
    return (_indent(line) <= 3 and len(letters) >= 2 and all(c.isupper() for c in letters) and len(s) <= 60
            and len(s.split()) <= 8 and "   " not in s and not s.endswith((".", ",", ";", ":")))


def _indent(line: str) -> int:
    expanded = line.expandtabs()
    return len(expanded) - len(expanded.lstrip())


def _bullet(line: str) -> bool:
    return bool(_BULLET.match(line.lstrip()))


def parse(text: str, titles: bool = True, headings: dict[int, int] | None = None) -> list[Block]:
    """Blocks of a plain text. titles=False: a short line alone is text, never a heading
    (for text extracted from PDFs, where every short line stands alone). headings: lines
    (0-based) known to be headings, with their levels (from a PDF's sizes and indents); then
    an ALL-CAPS line is a heading only if it is marked (a table of contents is not)."""
    return _Parser(text, titles, headings).run()


class _Parser:
    def __init__(self, text: str, titles: bool = True, headings: dict[int, int] | None = None):
        self.text = text
        self.titles = titles
        self.marked = headings or {}
        self.lines = text.split("\n")
        self.offsets = [0]
        for line in self.lines:
            self.offsets.append(self.offsets[-1] + len(line) + 1)
        self.blocks: list[Block] = []
        self.path: list[list] = []  # [level, text, used]
        self.pending: list[tuple[int, str, int, int]] = []  # headings not yet over any text
        self.decoration: int | None = None  # first line of rules waiting for the block below them

    def blank(self, i: int) -> bool:
        return i >= len(self.lines) or not self.lines[i].strip()

    def add(self, kind: str, a: int, b: int, term: str = "") -> None:
        """A block over lines a..b (0-based, inclusive) under the headings seen so far."""
        # Rules above the block and an underlined heading's two lines are part of its text:
        # every line of the file lies in some chunk's line range.
        above = self.decoration is not None and self.decoration <= a
        firsts = [a] + ([self.decoration] if above else [])
        firsts += [top for _, _, top, bottom in self.pending if bottom > top]
        a = min(firsts)
        if above:
            self.decoration = None
        s, e = self.offsets[a], self.offsets[b] + len(self.lines[b])
        while s < e and self.text[s].isspace():
            s += 1
        while e > s and self.text[e - 1].isspace():
            e -= 1
        if s >= e:
            return
        for level, title, _, _ in self.pending:
            # Headings already over text give way to one of their level; headings still waiting
            # for text (a title above "1) ...") stay in the path, so no heading is forgotten.
            while self.path and self.path[-1][2] and self.path[-1][0] >= level:
                self.path.pop()
            if not (self.path and self.path[-1][1] == title):
                self.path.append([level, title, False])
        self.pending.clear()
        for entry in self.path:
            entry[2] = True
        starts = self.offsets
        self.blocks.append(Block(kind, self.text[s:e], tuple(p[1] for p in self.path),
                                 start_line=bisect_right(starts, s), end_line=bisect_right(starts, e - 1),
                                 term=term, span=(s, e)))

    def run(self) -> list[Block]:
        lines, n, i = self.lines, len(self.lines), 0
        while i < n:
            if self.blank(i):
                i += 1
                continue
            nxt = self.step(i)
            assert nxt > i, f"text parser made no progress at line {i + 1}"  # a hang is worse than a crash
            i = nxt
        # Headings with no text after them are text themselves: nothing may be lost.
        rest, self.pending = self.pending, []
        for _, _, a, b in rest:
            self.add("heading", a, b)
        if not self.blocks and self.decoration is not None:  # nothing but rules
            end = max(k for k in range(len(self.lines)) if self.lines[k].strip())
            self.add("paragraph", self.decoration, end)
        # A rule still outside every block (after the last text, or between two headings that
        # had no text) joins the block before it, or else the one after it.
        covered = {n for b in self.blocks for n in range(b.start_line - 1, b.end_line)}
        for n, line in enumerate(self.lines):
            if n in covered or not line.strip() or not _DECORATION.fullmatch(line):
                continue
            before = [k for k, b in enumerate(self.blocks) if b.end_line <= n]
            k = max(before, key=lambda k: self.blocks[k].end_line) if before else 0
            self._extend(n, k)
            covered.update(range(self.blocks[k].start_line - 1, self.blocks[k].end_line))
        return self.blocks

    def _extend(self, n: int, k: int = -1) -> None:
        """Block k (the last by default) reaches on to line n (a rule or a box edge)."""
        b = self.blocks[k]
        if b.end_line < n + 1:
            e = self.offsets[n] + len(self.lines[n].rstrip())
            self.blocks[k] = replace(b, text=self.text[b.span[0]:e], end_line=n + 1, span=(b.span[0], e))
        else:  # the line is above the block
            s = self.offsets[n] + len(self.lines[n]) - len(self.lines[n].lstrip())
            self.blocks[k] = replace(b, text=self.text[s:b.span[1]], start_line=n + 1, span=(s, b.span[1]))
        self.decoration = None

    def continued(self, i: int) -> bool:
        """A numbered line that starts a hard-wrapped paragraph (a licence clause) rather than
        heading one: the next line carries on its sentence."""
        line, nxt = self.lines[i].strip(), self.lines[i + 1] if i + 1 < len(self.lines) else ""
        if not nxt.strip() or heading(nxt) or caps_heading(nxt):
            return False
        return nxt.strip()[:1].islower() or (len(line) >= 60 and not line.endswith(("?", ":", "!")))

    def step(self, i: int) -> int:
        """Read the structure starting at non-blank line i; return the next line to read."""
        lines = self.lines
        line = lines[i]
        prev_blank = self.blank(i - 1) if i else True
        if i in self.marked:
            self.pending.append((self.marked[i], line.strip(), i, i))
            return i + 1
        if _DECORATION.fullmatch(line):
            j = i
            while not self.blank(j + 1) and _DECORATION.fullmatch(lines[j + 1]):
                j += 1
            last = self.blocks[-1] if self.blocks else None
            if last is not None and last.span is not None and not prev_blank and not self.pending \
                    and last.end_line == i:
                self._extend(j)  # the rule right under a paragraph or a box
            elif self.decoration is None:
                self.decoration = i
            return j + 1
        h = heading(line)
        if h and not line.lstrip().startswith("#") and self.continued(i):
            h = None  # "3. Neither the name of the University nor the names of its contributors" goes on
        if h:
            if not line.lstrip().startswith("#") and i + 1 < len(lines) and _UNDERLINE.fullmatch(lines[i + 1]):
                self.pending.append((h[0], h[1], i, i + 1))  # "1. Definitions" over "--------------"
                return i + 2
            self.pending.append((h[0], h[1], i, i))
            return i + 1
        if prev_blank and caps_heading(line) and not self.marked:
            self.pending.append((1, line.strip(), i, i))
            return i + 1
        if (prev_blank and i + 1 < len(lines) and title_like(line) and _indent(line) <= 3
                and _UNDERLINE.fullmatch(lines[i + 1]) and len(lines[i + 1].strip()) >= len(line.strip()) // 2):
            self.pending.append((1 if "=" in lines[i + 1] else 2, line.strip(), i, i + 1))
            return i + 2
        if (self.titles and prev_blank and 1 <= _indent(line) <= 3 and title_like(line) and not self.blank(i + 1)
                and _indent(lines[i + 1]) > _indent(line) + 2 and not _bullet(line) and not line.lstrip().startswith("-")):
            # A man page's subsection heading (indented by 3, its text by 7).
            self.pending.append((2, line.strip(), i, i))
            return i + 1
        if self.titles and prev_blank and _indent(line) <= 3 and title_like(line) and "   " not in line.strip():
            # A title line alone, or opening a block of long lines, heads the text after it.
            if self.blank(i + 1) or len(lines[i + 1]) > LONG_LINE:
                self.pending.append((1 if _indent(line) == 0 else 2, line.strip(), i, i))
                return i + 1
            # One or two title lines right above a heading ("Title\nTitle\n1) Definition").
            j = i
            while j < i + 2 and not self.blank(j) and title_like(lines[j]) and not heading(lines[j]):
                j += 1
            if j > i and not self.blank(j) and heading(lines[j]):
                self.pending.extend((1, lines[k].strip(), k, k) for k in range(i, j))
                return j
        if _bullet(line):
            j = i
            while not self.blank(j + 1) and not _bullet(lines[j + 1]) and not heading(lines[j + 1]):
                j += 1
            # Paragraphs and examples indented under the item (after blank lines) belong to it.
            ind, k = _indent(line), j + 1
            while k < len(lines):
                if self.blank(k):
                    k += 1
                elif _indent(lines[k]) > ind and not _bullet(lines[k]):
                    j, k = k, k + 1
                else:
                    break
            self.add("list_item", i, j)
            return j + 1
        d = self.definition(i)
        if d:
            term, j = d
            self.add("definition", i, j, term)
            return j + 1
        j = i
        while (not self.blank(j + 1) and not _bullet(lines[j + 1]) and not heading(lines[j + 1])
               and not self.definition(j + 1, inside=True)):
            j += 1
        if any(len(lines[k]) > LONG_LINE for k in range(i, j + 1)):
            for k in range(i, j + 1):
                self.add("paragraph", k, k)
        else:
            self.add("paragraph", i, j)
        return j + 1

    def definition(self, i: int, inside: bool = False) -> tuple[str, int] | None:
        """(term, last line) if line i is a term with its description indented under it."""
        lines = self.lines
        line = lines[i].expandtabs()
        ind = _indent(line)
        stripped = line.strip()
        nxt = None if self.blank(i + 1) else _indent(lines[i + 1])
        term = None
        m = _HANGING.match(line)
        if m and len(m.group(2)) <= MAX_TERM // 2:
            # "-c     Mit -lt: ..." with the description continuing at the column it started in
            col = m.start(4)
            if nxt == col or (nxt is None and fold(m.group(2)).startswith(("-", "+")) and len(m.group(2)) <= 30):
                term = m.group(2)
        if term is None and nxt is not None and nxt >= ind + 2 and len(stripped) <= MAX_TERM and not inside:
            term = stripped  # "-a, --all" on its own line, the description below it
        if term is None:
            return None
        last, k = i, i + 1
        while k < len(lines):
            if self.blank(k):
                k += 1
                continue
            if _indent(lines[k]) <= ind:
                break
            last, k = k, k + 1
        return term, last
