"""Property tests (hypothesis) for the chunker and the citation composer: no model, no index."""
import re
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings, strategies as st

from bot import corpus
from bot.answer import compose, markers
from bot.records import Chunk, Hit

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces that exercise the chunker's rules: headings of both kinds, sentence ends,
# abbreviations, long lines, fences, odd whitespace and characters from other scripts.
FRAGMENTS = st.sampled_from([
    "Der Vertriebsleiter führt das Team.", "Who owns forecasting?", "Wow!", "z.B. CRM-Software", "Dr. Meier",
    "Abb. 3 zeigt", "usw.", "...", "…", "e.g. this", "Short Title", "1) Definition", "1.1 - Was ist das",
    "2.3 – Beispiel", "3. Results", "# Heading", "## Setup ##", "```", "[1]", "(2)", "„Zitat“", "»x«",
    "销售预测由谁负责？", "من المسؤول؟", "🙂", "\t", " ", "  ", "\r", "\x0c", "\u2028", "\x00", "a", "B.", "?",
    "x" * 130, "word " * 30, "Satz eins. Satz zwei! Satz drei? ",
])
LINE = st.lists(st.one_of(FRAGMENTS, st.text(max_size=12)), max_size=6).map(" ".join)
TEXT = st.one_of(
    st.lists(st.one_of(LINE, st.just("")), max_size=25).map("\n".join),
    st.text(max_size=400),
)


def chunks_of(text: str, name: str, max_chars: int) -> list[Chunk]:
    return corpus.chunk_document(corpus.Document(Path(name), f"corpus/{name}", text, ""), max_chars)


def line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer("\n", text)]


def norm(s: str) -> str:
    return " ".join(s.split()).casefold()


def made_of_kept_text(gap: str, kept: str) -> bool:
    """True if gap, left to right, is made of runs of text some kept chunk contains (a dropped
    duplicate may be several pieces of a long sentence). Whitespace is ignored; being a
    substring is monotone in the prefix length, so the longest run is found by bisection."""
    gap = "".join(gap.split())
    i = 0
    while i < len(gap):
        lo, hi = i, len(gap)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if gap[i:mid] in kept:
                lo = mid
            else:
                hi = mid - 1
        if lo == i:
            return False
        i = lo
    return True


def excused_lines(lines: list[str], chunks: list[Chunk]) -> set[int]:
    """Lines that are headings instead of text: each must be in the heading path of some chunk
    (so it is not lost either); an underline of one (=== or ---) has no words to lose."""
    headings = {norm(h) for c in chunks for h in c.headings if h.strip()}
    excused = set()
    for i, line in enumerate(lines):
        if norm(line) in headings or norm(line).strip("#").strip() in headings:
            excused.add(i)
        elif i - 1 in excused and line.strip() and not any(ch.isalnum() for ch in line):
            excused.add(i)
    return excused


@FAST
@given(text=TEXT, md=st.booleans(), max_chars=st.integers(20, 400))
@example(text="Hello world", md=False, max_chars=1200)  # a one-line note once produced no chunk at all
@example(text="Einkaufsliste\n\nMehl\nWasser\nSalz\n", md=False, max_chars=1200)
# Rule lines between headings with no text, and after the last one, were once in no chunk.
@example(text="=====\n# Head\n*****\n1. Definitions", md=False, max_chars=20)
@example(text="=====\n1. Definitions\n\n*****", md=False, max_chars=20)
@example(text="1. Definitions\n*    *", md=False, max_chars=20)
def test_chunks_point_at_their_lines_and_lose_nothing(text, md, max_chars):
    name = "doc.md" if md else "doc.txt"
    chunks = chunks_of(text, name, max_chars)
    lines = text.split("\n")
    starts = line_starts(text)
    covered = bytearray(len(text))
    for n, c in enumerate(chunks):
        assert c.id == n and c.source == f"corpus/{name}"
        assert c.text and c.text == c.text.strip() and len(c.text) <= max_chars
        assert 1 <= c.start_line <= c.end_line <= len(lines)
        # Line numbers point at exactly this text: it starts on start_line and ends on end_line.
        assert c.text in "\n".join(lines[c.start_line - 1:c.end_line])
        pos = text.find(c.text, starts[c.start_line - 1])
        assert starts[c.start_line - 1] <= pos < (starts[c.start_line] if c.start_line < len(starts) else len(text) + 1)
        assert c.text.count("\n") == c.end_line - c.start_line
        covered[pos:pos + len(c.text)] = b"\x01" * len(c.text)
        # Sentence spans: inside the chunk, ordered, not overlapping, trimmed, covering its words.
        assert c.sentences and c.sentences[0][0] == 0 and c.sentences[-1][1] == len(c.text)
        prev = 0
        for s, e in c.sentences:
            assert prev <= s < e <= len(c.text)
            assert c.text[s:e] == c.text[s:e].strip()
            assert not c.text[prev:s].strip()
            prev = e
    # Nothing lost: every character of text is in a chunk, unless its line is a heading (of some
    # chunk). Where a text repeats itself, this finds each chunk at the first repeat, so a
    # later one need only be made of chunk texts (see test_repeated_paragraphs_are_each_a_chunk).
    kept = "\x01".join("".join(norm(c.text).split()) for c in chunks)
    excused = excused_lines(lines, chunks)
    for i, line in enumerate(lines):
        if i in excused or not line.strip():
            continue
        gaps = re.findall(r"\S(?:.*\S)?", "".join(ch if covered[starts[i] + j] == 0 else "\x01"
                                                  for j, ch in enumerate(line)).replace("\x01", "\n"))
        for gap in gaps:
            assert made_of_kept_text(norm(gap), kept), (i, line, gap)


