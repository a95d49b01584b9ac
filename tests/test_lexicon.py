"""The corpus-pruned Ding lexicon: cross-lingual terms, pruning, glosses."""
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from bot import corpus, ding
from bot.lexical import LexicalIndex, normalise, stem, stopwords, words
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
    assert lexicon.gloss("Verkaufsprognose") == ["sales forecast (composed: Verkauf + Prognose)"]
    assert lexicon.gloss("Kundenzufriedenheit") == ["customer satisfaction"]


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



ENGLISH = ("Permission is granted to copy and distribute verbatim copies of this license document.\n\n"
           "The software is provided without warranty of any kind; the authors are not liable for damages.\n")


@pytest.fixture(scope="module")
def small_dictionary(tmp_path_factory):
    """Every 14th line of the real dictionary: the same format and all of the alphabet, a
    fourteenth of the parsing."""
    path = tmp_path_factory.mktemp("ding") / "de-en"
    with open(DEFAULT, encoding="utf-8") as fh:
        path.write_text("".join(line for n, line in enumerate(fh) if n % 14 == 0), encoding="utf-8")
    return path


def reference_slice(chunks, lexical, path: Path) -> tuple[dict, dict, dict]:
    """The slice as Lexicon.build computed it before the per-machine index (issue 21): every
    line of the dictionary read and parsed for this corpus. The index must give the same."""
    vocab = {"de": set(), "en": set()}
    for c, lang in zip(chunks, lexical.langs):
        vocab[lang].update(lexical.tokens(c.text, lang))
    fold = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss"})
    heads = {lang: {s.translate(fold)[:4] for s in vocab[lang]} for lang in vocab}

    def quick(w: str, lang: str) -> str:  # a word counts for a line only if it starts like a corpus stem
        f = w.translate(fold)
        return stem(w, lang) if f[:4] in heads[lang] or f[:3] in heads[lang] else ""

    def known(sub_entry: str, lang: str) -> bool:
        return any(stem(w, lang) in vocab[lang] for w in words(normalise(sub_entry)))

    def target(ws: list[str], lang: str) -> list[str] | None:
        out = [stem(w, lang) for w in ws if w not in stopwords()]
        return out if out and all(s in vocab[lang] for s in out) else None

    def add(table, k, alt):
        alts = table.setdefault(k, [])
        if alt not in alts:
            alts.append(alt)

    en_de, de_en, glosses = {}, {}, {}
    for line in path.read_text(encoding="utf-8", errors="replace").split("\n"):
        if line.startswith("#") or " :: " not in line:
            continue
        de, en = line.split(" :: ", 1)
        want_de = any(quick(w, "de") in vocab["de"] for w in re.findall(r"[^\W\d_]{3,}", de.lower()))
        want_en = any(quick(w, "en") in vocab["en"] for w in re.findall(r"[^\W\d_]{3,}", en.lower()))
        de_subs, en_subs = de.split(" | "), en.split(" | ")
        if not (want_de or want_en) or len(de_subs) != len(en_subs):
            continue
        for n, (d, e) in enumerate(zip(de_subs, en_subs)):
            need_de, need_en = want_de and known(d, "de"), want_en and known(e, "en")
            de_terms = [t for t in (ding.clean(x, "de") for x in d.split(";")) if t]
            en_terms = [t for t in (ding.clean(x, "en") for x in e.split(";")) if t]
            if not (need_de or need_en) or not de_terms or not en_terms:
                continue
            for dws in de_terms if need_de else ():
                alt = target(dws, "de")
                if alt is None:
                    continue
                for ews in en_terms:
                    if len(ews) > 1 or ews[0] not in stopwords():
                        add(en_de, ding.key(ews, "en"), alt)
                if n == 0 and len(dws) == 1:
                    g = glosses.setdefault(dws[0], [ding.headword(d, dws[0]), []])
                    for ews in en_terms:
                        if len(g[1]) < ding.MAX_GLOSSES and " ".join(ews) not in g[1]:
                            g[1].append(" ".join(ews))
            for ews in en_terms if need_en else ():
                alt = target(ews, "en")
                if alt is None:
                    continue
                for dws in de_terms:
                    if len(dws) > 1 or dws[0] not in stopwords():
                        add(de_en, ding.key(dws, "de"), alt)
    return en_de, de_en, glosses


def test_the_slice_is_the_one_the_dictionary_gives(chunks, small_dictionary, tmp_path, monkeypatch):
    # German text (the article), English text and both at once: the same entries, in the same
    # order, as reading the whole dictionary for the corpus gives.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    english = corpus.chunk_all([corpus.read(Path("licence.txt"), "corpus/licence.txt", ENGLISH.encode())], 1200)
    for corpus_chunks in (chunks, english, chunks + english):
        lexical = LexicalIndex.build(corpus_chunks)
        vocab = {"de": set(), "en": set()}  # as Lexicon.build collects it
        for c, lang in zip(corpus_chunks, lexical.langs):
            vocab[lang].update(lexical.tokens(c.text, lang))
        sliced = ding.Dictionary(small_dictionary).slice(vocab)
        got = json.dumps(sliced, ensure_ascii=False)
        assert got == json.dumps(reference_slice(corpus_chunks, lexical, small_dictionary), ensure_ascii=False)
        built = Lexicon.build(corpus_chunks, small_dictionary, lexical=lexical)
        assert [built.en_de, built.de_en] == [sliced[0], sliced[1]]  # the lexicon's glosses: glosses.py's
    assert all(sliced)  # each table was compared with something in it


def test_a_slice_is_a_lookup_well_under_a_second(chunks, lexicon):
    # The per-machine index exists once the lexicon fixture has been built.
    lexical = LexicalIndex.build(chunks)
    seconds = []
    for _ in range(3):
        t = time.perf_counter()
        Lexicon.build(chunks, lexical=lexical)
        seconds.append(time.perf_counter() - t)
    assert sorted(seconds)[1] < 0.5  # measured 0.03-0.1 s; the old parse took 7 s for the article


def test_the_dictionary_index_is_cached_and_survives_damage(chunks, small_dictionary, tmp_path, monkeypatch):
    # The dictionary is parsed once per machine, not per index build; the cached index
    # changes nothing, and a damaged cache file is computed again and replaced.
    same = lambda lx: json.dumps([lx.en_de, lx.de_en, lx.glosses])  # noqa: E731
    (tmp_path / "no-cache").write_text("a file, so no cache folder can be made under it")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "no-cache"))
    uncached = same(Lexicon.build(chunks, small_dictionary))
    assert len(json.loads(uncached)[0]) > 100
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert same(Lexicon.build(chunks, small_dictionary)) == uncached
    cached = list((tmp_path / "cache" / "bot").glob("ding-*.idx"))
    assert len(cached) == 1
    assert same(Lexicon.build(chunks, small_dictionary)) == uncached
    size = cached[0].stat().st_size
    for damage in (b"bot-ding not an index", cached[0].read_bytes()[:size // 2]):
        cached[0].write_bytes(damage)
        assert same(Lexicon.build(chunks, small_dictionary)) == uncached
        assert cached[0].stat().st_size == size and not list(cached[0].parent.glob("*.tmp"))
