"""The PostgreSQL + pgvector store against a real server (pgserver, see conftest.pg_server): the
same answers as the index folder, generations that readers only ever see whole, one builder at
a time, and two servers over one database that agree and share a re-index."""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from bot import Settings, build
from bot.cli import main
from bot.stores import open_store
from conftest import ARTICLE, ROOT, in_threads, pg_database
# The answer and citation tests of the index folder, collected again here: over PostgreSQL,
# through the `bot` fixture of this module.
from test_answers import (  # noqa: F401
    test_answer_has_no_repeated_sentences_and_keeps_german_quotes,
    test_answer_quotes_the_forecasting_sentence_with_a_citation,
    test_development_answers_meet_the_bar,
    test_development_conversations_retrieve_gold_on_last_turn,
    test_followup_is_rewritten_into_a_standalone_query,
    test_how_many_questions_need_a_number_in_the_passages,
    test_refusals_on_the_article_half_of_the_multi_corpus_dev_set,
    test_unanswerable_questions_are_refused_in_the_askers_language,
)

MULTI = json.loads((ROOT / "tests" / "data" / "dev" / "questions.json").read_text(encoding="utf-8"))
# The article's questions of the multi-corpus dev set, both halves, answerable or not.
ARTICLE_QUESTIONS = [i["q"] for kind in ("questions", "unanswerable") for i in MULTI[kind] if i["corpus"] == "article"]
ZANZIBAR = ("# Zanzibar\n\nThe Zanzibar protocol is owned by the platform team, led by Priya Raman.\n\n"
            "Über den Zanzibar-Ausfall berichtet das Plattform-Team jeden Montag.\n")


