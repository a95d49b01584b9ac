"""Markdown through markdown-it-py: its tokens carry source line ranges, so citations keep exact lines."""
from __future__ import annotations

import re

from . import Block, _option_like


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
        if kind == "paragraph" and b - a >= 2 and _option_like(lines[b - 1].strip()):
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