def test_repeated_paragraphs_are_each_a_chunk():
    # wodim's man page says "und danach" between three pairs of commands: the second and third
    # were dropped as duplicates, so their lines were in no chunk.
    text = "BEISPIELE\n       Zuerst\n\n           a -x\n\n       und danach\n\n           b -y\n\n" \
           "       Dann\n\n           c -z\n\n       und danach\n\n           d -w\n"
    chunks = chunks_of(text, "wodim.txt", 1200)
    lines = [i + 1 for i, line in enumerate(text.split("\n")) if line.strip() == "und danach"]
    assert lines == [6, 14]
    for n in lines:
        assert any(c.start_line <= n <= c.end_line and "und danach" in c.text for c in chunks), n


@FAST
@given(text=TEXT)
def test_sentence_spans_are_ordered_and_trimmed(text):
    spans = corpus.split_sentences(text)
    prev = 0
    for s, e in spans:
        assert prev <= s < e <= len(text)
        assert text[s:e] == text[s:e].strip() and not text[prev:s].strip()
        prev = e
    assert not text[prev:].strip()


MARKUP = st.sampled_from(["**", "*", "`", "\\", "**bold**", "*it*", "`code`", "\\*", "ls *.txt", "**  \n-a**"])
MD_LINE = st.lists(st.one_of(FRAGMENTS, MARKUP, st.text(max_size=8)), max_size=8).map(" ".join)


@FAST
@given(text=st.lists(st.one_of(MD_LINE, st.just("")), max_size=20).map("\n".join), max_chars=st.integers(20, 400))
@example(text="0`0 0`", max_chars=20)
def test_markdown_is_chunked_as_it_reads_line_for_line(text, max_chars):
    # Markup characters go, nothing else: not a line, not a word ("0`0 0`" reads "00 0", as
    # rendered: the word "0" is still there); chunks are slices of what is left.
    data = text.encode("utf-8", "surrogatepass")
    try:
        doc = corpus.read(Path("doc.md"), "corpus/doc.md", data)
    except corpus.UnreadableDocument:
        return
    raw = doc.text if doc.text is not None else ""
    decoded = corpus.decode(data).replace("\r\n", "\n").replace("\r", "\n")
    assert raw.count("\n") == decoded.count("\n") and len(raw) <= len(decoded)
    for before, after in zip(decoded.split("\n"), raw.split("\n")):  # every word stays on its line
        assert all(w in after for w in re.findall(r"\w+", before)), (before, after)
    starts = line_starts(raw)
    for c in corpus.chunk_document(doc, max_chars):
        pos = raw.find(c.text, starts[c.start_line - 1])  # it starts on start_line, ends on end_line
        assert starts[c.start_line - 1] <= pos < (starts[c.start_line] if c.start_line < len(starts) else len(raw) + 1)
        assert c.text.count("\n") == c.end_line - c.start_line


SENTENCE = st.one_of(FRAGMENTS, st.text(min_size=1, max_size=40)).filter(lambda s: s.strip())


@st.composite
def hits(draw):
    out = []
    ids = draw(st.lists(st.integers(0, 50), unique=True, max_size=6))
    for cid in ids:
        sentences = draw(st.lists(SENTENCE, min_size=0, max_size=4))
        text, spans = "", []
        for s in sentences:
            s = s.strip()
            if text:
                text += draw(st.sampled_from([" ", "\n", "  "]))
            spans.append((len(text), len(text) + len(s)))
            text += s
        chunk = Chunk(cid, "corpus/x.txt", "", 1, 1 + text.count("\n"), text, tuple(spans))
        score = draw(st.floats(0, 1))
        sentence_scores = tuple(draw(st.lists(st.floats(0, 1), max_size=len(spans))))
        out.append(Hit(chunk, score, sentence_scores))
    return out


@FAST
@given(hs=hits(), lang=st.sampled_from(["en", "de", "fr"]))
@example(hs=[Hit(Chunk(7, "corpus/x.txt", "", 1, 1, "See [1] and [2].", ((0, 16),)), 0.9, (0.9,))], lang="en")
def test_every_marker_has_exactly_one_citation(hs, lang):
    text, citations = compose(hs, lang)
    numbers = [c.n for c in citations]
    assert sorted(numbers) == list(range(1, len(citations) + 1))  # each n once, no gaps
    assert set(markers(text)) == set(numbers)  # every marker cited, no unused citation
    by_id = {h.chunk.id: h for h in hs}
    for c in citations:
        assert by_id[c.hit.chunk.id] is c.hit
        assert c.highlights
        for s, e in c.highlights:
            assert 0 <= s < e <= len(c.hit.chunk.text)
            assert (s, e) in c.hit.chunk.sentences
            # The highlighted sentence is what the answer quotes (with bracketed numbers made inert).
            quoted = re.sub(r"\[(\d+)\]", r"(\1)", " ".join(c.hit.chunk.text[s:e].split()))
            assert quoted in text
    if not any(h.chunk.sentences for h in hs[:3]):
        assert (text, citations) == ("", ())
