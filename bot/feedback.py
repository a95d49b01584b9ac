"""Thumbs up/down on answers, appended as one JSON line each to settings.feedback."""
from __future__ import annotations

import fcntl
import json
from datetime import datetime, timezone

from .config import Settings
from .records import Answer

VOTES = ("up", "down")


def record(settings: Settings, answer: Answer | dict, vote: str) -> dict:
    """Append {time, vote, question, query, answer, refused, citations} to the feedback file."""
    if vote not in VOTES:
        raise ValueError(f"vote must be one of {VOTES}, not {vote!r}")
    a = answer.to_dict() if isinstance(answer, Answer) else answer
    entry = {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "vote": vote,
        "question": a.get("question", ""),
        "query": a.get("query", ""),
        "answer": a.get("answer", ""),
        "refused": bool(a.get("refused", False)),
        "citations": [{k: c.get(k) for k in ("n", "source", "section", "start_line", "end_line", "text", "score")}
                      for c in a.get("citations", [])],
    }
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    path = settings.feedback
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        # Several server threads (or processes) may vote at once: one whole line per lock.
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.write(line)
            fh.flush()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return entry
