"""The terminal front end: rendering answers and the `chat` loop."""
from __future__ import annotations

import sys

from .errors import BotError
from .records import Answer, Hit

BOLD, DIM, RESET = "\033[1m", "\033[2m", "\033[0m"
HELP = "Commands: /new starts a new conversation, /quit leaves (or Ctrl-D)."


def _where(hit: Hit) -> str:
    c = hit.chunk
    lines = f"line {c.start_line}" if c.start_line == c.end_line else f"lines {c.start_line}-{c.end_line}"
    section = f", {c.section}" if c.section else ""
    return f"{c.source}:{c.start_line} ({lines}{section}; score {hit.score:.2f})"


def _excerpt(text: str, highlights, color: bool) -> str:
    """The excerpt with the cited sentences in bold (or between » « without colour)."""
    out, pos = [], 0
    on, off = (BOLD, RESET) if color else ("»", "«")
    for s, e in highlights:
        out += [text[pos:s], on, text[s:e], off]
        pos = e
    out.append(text[pos:])
    return "".join(out)


def render(a: Answer, color: bool = False) -> str:
    lines = [a.text, ""]
    if a.query != a.question:
        lines.insert(0, f"(searched for: {a.query})")
    if a.refused:
        if a.hits:
            lines.append("Nearest passages:")
            lines += [f"  - {_where(h)}" for h in a.hits[:3]]
        return "\n".join(lines)
    for c in a.citations:
        lines.append(f"[{c.n}] {_where(c.hit)}")
        lines.append("    " + _excerpt(c.hit.chunk.text, c.highlights, color).replace("\n", "\n    "))
    return "\n".join(lines)


def chat(bot, stdin=None, stdout=None) -> int:
    """Read questions line by line; prompts only when a person is typing at a terminal."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    interactive = stdin.isatty()
    color = stdout.isatty()
    history: list[str] = []
    if interactive:
        print(f"Ask about the documents in {bot.settings.corpus}/. {HELP}", file=stdout)
    while True:
        if interactive:
            print("> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line:
            break
        q = line.strip()
        if not q:
            continue
        if q in ("/quit", "/exit", ":q"):
            break
        if q in ("/new", "/reset"):
            history.clear()
            print("(new conversation)", file=stdout, flush=True)
            continue
        if q in ("/help", "?"):
            print(HELP, file=stdout, flush=True)
            continue
        try:
            a = bot.ask(q, history)
        except BotError as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            continue
        history.append(a.query)
        print(render(a, color) + "\n", file=stdout, flush=True)
    return 0
