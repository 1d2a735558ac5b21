"""The run monitor's query: runs still writing, samples done and errors per model against the planned size,
the stored provider cost per model, its throttling (from the runner's heartbeat), a batch run's pending
batches (from the batches table), and whether the writer looks alive.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field

STALE_AFTER_S = 60.0  # a running run whose writer has not touched heartbeat_at for this long looks dead


@dataclass
class ModelProgress:
    model: str
    done: int
    errors: int
    planned: int | None
    last_error: str | None
    cost: float | None = None  # stored provider cost (samples.cost), USD; None when nothing is priced
    throttle: dict | None = None  # {"limit", "max", "rate_limited", "paused_s"} while the runner throttles it


@dataclass
class BatchProgress:
    """A pending batch of a run (`af-tui run --batch`), as its writer last saw it at the provider."""

    model: str
    round: int
    requests: int
    done: int
    failed: int
    created_at: float
    provider_status: str | None
    status: str  # submitting | pending


@dataclass
class RunProgress:
    id: int
    name: str
    planned: int | None
    started_at: float | None
    fresh: bool
    models: list[ModelProgress]
    batches: list[BatchProgress] = field(default_factory=list)  # pending batches, oldest first

    @property
    def done(self) -> int:
        return sum(m.done for m in self.models)

    @property
    def errors(self) -> int:
        return sum(m.errors for m in self.models)


def running_runs(conn: sqlite3.Connection, now: float | None = None) -> list[RunProgress]:
    """Runs with status running: samples done and errors per model, against the planned size."""
    now = time.time() if now is None else now
    out = []
    for run_id, name, planned, config, started, heartbeat in conn.execute(
            "SELECT id, name, planned, config, started_at, heartbeat_at FROM runs WHERE status = 'running'"
            " ORDER BY id").fetchall():
        try:
            cfg = json.loads(config or "{}")
        except ValueError:
            cfg = {}
        models_cfg = cfg.get("models") if isinstance(cfg, dict) else None
        names = [m if isinstance(m, str) else str(m.get("name", m)) if isinstance(m, dict) else str(m)
                 for m in models_cfg] if isinstance(models_cfg, list) else []
        counts = {m: [n, e, c] for m, n, e, c in conn.execute(
            "SELECT model, COUNT(*), SUM(outcome = 'error'), SUM(cost) FROM samples WHERE run_id = ? GROUP BY model",
            (run_id,))}
        live = cfg.get("live") if isinstance(cfg, dict) else None
        throttles = live.get("throttle") if isinstance(live, dict) else None
        throttles = throttles if isinstance(throttles, dict) else {}
        per_model = planned // len(names) if planned and names else None
        models = []
        for model in names + sorted(set(counts) - set(names)):
            n, e, cost = counts.get(model, [0, 0, None])
            last = None
            if e:
                hit = conn.execute("SELECT error FROM samples WHERE run_id = ? AND model = ? AND outcome = 'error'"
                                   " ORDER BY id DESC LIMIT 1", (run_id, model)).fetchone()
                last = hit[0] if hit else None
            throttle = throttles.get(model)
            models.append(ModelProgress(model, n, e or 0, per_model if model in names else None, last, cost,
                                        throttle if isinstance(throttle, dict) else None))
        fresh = heartbeat is not None and now - heartbeat < STALE_AFTER_S
        out.append(RunProgress(run_id, name, planned, started, fresh, models, pending_batches(conn, run_id)))
    return out


def pending_batches(conn: sqlite3.Connection, run_id: int) -> list[BatchProgress]:
    """The run's batches still at the provider (or being sent), oldest first."""
    try:
        rows = conn.execute(
            "SELECT model, round, requests, done, failed, created_at, provider_status, status FROM batches "
            "WHERE run_id = ? AND job = 'run' AND status IN ('submitting', 'pending') ORDER BY id",
            (run_id,)).fetchall()
    except sqlite3.OperationalError:  # a store from before the batches table (read without migrating)
        return []
    return [BatchProgress(*row) for row in rows]
