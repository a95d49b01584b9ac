"""Checking a name and password against the users file, with failed attempts slowed down.

After FREE_FAILURES failures in a row for one name, or from one address, each further attempt
waits: 1 s, then 2, 4, 8 ... up to MAX_DELAY. A success clears the name's count; a count is
forgotten an hour after its last failure.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from . import audit
from .users import Directory, valid_name, verify

FREE_FAILURES = 5
FIRST_DELAY = 1.0
MAX_DELAY = 600.0
FORGET_AFTER = 3600.0
MAX_KEYS = 10_000  # a flood of made-up names cannot grow the table without bound


@dataclass
class _Count:
    failures: int = 0
    last: float = 0.0
    until: float = 0.0  # no attempt before this time


class Throttle:
    """Failure counts per key ("name:alice", "address:10.0.0.7"); thread-safe."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._counts: dict[str, _Count] = {}
        self._lock = threading.Lock()

    def wait(self, keys) -> float:
        """Seconds until an attempt for all of these keys is allowed (0: now)."""
        now = self.clock()
        with self._lock:
            return max([0.0] + [c.until - now for k in keys if (c := self._live(k, now))])

    def failures(self, key: str) -> int:
        with self._lock:
            c = self._live(key, self.clock())
            return c.failures if c else 0

    def failed(self, keys) -> float:
        """Count a failure for each key; the delay now imposed before the next attempt."""
        now = self.clock()
        delay = 0.0
        with self._lock:
            for k in keys:
                c = self._live(k, now) or self._new(k)
                c.failures += 1
                c.last = now
                if c.failures >= FREE_FAILURES:
                    c.until = now + min(MAX_DELAY, FIRST_DELAY * 2 ** (c.failures - FREE_FAILURES))
                delay = max(delay, c.until - now)
        return delay

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)

    def _live(self, key: str, now: float) -> _Count | None:
        c = self._counts.get(key)
        if c is not None and now - c.last > FORGET_AFTER and now >= c.until:
            del self._counts[key]
            return None
        return c

    def _new(self, key: str) -> _Count:
        if len(self._counts) >= MAX_KEYS:  # drop the stalest counts first
            for k in sorted(self._counts, key=lambda k: self._counts[k].last)[:MAX_KEYS // 10]:
                del self._counts[k]
        c = self._counts[key] = _Count()
        return c


def shown(name: str) -> str:
    """The name as it may appear in the log: a typed name that is no user name is not repeated."""
    return name if valid_name(name) else f"(not a user name, {len(name)} characters)"


class SignIn:
    """Checks sign-ins against a users file; a refused or failed attempt is one line in the log."""

    def __init__(self, directory: Directory, throttle: Throttle | None = None):
        self.directory = directory
        self.throttle = throttle or Throttle()

    @staticmethod
    def keys(name: str, address: str | None) -> list[str]:
        """The throttle's keys; every string that is no user name shares one, so a flood of
        made-up (or megabyte-long) names costs no memory."""
        return [f"name:{name}" if valid_name(name) else "name:(not a user name)"] + \
            ([f"address:{address}"] if address else [])

    def wait(self, name: str, address: str | None) -> float:
        return self.throttle.wait(self.keys(name, address))

    def check(self, name: str, password: str, address: str | None = None) -> bool:
        """Whether name and password sign in now. Refused without looking at the password while
        the name or address must still wait; the caller decides whether to sit the wait out first."""
        keys = self.keys(name, address)
        where = f" from {address}" if address else ""
        wait = self.throttle.wait(keys)
        if wait > 0:
            audit.log("sign-in refused", shown(name), f"too many failed sign-ins for this name or address{where}: "
                      f"next attempt in {wait:.0f} s")
            return False
        if not isinstance(password, str) or not valid_name(name):
            ok = False
        else:
            ok = verify(self.directory.get(name), password)
        if ok:
            self.throttle.succeeded(keys[0])
            return True
        delay = self.throttle.failed(keys)
        n = max(self.throttle.failures(k) for k in keys)
        audit.log("sign-in failed", shown(name), f"wrong name or password{where} ({n} failed in a row"
                  + (f"; next attempt in {delay:.0f} s)" if delay > 0 else ")"))
        return False
