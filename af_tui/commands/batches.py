"""`af-tui batches`: the store's batches (`af-tui run --batch`), pending and finished, with the provider's
status; `--cancel` cancels the pending ones."""

from __future__ import annotations

import time

import click

from af_tui.commands.options import db_option


def age(seconds: float) -> str:
    """`45s`, `12m`, `3h05m`, `2d04h`: how long ago a batch was sent."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


@click.command()
@click.option("--run", "run_name", default=None, help="Only this run's batches (default: every batch in the store).")
@click.option("--cancel", is_flag=True, help="Cancel the pending batches (of --run, else all) at the provider. "
              "Their requests are not sent again by the run; the next `af-tui run --batch` sends their samples "
              "afresh.")
@db_option
def batches(run_name: str | None, cancel: bool, db_path: str | None) -> None:
    """List the batches sent through providers' batch APIs (`af-tui run --batch`), pending and finished.

    Pending batches are asked for their status now (round, model, requests, done and failed, age, the provider's
    status); finished ones are shown as collected."""
    import asyncio

    from af_tui.experiment.batch_run import look_at_batches
    from af_tui.store.db import Store
    from af_tui.store.runs import require_run

    with Store(db_path, create=False) as store:
        if run_name:
            require_run(store.conn, run_name)
        views = asyncio.run(look_at_batches(store, run=run_name, cancel=cancel))
    if not views:
        click.echo("no batches in this store" + (f" for run {run_name}" if run_name else "")
                   + " (af-tui run --batch sends some)")
        return
    now = time.time()
    header = ("run", "model", "round", "status", "provider", "requests", "done", "failed", "age", "batch id")
    rows = []
    for v in views:
        r, s = v.row, v.state
        done, failed = (s.done, s.failed) if s else (r.done, r.failed)
        rows.append((r.run or ("(judge)" if r.job == "judge" else "-"), r.model, str(r.round), r.status, (s.provider_status if s else r.provider_status)
                     or "-", str(r.requests), str(done), str(failed),
                     age(now - r.created_at), r.batch_id or "-"))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for row, v in zip(rows, views, strict=True):
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        click.echo(line + (f"  ({v.note})" if v.note else ""))
    pending = sum(v.row.status == "pending" for v in views)
    click.echo(f"{len(views)} batches, {pending} pending" + ("" if cancel or not pending else
               "; the same `af-tui run … --batch` (or `af-tui judge … --batch`, for (judge)) command collects "
               "them, `af-tui batches --cancel` cancels them"))
