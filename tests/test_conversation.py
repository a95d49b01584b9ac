"""Follow-up questions become standalone queries (issue 9 item 6), also across languages."""
import re

import pytest

from bot.conversation import resolve, standalone


@pytest.mark.parametrize("previous,question,expected", [
    # "which one" stands for the previous question's "which role": a question of its own.
    ("Which role is compared to a coach?", "And which one is compared to a referee?",
     "Which role is compared to a referee?"),
    ("Welche Rolle wird mit einem Trainer verglichen?", "Und welche mit einem Schiedsrichter?",
     "Welche Rolle wird mit einem Schiedsrichter verglichen?"),
    # A mixed-language turn fills the asked-for slot instead of being glued on.
    ("Wer ist für die Verkaufsprognose verantwortlich?", "And the sales manager?",
     "the sales manager ist für die Verkaufsprognose verantwortlich?"),
    ("Who owns forecasting?", "And the sales manager?", "the sales manager owns forecasting?"),
    ("What does a sales manager do in a startup?", "And the sales operations manager?",
     "What does the sales operations manager do in a startup?"),
    ("What does a sales manager do in a startup?", "And in a consulting firm?",
     "What does a sales manager do in a consulting firm?"),
    ("What does the Artistic License say about fees?", "What about the LGPL?", "What does the LGPL say about fees?"),
    ("Wer entwickelt Verkaufsstrategien?", "Und wer analysiert die Daten?", "Wer analysiert die Daten?"),
    ("Who is responsible for CRM systems?", "Which other tools do they manage?",
     "Who is responsible for CRM systems? Which other tools do they manage?"),
    ("Who owns forecasting?", "Who hires salespeople?", "Who hires salespeople?"),
    # An option for an option, with or without a preposition.
    ("What does ls -l do?", "And -a?", "What does ls -a do?"),
    ("Wie zeige ich mit grep -B 3 Zeilen vor dem Treffer?", "Und mit -A?",
     "Wie zeige ich mit grep -A 3 Zeilen vor dem Treffer?"),
    ("What does ls -l do?", "What about --all?", "What does ls --all do?"),
    ("What does grep -v do?", "What about -r?", "What does grep -r do?"),
    # Another subject for the asked-for one, in either language; never in place of the object.
    ("Which role is compared to a referee?", "Und der Vertriebsleiter?", "der Vertriebsleiter is compared to a referee?"),
    ("Wer ist für die Verkaufsprognose verantwortlich?", "Und der Vertriebsleiter?",
     "der Vertriebsleiter ist für die Verkaufsprognose verantwortlich?"),
])
def test_followups_become_standalone_queries(previous, question, expected):
    assert standalone(question, [previous]) == expected


def test_a_noun_phrase_in_another_language_is_replaced_by_meaning(bot):
    query = standalone("And the sales operations manager?", ["Was macht ein Vertriebsleiter in einem Startup?"],
                       bot._similar)
    assert query == "Was macht the sales operations manager in einem Startup?"


def test_mixed_language_followups_find_the_gold_passage(bot):
    first = bot.ask("Wer ist für die Verkaufsprognose verantwortlich?")
    second = bot.ask("And the sales manager?", [first.query])
    assert "Verkaufsprognose" in second.query and "sales manager" in second.query
    assert not second.refused
    first = bot.ask("Which role is compared to a coach?")
    second = bot.ask("And which one is compared to a referee?", [first.query])
    assert second.query == "Which role is compared to a referee?"
    assert any("Schiedsrichter" in c.hit.chunk.text for c in second.citations)


@pytest.mark.parametrize("turn,lang", [("Thanks!", "en"), ("ok", "en"), ("Okay, thanks!", "en"), ("Danke!", "de"),
                                       ("Vielen Dank.", "de"), ("Super, danke!", "de"), ("Hallo", "de")])
def test_a_turn_that_asks_nothing_is_not_searched(turn, lang):
    t = resolve(turn, ["Who owns forecasting?"])
    assert t.kind == "social" and t.query == "" and t.lang == lang and t.reply


@pytest.mark.parametrize("question", ["Thanks, and who hires salespeople?", "Is that okay?", "OK to copy the code?"])
def test_a_question_with_a_polite_word_is_still_a_question(question):
    assert resolve(question, ["Who owns forecasting?"]).kind != "social"


def test_a_subject_swap_is_told_apart_from_other_followups():
    assert resolve("And the sales manager?", ["Who owns forecasting?"]).kind == "swap"
    assert resolve("And the sales operations manager?", ["What does a sales manager do in a startup?"]).kind == "followup"
    assert resolve("And -a?", ["What does ls -l do?"]).kind == "followup"


def _mentions_sales_manager(answer) -> bool:
    """Whether a quoted sentence is about the sales manager: 'Vertriebsleiter', not only '...operationsleiter'."""
    quoted = [c.hit.chunk.text[s:e] for c in answer.citations for s, e in c.highlights]
    return any(re.search(r"\bVertriebsleiter(?:n|s)?\b", q) for q in quoted)


def test_another_subject_is_not_answered_with_the_previous_answer(bot):
    first = bot.ask("Who owns forecasting?")
    second = bot.ask("And the sales manager?", [first.query])
    assert second.query == "the sales manager owns forecasting?" and not second.refused
    assert second.citations[0].hit.chunk.id != first.citations[0].hit.chunk.id
    assert _mentions_sales_manager(second)
    # The same in German, one turn asking nothing in between.
    first = bot.ask("Wer ist für die Verkaufsprognose verantwortlich?")
    thanks = bot.ask("Danke!", [first.query])
    assert thanks.query == "" and thanks.hits == () and not thanks.refused and thanks.text.startswith("Gern")
    second = bot.ask("Und der Vertriebsleiter?", [first.query, thanks.query])
    assert second.query == "der Vertriebsleiter ist für die Verkaufsprognose verantwortlich?"
    assert second.citations[0].hit.chunk.id != first.citations[0].hit.chunk.id and _mentions_sales_manager(second)


def test_the_other_role_of_a_comparison(bot):
    first = bot.ask("Which role is compared to a referee?")
    assert "Schiedsrichter" in first.citations[0].hit.chunk.text
    second = bot.ask("Und der Vertriebsleiter?", [first.query])
    assert "Trainer" in second.citations[0].hit.chunk.text and "Schiedsrichter" not in second.citations[0].hit.chunk.text


def test_thanks_is_answered_briefly_without_a_search(bot):
    a = bot.ask("Thanks!", ["Who owns forecasting?"])
    assert a.text.startswith("You're welcome") and a.query == "" and a.hits == () and a.citations == ()
    d = a.to_dict()
    assert d["passages"] == [] and d["citations"] == [] and d["refused"] is False
