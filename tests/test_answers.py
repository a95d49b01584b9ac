import json
import re
import subprocess
import sys

from bot.conversation import standalone
from conftest import QUESTIONS, ROOT

DEV = json.loads(QUESTIONS.read_text(encoding="utf-8"))
MULTI = json.loads((ROOT / "tests" / "data" / "dev" / "questions.json").read_text(encoding="utf-8"))


def gold_cited(answer, gold):
    return any(g in c.hit.chunk.text for c in answer.citations for g in gold)


def test_answer_quotes_the_forecasting_sentence_with_a_citation(bot):
    a = bot.ask("Who owns forecasting?")
    assert not a.refused
    assert re.search(r"“[^”]*Verkaufsprognose[^”]*” \[1\]", a.text)
    c = a.citations[0]
    assert "Verkaufsprognose und dem Pipeline-Management" in c.hit.chunk.text
    for s, e in c.highlights:  # each highlighted sentence is quoted in the answer, verbatim
        assert " ".join(c.hit.chunk.text[s:e].split()) in a.text
    assert [int(n) for n in re.findall(r"\[(\d+)\]", a.text)] == [c.n for c in a.citations]


def test_answer_has_no_repeated_sentences_and_keeps_german_quotes(bot):
    a = bot.ask("Wer entwickelt Verkaufsstrategien?")
    assert a.text.startswith("„") and "Verkaufsstrategien" in a.text
    quotes = re.findall(r"„([^“]+)“", a.text)
    sentences = [s for q in quotes for s in re.split(r"(?<=\.) ", q)]
    assert len(sentences) == len(set(sentences)) <= 4


def test_unanswerable_questions_are_refused_in_the_askers_language(bot):
    a = bot.ask("What is the weather in Berlin today?")
    assert a.refused and a.citations == () and a.hits
    assert a.text == "The documents do not cover this question."
    b = bot.ask("Wie wird das Wetter morgen in Hamburg?")
    assert b.refused and b.text == "Dazu enthalten die Dokumente keine Antwort."


def test_development_answers_meet_the_bar(bot):
    answerable = [bot.ask(item["q"]) for item in DEV["questions"]]
    cited = sum(gold_cited(a, item["gold"]) for a, item in zip(answerable, DEV["questions"]))
    assert cited >= 13 and sum(a.refused for a in answerable) <= 1
    assert bot.ask("What is the weather in Berlin today?").refused


def test_refusals_on_the_article_half_of_the_multi_corpus_dev_set(bot):
    # Calibrated per corpus, no word lists: off-topic questions and names the article never
    # mentions are refused; answerable ones are not (measured: 3 of 5 refused, 0 of 14 false).
    items = [i for kind in ("questions", "unanswerable") for i in MULTI[kind]
             if i["corpus"] == "article" and i["split"] == "dev"]
    refused = {i["q"]: bot.ask(i["q"]).refused for i in items}
    unanswerable = [i["q"] for i in MULTI["unanswerable"] if i["q"] in refused]
    assert sum(refused[q] for q in unanswerable) >= 3
    assert sum(refused.values()) - sum(refused[q] for q in unanswerable) == 0
    assert refused["Welcher CRM-Anbieter ist der beste, Salesforce oder HubSpot?"]  # HubSpot: never mentioned


def test_development_conversations_retrieve_gold_on_last_turn(bot):
    for conv in DEV["conversations"]:
        history = []
        for turn in conv["turns"]:
            a = bot.ask(turn, history)
            history.append(a.query)
        assert any(g in h.chunk.text for h in a.hits[:3] for g in conv["gold"]), a.query


def test_followup_is_rewritten_into_a_standalone_query(bot):
    first = bot.ask("What does a sales manager do in a startup?")
    second = bot.ask("And the sales operations manager?", [first.query])
    assert second.query == "What does the sales operations manager do in a startup?"
    assert gold_cited(second, ["Vertriebsoperationsleiter in einem Startup"])
    de = standalone("Und in einer Marketingagentur?", ["Was macht ein Vertriebsleiter in einem Startup?"])
    assert de == "Was macht ein Vertriebsleiter in einer Marketingagentur?"


def test_standalone_question_is_not_polluted_by_earlier_turns(bot):
    first = bot.ask("Who owns forecasting?")
    a = bot.ask("Wer entwickelt Verkaufsstrategien?", [first.query])
    assert a.query == a.question == "Wer entwickelt Verkaufsstrategien?"


