"""The Debian tools some tests make their documents with: a test whose tool is missing is
skipped with one line naming the package (`make test` installs them where it runs as root)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

# What each tool needs. groff-base alone has `groff` and `man -Tutf8`/`-Tps`, but not the
# PDF and HTML devices: `man -Tpdf` fails with "no such device" there.
PACKAGES = {
    "man": "man-db", "col": "bsdextrautils", "groff": "groff", "gropdf": "groff", "post-grohtml": "groff",
    "grops": "groff-base", "ps2pdf": "ghostscript", "pdftotext": "poppler-utils", "pandoc": "pandoc",
    "chromium": "chromium",
}
MAN_DE = Path("/usr/share/man/de/man1")
MAN_EN = Path("/usr/share/man/man1")
# `man -T<device>` needs these programs besides man itself.
DEVICES = {"pdf": ("gropdf",), "html": ("post-grohtml",), "ps": ("grops",), "txt": ("col",)}


def need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed: apt-get install {PACKAGES.get(tool, tool)}")


def need_man(lang: str = "de", *pages: str, device: str = "txt") -> None:
    """man and what renders to device, and the pages in German (manpages-de) or English."""
    need("man", *DEVICES[device])
    folder = MAN_DE if lang == "de" else MAN_EN
    for page in pages or ("ls",):
        if not (folder / f"{page}.1.gz").is_file():
            package = "manpages-de" if lang == "de" else "coreutils (with its man pages: no dpkg path-exclude)"
            pytest.skip(f"man page {folder / page}.1.gz is missing: apt-get install {package}")
