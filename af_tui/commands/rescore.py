"""`af-tui rescore`: read the stored transcripts again with another outcome rule, without calling a model."""

from __future__ import annotations

import click

from af_tui.commands.options import db_option
from af_tui.domain import OUTCOME_WORD, RULES


@click.command()
@click.option("--rule", required=True, type=click.Choice(RULES),
              help="notebook: the notebook's reading (its first <OUTPUT>; a tag-less reply as it stands); "
                   "last-scratchpad: the first <OUTPUT> after the last scratchpad.")
@click.option("--run", "run_name", default=None, help="Only this run (default: every run in the store).")
@db_option
def rescore(rule: str, run_name: str | None, db_path: str | None) -> None:
    """Re-apply an outcome rule to the stored transcripts and record it with the run(s).

    No model is called; errors and blocked requests stay as they are. An open explorer follows at once."""
    from af_tui.experiment.rescore import rescore as apply
    from af_tui.store.db import Store

    with Store(db_path, create=False) as store:
        report = apply(store.conn, rule, run_name)
    for name, before in report.runs:
        click.echo(f"{name}: {before} → {report.rule}")
    click.echo(f"{report.samples} samples read again, {report.changed} outcomes changed"
               + (f", {report.outputs_changed} outputs changed" if report.outputs_changed else ""))
    for (before, after), n in sorted(report.changes.items(), key=lambda kv: -kv[1]):
        click.echo(f"  {OUTCOME_WORD.get(before, before)} → {OUTCOME_WORD.get(after, after)}: {n}")
