"""Adding documents to the corpus folder from an upload: safe names, readable documents only, bounded size."""
from __future__ import annotations

import os
import re
import tempfile
import threading
import unicodedata
from pathlib import Path

from . import readers
from .config import Settings
from .corpus import decode
from .errors import UnreadableDocument, UploadError

SUFFIXES = readers.SUFFIXES
_KINDS = "text (.txt), Markdown (.md), PDF, Word (.docx) or HTML"
MAX_NAME_CHARS = 120
# Letters (any script), digits, space and a few harmless marks; must start with a letter or digit,
# which also rules out hidden files, "..", and anything with a slash or backslash in it.
_SAFE_NAME = re.compile(r"[^\W_][\w .()+-]*")
# Uploads in this process are added one at a time, so two at once cannot both squeeze under the total limit.
_ADDING = threading.Lock()


def check_name(name: str) -> str:
    """The file name as it will be saved (NFC), or UploadError saying what is wrong with it."""
    if not isinstance(name, str) or not name.strip():
        raise UploadError("the file has no name: give it a name ending in " + ", ".join(SUFFIXES))
    name = unicodedata.normalize("NFC", name.strip())
    shown = name if len(name) <= 60 else name[:57] + "..."
    if "/" in name or "\\" in name or "\x00" in name:
        raise UploadError(f"{shown!r} is a path, not a file name: upload the file itself")
    if len(name) > MAX_NAME_CHARS:
        raise UploadError(f"{shown!r} is a longer name than {MAX_NAME_CHARS} characters: rename the file")
    if Path(name).suffix.lower() not in SUFFIXES:
        raise UploadError(f"{shown!r} is not a document the bot reads: add {_KINDS} files")
    if not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise UploadError(f"{shown!r} is not a safe file name: use letters, digits, spaces, '-', '_' and '.' only")
    return name


def save(settings: Settings, name: str, data: bytes, replace: bool = False) -> Path:
    """Write one uploaded document into settings.corpus and return its path.

    Refuses unsafe names, other types, files over settings.max_upload_bytes, binary content,
    a file that would take the folder past settings.max_corpus_bytes, and an existing file of the
    same name unless replace is True.
    """
    name = check_name(name)
    if len(data) > settings.max_upload_bytes:
        raise UploadError(f"{name} is {len(data):,} bytes, over the {settings.max_upload_bytes:,}-byte limit: "
                          "split it into smaller files")
    if readers.is_text(name) or Path(name).suffix.lower() in (".html", ".htm"):
        text = decode(data)
        if text is None:
            raise UploadError(f"{name} is not a text file: save it as plain text (.txt) or Markdown (.md)")
        if not text.strip():
            raise UploadError(f"{name} is empty: there is nothing to index in it")
    if not readers.is_text(name):
        # A binary format is only known to be what its name says once its reader has read it.
        try:
            blocks = readers.read(Path(name).suffix, data)
        except UnreadableDocument as e:
            raise UploadError(f"{name} cannot be added: {e}") from None
        if not blocks:
            raise UploadError(f"{name} has no text the bot can read: nothing to index in it")
    folder = settings.corpus
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if not target.resolve().parent == folder.resolve():  # belt and braces after check_name
        raise UploadError(f"{name!r} would land outside {folder}/: rename the file")
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise UploadError(f"{folder / name} exists and is not a regular file: remove it first")
    if target.exists() and not replace:
        raise UploadError(f"{folder / name} already exists: rename the upload or choose to replace the file")
    with _ADDING:
        total = folder_bytes(folder) - (target.stat().st_size if target.is_file() else 0) + len(data)
        if total > settings.max_corpus_bytes:
            raise UploadError(f"adding {name} would make the documents {total:,} bytes, over the "
                              f"{settings.max_corpus_bytes:,}-byte limit for all documents: remove some first")
        return _write(folder, name, target, data, replace)


def _write(folder: Path, name: str, target: Path, data: bytes, replace: bool) -> Path:
    # Written under a hidden temporary name (the indexer skips dot files), then moved into place,
    # so the indexer never sees half a file; link() refuses to clobber a file that appeared meanwhile.
    fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise UploadError(f"{folder / name} already exists: rename the upload or choose to replace "
                                  "the file") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def folder_bytes(folder: Path) -> int:
    """The size of every file under folder, subfolders included."""
    total = 0
    for root, _, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:  # removed meanwhile
                pass
    return total


def located(settings: Settings, name: str) -> Path:
    """The document settings.corpus/name, after the same name checks as uploads, so nothing outside
    the corpus folder (or in a subfolder) can be named; UploadError if it is not there."""
    if not isinstance(name, str) or not name.strip():
        raise UploadError("no file name given: name the document to remove")
    name = unicodedata.normalize("NFC", name.strip())
    shown = name if len(name) <= 60 else name[:57] + "..."
    if "/" in name or "\\" in name or "\x00" in name or name.startswith(".") or ".." in name:
        raise UploadError(f"{shown!r} is not a plain file name in the documents folder: give the name only")
    folder = settings.corpus
    target = folder / name
    if target.resolve().parent != folder.resolve():
        raise UploadError(f"{shown!r} is outside {folder}/: give a file name from the documents list")
    if target.is_symlink() or not target.is_file():
        raise UploadError(f"{name} is not in the documents folder: it may have been removed already")
    return target


def remove(settings: Settings, name: str) -> Path:
    """Delete one document from settings.corpus by its plain file name (see located); the caller re-indexes."""
    target = located(settings, name)
    target.unlink()
    return target
