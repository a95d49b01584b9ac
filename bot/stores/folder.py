"""The index folder (index/, the default store): plain files, validated on load and swapped in
atomically under a file lock.

- faiss.index: one row per chunk, then one row per sentence of a chunk with several. It is
  the only copy of the vectors: memory-mapped, exact inner product (flat) or, past
  settings.hnsw_min_rows rows, an HNSW graph; scoring reads the rows of the candidate chunks back.
- rows.npy: per row, its chunk position and sentence number (-1 for the whole chunk).
- chunks.jsonl + chunk_offsets.npy: the chunks, one JSON line each, read on demand.
- lexical.json + lexical.npy: the BM25 channel (see lexical.py); lexicon.json: the corpus's
  slice of the German-English dictionary, when it is installed (see lexicon.py).
- calibration.json: this corpus's refusal calibration (see refusal.py).
- manifest.json: embedder, dimension, chunking settings, corpus files with their hashes,
  and size, modification time and SHA-256 of every other file.

Start-up compares sizes and modification times only; the hashes are checked after each
build, when a file's time changed, and on demand (`python -m bot index --verify`). Builds go
to a temporary folder that is swapped in under a lock, so a killed build never leaves a
half-written index.
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..corpus import sha256_file
from ..errors import BotError, IndexCorrupt
from ..index import HNSW_EF_SEARCH, ChunkList, Index, chunk_rows

FILES = ("faiss.index", "rows.npy", "chunks.jsonl", "chunk_offsets.npy", "lexical.json", "lexical.npy",
         "calibration.json", "manifest.json")
OPTIONAL_FILES = ("lexicon.json",)  # only with the dictionary installed
# What an index folder may hold besides FILES: this repository's README.md and .gitkeep, and the
# files of older index formats (rebuilt, not read).
OTHER_FILES = ("README.md", ".gitkeep", "words.json", "words.npy", "vectors.npy")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class FolderStore:
    kind = "folder"

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def __str__(self) -> str:
        return str(self.folder)

    def manifest(self) -> dict | None:
        try:
            manifest = json.loads((self.folder / "manifest.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            raise IndexCorrupt("the manifest is unreadable") from None
        return manifest

    def load(self, verify: bool = False) -> Index:
        return load_folder(self.folder, verify)

    def verify(self) -> dict:
        return load_folder(self.folder, verify=True).manifest

    def write(self, manifest: dict, index: Index) -> None:
        write_folder(self.folder, manifest, index)

    def lock(self):
        return build_lock(self.folder)

    def generation(self) -> str | None:
        """Changes whenever a build swaps in a new index folder, in this process or another:
        the manifest's inode and time (one stat, a few microseconds). None without an index."""
        try:
            st = os.stat(self.folder / "manifest.json")
        except OSError:
            return None
        return f"{st.st_ino}-{st.st_mtime_ns}"


