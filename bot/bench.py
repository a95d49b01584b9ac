"""`python -m bot bench`: index build time, warm query latency and start-up to first answer."""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import index as index_mod
from .chatbot import Chatbot

DEFAULT_QUESTIONS = ["Who owns forecasting?", "Wer entwickelt Verkaufsstrategien?",
                     "What does a sales operations manager do in a startup?", "What is the weather in Berlin today?"]


def _questions(path: Path | None) -> list[str]:
    if path is None:
        return DEFAULT_QUESTIONS
    data = json.loads(path.read_text(encoding="utf-8"))
    return [q["q"] for q in data.get("questions", [])] + list(data.get("unanswerable", []))


def _stats(values: list[float]) -> str:
    return f"median {np.median(values):7.1f} ms   p95 {np.percentile(values, 95):7.1f} ms"


def bench(settings, questions_file: Path | None, repeat: int) -> int:
    questions = _questions(questions_file)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        m = index_mod.build(settings.with_(index=Path(tmp) / "index"))
        build_s = time.perf_counter() - started
    print(f"full index build: {build_s:.1f} s ({m['documents']} file(s), {m['chunks']} chunks, "
          f"{m['rows']} vectors, {m['words']} words)")

    bot = Chatbot(settings, quiet=True)
    for q in questions:  # warm up: model, caches
        bot.ask(q)
    timings: dict[str, list[float]] = {}
    for _ in range(repeat):
        for q in questions:
            for name, v in bot.ask(q).timings_ms.items():
                timings.setdefault(name, []).append(v)
    print(f"warm queries ({len(questions)} questions x {repeat}):")
    for name, values in timings.items():
        print(f"  {name:9} {_stats(values)}")

    cmd = [sys.executable, "-m", "bot", "ask", "--corpus", str(settings.corpus), "--index", str(settings.index),
           questions[0]]
    starts = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        starts.append(time.perf_counter() - t)
    print(f"process start to first answer: median {np.median(starts):.2f} s (3 runs of `python -m bot ask`)")
    print(f"peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0
