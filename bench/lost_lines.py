"""Lines of documents that `python -m bot chunks --json` loses. Rerun:

    python bench/lost_lines.py FILE.txt FILE.pdf ...
    python bench/lost_lines.py --man chmod rm ...                (German man pages as text)
    python bench/lost_lines.py --lang en --pdf ps2pdf --man cp mv ...  (PDFs: ps2pdf, gropdf, chromium...)

Text: a non-blank line is kept when it lies inside some chunk's start_line..end_line and all
its words are in that chunk's text, or when it is one of the chunk's headings.
PDF: a non-blank line of `pdftotext -layout` (page by page) is kept when all its words are in
the text or headings of one chunk cited on that page. Running headers and footers (among the
first or last two lines of a page, the same on most pages but for their numbers) are left out.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def norm(s: str) -> str:
    return " ".join(s.split()).casefold()


def text_lost(path: Path, mine: list[dict]) -> tuple[int, list[tuple[int, str]]]:
    heads = {norm(h) for c in mine for h in [c["section"], *c.get("headings", [])]}
    total, missing = 0, []
    for i, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if not line.strip():
            continue
        total += 1
        words = re.findall(r"\w+", line)
        if not any(c["start_line"] <= i <= c["end_line"] and all(w in c["text"] for w in words)
                   for c in mine) and norm(line) not in heads:
            missing.append((i, line))
    return total, missing


def shape(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split()))


def pdf_lost(path: Path, mine: list[dict]) -> tuple[int, list[tuple[int, str]]]:
    out = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                         text=True, check=True).stdout
    pages = [p.split("\n") for p in out.split("\f")]
    if pages and not any(x.strip() for x in pages[-1]):
        pages.pop()
    edges = [[x for x in ls if x.strip()][:2] + [x for x in ls if x.strip()][-2:] for ls in pages]
    counts = Counter(s for edge in edges for s in {shape(x) for x in edge})
    total, missing = 0, []
    for n, (ls, edge) in enumerate(zip(pages, edges), 1):
        texts = [c["text"] + "\n" + "\n".join([c["section"], *c.get("headings", [])]) for c in mine if c["page"] == n]
        for line in ls:
            if not line.strip():
                continue
            if line in edge and len(pages) > 1 and counts[shape(line)] >= max(2, len(pages) / 2):
                continue  # a running header or footer
            total += 1
            words = re.findall(r"\w+", line)
            if not any(all(w in t for w in words) for t in texts):
                missing.append((n, line))
    return total, missing


def main(argv: list[str]) -> int:
    from bot.corpora import man_pdf, render_man
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*")
    ap.add_argument("--man", nargs="+", default=[], help="man pages to render")
    ap.add_argument("--lang", default="de", choices=["de", "en"])
    ap.add_argument("--pdf", help="render the man pages as PDFs with this producer (ps2pdf, gropdf, chromium)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for name in args.man:
            if args.pdf:
                (corpus / f"{name}.pdf").write_bytes(man_pdf(name, args.pdf, args.lang))
            else:
                (corpus / f"{name}.txt").write_text(render_man(name, lang=args.lang), encoding="utf-8")
        for f in args.files:
            suffix = Path(f).suffix
            name = Path(f).name if suffix in (".txt", ".md", ".pdf") else Path(f).name + ".txt"  # licences
            (corpus / name).write_bytes(Path(f).read_bytes())
        out = subprocess.run([sys.executable, "-m", "bot", "chunks", "--json", "--corpus", str(corpus)],
                             capture_output=True, text=True, check=True).stdout
        chunks = [json.loads(line) for line in out.splitlines()]
        total = lost = 0
        for path in sorted(corpus.iterdir()):
            mine = [c for c in chunks if c["source"].endswith("/" + path.name)]
            n, missing = (pdf_lost if path.suffix == ".pdf" else text_lost)(path, mine)
            total += n
            lost += len(missing)
            where = "p." if path.suffix == ".pdf" else ""
            print(f"{path.name}: {len(mine)} chunks, lost {len(missing)} of {n}" +
                  "".join(f"\n    {where}{i}: {line[:80]!r}" for i, line in missing[:5]))
        print(f"{lost} of {total} non-blank lines lost")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
