"""Turn XQuAD's development split (16 of its 48 articles, CC BY-SA 4.0) into the dev set's
"xquad" corpus: one German document per article here, and its questions (English and German)
plus our own unanswerable ones in tests/data/dev/questions.json.

Run from the repository root: python tests/data/xquad/convert.py XQUAD_DEV_FOLDER
The test suite and `bot eval` read only what this writes, never the source folder.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
QUESTIONS = ROOT / "tests" / "data" / "dev" / "questions.json"
UNANSWERABLE = HERE / "unanswerable.json"
# A sentence ends at . ! ? before a space and a capital, digit or quote (good enough for gold:
# the excerpt only has to identify the passage that holds the answer).
_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ0-9\"„“(])")


def sentence_at(text: str, start: int, answer: str) -> str:
    if text[start:start + len(answer)] != answer:
        found = text.find(answer)
        start = found if found >= 0 else start
    lo = 0
    for m in _END.finditer(text):
        if m.end() <= start:
            lo = m.end()
        elif m.start() >= start + len(answer):
            return text[lo:m.start()].strip()
    return text[lo:].strip()


def main(source: Path) -> None:
    de = json.loads((source / "xquad.de.dev.json").read_text(encoding="utf-8"))["data"]
    en = json.loads((source / "xquad.en.dev.json").read_text(encoding="utf-8"))["data"]
    english = {qa["id"]: qa["question"] for article in en for p in article["paragraphs"] for qa in p["qas"]}
    files, questions = [], []
    for n, article in enumerate(de):
        # Whole articles alternate between the halves: held-out questions are about documents
        # that no dev question asked about.
        split = "dev" if n % 2 == 0 else "held-out"
        name = f"{article['title']}.txt"
        text = "\n\n".join(" ".join(p["context"].split()) for p in article["paragraphs"]) + "\n"
        (HERE / name).write_text(text, encoding="utf-8")
        files.append({"from": f"tests/data/xquad/{name}"})
        for p in article["paragraphs"]:
            context = " ".join(p["context"].split())
            for qa in p["qas"]:
                a = qa["answers"][0]
                # answer_start counts in the original context; whitespace was collapsed above
                prefix = p["context"][:a["answer_start"]]
                start = len(" ".join(prefix.split())) + (1 if prefix.strip() and prefix[-1].isspace() else 0)
                gold = sentence_at(context, min(start, len(context)), " ".join(a["text"].split()))
                assert gold and gold in context, qa["id"]
                for lang, q in (("en", english[qa["id"]]), ("de", qa["question"])):
                    questions.append({"q": " ".join(q.split()), "lang": lang, "gold": [gold], "corpus": "xquad",
                                      "split": split, "id": qa["id"], "article": article["title"]})
    unanswerable = json.loads(UNANSWERABLE.read_text(encoding="utf-8"))
    data = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    data["corpora"]["xquad"] = {"files": files}
    data["questions"] = [q for q in data["questions"] if q.get("corpus") != "xquad"] + questions
    data["unanswerable"] = [u for u in data["unanswerable"] if u.get("corpus") != "xquad"] + unanswerable
    QUESTIONS.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(files)} documents, {len(questions)} questions, {len(unanswerable)} unanswerable")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/data/xquad/convert.py XQUAD_DEV_FOLDER (the folder of XQuAD's dev split)")
    main(Path(sys.argv[1]))
