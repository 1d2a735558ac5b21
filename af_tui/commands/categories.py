"""`af-tui stats --categories` and `af-tui plot --categories`: the outcome × reasoning categories per model ×
variant × tier (analysis/compliance.py) as a Rich table, JSON, CSV or a stacked-bar figure."""

from __future__ import annotations

import json
import sys

import click

from af_tui.domain import OUTCOME_WORD, Outcome
from af_tui.errors import AfError

# After the categories: the samples outside them, by the same keys in the JSON, the CSV and the table.
OTHER_KEYS = ("no_af_verdict", Outcome.FORMAT_NOT_FOLLOWED, "unjudged", Outcome.ERROR)


def _rows(db_path, run_name, models, af_source, compliance, judge_model) -> list[dict]:
    from af_tui.analysis.af_source import parse_af_source
    from af_tui.analysis.compliance import categories, parse_compliance
    from af_tui.store.db import Store
    from af_tui.store.runs import require_run

    src, comp = parse_af_source(af_source, judge_model), parse_compliance(compliance)
    with Store(db_path, create=False) as store:
        if run_name:
            require_run(store.conn, run_name)
        return categories(store.conn, run_name, list(models) or None, src, comp)


def print_categories(db_path, run_name, models, af_source, compliance, judge_model, *, as_json: bool,
                     as_csv: bool) -> None:
    from af_tui.analysis.compliance import CATEGORIES, CATEGORY_WORDS

    rows = _rows(db_path, run_name, models, af_source, compliance, judge_model)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    keys = ["model", "variant", "tier", "compliance", "complied_when", "af_source", "n", *CATEGORIES,
            *(f"{c}_share" for c in CATEGORIES), *OTHER_KEYS, Outcome.BLOCKED]
    if as_csv:
        from af_tui.files import write_csv

        write_csv(sys.stdout, keys, ([row[k] for k in keys] for row in rows), lineterminator="\n")
        return
    if not rows:
        click.echo("No samples yet: run `af-tui demo` or `af-tui run` first.")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from af_tui.safe_text import one_line

    when = f" (complied = {rows[0]['complied_when']})" if rows[0]["complied_when"] else ""
    t = Table(title=Text(f"Outcome × reasoning per tier — compliance: {one_line(rows[0]['compliance'], 60)}{when}, "
                         f"AF source: {one_line(rows[0]['af_source'], 60)}"), title_justify="left",
              caption_justify="left")
    for col in ("model", "variant", "tier", "n", *(CATEGORY_WORDS[c] for c in CATEGORIES), "no AF verdict",
                OUTCOME_WORD[Outcome.FORMAT_NOT_FOLLOWED], "unjudged", OUTCOME_WORD[Outcome.ERROR],
                "of refused: blocked"):
        t.add_column(col, justify="left" if col in ("model", "variant", "tier") else "right")
    t.caption = ("n: samples with an outcome and an AF verdict; each category: count (share of n); no AF "
                 "verdict: complied or refused samples the AF source has not read (left out of n); partially "
                 "complied needs a compliance judge (prefix: none); blocked: the provider refused the request "
                 "(no reasoning, no output), counted as refused without AF reasoning under every compliance source")
    for r in rows:
        t.add_row(Text(one_line(r["model"], 40)), Text(one_line(r["variant"], 30)), Text(r["tier"]),
                  Text(str(r["n"])),
                  *(Text(f"{r[c]} ({100 * r[c + '_share']:.0f}%)" if r["n"] else "0") for c in CATEGORIES),
                  *(Text(str(r[k])) for k in (*OTHER_KEYS, Outcome.BLOCKED)))
    Console().print(t)


def plot_categories(path, db_path, run_name, models, af_source, compliance, width: float) -> None:
    from af_tui.analysis.plot_categories import write_categories

    rows = _rows(db_path, run_name, models, af_source, compliance, None)
    if models:
        order = {m: i for i, m in enumerate(models)}
        rows.sort(key=lambda r: order.get(r["model"], len(order)))
    if not any(r["n"] for r in rows):
        raise AfError("no samples with an outcome and an AF verdict to plot; label or judge some first "
                      "(or pick another --af-source)")
    write_categories(rows, path, width=width)
