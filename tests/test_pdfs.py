"""PDFs as people get them: English man pages printed by groff to PostScript and turned into PDF
by Ghostscript (Unicode minus signs), and rendered to HTML and printed by Chromium. Made on the
fly from recipes (bot/corpora.py), read from the words' positions, matched folded."""
import json
import re
from pathlib import Path

import pytest

from bot import corpus
from bot.chunking import embedding_text
from bot.cli import main
from bot.corpora import man_pdf
from bot.lexical import technical, tokenize
from bot.matching import fold, normalise
from bot.readers import option_like
from test_readers import pdf_lost_lines
from tools import need, need_man

PRODUCERS = {"ps2pdf": ("ps", "ps2pdf"), "chromium": ("html", "chromium"), "chromium-headers": ("html", "chromium"),
             "gropdf": ("pdf",)}


def make_pdf(page: str, producer: str, folder: Path) -> Path:
    device, *tools = PRODUCERS[producer]
    need_man("en", page, device=device)
    need("pdftotext", *tools)
    path = folder / f"{page}.pdf"
    path.write_bytes(man_pdf(page, producer, "en"))
    return path


def chunks_of(path: Path):
    return corpus.chunk_document(corpus.read(path, f"corpus/{path.name}", path.read_bytes()), 1200)


def by_label(chunks) -> dict[str, list]:
    out: dict[str, list] = {}
    for c in chunks:
        out.setdefault(fold(c.section.rsplit(" > ", 1)[-1]), []).append(c)
    return out


@pytest.mark.parametrize("producer", ["ps2pdf", "chromium", "chromium-headers", "gropdf"])
def test_options_keep_their_descriptions_and_nothing_is_lost(tmp_path, producer):
    pdf = make_pdf("ls", producer, tmp_path)
    chunks = chunks_of(pdf)
    labels = by_label(chunks)
    # The option and its description are one passage, labelled by the option, whichever way the
    # producer writes its dashes ("−A, −−almost−all" from Ghostscript).
    almost = labels["-A, --almost-all"]
    assert len(almost) == 1 and "do not list implied . and .." in " ".join(almost[0].text.split())
    assert "entries starting with ." in labels["-a, --all"][0].text
    # Both forms of an option with a short description: on its own line above it, or beside it.
    assert "sort by file size, largest first" in labels["-S"][0].text
    assert "use a long listing format" in labels["-l"][0].text
    assert all(c.headings and c.headings[-1] in {"NAME", "SYNOPSIS", "DESCRIPTION", "AUTHOR", "REPORTING BUGS",
                                                 "COPYRIGHT", "SEE ALSO"} for c in chunks if c.section != "LS")
    # Running headers and footers are gone: groff's "LS(1) User Commands LS(1)", "GNU coreutils
    # 9.1 September 2022 1"; Chromium's date and title, file URL and "1/4".
    text = "\n".join(c.text for c in chunks)
    assert "User Commands" not in text and "GNU coreutils 9.1" not in text and "file://" not in text
    assert not re.search(r"^\d+/\d+$", text, re.M)
    # Every line pdftotext lays out (running lines aside) is in a chunk cited on its page.
    assert pdf_lost_lines(pdf, chunks) == []
    assert {c.page for c in chunks} == set(range(1, max(c.page for c in chunks) + 1))


def test_a_description_over_a_page_break_is_cited_on_both_pages_with_its_option(tmp_path):
    pdf = make_pdf("ls", "chromium", tmp_path)
    parts = by_label(chunks_of(pdf))["--quoting-style=WORD"]  # Chromium breaks the page inside it
    assert [c.page for c in parts] == [2, 3]
    assert parts[0].text.startswith("--quoting-style=WORD") and "literal" in parts[1].text
    import subprocess
    # Each part on the page pdftotext shows its words on.
    for c in parts:
        shown = subprocess.run(["pdftotext", "-f", str(c.page), "-l", str(c.page), str(pdf), "-"],
                               capture_output=True, text=True).stdout
        assert all(w in shown for w in re.findall(r"\w+", c.text))


def test_one_normalisation_for_matching():
    # What Ghostscript prints, what a word processor makes of it, and what people type.
    assert fold("−A, −−almost−all") == "-A, --almost-all" == fold("‐A, ––almost‑all")
    assert (fold("’−−block−size=M’ ˜/x ˆa „so“ ﬁle ＬＳ－ａ\u00a0x")
            == "'--block-size=M' ~/x ^a \"so\" file LS-a x")
    assert fold("Stra\u00adße") == "Straße"
    assert technical(normalise("−A, −−almost−all")) == technical("-A, --almost-all") == ["-A",
                                                                                          "--almost-all"]
    assert tokenize("use −−almost−all", None) == tokenize("use --almost-all", None)
    assert option_like("−a, −−all") and option_like("–a, ––all") and not option_like("a list of −1 things")
    # Broken at a line end: hyphenated words joined, options kept whole (Chromium breaks after "--").
    assert embedding_text("any use of --\nsort=none (-U)") == "any use of --sort=none (-U)"
    assert (embedding_text("e.g., ’−−block−\nsize=M’ and informa-\n  tion")
            == "e.g., '--block-size=M' and information")


