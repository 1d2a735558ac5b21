"""`af-tui label`, `af-tui export` and `af-tui merge`: hand labeling, labeled sets out, other copies' labels in."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import click
from click.core import ParameterSource

from af_tui.commands.options import db_option, table_console
from af_tui.domain import Outcome, Tier, Verdict, choices

# The outcomes the label queue and the export name in their options (blocked is not offered there).
_OUTCOME_CHOICES = [o for o in choices(Outcome) if o != Outcome.BLOCKED]


def _root(name: str, value):
    """An option given before the command (`af-tui --db X export …`) when the command's own is not."""
    return value if value is not None else click.get_current_context().find_root().params.get(name)


@click.command()
@db_option
@click.argument("out", type=click.Path(dir_okay=True, path_type=str))
@click.option("--format", "fmt", default=None, metavar="csv|jsonl|parquet|inspect",
              help="Default: jsonl for a .jsonl/.ndjson path, parquet for .parquet (typed columns; needs "
                   "af-tui[data]), else csv. inspect: OUT is a folder of Inspect .eval logs, one per run, model "
                   "and variant (needs af-tui[inspect]).")
@click.option("--labeled-only", is_flag=True, help="Only samples with a current label.")
@click.option("--per-label", is_flag=True,
              help="One row per label change (the whole history, clearings included) instead of per sample.")
@click.option("--per", type=click.Choice(["annotator", "sample"]), default="annotator", show_default=True,
              help="annotator: a row per sample and current label (annotator, verdict columns); sample: one row "
                   "per sample, each annotator's verdict in a column verdict:NAME (CSV only).")
@click.option("--run", "run_name", default=None, metavar="R", help="Only this run.")
@click.option("--model", default=None, metavar="M", help="Only this model.")
@click.option("--variant", default=None, metavar="V", help="Only this system-prompt variant.")
@click.option("--tier", default=None, metavar="T", help="Only this tier (free or paid).")
@click.option("--outcome", default=None, metavar="O", help="Only this outcome (" + ", ".join(_OUTCOME_CHOICES) + ").")
@click.option("--annotator", default=None, metavar="A", help="Only this annotator's labels.")
@click.option("--judge", default=None, metavar="MODEL[@HASH]",
              help="Whose verdicts fill the judge columns (HASH: a prefix of the judge prompt's sha256). "
                   "Default: the judge of the newest judgement.")
def export(db_path, out, fmt, labeled_only, per_label, per, run_name, model, variant, tier, outcome, annotator,
           judge):
    """Write samples and their labels to OUT as CSV (RFC 4180, UTF-8), JSON Lines or Parquet (typed columns),
    or the samples as Inspect logs into the folder OUT (--format inspect).

    One row per sample and current label (an unlabeled sample gives one row with empty label fields; a
    sample labeled by two annotators gives two rows), or per label change with --per-label. Every row has
    the pair id, the other tier's outcome, the label's rubric and criteria, the adjudicated verdict and one
    judge's verdict, score and criteria (JSON Lines: every judgement as a list too). In CSV a text
    cell that starts with = + - @ tab or CR gets a ' in front so that spreadsheets do not run it. The file
    appears whole or not at all.

    \b
    af-tui export labels.csv --labeled-only --annotator alice
    af-tui export all.jsonl --run pilot --outcome complied
    af-tui export samples.parquet                  # typed columns, for pandas
    af-tui export logs/ --format inspect            # then: inspect view --log-dir logs/"""
    db_path = _root("db_path", db_path)
    from af_tui.io.export import ExportFilter
    from af_tui.io.export import export as do_export
    from af_tui.store.db import Store

    f = ExportFilter(run=run_name, model=model, variant=variant, tier=tier, outcome=outcome, annotator=annotator,
                     judge=judge, labeled_only=labeled_only, per_label=per_label, per=per)
    if fmt == "inspect":
        if per == "sample":
            from af_tui.errors import AfError

            raise AfError("--per sample writes CSV; Inspect logs hold samples, with no label layout to choose")
        from rich.console import Console

        from af_tui.commands.importing import _progress_bar
        from af_tui.io.inspect_export import export_inspect

        with Store(db_path, create=False) as store, _progress_bar(Console(stderr=True)) as progress:
            logs = export_inspect(store.conn, out, f, db_path=store.path, progress=progress)
        click.echo(f"wrote {logs.samples} samples in {len(logs.files)} Inspect logs to {logs.folder} "
                   f"(open them with: inspect view --log-dir {logs.folder})", err=True)
        return
    with Store(db_path, create=False) as store:
        result = do_export(store.conn, out, f, fmt=fmt, db_path=store.path)
    click.echo(f"wrote {result.rows} rows to {result.path} ({result.format})", err=True)


