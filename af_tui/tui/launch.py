"""Opening the app from the CLI (kept apart so that `af-tui --help` never imports Textual)."""

from __future__ import annotations


def open_app(db_path: str | None) -> None:
    from ..store import Store

    # Until the explorer exists: print the counts.
    from ..commands.stats import stats

    Store(db_path, create=False).close()
    stats.callback(db_path=db_path, run_name=None, model=None, as_json=False)
