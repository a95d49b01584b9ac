"""Reading a page from where its words stand: lines, indents, paragraph breaks, headings and
running headers, as plain text the text parser understands.

A PDF's text stream says little about structure: Ghostscript, Chromium and gropdf each put an
option and its description in different runs, lines and orders. The words' boxes say it all
alike: a description is indented under its option, or stands in a second column beside it; a
paragraph ends where the gap to the next line is wider than the line pitch; a heading is
larger than the text, or further left than any paragraph; a running header repeats at the
edge of every page. `compose` turns the pages into text indented in columns of about one
character (as `man` prints it), with blank lines between paragraphs and the headings marked,
and remembers each line's page.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from statistics import median

from ..matching import fold


@dataclass(frozen=True)
class Word:
    x0: float
    y0: float  # top
    x1: float
    y1: float  # bottom: words on one line share it (the font's descent)
    text: str


@dataclass(frozen=True)
class Page:
    width: float
    height: float
    words: tuple[Word, ...]


@dataclass
class Line:
    page: int  # 1-based
    y: float  # bottom
    h: float  # height of its words: the font size, near enough
    segments: list[tuple[float, float, str]] = field(default_factory=list)  # (x0, x1, text): columns
    origin: float | None = None  # left edge of its column of the page, when the page has several

    @property
    def x0(self) -> float:
        return self.segments[0][0]

    @property
    def x1(self) -> float:
        return self.segments[-1][1]

    @property
    def text(self) -> str:
        return "  ".join(s[2] for s in self.segments)


SAME_LINE = 0.4  # of the word height: bottoms closer than this are one line
COLUMN_GAP = 1.5  # of the word height: a wider gap between words starts a column (an option's description)
PARAGRAPH_GAP = 1.35  # of the usual line pitch: a wider step down ends a paragraph
KERN = 0.15  # of the word height: a narrower gap is kerning, not a space
SPACE = 0.4  # of the word height: wider than a plain space
HEADING_SIZE = 1.15  # of the text's height: a larger line is a heading
CHAR = 0.5  # of the text's height: one column of the composed text


def lines(page: Page, number: int, stops: frozenset[int] = frozenset()) -> list[Line]:
    """The page's words as lines, top to bottom, each split into columns where the gap is wide,
    or where a short first column ends before a word that starts at one of the stops (x
    positions, rounded, where many lines start: "--zero" and its description "end each
    output line", set one space apart). Words closer than a space are one word: groff kerns
    "PA" "TTERN" and "[=WHEN" "]" apart."""
    parts = columns(page)
    out: list[Line] = []
    for part in parts:
        rows = _rows(part, number, stops)
        if len(parts) > 1 and rows:
            origin = min(line.x0 for line in rows)
            for line in rows:
                line.origin = origin
        out += rows
    return out


def columns(page: Page) -> list[list[Word]]:
    """The page's words in reading order of its columns: a page set in two columns (a gap down
    the middle that no word crosses, with words on both sides of most rows) is read left column
    first. Headers and footers (the top 7.5% and the bottom 10% of the page) are read before
    and after the columns; a page without such a gap stays as it is."""
    words = list(page.words)
    top = [w for w in words if w.y1 <= 0.075 * page.height]
    bottom = [w for w in words if w.y0 >= 0.9 * page.height and w.y1 > 0.075 * page.height]
    middle = [w for w in words if 0.075 * page.height < w.y1 and w.y0 < 0.9 * page.height]
    if len(middle) < 40:
        return [words]
    left, right = min(w.x0 for w in middle), max(w.x1 for w in middle)
    span = int(right - left) + 1
    free = bytearray([1]) * span
    for w in middle:
        free[max(0, int(w.x0 - left)):int(w.x1 - left) + 1] = bytes(int(w.x1 - left) + 1 - max(0, int(w.x0 - left)))
    h = median(w.y1 - w.y0 for w in middle)
    best, run, start = (0, 0), 0, 0
    for x in range(int(0.3 * span), int(0.7 * span)):
        run, start = (run + 1, start) if free[x] else (0, x + 1)
        if run > best[0]:
            best = (run, start)
    if best[0] < 0.8 * h:
        return [words]
    gutter = left + best[1] + best[0] / 2
    rows: dict[int, set[bool]] = {}
    for w in middle:
        rows.setdefault(round(w.y1 / h), set()).add(w.x0 > gutter)
    if sum(len(sides) == 2 for sides in rows.values()) < 0.5 * len(rows):
        return [words]  # a table of short entries, or one column with a ragged edge
    return [top, [w for w in middle if w.x1 <= gutter], [w for w in middle if w.x0 >= gutter], bottom]


def _rows(words: list[Word], number: int, stops: frozenset[int]) -> list[Line]:
    out: list[Line] = []
    for w in sorted(words, key=lambda w: (w.y1, w.x0)):
        h = w.y1 - w.y0
        if out and abs(w.y1 - out[-1].y) <= SAME_LINE * max(min(h, out[-1].h), 1e-3):
            out[-1].segments.append((w.x0, w.x1, w.text))
            out[-1].h = max(out[-1].h, h)
        else:
            out.append(Line(number, w.y1, h, [(w.x0, w.x1, w.text)]))
    for line in out:
        words = sorted(line.segments)
        segments = [list(words[0])]
        for x0, x1, text in words[1:]:
            gap = x0 - segments[-1][1]
            if gap > COLUMN_GAP * line.h or (len(segments) == 1 and gap > SPACE * line.h and round(x0) in stops
                                            and len(segments[0][2]) <= 24 and round(segments[0][0]) in stops):
                segments.append([x0, x1, text])
            else:
                segments[-1][1] = max(segments[-1][1], x1)
                segments[-1][2] += (" " if gap > KERN * line.h else "") + text
        line.segments = [tuple(s) for s in segments]
    return out


def stops(pages: list[Page]) -> frozenset[int]:
    """x positions (rounded) where lines start on many lines of the document: its indents."""
    counts: Counter[int] = Counter()
    for page in pages:
        for line in lines(page, 0):
            counts[round(line.x0)] += 1
    return frozenset(x for x, k in counts.items() if k >= 3)


def _shape(line: Line) -> str:
    # Page numbers and dates change from page to page; the rest of a running line does not.
    return re.sub(r"\d+", "#", " ".join(line.text.split()))


def drop_running(pages: list[list[Line]], height: float = 0.0) -> list[list[Line]]:
    """Pages without their running headers and footers: lines among the first or last two of a
    page whose text (numbers aside) stands at the edge of most pages. A document of one page
    has nothing to compare: there, lines in small print at the very top or bottom (within 5%
    of the page's height: a browser's date, title, address and page number) are dropped."""
    if len(pages) < 2:
        body = [line for ls in pages for line in ls]
        if not body or not height:
            return pages
        text_h = _mode((line.h for line in body for _ in line.text), 10.0)
        return [[line for line in ls if not (line.h < 0.85 * text_h and (line.y <= 0.05 * height or
                                                                         line.y - line.h >= 0.95 * height))]
                for ls in pages]
    counts: Counter[str] = Counter()
    for ls in pages:
        counts.update({_shape(line) for line in ls[:2] + ls[-2:]})
    running = {shape for shape, k in counts.items() if k >= max(2, 0.5 * len(pages))}
    out = []
    for ls in pages:
        edge = {id(line) for line in ls[:2] + ls[-2:]}
        out.append([line for line in ls if not (id(line) in edge and _shape(line) in running)])
    return out


def _mode(values, default: float) -> float:
    counts = Counter(round(v * 2) / 2 for v in values)
    return counts.most_common(1)[0][0] if counts else default


def _title_like(text: str) -> bool:
    s = fold(text).strip()
    return (0 < len(s) <= 80 and len(s.split()) <= 10 and not s.endswith((".", ",", ";", ":"))
            and not s.startswith(("-", "+", "•", "*", "–")) and any(c.isalpha() for c in s))


def compose(pages: list[list[Line]]) -> tuple[str, list[int], dict[int, int]]:
    """(text, page of each text line, {text line: heading level}) for the lines of the pages."""
    body = [line for ls in pages for line in ls]
    if not body:
        return "", [], {}
    text_h = _mode((line.h for line in body for _ in line.text), 10.0)
    left = min(line.x0 for line in body)
    char = CHAR * text_h

    def col(x: float, line: Line | None = None) -> int:
        origin = line.origin if line is not None and line.origin is not None else left
        return max(0, round((x - origin) / char))

    steps = [b.y - a.y for ls in pages for a, b in zip(ls, ls[1:])
             if abs(a.h - text_h) < 1 and abs(b.h - text_h) < 1 and b.y > a.y]
    pitch = _mode(steps, 1.2 * text_h) if steps else 1.2 * text_h
    right = max(line.x1 for line in body)
    # The column of running text: the leftmost where long lines start. Shorter title-like
    # lines further left are headings (a man page's NAME, DESCRIPTION at 0, subsections at 3).
    long = [col(line.x0, line) for line in body if line.x1 - line.x0 >= 0.6 * (right - left)]
    text_col = min(long) if long else 0
    sizes = sorted({round(line.h) for line in body if line.h >= HEADING_SIZE * text_h}, reverse=True)

    def heading(i: int, ls: list[Line]) -> int | None:
        line = ls[i]
        if not _title_like(line.text) or len(line.segments) > 1:
            return None
        if line.h >= HEADING_SIZE * text_h:
            return 1 + sizes.index(round(line.h))
        c = col(line.x0, line)
        nxt = ls[i + 1] if i + 1 < len(ls) else None
        if c < text_col and (nxt is None or col(nxt.x0, nxt) > c):
            return len(sizes) + (1 if c <= 1 else 2)
        return None

    out: list[str] = []
    page_of: list[int] = []
    marks: dict[int, int] = {}

    def emit(s: str, page: int) -> None:
        out.append(s)
        page_of.append(page)

    def blank(page: int) -> None:
        if out and out[-1]:
            emit("", page)

    prev: Line | None = None
    first = True  # prev is the first line of its paragraph
    for ls in pages:
        for i, line in enumerate(ls):
            level = heading(i, ls)
            if level is not None:
                blank(line.page)
                marks[len(out)] = level
                emit(" " * col(line.x0, line) + line.text, line.page)
                emit("", line.page)
                prev, first = None, True
                continue
            nxt = ls[i + 1] if i + 1 < len(ls) else None
            c = col(line.x0, line)
            new = prev is None
            if prev is not None:
                same_page = prev.page == line.page
                if same_page and line.y - prev.y > PARAGRAPH_GAP * pitch:
                    new = True
                elif same_page and line.y < prev.y:  # the top of the next column
                    new = fold(prev.text).rstrip().endswith((".", "!", "?", ":"))
                elif c < col(prev.x0, prev) - 1:
                    # Back to the left: a description ended; unless prev was an indented first line.
                    new = not (first and prev.x1 >= right - 2 * char and col(prev.x0, prev) - c <= 6)
                elif (nxt is not None and col(nxt.x0, nxt) > c + 1 and len(line.segments) == 1
                      and line.x1 - line.x0 < 0.6 * (right - left)
                      and not fold(line.text).rstrip().endswith((".", ":", ";", ","))):
                    new = True  # a term: the lines under it are indented as its description
            if new:
                blank(line.page)
            first = new
            s = ""
            for x0, _, words in line.segments:
                pad = col(x0, line) - len(s)
                s += " " * (pad if pad >= 2 or not s else 2) + words
            emit(s, line.page)
            prev = line
    return "\n".join(out), page_of, marks