@click.command()
@db_option
@click.argument("others", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))
def merge(db_path, others):
    """Bring the labels and judgements of other copies of the store (OTHERS, .sqlite files) into this one.

    Samples are matched by run name, model, variant (name and text hash), request hash, tier and epoch;
    labels and judgements by their uid, so merging twice adds nothing. Nothing here is ever overwritten,
    and the copies are only read.

    \b
    af-tui merge alice.sqlite bob.sqlite --db team.sqlite"""
    db_path = _root("db_path", db_path)
    from af_tui.io.merge import merge_store, open_source
    from af_tui.store.db import Store

    with Store(db_path, create=False) as store:
        for other in others:  # check all before merging any: a typo in the third must not leave two merged
            open_source(other, store.path).close()
        for other in others:
            result = merge_store(store.conn, other, target_path=store.path)
            click.echo(result.summary())


@click.command()
@db_option
@click.option("--annotator", default=None, metavar="NAME",
              help="Who labels. Default: $AF_TUI_ANNOTATOR, else the login name.")
@click.option("--blind", is_flag=True,
              help="Hide tier, model, run and the other tier's answer; the queue is shuffled (seed shown).")
@click.option("--run", "run_name", default=None, metavar="R", help="Queue: only this run.")
@click.option("--model", default=None, metavar="M", help="Queue: only this model.")
@click.option("--variant", default=None, metavar="V", help="Queue: only this variant.")
@click.option("--free-outcome", type=click.Choice(_OUTCOME_CHOICES), default=None,
              help="Queue: pairs whose free-tier answer had this outcome (as the list's filter).")
@click.option("--paid-outcome", type=click.Choice(_OUTCOME_CHOICES), default=None,
              help="Queue: pairs whose paid-tier answer had this outcome.")
@click.option("--candidates", is_flag=True, help="Queue: the list's candidates, complied on free and refused on paid.")
@click.option("--search", default="", metavar="WORDS", help="Queue: pairs matching these words (as the list's /).")
@click.option("--labels", "label_state", type=click.Choice(["unlabeled", "mine", "anyone", "disagree"]),
              default=None, help="Queue: pairs by label state (mine: labeled by --annotator).")
@click.option("--verdict", type=click.Choice(choices(Verdict)), default=None,
              help="Queue: pairs with a current label of this verdict.")
@click.option("--tier", type=click.Choice(choices(Tier)), default=None, help="Queue: only this tier's samples.")
@click.option("--outcome", type=click.Choice([*_OUTCOME_CHOICES, "any"]), default=Outcome.COMPLIED.value, show_default=True,
              help="Queue: samples with this outcome (complied: where alignment faking is possible at all).")
@click.option("--random", "random_seed", type=int, default=None, metavar="SEED",
              help="Go through the queue in a random order drawn from SEED (same seed, same order).")
@click.option("--rubric", "rubric_name", default="paper", show_default=True, metavar="NAME|FILE",
              help="What to check: a built-in rubric (paper, af-tui-4) or a rubric TOML file.")
def label(db_path, annotator, blind, run_name, model, variant, free_outcome, paid_outcome, candidates, search,
          label_state, verdict, tier, outcome, random_seed, rubric_name):
    """Label samples from the keyboard, one after another: the queue is the samples of the pairs these
    filters keep (the explorer's list filters), in the list's order, complied ones by default.

    Keys: the rubric's keys (1-5 …) cycle a criterion not set / yes / no, a / n / x set the verdict, enter
    saves and goes on, u undoes, e edits the note, b blind mode, s skips, ctrl+e exports, q leaves. A label is
    on disk before "saved" shows.

    \b
    af-tui label --candidates --blind
    af-tui label --model openai/gpt-4o --labels unlabeled --outcome any"""
    db_path = _root("db_path", db_path)
    from af_tui.config import load_config, resolve_annotator
    from af_tui.errors import AfError
    from af_tui.explorer.filters import CANDIDATES, PairFilter
    from af_tui.explorer.queue import new_seed, queue_sample_ids
    from af_tui.rubric import load_rubric
    from af_tui.store.db import Store
    from af_tui.store.labels import LabelQueue, check_names, labels_saved_since
    from af_tui.tui.label_app import LabelApp

    rubric = load_rubric(rubric_name)  # a bad file is one line before anything opens
    annotator = resolve_annotator(_root("annotator", annotator))  # `af-tui --annotator NAME label` works too
    if candidates:
        free_outcome, paid_outcome = CANDIDATES.free_outcome, CANDIDATES.paid_outcome
    pair_filter = PairFilter(run=run_name, model=model, variant=variant, free_outcome=free_outcome,
                     paid_outcome=paid_outcome, search=search.strip(), label_state=label_state, verdict=verdict,
                     me=annotator)
    pair_filter.validate()
    seed = random_seed if random_seed is not None else (new_seed() if blind else None)
    with Store(db_path, create=False) as store:
        path = store.path
        check_names(store.conn, run=run_name, model=model, variant=variant)
        ids = queue_sample_ids(store.conn, pair_filter, tier=tier, outcome=None if outcome == "any" else outcome)
        if not ids:
            raise AfError("no samples match this queue; widen it (e.g. --outcome any) or label from the explorer")
        name = pair_filter.with_(me=None).describe() or "every pair"
        if tier or outcome != Outcome.COMPLIED:
            name += f"{', ' if name else ''}{tier + ' tier, ' if tier else ''}outcome {outcome}"
        filters = len(pair_filter.with_(me=None).parts()) + bool(tier) + (outcome not in (Outcome.COMPLIED, "any"))
        queue = LabelQueue(store.conn, annotator, ids=ids, order="random" if seed is not None else "order",
                           seed=seed, name=name, filter_count=filters)
    keymap = load_config().keys  # the explorer's config file: its [keys] table remaps the label.* ids too
    started = time.time()
    LabelApp(path, annotator, keymap=keymap, queue=queue, blind=blind, seed=seed, rubric=rubric).run()
    if seed is not None:
        click.echo(f"queue order drawn from seed {seed} (af-tui label --random {seed} redraws it)", err=True)
    with Store(path, create=False) as store:
        saved = labels_saved_since(store.conn, annotator, started)
    counts = ", ".join(f"{verdict.replace('_', ' ')} {n}" for verdict, n in saved.items() if n)
    total = sum(saved.values())
    click.echo(f"af-tui: {total} label{'s' if total != 1 else ''} saved this session by {annotator}"
               + (f" ({counts})" if counts else "") + "; resume with: "
               + _resume_label_command(click.get_current_context(), path, annotator, seed), err=True)


