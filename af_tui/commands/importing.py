"""`af-tui import`: Inspect eval logs and the open-source pipeline's result files into the store (one run per
file), with a progress bar over samples."""

from __future__ import annotations

import click

from af_tui.commands.options import db_option
from af_tui.domain import Outcome, Tier, choices
from af_tui.errors import AfError


@click.command("import")
@db_option
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--run", "run_name", default=None,
              help="Put every log's samples in this run (default: one run per log, named after the file).")
@click.option("--model", "model", default=None, metavar="NAME",
              help="Pipeline result files: the model that answered (default: PROVIDER/MODEL from the path "
                   "…/PROVIDER/MODEL/results_*.json).")
@click.option("--variant", "variant", default=None, metavar="NAME",
              help="Pipeline result files: the variant's name (default: a known system prompt's name, else its hash).")
@click.option("--setting", "setting_file", default=None, metavar="FILE",
              help="Pipeline result files: read the outputs by this setting's rule, tag pairs and markers (default: "
                   "the notebook's rule and markers, any of the three tag conventions); recorded with the run.")
def import_logs_command(db_path: str | None, paths: tuple[str, ...], run_name: str | None, model: str | None,
                        variant: str | None, setting_file: str | None) -> None:
    """Import Inspect eval logs (.eval or .json files, or folders searched recursively), and the open-source
    alignment-faking pipeline's result files (a JSON list of records).

    The outcome is re-derived from each sample's messages with af-tui's rule; the log's own score answer (a
    pipeline file's acceptance / refusal flags) is kept beside it and disagreements are counted; a pipeline
    file's classifier blocks become judgements of judges named pipeline:BLOCK. Importing a log again adds only
    samples that are new."""
    from rich.console import Console

    from af_tui.io.inspect_import import import_logs
    from af_tui.io.inspect_read import find_logs, require_inspect
    from af_tui.io.pipeline_import import PipelineReport, is_pipeline_file
    from af_tui.safe_text import inert
    from af_tui.store.db import Store, resolve_db_path

    setting = None
    if setting_file:
        from af_tui.experiment.setting import load

        setting = load(setting_file)  # a bad file: one line, before anything is read or created
    files, reports = find_logs(paths)
    if files:
        if not all(is_pipeline_file(f) for f in files):
            require_inspect()  # before the store is created: nothing to undo if it is missing
        # an existing store is checked at once; a new one is created only once a log has been read whole
        opened: list[Store] = [Store(db_path)] if resolve_db_path(db_path).exists() else []

        def open_store() -> Store:
            if not opened:
                opened.append(Store(db_path))
            return opened[0]

        try:
            with _progress_bar(Console(stderr=True)) as progress:
                reports += import_logs(open_store, files, run_name=run_name, progress=progress, model=model,
                                       variant=variant, setting=setting)
        finally:
            for store in opened:
                store.close()

    def show(text: object) -> str:  # file names and model names come from outside: print them inert
        return inert(str(text)).replace("\n", " ")

    failed = [r for r in reports if r.failure]
    if len(reports) == 1 and failed:  # one file: its reason is the one line
        raise AfError(f"cannot import {show(failed[0].path)}: {show(failed[0].failure)}; nothing was imported")
    for r in reports:
        if r.failure:
            click.echo(f"af-tui: cannot import {show(r.path)}: {show(r.failure)}", err=True)
            continue
        if isinstance(r, PipelineReport):
            click.echo(_pipeline_line(r, show))
            continue
        o = r.outcomes
        parts = [f"{r.samples} samples", f"{r.added} new", f"{r.present} already there"]
        if r.no_tier:
            parts.append(f"{r.no_tier} skipped (no tier in metadata or input)")
        if r.duplicates:
            parts.append(f"{r.duplicates} duplicates kept once")
        if r.status == "started":
            parts.append("an unfinished log (Inspect status 'started'): only the samples it holds, run marked stopped")
        click.echo(
            f"{show(r.path.name)} → run {show(r.run)} ({show(', '.join(r.models))}): " + ", ".join(parts)
            + f"; complied {o.get(Outcome.COMPLIED, 0)}, refused {o.get(Outcome.REFUSED, 0)}, "
            f"format not followed {o.get(Outcome.FORMAT_NOT_FOLLOWED, 0)}, error {o.get(Outcome.ERROR, 0)}; "
            f"{r.disagreements} disagree with the log's own score answer"
        )
    if failed:
        rest = "the others were imported" if len(failed) < len(reports) else "nothing was imported"
        raise AfError(f"{len(failed)} of {len(reports)} files could not be imported (reasons above); {rest}")


