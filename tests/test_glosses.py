"""Glosses of German nouns for English askers: sub-entries, senses of the noun, composed compounds.

The parsing and choosing run on literal Ding lines; the article's key words on the installed
dictionary (Debian's trans-de-en), skipped with one line where it is missing.
"""
import pytest

from bot import glosses

LEITER = ("Leiter {m}; Leiterin {f} (eines Unternehmensbereichs) [econ.] | Leiter {pl}; Leiterinnen {pl} | "
          "Verkaufsleiter {m}; Vertriebsleiter {m} :: manager (of a corporate division) | managers | sales manager")
ROLLE = ("Rolle {f} (Theater; Film) [art] | Rollen {pl} | die Rollen vertauschen :: theatrical role; role; part | "
         "theatrical roles; roles; parts | to reverse roles")
SPIELEN = "spielen {vi} | spielend :: to play | playing"


def test_a_line_gives_each_one_word_german_term_its_sub_entry():
    senses = glosses.parse_line(LEITER)
    by_word = {s.word: s for s in senses}
    # The sub-entry, not the line's first sense: "Vertriebsleiter" is the third.
    assert by_word["vertriebsleiter"].english == ("sales manager",)
    assert by_word["vertriebsleiter"].spelling == "Vertriebsleiter" and by_word["vertriebsleiter"].noun
    assert not by_word["vertriebsleiter"].first and by_word["verkaufsleiter"].first
    leiter = [s.english for s in senses if s.word == "leiter"]
    assert leiter == [("manager",), ("managers",)]  # annotations dropped; the plural is a sense of its own
    # A ';' inside brackets does not split a synonym: "(Theater; Film)" stays with "Rolle".
    rolle = [s for s in glosses.parse_line(ROLLE) if s.word == "rolle"]
    assert len(rolle) == 1 and rolle[0].english == ("theatrical role", "role", "part")
    assert not any(s.word.startswith("die") for s in glosses.parse_line(ROLLE))  # phrases are no terms
    assert not [s for s in glosses.parse_line(SPIELEN) if s.noun]


def test_a_gloss_is_the_first_noun_senses_each_once():
    senses = (glosses.parse_line("Funktion {f}; Rolle {f} [soc.] :: role; rôle")
              + glosses.parse_line("rollen {vi} :: to roll")
              + glosses.parse_line(ROLLE)
              + glosses.parse_line("Rolle {f} :: chute; pass")
              + glosses.parse_line("Rolle {f}; Rädchen {n} :: roll; roller"))
    senses = [s for s in senses if s.word == "rolle"]
    # Senses where the word comes first, in the dictionary's order; then the rest; nouns only.
    # "theatrical role; role; part" reads as the plain "role" it narrows.
    assert glosses.choose(senses) == ["role", "chute", "roll"]
    assert glosses.choose(senses, 5) == ["role", "chute", "roll"]  # the [soc.] "role" is the same meaning
    variants = glosses.parse_line("Rolle {f} :: rôle") + glosses.parse_line("Rolle {f} | Rollen {pl} :: role | roles")
    assert glosses.choose([s for s in variants if s.word == "rolle"]) == ["rôle"]  # one meaning, shown once


@pytest.fixture(scope="module")
def table():
    if not glosses.DEFAULT.is_file():
        pytest.skip(f"{glosses.DEFAULT} is missing: apt-get install trans-de-en")
    words = ["Vertriebsleiter", "Vertriebsoperationsleiter", "Verkaufsprognose", "Verkaufsziele", "Planung", "Rolle",
             "Teammitglieder", "Darüber", "Pipeline-Management", "Xyzzyquux"]
    return glosses.build(words)


def test_the_articles_key_words(table):
    assert table["vertriebsleiter"] == ["Vertriebsleiter", ["sales manager"], []]  # a sub-entry of "Leiter"
    assert table["vertriebsoperationsleiter"] == ["Vertriebsoperationsleiter", ["sales operations manager"],
                                                  ["Vertrieb", "Operation", "Leiter"]]  # no entry: composed
    assert table["verkaufsprognose"][1:] == [["sales forecast"], ["Verkauf", "Prognose"]]
    assert table["verkaufsziele"][1] == ["sales targets"]  # a plural sub-entry
    assert table["teammitglieder"][1] == ["team members"]


def test_senses_are_few_and_fit_a_noun(table):
    planung = table["planung"][1]
    assert planung[0] == "planning" and len(planung) <= glosses.SENSES
    rolle = table["rolle"][1]
    assert len(rolle) <= glosses.SENSES and "role" in rolle
    assert "rôle" not in rolle and "sheave" not in rolle  # a spelling variant and a pulley: not the first senses
    assert "darüber" not in table and "xyzzyquux" not in table  # an adverb; no entry, no parts


def test_lookup_marks_composed_glosses_and_skips_lowercase_words(table):
    assert glosses.lookup(table, "Vertriebsleiter") == ["sales manager"]
    assert glosses.lookup(table, "Vertriebsoperationsleiter") == [
        "sales operations manager (composed: Vertrieb + Operation + Leiter)"]
    assert glosses.lookup(table, "vertriebsleiter") == []  # lowercase: not a noun
    pieces = glosses.lookup(table, "Pipeline-Management")
    assert pieces and all(p.split(":")[0] in ("Pipeline", "Management") for p in pieces)
    assert glosses.build(["Vertriebsleiter"], glosses.DEFAULT.parent / "nothing-here") == {}


def test_the_per_machine_index_is_reused_and_a_damaged_one_made_again(tmp_path, monkeypatch):
    if not glosses.DEFAULT.is_file():
        pytest.skip(f"{glosses.DEFAULT} is missing: apt-get install trans-de-en")
    small = tmp_path / "de-en"  # the first lines of the real dictionary: its format, less to parse
    with open(glosses.DEFAULT, encoding="utf-8") as fh:
        small.write_text("".join(line for _, line in zip(range(15_000), fh)), encoding="utf-8")
    words = ["Abteilung", "Abteilungsleiter", "Absatzziele", "Abend", "Ablauf"]
    (tmp_path / "no-cache").write_text("a file, so no cache folder can be made under it")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "no-cache"))
    uncached = glosses.build(words, small)
    assert uncached and all(len(entry[1]) <= glosses.SENSES for entry in uncached.values())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert glosses.build(words, small) == uncached
    made = list((tmp_path / "cache" / "bot").glob("glosses-*.npz"))
    assert len(made) == 1 and glosses.build(words, small) == uncached
    made[0].write_bytes(b"PK\x03\x04 not a zip")
    assert glosses.build(words, small) == uncached
    assert made[0].stat().st_size > 10_000 and not list(made[0].parent.glob("*.tmp*"))
