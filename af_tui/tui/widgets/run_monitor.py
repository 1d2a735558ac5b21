"""The run monitor: for each run still going, progress per model against its planned size, samples per
second, errors with the last message, the time left, and a batch run's pending batches (round, model,
requests, done/failed, age, the provider's status). Hidden when no run is going."""

from __future__ import annotations

import time
from collections import deque

from rich.text import Text
from textual.widgets import Static

from af_tui.explorer.monitor import BatchProgress, RunProgress
from af_tui.safe_text import one_line

RATE_WINDOW_S = 30.0
BATCH_LINES = 4  # pending batches shown per run; the rest are counted (af-tui batches lists them all)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def throttle_text(state: dict) -> str:
    """" throttled: limit 4/16, paused 12s" for a model whose provider answered 429."""
    try:
        out = f" throttled: limit {int(state['limit'])}/{int(state['max'])}"
        if float(state.get("paused_s") or 0) > 0:
            out += f", paused {float(state['paused_s']):.0f}s"
        return out
    except (KeyError, TypeError, ValueError):
        return " throttled"


def batch_text(batch: BatchProgress, now: float) -> str:
    """"batch round 2 · openai/x · 120 requests · 80 done · 1 failed · 12m · in_progress" for a pending batch."""
    status = "being sent" if batch.status == "submitting" else one_line(batch.provider_status or "pending", 30)
    return (f"batch round {batch.round} · {one_line(batch.model, 40)} · {batch.requests} requests · "
            f"{batch.done} done · {batch.failed} failed · {_duration(max(0.0, now - batch.created_at))} · {status}")


class RunMonitor(Static):
    DEFAULT_CSS = """
    RunMonitor { height: auto; max-height: 14; padding: 0 1; display: none; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._history: dict[int, deque] = {}  # run id -> (time, samples done), for samples/s

    def rate(self, run_id: int) -> float | None:
        points = self._history.get(run_id)
        if not points or len(points) < 2:
            return None
        (t0, n0), (t1, n1) = points[0], points[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else None

    def update_runs(self, runs: list[RunProgress], at: float) -> None:
        self.display = bool(runs)
        if not runs:
            return
        text = Text()
        for run in runs:
            points = self._history.setdefault(run.id, deque())
            points.append((at, run.done))
            while points and at - points[0][0] > RATE_WINDOW_S:
                points.popleft()
            rate = self.rate(run.id)
            text.append("▶ ", style="bold green" if run.fresh else "bold red")
            text.append(one_line(run.name, 40), style="bold")
            planned = f"/{run.planned}" if run.planned else ""
            share = f" ({100 * run.done / run.planned:.0f}%)" if run.planned else ""
            text.append(f"  {run.done}{planned} samples{share}")
            if rate is not None:
                text.append(f" · {rate:.1f} samples/s")
                # Not while batches are pending: their samples come when the provider ends them, in rounds, so
                # the rate says nothing of the time left (the demo's said "about 1s left" with two rounds to go).
                if run.planned and rate > 0 and run.done < run.planned and not run.batches:
                    text.append(f" · about {_duration((run.planned - run.done) / rate)} left")
            if run.errors:
                text.append(f" · {run.errors} errors", style="bold red")
            if not run.fresh:
                text.append("  (no heartbeat for a minute: is the run still alive?)", style="red")
            # All models on one line (the list below needs the room); errors get a line each.
            text.append("\n   ")
            for i, model in enumerate(run.models):
                planned = f"/{model.planned}" if model.planned else ""
                text.append(("  ·  " if i else "") + f"{one_line(model.model, 40)} {model.done}{planned}")
                if model.cost is not None:
                    text.append(f" ${model.cost:.2f}")
                if model.throttle:
                    text.append(throttle_text(model.throttle), style="yellow")
            if any(m.cost is not None for m in run.models):
                text.append("  (cost: stored provider cost)", style="dim")
            now = time.time()
            for batch in run.batches[:BATCH_LINES]:
                text.append("\n   " + batch_text(batch, now), style="cyan")
            if len(run.batches) > BATCH_LINES:
                text.append(f"\n   … {len(run.batches) - BATCH_LINES} more pending batches (af-tui batches)",
                            style="cyan")
            for model in run.models:
                if model.errors:
                    text.append(f"\n   {one_line(model.model, 40)}: {model.errors} errors, last: ", style="red")
                    text.append(one_line(model.last_error, 100), style="red")
            text.append("\n")
        text.rstrip()
        self.update(text)
