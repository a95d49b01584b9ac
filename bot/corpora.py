"""Named corpora for evaluation and benchmarks, built from a recipe into a cache folder.

A recipe lists files: {"from": PATH, "as": NAME} copies a file (PATH relative to the current
folder or absolute), {"man": "ls"} renders a German man page from Debian's manpages-de the
way a user reads it (`man -l -Tutf8 | col -bx`, 80 columns).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import shutil
import subprocess
from pathlib import Path

from .errors import BotError

MAN_DIR = Path("/usr/share/man/de/man1")


def render_man(page: str | Path, width: int = 80) -> str:
    """A man page as plain text, as `man` shows it on a terminal."""
    path = Path(page) if "/" in str(page) else MAN_DIR / f"{page}.1.gz"
    if not path.is_file():
        raise BotError(f"man page {path} not found: install it with `apt-get install manpages-de man-db groff`")
    env = {**os.environ, "MANWIDTH": str(width), "LC_ALL": "C.UTF-8", "MAN_KEEP_FORMATTING": "0"}
    try:
        rendered = subprocess.run(["man", "-l", "-Tutf8", str(path)], env=env, capture_output=True, check=True)
        plain = subprocess.run(["col", "-bx"], input=rendered.stdout, env=env, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise BotError(f"cannot render man page {path} ({e}): install `man-db`, `groff` and `bsdextrautils`") from e
    return plain.stdout.decode("utf-8", errors="replace")


def materialize(name: str, recipe: dict, cache: Path) -> Path:
    """The corpus folder for recipe under cache/name/corpus, rebuilt when the recipe changed."""
    folder = cache / name / "corpus"
    stamp = cache / name / "recipe.json"
    wanted = json.dumps(recipe, sort_keys=True)
    if folder.is_dir() and stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
        return folder
    if folder.exists():
        if not stamp.is_file():  # not made here: someone's own folder, never deleted
            raise BotError(f"{folder} exists and was not made by eval: give --cache a folder of its own")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for item in recipe.get("files", []):
        if "man" in item:
            target = folder / item.get("as", f"{item['man']}.txt")
            target.write_text(render_man(item["man"]), encoding="utf-8")
        elif "from" in item:
            source = Path(item["from"])
            if not source.is_file():
                raise BotError(f"corpus file {source} not found (corpus {name!r}): run from the repository "
                               "folder, and install licence texts with `apt-get install base-files`")
            target = folder / item.get("as", source.name)
            shutil.copyfile(source, target)
        else:
            raise BotError(f"corpus {name!r}: each file needs 'from' or 'man', got {item}")
        if "sha256" in item and hashlib.sha256(target.read_bytes()).hexdigest() != item["sha256"]:
            # Another manpages-de or groff version wraps lines differently: gold excerpts may miss.
            print(f"warning: {target.name} differs from the text the questions were written against "
                  "(another package version?); some gold excerpts may not match", file=sys.stderr)
    stamp.write_text(wanted, encoding="utf-8")
    return folder
