"""Issue 5: bad questions, bad corpora, broken indexes, interrupted and concurrent builds, no network.

Everything runs the real E5 model and real FAISS on small corpora in tmp_path. Builds run
in this process where possible (the model and its caches load once); the few subprocess
tests are the ones that need a real process: a kill, two processes at once, no network.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import build
from bot import corpus as corpus_mod
from bot.cli import main
from bot.config import Settings
from bot.errors import BotError, IndexCorrupt
from bot.stores import open_store
from bot.stores.folder import FILES
from conftest import ROOT, in_threads

GOOD = "Who owns forecasting?"
SMALL = {
    "kochen.txt": "Kochen\n\nNudeln werden in Salzwasser gekocht, bis sie bissfest sind. Danach gießt man sie ab.\n",
    "rad.md": "# Fahrräder\n\nEin Fahrrad hat zwei Räder und wird mit Pedalen angetrieben.\n",
}


def flags(settings: Settings) -> list[str]:
    return ["--corpus", str(settings.corpus), "--index", str(settings.index)]


def one_line_error(err: str, *words: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err


def run_bot(*args, timeout=180, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True,
                          timeout=timeout, **kw)


# 1. Bad questions ---------------------------------------------------------------------------

def ask(settings, *questions, capsys):
    code = main(["ask", "--json", *flags(settings), *questions])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def check_answer(obj: dict) -> None:
    """A well-formed answer to a question the documents answer: a refusal is a failure here."""
    assert obj["passages"], obj
    cited = sorted(c["n"] for c in obj["citations"])
    assert sorted({int(n) for n in re.findall(r"\[(\d+)\]", obj["answer"])}) == cited
    assert not obj["refused"] and cited, obj["signals"]
    assert obj["answer"].strip()


@pytest.mark.parametrize("question,words", [
    ("", ["empty"]),
    ("   \n\t  ", ["empty"]),
    ("\x00\x01\x1b\x7f", ["empty"]),
    ("?!... ;-) ???", ["no words"]),
    ("🙂🙂🙂", ["no words"]),
])
def test_unanswerable_input_is_a_one_line_error(article_settings, bot, capsys, question, words):
    code, objs, err = ask(article_settings, question, capsys=capsys)
    assert code == 1 and objs == []
    one_line_error(err, *words)


def test_a_bad_question_does_not_stop_the_good_ones(article_settings, bot, capsys):
    code, objs, err = ask(article_settings, GOOD, "", "Wer ist für die Verkaufsprognose zuständig?", capsys=capsys)
    assert code == 1 and len(objs) == 2
    one_line_error(err, "empty")
    for obj in objs:
        check_answer(obj)


@pytest.mark.parametrize("question", [
    "Who\x00 owns\x07 forecasting?\x1b[31m\r\n",  # NUL, bell, escape sequence, CRLF
    "Who owns forecasting? 🙂📈",
    "谁负责销售预测？",  # Chinese
    "من المسؤول عن توقعات المبيعات؟",  # Arabic
    "Wer führt das Vertriebsteam?\u200b\u202e",  # zero-width space, right-to-left override
])
def test_odd_but_real_questions_get_an_answer(article_settings, bot, capsys, question):
    code, [obj], err = ask(article_settings, question, capsys=capsys)
    assert code == 0 and "Traceback" not in err
    check_answer(obj)
    assert not any(ord(ch) < 32 or ch in "\x7f\u200b\u202e" for ch in obj["query"])


def test_100kb_question_is_truncated_and_answered_quickly(article_settings, bot, capsys):
    question = ("Who owns forecasting and the sales pipeline? " * 2300)[:100_000]
    t = time.perf_counter()
    code, [obj], _ = ask(article_settings, question, capsys=capsys)
    elapsed = time.perf_counter() - t
    assert code == 0
    check_answer(obj)
    assert len(obj["query"]) <= article_settings.max_question_chars
    assert elapsed < 20, f"a 100 KB question took {elapsed:.1f} s"


def test_cli_process_errors_are_one_line_without_traceback(article_settings, bot):
    # Also an argument that is not valid UTF-8 (it arrives as surrogates) next to an empty one.
    r = run_bot("ask", "--json", *flags(article_settings), "", os.fsdecode(b"Wer f\xfchrt das Team?"))
    err = r.stderr.decode()
    assert r.returncode == 1
    one_line_error(err, "empty")
    [obj] = [json.loads(line) for line in r.stdout.decode().splitlines()]
    check_answer(obj)


# 2. Bad corpora -----------------------------------------------------------------------------

def test_missing_corpus_folder(tmp_path, capsys):
    s = Settings(corpus=tmp_path / "nowhere", index=tmp_path / "index")
    assert main(["index", *flags(s)]) == 1
    one_line_error(capsys.readouterr().err, str(s.corpus), "create it")
    assert main(["ask", *flags(s), GOOD]) == 1
    one_line_error(capsys.readouterr().err, str(s.corpus))


def test_corpus_given_as_a_file_says_to_give_the_folder(tmp_path, capsys):
    doc = tmp_path / "notes.txt"
    doc.write_text("Nudeln kocht man in Salzwasser.", encoding="utf-8")
    s = Settings(corpus=doc, index=tmp_path / "index")
    assert main(["ask", *flags(s), GOOD]) == 1
    one_line_error(capsys.readouterr().err, str(doc), "is a file", "folder")
    assert doc.read_text(encoding="utf-8") == "Nudeln kocht man in Salzwasser."


def test_empty_corpus_folder_says_where_to_put_documents(make_corpus, capsys):
    s = make_corpus({"notes.odt": b"PK\x03\x04", ".hidden.txt": "secret"})
    for argv in (["index", *flags(s)], ["ask", *flags(s), GOOD]):
        assert main(argv) == 1
        one_line_error(capsys.readouterr().err, f"{s.corpus}/", "put your documents there")


def test_corpus_of_only_unreadable_files(make_corpus, capsys):
    s = make_corpus({"image.txt": bytes(range(256)) * 40, "empty.txt": b""})
    assert main(["index", *flags(s)]) == 1
    err = capsys.readouterr().err
    assert "warning: skipping corpus/image.txt: it is not a text file" in err and "Traceback" not in err
    one_line_error(err.splitlines(keepends=True)[-1], f"{s.corpus}/", "no text")


def test_messy_corpus_is_indexed_and_the_unreadable_skipped(make_corpus, tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "geheim.txt").write_text("Das Passwort lautet Schwertfisch und ist streng geheim.\n")
    s = make_corpus({
        "latin1.txt": "Die Größe des Teams ändert sich jährlich.\n".encode("latin-1"),
        "utf16.txt": "Die Übergröße der Lieferung überraschte alle Kunden.\n".encode("utf-16"),
        "utf8bom.txt": "\ufeffDer Vertriebsleiter führt das Team mit großer Geduld.\n".encode("utf-8"),
        "crlf.txt": b"Windows Zeilen enden anders.\r\nDiese Zeile gehoert dazu.\r\n",
        "empty.txt": b"",
        "mein Bericht \u00fcber B\u00e4ren.txt": "Bären schlafen im Winter lange in ihrer Höhle.\n",
        "Bericht-nfd-u\u0308ber.md": "# Notiz\n\nEine kurze Notiz ohne Punkt am Ende\n",
        "binary.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8,
        "sub dir/tiefer.txt": "Unterordner werden ebenfalls gelesen.\n",
    })
    (s.corpus / "link.txt").symlink_to(outside / "geheim.txt")
    (s.corpus / "loop1.txt").symlink_to(s.corpus / "loop2.txt")
    (s.corpus / "loop2.txt").symlink_to(s.corpus / "loop1.txt")
    (s.corpus / "linkdir").symlink_to(outside, target_is_directory=True)
    with open(os.path.join(os.fsencode(s.corpus), b"caf\xe9.txt"), "wb") as fh:  # a Latin-1 file name
        fh.write(b"Latin-1 name.\n")
    os.mkfifo(s.corpus / "pipe.txt")  # reading it would block forever

    assert main(["index", *flags(s)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "skipping corpus/binary.txt: it is not a text file" in err
    assert f"skipping {s.corpus}/link.txt: it links outside the corpus folder" in err
    assert "loop1.txt: it is a symlink loop" in err
    assert "caf\\xe9.txt: its name is not valid UTF-8" in err

    index = open_store(s).load()
    text = "\n".join(c.text for c in index.chunks)
    for word in ("Größe", "Übergröße", "Vertriebsleiter führt", "Bären schlafen", "Notiz ohne Punkt",
                 "Unterordner", "gehoert dazu"):
        assert word in text, word
    assert "\ufeff" not in text and "\r" not in text and "\x00" not in text
    assert "Schwertfisch" not in text  # neither the linked file nor the linked folder was followed
    sources = {c.source for c in index.chunks}
    assert "corpus/mein Bericht über Bären.txt" in sources and "corpus/sub dir/tiefer.txt" in sources
    assert {c.start_line for c in index.chunks if c.source == "corpus/crlf.txt"} == {1}
    assert build.stale_reason(s) is None  # the skipped files do not make it stale forever


def _peak_rss_script(corpus: Path) -> str:
    return f"""
