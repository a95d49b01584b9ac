"""The index folder (index/): plain files, swapped in atomically under a file lock (see index.py)."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import IndexCorrupt


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

    def load(self, verify: bool = False):
        from ..index import load_folder
        return load_folder(self.folder, verify)

    def write(self, manifest: dict, index, calibration: dict) -> None:
        from ..index import _write
        _write(self.folder, manifest, index, calibration)

    def lock(self):
        from ..index import build_lock
        return build_lock(self.folder)

    def generation(self):
        return None
