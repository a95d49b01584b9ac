import os
import shutil
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from bot import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = ROOT / "corpus" / "vertriebsleiter-vs-vertriebsoperationsleiter.txt"
QUESTIONS = ROOT / "tests" / "data" / "questions.json"


@pytest.fixture(scope="session")
def article_settings(tmp_path_factory) -> Settings:
    """A corpus folder holding only the article, and where its index goes."""
    base = tmp_path_factory.mktemp("article")
    (base / "corpus").mkdir()
    shutil.copy(ARTICLE, base / "corpus" / ARTICLE.name)
    return Settings(corpus=base / "corpus", index=base / "index", feedback=base / "feedback.jsonl")


@pytest.fixture(scope="session")
def bot(article_settings):
    """The real chatbot over the article, with the real E5 model and FAISS index (built once)."""
    from bot import Chatbot
    return Chatbot(article_settings, quiet=True)


@pytest.fixture
def make_corpus(tmp_path):
    """Write {name: text} into a fresh corpus folder and return its Settings."""
    def make(files: dict[str, str | bytes], **settings) -> Settings:
        corpus = tmp_path / "corpus"
        corpus.mkdir(exist_ok=True)
        for name, content in files.items():
            path = corpus / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return Settings(corpus=corpus, index=tmp_path / "index", feedback=tmp_path / "feedback.jsonl", **settings)
    return make


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """A throwaway PostgreSQL with pgvector, from the pgserver package, in a temporary folder:
    it listens on a Unix socket in that folder only (no TCP at all), and is stopped and deleted
    after the session. As root, pgserver runs it as a system user of its own ("pgserver")."""
    import warnings
    try:
        import psycopg  # noqa: F401
        with warnings.catch_warnings():  # platformdirs: no XDG_RUNTIME_DIR in CI, falls back to /tmp
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as e:
        _skip_or_fail(f"the PostgreSQL tests need pgserver and psycopg ({e}): pip install -e '.[test]'")
    folder = tmp_path_factory.mktemp("postgres") / "data"
    try:
        server = pgserver.get_server(folder, cleanup_mode="delete")
        server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
        # Throwaway data: no fsync (stopping it otherwise spends ~20 s flushing the test databases).
        server.psql("ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off; "
                    "SELECT pg_reload_conf();")
    except Exception as e:  # no useradd, no shared memory, a sandbox: say why and skip
        _skip_or_fail(f"PostgreSQL with pgvector did not start ({type(e).__name__}: "
                      f"{' '.join(str(e).split())[:200]})")
    yield server
    server.cleanup()


def _skip_or_fail(reason: str) -> None:
    """Skip with the reason; CI (BOT_REQUIRE_POSTGRES=1, set in .ci/run) must run these tests, so fail there."""
    if os.environ.get("BOT_REQUIRE_POSTGRES") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def pg_database(server, name: str, template: str | None = None) -> str:
    """Create a database on the test server (a copy of template, if given) and return its URL."""
    import psycopg
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return server.get_uri(name)


def in_threads(work, n: int = 2, timeout: float = 120) -> None:
    """Run work() in n threads at once and wait for all of them: fails the test when one is
    still running after timeout seconds (a deadlock) and re-raises what a thread raised."""
    errors: list[BaseException] = []

    def run():
        try:
            work()
        except BaseException as e:  # re-raised below, in the test's own thread
            errors.append(e)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    running = sum(t.is_alive() for t in threads)
    if running:
        pytest.fail(f"{running} of {n} threads still running after {timeout} s", pytrace=False)
    if errors:
        raise errors[0]
