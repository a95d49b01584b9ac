"""The corpus-pruned Ding lexicon: cross-lingual terms, pruning, glosses."""
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from bot import corpus
from bot.lexical import LexicalIndex, stem
from bot.lexicon import DEFAULT, FILES, Lexicon

ARTICLE = Path(__file__).resolve().parent.parent / "corpus" / "vertriebsleiter-vs-vertriebsoperationsleiter.txt"

pytestmark = pytest.mark.skipif(not DEFAULT.is_file(),
                                reason=f"{DEFAULT} is missing: apt-get install trans-de-en")


@pytest.fixture(scope="module")
def chunks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lexicon") / "corpus"
    folder.mkdir()
    shutil.copy(ARTICLE, folder / ARTICLE.name)
    return corpus.chunk_all(corpus.load(folder), 1200)


@pytest.fixture(scope="module")
def lexicon(chunks):
    return Lexicon.build(chunks)


def test_phrase_translates_to_the_german_compound(lexicon):
    stems = dict(lexicon.translate("How is customer satisfaction measured?", "de"))
    assert stem("kundenzufriedenheit", "de") in stems
    assert stem("prognose", "de") in dict(lexicon.translate("Who owns forecasting?", "de"))


def test_translation_only_towards_the_other_language(lexicon):
    # An English question on English passages is matched on its own words only.
    # (Here none of them occurs in the corpus, so nothing is left to match.)
    assert stem("prognose", "de") not in dict(lexicon.translate("Who owns forecasting?", "en"))
    assert set(dict(lexicon.translate("Who owns forecasting?", "en"))) <= {stem("owns", "en"), stem("forecasting", "en")}


def test_pruning_keeps_the_lexicon_small_and_quick(lexicon, tmp_path):
    assert 0 < len(lexicon.en_de) < 10_000  # the whole dictionary has about 200,000 lines
    assert lexicon.de_en == {}  # no English passage in the article: nothing to translate to
    lexicon.lexical.save(tmp_path)
    lexicon.save(tmp_path)
    assert (tmp_path / FILES[0]).stat().st_size < 1_000_000
    t = time.perf_counter()
    again = Lexicon.load(tmp_path)
    assert time.perf_counter() - t < 0.5  # measured about 5 ms; the bound leaves room for a busy machine
    assert again.en_de == lexicon.en_de and again.glosses == lexicon.glosses


def test_gloss_of_a_compound_by_parts(lexicon):
    glosses = lexicon.gloss("Verkaufsprognose")
    assert any(g.startswith("Verkauf:") and "sale" in g for g in glosses)
    assert any(g.startswith("Prognose:") and "forecast" in g for g in glosses)
    assert lexicon.gloss("Kundenzufriedenheit") == ["Kundenzufriedenheit: customer satisfaction"]


def test_coverage_prefers_the_passage_with_the_translated_terms(lexicon, chunks):
    positions = np.arange(len(chunks))
    cov = lexicon.coverage("Who is responsible for sales forecasting?", positions)
    best = chunks[int(np.argmax(cov))].text
    assert "prognose" in best.lower()
    assert cov.max() > 0 and cov.min() < cov.max()


def test_missing_dictionary_gives_none_and_one_note(chunks, tmp_path, capsys):
    import bot.lexicon as mod
    mod._noted = False
    assert Lexicon.build(chunks, tmp_path / "nothing-here") is None
    assert Lexicon.build(chunks, tmp_path / "nothing-here") is None
    err = capsys.readouterr().err
    assert err.count("apt-get install trans-de-en") == 1



def test_the_dictionary_line_index_is_cached_and_survives_damage(chunks, tmp_path, monkeypatch):
    # The dictionary is stemmed once per machine, not per index build; the cached index
    # changes nothing, and a damaged cache file is computed again and replaced.
    import json
    small = tmp_path / "de-en"  # a slice of the real dictionary: same format, less to stem
    with open(DEFAULT, encoding="utf-8") as fh:
        small.write_text("".join(line for _, line in zip(range(15_000), fh)), encoding="utf-8")
    same = lambda lx: json.dumps([lx.en_de, lx.de_en, lx.glosses], sort_keys=True)  # noqa: E731
    (tmp_path / "no-cache").write_text("a file, so no cache folder can be made under it")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "no-cache"))
    uncached = same(Lexicon.build(chunks, small))
    assert len(json.loads(uncached)[0]) > 100
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert same(Lexicon.build(chunks, small)) == uncached
    cached = list((tmp_path / "cache" / "bot").glob("ding-*.npz"))
    assert len(cached) == 1
    assert same(Lexicon.build(chunks, small)) == uncached
    cached[0].write_bytes(b"PK\x03\x04 not a zip")
    assert same(Lexicon.build(chunks, small)) == uncached
    assert cached[0].stat().st_size > 10_000 and not list(cached[0].parent.glob("*.tmp*"))