import resource, sys, time
from pathlib import Path
from bot import corpus
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
docs = corpus.load(Path({str(corpus)!r}))
chunks = corpus.chunk_all(docs, 1200)
for p in corpus.find_files(Path({str(corpus)!r})):
    corpus.sha256_file(p)  # what the manifest records for every file, read or skipped
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"base_kb": base, "peak_kb": peak, "chunks": len(chunks),
                  "lines": sorted({{c.start_line for c in chunks}})[-1:] if chunks else [],
                  "seconds": time.perf_counter() - t}}))
""".replace("import resource", "import json, resource")


def test_file_over_the_limit_is_skipped_without_reading_it(make_corpus):
    s = make_corpus({"klein.txt": "Ein kleiner Text bleibt im Index.\n"})
    with open(s.corpus / "riesig.txt", "wb") as fh:  # sparse: no disk space, but stat says 50 MB + 1
        fh.truncate(corpus_mod.MAX_FILE_BYTES + 1)
    r = subprocess.run([sys.executable, "-c", _peak_rss_script(s.corpus)], cwd=ROOT, capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    out = json.loads(r.stdout)
    assert "skipping corpus/riesig.txt: larger than 50 MB" in r.stderr.decode()
    assert out["chunks"] == 1
    assert out["peak_kb"] - out["base_kb"] < 20_000, out  # far below the 50 MB it would take to read it


@pytest.mark.parametrize("shape", ["paragraphs", "short lines"])
def test_large_file_is_chunked_in_bounded_memory_and_time_with_progress(tmp_path, shape):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    words = "Vertrieb Prognose Umsatz Team Ziel Kunde Größe Markt Strategie Bericht Daten Analyse".split()
    with open(corpus / "gross.txt", "w", encoding="utf-8") as fh:
        n = 0
        while fh.tell() < 6 * 2**20:
            if shape == "paragraphs":
                fh.write(" ".join(words[(n + i) % 12] for i in range(60)) + f" Absatz {n}.\n\n")
            else:  # a list or log: short lines without full stops, no blank lines
                fh.write(f"{words[n % 12]} {n}\n")
            n += 1
    size = (corpus / "gross.txt").stat().st_size
    r = subprocess.run([sys.executable, "-c", _peak_rss_script(corpus)], cwd=ROOT, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    out = json.loads(r.stdout)
    assert "reading corpus/gross.txt (6.0 MB) ..." in r.stderr.decode()  # progress for large files
    assert out["chunks"] > 1000 and out["lines"][0] > n - 5 * 2**20 / 1200  # text to the end was chunked
    assert out["seconds"] < 30, out
    assert (out["peak_kb"] - out["base_kb"]) * 1024 < 12 * size, out  # a small multiple of the file


# 3. Broken or stale indexes -----------------------------------------------------------------

@pytest.fixture(scope="module")
def small_built(tmp_path_factory):
    """A corpus with a built index, copied (with its mtimes) by each test that breaks it."""
    base = tmp_path_factory.mktemp("small")
    (base / "corpus").mkdir()
    for name, text in SMALL.items():
        (base / "corpus" / name).write_text(text, encoding="utf-8")
    s = Settings(corpus=base / "corpus", index=base / "index")
    build.ensure(s, quiet=True)
    return s


@pytest.fixture
def small(small_built, tmp_path) -> Settings:
    shutil.copytree(small_built.corpus, tmp_path / "corpus")
    shutil.copytree(small_built.index, tmp_path / "index")
    s = Settings(corpus=tmp_path / "corpus", index=tmp_path / "index")
    assert build.stale_reason(s) is None
    return s


def _truncate(p: Path):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _drop_line(p: Path):
    p.write_text("".join(p.read_text(encoding="utf-8").splitlines(keepends=True)[1:]), encoding="utf-8")


def _edit_chunk(p: Path):  # same number of chunks and sentences, different text
    p.write_text(p.read_text(encoding="utf-8").replace("Nudeln", "Kartoffeln"), encoding="utf-8")


def _garbage_line(p: Path):
    p.write_text(p.read_text(encoding="utf-8") + '{"id": 9, "text": \n', encoding="utf-8")


def _manifest(**changes):
    def change(p: Path):
        m = json.loads(p.read_text(encoding="utf-8"))
        m.update(changes)
        p.write_text(json.dumps(m), encoding="utf-8")
    return change


BREAKAGES = {
    "truncated faiss.index": ("faiss.index", _truncate),
    "empty faiss.index": ("faiss.index", lambda p: p.write_bytes(b"")),
    "chunks.jsonl missing a line": ("chunks.jsonl", _drop_line),
    "chunks.jsonl edited": ("chunks.jsonl", _edit_chunk),
    "chunks.jsonl garbage line": ("chunks.jsonl", _garbage_line),
    "manifest from another format": ("manifest.json", _manifest(format=0)),
    "manifest from another embedder": ("manifest.json", _manifest(embedder="sentence-transformers:other")),
    "manifest with another dimension": ("manifest.json", _manifest(dim=768)),
    "manifest files not a list": ("manifest.json", _manifest(files=7)),
    "manifest not json": ("manifest.json", lambda p: p.write_text("{not json")),
    "manifest a list": ("manifest.json", lambda p: p.write_text("[]")),
}


def _fresh_and_valid(s: Settings):
    assert build.stale_reason(s) is None
    index = open_store(s).load()
    assert any("Nudeln" in c.text for c in index.chunks)
    assert not list(s.index.parent.glob(".index.tmp-*"))


@pytest.mark.parametrize("case", list(BREAKAGES))
def test_broken_index_is_detected_and_rebuilt_with_a_message(small, capsys, case):
    name, breaker = BREAKAGES[case]
    breaker(small.index / name)
    assert build.stale_reason(small) is not None or _load_fails(small)
    assert main(["index", *flags(small)]) == 0
    out, err = capsys.readouterr()
    assert "Building the index (" in err and "Traceback" not in err, err
    assert out.startswith("Indexed ")
    _fresh_and_valid(small)


def _load_fails(s: Settings) -> bool:
    with pytest.raises(IndexCorrupt):
        open_store(s).load()
    return True


@pytest.mark.parametrize("name", FILES)
def test_each_missing_index_file_is_detected_and_rebuilt(small, capsys, name):
    (small.index / name).unlink()
    code, objs, err = ask(small, "Wie kocht man Nudeln?", capsys=capsys)
    assert code == 0 and "Building the index (" in err and "Traceback" not in err
    check_answer(objs[0])
    _fresh_and_valid(small)


@pytest.mark.parametrize("where", ["a folder of other files", "the corpus folder", "a document"])
def test_an_index_path_that_is_no_index_is_refused_and_left_as_it_was(make_corpus, tmp_path, capsys, where):
    # A build replaces the whole index folder: `--index corpus` once deleted the corpus.
    s = make_corpus(SMALL)
    target = {"a folder of other files": tmp_path / "mine", "the corpus folder": s.corpus,
              "a document": s.corpus / "kochen.txt"}[where]
    if where == "a folder of other files":
        target.mkdir()
        (target / "notes.txt").write_text("keep me", encoding="utf-8")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    where_flags = ["--corpus", str(s.corpus), "--index", str(target)]
    for command in (["index", *where_flags], ["index", "--rebuild", *where_flags], ["ask", *where_flags, GOOD]):
        assert main(command) == 1
        one_line_error(capsys.readouterr().err, str(target), "--index")
    with pytest.raises(BotError):
        build.ensure(s.with_(index=target), quiet=True)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_leftovers_of_a_killed_build_are_cleaned_up(small, capsys):
    dead = small.index.parent / ".index.tmp-k1ll3d"
    dead.mkdir()
    (dead / "faiss.index").write_bytes(b"half")
    assert main(["index", "--rebuild", *flags(small)]) == 0
    assert not dead.exists()
    _fresh_and_valid(small)


def test_index_moved_aside_by_an_interrupted_swap_is_restored(small, capsys):
    # Where the filesystem has no atomic exchange, a kill between the two renames leaves
    # the old index under the temporary name: the next run puts it back instead of rebuilding.
    manifest = (small.index / "manifest.json").read_text()
    os.rename(small.index, small.index.parent / ".index.tmp-abc123-old")
    build.ensure(small)
    err = capsys.readouterr().err
    assert "Restored the index" in err and "Building" not in err
    assert (small.index / "manifest.json").read_text() == manifest
    _fresh_and_valid(small)


def test_build_killed_midway_leaves_the_previous_index_intact(small, tmp_path):
    before = {n: (small.index / n).read_bytes() for n in FILES}
    # Over 1 MB of new text: the build says it is reading it, then embeds for minutes.
    (small.corpus / "viel.txt").write_text("\n\n".join(
        f"Absatz {i}: der Vertrieb plant Quartal {i % 4 + 1} mit Ziel {i * 7} und Team {i % 9}." for i in range(16000)))
    log = tmp_path / "build.err"
    with open(log, "wb") as err:
        p = subprocess.Popen([sys.executable, "-m", "bot", "index", "--rebuild", *flags(small)], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 90
            while "reading corpus/viel.txt" not in log.read_text(errors="replace"):
                assert p.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.1)
            # Chunking takes well under a second; then it embeds (a progress bar where it shows one).
            deadline = time.monotonic() + 3
            while "embedding" not in log.read_text(errors="replace") and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)
            assert p.poll() is None, "the build finished before it could be killed"
            p.send_signal(signal.SIGKILL)
        finally:
            p.kill()
            p.wait()
    assert p.returncode == -signal.SIGKILL
    assert {n: (small.index / n).read_bytes() for n in FILES} == before
    index = open_store(small).load()  # the previous index, whole and loadable
    assert not any("Absatz" in c.text for c in index.chunks)
    assert "reading corpus/viel.txt (1." in log.read_text(errors="replace")
    assert "1 added" in build.stale_reason(small)


def test_two_builds_at_once_in_threads_take_turns(small, capsys):
    # flock locks belong to the open file, so two threads exclude each other like two processes.
    def rebuild():
        with open_store(small).lock():
            build.build(small)

    in_threads(rebuild)
    _fresh_and_valid(small)


def test_in_threads_fails_on_a_thread_still_running_or_raising():
    # The concurrency tests rely on it: a deadlock or an exception in a thread must fail them.
    import threading
    release, started = threading.Event(), []

    def second_one_hangs():
        started.append(1)
        if len(started) == 2:
            release.wait(30)

    with pytest.raises(pytest.fail.Exception, match="1 of 2 threads still running"):
        in_threads(second_one_hangs, timeout=0.5)
    release.set()

    def fail():
        raise ValueError("from a thread")

    with pytest.raises(ValueError, match="from a thread"):
        in_threads(fail)
    in_threads(lambda: None)


def test_two_processes_needing_the_index_at_once(small_built, tmp_path):
    shutil.copytree(small_built.corpus, tmp_path / "corpus")
    s = Settings(corpus=tmp_path / "corpus", index=tmp_path / "index")  # no index yet: both must wait for one
    procs = [subprocess.Popen([sys.executable, "-m", "bot", cmd, *flags(s), *extra], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for cmd, extra in (("index", ["--rebuild"]), ("ask", ["--json", "Wie kocht man Nudeln?"]))]
    results = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err.decode()
        assert b"Traceback" not in err
    check_answer(json.loads(results[1][0]))
    _fresh_and_valid(s)


# 5. Nothing leaves the machine ----------------------------------------------------------------

def _unshare_works() -> str | None:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return "unshare or ip is not installed"
    r = subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True)
    if r.returncode != 0:
        return f"unshare -n is not permitted here: {r.stderr.decode().strip()}"
    return None


def test_full_question_path_works_without_network(small_built, tmp_path):
    if reason := _unshare_works():
        pytest.skip(reason)
    shutil.copytree(small_built.corpus, tmp_path / "corpus")
    s = Settings(corpus=tmp_path / "corpus", index=tmp_path / "index")
    py, f = sys.executable, " ".join(f"'{a}'" for a in flags(s))
    script = (
        "ip link set lo up && "
        # Prove the namespace really has no way out before trusting the result.
        f"! {py} -c 'import socket; socket.create_connection((\"1.1.1.1\", 443), timeout=3)' 2>/dev/null && "
        f"{py} -m bot index {f} && {py} -m bot ask --json {f} 'Wie kocht man Nudeln?'"
    )
    r = subprocess.run(["unshare", "-n", "sh", "-c", script], cwd=ROOT, capture_output=True, timeout=240,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "", "TRANSFORMERS_OFFLINE": ""})
    assert r.returncode == 0, r.stderr.decode()
    obj = json.loads(r.stdout.decode().splitlines()[-1])
    check_answer(obj)
    assert not obj["refused"] and "Nudeln" in obj["citations"][0]["text"]
