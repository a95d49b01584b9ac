"""Lines of plain-text files that `python -m bot chunks --json` loses. Rerun:

    python bench/lost_lines.py FILE.txt ...          (or --man chmod rm ... to render man pages)

A non-blank line is kept when it lies inside some chunk's start_line..end_line and all its
words are in that chunk's text, or when it is one of the chunk's headings.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def norm(s: str) -> str:
    return " ".join(s.split()).casefold()


def main(argv: list[str]) -> int:
    from bot.corpora import render_man
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        if argv[:1] == ["--man"]:
            for name in argv[1:]:
                (corpus / f"{name}.txt").write_text(render_man(name), encoding="utf-8")
        else:
            for f in argv:
                name = Path(f).name if Path(f).suffix in (".txt", ".md") else Path(f).name + ".txt"  # licences
                (corpus / name).write_bytes(Path(f).read_bytes())
        out = subprocess.run([sys.executable, "-m", "bot", "chunks", "--json", "--corpus", str(corpus)],
                             capture_output=True, text=True, check=True).stdout
        chunks = [json.loads(line) for line in out.splitlines()]
        total = lost = 0
        for path in sorted(corpus.iterdir()):
            mine = [c for c in chunks if c["source"].endswith("/" + path.name)]
            heads = {norm(h) for c in mine for h in [c["section"], *c.get("headings", [])]}
            missing = []
            for i, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
                if not line.strip():
                    continue
                total += 1
                words = re.findall(r"\w+", line)
                if not any(c["start_line"] <= i <= c["end_line"] and all(w in c["text"] for w in words)
                           for c in mine) and norm(line) not in heads:
                    missing.append((i, line))
            lost += len(missing)
            print(f"{path.name}: {len(mine)} chunks, lost {len(missing)}" +
                  "".join(f"\n    {i}: {line[:80]!r}" for i, line in missing[:5]))
        print(f"{lost} of {total} non-blank lines lost")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
