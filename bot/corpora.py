"""Named corpora for evaluation and benchmarks, built from a recipe into a cache folder.

A recipe lists files: {"from": PATH, "as": NAME} copies a file (PATH relative to the current
folder or absolute), {"man": "ls"} renders a German man page from Debian's manpages-de the
way a user reads it (`man -l -Tutf8 | col -bx`, 80 columns); with "lang": "en" the English
page (/usr/share/man/man1). "pdf" makes a PDF of the page instead, as people get them:
"ps2pdf" (`man -Tps | ps2pdf`: Unicode minus signs, the usual man-page PDF on the web),
"gropdf" (`man -Tpdf`), "chromium" (`man -Thtml` printed by headless Chromium
`--print-to-pdf`, Letter pages, no header or footer) or "chromium-headers" (with Chromium's
date, title, file URL and page number on every page).
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
MAN_DIRS = {"de": MAN_DIR, "en": Path("/usr/share/man/man1")}
PDF_PRODUCERS = ("ps2pdf", "gropdf", "chromium", "chromium-headers")


def man_path(page: str | Path, lang: str = "de") -> Path:
    path = Path(page) if "/" in str(page) else MAN_DIRS[lang] / f"{page}.1.gz"
    if not path.is_file():
        package = "manpages-de" if lang == "de" else "coreutils (man pages not excluded by dpkg)"
        raise BotError(f"man page {path} not found: install it with `apt-get install {package} man-db groff`")
    return path


def render_man(page: str | Path, width: int = 80, lang: str = "de") -> str:
    """A man page as plain text, as `man` shows it on a terminal."""
    path = man_path(page, lang)
    env = {**os.environ, "MANWIDTH": str(width), "LC_ALL": "C.UTF-8", "MAN_KEEP_FORMATTING": "0"}
    try:
        rendered = subprocess.run(["man", "-l", "-Tutf8", str(path)], env=env, capture_output=True, check=True)
        plain = subprocess.run(["col", "-bx"], input=rendered.stdout, env=env, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise BotError(f"cannot render man page {path} ({e}): install `man-db`, `groff` and `bsdextrautils`") from e
    return plain.stdout.decode("utf-8", errors="replace")


def man_pdf(page: str | Path, producer: str, lang: str = "de") -> bytes:
    """A man page as a PDF made by one of PDF_PRODUCERS."""
    import tempfile
    path = man_path(page, lang)
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    tools = {"ps2pdf": "groff (man -Tps) and ghostscript (ps2pdf)", "gropdf": "groff (man -Tpdf)",
             "chromium": "groff (man -Thtml) and chromium"}[producer.split("-")[0]]
    try:
        if producer == "gropdf":
            return subprocess.run(["man", "-l", "-Tpdf", str(path)], env=env, capture_output=True, check=True).stdout
        if producer == "ps2pdf":
            ps = subprocess.run(["man", "-l", "-Tps", str(path)], env=env, capture_output=True, check=True).stdout
            return subprocess.run(["ps2pdf", "-", "-"], input=ps, env=env, capture_output=True, check=True).stdout
        html = subprocess.run(["man", "-l", "-Thtml", str(path)], env=env, capture_output=True, check=True).stdout
        with tempfile.TemporaryDirectory() as tmp:
            source, out = Path(tmp) / f"{path.name.split('.')[0]}.html", Path(tmp) / "out.pdf"
            source.write_bytes(html)
            flags = [] if producer == "chromium-headers" else ["--no-pdf-header-footer"]
            subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", *flags,
                            f"--print-to-pdf={out}", source.as_uri()], env=env, capture_output=True, check=True,
                           timeout=120)
            return out.read_bytes()
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        raise BotError(f"cannot make a PDF of man page {path} with {producer} ({e}): install {tools}") from e


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
        if "man" in item and "pdf" in item:
            if item["pdf"] not in PDF_PRODUCERS:
                raise BotError(f"corpus {name!r}: 'pdf' must be one of {', '.join(PDF_PRODUCERS)}, got {item['pdf']!r}")
            target = folder / item.get("as", f"{item['man']}.pdf")
            target.write_bytes(man_pdf(item["man"], item["pdf"], item.get("lang", "de")))
        elif "man" in item:
            target = folder / item.get("as", f"{item['man']}.txt")
            target.write_text(render_man(item["man"], lang=item.get("lang", "de")), encoding="utf-8")
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
