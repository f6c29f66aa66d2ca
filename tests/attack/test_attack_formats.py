"""Attack: a server's strings written into other formats (CSV, Slack, Discord,
matplotlib text in LiveView) are data, and what is drawn of them is bounded."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import reactivex

from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx.events import TrainingCompleted, TrainingLog, TrainingStarted
from arkor_rx.jobs import TrainingJob
from arkor_rx.notebook import LiveView
from arkor_rx.sinks import Outcome
from arkor_rx.sinks._csv import cell
from arkor_rx.sinks._webhook import Notice
from tests.attack.hostile import job

pytest.importorskip("matplotlib")


@pytest.mark.parametrize(
    "text", ['=HYPERLINK("http://evil", "x")', "+1", "-2+3=job", "@SUM(A1)", "\tx", "\rx"]
)
def test_a_csv_cell_that_a_spreadsheet_would_read_as_a_formula_is_neutralised(text: str) -> None:
    assert cell(text) == "'" + text
    assert cell("run 1") == "run 1"


async def test_the_csv_sink_writes_server_strings_as_text_and_numbers_as_numbers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.csv"
    sink = sinks.CSV(path)
    events = [
        TrainingStarted(job_id="-2+3=job"),
        TrainingLog(job_id="-2+3=job", step=1, loss=-0.5, timestamp="=1+1"),
        TrainingCompleted(job_id="-2+3=job"),
    ]
    await reactivex.from_iterable(events).pipe(
        aop.to_sink(sink, name='=HYPERLINK("http://evil", "x")')
    )
    with path.open(newline="") as handle:
        header, row = list(csv.reader(handle))
    found = dict(zip(header, row, strict=True))
    assert found["job_id"] == "'-2+3=job"
    assert found["name"] == '\'=HYPERLINK("http://evil", "x")'
    assert found["timestamp"] == "'=1+1"
    assert found["loss"] == "-0.5"  # a number stays a number


def test_slack_text_is_escaped_and_discord_pings_nobody() -> None:
    notice = Notice("completed", "j1", "<!channel> & @everyone", "✅ <!channel> & @everyone done")
    assert notice.payload("slack") == {"text": "✅ &lt;!channel&gt; &amp; @everyone done"}
    assert notice.payload("discord") == {
        "content": "✅ <!channel> & @everyone done",
        "allowed_mentions": {"parse": []},
    }
    assert notice.payload("json")["name"] == "<!channel> & @everyone"  # JSON: as sent


class _Frames:
    def __init__(self) -> None:
        self.html: list[str] = []

    def __call__(self, html: str, text: str) -> None:
        self.html.append(html)


@pytest.mark.parametrize("name", [r"$\foo$", "_hidden", "a $ b $$ c"])
async def test_liveview_draws_a_mathtext_looking_name_literally(name: str) -> None:
    frames = _Frames()
    view = LiveView(display=frames, threaded=False, every=0)
    for job_id, label in (("j1", name), ("j2", "other")):
        await view.open(TrainingJob.model_validate(job(job_id, name=label)))
        await view.write([TrainingLog(job_id=job_id, step=s, loss=1.0 / s) for s in (1, 2, 3)])
    await view.close(Outcome("completed", "j1"))
    await view.close(Outcome("completed", "j2"))
    assert view.errors == 0  # the final frame was drawn
    svg = frames.html[-1][frames.html[-1].index("<svg") :]
    legend = re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S)
    assert legend[-2].lstrip("\u200b") == name  # as written, in the legend
    assert legend[-1] == "other"


async def test_liveview_bounds_what_it_draws_of_a_400000_character_name() -> None:
    frames = _Frames()
    view = LiveView(display=frames, threaded=False, every=0)
    for job_id in ("j1", "j2"):
        await view.open(TrainingJob.model_validate(job(job_id, name="N" * 400_000)))
        await view.write([TrainingLog(job_id=job_id, step=s, loss=1.0 / s) for s in (1, 2, 3)])
        await view.close(Outcome("completed", job_id))
    assert view.errors == 0
    assert frames.html
    assert max(len(page) for page in frames.html) < 200_000  # the name alone is 400,000