def run_bot(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def same_answer(a: dict, b: dict) -> None:
    def passages(d):
        return [(p["source"], p["start_line"], p["end_line"], p["text"]) for p in d["passages"]]
    assert passages(a) == passages(b), a["question"]
    assert (a["answer"], a["refused"], a["query"]) == (b["answer"], b["refused"], b["query"])
    assert np.allclose([p["score"] for p in a["passages"]], [p["score"] for p in b["passages"]], atol=1e-5)


@pytest.fixture(scope="module")
def article_store(pg_server, tmp_path_factory):
    """The article indexed into a fresh database by the CLI, as a team would. Only subprocesses
    connect to it, so the tests below can copy it (CREATE DATABASE ... TEMPLATE) instead of
    embedding the article again."""
    corpus = tmp_path_factory.mktemp("pg-article") / "corpus"
    corpus.mkdir()
    shutil.copy(ARTICLE, corpus / ARTICLE.name)
    url = pg_database(pg_server, "article")
    out = run_bot("index", "--corpus", corpus, "--store", url)
    assert out.returncode == 0, out.stderr
    assert "Indexed 1 file(s), 22 chunks" in out.stdout and "-> postgresql://postgres@/article?host=" in out.stdout
    return corpus, url


def store_copy(server, article_store, name: str, folder) -> Settings:
    """A new database copied from the article store, and a corpus folder of its own."""
    shutil.copytree(article_store[0], folder / "corpus")
    url = pg_database(server, name, template="article")
    return Settings(corpus=folder / "corpus", index=folder / "no-index-folder", store=url,
                    feedback=folder / "feedback.jsonl")


@pytest.fixture(scope="module")
def bot(pg_server, article_store, tmp_path_factory):
    """The chatbot over a PostgreSQL copy of the article store (for the answer tests imported above)."""
    from bot import Chatbot
    settings = store_copy(pg_server, article_store, "answers", tmp_path_factory.mktemp("pg-answers"))
    chatbot = Chatbot(settings, quiet=True)
    assert chatbot.index.manifest["store"] == "postgresql" and not settings.index.exists()
    return chatbot


def test_index_and_ask_over_postgres_give_the_folder_stores_answers(article_store, article_settings):
    from bot import Chatbot
    corpus, url = article_store
    out = run_bot("ask", "--json", "--corpus", corpus, "--store", url, *ARTICLE_QUESTIONS)
    assert out.returncode == 0, out.stderr
    over_postgres = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(over_postgres) == len(ARTICLE_QUESTIONS) >= 30
    folder = Chatbot(article_settings, quiet=True)
    for q, got in zip(ARTICLE_QUESTIONS, over_postgres):
        same_answer(got, folder.ask(q).to_dict())


def test_vectors_round_trip_and_pgvector_search_is_exact_here(bot, article_settings):
    folder = build.ensure(article_settings, quiet=True)
    index = bot.index
    assert index.faiss_index.ntotal == folder.faiss_index.ntotal == len(index.rows)
    assert np.array_equal(index.rows, folder.rows)
    vectors = index.vectors
    assert np.allclose(vectors, folder.vectors, atol=1e-6)
    for q in vectors[::7]:  # oracle: pgvector's top rows are numpy's brute-force top rows
        _, rows = index.search(q, 10)
        assert np.allclose(np.sort(vectors[rows] @ q), np.sort(vectors @ q)[-10:], atol=1e-6)
    got, counts = index.chunk_vectors([0, 5, 21])
    assert np.array_equal(got, np.concatenate([vectors[index.chunk_rows[p]:index.chunk_rows[p + 1]]
                                               for p in (0, 5, 21)])) and counts.sum() == len(got)


def test_verify_checks_the_stored_blobs(pg_server, article_store, tmp_path, capsys):
    import psycopg
    s = store_copy(pg_server, article_store, "verify", tmp_path)
    args = ["index", "--verify", "--corpus", str(s.corpus), "--store", s.store]
    assert main(args) == 0
    assert "5 blobs match their checksums, 80 vectors" in capsys.readouterr().out
    with psycopg.connect(s.store, autocommit=True) as conn:
        conn.execute("UPDATE bot_blobs SET data = data || '\\x20'::bytea WHERE name = 'calibration.json'")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "calibration.json in postgresql://postgres@/verify" in err


def active(conn) -> int:
    return conn.execute("SELECT gen FROM bot_active").fetchone()[0]


def test_a_build_stopped_midway_leaves_the_previous_generation_whole(pg_server, article_store, tmp_path):
    """A builder is held at its last step (making its generation active) by a row lock, so it
    has written everything else: a reader then still loads the old generation and sees nothing
    of the new one; the builder's connection is then killed, and the old generation stays."""
    import psycopg
    s = store_copy(pg_server, article_store, "midway", tmp_path)
    (s.corpus / "zanzibar.md").write_text(ZANZIBAR, encoding="utf-8")
    with psycopg.connect(s.store, autocommit=True) as watch, psycopg.connect(s.store) as holder:
        before = active(watch)
        holder.execute("SELECT gen FROM bot_active FOR UPDATE")  # a transaction that holds the row
        proc = subprocess.Popen([sys.executable, "-m", "bot", "index", "--corpus", str(s.corpus), "--store", s.store],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline, pid = time.monotonic() + 240, None
            while pid is None and time.monotonic() < deadline and proc.poll() is None:
                row = watch.execute("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                    "AND query LIKE 'INSERT INTO bot_active%'").fetchone()
                pid = row[0] if row else time.sleep(0.2)
            assert pid is not None, proc.communicate()[1]
            # Midway: vectors, HNSW graph, chunks and blobs of the new generation are written, not committed.
            index = open_store(s).load()
            assert index.manifest["generation"] == before and len(index.chunks) == 22
            assert all(c.source != "corpus/zanzibar.md" for c in index.chunks)
            assert watch.execute("SELECT count(*) FROM bot_generations WHERE gen > %s", (before,)).fetchone()[0] == 0
            assert watch.execute("SELECT to_regclass(%s)", (f"bot_vectors_{before + 1}",)).fetchone()[0] is None
            watch.execute("SELECT pg_terminate_backend(%s)", (pid,))
        finally:
            holder.rollback()
            out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1 and "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith(
            "error: writing the index to postgresql://postgres@/midway?host=")
        assert "the previous one stays" in err
        assert active(watch) == before
        assert watch.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'bot_vectors_%'").fetchone()[0] == 1
    assert open_store(s).load().manifest["generation"] == before


def test_two_builders_take_turns(pg_server, article_store, tmp_path):
    """Two processes' worth of builders (threads with their own connections) find the store stale at
    once: the advisory lock lets one build; the other waits, finds it fresh and loads it."""
    import psycopg
    s = store_copy(pg_server, article_store, "turns", tmp_path)
    (s.corpus / "zanzibar.md").write_text(ZANZIBAR, encoding="utf-8")
    with psycopg.connect(s.store, autocommit=True) as conn:
        before = active(conn)
    assert build.stale_reason(s) == "the corpus changed: 1 added file(s)"
    got = []
    in_threads(lambda: got.append(build.ensure(s, quiet=True).manifest), timeout=240)
    assert [m["generation"] for m in got] == [before + 1, before + 1]
    # Vectors of unchanged texts come from the store: the article's 58 sentences. (With a second
    # document each chunk is embedded with its document's name, so its 22 chunk texts changed.)
    assert got[0]["rows"] == 82 and got[0]["texts_embedded"] == 22 + 2
    with psycopg.connect(s.store, autocommit=True) as conn:
        assert [g for (g,) in conn.execute("SELECT gen FROM bot_generations ORDER BY gen")] == [before, before + 1]
    assert build.stale_reason(s) is None


@pytest.mark.slow
def test_two_servers_over_one_store_agree_and_share_a_reindex(pg_server, article_store, tmp_path):
    """`serve` twice, on two ports, over one database and one corpus folder: the same answers,
    and a document uploaded through the first is answered by the second, which was not restarted."""
    from gradio_client import Client, handle_file
    from ui_server import free_port, wait_until_up
    s = store_copy(pg_server, article_store, "servers", tmp_path)
    urls, procs = [], []
    try:
        for _ in range(2):
            port = free_port()
            procs.append(subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port), "--corpus",
                                           str(s.corpus), "--store", s.store], cwd=ROOT,
                                          env={**os.environ, "BOT_FEEDBACK": str(s.feedback)},  # audit log too
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            urls.append(f"http://127.0.0.1:{port}/")
        for url in urls:
            if not wait_until_up(url, 180):
                pytest.fail(f"{url} did not come up in 180 s")
        a, b = (Client(url, verbose=False) for url in urls)
        for q in ARTICLE_QUESTIONS[:6]:
            same_answer(a.predict(q, api_name="/ask"), b.predict(q, api_name="/ask"))
        assert b.predict("Who owns the Zanzibar protocol?", api_name="/ask")["refused"]  # not there yet

        doc = tmp_path / "zanzibar.md"
        doc.write_text(ZANZIBAR, encoding="utf-8")
        _, _, notice = a.predict([handle_file(str(doc))], False, api_name="/upload")
        assert "Added zanzibar.md" in notice and "2 documents" in notice
        got = b.predict("Who owns the Zanzibar protocol?", api_name="/ask")
        assert not got["refused"] and got["citations"][0]["source"] == "corpus/zanzibar.md"
        assert "Priya Raman" in got["answer"]
        same_answer(got, a.predict("Who owns the Zanzibar protocol?", api_name="/ask"))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


@pytest.mark.slow
def test_a_server_over_the_store_keeps_answering_eight_askers_through_a_reindex(pg_server, article_store, tmp_path):
    from test_build import ask_through_an_upload
    s = store_copy(pg_server, article_store, "busy", tmp_path)
    got = ask_through_an_upload(["--store", s.store], s.corpus, tmp_path)
    assert "Added sort.md" in got["notice"] and got["reindex"] > 3
    assert max(got["during"]) < got["reindex"] / 4  # no answer waited for the new generation
    assert np.percentile(got["during"], 90) < np.percentile(got["quiet"], 90) + 1.0
    assert got["growth"] < 100 and got["found"] == "corpus/sort.md"


def test_a_wrong_store_url_is_one_line_without_the_password(capsys):
    out = run_bot("ask", "--store", "postgresql://nobody@127.0.0.1:1/x", "q", timeout=60)
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: cannot connect to postgresql://nobody@127.0.0.1:1/x (connection refused)")
    assert main(["ask", "--store", "postgresql://nobody:hunter2@127.0.0.1:1/x", "q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nobody:***@127.0.0.1:1/x" in err and "hunter2" not in err
    assert main(["ask", "--store", "index-folder", "q"]) == 1
    assert "--store takes a PostgreSQL URL such as postgresql://user@host/db" in capsys.readouterr().err


def test_a_database_without_pgvector_says_how_to_add_it(pg_server, tmp_path, capsys):
    import psycopg
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'plain'").fetchone():
            conn.execute("CREATE ROLE plain LOGIN")  # not a superuser: may not create the extension
        conn.execute("DROP DATABASE IF EXISTS plain")
        conn.execute("CREATE DATABASE plain OWNER plain")
    url = pg_server.get_uri("plain").replace("postgres:@", "plain@")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(ARTICLE, corpus / ARTICLE.name)
    started = time.monotonic()
    assert main(["index", "--corpus", str(corpus), "--store", url]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: the database {url} has no pgvector extension: run CREATE EXTENSION vector; " \
                      "in it as a superuser"
    assert time.monotonic() - started < 10  # said before embedding anything