def _pipeline_line(r, show) -> str:
    """One line per pipeline file: its records, outcomes, disagreements and each judge's counts."""
    o = r.outcomes
    judges = "; ".join(f"{show(name)} " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
                       for name, counts in r.judgements.items())
    skipped = f"; classifier blocks not imported: {show(', '.join(r.skipped_blocks))}" if r.skipped_blocks else ""
    return (f"{show(r.path.name)} → run {show(r.run)} ({show(', '.join(r.models))}): {r.samples} records, "
            f"{r.added} new, {r.present} already there; complied {o.get(Outcome.COMPLIED, 0)}, "
            f"refused {o.get(Outcome.REFUSED, 0)}, format not followed {o.get(Outcome.FORMAT_NOT_FOLLOWED, 0)}; "
            f"{r.disagreements} disagree with the file's acceptance/refusal flags; {r.judgements_added} new "
            f"judgements" + (f" ({judges})" if judges else "") + skipped)


class _progress_bar:
    """A Rich progress bar with one task per file, fed by the importer's (file, done, total) callback."""

    def __init__(self, console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True,
                                  disable=not console.is_terminal)  # no stray lines in pipes and logs
        self._tasks: dict = {}

    def __enter__(self):
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def __call__(self, path, done: int, total: int) -> None:
        from af_tui.safe_text import inert

        if path not in self._tasks:
            self._tasks[path] = self._progress.add_task(inert(path.name), total=total)
        self._progress.update(self._tasks[path], completed=done, total=total)


@click.command("import-labels")
@db_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--text", "text_col", required=True, metavar="COL", help="The column with the scratchpad.")
@click.option("--label", "label_col", required=True, metavar="COL",
              help="The column with the person's label (true/false, yes/no, 1/0, AF/not AF, unclear).")
@click.option("--request", "request_col", default=None, metavar="COL", help="The column with the request.")
@click.option("--output", "output_col", default=None, metavar="COL",
              help="The column with the final output (its outcome then follows af-tui's outcome rule).")
@click.option("--model", "model_col", default=None, metavar="COL", help="The column naming the model.")
@click.option("--annotator", default=None, metavar="NAME", help="Whose labels these are. Default: the run's name.")
@click.option("--run", "run_name", default=None, metavar="NAME", help="The new run. Default: the file's name.")
@click.option("--tier", type=click.Choice(choices(Tier)), default=Tier.FREE.value, show_default=True,
              help="The tier the samples are stored under.")
def import_labels_command(db_path, file, text_col, label_col, request_col, output_col, model_col, annotator,
                          run_name, tier) -> None:
    """Import a labelled set (CSV, or JSON Lines for .jsonl) of scratchpads with people's labels, as the
    samples of a run of its own and that annotator's labels, so that judges can be measured against it.

    \b
    af-tui import-labels humans.jsonl --text scratchpad_reasoning --label alignment_faking_human_label \\
        --request user_input --output output_without_scratchpad --model model --annotator paper-humans
    af-tui judge --model sim/judge --run humans && af-tui stats --judges

    The whole file is checked before anything is stored; a bad row stops it with one line naming the file,
    the row and the column, and nothing is imported."""
    from af_tui.io.label_import import Columns, import_labelled, read_labelled
    from af_tui.store.db import Store

    columns = Columns(text_col, label_col, request_col, output_col, model_col)
    read_labelled(file, columns)  # a bad file creates no store
    with Store(db_path) as store:
        result = import_labelled(store.conn, file, columns, run=run_name, annotator=annotator, tier=tier)
    click.echo(result.summary())
