"""Where a built index lives: the index folder (default) or a PostgreSQL database with pgvector.

Both hold the same artefacts and give back the same in-memory index.Index; only where they are
written and how dense candidates are found differ. Each store owns its persistence; callers
never touch its files or tables. A store has:

- manifest() -> dict | None: the active index's manifest (None: nothing built yet);
  IndexCorrupt when it cannot be read;
- load(verify=False) -> index.Index; verify() -> the manifest once every stored file or blob
  matches its SHA-256 (IndexCorrupt otherwise);
- write(manifest, index): swap in a new index atomically (readers see the old one or the new
  one, never a mix);
- lock(): a context manager, one build at a time across processes;
- generation(): something that changes whenever another process swaps in a new index, or
  None when the store does not tell (the folder: a process owns its folder's changes);
- str(store): how messages name it, never with a password.
"""
from __future__ import annotations

import threading
from urllib.parse import urlsplit

from ..errors import StoreError
from .urls import mask

SCHEMES = ("postgresql", "postgres")
_open: dict[str, object] = {}
_lock = threading.Lock()


def is_url(store: str) -> bool:
    return urlsplit(store).scheme in SCHEMES


def open_store(settings):
    """The store settings name: settings.store (a PostgreSQL URL), else the index folder."""
    if not settings.store:
        from .folder import FolderStore
        return FolderStore(settings.index)
    if not is_url(settings.store):
        raise StoreError(f"--store takes a PostgreSQL URL such as postgresql://user@host/db, not "
                         f"{mask(settings.store)!r} (leave it out to use the index folder, --index)")
    # One store (and so one connection) per URL and process: servers ask it before every question.
    with _lock:
        store = _open.get(settings.store)
        if store is None:
            from .postgres import PostgresStore
            store = _open[settings.store] = PostgresStore(settings.store)
        return store
