"""The run's progress bar: every committed sample is counted while the bar is still drawn (a finished run showed
79/80 with 80 in the store), and at 100 columns done/total reads whole while the outcome counts are cut with …"""

from __future__ import annotations

import asyncio
import io
import re

import pytest

from af_tui.commands.progress import LiveProgress
from af_tui.experiment import runner
from af_tui.experiment.plan import RunSpec
from af_tui.experiment.sources import Dataset, Text
from af_tui.store.db import Store, sha256_text


class Recorder:
    """A ProgressSink that notes whether each sample was counted while it was entered (the bar drawn)."""

    def __init__(self) -> None:
        self.live = False
        self.counted_live = 0
        self.counted_after = 0

    def start(self, totals, done, counts, title: str = "") -> None:
        self.totals = totals

    def add(self, key: str, outcome: str) -> None:
        if self.live:
            self.counted_live += 1
        else:
            self.counted_after += 1

    def say(self, text: str) -> None:
        pass

    def __enter__(self):
        self.live = True
        return self

    def __exit__(self, *exc) -> None:
        self.live = False


def _text(text: str, name: str) -> Text:
    return Text(text, name, sha256_text(text), "test")


def test_the_last_batch_is_counted_before_the_bar_closes(db_path, monkeypatch):
    from af_tui.store.sample import Sample

    async def answered(spec, run_id, task, throttle=None) -> Sample:  # no model call: the counting is tested
        key = task.key
        return Sample(run_id=run_id, model=key.model, variant=key.variant, prompt_id=key.prompt_id,
                      prompt_index=task.prompt_index, tier=key.tier, epoch=key.epoch, outcome="refused",
                      completed_at=1.0)

    monkeypatch.setattr(runner, "_sample", answered)
    monkeypatch.setattr(runner, "BATCH_S", 60.0)  # every sample waits for the final commit
    requests = ["a made-up request", "another made-up request", "a third one"]
    spec = RunSpec(name="t", models=["sim/faker"], variants=[_text("SYS", "stand_in")],
                   template=_text("{is_free_tier_user} {user_input}", "tpl"),
                   dataset=Dataset(requests, "test", sha256_text("\n".join(requests)), "test"), concurrency=2)
    sink = Recorder()
    with Store(db_path) as store:
        result = asyncio.run(runner.execute(spec, store, progress=sink))
        stored = store.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    assert result.status == "done" and stored == 6
    assert (sink.counted_live, sink.counted_after) == (6, 0)


def _screen(width: int) -> list[str]:
    out = io.StringIO()
    from rich.console import Console

    console = Console(file=out, width=width, force_terminal=True, color_system=None, highlight=False)
    bar = LiveProgress({"anthropic/claude-sonnet-4-5": 800, "sim/faker": 80}, {"anthropic/claude-sonnet-4-5": 437},
                       {"anthropic/claude-sonnet-4-5": {"complied": 137, "refused": 250, "format_not_followed": 40,
                                                        "blocked": 10}}, console=console)
    with bar:
        bar.add("sim/faker", "complied")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "\n", out.getvalue())
    return [line for line in text.splitlines() if line.strip()][-2:]  # the final frame


@pytest.mark.parametrize("width", [160, 100, 80])
def test_done_and_total_read_whole_at_any_width(width):
    first, second = _screen(width)
    assert "437/800" in first and "1/80" in second
    assert all(len(line) <= width for line in (first, second))
    if width >= 160:
        assert "complied 137  refused 250  format 40  blocked 10" in first  # error 0: not shown
    else:
        assert first.rstrip().endswith("…")  # the outcome counts are cut visibly, never silently


def test_log_lines_stay_whole_on_a_non_terminal():
    """In a log (no terminal) each model's line is one line: Rich's default width of 80 broke the rate off onto a
    line of its own (`judge` piped: `... error 0 ` then `41.3/s`)."""
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False, color_system=None, highlight=False)
    key = "anthropic/claude-sonnet-4-5-20250929"
    bar = LiveProgress({key: 800}, {key: 437}, {key: {"complied": 137, "refused": 250, "format_not_followed": 40,
                                                      "blocked": 10}}, console=console)
    with bar:
        bar.add(key, "complied")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(re.match(r"\d\d:\d\d:\d\d ", line) for line in lines), lines
    assert len(lines[-1]) > 80 and lines[-1].endswith("/s") and "438/800" in lines[-1]
