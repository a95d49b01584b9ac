"""Follow-up questions become standalone queries (issue 9 item 6), also across languages."""
import pytest

from bot.conversation import standalone


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