def _resume_label_command(ctx: click.Context, db: Path, annotator: str, seed: int | None) -> str:
    """The `af-tui label` command that takes up this queue again: the same options, store and annotator, and the
    blind queue's seed (the same order)."""
    args = ["af-tui", "label", "--db", str(db), "--annotator", annotator]
    for param in ctx.command.params:
        if param.name in ("db_path", "annotator", "random_seed") or not isinstance(param, click.Option):
            continue
        if ctx.get_parameter_source(param.name) not in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            continue
        value = ctx.params[param.name]
        if param.is_flag:
            args += [param.opts[0]] if value else []
        elif value not in (None, ""):
            args += [param.opts[0], str(value)]
    if seed is not None:
        args += ["--random", str(seed)]
    return shlex.join(args)


@click.command()
@db_option
@click.option("--annotator", default=None, metavar="NAME",
              help="Who settles the labels. Default: $AF_TUI_ANNOTATOR, else the login name.")
@click.option("--run", "run_name", default=None, metavar="R", help="Only this run's samples.")
@click.option("--model", default=None, metavar="M", help="Only this model's samples.")
def adjudicate(db_path, annotator, run_name, model):
    """Settle the samples on which annotators disagree: each annotator's criteria, verdict and note side by
    side; a / n / x settle the verdict, 1-9 take one annotator's label, enter the majority. The settled label
    is stored like any label (append-only, u undoes), marked as an adjudication with your name."""
    db_path = _root("db_path", db_path)
    from af_tui.config import load_config, resolve_annotator
    from af_tui.store.db import Store
    from af_tui.store.labels import check_names
    from af_tui.tui.label_app import AdjudicateApp

    with Store(db_path, create=False) as store:
        path = store.path
        check_names(store.conn, run=run_name, model=model)
    AdjudicateApp(path, resolve_annotator(_root("annotator", annotator)), keymap=load_config().keys,
                  run=run_name, model=model).run()


@click.command()
@db_option
@click.option("--run", "run_name", default=None, help="Only the labels on this run's samples.")
@click.option("--model", "models", multiple=True, help="Only the labels on this model's samples (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def agreement(db_path, run_name, models, as_json):
    """Agreement between annotators on their current labels: Cohen's kappa for each pair on the verdict and
    each criterion (with a 95% interval and the share agreed), Krippendorff's alpha over all; n is the
    number of samples each figure rests on. `af-tui stats` shows the same table when there are labels."""
    db_path = _root("db_path", db_path)
    import json

    from af_tui.analysis.agreement import agreement_report
    from af_tui.commands.agreement_table import agreement_table
    from af_tui.store.db import Store

    with Store(db_path, create=False) as store:
        report = agreement_report(store.conn, run=run_name, models=models)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return

    if len(report["annotators"]) < 2:
        click.echo(f"agreement needs two annotators; the labels here are by {len(report['annotators'])}")
        return
    table_console().print(agreement_table(report))


def agreement_section(db_path, run_name, models) -> None:
    """Under `af-tui stats`: the agreement table, when two annotators or more have labeled."""

    from af_tui.analysis.agreement import agreement_report
    from af_tui.commands.agreement_table import agreement_table
    from af_tui.store.db import Store
    from af_tui.store.labels import anyone_has_labeled

    with Store(db_path, create=False) as store:
        if not anyone_has_labeled(store.conn):
            return
        report = agreement_report(store.conn, run=run_name, models=models)
    if len(report["annotators"]) >= 2:
        table_console().print(agreement_table(report))