@contextmanager
def build_lock(index_dir: Path):
    """One build at a time per index folder, across processes."""
    check_index_folder(index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = index_dir.parent / f".{index_dir.name}.lock"
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            _clean_leftovers(index_dir)
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _clean_leftovers(index_dir: Path) -> None:
    """Remove what a killed build left behind; only called while holding the build lock."""
    prefix = f".{index_dir.name}.tmp-"
    for path in sorted(index_dir.parent.glob(prefix + "*")):
        # Killed between the two renames of the non-atomic swap: the old index is here.
        if path.name.endswith("-old") and not index_dir.exists() and (path / "manifest.json").is_file():
            os.rename(path, index_dir)
            log(f"Restored the index {index_dir} from an interrupted build.")
            continue
        shutil.rmtree(path, ignore_errors=True)


def check_index_folder(folder: Path) -> None:
    """Refuse to build into anything but a new folder, an empty one or an index: a build
    replaces the whole folder, so `--index corpus` or `--index ~/Documents` would delete files."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BotError(f"the index folder {folder} is a file: give --index a new or empty folder")
    if not folder.is_dir():
        return
    names = sorted(p.name for p in folder.iterdir())
    foreign = [n for n in names if n not in FILES + OPTIONAL_FILES + OTHER_FILES]
    if not foreign or _is_manifest(folder / "manifest.json"):
        return
    shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
    raise BotError(f"{folder} holds files that are not part of an index ({shown}): building would replace "
                   "them; give --index a new or empty folder")


def _is_manifest(path: Path) -> bool:
    """Whether path is an index manifest of any version (an index folder, even a damaged one)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "embedder" in data and "chunking" in data


def write_folder(target: Path, manifest: dict, index: Index) -> None:
    """Write every file into a temporary folder, then swap it in for target."""
    import faiss
    check_index_folder(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        faiss.write_index(index.faiss_index, str(tmp / "faiss.index"))
        np.save(tmp / "rows.npy", index.rows)
        offsets = [0]
        with open(tmp / "chunks.jsonl", "wb") as fh:
            for c in index.chunks:
                line = (json.dumps(c.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
                fh.write(line)
                offsets.append(offsets[-1] + len(line))
        np.save(tmp / "chunk_offsets.npy", np.array(offsets, dtype=np.int64))
        (tmp / "calibration.json").write_text(json.dumps(index.calibration), encoding="utf-8")
        index.lexical.save(tmp)
        if index.lexicon is not None:
            index.lexicon.save(tmp)
        names = [n for n in FILES[:-1] + OPTIONAL_FILES if (tmp / n).is_file()]
        for name in names:
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
        # Sizes, times and hashes let load() notice a truncated, edited or mixed-up file.
        manifest["index_files"] = {name: _file_meta(tmp / name) for name in names}
        # The manifest goes last: a folder without one is never taken for an index.
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        with open(tmp / "manifest.json", "rb") as fh:
            os.fsync(fh.fileno())
        for extra in ("README.md", ".gitkeep"):
            if (target / extra).is_file():
                shutil.copy2(target / extra, tmp / extra)
        _swap_in(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _file_meta(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256_file(path)}


def _swap_in(tmp: Path, target: Path) -> None:
    """Make tmp the new target folder in one step; tmp then holds the old one (removed by the caller)."""
    if not target.exists():
        os.rename(tmp, target)
        tmp.mkdir()
        return
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    if renameat2 and renameat2(AT_FDCWD, bytes(tmp), AT_FDCWD, bytes(target), RENAME_EXCHANGE) == 0:
        return
    # No atomic exchange here: move the old folder aside first, so there is always one index.
    old = tmp.with_name(tmp.name + "-old")
    os.rename(target, old)
    os.rename(tmp, target)
    os.rename(old, tmp)


def load_folder(folder: Path, verify: bool = False) -> Index:
    """Load and validate an index folder. Start-up checks sizes and times; verify (or a
    changed time) also checks the SHA-256 of each file.

    Every file is read through one handle on the folder, so a build that swaps in a new folder
    meanwhile cannot mix the two: this load sees the old one whole (or fails, if the builder
    removed it first, and is retried)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        raise IndexCorrupt(f"index file {folder / 'manifest.json'} is missing") from None
    except OSError as e:
        raise IndexCorrupt(f"index folder {folder} cannot be read ({e.strerror})") from None
    try:
        opened = Path(f"/proc/self/fd/{fd}")
        return _load(folder, opened if opened.is_dir() else folder, verify)
    finally:
        os.close(fd)


def _load(shown: Path, folder: Path, verify: bool) -> Index:
    """load_folder, reading from folder and naming shown in messages."""
    try:
        st = os.stat(folder / "manifest.json")
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorrupt(f"index file {shown / 'manifest.json'} is missing") from None
    except (OSError, ValueError) as e:
        raise IndexCorrupt(f"index manifest in {shown} is unreadable ({type(e).__name__})") from e
    if not isinstance(manifest, dict) or not isinstance(manifest.get("index_files"), dict):
        raise IndexCorrupt(f"index manifest in {shown} is unreadable")
    manifest["generation"] = f"{st.st_ino}-{st.st_mtime_ns}"  # as generation() says it
    _check_files(shown, folder, manifest, full=verify)
    import faiss
    from ..lexical import LexicalIndex
    from ..lexicon import Lexicon
    try:
        index = faiss.read_index(str(folder / "faiss.index"), faiss.IO_FLAG_MMAP)
        rows = np.load(folder / "rows.npy", allow_pickle=False)
        offsets = np.load(folder / "chunk_offsets.npy", allow_pickle=False)
        calibration = json.loads((folder / "calibration.json").read_text(encoding="utf-8"))
        chunks = ChunkList(folder / "chunks.jsonl", offsets)
        lexical = LexicalIndex.load(folder)
        lexicon = Lexicon.load(folder, lexical=lexical) if "lexicon.json" in manifest["index_files"] else None
    except (RuntimeError, OSError, ValueError, KeyError, TypeError) as e:
        raise IndexCorrupt(f"index in {shown} is damaged ({type(e).__name__})") from e
    n = manifest.get("chunks")
    if not (index.ntotal == manifest.get("rows") == len(rows) and index.d == manifest.get("dim")
            and rows.ndim == 2 and rows.shape[1] == 2 and len(offsets) == (n or 0) + 1
            and offsets[-1] == (folder / "chunks.jsonl").stat().st_size and isinstance(calibration, dict)
            and len(lexical.langs) == n):
        raise IndexCorrupt(f"index in {shown} disagrees with its manifest ({index.ntotal} rows, {n} chunks)")
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return Index(manifest, chunks, rows, chunk_rows(rows, n), index, lexical, lexicon, calibration)


def _check_files(shown: Path, folder: Path, manifest: dict, full: bool) -> None:
    for name in dict.fromkeys([*FILES[:-1], *manifest["index_files"]]):
        meta = manifest["index_files"].get(name)
        path = folder / name
        if not isinstance(meta, dict):
            raise IndexCorrupt(f"index manifest in {shown} does not list {name}")
        try:
            st = path.stat()
        except FileNotFoundError:
            raise IndexCorrupt(f"index file {shown / name} is missing") from None
        if st.st_size != meta.get("size") or ((full or st.st_mtime_ns != meta.get("mtime_ns"))
                                              and sha256_file(path) != meta.get("sha256")):
            raise IndexCorrupt(f"index file {shown / name} does not match its manifest (truncated or changed)")
