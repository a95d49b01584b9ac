"""Telling English from German questions, for replies in the asker's language."""
from __future__ import annotations

import re

_EN = set("the a an is are was were what who whom which how why when where does do did can could would should "
          "of in on for to with and or about this that they their there it its be has have "
          "you your we our".split())
_DE = set("der die das den dem des ein eine einer einen ist sind war wer wie was welche welcher welches warum wann "
          "wo macht machen und oder für mit von zu im in auf über dieser diese es sie er wird werden kann "
          "können soll gibt".split())


def words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+(?:-[^\W_]+)*", text.lower())


def detect(text: str, default: str = "en") -> str:
    """'de' or 'en'; default when the text gives no sign either way ("-r, --reverse")."""
    ws = words(text)
    de = sum(w in _DE for w in ws) + 2 * bool(re.search(r"[äöüß]", text.lower()))
    en = sum(w in _EN for w in ws)
    return "de" if de > en else "en" if en > de else default
