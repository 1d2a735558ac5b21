"""What the commands share: the --db option, and how a run or a judge pass ends (its exit code)."""

from __future__ import annotations

import click

# af-tui's exit codes, for scripts: bad input is AfError's (2); cli.main turns every ending into one of these.
DONE = 0
FAILURES_LEFT = 1  # samples or judgements failed after retries; the same command retries them
STORE_UNUSABLE = 3  # disk full, read-only, locked: nothing committed was lost
BUDGET_REACHED = 4  # `run --max-cost`: stopped before the run's cost would pass it; a higher budget resumes
STOPPED = 130  # Ctrl-C / SIGTERM; the same command resumes

db_option = click.option(
    "--db", "db_path", envvar="AF_TUI_DB", type=click.Path(dir_okay=True), default=None,
    help="The store (SQLite file). Default: $AF_TUI_DB, else db/af_tui.sqlite.",
)


class RunEnded(click.ClickException):
    """A run or a judge pass is over and its closing lines are printed; `exit_code` says how it ended.
    `cli.main` exits with it (click does the same when a test invokes the group)."""

    def __init__(self, exit_code: int) -> None:
        super().__init__("")
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        pass  # the command has already said what happened


def table_console():
    """A Rich console for tables on stdout. Piped or redirected, Rich would assume 80 columns and cut cells
    (`[91.2–10…`); a file gets whole rows instead, however wide (a terminal keeps its own width)."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=1000, soft_wrap=True)
