"""The terminal front end: rendering answers and the `chat` loop."""
from __future__ import annotations

import sys
import threading

from . import relevance
from .errors import BotError
from .records import Answer, Hit

BOLD, DIM, RESET = "\033[1m", "\033[2m", "\033[0m"
HELP = "Commands: /new starts a new conversation, /quit leaves (or Ctrl-D)."
SPINNER_AFTER = 0.3  # seconds: quick answers show no spinner at all
SECTION_CHARS = 28


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    cut = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return cut.rstrip(" ,;:") + "…"


def _where(hit: Hit) -> str:
    """corpus/file.txt, line 24 · 2) Was ist der Unterschied… · relevance high"""
    c = hit.chunk
    parts = [", ".join(x for x in (c.source, c.location) if x)]
    if c.section:
        parts.append(_shorten(c.section, SECTION_CHARS))
    parts.append(f"relevance {relevance.label(hit.standing, hit.score)}")
    return " · ".join(parts)


class Spinner:
    """ "searching…" with a turning bar on stream, shown only once the work takes over SPINNER_AFTER."""

    FRAMES = "|/-\\"

    def __init__(self, stream, text: str = "searching…", after: float = SPINNER_AFTER):
        self.stream, self.text, self.after = stream, text, after
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.shown = False

    def _run(self) -> None:
        if self._stop.wait(self.after):
            return
        i = 0
        while not self._stop.is_set():
            self.shown = True
            self.stream.write(f"\r{self.FRAMES[i % len(self.FRAMES)]} {self.text}")
            self.stream.flush()
            i += 1
            self._stop.wait(0.1)

    def __enter__(self) -> "Spinner":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if self.shown:  # wipe the line so the answer starts clean
            self.stream.write("\r" + " " * (len(self.text) + 2) + "\r")
            self.stream.flush()


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
    if a.query and a.query != a.question:  # "" when nothing was searched ("Thanks!")
        lines.insert(0, f"(searched for: {a.query})")
    if a.refused:
        close = [h for h in a.hits if relevance.near(h.score)][:3]
        if close:  # far passages would only distract from the refusal
            lines.append("Nearest passages (not an answer):")
            lines += [f"  - {_where(h)}" for h in close]
        return "\n".join(lines)
    for c in a.citations:
        lines.append(f"[{c.n}] {_where(c.hit)}")
        lines.append("    " + _excerpt(c.hit.chunk.text, c.highlights, color).replace("\n", "\n    "))
    return "\n".join(lines)


def chat(bot, stdin=None, stdout=None, spinner: bool | None = None) -> int:
    """Read questions line by line; prompts only when a person is typing at a terminal."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    interactive = stdin.isatty()
    color = stdout.isatty()
    spinner = sys.stderr.isatty() if spinner is None else spinner
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
        if not interactive:  # piped: the question above its answer (not a prompt), or the answers run together
            print(f"Q: {q}", file=stdout, flush=True)
        try:
            if spinner:  # on stderr, so piped answers stay clean
                with Spinner(sys.stderr):
                    a = bot.ask(q, history)
            else:
                a = bot.ask(q, history)
        except BotError as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            continue
        history.append(a.query)
        print(render(a, color) + "\n", file=stdout, flush=True)
    return 0
