"""Readers on real files made by real tools (man, groff, pandoc, pdftotext) on the fly: nothing lost."""
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from bot import corpus, readers
from bot.chunking import embedding_text
from bot.cli import main
from tools import MAN_DE, need, need_man

PAGES = ["ls", "cp", "mv", "tar", "find", "ps", "kill", "sort", "grep", "date", "mkdir"]


def render(page: str, fmt: str, out: Path) -> Path:
    src = MAN_DE / f"{page}.1.gz"
    if fmt == "txt":
        text = subprocess.run(["man", "-l", "-Tutf8", str(src)], capture_output=True, check=True,
                              env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin"}).stdout
        text = subprocess.run(["col", "-bx"], input=text, capture_output=True, check=True).stdout
    else:
        text = subprocess.run(["man", f"-T{fmt}", "-l", str(src)], capture_output=True, check=True,
                              env={"PATH": "/usr/bin:/bin"}).stdout
    out.write_bytes(text)
    return out


def chunks_of(path: Path, max_chars: int = 1200):
    doc = corpus.read(path, f"corpus/{path.name}", path.read_bytes())
    return corpus.chunk_document(doc, max_chars)


def squash(s: str) -> str:
    return "".join(s.split()).casefold()


def lost_lines(text: str, chunks) -> list[tuple[int, str]]:
    """Non-blank lines in no chunk's line range with all their words, and not a heading of one."""
    headings = {" ".join(h.split()) for c in chunks for h in c.headings}
    lost = []
    for i, line in enumerate(text.split("\n"), 1):
        if not line.strip() or " ".join(line.split()) in headings:
            continue
        words = re.findall(r"\w+", line)
        if not any(c.start_line <= i <= c.end_line and all(w in c.text for w in words) for c in chunks):
            lost.append((i, line))
    return lost


@pytest.mark.parametrize("page", PAGES)
def test_man_page_text_loses_no_line(tmp_path, page):
    need_man("de", page)
    path = render(page, "txt", tmp_path / f"{page}.txt")
    chunks = chunks_of(path)
    text = path.read_text(encoding="utf-8")
    assert lost_lines(text, chunks) == []
    assert all(c.text == c.text.strip() and c.text in text for c in chunks)


def test_man_page_structure(tmp_path):
    need_man("de", "ls", "tar")
    chunks = chunks_of(render("ls", "txt", tmp_path / "ls.txt"))
    by_section = {c.section: c for c in chunks}
    a = by_section["BESCHREIBUNG > -a, --all"]
    assert a.text.startswith("-a, --all") and "beginnen" in a.text and a.end_line == a.start_line + 1
    # The synopsis is text of its section, not the section of everything after it.
    assert any(c.section == "ÜBERSICHT" and c.text.startswith("ls [OPTION]") for c in chunks)
    assert not any(c.section.startswith("ls [OPTION]") for c in chunks)
    assert any(c.section == "SIEHE AUCH" and "dircolors(1)" in c.text for c in chunks)
    chunks = chunks_of(render("tar", "txt", tmp_path / "tar.txt"))
    sub = [c for c in chunks if c.section == "Informative Ausgabe > --full-time"]
    assert sub and sub[0].headings == ("OPTIONEN", "Informative Ausgabe")


def test_licence_and_article_lose_no_line(tmp_path):
    from conftest import ARTICLE
    # MPL-2.0 has underlined headings and boxes of stars: its rule lines were once in no chunk.
    paths = [ARTICLE] + [p for p in map(Path, ["/usr/share/common-licenses/GPL-3",
                                               "/usr/share/common-licenses/Apache-2.0",
                                               "/usr/share/common-licenses/MPL-2.0"]) if p.exists()]
    for path in paths:
        copy = tmp_path / (path.stem + ".txt")
        shutil.copy(path, copy)
        doc = corpus.read(copy, "corpus/x.txt", copy.read_bytes())
        chunks = corpus.chunk_document(doc, 1200)
        assert lost_lines(doc.text, chunks) == [], path


def pdftotext_page(pdf: Path, n: int, *options: str) -> str:
    return subprocess.run(["pdftotext", *options, "-f", str(n), "-l", str(n), "-enc", "UTF-8", str(pdf), "-"],
                          capture_output=True, check=True, text=True).stdout


def pdf_lost_lines(pdf: Path, chunks) -> list[tuple[int, str]]:
    """(page, line) of `pdftotext -layout` lines whose words are in no chunk of their page;
    running headers and footers (first or last two lines, repeated on most pages) aside."""
    from pypdf import PdfReader
    pages = [pdftotext_page(pdf, n, "-layout").split("\n") for n in range(1, len(PdfReader(pdf).pages) + 1)]
    shape = lambda line: re.sub(r"\d+", "#", " ".join(line.split()))  # noqa: E731
    edges = [[x for x in lines if x.strip()][:2] + [x for x in lines if x.strip()][-2:] for lines in pages]
    counts = Counter(s for edge in edges for s in {shape(x) for x in edge})
    lost = []
    for n, (lines, edge) in enumerate(zip(pages, edges), 1):
        texts = [c.text + "\n" + "\n".join(c.headings) for c in chunks if c.page == n]
        for line in lines:
            if not line.strip() or (line in edge and len(pages) > 1 and counts[shape(line)] >= max(2, len(pages) / 2)):
                continue
            words = re.findall(r"\w+", line)
            if not any(all(w in t for w in words) for t in texts):
                lost.append((n, line))
    return lost


def test_pdf_from_groff_pages_and_words(tmp_path):
    need_man("de", device="pdf")
    need("pdftotext")
    pdf = render("ls", "pdf", tmp_path / "ls.pdf")
    chunks = chunks_of(pdf)
    pages = {c.page for c in chunks}
    assert min(pages) == 1 and max(pages) >= 3 and all(c.start_line is None for c in chunks)
    assert all(c.location == f"p. {c.page}" for c in chunks)
    for c in chunks:
        # Whole words, on the page pdftotext shows them on: pypdf split "V erzeichnis", "fortf ahren".
        truth = set(re.findall(r"\w+", pdftotext_page(pdf, c.page, "-raw")))
        words = re.findall(r"\w+", c.text)
        assert sum(w in truth for w in words) >= 0.98 * len(words), (c.page, c.text[:80])
    assert not any(re.search(r"\b(?:V erzeichnis|rekursi ven|Anwender ,)", c.text) for c in chunks)
    # The running header and footer ("LS(1) ... LS(1)", "GNU coreutils 9.1 ... 2") are dropped.
    assert not any("Dienstprogramme für Benutzer" in c.text or "GNU coreutils 9.1" in c.text for c in chunks)
    assert any(c.section == "BESCHREIBUNG > -a, --all" for c in chunks)
    # "-l Langes Listenformat verwenden" is one line in the text layer: still a labelled option.
    assert any(c.section == "BESCHREIBUNG > -l" and "Langes Listenformat" in c.text for c in chunks)
    # Every line of the page as pdftotext lays it out, bar the running lines, is in a chunk of that page.
    assert pdf_lost_lines(pdf, chunks) == []


def test_html_from_man(tmp_path):
    need_man("de", device="html")
    html = render("ls", "html", tmp_path / "ls.html")
    chunks = chunks_of(html)
    assert {"BEZEICHNUNG", "BESCHREIBUNG", "SIEHE AUCH"} <= {c.headings[-1] for c in chunks if c.headings}
    a = next(c for c in chunks if c.section == "BESCHREIBUNG > -a, --all")
    assert "beginnen" in a.text and a.page is None and a.start_line is None and a.location == ""
    from bs4 import BeautifulSoup
    soup = BeautifulSoup(html.read_bytes(), "lxml")
    for tag in soup.find_all(["script", "style", "head"]):
        tag.decompose()
    kept = squash(" ".join(c.text for c in chunks) + " ".join(h for c in chunks for h in c.headings))
    for w in re.findall(r"\w+", soup.body.get_text(" ")):
        assert squash(w) in kept, w


def test_docx_and_markdown_from_pandoc(tmp_path):
    need_man("de", "cp", device="html")
    need("pandoc")
    html = render("cp", "html", tmp_path / "cp.html")
    docx, md = tmp_path / "cp.docx", tmp_path / "cp.md"
    subprocess.run(["pandoc", "-f", "html", "-t", "docx", str(html), "-o", str(docx)], check=True)
    subprocess.run(["pandoc", "-f", "html", "-t", "gfm", str(html), "-o", str(md)], check=True)
    for path in (docx, md):
        chunks = chunks_of(path)
        assert any(c.section == "BESCHREIBUNG > -a, --archive" for c in chunks), path
        assert any(c.headings and c.headings[-1] == "SIEHE AUCH" for c in chunks), path
    import docx as python_docx
    kept = squash(" ".join(c.text for c in chunks_of(docx)))
    for p in python_docx.Document(str(docx)).paragraphs:
        if p.style.name.startswith("Heading"):
            continue
        for w in re.findall(r"\w+", p.text):
            assert squash(w) in kept, w
    # Markdown is quoted as it reads: pandoc's "**  \n-a**, **--archive**" is "-a, --archive", line for line.
    md_text = md.read_text(encoding="utf-8")
    md_chunks = chunks_of(md)
    seen = corpus.read(md, "corpus/cp.md", md.read_bytes()).text
    assert len(seen.split("\n")) == len(md_text.split("\n"))
    assert "-a**, **--archive**" in md_text and "\n-a, --archive\n" in seen
    assert all(c.text in seen for c in md_chunks)
    lines = seen.split("\n")
    for c in md_chunks:
        assert c.text.startswith(lines[c.start_line - 1].strip()[:20])
        assert c.text.endswith(lines[c.end_line - 1].strip()[-20:])
    assert any(c.text.startswith("-a, --archive\n") for c in md_chunks)
    kept = squash(" ".join(c.text for c in md_chunks) + " ".join(h for c in md_chunks for h in c.headings))
    assert all(squash(w) in kept for w in re.findall(r"\w+", md_text) if w not in ("span", "id")), \
        [w for w in re.findall(r"\w+", md_text) if squash(w) not in kept][:5]


def test_docx_localized_headings_lists_and_tables(tmp_path):
    import docx
    from docx.enum.style import WD_STYLE_TYPE
    d = docx.Document()
    d.styles.add_style("Überschrift 1", WD_STYLE_TYPE.PARAGRAPH)
    d.add_paragraph("Anleitung", style="Überschrift 1")
    d.add_paragraph("Erster Absatz über das Kochen von Nudeln.")
    d.add_paragraph("Salz ins Wasser", style="List Bullet")
    d.add_paragraph("Nudeln hinein", style="List Bullet")
    t = d.add_table(rows=2, cols=2)
    t.cell(0, 0).text, t.cell(0, 1).text = "Sorte", "Minuten"
    t.cell(1, 0).text, t.cell(1, 1).text = "Spaghetti", "9"
    d.save(tmp_path / "k.docx")
    chunks = chunks_of(tmp_path / "k.docx")
    assert [c.section for c in chunks] == ["Anleitung"] * 3
    assert chunks[1].text == "Salz ins Wasser\nNudeln hinein"  # one list, read whole
    assert chunks[2].text == "Sorte | Minuten\nSpaghetti | 9"


def test_unreadable_files_are_skipped_with_one_warning(make_corpus, capsys):
    from pypdf import PdfWriter
    w = PdfWriter()
    w.add_blank_page(200, 200)
    w.encrypt("geheim")
    import io
    buf = io.BytesIO()
    w.write(buf)
    s = make_corpus({"gut.txt": "Ein lesbarer Text.\n", "geheim.pdf": buf.getvalue(), "kaputt.docx": b"PK\x03\x04kaputt",
                     "leer.pdf": b"%PDF-1.4 nichts"})
    docs = corpus.load(s.corpus)
    err = capsys.readouterr().err
    assert [d.source for d in docs] == ["corpus/gut.txt"]
    for name in ("geheim.pdf", "kaputt.docx", "leer.pdf"):
        [line] = [x for x in err.splitlines() if name in x]
        assert line.startswith(f"warning: skipping corpus/{name}: ")
    assert "encrypted" in err and "Traceback" not in err


def test_embedding_text_joins_hyphenation_but_chunk_text_stays():
    from bot.records import Chunk
    c = Chunk(0, "corpus/x.txt", "", 1, 3, "mit -l: An‐\n       zeigen von Kurz- und\nLangform, Ein-\nträge", ((0, 50),))
    assert embedding_text(c.text) == "mit -l: Anzeigen von Kurz- und Langform, Einträge"
    assert "An‐\n" in c.text


def test_chunks_command_json_and_errors(tmp_path, capsys):
    need_man("de", "mkdir", device="pdf")
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    render("mkdir", "pdf", corpus_dir / "mkdir.pdf")
    (corpus_dir / "a.txt").write_text("Titel\n\nErste Zeile\nzweite Zeile.\n", encoding="utf-8")
    assert main(["chunks", "--json", "--corpus", str(corpus_dir), "--index", str(tmp_path / "index")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["source"] for r in rows} == {"corpus/a.txt", "corpus/mkdir.pdf"}
    a = next(r for r in rows if r["source"] == "corpus/a.txt")
    assert (a["section"], a["start_line"], a["end_line"], a["page"], a["text"]) == (
        "Titel", 3, 4, None, "Erste Zeile\nzweite Zeile.")
    assert all(r["page"] >= 1 and r["start_line"] is None for r in rows if r["source"].endswith(".pdf"))
    assert not (tmp_path / "index").exists()  # nothing embedded, no index written
    assert main(["chunks", "--corpus", str(corpus_dir), str(corpus_dir / "a.txt")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("corpus/a.txt lines 3-4 [Titel]\n    Erste Zeile\n")
    assert main(["chunks", "--corpus", str(corpus_dir), str(tmp_path / "missing.txt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_ask_json_cites_the_pdf_page(tmp_path, capsys):
    need_man("de", device="pdf")
    need("pdftotext")
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    pdf = render("ls", "pdf", corpus_dir / "ls.pdf")
    assert main(["ask", "--json", "--corpus", str(corpus_dir), "--index", str(tmp_path / "index"),
                 "Welche Option sortiert nach Dateigröße?"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert not r["refused"] and r["citations"]
    for c in r["citations"] + r["passages"]:
        assert c["source"] == "corpus/ls.pdf" and c["start_line"] is None and c["location"] == f"p. {c['page']}"
        words = re.findall(r"\w{6,}", c["text"])
        truth = squash(pdftotext_page(pdf, c["page"]))
        assert sum(squash(w) in truth for w in words) >= 0.9 * len(words)


def test_upload_accepts_documents_checked_by_reading_them(tmp_path):
    from bot import documents
    from bot.config import Settings
    from bot.errors import UploadError
    import docx
    d = docx.Document()
    d.add_paragraph("Ein Absatz.")
    d.save(tmp_path / "x.docx")
    s = Settings(corpus=tmp_path / "corpus", index=tmp_path / "index")
    assert documents.save(s, "bericht.docx", (tmp_path / "x.docx").read_bytes()).name == "bericht.docx"
    assert documents.save(s, "seite.html", b"<html><body><p>Hallo Welt</p></body></html>").exists()
    with pytest.raises(UploadError, match="kaputt.pdf cannot be added"):
        documents.save(s, "kaputt.pdf", b"%PDF-1.4 kein pdf")
    with pytest.raises(UploadError, match="not a document the bot reads"):
        documents.save(s, "bild.png", b"\x89PNG")
    assert ".pdf" in readers.SUFFIXES and ".docx" in documents.SUFFIXES
    assert sorted(p.name for p in s.corpus.iterdir()) == ["bericht.docx", "seite.html"]


def test_numbered_clauses_that_run_on_are_text_not_headings():
    # Licence clauses start with a number but go on into the next line: their first line is
    # text that must be quoted and found, not a heading. (Once, such a line also hung the parser.)
    from bot.readers.text import parse
    text = ("Conditions\n\n"
            "1. Redistributions of source code must retain the above copyright\n"
            "   notice, this list of conditions and the following disclaimer.\n"
            "  15. BECAUSE THE LIBRARY IS LICENSED FREE OF CHARGE, THERE IS NO\n"
            "WARRANTY FOR THE LIBRARY, TO THE EXTENT PERMITTED BY APPLICABLE LAW.\n\n"
            "2) Short heading\n"
            "Text under it.\n")
    blocks = parse(text)
    joined = "\n".join(b.text for b in blocks)
    assert "1. Redistributions of source code must retain" in joined
    assert "15. BECAUSE THE LIBRARY IS LICENSED FREE OF CHARGE" in joined
    assert blocks[-1].section[-1] == "2) Short heading" and blocks[-1].text == "Text under it."


def test_rules_and_boxes_lie_in_chunks_without_becoming_text_of_their_own(tmp_path):
    text = ("Some Public License\n===================\n\n1. Definitions\n--------------\n\n"
            "A contributor is anyone who adds code.\n\n"
            "****************************************\n*  6. Disclaimer of Warranty           *\n"
            "*  --------------------------          *\n*                                      *\n"
            "*  The software is provided as is.     *\n****************************************\n\n"
            "************\n\nThe end.\n------------\n")
    path = tmp_path / "licence.txt"
    path.write_text(text, encoding="utf-8")
    chunks = chunks_of(path)
    assert lost_lines(text, chunks) == []  # rule lines too: each lies in some chunk's line range
    assert all(re.search(r"\w", c.text) for c in chunks)  # no chunk of stars or dashes alone
    for c in chunks:  # line numbers still point at exactly the chunk's text
        assert c.text in "\n".join(text.split("\n")[c.start_line - 1:c.end_line])
        assert c.text.count("\n") == c.end_line - c.start_line
    sentences = [c.text[s:e] for c in chunks for s, e in c.sentences]
    assert all(re.search(r"\w", s) for s in sentences)
    assert embedding_text("*** WARNUNG *** ====") == "WARNUNG"


def test_markdown_is_quoted_without_its_markup_but_code_stays(tmp_path):
    text = ("# Notes\n\nThe **sales manager** owns the *team*; `make test` runs the suite.\n"
            "A glob like ls *.txt and a\\*b stay, as does 2 * 3.\n\n```sh\necho **kept** `date`\n```\n")
    path = tmp_path / "notes.md"
    path.write_bytes(text.encode())
    doc = corpus.read(path, "corpus/notes.md", text.encode())
    chunks = corpus.chunk_document(doc, 1200)
    quoted = "\n".join(c.text for c in chunks)
    assert "The sales manager owns the team; make test runs the suite." in quoted
    assert "A glob like ls *.txt and a*b stay, as does 2 * 3." in quoted
    assert "echo **kept** `date`" in quoted  # code is quoted as written
    lines = text.split("\n")
    for c in chunks:  # line numbers still point at the lines the text comes from, word for word
        assert c.text.count("\n") == c.end_line - c.start_line
        assert re.findall(r"\w+", c.text) == re.findall(r"\w+", "\n".join(lines[c.start_line - 1:c.end_line]))


def test_pdf_without_poppler_is_read_by_pypdf_with_a_note(tmp_path):
    need_man("de", "mkdir", "rmdir", device="pdf")
    import sys
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    render("mkdir", "pdf", corpus_dir / "mkdir.pdf")
    render("rmdir", "pdf", corpus_dir / "rmdir.pdf")
    # An empty PATH: no pdftotext.
    bare = tmp_path / "bin"
    bare.mkdir()
    out = subprocess.run([sys.executable, "-m", "bot", "chunks", "--json", "--corpus", str(corpus_dir)],
                         capture_output=True, text=True, env={"PATH": str(bare), "HF_HUB_OFFLINE": "1"},
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr
    notes = [line for line in out.stderr.splitlines() if "pdftotext" in line]
    assert len(notes) == 1 and "apt-get install poppler-utils" in notes[0]  # once, not per file
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert {r["source"] for r in rows} == {"corpus/mkdir.pdf", "corpus/rmdir.pdf"}
    assert any("--parents" in r["text"] for r in rows)
