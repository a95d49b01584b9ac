import json

from conftest import QUESTIONS


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
