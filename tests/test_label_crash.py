"""A label shown as saved survives the app being killed at once (SIGKILL, no clean-up of any kind)."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from builders import make_store

CHILD = textwrap.dedent("""
    import asyncio, sys, time
    from textual.widgets import Static
    from af_tui.tui.label_app import LabelApp

    async def settled(app, pilot):  # the screen reads and writes the store in thread workers
        for worker in list(app.workers):
            try:
                await worker.wait()
            except Exception:
                pass
        await pilot.pause()

    async def main(db, n):
        app = LabelApp(db, "crash-test")
        async with app.run_test(size=(120, 40)) as pilot:
            await settled(app, pilot)
            for i in range(n):
                sid = app.screen.sample.id
                await pilot.press("1", "2", "3", "4", "a" if i % 2 else "n", "enter")
                await settled(app, pilot)
                shown = str(app.screen.query_one("#label-saved", Static).render())
                assert "saved" in shown and f"sample {sid}" in shown, shown
                # the moment the screen says saved, tell the parent, which kills us right away
                print(f"SAVED {sid} {app.screen.last_saved}", flush=True)
            time.sleep(60)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
""")


@pytest.mark.slow
def test_label_survives_sigkill(tmp_path):
    store = make_store(tmp_path / "s.sqlite", n_requests=6)
    store.close()
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    for round_, n in enumerate((1, 3)):
        proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "s.sqlite"), str(n)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "TEXTUAL": ""})
        seen = []
        deadline = time.monotonic() + 60
        while len(seen) < n and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("SAVED"):
                seen.append(line.split()[1:])
        os.kill(proc.pid, signal.SIGKILL)  # right after the last "saved": no chance to flush anything
        proc.wait(10)
        assert len(seen) == n, proc.stderr.read()
        conn = sqlite3.connect(tmp_path / "s.sqlite")
        stored = {uid for (uid,) in conn.execute("SELECT uid FROM labels")}
        assert {uid for _, uid in seen} <= stored, round_
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    assert len(stored) == 4
