"""The terminal front end: citation headers and the spinner."""
import io
import re
import time

from bot.terminal import Spinner, chat, render


def test_headers_read_file_lines_section_and_relevance(bot):
    a = bot.ask("Who owns forecasting?")
    out = render(a)
    header = next(line for line in out.splitlines() if line.startswith("[1] "))
    assert re.fullmatch(r"\[1\] corpus/vertriebsleiter-vs-vertriebsoperationsleiter\.txt, (line \d+|lines \d+-\d+) · "
                        r"[^·]{1,28} · relevance (high|medium|low)", header), header
    chunk = a.citations[0].hit.chunk
    assert f", {chunk.location} · " in header  # as the JSON says it: "line 24", never "lines 24-24"
    assert not re.search(r"lines (\d+)-\1\b", out)
    assert "score" not in out and "(" not in header.split(" · ")[0]
    section = header.split(" · ")[1]
    assert section.endswith("…") and a.citations[0].hit.chunk.section.startswith(section[:-1])


def test_spinner_shows_only_for_slow_work():
    quick, slow = io.StringIO(), io.StringIO()
    with Spinner(quick, after=0.3):
        time.sleep(0.05)
    with Spinner(slow, after=0.3):
        time.sleep(0.6)
    assert quick.getvalue() == ""
    assert "searching…" in slow.getvalue() and slow.getvalue().endswith("\r")  # and the line is wiped


def test_piped_chat_prints_each_question_above_its_answer_without_spinner(bot):
    out = io.StringIO()
    assert chat(bot, io.StringIO("Who owns forecasting?\nWer entwickelt Verkaufsstrategien?\n"), out) == 0
    text = out.getvalue()
    assert "[1] corpus/" in text and "searching" not in text
    first, second = text.index("Q: Who owns forecasting?"), text.index("Q: Wer entwickelt Verkaufsstrategien?")
    assert first == 0 and "Verkaufsprognose" in text[first:second] and "Verkaufsstrategien" in text[second:]
