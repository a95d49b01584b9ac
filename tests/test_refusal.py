"""Refusals: one decision with two errors, checked on both sides.

The questions the documents answer must not be refused, whatever language they are asked in;
the ones they do not answer must be, through the calibrated signal and the others alike. The
XQuAD documents are German Wikipedia paragraphs (tests/data/xquad, CC BY-SA 4.0)."""
import shutil

import pytest

from bot import Settings
from conftest import ROOT

XQUAD = ROOT / "tests" / "data" / "xquad"


@pytest.fixture(scope="module")
def xquad(tmp_path_factory):
    """Four German XQuAD documents, asked about in English and German."""
    from bot.chatbot import Chatbot
    base = tmp_path_factory.mktemp("xquad")
    (base / "corpus").mkdir()
    for name in ("Super_Bowl_50", "American_Broadcasting_Company", "Economic_inequality", "Martin_Luther"):
        shutil.copy(XQUAD / f"{name}.txt", base / "corpus" / f"{name}.txt")
    return Chatbot(Settings(corpus=base / "corpus", index=base / "index"), quiet=True)


@pytest.mark.parametrize("question,gold", [
    # Names the German text spells or translates differently: not absent.
    ("Who did the National Anthem at Super Bowl 50?", "führte die Nationalhymne auf"),
    ("How many Grammys has Lady Gaga won?", "sechs-malige Grammy-Gewinnerin"),
    ("What was the final score of the AFC Championship Game?", "20-18"),
    ("During the Bronco's playoff games, who did not throw at all?", "in den beiden Playoff-Spielen"),
])
def test_english_questions_about_german_documents_are_answered(xquad, question, gold):
    a = xquad.ask(question)
    assert not a.refused, a.signals
    assert any(gold in c.hit.chunk.text for c in a.citations), a.text


@pytest.mark.parametrize("question,signal", [
    ("How much did Disney pay to acquire ABC?", "absent_names"),  # never named, in no spelling
    ("What is the Gini coefficient of the United States?", "absent_names"),
    ("How many children did Martin Luther have?", "number"),  # the passages give years, no count
    ("Wie viele Zuschauer waren beim Super Bowl 50 im Stadion?", "absent_setting"),
])
def test_questions_the_documents_do_not_answer_are_refused(xquad, question, signal):
    a = xquad.ask(question)
    assert a.refused and a.citations == ()
    assert a.signals.get(signal) not in (None, True), a.signals


@pytest.mark.parametrize("question", [
    "Who is responsible for the hotel bookings of the team?",  # the calibrated signal alone refuses it
    "Who owns the team bus?",
    "Who is responsible for the kitchen in a restaurant?",
    "Wer verwaltet die Daten im Krankenhaus?",
])
def test_off_topic_questions_in_the_articles_own_words_are_refused(bot, question):
    assert bot.ask(question).refused


def test_the_calibrated_signal_refuses_on_its_own(bot):
    from bot.refusal import ABSENT_SHARE, MIN_PERCENTILE
    a = bot.ask("Who is responsible for the hotel bookings of the team?")
    s = a.signals
    assert a.refused and s["percentile"] < MIN_PERCENTILE
    # No other signal would have refused it: without the calibration it would be answered.
    assert s["absent"] < ABSENT_SHARE and not s.get("absent_names") and not s.get("absent_setting")
    assert s.get("number") is not False and s.get("amount") is not False


@pytest.mark.parametrize("question", [
    "Who owns forecasting?", "What does a sales operations manager do?", "Wer führt Vorstellungsgespräche?",
    "Who works with the finance team?", "Which role is compared to a coach?", "Wer sorgt für bessere Datenqualität?",
])
def test_questions_the_article_answers_are_not_refused(bot, question):
    a = bot.ask(question)
    assert not a.refused and a.citations, a.signals
