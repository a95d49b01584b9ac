"""Plain-words relevance for a retrieved passage, shared by the terminal and the browser.

The label says how clearly a passage stands out among the passages searched for this
question: its standing, the z-score of its fused score (dense, lexical and dictionary signals)
among the question's candidates. E5's raw cosine scores could not say it: they are compressed
(unrelated text scores about 0.75) and sit lower for every passage when the question is in
another language than the text, so the German passage answering "Who owns forecasting?" read
"low" beside a man page's copyright line reading "high". Measured through `ask` on the
development half (345 top-5 passages, 76 of them gold): the raw score tells gold from other
passages with AUC 0.62, and "high" (score >= 0.83) went to 68% of passages, a quarter of them
gold; the standing has AUC 0.84, and "high" (standing >= 2.5) goes to 22%, 59% of them gold,
and to 83% of the gold passages ranked first ("medium" and up: all of those).

Whether anything comes close at all (the passages shown beside a refusal) is another
question: the absolute score answers it (NEAR).
"""
from __future__ import annotations

# The one place that knows the scales; when the scoring changes, change them here only.
THRESHOLDS = (("high", 2.5), ("medium", 1.5))
# A refusal lists the passages at least this close (E5 cosine score) as "nearby".
NEAR = 0.83
# With too few candidates to compare (a corpus of a few passages) the score decides.
SCORE_THRESHOLDS = (("high", 0.83), ("medium", 0.78))
SCORE_EXPLAIN = ("How closely this passage matches the question, judged from its search score ({score:.2f}): "
                 "high from {high:.2f}, medium from {medium:.2f}, low below. A ranking hint, not a guarantee.")
EXPLAIN = ("How clearly this passage stands out among the passages searched for this question "
           "({standing:.1f} standard deviations above their mean): high from {high:.1f}, medium from "
           "{medium:.1f}, low below. A ranking hint, not a guarantee.")


def label(standing: float | None, score: float) -> str:
    """high / medium / low from the standing; from the score where there is no standing (a
    question with fewer than retrieval.MIN_STANDING candidates: nothing to stand out from)."""
    value, thresholds = (score, SCORE_THRESHOLDS) if standing is None else (standing, THRESHOLDS)
    for name, floor in thresholds:
        if value >= floor:
            return name
    return "low"


def explain(standing: float | None, score: float) -> str:
    """The tooltip text for a label."""
    if standing is None:
        floors = dict(SCORE_THRESHOLDS)
        return SCORE_EXPLAIN.format(score=score, high=floors["high"], medium=floors["medium"])
    floors = dict(THRESHOLDS)
    return EXPLAIN.format(standing=standing, high=floors["high"], medium=floors["medium"])


def near(score: float) -> bool:
    """Whether a passage comes close enough to a refused question to be shown beside it."""
    return score >= NEAR
