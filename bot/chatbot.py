"""The façade both front ends call: Chatbot.ask(question, history) -> Answer."""
from __future__ import annotations

import re
import threading
import time
import unicodedata
from typing import Sequence

from . import answer as answer_mod
from . import build, conversation, embedders, language, refusal, retrieval
from .config import Settings, from_env
from .errors import IndexCorrupt, QuestionError
from .matching import fold
from .records import Answer
from .stores import open_store

# The passages an answer and a refusal are decided on, whatever --top-k shows.
ANSWER_DEPTH = 10


def clean_question(text: str, limit: int) -> str:
    """The question as searched: control characters dropped, whitespace collapsed, length bounded."""
    if not isinstance(text, str):
        raise QuestionError("the question must be text")
    text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    text = " ".join(text.split())[:limit].strip()
    if not text:
        raise QuestionError("the question is empty: type a question about the documents")
    if not re.search(r"[^\W_]", text):
        raise QuestionError("the question has no words in it: ask something about the documents")
    return text


class Chatbot:
    """Answers questions from the documents in settings.corpus, building the index when needed."""

    def __init__(self, settings: Settings | None = None, progress: bool | None = None, quiet: bool = False,
                 on_progress=None):
        self.settings = settings or from_env()
        self._lock = threading.Lock()  # taking up a new index
        self._refreshing = threading.Lock()  # one re-index at a time
        self.index = build.ensure(self.settings, progress=progress, quiet=quiet, on_progress=on_progress)
        self.embedder = embedders.get(self.settings.embedder, self.settings.model)
        self._store = open_store(self.settings)
        self._synced = time.monotonic()
        self._passed = None  # a generation not taken up (another embedder's index)

    def refresh(self, progress: bool | None = None, quiet: bool = False, on_progress=None,
                separate: bool = False) -> bool:
        """Rebuild the index if the corpus changed, then answer from the new one; True if it did.
        Questions asked meanwhile are answered from the old index. separate: build in a child
        process (a server: the embedding engine's memory goes with it, see build.in_child)."""
        with self._refreshing:
            if build.stale_reason(self.settings) is None:
                return False
            if separate:
                build.in_child(self.settings, on_progress=on_progress)
            index = build.ensure(self.settings, progress=progress, quiet=quiet, on_progress=on_progress)
            with self._lock:
                self.index = index
            return True

    def sync(self, max_age: float = 0.0) -> bool:
        """Take up the index another process made active (a server that re-indexed after an
        upload, `bot index` run beside this one); True if it did. One stat of the index
        folder, or one indexed SELECT on a PostgreSQL store. max_age: skip if checked that
        recently. An index that cannot be read yet (caught mid-swap) is retried next time."""
        now = time.monotonic()
        if max_age and now - self._synced < max_age:
            return False
        self._synced = now
        before = self.index
        generation = self._store.generation()
        if generation in (None, before.manifest.get("generation"), self._passed):
            return False
        with self._lock:
            if self.index is not before:  # another thread took it up meanwhile
                return True
            try:
                index = self._store.load()
            except (IndexCorrupt, OSError):
                return False
            if index.manifest.get("embedder") != self.embedder.id:
                self._passed = generation  # built for another embedder: questions stay on ours
                return False
            self.index = index
        return True

    def _similar(self, phrase: str, candidates: list[str]) -> list[float]:
        """Cosine similarity of phrase to each candidate, for follow-ups across languages."""
        vectors = self.embedder.queries([phrase, *candidates])
        return [float(x) for x in vectors[1:] @ vectors[0]]

    def _retrieve(self, index, query: str, k: int):
        return retrieval.retrieve(index, self.embedder.queries([retrieval.unnamed(index, query)])[0], k, query)

    def _answered_by(self, index, query: str) -> list[int]:
        """The chunks an answer to query quotes, in citation order (none when it is refused)."""
        hits = self._retrieve(index, query, ANSWER_DEPTH)
        named = retrieval.named_documents(query, hits)
        refused, _ = refusal.judge(index, language.detect(query), query, hits, answer_mod.quoted(named))
        return [] if refused else [hit.chunk.id for hit, _ in answer_mod.choose(named)]

    @staticmethod
    def _about(index, subject: str, hits: list, previous: list[int]) -> list:
        """The hits for a turn that put another subject into the previous question's asked-for
        slot ("And the sales manager?" after "Who owns forecasting?"): passages that mention the
        new subject first, and the previous answer's passages last (its first one always, the
        others unless they mention the new subject). Otherwise the predicate ("owns
        forecasting") finds the previous answer again."""
        said = dict(zip((h.chunk.id for h in hits), retrieval.mentions(index, subject, hits)))
        old = {c for n, c in enumerate(previous) if n == 0 or not said.get(c)}
        rest = [h for h in hits if h.chunk.id not in old]
        return ([h for h in rest if said[h.chunk.id]] + [h for h in rest if not said[h.chunk.id]]
                + [h for h in hits if h.chunk.id in old])

    def gloss(self, text: str) -> dict[str, list[str]]:
        """English glosses of the German nouns in text, from the corpus's dictionary lexicon
        (see glosses.py): {"Vertriebsleiter": ["sales manager"], "Vertriebsoperationsleiter":
        ["sales operations manager (composed: Vertrieb + Operation + Leiter)"]}. Empty when the
        index has no lexicon (the dictionary is not installed)."""
        lexicon = self.index.lexicon
        if lexicon is None:
            return {}
        out = {}
        for word in dict.fromkeys(re.findall(r"[^\W\d_]{3,}", text)):
            glosses = lexicon.gloss(word)
            if glosses:
                out[word] = glosses
        return out

    def ask(self, question: str, history: Sequence[str] = (), top_k: int | None = None) -> Answer:
        """Answer one turn; history holds the standalone queries of earlier turns, oldest first."""
        t0 = time.perf_counter()
        question = clean_question(question, self.settings.max_question_chars)
        history = [h for h in history if h][-self.settings.history_turns:]
        # Matched folded (matching.py): "−a" or "–all" typed or pasted is "-a", "-all".
        turn = conversation.resolve(fold(question), history, self._similar)
        if turn.kind == "social":  # "Thanks!": nothing to search
            return Answer(question, "", turn.reply, False, (), (), {"total": (time.perf_counter() - t0) * 1000})
        query = turn.query
        k = top_k or self.settings.top_k
        self.sync()
        index = self.index  # one consistent snapshot even if a refresh swaps it meanwhile
        try:
            hits = self._retrieve(index, query, max(k, ANSWER_DEPTH))
        except IndexCorrupt:
            if not self.sync():  # its generation was replaced while we asked: ask the new one
                raise
            index = self.index
            hits = self._retrieve(index, query, max(k, ANSWER_DEPTH))
        if turn.kind == "swap":
            hits = self._about(index, turn.subject, hits, self._answered_by(index, history[-1]))
        t1 = time.perf_counter()
        lang = language.detect(question)
        head = hits[:ANSWER_DEPTH]  # what the answer is made from, however many passages are shown
        named = retrieval.named_documents(query, head)
        refused, signals = refusal.judge(index, language.detect(query), query, head, answer_mod.quoted(named))
        t2 = time.perf_counter()
        if refused:
            text, citations = answer_mod.refusal(lang), ()
        else:
            text, citations = answer_mod.compose(named, lang)
        t3 = time.perf_counter()
        timings = {"retrieve": (t1 - t0) * 1000, "refusal": (t2 - t1) * 1000, "answer": (t3 - t2) * 1000,
                   "total": (t3 - t0) * 1000}
        return Answer(question, query, text, refused, citations, tuple(hits[:k]), timings, signals)
