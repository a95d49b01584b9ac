"""Typed plain records passed between the modules."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from . import relevance

Span = tuple[int, int]  # [start, end) character offsets


@dataclass(frozen=True)
class Chunk:
    """A passage of a source file: its text is exactly source_text[char_start:char_end]."""

    id: int
    source: str  # path relative to the corpus folder's parent, e.g. "corpus/x.txt"
    section: str
    start_line: int | None  # 1-based, inclusive; None for formats without lines (PDF, DOCX, HTML)
    end_line: int | None
    text: str
    sentences: tuple[Span, ...]  # spans of the sentences inside text
    page: int | None = None  # 1-based page of a PDF, else None
    page_label: str | None = None  # the printed page label when the PDF has one
    headings: tuple[str, ...] = ()  # the heading path, outermost first (section is its last entry)

    @property
    def location(self) -> str:
        """Where the passage stands, for people: "p. 2", "lines 12-14", "line 3"."""
        if self.page is not None:
            label = self.page_label if self.page_label and self.page_label != str(self.page) else None
            return f"p. {self.page}" + (f" (printed {label})" if label else "")
        if self.start_line is None:
            return ""
        if self.start_line == self.end_line:
            return f"line {self.start_line}"
        return f"lines {self.start_line}-{self.end_line}"

    def to_json(self) -> dict:
        d = asdict(self)
        d["sentences"] = [list(s) for s in self.sentences]
        d["headings"] = list(self.headings)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Chunk":
        return cls(**{**d, "sentences": tuple(tuple(s) for s in d["sentences"]),
                      "headings": tuple(d.get("headings", ()))})


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its combined score and the score of each of its sentences."""

    chunk: Chunk
    score: float  # dense similarity (chunk and best sentence), what refusals are calibrated on
    sentence_scores: tuple[float, ...] = ()
    # The passage's standing after fusing the dense, lexical and dictionary signals, on the
    # dense score's scale (None when only the dense signal ranked it).
    ranked: float | None = None
    # What is taken off its document's scores to compare them with other documents' (how well
    # that document matches any question at all; see retrieval.DOCUMENT_LEVEL).
    offset: float = 0.0
    # It defines an option or variable the question names ("-v, --invert-match" for "grep -v").
    labelled: bool = False
    # How clearly it stands out among the question's candidates: the z-score of its fused score
    # (see relevance.py).
    standing: float | None = None


@dataclass(frozen=True)
class Citation:
    n: int
    hit: Hit
    highlights: tuple[Span, ...]  # the cited sentences inside hit.chunk.text


@dataclass(frozen=True)
class Answer:
    question: str
    query: str
    text: str
    refused: bool
    citations: tuple[Citation, ...]
    hits: tuple[Hit, ...]
    timings_ms: dict = field(default_factory=dict)
    signals: dict = field(default_factory=dict)  # what the refusal decision rested on

    def to_dict(self) -> dict:
        """The JSON object of the CLI contract (DESIGN.md)."""

        def where(hit: Hit) -> dict:
            c = hit.chunk
            return {"source": c.source, "section": c.section, "start_line": c.start_line,
                    "end_line": c.end_line, "page": c.page, "location": c.location, "text": c.text,
                    "score": round(hit.score, 4), "relevance": relevance.label(hit.standing, hit.score),
                    "standing": None if hit.standing is None else round(hit.standing, 2)}

        return {
            "question": self.question,
            "query": self.query,
            "answer": self.text,
            "refused": self.refused,
            "citations": [{"n": c.n, **where(c.hit), "highlights": [list(s) for s in c.highlights]}
                          for c in self.citations],
            "passages": [{"rank": i, **where(h)} for i, h in enumerate(self.hits, 1)],
            "signals": self.signals,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


@dataclass(frozen=True)
class BuildProgress:
    """Where an index build stands, for progress bars in the terminal and the browser."""

    stage: str  # "reading", "embedding", "lexical", "dictionary", "calibration", "saving", "done"
    files_done: int
    files_total: int
    chunks_done: int
    chunks_total: int
    seconds_left: float | None = None  # None until there is enough to estimate from
    fraction: float | None = None  # share of the whole build's estimated work done (progress.py)
