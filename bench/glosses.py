"""How well the glosses fit: the nouns of tests/data/glosses.json, glossed as the index glosses
them, against the meanings written by hand. Rerun: python bench/glosses.py

For each noun the table of its text (the article, or find's German man page) gives up to three
English terms; "first" counts nouns whose first term is one of the meanings, "shown" those with
one among the terms shown; and how many of the text's nouns are glossed, how many composed.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import glosses  # noqa: E402
from bot.corpora import render_man  # noqa: E402


def text_of(name: str) -> str:
    return render_man(name[4:]) if name.startswith("man:") else (ROOT / name).read_text(encoding="utf-8")


def main() -> int:
    if not glosses.DEFAULT.is_file():
        print(f"{glosses.DEFAULT} is missing: apt-get install trans-de-en", file=sys.stderr)
        return 1
    data = json.loads((ROOT / "tests" / "data" / "glosses.json").read_text(encoding="utf-8"))
    for split in ("dev", "held-out"):
        nouns = data[split]["nouns"]
        text = text_of(data[split]["text"])
        table = glosses.build(glosses.capitalised(text))
        first = shown = 0
        misses = []
        for word, meanings in nouns.items():
            ok = {glosses.fold(m) for m in meanings}
            entry = table.get(word.casefold())
            got = entry[1] if entry else []
            first += bool(got) and glosses.fold(got[0]) in ok
            shown += any(glosses.fold(g) in ok for g in got)
            if not got or glosses.fold(got[0]) not in ok:
                misses.append(f"{word}: {'; '.join(got) or '-'}")
        n = len(nouns)
        print(f"{split:9} {n} nouns: first fits {first}/{n} ({first / n:.2f}), one shown fits {shown}/{n} "
              f"({shown / n:.2f}); the text's table: {len(table)} nouns glossed, "
              f"{sum(bool(e[2]) for e in table.values())} of them composed from parts")
        print("  misses: " + " | ".join(misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
