"""The one normalisation text is matched on: questions, option and label detection, the
lexical channel, the dictionary and what the embedder sees. Quoted text is never changed.

Producers write the same characters differently: groff's PostScript and PDF print an option's
dashes as U+2212 (minus) or U+2010 (hyphen) and `'` as `’`, `~` as `˜`, `^` as `ˆ`; word
processors turn "--" into an en dash and quotes into curly ones; PDFs keep "ﬁ" ligatures and
East Asian input gives full-width "－ａ". Folded, "−−almost−all" and "--almost-all" are one option.
"""
from __future__ import annotations

import re

_FOLD = {
    **{c: "-" for c in "\u2010\u2011\u2012\u2013\u2212\ufe63\uff0d"},  # hyphens, en dash, minus
    "\u00ad": "",  # soft hyphen: invisible, only a possible break
    "\u200b": "", "\u2060": "", "\ufeff": "",  # zero-width space, word joiner, BOM
    **{c: " " for c in "\u00a0\u2007\u202f\u3000"},  # non-breaking and ideographic spaces
    **{c: "'" for c in "\u2018\u2019\u201a\u201b\u2032\u00b4"},
    **{c: '"' for c in "\u201c\u201d\u201e\u201f\u2033"},
    "\u02dc": "~", "\u223c": "~", "\u02c6": "^",
    "\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st",
}
_FOLD.update({chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F) if chr(c) not in _FOLD})  # full-width ASCII
_TABLE = str.maketrans(_FOLD)

# A word broken at a line end: groff's hyphen (U+2010) and the soft hyphen are always breaks
# (folded, both read "-" or nothing, so the text is looked at before folding); an ASCII
# hyphen only before a lower-case continuation that is not "und"/"and"... ("Kurz- und").
_SOFT_BREAK = re.compile(r"(\w)[\u2010\u00ad][ \t]*\n\s*(\w)")
_ASCII_BREAK = re.compile(r"([a-zäöüß])-[ \t]*\n\s*(?!(?:und|oder|bzw|and|or|nor|to|bis)\b)([a-zäöüß])")
# An option broken after one of its own hyphens keeps it: "--block-" / "size=SIZE" is
# "--block-size=SIZE", and "use of --" / "sort=none" is "--sort=none".
_DASH = "[-\u2010\u2212]"
_OPTION_BREAK = re.compile(rf"((?:^|(?<=[\s(\['\"=’»]))(?:{_DASH}{{1,2}}(?:\w+{_DASH})+|{_DASH}{_DASH}))"
                           r"[ \t]*\n\s*(?=\w)", re.MULTILINE)


def fold(text: str) -> str:
    """Text as it is matched: one character for each dash, quote, tilde and caret, ligatures
    and full-width forms spelled out. Line breaks stay (see join_breaks)."""
    return text.translate(_TABLE)


def join_breaks(text: str) -> str:
    """Words and options broken at line ends joined again ("informa-" / "tion")."""
    text = _OPTION_BREAK.sub(r"\1", text)
    text = _SOFT_BREAK.sub(r"\1\2", text)
    return _ASCII_BREAK.sub(r"\1\2", text)


def normalise(text: str) -> str:
    """join_breaks, then fold: what every matching channel compares."""
    return fold(join_breaks(text))
