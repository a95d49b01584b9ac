"""What the server did and refused: the audit log of document changes, and one-line log entries.

The audit log (audit.jsonl beside the feedback file) gets one JSON object per upload or removal.
Refused requests and failed sign-ins go to the server's log (stderr) as one line each: time,
user, reason, and never what the request carried.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from .config import Settings

ACTIONS = ("upload", "replace", "remove")


def path(settings: Settings) -> Path:
    return settings.feedback.with_name("audit.jsonl")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record(settings: Settings, action: str, user: str | None, file: str, digest: str) -> dict:
    """Append {time, user, action, file, sha256} to the audit log and return it."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, not {action!r}")
    entry = {"time": now(), "user": user, "action": action, "file": file, "sha256": digest}
    target = path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a", encoding="utf-8") as fh:
        # One write under a lock: lines from several server threads or processes never interleave.
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            fh.flush()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return entry


def log(event: str, user: str | None, reason: str, stream=None) -> str:
    """Write one line "TIME EVENT user=NAME: REASON" to the server's log (stderr) and return it.

    reason must be the server's own words: never text taken from the request."""
    line = f"{now()} {event} user={user or '-'}: {' '.join(reason.split())}"
    print(line, file=stream or sys.stderr, flush=True)
    return line
