"""What the commands share: the --db option, number options with a range, and how a run or a judge pass ends
(its exit code)."""

from __future__ import annotations

import click

from af_tui.errors import AfError

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


class _OneLineRange:
    """A click number range whose refusal is af-tui's one line, `--NAME must be … (got VALUE)` (AfError, exit
    2), not click's usage text; `--help` shows the range as click does. A value that is not a number at all
    gets click's own message. NaN is never in a range."""

    number: click.ParamType

    def __init__(self, *args, refusal: str | None = None, below: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.refusal = refusal or f"must be between {self.min} and {self.max}"
        self.below = below  # the words when the value is under the minimum, if they differ

    def convert(self, value, param, ctx):
        number = self.number.convert(value, param, ctx)
        self.check(param.opts[0] if param is not None else "the value", number)
        return number

    def check(self, name: str, number) -> None:
        """Refuse `number` given as option `name` when it is outside the range."""
        above_min = self.min is None or (number > self.min if self.min_open else number >= self.min)
        below_max = self.max is None or (number < self.max if self.max_open else number <= self.max)
        if not (above_min and below_max):
            words = self.below if self.below and not above_min else self.refusal
            raise AfError(f"{name} {words} (got {number})")


class IntWithin(_OneLineRange, click.IntRange):
    """click.IntRange, refused in af-tui's words (see _OneLineRange)."""

    number = click.INT


class FloatWithin(_OneLineRange, click.FloatRange):
    """click.FloatRange, refused in af-tui's words (see _OneLineRange)."""

    number = click.FLOAT


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