def test_history_is_bounded():
    history = ["Who is responsible for CRM systems?"]
    for _ in range(50):
        history.append(standalone("Which other tools do they manage?", history))
    assert len(history[-1]) <= 400


def test_terminal_chat_piped_has_no_prompt_noise(article_settings, bot):
    turns = "What does a sales manager do in a startup?\nAnd the sales operations manager?\n/new\n" \
            "And the sales operations manager?\n/quit\nWho owns forecasting?\n"
    out = subprocess.run([sys.executable, "-m", "bot", "chat", "--corpus", str(article_settings.corpus),
                          "--index", str(article_settings.index)], input=turns, capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert not out.stdout.startswith(">") and "\n> " not in out.stdout
    blocks = out.stdout.split("(new conversation)")
    assert "(searched for: What does the sales operations manager do in a startup?)" in blocks[0]
    assert "searched for" not in blocks[1]  # after /new the follow-up stands alone
    assert "[1] corpus/" in blocks[0] and "»" in blocks[0]  # sources with the highlighted sentence
    assert out.stdout.count("[1] corpus/") == 3  # three answers; nothing after /quit


def test_how_many_questions_need_a_number_in_the_passages(bot):
    # "ein" is an article, not a number: the article holds no figures, so "how many" is refused.
    for q in ["How many years of experience do you need to become a sales operations manager?",
              "Wie viele Mitarbeiter hat ein Vertriebsteam?"]:
        a = bot.ask(q)
        assert a.refused and a.signals["number"] is False, (q, a.signals)
    assert not bot.ask("Who owns forecasting?").refused


def test_a_question_for_an_amount_of_money_needs_one_in_the_passages(bot, make_corpus):
    # The article describes the roles but names no salary: the role's description is no answer.
    a = bot.ask("Was verdient ein Vertriebsleiter?")
    assert a.refused and a.signals["amount"] is False
    assert "amount" not in bot.ask("Wer senkt die Kosten im Vertrieb?").signals  # no amount asked for
    # Where the documents do name one, the same kind of question is answered with it.
    from bot.chatbot import Chatbot
    s = make_corpus({"gehalt.md": "# Vergütung\n\nEin Vertriebsleiter verdient in Deutschland im Schnitt "
                                  "etwa 85.000 € brutto im Jahr, dazu kommt eine variable Prämie.\n\n"
                                  "# Aufgaben\n\nEr führt das Vertriebsteam und plant die Verkaufsziele.\n"})
    b = Chatbot(s, quiet=True).ask("What does a sales manager earn?")
    assert not b.refused and "85.000 €" in b.text and b.signals["amount"] is True


def test_a_question_naming_a_document_is_answered_from_it(make_corpus):
    # "What about the BSD licence?" used to quote the GFDL's "Warranty Disclaimers" sentence,
    # which repeats the question's words, rather than BSD's own disclaimer, ranked first.
    from bot.chatbot import Chatbot
    s = make_corpus({
        "BSD.txt": "Redistribution and use in source and binary forms, with or without modification, are "
                   "permitted provided that the copyright notice is retained.\n\n"
                   "THIS SOFTWARE IS PROVIDED BY THE REGENTS AND CONTRIBUTORS \"AS IS\" AND ANY EXPRESS OR "
                   "IMPLIED WARRANTIES, INCLUDING THE IMPLIED WARRANTIES OF MERCHANTABILITY, ARE DISCLAIMED. "
                   "IN NO EVENT SHALL THE REGENTS BE LIABLE FOR ANY DAMAGES.\n",
        "GFDL-1.3.txt": "The Document may include Warranty Disclaimers next to the notice which states that "
                        "this License applies to the Document. These Warranty Disclaimers are considered to "
                        "be included by reference in this License.\n\n"
                        "You may copy and distribute the Document in any medium, commercially or "
                        "noncommercially, provided that this License is reproduced in all copies.\n"})
    bot = Chatbot(s, quiet=True)
    a = bot.ask("What does the BSD licence say about warranty?")
    assert not a.refused and {c.hit.chunk.source for c in a.citations} == {"corpus/BSD.txt"}
    assert "WARRANTIES" in a.text
    # Named by no file, the question is answered from every document as before.
    b = bot.ask("What does the licence say about warranty disclaimers?")
    assert "corpus/GFDL-1.3.txt" in {c.hit.chunk.source for c in b.citations}


def test_an_unrelated_german_page_beside_the_article_changes_nothing_for_it(make_corpus):
    # A man page's copyright line matches any question a little: beside the article it took [1]
    # for "Who owns forecasting?", and its level raised the refusal bar until the question was
    # refused. Each document is now calibrated on its own and compared at its own level.
    import shutil
    import subprocess
    from bot.chatbot import Chatbot
    from conftest import ARTICLE
    page = "/usr/share/man/de/man1/grep.1.gz"
    if not shutil.which("man") or not subprocess.run(["test", "-f", page]).returncode == 0:
        import pytest
        pytest.skip("German man pages are not installed (apt-get install manpages-de man-db groff)")
    grep = subprocess.run(f"MANWIDTH=80 man -l -Tutf8 {page} | col -bx", shell=True, capture_output=True,
                          text=True, check=True).stdout
    s = make_corpus({ARTICLE.name: ARTICLE.read_text(encoding="utf-8"), "grep.txt": grep})
    bot = Chatbot(s, quiet=True)
    a = bot.ask("Who owns forecasting?")
    assert not a.refused, a.signals
    assert a.citations and all(c.hit.chunk.source.endswith(ARTICLE.name) for c in a.citations)
    assert "Verkaufsprognose" in a.text
    # The German answer to an English question stands out, though its raw score (cross-lingual)
    # is below the copyright line's: its label says so.
    shown = a.to_dict()
    assert shown["citations"][0]["relevance"] == "high", shown["citations"][0]
    assert all(p["relevance"] != "high" for p in shown["passages"] if "Copyright" in p["text"])
    # An option named in the question leads to its definition (dense similarity alone put
    # grep's copyright line first).
    b = bot.ask("What does grep -v do?")
    assert not b.refused and b.citations[0].hit.chunk.source == "corpus/grep.txt"
    assert b.citations[0].hit.chunk.section.endswith("-v, --invert-match"), b.citations[0].hit.chunk.section
    assert "Copyright" not in b.text, b.text  # quoted beside it, once
    # A follow-up naming another option asks about that option instead ("And -c?").
    c = bot.ask("And -c?", [b.query])
    assert c.query == "What does grep -c do?"
    assert c.citations and c.citations[0].hit.chunk.section.endswith("-c, --count"), c.citations
    assert bot.ask("What is the capital of France?").refused


def test_a_lone_licence_is_asked_about_by_its_name(make_corpus):
    # "BSD" is only in the file name of BSD.txt (as "LGPL" in LGPL-2.1.txt): the question was
    # refused as naming something the documents never mention.
    from pathlib import Path
    from bot.chatbot import Chatbot
    s = make_corpus({"BSD.txt": Path("/usr/share/common-licenses/BSD").read_text(encoding="utf-8")})
    bot = Chatbot(s, quiet=True)
    a = bot.ask("Does the BSD licence give any warranty?")
    assert not a.refused, a.signals
    assert "WARRANTIES" in a.text
    assert bot.ask("What does the MIT licence require?").refused  # named nowhere at all


def test_the_name_of_a_lone_document_does_not_draw_the_question_to_its_title(make_corpus, tmp_path):
    # The Artistic License alone: "Artistic License" matched its title and its closing
    # lines better than the definition asked about.
    from pathlib import Path
    from bot import retrieval
    from bot.chatbot import Chatbot
    s = make_corpus({"Artistic.txt": Path("/usr/share/common-licenses/Artistic").read_text(encoding="utf-8")})
    bot = Chatbot(s, quiet=True)
    q = "Was bedeutet „Standard Version“ in der Artistic License?"
    assert retrieval.unnamed(bot.index, q) == "Was bedeutet „Standard Version“ in der License?"
    assert '"Standard Version" refers to such a Package' in bot.ask(q).citations[0].hit.chunk.text


def test_a_name_the_lone_document_says_throughout_is_kept(bot):
    from bot import retrieval
    q = "Was macht ein Vertriebsleiter?"  # the article is vertriebsleiter-vs-vertriebsoperationsleiter.txt
    assert retrieval.unnamed(bot.index, q) == q
