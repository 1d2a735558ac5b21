"""Opening the app from the CLI (kept apart so that `af-tui --help` never imports Textual).

The store is checked before Textual starts, so a missing, foreign or newer store is a one-line error.
"""

from __future__ import annotations

import signal
import sys

STOP_WAIT_S = 15.0


def open_app(db_path: str | None, run_process=None, annotator: str | None = None) -> None:
    """Run the explorer on the store. With `run_process` (the `run --tui` / `demo` child), the app shows
    the run live and, when the user quits while it is alive and agrees, stops it with SIGINT."""
    from af_tui.config import load_config
    from af_tui.store.db import Store

    Store(db_path, create=False).close()  # AfError for a missing / foreign / newer store, before Textual
    config = load_config()

    from af_tui.tui.app import ExplorerApp

    app = ExplorerApp(db_path, run_process=run_process, annotator=annotator, config=config)
    try:
        app.run()
    finally:
        if run_process is not None and run_process.poll() is None and app.stop_run:
            stop_run(run_process)


def stop_run(process, wait_s: float = STOP_WAIT_S) -> int | None:
    """SIGINT (the runner finishes what it is writing), then wait; terminate only if it does not stop."""
    print("af-tui: stopping the run…", file=sys.stderr)
    try:
        process.send_signal(signal.SIGINT)
        return process.wait(timeout=wait_s)
    except Exception:  # noqa: BLE001 - a process that will not stop in time gets SIGTERM
        process.terminate()
        try:
            return process.wait(timeout=5)
        except Exception:  # noqa: BLE001
            return None
