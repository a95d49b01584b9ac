"""Deciding that the documents do not answer a question."""
from __future__ import annotations

import numpy as np

from .index import Index
from .records import Hit


def should_refuse(index: Index, query: np.ndarray, hits: list[Hit]) -> bool:
    return not hits