def test_ask_finds_the_option_of_a_ghostscript_pdf(tmp_path, capsys):
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    make_pdf("ls", "ps2pdf", corpus_dir)
    # Ghostscript writes "−a, −−all" with minus signs; people type "-a" or paste "−A".
    args = ["ask", "--json", "--corpus", str(corpus_dir), "--index", str(tmp_path / "index")]
    assert main(args + ["What does ls -a do?", "What does ls −A do?", "Was macht die Option --almost-all?"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for r in rows:
        assert not r["refused"], r["question"]
        cited = [fold(c["section"]) for c in r["citations"]]
        assert any(s.endswith(("> -a, --all", "> -A, --almost-all")) for s in cited), (r["question"], cited)
        for c in r["citations"]:
            assert c["page"] == 1 and c["location"] == "p. 1" and c["start_line"] is None


def test_pdf_chunks_quote_the_text_as_extracted(tmp_path):
    chunks = chunks_of(make_pdf("ls", "ps2pdf", tmp_path))
    # Matching is folded; quoting is not: Ghostscript's minus signs and quotes stay.
    assert any("−A, −−almost−all" in c.text for c in chunks)
    assert any("’−−block−size=M’" in c.text for c in chunks)


TWO_COLUMNS = """<html><head><style>body{font-family:serif;font-size:11pt}
.cols{column-count:2;column-gap:2em;text-align:justify}</style></head><body><h1>Gardening in Small Spaces</h1>
<div class="cols"><h2>Soil</h2>
<p>Good soil is the foundation of every garden. Mix compost into the top layer every spring so that the roots
find air, water and food. Heavy clay drains slowly and benefits from coarse sand and leaf mould, while sandy
soil dries out quickly and needs organic matter to hold moisture through the summer months.</p>
<p>Test the acidity of your soil with a simple kit from any garden centre. Most vegetables prefer a slightly
acidic to neutral soil, between six and seven on the scale.</p>
<h2>Watering</h2>
<p>Water deeply and rarely rather than a little every day. Deep watering teaches roots to grow down where the
soil stays moist, and a plant with deep roots survives a dry week without help. Water in the early morning so
that the leaves dry before the evening and fungal diseases have less chance to spread.</p>
<p>Containers dry out much faster than beds. In hot weather a small pot may need water twice a day, and a
saucer under it keeps a reserve for the afternoon.</p>
<h2>Light</h2>
<p>Most fruiting plants such as tomatoes, peppers and beans need at least six hours of direct sun. Leafy
greens such as lettuce, spinach and chard tolerate partial shade and even prefer it in midsummer.</p>
<p>Observe your balcony or yard for a whole day before planting. Note where the shadows of walls and trees
fall in the morning, at noon and in the afternoon, and put the sun lovers where the light lasts longest.</p>
<h2>Pests</h2>
<p>Slugs are the most common pest in damp gardens. Collect them in the evening, set beer traps, or protect
young seedlings with copper tape around the pots.</p></div></body></html>"""


@pytest.mark.parametrize("headers", [False, True])
def test_a_page_in_two_columns_is_read_column_by_column(tmp_path, headers):
    need("chromium", "pdftotext")
    import subprocess
    html, pdf = tmp_path / "garden.html", tmp_path / "garden.pdf"
    html.write_text(TWO_COLUMNS, encoding="utf-8")
    flags = [] if headers else ["--no-pdf-header-footer"]
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", *flags,
                    f"--print-to-pdf={pdf}", html.as_uri()], capture_output=True, check=True, timeout=120)
    chunks = chunks_of(pdf)
    assert max(c.page for c in chunks) == 1
    # One page: Chromium's small date, title, file address and "1/1" at its edges are not text.
    assert not any("file://" in c.text or re.search(r"\d, \d+:\d\d|^1/1$", c.text, re.M) for c in chunks)
    flat = [(c.section, " ".join(c.text.split())) for c in chunks]
    # Each paragraph whole and under its heading, though the page's lines mix both columns.
    for section, start, end in [("Soil", "Good soil is", "through the summer months."),
                                ("Watering", "Water deeply", "less chance to spread."),
                                ("Light", "Most fruiting plants", "even prefer it in midsummer."),
                                ("Pests", "Slugs are", "copper tape around the pots.")]:
        assert any(s == section and t.startswith(start) and t.endswith(end) for s, t in flat), (section, flat)
    assert [c.section for c in chunks if c.section] == sorted((c.section for c in chunks if c.section),
                                                              key=["Soil", "Watering", "Light", "Pests"].index)
