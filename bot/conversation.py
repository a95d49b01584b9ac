"""Follow-up questions: turning a turn into a standalone query from the conversation so far."""
from __future__ import annotations

import re
from typing import Sequence

from .language import words

# Words that only make sense with an earlier turn (English and German).
_OPENERS = re.compile(
    r"^\s*(and|but|also|so|what about|how about|what of|and what about|same for|und|aber|auch|"
    r"was ist mit|wie ist es mit|wie sieht es mit|und was ist mit|und wie)\b", re.IGNORECASE)
_REFERRING = set("they them their theirs there it its he she his her this that these those such "
                 "sie ihnen ihr ihre ihren dort da dabei dafür davon diese dieser dieses dies er es deren".split())
_FUNCTION = set("what who which how why when where does do did is are was were the a an of in on for to with and "
                "or about other else else's wer was wie welche welcher welches wo und oder der die das den dem des "
                "ein eine einer einen im in auf für mit von zu ist sind macht".split())


def is_followup(question: str) -> bool:
    ws = words(question)
    content = [w for w in ws if w not in _FUNCTION and w not in _REFERRING]
    return bool(_OPENERS.match(question)) or any(w in _REFERRING for w in ws) or len(content) <= 1


def standalone(question: str, history: Sequence[str]) -> str:
    """The query to search: the question alone, or joined to the previous standalone query."""
    if not history or not is_followup(question):
        return question
    return f"{history[-1]} {question}"
