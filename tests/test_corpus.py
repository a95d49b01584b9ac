from pathlib import Path

from bot import corpus
from conftest import ARTICLE


def chunks_of(text: str, name: str = "doc.txt", max_chars: int = 1200):
    doc = corpus.Document(Path(name), f"corpus/{name}", text, "")
    return corpus.chunk_document(doc, max_chars)


def test_article_sections_and_line_numbers():
    chunks = corpus.chunk_all(corpus.load(ARTICLE.parent), 1200)
    lines = ARTICLE.read_text(encoding="utf-8").split("\n")
    assert len(chunks) == 22
    for c in chunks:
        # The line numbers point at exactly the chunk's text.
        assert c.text in "\n".join(lines[c.start_line - 1:c.end_line])
        assert c.text.startswith(lines[c.start_line - 1].strip()[:30])
    by_line = {c.start_line: c for c in chunks}
    assert by_line[6].section == "1.1 - Was ist ein Vertriebsleiter?"
    assert by_line[24].section.startswith("2) Was ist der Unterschied")
    assert "Verkaufsprognose und dem Pipeline-Management" in by_line[24].text
    assert by_line[33].section == "2.3 - Beispiel im Kontext einer digitalen Marketingagentur"
    # Headings and the doubled title line are not passages of their own.
    assert not any(c.text.startswith(("1.1 -", "Vertriebsleiter vs.")) for c in chunks)
    assert all(c.source == "corpus/" + ARTICLE.name for c in chunks)


def test_sentences_respect_abbreviations():
    [chunk] = chunks_of("Sie verwalten Tools, wie z.B. CRM-Software, um Zeit zu sparen. Das hilft. Dr. Meier sagt es.\n")
    sentences = [chunk.text[s:e] for s, e in chunk.sentences]
    assert sentences == ["Sie verwalten Tools, wie z.B. CRM-Software, um Zeit zu sparen.", "Das hilft.",
                         "Dr. Meier sagt es."]


def test_markdown_headings_and_wrapped_paragraphs():
    text = ("# Guide\n\nIntro line one that is wrapped\nand continues here.\n\n## Setup\n\n"
            "Install it first.\nThen run it.\n\n```\n# not a heading\n```\n")
    chunks = chunks_of(text, "guide.md")
    assert [(c.section, c.start_line, c.end_line) for c in chunks] == [
        ("Guide", 3, 4), ("Setup", 8, 9), ("Setup", 11, 13)]
    assert chunks[0].text == "Intro line one that is wrapped\nand continues here."


def test_plain_text_title_is_not_taken_from_wrapped_paragraph():
    text = "Short Title\n\nthis paragraph is wrapped at a short width\nso its first line looks like a title\nbut is not.\n"
    [chunk] = chunks_of(text)
    assert chunk.section == "Short Title"
    assert (chunk.start_line, chunk.end_line) == (3, 5)


def test_long_paragraph_split_on_sentences_with_bounded_size():
    text = "Titel\n" + " ".join(f"Dies ist Satz Nummer {i} mit einigen Wörtern darin." for i in range(100)) + "\n"
    chunks = chunks_of(text, max_chars=300)
    assert len(chunks) > 10
    assert all(len(c.text) <= 300 for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)
    assert all(c.start_line == c.end_line == 2 for c in chunks)


def test_repeated_paragraph_is_a_chunk_each_time():
    # Each repeat keeps its lines (nothing lost); retrieval lists it once
    # (test_retrieval.py::test_a_repeated_paragraph_is_one_hit).
    para = "Dieser Absatz steht zweimal im Dokument, aber er soll nur einmal gefunden werden, weil er gleich ist."
    chunks = chunks_of(f"{para}\n\n{para}\n\nEin anderer Absatz, der auch lang genug ist, um ein Absatz zu sein.\n")
    assert [c.start_line for c in chunks] == [1, 3, 5]
