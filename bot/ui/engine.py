"""The Chatbot behind the page, built in a background thread so the page is up while the index builds."""
from __future__ import annotations

import sys
import threading
from collections import Counter

from ..config import Settings
from ..errors import BotError


class Engine:
    """Holds the Chatbot, the latest build progress, and whether a (re)build is running.

    Builds run in a child process (build.in_child). Questions wait for the first index only:
    during a re-index they are answered from the old one, which is swapped for the new one when
    it is ready; an upload's "Added" is shown after that, so a question asked then sees it."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.bot = None
        self.error: str | None = None
        self.progress = None  # the latest records.BuildProgress while building
        self.ready = threading.Event()  # set once the first build has finished (or failed)
        self._idle = threading.Event()  # clear while any build runs
        self._idle.set()
        self._build_lock = threading.Lock()

    @property
    def building(self) -> bool:
        return not self._idle.is_set() or not self.ready.is_set()

    def start(self) -> "Engine":
        self._idle.clear()
        threading.Thread(target=self._first_build, name="bot-index", daemon=True).start()
        return self

    def _on_progress(self, p) -> None:
        self.progress = p

    def _first_build(self) -> None:
        try:
            self._run(lambda: self._make())
        finally:
            self.ready.set()

    def _make(self) -> None:
        from ..build import in_child, stale_reason
        from ..chatbot import Chatbot
        if stale_reason(self.settings) is not None:
            in_child(self.settings, on_progress=self._on_progress)
        self.bot = Chatbot(self.settings, progress=False, quiet=True, on_progress=self._on_progress)

    def _run(self, work) -> None:
        with self._build_lock:
            self._idle.clear()
            self.progress = None
            try:
                work()
                self.error = None
            except BotError as e:
                self.error = str(e)
            except Exception as e:  # shown on the page instead of a dead server
                self.error = f"{type(e).__name__}: {e}"
                print(f"error: building the index failed: {self.error}", file=sys.stderr)
            finally:
                self.progress = None
                self._idle.set()

    def refresh(self) -> None:
        """After the corpus folder changed: re-index (or build from scratch if it never came up)."""
        if self.bot is None:
            self._run(self._make)
            self.ready.set()
        else:
            self._run(lambda: self.bot.refresh(progress=False, quiet=True, on_progress=self._on_progress,
                                               separate=True))

    def sync(self) -> None:
        """Take up an index another server made active in a shared store (checked at most every
        2 s; the page's status tick calls this). A store that is down shows up on the next question."""
        if self.bot is None or self.building:
            return
        try:
            self.bot.sync(max_age=2.0)
        except BotError:
            pass

    def begin_change(self) -> None:
        """Mark a build as coming (an upload is being saved), for the status line."""
        self._idle.clear()

    def end_change(self) -> None:
        """Nothing was changed after all (every upload was refused)."""
        if self.ready.is_set() and not self._build_lock.locked():
            self._idle.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the first index is ready (a re-index does not make questions wait)."""
        return self.ready.wait(timeout)

    def ask(self, question: str, history=()):
        # Chatbot.ask is safe from several threads: the embedders and caches lock themselves.
        self.wait(None)
        return self.bot.ask(question, history)

    @property
    def manifest(self) -> dict | None:
        return self.bot.index.manifest if self.bot is not None else None

    def waiting_files(self) -> list[str]:
        """Before the first index exists: the corpus files being indexed, so the list is never blank."""
        from ..corpus import find_files
        try:
            return [p.relative_to(self.settings.corpus).as_posix() for p in find_files(self.settings.corpus)]
        except (BotError, OSError, ValueError):
            return []

    def passages_per_document(self) -> dict[str, int]:
        if self.bot is None:
            return {}
        return dict(Counter(c.source for c in self.bot.index.chunks))

    def gloss(self, text: str) -> dict[str, list[str]]:
        """English glosses for German words (empty without the dictionary lexicon); never an error."""
        try:
            return self.bot.gloss(text) if self.bot is not None else {}
        except Exception as e:  # a gloss is a help, not worth a failed answer
            print(f"warning: gloss failed: {e}", file=sys.stderr)
            return {}
