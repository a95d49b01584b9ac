"""The lexical channel on real text: the article and German man pages as a user renders them."""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bot import corpus
from bot.lexical import FILES, LexicalIndex, bm25_weights, split_compound, stem, technical, tokenize

ARTICLE = Path(__file__).resolve().parent.parent / "corpus" / "vertriebsleiter-vs-vertriebsoperationsleiter.txt"

MAN = Path("/usr/share/man/de/man1")


def render(name: str, folder: Path) -> None:
    page = MAN / f"{name}.1.gz"
    if not page.is_file() or not shutil.which("man"):
        pytest.skip(f"German man page {page} is not installed (apt-get install manpages-de)")
    text = subprocess.run(f"MANWIDTH=80 man -l -Tutf8 {page} | col -bx", shell=True, capture_output=True,
                          text=True, check=True).stdout
    (folder / f"{name}.txt").write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def chunks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lexical") / "corpus"
    folder.mkdir()
    shutil.copy(ARTICLE, folder / ARTICLE.name)
    for name in ("find", "du", "crontab"):
        render(name, folder)
    return corpus.chunk_all(corpus.load(folder), 1200)


@pytest.fixture(scope="module")
def lexical(chunks):
    return LexicalIndex.build(chunks)


def best(lexical, chunks, query):
    found = lexical.search(query, 1)
    assert found, f"nothing found for {query!r}"
    return chunks[found[0][0]]


def test_options_and_identifiers_are_found_whole(lexical, chunks):
    assert "--max-depth" in best(lexical, chunks, "--max-depth").text
    assert best(lexical, chunks, "--max-depth").source.endswith("du.txt")
    assert "-maxdepth" in best(lexical, chunks, "What does -maxdepth do?").text
    assert "POSIXLY_CORRECT" in best(lexical, chunks, "POSIXLY_CORRECT").text
    assert "/etc/cron.allow" in best(lexical, chunks, "Wozu dient /etc/cron.allow?").text


def test_technical_tokens_keep_case_and_commands():
    toks = technical("Mit crontab -e bearbeiten; -r und -R unterscheiden sich; siehe /etc/cron.allow.")
    assert {"crontab -e", "-e", "-r", "-R", "/etc/cron.allow"} <= set(toks)
    assert "=-maxdepth" in tokenize("steigt mit \u2010maxdepth hinab", "de")  # groff's hyphen is a dash


def test_line_end_hyphenation_is_joined():
    toks = tokenize("Die Suche wird be\u2010\n          schränkt.", "de")
    assert stem("beschränkt", "de") in toks and "be" not in toks


def test_decompounding_finds_prognose_in_verkaufsprognosen(lexical, chunks):
    assert split_compound("verkaufsprognosen", lexical.known)[-1] == "prognosen"
    hit = best(lexical, chunks, "Prognose")
    assert "prognose" in hit.text.lower()
    # The compound itself is a hit for its head: chunks that only say "Verkaufsprognose" score.
    only_compound = [i for i, c in enumerate(chunks)
                     if "verkaufsprognose" in c.text.lower() and " prognose" not in c.text.lower()]
    assert only_compound
    assert (lexical.score("Prognose", only_compound) > 0).all()


def test_search_agrees_with_score_and_touches_only_matching_chunks(lexical, chunks):
    query = "Wer ist für die Verkaufsprognose zuständig?"
    found = lexical.search(query, len(chunks))
    positions = [p for p, _ in found]
    assert 0 < len(found) < len(chunks)
    assert np.allclose([s for _, s in found], lexical.score(query, positions), rtol=1e-5)
    rest = sorted(set(range(len(chunks))) - set(positions))
    assert not lexical.score(query, rest).any()
    scores = [s for _, s in found]
    assert scores == sorted(scores, reverse=True)


def test_unknown_terms_find_nothing(lexical):
    assert lexical.search("xylophonquartett zzyzx", 10) == []
    assert not lexical.score("xylophonquartett zzyzx", [0, 1, 2]).any()


def test_save_and_load_round_trip(lexical, chunks, tmp_path):
    lexical.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
    again = LexicalIndex.load(tmp_path)
    for q in ("--max-depth", "Verkaufsprognose", "Umgebungsvariable POSIXLY_CORRECT"):
        assert again.search(q, 5) == lexical.search(q, 5)
    assert again.langs == lexical.langs and again.known == lexical.known


def test_split_german_verbs_are_joined_again(lexical, chunks):
    # "Wie zeige ich ... an?" asks about "anzeigen": only the joined verb can match these chunks.
    shows = [i for i, c in enumerate(chunks) if "anzeigen" in c.text and "zeig" not in c.text.replace("anzeigen", "")]
    assert shows
    assert (lexical.score("Wie zeige ich das an?", shows) > 0).all()
    assert (lexical.score("Zeigt du das an?", shows) > 0).all()
    assert not (lexical.score("Wie zeige ich das?", shows) > 0).any()


def test_a_chunk_too_short_to_tell_is_in_its_documents_language(lexical, chunks):
    # "-maxdepth Ebenen / steigt höchstens Ebenen ..." has no function word to go by: as English
    # it was stemmed with the English stemmer and never reached by translated question terms.
    short = [n for n, c in enumerate(chunks) if c.source.endswith("find.txt") and c.section.endswith("-maxdepth Ebenen")]
    assert short and all(lexical.langs[n] == "de" for n in short)
    find = [lexical.langs[n] for n, c in enumerate(chunks) if c.source.endswith("find.txt")]
    assert find.count("en") <= 2  # ("Ausdruck1 -a Ausdruck2": "a" reads as English)



def test_bm25_weights_are_the_ones_bm25s_computes(chunks, lexical):
    # The build computes the Lucene BM25 weights itself (importing bm25s imports scipy, 0.3-0.5 s
    # of every build): bit for bit what bm25s gives for the same tokens.
    import bm25s
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in tokenize(c.text, lang, lexical.known)]
           for c, lang in zip(chunks, lexical.langs)]
    model = bm25s.BM25(k1=1.5, b=0.75)
    model.index(bm25s.tokenization.Tokenized(ids=ids, vocab=dict(vocab)), show_progress=False)
    ptr, docs, weights = bm25_weights(ids, len(vocab), 1.5, 0.75)
    assert np.array_equal(ptr, model.scores["indptr"]) and np.array_equal(docs, model.scores["indices"])
    assert weights.dtype == np.float32 and np.array_equal(weights, model.scores["data"])
    assert vocab == lexical.vocab and np.array_equal(weights, lexical.weights)
