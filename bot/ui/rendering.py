"""Pure functions from the Answer JSON, the manifest and build progress to escaped HTML.

Every piece of document text goes through html.escape before it reaches the page: documents are
shown as text, never as HTML, Markdown or script. Chat messages pass Gradio's sanitizer, which drops
data-* attributes, so chips carry the answer id and number in their class names.
"""
from __future__ import annotations

import html
import re
from datetime import datetime
from pathlib import PurePosixPath

from .. import relevance
from ..language import detect

HEADING_CHARS = 90  # a 3,000-character question is not repeated in full as a heading
_MARKER = re.compile(r"\[(\d+)\]")
_WORD = re.compile(r"[^\W\d_][\w-]*")


def shorten(text: str, limit: int) -> str:
    """text cut at a word boundary to at most limit characters, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1].rsplit(" ", 1)[0] if " " in text[:limit - 1] else text[:limit - 1]
    return cut.rstrip(" ,;:") + "…"


def where(p: dict) -> str:
    """"corpus/x.txt, line 24 · 2) Was ist der Unterschied…" for a citation or passage (the JSON's location)."""
    place = p.get("location") or ""
    parts = [", ".join(x for x in (p["source"], place) if x)]
    if p.get("section"):
        parts.append(shorten(p["section"], 40))
    return " · ".join(parts)


def relevance_badge(p: dict) -> str:
    name = relevance.label(p.get("standing"), p["score"])
    tip = relevance.explain(p.get("standing"), p["score"])
    return f'<span class="rel rel-{name}" tabindex="0" title="{html.escape(tip)}">relevance {name}</span>'


def glossed(text: str, gloss: dict[str, list[str]] | None, seen: set[str] | None = None) -> str:
    """text escaped, each word with a dictionary entry wrapped in a gloss shown on hover, tap and focus.

    The gloss is a focusable button whose title is the translation: screen readers announce the word
    with its gloss as description, and only title survives Gradio's sanitizer of chat messages (data-*
    and aria-* do not). seen: words already glossed in this text block, glossed once only."""
    if not gloss:
        return html.escape(text)
    seen = set() if seen is None else seen
    out, pos = [], 0
    for m in _WORD.finditer(text):
        meanings = gloss.get(m.group()) or gloss.get(m.group().lower())
        if not meanings and "-" in m.group():  # "Pipeline-Management": each glossed part, named
            meanings = [f"{p}: {'; '.join(gloss[p][:1])}" for p in m.group().split("-") if gloss.get(p)]
        if not meanings or m.group().casefold() in seen:
            continue
        seen.add(m.group().casefold())
        out.append(html.escape(text[pos:m.start()]))
        tip = html.escape("; ".join(meanings[:4]))
        out.append(f'<span class="gl" tabindex="0" role="button" title="{tip}">{html.escape(m.group())}</span>')
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def highlighted(text: str, spans, gloss: dict | None = None) -> str:
    """The excerpt, escaped, with the cited [start, end) spans wrapped in <mark> (glossed inside)."""
    out, pos, seen = [], 0, set()
    for start, end in sorted((max(0, int(s)), min(len(text), int(e))) for s, e in spans):
        if start < pos or start >= end:
            continue
        out.append(html.escape(text[pos:start]))
        out.append(f"<mark>{glossed(text[start:end], gloss, seen)}</mark>")
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def wants_gloss(question: str, text: str) -> bool:
    """English asker, German quote: the case where a word-by-word gloss helps."""
    return detect(question) == "en" and detect(text) == "de"


def _chip(aid: str, n) -> str:
    return (f'<button class="cite aid-{html.escape(aid)} n-{int(n)}" type="button" '
            f'title="Open source {int(n)} in its document">[{int(n)}]</button>')


def answer_html(answer: dict, gloss_for=None) -> str:
    """The finished answer bubble: the text with each [n] as a chip that opens the document there,
    and for an English asker of German quotes, glosses on the German words (gloss_for as in
    sources_html). A refusal is its one sentence and nothing else."""
    aid = answer.get("id", "")
    if answer["refused"]:
        return f'<div class="ans refused aid-{html.escape(aid)}">{html.escape(answer["answer"])}</div>'
    cited = {c["n"] for c in answer["citations"]}
    gloss = None
    if gloss_for is not None and wants_gloss(answer["question"], _MARKER.sub(" ", answer["answer"])):
        gloss = gloss_for(answer["answer"]) or None
    parts, pos, seen = [], 0, set()
    for m in _MARKER.finditer(answer["answer"]):
        parts.append(glossed(answer["answer"][pos:m.start()], gloss, seen))
        parts.append(_chip(aid, m.group(1)) if int(m.group(1)) in cited else html.escape(m.group()))
        pos = m.end()
    parts.append(glossed(answer["answer"][pos:], gloss, seen))
    return f'<div class="ans aid-{html.escape(aid)}">{"".join(parts)}</div>'


def system_html(text: str) -> str:
    """A message from the page, not an answer: styled apart and without vote buttons."""
    return f'<div class="sys">{html.escape(text)}</div>'


def _card(label: str, p: dict, aid: str, spans=(), gloss=None) -> str:
    n = p.get("n")
    opener = (f'<button class="open-doc" type="button" data-aid="{html.escape(aid)}" data-n="{int(n)}" '
              f'aria-label="Show in document: source {int(n)}">Show in document</button>') if n is not None and aid else ""
    return (f'<article class="src-card" data-source="{html.escape(p["source"])}" aria-label="Source {html.escape(label)}">'
            f'<div class="src-top"><span class="src-n">{html.escape(label)}</span>'
            f'<span class="src-file">{html.escape(where(p))}</span>{relevance_badge(p)}</div>'
            f'<blockquote class="src-text">{highlighted(p["text"], spans, gloss)}</blockquote>{opener}</article>')


def sources_html(answer: dict | None, gloss_for=None) -> str:
    """The sources panel for one answer: a card per citation; for a refusal the close passages, collapsed.

    gloss_for(text) -> {word: [meanings]} glosses German quotes for an English asker (or None)."""
    if not answer:
        return ('<div class="src-empty">Sources appear here: each [n] in an answer with the passage it quotes. '
                'Click an [n] to read it in its document.</div>')
    aid = answer.get("id", "")
    # tabindex -1: "← Sources" puts the keyboard's focus here, at the top of the list.
    head = (f'<div class="src-head" tabindex="-1" title="{html.escape(shorten(answer["question"], 400))}">'
            f'Sources for “{html.escape(shorten(answer["question"], HEADING_CHARS))}”</div>')
    if answer.get("query") and answer["query"] != answer["question"]:
        head += f'<div class="src-meta">searched for: {html.escape(shorten(answer["query"], HEADING_CHARS))}</div>'
    if not answer["refused"] and not answer["passages"]:  # "Thanks!": answered without a search
        return f'<div class="sources">{head}<div class="src-note">Nothing was searched for this message.</div></div>'
    if answer["refused"]:
        close = [p for p in answer["passages"] if relevance.near(p["score"])][:3]
        if not close:
            return f'<div class="sources">{head}<div class="src-note">No passage in the documents comes close.</div></div>'
        cards = "".join(_card(f"#{p['rank']}", p, aid) for p in close)
        return (f'<div class="sources">{head}<details class="near"><summary>{len(close)} nearby '
                f'passage{"s" * (len(close) != 1)} (not an answer)</summary>{cards}</details></div>')
    cards = []
    for c in answer["citations"]:
        gloss = None
        if gloss_for is not None:
            quoted = " ".join(c["text"][s:e] for s, e in c.get("highlights", ()))
            if quoted and wants_gloss(answer["question"], quoted):
                gloss = gloss_for(quoted) or None
        cards.append(_card(f"[{c['n']}]", c, aid, c.get("highlights", ()), gloss))
    return f'<div class="sources">{head}{"".join(cards)}</div>'


def _when(iso: str, fmt: str = "%H:%M") -> str:
    try:
        t = datetime.fromisoformat(iso).astimezone()
    except (TypeError, ValueError):
        return iso or "?"
    return t.strftime(fmt if t.date() == datetime.now().astimezone().date() else "%Y-%m-%d " + fmt)


def progress_text(p) -> str:
    """A records.BuildProgress in words: "Indexing: 1 of 3 files, 40 of 120 passages, about 12 s left"."""
    if p is None:
        return "Indexing the documents…"
    left = f", about {max(1, round(p.seconds_left))} s left" if p.seconds_left is not None else ""
    words = {"reading": "Reading", "embedding": "Indexing", "lexical": "Indexing words", "dictionary": "Dictionary terms",
             "calibration": "Calibrating", "saving": "Saving", "done": "Done"}.get(p.stage, p.stage)
    return (f"{words}: {p.files_done} of {p.files_total} file{'s' * (p.files_total != 1)}, "
            f"{p.chunks_done} of {p.chunks_total} passages{left}")


def progress_html(p) -> str:
    """A bar for a records.BuildProgress: files and passages done, time left."""
    if p is None:
        return (f'<div class="build"><span>{progress_text(p)}</span>'
                '<progress aria-label="Indexing progress"></progress></div>')
    # The share of the whole build's estimated work (every phase), not of the passages embedded:
    # the bar reaches its end when the build does.
    if p.fraction is not None:
        value, total = round(1000 * p.fraction), 1000
    else:
        value, total = (p.chunks_done, p.chunks_total) if p.chunks_total else (p.files_done, max(p.files_total, 1))
    return (f'<div class="build"><span>{html.escape(progress_text(p))}</span>'
            f'<progress aria-label="Indexing progress" max="{total}" value="{min(value, total)}"></progress></div>')


def status_html(manifest: dict | None, building: bool = False, error: str | None = None, progress=None) -> str:
    """One plain line ("1 document, 22 passages, indexed 10:02"); the model id behind a details popover."""
    if error:
        return f'<span class="err">Index not available: {html.escape(error)}</span>'
    if manifest is None:
        return ('<span class="busy">Indexing the documents… type your question; '
                'it is answered as soon as the index is ready.</span>')
    docs, chunks = manifest.get("documents", 0), manifest.get("chunks", 0)
    line = f"{docs} document{'s' * (docs != 1)}, {chunks} passages, indexed {_when(manifest.get('built_at', ''))}"
    if building:
        line += " · re-indexing…"
    details = (f'<details class="model"><summary>details</summary><div class="pop">'
               f'Embedding model: {html.escape(str(manifest.get("embedder", "?")))}<br>'
               f'Built: {html.escape(_when(manifest.get("built_at", ""), "%H:%M:%S"))}</div></details>')
    return f'<span class="plain">{html.escape(line)}</span> {details}'


def documents_html(manifest: dict | None, passages: dict[str, int] | None = None, progress=None,
                   building: bool = False, waiting: list[str] = (), editable: bool = True) -> str:
    """The documents panel: name, format, passages, when indexed, and a remove button per file.

    waiting: the files of a first build still running, listed as "being indexed".
    editable: False for a reader, who gets no Remove buttons and no hint to add files."""
    rows = []
    passages = passages or {}
    root = "corpus"
    for f in (manifest or {}).get("files", []):
        name = f["path"]
        key = next((k for k in passages if k.endswith("/" + name) or k == name), None)
        n = passages.get(key, 0) if key else 0
        fmt = (PurePosixPath(name).suffix.lstrip(".") or "text").upper()
        state = f"{n} passage{'s' * (n != 1)}" if f.get("indexed", True) else "not readable: skipped"
        rows.append(f'<li class="doc" data-name="{html.escape(name)}"><span class="doc-name" title="{html.escape(root + "/" + name)}">'
                    f'{html.escape(name)}</span><span class="doc-meta">{fmt} · {state} · '
                    f'indexed {html.escape(_when((manifest or {}).get("built_at", "")))}</span>'
                    + (f'<button class="rm" type="button" data-name="{html.escape(name)}" '
                       f'title="Delete {html.escape(name)} from the documents folder">Remove</button>' * editable)
                    + '</li>')
    if manifest is None:
        rows = [f'<li class="doc"><span class="doc-name">{html.escape(name)}</span><span class="doc-meta">'
                f'{(PurePosixPath(name).suffix.lstrip(".") or "text").upper()} · being indexed…</span></li>'
                for name in waiting]
    body = "".join(rows) or ('<li class="doc-none">No documents yet: add some below.</li>' if editable
                             else '<li class="doc-none">No documents yet.</li>')
    bar = progress_html(progress) if building else ""
    count = len(rows)
    hint = ('<div class="drop-hint">Drop .txt, .md, .pdf, .docx or .html files here, or use “Add documents”.</div>'
            if editable else "")
    return (f'<div class="docs"><div class="docs-head">Documents ({count})</div>{bar}'
            f'<ul class="doc-list">{body}</ul>{hint}</div>')


def conversation_text(turns: list[dict]) -> str:
    """The conversation as plain text with its citations, for the copy button."""
    out = []
    for a in turns:
        out.append(f"Q: {a['question']}\nA: {a['answer']}")
        for c in a["citations"]:
            quoted = " ".join(" ".join(c["text"][s:e].split()) for s, e in c.get("highlights", ())) \
                or shorten(c["text"], 300)
            out.append(f"[{c['n']}] {where(c)}: “{quoted}”")
        out.append("")
    return "\n".join(out).strip() + "\n" if out else ""
