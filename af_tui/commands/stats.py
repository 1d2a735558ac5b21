"""`af-tui stats`: outcome counts per run, model, variant and tier."""

from __future__ import annotations

import json

import click

from ..cli import cli, db_option


@cli.command()
@db_option
@click.option("--run", "run_name", default=None, help="Only this run.")
@click.option("--model", default=None, help="Only this model.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects instead of a table.")
def stats(db_path: str | None, run_name: str | None, model: str | None, as_json: bool) -> None:
    """Counts of complied / refused / format-not-followed / error per run, model, variant and tier."""
    from ..store import Store

    with Store(db_path, create=False) as store:
        rows = store.counts(run=run_name, model=model)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title="af-tui outcomes", title_justify="left")
    for col in ("run", "model", "variant", "tier", "n", "complied", "refused", "format_not_followed", "error"):
        table.add_column(col.replace("_", " "), justify="right" if col not in ("run", "model", "variant", "tier") else "left")
    for row in rows:
        table.add_row(*(Text(str(row[c])) for c in ("run", "model", "variant", "tier", "n", "complied", "refused",
                                                  "format_not_followed", "error")))
    Console().print(table)
