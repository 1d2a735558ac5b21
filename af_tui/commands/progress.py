"""The Rich progress bar of `run` and `judge`: a bar per model with live outcome counts and samples/s; on a
non-terminal (a log file) a line every 10 s instead. A `ProgressSink` (af_tui/llm/tasks.py)."""

from __future__ import annotations

import time

from af_tui.domain import OUTCOME_WORD, Outcome


class LiveProgress:
    """A Rich progress bar per key with live outcome counts and samples/s (this session's)."""

    def __init__(self, totals: dict[str, int] | None = None, done: dict[str, int] | None = None,
                 counts: dict[str, dict[str, int]] | None = None, console=None, title: str = "",
                 silent: bool = False):
        from rich.console import Console

        self.console = console or Console(stderr=True, highlight=False)
        self.silent = silent
        self._progress = None
        self._tasks: dict[str, int] = {}
        self._last_line = 0.0
        self.start(totals or {}, done or {}, counts or {}, title)

    def start(self, totals: dict[str, int], done: dict[str, int], counts: dict[str, dict[str, int]],
              title: str = "") -> None:
        self.totals, self.done, self.counts = totals, dict(done), {k: dict(v) for k, v in counts.items()}
        self.session = dict.fromkeys(totals, 0)
        self.started = time.monotonic()
        self.title = title

    def say(self, text: str) -> None:
        self.console.print(text, markup=False)

    def _fields(self, key: str) -> dict:
        c = self.counts.get(key, {})
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return {
            # errors and blocked answers only once there are some: the width goes to what a run mostly gives
            "outcomes": "  ".join(f"{OUTCOME_WORD[o]} {c.get(o, 0)}" for o in OUTCOME_WORD
                                  if c.get(o) or o not in (Outcome.ERROR, Outcome.BLOCKED)),
            "rate": f"{self.session.get(key, 0) / elapsed:6.1f}/s",
        }

    def __enter__(self) -> LiveProgress:
        from rich.markup import escape
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Column

        if self.silent:
            return self
        if self.console.is_terminal:
            # The figures that must read whole (model, done/total, rate, time) never shrink; the outcome counts
            # come last and take the rest of the width, cut with … on a narrow terminal (at 100 columns Rich
            # squeezed every column and cut the total: `437/…`).
            whole = Column(no_wrap=True)
            self._progress = Progress(
                TextColumn("{task.description}", table_column=whole),
                BarColumn(bar_width=24 if self.console.width >= 120 else 12),
                MofNCompleteColumn(table_column=whole),
                TextColumn("{task.fields[rate]}", markup=False, table_column=whole),
                TimeElapsedColumn(table_column=whole),
                TextColumn("{task.fields[outcomes]}", markup=False,
                           table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
                console=self.console, refresh_per_second=4, expand=True,
            )
            self._progress.__enter__()
            for key, total in self.totals.items():
                self._tasks[key] = self._progress.add_task(
                    escape(key), total=total, completed=self.done.get(key, 0), **self._fields(key))
        elif self.title:
            self.console.print(self.title, markup=False)
        return self

    def add(self, key: str, outcome: str) -> None:
        """Count a sample, after it is committed. Errors are not done: a rerun retries them."""
        self.counts.setdefault(key, {})
        self.counts[key][outcome] = self.counts[key].get(outcome, 0) + 1
        if outcome != Outcome.ERROR:
            self.done[key] = self.done.get(key, 0) + 1
        self.session[key] = self.session.get(key, 0) + 1
        if self._progress is not None:
            self._progress.update(self._tasks[key], completed=self.done[key], **self._fields(key))
        elif not self.silent and time.monotonic() - self._last_line >= 10:
            self.print_lines()

    def print_lines(self) -> None:
        self._last_line = time.monotonic()
        for key, total in self.totals.items():
            f = self._fields(key)
            self.console.print(f"{time.strftime('%H:%M:%S')} {key} {self.done.get(key, 0)}/{total} "
                               f"{f['outcomes']} {f['rate'].strip()}", markup=False, highlight=False,
                               soft_wrap=True)  # one line each: a log has no width (Rich's 80 broke the rate off)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            for key in self.totals:  # the final rate
                self._progress.update(self._tasks[key], **self._fields(key))
            self._progress.__exit__(*exc)
        elif not self.silent:
            self.print_lines()
