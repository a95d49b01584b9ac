"""A plain-words relevance label for a retrieval score, shared by the terminal and the browser."""
from __future__ import annotations

# The one place that knows the score scale. E5 cosine scores are compressed (unrelated text still
# scores about 0.75), so these sit high; when the scoring changes, change them here only.
THRESHOLDS = (("high", 0.83), ("medium", 0.78))
EXPLAIN = ("How closely this passage matches the question, judged from its search score ({score:.2f}): "
           "high from {high:.2f}, medium from {medium:.2f}, low below. A ranking hint, not a guarantee.")


def label(score: float) -> str:
    for name, floor in THRESHOLDS:
        if score >= floor:
            return name
    return "low"


def explain(score: float) -> str:
    """The tooltip text for a label."""
    floors = dict(THRESHOLDS)
    return EXPLAIN.format(score=score, high=floors["high"], medium=floors["medium"])
