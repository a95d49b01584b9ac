import json
import shutil
from pathlib import Path

import pytest

from bot import Settings
from conftest import ARTICLE, QUESTIONS


def test_english_question_finds_german_forecasting_passage(bot):
    a = bot.ask("Who owns forecasting?")
    top3 = [h.chunk.text for h in a.hits[:3]]
    assert any("Verkaufsprognose" in t for t in top3)


def test_development_questions_recall(bot):
    data = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    ranks = []
    for item in data["questions"]:
        hits = bot.ask(item["q"], top_k=10).hits
        ranks.append(next((i for i, h in enumerate(hits, 1) if any(g in h.chunk.text for g in item["gold"])), 99))
    assert sum(r == 1 for r in ranks) / len(ranks) >= 0.80
    assert sum(r <= 3 for r in ranks) / len(ranks) >= 0.93


def test_hits_are_ranked_and_carry_locations(bot):
    a = bot.ask("Wer verbessert die Datenqualität und das Reporting?", top_k=5)
    assert len(a.hits) == 5
    scores = [h.score for h in a.hits]
    assert scores == sorted(scores, reverse=True)
    top = a.hits[0].chunk
    assert "Datenqualität, die Reporting-Fähigkeiten" in top.text and top.start_line == 23


def test_a_repeated_paragraph_is_one_hit(make_corpus):
    # Each repeat is a chunk of its own (its lines are in it), but a passage is listed once.
    from bot.chatbot import Chatbot
    note = "Der Brenner muss vorher geleert werden.\n\n"
    s = make_corpus({"anleitung.txt": f"Brennen\n\n{note}Schritt eins: Rohlinge einlegen.\n\n{note}"
                                      f"Schritt zwei: Daten wählen.\n\n{note}Schritt drei: Starten.\n"})
    bot = Chatbot(s, quiet=True)
    assert sum("geleert" in c.text for c in bot.index.chunks) == 3
    hits = bot.ask("Was muss vorher mit dem Brenner geschehen?", top_k=4).hits
    texts = [" ".join(h.chunk.text.split()) for h in hits]
    assert "geleert" in texts[0] and len(set(texts)) == len(texts), texts


TOPK_QUESTIONS = [
    "Who owns forecasting?", "Was macht ein Vertriebsleiter in einem Startup?", "Which role is compared to a referee?",
    "Can I charge money for copies of the program?", "What must I do when I convey the object code?",
    "Darf ich das Programm verändern und weitergeben?", "Who is responsible for the hotel bookings of the team?",
]


@pytest.fixture(scope="module")
def article_and_gpl(tmp_path_factory):
    """The German article beside the English GPL-3: two languages, two kinds of text."""
    from bot.chatbot import Chatbot
    gpl = Path("/usr/share/common-licenses/GPL-3")
    if not gpl.is_file():
        pytest.skip("needs /usr/share/common-licenses/GPL-3 (Debian package base-files)")
    base = tmp_path_factory.mktemp("topk")
    (base / "corpus").mkdir()
    shutil.copy(ARTICLE, base / "corpus" / ARTICLE.name)
    shutil.copy(gpl, base / "corpus" / "GPL-3.txt")
    return Chatbot(Settings(corpus=base / "corpus", index=base / "index"), quiet=True)


def test_asking_for_more_passages_never_changes_the_ranking_or_the_answer(article_and_gpl):
    bot = article_and_gpl
    for q in TOPK_QUESTIONS:
        answers = {k: bot.ask(q, top_k=k) for k in (1, 5, 30, 50)}
        ids = {k: [h.chunk.id for h in a.hits] for k, a in answers.items()}
        for k, a in answers.items():
            assert len(a.hits) == k, (q, k)
            assert ids[k] == ids[50][:k], (q, k)  # the same ranking, cut at k
            assert (a.text, a.refused, a.signals) == (answers[5].text, answers[5].refused, answers[5].signals), (q, k)
            assert [h.standing for h in a.hits] == [h.standing for h in answers[50].hits[:k]], (q, k)


def test_the_cli_answer_is_the_same_for_any_top_k(article_and_gpl, capsys):
    from bot.cli import main
    s = article_and_gpl.settings
    flags = ["--corpus", str(s.corpus), "--index", str(s.index)]
    out = {}
    for k in ("1", "30"):
        assert main(["ask", "--json", "--top-k", k, *flags, "Can I charge money for copies of the program?"]) == 0
        out[k] = json.loads(capsys.readouterr().out)
    assert out["1"]["answer"] == out["30"]["answer"] and not out["1"]["refused"]
    assert out["1"]["passages"][0] == out["30"]["passages"][0]
    assert out["1"]["citations"][0]["source"].endswith("GPL-3.txt")
