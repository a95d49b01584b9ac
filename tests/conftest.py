import os
import shutil
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
