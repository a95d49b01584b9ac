"""Questions over man pages in other formats, made by real tools: PDF (groff), HTML (man -Thtml),
DOCX and Markdown (pandoc from that HTML). Rerun: python bench/formats.py

The dev questions whose gold is on ls, cp, sort, grep, date or mkdir are asked against a corpus
holding each page in one format. A hit cites the right file with the gold excerpt (compared
without spaces and hyphens, which PDF extraction changes); for PDFs the cited page must be the
page `pdftotext -f N -l N` shows the excerpt on.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.chatbot import Chatbot  # noqa: E402
from bot.config import from_env  # noqa: E402
from bot.corpora import MAN_DIR, render_man  # noqa: E402

FORMATS = {"ls": "pdf", "cp": "html", "sort": "docx", "grep": "md", "date": "pdf", "mkdir": "html"}


def flat(text: str) -> str:
    return re.sub(r"[\s\-\u2010\u00ad]+", "", text).casefold()


def make(page: str, fmt: str, folder: Path) -> Path:
    src = MAN_DIR / f"{page}.1.gz"
    out = folder / f"{page}.{fmt}"
    if fmt == "pdf":
        out.write_bytes(subprocess.run(["man", "-l", "-Tpdf", str(src)], capture_output=True, check=True).stdout)
        return out
    html = subprocess.run(["man", "-l", "-Thtml", str(src)], capture_output=True, check=True).stdout
    if fmt == "html":
        out.write_bytes(html)
        return out
    target = "docx" if fmt == "docx" else "gfm"
    subprocess.run(["pandoc", "-f", "html", "-t", target, "-o", str(out)], input=html, check=True)
    return out


def pdf_page(path: Path, gold: str) -> int | None:
    n = 1
    while True:
        r = subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), str(path), "-"], capture_output=True, text=True)
        if r.returncode != 0 or n > 60:
            return None
        if flat(gold) in flat(r.stdout):
            return n
        n += 1


def main() -> int:
    data = json.loads(Path("tests/data/dev/questions.json").read_text(encoding="utf-8"))
    texts = {p: render_man(p) for p in FORMATS}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        files = {p: make(p, fmt, corpus) for p, fmt in FORMATS.items()}
        bot = Chatbot(from_env().with_(corpus=corpus, index=Path(tmp) / "index"), quiet=True)
        hits = n = pages_ok = pages = 0
        for item in data["questions"]:
            if item["corpus"] != "man":
                continue
            page = next((p for p in FORMATS for g in item["gold"] if g in texts[p]), None)
            if page is None:
                continue
            n += 1
            a = bot.ask(item["q"])
            right = [c for c in a.citations if Path(c.hit.chunk.source).stem == page
                     and any(flat(g) in flat(c.hit.chunk.text) for g in item["gold"])]
            hits += bool(right)
            mark = "ok  " if right else "miss"
            if right and FORMATS[page] == "pdf":
                want = next((pdf_page(files[page], g) for g in item["gold"] if pdf_page(files[page], g)), None)
                pages += 1
                pages_ok += right[0].hit.chunk.page == want
                mark += f" p.{right[0].hit.chunk.page} (pdftotext: p.{want})"
            print(f"{mark} {page}.{FORMATS[page]}: {item['q']}")
        print(f"\n{hits}/{n} answers cite the right file with a gold excerpt; "
              f"PDF citations on the right page: {pages_ok}/{pages}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
