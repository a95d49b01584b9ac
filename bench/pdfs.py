"""Questions over PDFs as people get them (the dev set's corpus 'man-en-pdf': English man pages
made by `man -Tps | ps2pdf`, `man -Tpdf` and Chromium's print of `man -Thtml`). Rerun:

    python bench/pdfs.py [--split dev|held-out] [--corpus man-en-pdf]

An answer is right when a citation is from the file that holds a gold excerpt, contains the
excerpt, and names the page `pdftotext -f N -l N` shows it on (both compared without spaces
and hyphens, folded). Unanswerable questions must be refused.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.chatbot import Chatbot  # noqa: E402
from bot.config import from_env  # noqa: E402
from bot.corpora import materialize  # noqa: E402
from bot.matching import fold  # noqa: E402


def flat(text: str) -> str:
    return re.sub(r"[\s\-]+", "", fold(text)).casefold()


def page_texts(path: Path) -> list[str]:
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True,
                         check=True).stdout
    return [flat(p) for p in out.split("\f")]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="dev", choices=["dev", "held-out"])
    ap.add_argument("--corpus", default="man-en-pdf")
    ap.add_argument("--questions", default="tests/data/dev/questions.json")
    args = ap.parse_args(argv)
    data = json.loads(Path(args.questions).read_text(encoding="utf-8"))
    folder = materialize(args.corpus, data["corpora"][args.corpus], Path(".eval-cache"))
    pages = {p.name: page_texts(p) for p in sorted(folder.glob("*.pdf"))}
    bot = Chatbot(from_env().with_(corpus=folder, index=folder.parent / "index"), quiet=True)
    right = n = 0
    for item in data["questions"]:
        if item["corpus"] != args.corpus or item.get("split") != args.split:
            continue
        n += 1
        gold = [flat(g) for g in item["gold"]]
        # The gold's file and page: the first page whose text holds an excerpt.
        where = {(name, k) for name, ps in pages.items() for g in gold
                 for k in [next((i for i, p in enumerate(ps, 1) if g in p), None)] if k}
        a = bot.ask(item["q"])
        cited = [(Path(c.hit.chunk.source).name, c.hit.chunk.page) for c in a.citations
                 if any(g in flat(c.hit.chunk.text) for g in gold)]
        ok = not a.refused and any(c in where for c in cited)
        right += ok
        print(f"{'ok  ' if ok else 'miss'} {item['lang']} {item['q']}  cited {cited or '-'}  gold {sorted(where)}")
    refused = total = 0
    for item in data["unanswerable"]:
        if item["corpus"] != args.corpus or item.get("split") != args.split:
            continue
        total += 1
        a = bot.ask(item["q"])
        refused += a.refused
        print(f"{'ok  ' if a.refused else 'miss'} unanswerable: {item['q']}")
    print(f"\n{args.corpus} {args.split}: {right}/{n} answers cite the right file with a gold excerpt on the right "
          f"page; {refused}/{total} unanswerable refused")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
