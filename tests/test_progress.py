"""Progress: a tqdm bar on a terminal, plain rate/ETA lines anywhere else (logs, CI)."""
import io
import re

from musiczoo.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress("reading", total=4, unit="files", interval=0.0, stream=stream)
    for _ in range(4):
        progress.update(extra="ok")
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("reading: 1/4 (25%)") and "files/s" in lines[0]
    assert lines[3].startswith("reading: 4/4 (100%)") and "ok" in lines[3]
    assert lines[-1].startswith("reading: 4 files in ")
    assert "\r" not in stream.getvalue()


def test_a_bar_on_a_terminal_then_the_summary_line():
    stream = Terminal()
    progress = Progress("training", total=50, unit="steps", stream=stream)
    for _ in range(50):
        progress.update(extra="loss 1.0")
    progress.finish()
    text = stream.getvalue()
    assert "\r" in text and "training:   0%|" in text and "/50 [" in text  # a bar, redrawn
    assert re.search(r"training: 50 steps in \d+s\n$", text)  # then the plain summary
    assert "50/50 (100%)" not in text                    # no plain progress lines


def test_disabled_prints_nothing():
    stream = Terminal()
    progress = Progress("x", total=3, stream=stream, enabled=False)
    progress.update(3)
    progress.finish()
    assert stream.getvalue() == ""
