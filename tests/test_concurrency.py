"""20 simultaneous conversations against one real server, through gradio_client on loopback."""
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bot.conversation import standalone
from ui_server import copy_settings, free_port, wait_until_up

CONVERSATIONS = [
    ("What does a sales manager do in a startup?", "And the sales operations manager?"),
    ("Was macht ein Vertriebsleiter in einem Startup?", "Und in einer Marketingagentur?"),
    ("What would a sales manager focus on in a startup?", "And in a consulting firm?"),
    ("Who is responsible for CRM systems?", "Which other tools do they manage?"),
    ("Wer führt das Vertriebsteam?", "Und wer analysiert die Daten?"),
]
USERS = 20


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


@pytest.fixture(scope="module")
def server(bot, article_settings, tmp_path_factory):
    """`python -m bot serve` in its own process, as a user runs it, on a free loopback port."""
    import subprocess
    import sys
    settings = copy_settings(article_settings, tmp_path_factory.mktemp("load"))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port), "--corpus",
                             str(settings.corpus), "--index", str(settings.index)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        if not wait_until_up(url, 120):
            pytest.fail("the server did not come up in 120 s")
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def converse(url: str, user: int) -> list[tuple[dict, float]]:
    from gradio_client import Client
    client = Client(url, verbose=False)
    first, second = CONVERSATIONS[user % len(CONVERSATIONS)]
    out, history = [], []
    for turn in (first, second):
        t = time.perf_counter()
        d = client.predict(turn, history, api_name="/ask")
        out.append((d, time.perf_counter() - t))
        history.append(d["query"])
    return out


def run_round(url: str) -> tuple[list, float]:
    started = time.perf_counter()
    with ThreadPoolExecutor(USERS) as pool:
        results = [f.result(timeout=120) for f in [pool.submit(converse, url, u) for u in range(USERS)]]
    return results, time.perf_counter() - started


@pytest.mark.slow
def test_twenty_simultaneous_conversations_keep_their_own_history(server):
    url, pid = server
    run_round(url)  # warm-up: the index loads, word caches fill
    before = rss_mb(pid)
    latencies, walls = [], []
    for _ in range(2):
        results, wall = run_round(url)
        walls.append(wall)
        for user, turns in enumerate(results):
            first, second = CONVERSATIONS[user % len(CONVERSATIONS)]
            (a, _), (b, _) = turns
            assert a["question"] == first and a["query"] == first
            # The follow-up was resolved against this conversation's own first turn, no other.
            assert b["query"] == standalone(second, [first])
            assert b["passages"] and not b["refused"] and b["citations"]  # every turn here is answerable
            latencies += [t for _, t in turns]
    growth = rss_mb(pid) - before
    p95 = float(np.percentile(latencies, 95))
    print(f"\n{USERS} users x 2 turns: {2 * USERS / np.median(walls):.1f} answers/s, "
          f"latency median {np.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
          f"memory growth over 2 rounds {growth:.1f} MB")
    assert p95 < 30  # bounded: nobody waits behind a stuck request
    assert growth < 50  # the server's memory is stable (80 answers)
