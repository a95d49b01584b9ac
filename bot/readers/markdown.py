"""Markdown through markdown-it-py: its tokens carry source line ranges, so citations keep exact lines."""
from __future__ import annotations

import re
from dataclasses import replace

from .blocks import Block, option_like


def parse(text: str) -> list[Block]:
    from markdown_it import MarkdownIt

    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    # The parser counts a lone "\r" as a line break; line numbers here count "\n" only.
    tokens = MarkdownIt("commonmark").enable("table").parse(text.replace("\r", " "))
    found: list[tuple[int, int, str, int]] = []  # (first line, end line, kind, heading level or 0)
    heading_text: dict[int, str] = {}
    in_list = 0
    for n, tok in enumerate(tokens):
        if tok.type == "list_item_open":
            in_list += 1
        elif tok.type == "list_item_close":
            in_list -= 1
        if not tok.map:
            continue
        a, b = tok.map
        if tok.type == "heading_open":
            found.append((a, b, "heading", int(tok.tag[1])))
            # From the source, not the token: the parser rewrites some characters (NUL, entities).
            if tok.markup.startswith("#"):
                title = re.sub(r"(^\s*#+\s*|\s+#+\s*$|^\s*#+\s*$)", "", lines[a])
            else:  # setext: the text lines above the === or --- line
                title = " ".join(line.strip() for line in lines[a:b - 1])
            # pandoc's attributes ("{#id}", "[]{#anchor}") are markup, not words of the title
            title = re.sub(r"\[\]\{[^}]*\}|\{[#.][^}]*\}\s*$|<[^>]*>", "", title)
            heading_text[a] = " ".join(title.split())
        elif tok.type == "paragraph_open":
            found.append((a, b, "list_item" if in_list else "paragraph", 0))
        elif tok.type in ("fence", "code_block"):
            found.append((a, b, "code", 0))
        elif tok.type == "tr_open":
            found.append((a, b, "table_row", 0))
        elif tok.type == "html_block":
            found.append((a, b, "paragraph", 0))
    # Whatever the parser gave no block (a rule, a link definition, stray markup) is kept as text:
    # nothing in the file may be lost.
    covered = bytearray(len(lines) + 1)
    for a, b, _, _ in found:
        covered[a:b] = b"\x01" * (b - a)
    i = 0
    while i < len(lines):
        if not covered[i] and lines[i].strip():
            j = i
            while j + 1 < len(lines) and not covered[j + 1] and lines[j + 1].strip():
                j += 1
            found.append((i, j + 1, "paragraph", 0))
            i = j + 1
        else:
            i += 1
    found.sort(key=lambda f: (f[0], -f[1]))

    blocks: list[Block] = []
    path: list[list] = []  # [level, title, used]
    pending: list[tuple[int, int]] = []  # headings with no text under them yet
    last_end = 0
    for a, b, kind, level in found:
        if a < last_end and kind != "heading":
            continue  # a paragraph inside something already taken whole
        title = heading_text.get(a, "") if kind == "heading" else ""
        if kind == "heading" and title:
            # Headings still waiting for text stay in the path, so none is forgotten.
            while path and path[-1][2] and path[-1][0] >= level:
                path.pop()
            path.append([level, title, False])
            pending.append((a, b))
            continue
        last_end = b
        parts = [(a, b)]
        if kind == "paragraph" and b - a >= 2 and option_like(lines[b - 1].strip()):
            parts = [(a, b - 1), (b - 1, b)]  # an option after a hard break: pandoc's rendering of man pages
        for x, y in parts:
            block = _block(text, offsets, lines, x, y, kind, tuple(p[1] for p in path))
            if block:
                pending.clear()
                for p in path:
                    p[2] = True
                blocks.append(block)
    for a, b in pending:  # headings at the very end: their own text is what is left
        block = _block(text, offsets, lines, a, b, "heading", tuple(p[1] for p in path))
        if block:
            blocks.append(block)
    return blocks


def _block(text, offsets, lines, a, b, kind, section) -> Block | None:
    s, e = offsets[a], offsets[b - 1] + len(lines[b - 1])
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    if s >= e:
        return None
    from bisect import bisect_right
    return Block(kind, text[s:e], section, start_line=bisect_right(offsets, s), end_line=bisect_right(offsets, e - 1),
                 span=(s, e))


# Inline markup a reader does not see: **strong**, *emphasis*, `code`, and backslash escapes.
# Only balanced pairs within a paragraph count, so a lone "*" (a glob, a footnote) stays. pandoc
# opens the first option after a paragraph before the hard line break: "gleich. **  \n-a**".
_CODE_SPAN = re.compile(r"(`+)(?=[^`\s])(.+?)(?<=[^`\s])\1(?!`)", re.S)
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_STRONG = re.compile(r"\*\*(?:[ \t]+\n)?(?=[^\s*])(.+?)(?<=[^\s*])\*\*", re.S)
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*]+?)(?<=[^\s*])\*(?![\w*])")


def _markup(line: str) -> list[int]:
    """Positions of the markup characters in a paragraph's text, to be dropped."""
    drop, literal = set(), set()
    for m in _CODE_SPAN.finditer(line):
        fence = len(m.group(1))
        drop.update(range(m.start(), m.start() + fence))
        drop.update(range(m.end() - fence, m.end()))
        literal.update(range(m.start(), m.end()))
    for m in _ESCAPE.finditer(line):
        if m.start() not in literal:
            drop.add(m.start())
            literal.update((m.start(), m.start() + 1))
    for pattern, width in ((_STRONG, 2), (_EMPHASIS, 1)):
        # Each pass sees the line as the passes before left it: "**=***WANN*" is "=" and "*WANN*".
        kept = [k for k in range(len(line)) if k not in drop]
        view = "".join(line[k] for k in kept)
        for m in pattern.finditer(view):
            ends = [kept[k] for k in (*range(m.start(), m.start() + width), *range(m.end() - width, m.end()))]
            if not any(p in literal for p in ends):
                drop.update(ends)
    return sorted(drop)


def shown(text: str, blocks: list[Block]) -> tuple[str, list[Block]]:
    """The text as a reader sees it ("verhält sich **grep** strikt" -> "verhält sich grep
    strikt") and the blocks over it. Only markup characters go, never a line break, so line
    numbers stay exact; code blocks stay as written. Citations quote what the reader sees, and
    that is what is embedded."""
    code = {n for b in blocks if b.kind == "code" and b.start_line for n in range(b.start_line - 1, b.end_line)}
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    removed: list[int] = []  # offsets in text of the dropped characters, ascending
    n = 0
    while n < len(lines):  # each run of non-blank lines outside code is one paragraph's markup
        if n in code or not lines[n].strip():
            n += 1
            continue
        m = n
        while m + 1 < len(lines) and m + 1 not in code and lines[m + 1].strip():
            m += 1
        region = "\n".join(lines[n:m + 1])
        removed.extend(starts[n] + k for k in _markup(region))
        n = m + 1
    if not removed:
        return text, blocks
    gone = set(removed)
    new = "".join(ch for k, ch in enumerate(text) if k not in gone)
    from bisect import bisect_left

    def moved(pos: int) -> int:
        return pos - bisect_left(removed, pos)

    mapped = []
    for b in blocks:
        if b.span is None:
            mapped.append(b)
            continue
        s, e = moved(b.span[0]), moved(b.span[1])
        while s < e and new[s].isspace():
            s += 1
        while e > s and new[e - 1].isspace():
            e -= 1
        if s < e:
            mapped.append(replace(b, text=new[s:e], span=(s, e)))
    return new, mapped
