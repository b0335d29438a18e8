"""No silent waits: a slow step says it is under way, and a run's progress tells its last step
and the lines logged meanwhile, each on a line of its own."""

import io
import threading

from lapsewatch_tools import progress
from lapsewatch_tools.progress import RunProgress, Ticker


class _Stream(io.StringIO):
    """A stream that tells when it was first written to."""

    def __init__(self) -> None:
        super().__init__()
        self.written = threading.Event()

    def write(self, text: str) -> int:
        count = super().write(text)
        self.written.set()
        return count


def test_a_slow_step_says_so_with_how_far_it_has_got(monkeypatch):
    monkeypatch.setattr(progress, "SILENT_SECONDS", 0.0)
    stream = _Stream()
    with Ticker("approving 2 decisions", stream, count=lambda: "1 of 2 settled"):
        assert stream.written.wait(10)
    lines = stream.getvalue().splitlines()
    # Not a terminal: plain lines, none rewritten in place.
    assert lines and all(line.startswith("approving 2 decisions: ") for line in lines)
    assert lines[0].endswith(", 1 of 2 settled") and "\r" not in stream.getvalue()


def test_a_count_that_fails_leaves_the_line_without_it(monkeypatch):
    monkeypatch.setattr(progress, "SILENT_SECONDS", 0.0)

    def broken() -> str:
        raise ConnectionError("the table cannot be read")

    stream = _Stream()
    with Ticker("discarding 3 decisions", stream, count=broken):
        assert stream.written.wait(10)
    assert stream.getvalue().startswith("discarding 3 decisions: ") and "settled" not in stream.getvalue()


def test_a_quick_step_says_nothing():
    stream = _Stream()
    with Ticker("approving 1 decision", stream):
        pass
    assert stream.getvalue() == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_run_s_progress_tells_when_the_shards_are_done_and_what_comes_next():
    stream = io.StringIO()
    shown = RunProgress(stream)
    for done in (0, 2, 2, 4):
        shown.update(done, 4)
    shown.log("registry: the registry call is retried: POST /v1/email-domains/unverify: 503")
    shown.done()
    assert stream.getvalue().splitlines() == [
        "checking: 0/4 shards",
        "checking: 2/4 shards",
        "checking: 4/4 shards",
        "all 4 shards checked: the final step weighs the decisions and sends them",
        "registry: the registry call is retried: POST /v1/email-domains/unverify: 503",
    ]


def test_on_a_terminal_a_logged_line_clears_the_bar_which_is_drawn_again_below_it():
    stream = _Terminal()
    shown = RunProgress(stream)
    shown.update(1, 4)
    shown.log("registry: retry 1 of 5")
    shown.update(1, 4)
    shown.done()
    text = stream.getvalue()
    assert "\r\033[Kregistry: retry 1 of 5\n" in text
    assert text.count("1/4 shards") == 2 and text.endswith("1/4 shards\n")
