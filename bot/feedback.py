"""Votes on answers, kept as one JSON line per answer in settings.feedback: the latest vote wins."""
from __future__ import annotations

import fcntl
import json
from datetime import datetime, timezone

from .config import Settings
from .records import Answer

VOTES = ("up", "down")


def record(settings: Settings, answer: Answer | dict, vote: str | None, answer_id: str | None = None,
           user: str | None = None) -> dict:
    """Save {time, vote, question, query, answer, refused, citations} (and the signed-in user) to the feedback file.

    With an answer_id the file keeps one line per answer: a changed vote replaces the earlier
    line, and vote=None withdraws it. Without one (the terminal, old callers) the line is appended."""
    if vote not in VOTES and not (vote is None and answer_id):
        raise ValueError(f"vote must be one of {VOTES}, not {vote!r}")
    a = answer.to_dict() if isinstance(answer, Answer) else answer
    entry = {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "vote": vote,
        "question": a.get("question", ""),
        "query": a.get("query", ""),
        "answer": a.get("answer", ""),
        "refused": bool(a.get("refused", False)),
        "citations": [{k: c.get(k) for k in ("n", "source", "section", "start_line", "end_line", "page", "text",
                                             "score")}
                      for c in a.get("citations", [])],
    }
    if user:
        entry = {"user": user, **entry}
    if answer_id:
        entry = {"answer_id": str(answer_id), **entry}
    path = settings.feedback
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as fh:
        # Several server threads (or processes) may vote at once: the whole read-modify-write under one lock.
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            if answer_id:
                fh.seek(0)
                kept = [line for line in fh.read().splitlines(keepends=True) if line.strip()
                        and _answer_id(line) != str(answer_id)]
                if vote is not None:
                    kept.append(json.dumps(entry, ensure_ascii=False) + "\n")
                # Rewritten in place, not swapped by rename: a waiting writer holds a lock on this file.
                fh.truncate(0)
                fh.writelines(kept)
                fh.flush()
            else:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
                fh.flush()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return entry


def _answer_id(line: str) -> str | None:
    try:
        return json.loads(line).get("answer_id")
    except ValueError:
        return None
