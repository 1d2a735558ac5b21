"""Live monitoring of a batch run: the run monitor's query reads the run's pending batches, and the explorer's
run monitor shows each (round, model, requests, done/failed, age, the provider's status)."""

from __future__ import annotations

import time

from builders import build_store, make_app
from helpers import loaded, until

from af_tui.explorer.monitor import running_runs
from af_tui.store import batches
from af_tui.store.db import Store
from af_tui.tui.widgets.run_monitor import RunMonitor, batch_text


def _running_with_batches(path):
    """The explorer's store with its run still running and two batches: one pending at the provider, one
    collected (not shown)."""
    build_store(path, status="running")
    with Store(path) as store:
        run_id = store.conn.execute("SELECT id FROM runs").fetchone()[0]
        store.heartbeat(run_id)
        first, second = batches.record_batches(store, [
            batches.NewBatch("openai", "openai/x", {f"c{i}": {} for i in range(12)}, run_id=run_id),
            batches.NewBatch("openai", "openai/x", {"d": {}}, run_id=run_id, round=2)])
        batches.mark_submitted(store, first, "batch_1", "validating")
        batches.record_poll(store, first, "in_progress", 7, 1)
        batches.mark_submitted(store, second, "batch_2", "in_progress")
        batches.collect_batch(store, second, [], {}, provider_status="completed", done=1, failed=0)
        store.conn.execute("UPDATE batches SET created_at = ? WHERE id = ?", (time.time() - 125, first))
        store.conn.commit()


def test_the_monitor_query_reads_the_pending_batches(tmp_path):
    path = tmp_path / "s.sqlite"
    _running_with_batches(path)
    with Store(path) as store:
        (run,) = running_runs(store.conn)
    (pending,) = run.batches
    assert (pending.model, pending.round, pending.requests, pending.done, pending.failed,
            pending.provider_status) == ("openai/x", 1, 12, 7, 1, "in_progress")
    assert batch_text(pending, pending.created_at + 125) == \
        "batch round 1 · openai/x · 12 requests · 7 done · 1 failed · 2m05s · in_progress"


async def test_the_explorers_run_monitor_shows_each_pending_batch(tmp_path):
    path = tmp_path / "s.sqlite"
    _running_with_batches(path)
    app = make_app(path, tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        monitor = app.query_one(RunMonitor)
        await until(pilot, lambda: "batch round" in str(monitor.render()))
        text = str(monitor.render())
    assert "batch round 1 · openai/x · 12 requests · 7 done · 1 failed · 2m0" in text and "in_progress" in text
    assert "round 2" not in text  # collected: no longer pending


def test_no_time_left_is_guessed_while_batches_are_pending():
    """A batch run's samples come a batch at a time when the provider ends it: a rate from the last burst said
    'about 1s left' with rounds still to go. With batches pending the monitor gives the rate and no time left;
    an interactive run keeps its estimate."""
    from af_tui.explorer.monitor import BatchProgress, ModelProgress, RunProgress

    def run(done, batches):
        return RunProgress(1, "demo", 320, 0.0, True, [ModelProgress("sim/faker", done, 0, 320, None)], batches)

    pending = [BatchProgress("sim/faker", 2, 26, 0, 0, time.time(), "in_progress", "pending")]
    for batches_now, left in ((pending, False), ([], True)):
        monitor, shown = RunMonitor(), []
        monitor.update = shown.append  # the text it shows, without an app
        monitor.update_runs([run(100, batches_now)], at=0.0)
        monitor.update_runs([run(274, batches_now)], at=5.0)
        text = str(shown[-1])
        assert "samples/s" in text and ("left" in text) == left, text
