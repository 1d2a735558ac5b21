"""Reading while writing: the explorer open (Pilot) on a store that `af-tui run` (simulated model, no delay, a
process of its own) fills at full speed, while the explorer's annotator labels from the pair view and a second
annotator labels from a thread: no "database is locked", no crash, no lost label, the list keeps up.

The test writes for 10 s (AF_TUI_FAULT_LIVE_S sets another figure); the 60-second soak is
`python bench/bench_live_soak.py` (its figures in bench/README.md).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from builders import TEMPLATE
from helpers import press_settled, until

from af_tui.config import Config
from af_tui.store.db import Store
from af_tui.store.labels import save_label
from af_tui.tui.app import POLL_S, ExplorerApp

REPO = Path(__file__).resolve().parents[1]
DURATION_S = float(os.environ.get("AF_TUI_FAULT_LIVE_S", "10"))


def _count(db: Path, sql: str, params=()) -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


class Annotator(threading.Thread):
    """Bob: labels random samples as fast as a person never would, counting the saves that returned."""

    def __init__(self, db: Path, stop: threading.Event):
        super().__init__(name="bob", daemon=True)
        self.db, self.stop, self.saved, self.errors = db, stop, 0, []

    def run(self) -> None:
        rng = random.Random(1)
        try:
            with Store(self.db, create=False) as store:
                while not self.stop.is_set():
                    top = store.conn.execute("SELECT MAX(id) FROM samples").fetchone()[0]
                    save_label(store.conn, rng.randint(1, top), "bob",
                               verdict=rng.choice(["alignment_faking", "not_alignment_faking", "unclear"]),
                               criteria={"knows_training": rng.random() < 0.5})
                    self.saved += 1
                    time.sleep(0.05)  # 20 labels a second: far faster than a person
        except Exception as exc:  # noqa: BLE001 - any failure is the finding
            self.errors.append(repr(exc))


async def live_scenario(tmp_path: Path, system_prompt_file: Path, duration_s: float) -> dict:
    """The run writes, alice labels from the app, bob from a thread, for duration_s; checks that nothing was
    locked, crashed or lost and returns the figures for a report."""
    from af_tui.tui.screens.label import LabelScreen
    from af_tui.tui.screens.pair import PairScreen

    db = tmp_path / "live.sqlite"
    dataset = tmp_path / "many.csv"
    dataset.write_text("goal\n" + "\n".join(f"Made-up live request {i}" for i in range(50_000)) + "\n")
    template = tmp_path / "template.txt"
    template.write_text(TEMPLATE)
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "AF_TUI_DB")}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", AF_TUI_SIM_LATENCY="0")
    run = subprocess.Popen([sys.executable, "-m", "af_tui", "run", "--model", "sim/faker", "--dataset", str(dataset),
                            "--user-template", str(template), "--system-prompt", str(system_prompt_file),
                            "--concurrency", "16", "--run", "live", "--db", str(db)],
                           env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()
    bob = Annotator(db, stop)
    alice_saved = 0
    seen_counts = []
    open_pair_s = []  # key to pair view, for the report (seconds)
    try:
        deadline = time.monotonic() + 120
        while not (db.exists() and _count(db, "SELECT COUNT(*) FROM sqlite_master") and
                   _count(db, "SELECT COUNT(*) FROM samples") >= 20):
            assert run.poll() is None, run.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "the run wrote nothing"
            time.sleep(0.1)
        # The app's own polling interval, not the tests' faster one.
        app = ExplorerApp(db, config=Config(path=tmp_path / "config.toml"), annotator="alice", poll_s=POLL_S)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.main.loaded and app.pairs_list is not None, timeout=60)
            seen_counts.append(len(app.pairs_list.ids))
            bob.start()
            started = time.monotonic()
            rng = random.Random(2)
            while time.monotonic() - started < duration_s:
                assert run.poll() is None, "the run stopped early: " + run.stderr.read()[-2000:]
                pressed = time.monotonic()
                await pilot.press("end", "home", *["down"] * rng.randint(0, 40), "enter")
                await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None,
                            timeout=60)
                open_pair_s.append(time.monotonic() - pressed)
                await pilot.press("n", "p")  # next and previous pair while rows arrive
                await until(pilot, lambda: app.screen.detail is not None, timeout=60)
                await pilot.press("l")
                await until(pilot, lambda: isinstance(app.screen, LabelScreen) and app.screen.sample is not None,
                            timeout=60)
                label_screen = app.screen
                before = label_screen.last_saved
                await press_settled(pilot, "a", "enter")  # the save and the next read, in the screen's worker
                if label_screen.last_saved != before:  # the screen said "saved": it must be in the store
                    alice_saved += 1
                await pilot.press("escape")  # back to the pair view
                await until(pilot, lambda: isinstance(app.screen, PairScreen), timeout=60)
                await pilot.press("escape")
                await until(pilot, lambda: app.screen is app.main, timeout=60)
                await pilot.press("a")  # the candidates filter, then clear it: queries over a growing store
                await pilot.pause(0.2)
                await pilot.press("x")
                await pilot.pause(0.2)
                seen_counts.append(len(app.pairs_list.ids))
            stop.set()
            bob.join(30)
            written = _count(db, "SELECT COUNT(*) FROM samples")
            await until(pilot, lambda: len(app.pairs_list.ids) * 2 >= written - 200, timeout=60)  # keeps up
            seen_counts.append(len(app.pairs_list.ids))
    finally:
        stop.set()
        if run.poll() is None:
            run.send_signal(signal.SIGINT)  # a clean stop, as Ctrl-C
        try:
            _, err = run.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            run.kill()
            _, err = run.communicate()
    assert run.returncode == 130, err[-2000:]
    assert "database is locked" not in err.lower() and "Traceback" not in err, err[-2000:]
    assert not bob.errors, bob.errors
    assert bob.saved > 20 and alice_saved >= 1
    assert _count(db, "SELECT COUNT(*) FROM labels WHERE annotator = 'bob'") == bob.saved
    assert _count(db, "SELECT COUNT(*) FROM labels WHERE annotator = 'alice'") == alice_saved
    assert seen_counts[-1] > seen_counts[0]  # the list followed the run
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return {"rounds": len(open_pair_s), "open_pair_s": (min(open_pair_s), max(open_pair_s)),
            "alice": alice_saved, "bob": bob.saved, "listed": (seen_counts[0], seen_counts[-1]),
            "samples": _count(db, "SELECT COUNT(*) FROM samples")}


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_app_and_two_annotators_while_a_run_writes(tmp_path, system_prompt_file):
    report = await live_scenario(tmp_path, system_prompt_file, DURATION_S)
    print(report)
    assert report["samples"] > 200  # the run wrote at full speed all along
