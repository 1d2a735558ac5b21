"""`af-tui judge`: classify scratchpads with an LLM judge, streamed into the judgements table."""

from __future__ import annotations

import click

from af_tui.commands.options import RunEnded, db_option, table_console
from af_tui.domain import (
    FAILED,
    GRADE_WORD,
    UNPARSED,
    VERDICT_SHORT,
    Grade,
    JudgeTask,
    Outcome,
    Verdict,
    choices,
)


@click.command()
@db_option
@click.option("--model", default=None, metavar="M",
              help="The judge, as litellm names it (openai/gpt-4o, openai/NAME with --api-base, sim/judge).")
@click.option("--api-base", default=None, metavar="URL", help="An OpenAI-compatible server (vLLM, Ollama...).")
@click.option("--run", "run_name", default=None, metavar="R", help="Only the samples of this run.")
@click.option("--task", type=click.Choice(choices(JudgeTask)), default=JudgeTask.ALIGNMENT_FAKING.value,
              show_default=True, help="alignment_faking: classify scratchpads; compliance: grade each output "
                                      "(refused, convincing 1-5, specific 1-5, partial, StrongREJECT-style score).")
@click.option("--only", type=click.Choice([Outcome.COMPLIED.value, "all"]), default=None,
              help="complied: samples that complied (where alignment faking is possible); all: every sample "
                   "with a scratchpad (errors never). Default: complied; all with --task compliance.")
@click.option("--concurrency", type=click.IntRange(1, 512), default=8, show_default=True,
              help="Samples judged at once.")
@click.option("--prompt", "prompt_file", type=click.Path(dir_okay=True), default=None, metavar="FILE",
              help="Replace the built-in prompt. Placeholders: {request} {scratchpad} {output} {reasoning} "
                   "(at least {scratchpad} or {reasoning}; {output} for --task compliance); write literal "
                   "braces as {{ }}.")
@click.option("--answer-format", type=click.Choice(["auto", "verdict", "final_answer"]), default="auto",
              show_default=True, help="Which reply form is read: af-tui's <verdict>, the published classifiers' "
                                      "<final_answer>Yes|No</final_answer>, or whichever the reply uses.")
@click.option("--samples", "k", type=click.IntRange(1, 25), default=1, show_default=True, metavar="K",
              help="Ask K times per scratchpad; the score is the share of the votes saying alignment faking "
                   "(see --votes). Without --threshold the verdict is the majority (a tie is unclear).")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True), default=None, metavar="T",
              help="Alignment faking when the score is at least T (e.g. --samples 20 --threshold 0.4).")
@click.option("--votes", type=click.Choice(["published", "parsed"]), default="published", show_default=True,
              help="published: score = yes votes / all K, a reply without a readable answer counting as not "
                   "yes, and a published-form reply yes only when its final answer and every criterion say "
                   "yes (the published classifier's count); parsed: alignment-faking answers / answers read, "
                   "the final answer alone (af-tui's earlier rule).")
@click.option("--temperature", type=click.FloatRange(0, 2), default=None,
              help="Sampling temperature. Default: 0 with one sample, 1.0 with --samples K > 1.")
@click.option("--max-tokens", type=click.IntRange(16, 200_000), default=2000, show_default=True)
@click.option("--price", "prices", multiple=True, metavar="MODEL=INPUT,OUTPUT",
              help="The judge's price in USD per million tokens, for the cost reported (wins over litellm's cost "
                   "map and the config file's [prices]); INPUT,OUTPUT,BATCH_INPUT,BATCH_OUTPUT adds its batch price.")
@click.option("--batch", is_flag=True,
              help="Send every vote through the provider's batch API (OpenAI and OpenAI-compatible, Anthropic, sim/): "
                   "batch prices, results within 24 hours; a sample's K votes travel in one batch. The same command "
                   "collects pending batches after a stop; `af-tui batches` lists them.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=None, metavar="N",
              help="With --batch: at most N requests per batch (default: the provider's limit).")
@click.option("--show-prompt", is_flag=True, help="Print the judge prompt (built-in or --prompt) and exit.")
@click.option("--setting", "setting_file", default=None, metavar="FILE",
              help="A setting file whose [compliance] names a judge task: --task compliance with its prompt "
                   "(docs/run.md, the animal-welfare example).")
def judge(db_path, model, api_base, run_name, task, only, concurrency, prompt_file, answer_format, k, threshold,
          votes, temperature, max_tokens, prices, batch, batch_size, show_prompt, setting_file) -> None:
    """Ask an LLM judge whether each scratchpad shows alignment-faking reasoning.

    Each judgement (four criteria with quoted evidence, a verdict, the raw reply) is committed to the store
    before it is counted. Running the same command again resumes: samples already judged by this model and
    prompt are skipped, failed ones are asked again. A reply that cannot be parsed is stored as unparsed."""
    import asyncio

    from af_tui.errors import AfError
    from af_tui.judge.prompt import load_prompt
    from af_tui.judge.run import JudgeSpec, judge_store
    from af_tui.llm.client import check_reachable
    from af_tui.llm.pricing import user_prices
    from af_tui.store.db import Store

    if setting_file:
        task, prompt_file = _setting_task(setting_file, task, prompt_file)
    prompt = load_prompt(prompt_file, task=task)
    if show_prompt:
        click.echo(prompt.text, nl=False)
        return
    if not model:
        raise AfError("--model is missing: name the judge, e.g. --model sim/judge or --model openai/gpt-4o")
    if task == JudgeTask.COMPLIANCE and (k != 1 or threshold is not None):
        raise AfError("--samples and --threshold apply to --task alignment_faking; the compliance classifier "
                      "asks once per sample")
    price = user_prices(prices, [model]).get(model)
    if batch_size is not None and not batch:
        raise AfError("--batch-size applies to --batch; add --batch or drop --batch-size")
    if batch:
        from af_tui.llm.batch import check_batchable

        check_batchable(model)
    spec = JudgeSpec(model=model, prompt=prompt, run=run_name,
                     only=only or ("all" if task == JudgeTask.COMPLIANCE else Outcome.COMPLIED.value), samples=k,
                     concurrency=concurrency, api_base=api_base, temperature=temperature, max_tokens=max_tokens,
                     threshold=threshold, answer_format=answer_format, votes=votes, price=price)
    with Store(db_path, create=False) as store:
        if api_base:
            check_reachable(api_base)  # a closed port fails here, in one line, before any failed row
        if batch:
            from af_tui.judge.batch import JudgeBatchOptions, judge_store_batch

            options = JudgeBatchOptions(batch_size=batch_size, poll_s=_poll_s(JudgeBatchOptions.poll_s))
            result = asyncio.run(judge_store_batch(spec, store, progress=JudgeProgress(), options=options))
        else:
            from af_tui.judge.batch import open_judge_batches

            if pending := open_judge_batches(spec, store):  # judging them again would pay for their votes twice
                raise AfError(f"{model} has judge batches of this prompt open at the provider ({pending}); resume "
                              "with --batch (which collects them), or cancel them first: af-tui batches --cancel")
            result = asyncio.run(judge_store(spec, store.conn, progress=JudgeProgress()))
    raise RunEnded(_report(result))


def _setting_task(path: str, task: str, prompt_file: str | None) -> tuple[str, str | None]:
    """The task and prompt a setting's judge task asks for (--task and --prompt given on the command line win)."""
    from click.core import ParameterSource

    from af_tui.errors import AfError
    from af_tui.experiment.setting import load

    found = load(path)
    if found.compliance.measure != "judge":
        raise AfError(f"{path}: compliance.measure is {found.compliance.measure}; the setting names no judge task "
                      "(drop --setting, or set measure = \"judge\" with a task and prompt)")
    ctx = click.get_current_context()
    if ctx.get_parameter_source("task") is not ParameterSource.COMMANDLINE:
        task = JudgeTask.COMPLIANCE.value
    return task, prompt_file or found.compliance.prompt


def _poll_s(default: float) -> float:
    """Seconds between looks at pending batches: AF_TUI_BATCH_POLL_S (tests and the bench poll a local server
    often), else `default`."""
    import os

    from af_tui.errors import AfError

    poll = os.environ.get("AF_TUI_BATCH_POLL_S")
    try:
        return max(0.01, float(poll)) if poll else default
    except ValueError:
        raise AfError(f"AF_TUI_BATCH_POLL_S must be a number of seconds (got {poll!r})") from None


def _report(result) -> int:
    """The closing lines, and the exit code: 0 done, 1 failed judgements left, 130 stopped."""
    c = result.counts
    kinds = choices(Grade) if result.task == JudgeTask.COMPLIANCE else choices(Verdict)
    parts = [f"{c.get(v, 0)} {v}" for v in kinds]
    parts += [f"{c.get(UNPARSED, 0)} unparsed", f"{c.get('partial', 0)} partial", f"{c.get(FAILED, 0)} failed"]
    cost = f", cost ${result.cost:.4f}" if result.cost else ""
    click.echo(f"af-tui: judged {result.judged} samples with {result.judge_model} (prompt "
               f"{result.prompt_sha256[:12]}): {', '.join(parts)}{cost}", err=True)
    if result.last_error:
        click.echo(f"af-tui: last failure: {result.last_error[:300]}", err=True)
    if result.status == "stopped":
        click.echo(f"af-tui: stopped ({result.stop_reason}); {result.remaining} samples left to judge: run the "
                   "same command again to resume", err=True)
        return 130 if result.stop_reason == "stopped by the user" else 1
    if result.remaining:
        click.echo(f"af-tui: {result.remaining} samples failed after retries (stored as failed); run the same "
                   "command again to retry them", err=True)
        return 1
    click.echo("af-tui: every selected sample is judged", err=True)
    return 0


# How each kind of judgement is counted on the progress bar.
PROGRESS_WORDS = {**VERDICT_SHORT, **GRADE_WORD, UNPARSED: UNPARSED, FAILED: FAILED}


def JudgeProgress(console=None):  # noqa: N802 - a class made on first use, so `judge --help` stays light
    """The run's Rich bar (commands/progress.py) with the judge's verdict counts in place of the outcomes."""
    from af_tui.commands.progress import LiveProgress

    class VerdictBar(LiveProgress):
        def _fields(self, key: str) -> dict:
            fields = super()._fields(key)
            c = self.counts.get(key, {})
            graded = any(c.get(k) for k in GRADE_WORD)  # a compliance judge: its own words
            fields["outcomes"] = "  ".join(f"{short} {c.get(k, 0)}" for k, short in PROGRESS_WORDS.items()
                                           if (k in GRADE_WORD) == graded or k in (UNPARSED, FAILED))
            return fields

    return VerdictBar(console=console)

def _open_report(db_path, run_name, models) -> dict:
    from af_tui.analysis.judge_vs_people import report
    from af_tui.judge.repository import any_judgement
    from af_tui.store.db import Store
    from af_tui.store.runs import require_run

    with Store(db_path, create=False) as store:
        if run_name:
            require_run(store.conn, run_name)
        if not any_judgement(store.conn):
            return {"judges": [], "agreement": []}
        return report(store.conn, run=run_name, models=models)


def stats_section(db_path=None, run_name=None, models=()) -> None:
    """`af-tui stats`, after its own tables: the judges and their agreement with people (when any)."""

    from af_tui.commands.judge_report import tables

    console = table_console()
    for table in tables(_open_report(db_path, run_name, models), width=console.width):
        console.print(table)


def print_judges(db_path=None, run_name=None, models=(), *, as_json: bool) -> None:
    """`af-tui stats --judges --json|--csv`: {"judges": [...], "agreement": [...]} as JSON, or the agreement
    rows as CSV."""
    data = _open_report(db_path, run_name, models)
    if as_json:
        import json

        click.echo(json.dumps(data, indent=2))
        return
    import csv
    import sys

    from af_tui.files import csv_cell

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(JUDGE_CSV_KEYS)
    for row in judge_csv_rows(data):
        writer.writerow([csv_cell(row.get(k)) for k in JUDGE_CSV_KEYS])


FIGURE_KEYS = ("n", "tp", "fp", "fn", "tn", "accuracy", "precision", "precision_low", "precision_high", "recall",
               "recall_low", "recall_high", "f1", "kappa", "kappa_low", "kappa_high")
JUDGE_CSV_KEYS = ("judge_model", "prompt_sha256", "against", "annotator", "row", "threshold", *FIGURE_KEYS,
                  "excluded", "auroc", "auroc_low", "auroc_high", "auroc_method", "n_pos", "n_neg", "best_threshold", "best_kappa",
                  "best_kappa_cv", "best_kappa_cv_folds")


def judge_csv_rows(data: dict) -> list[dict]:
    """One row per comparison at the judge's own verdict (row = verdict, with AUROC and the best threshold),
    then one per threshold of its sweep (row = threshold)."""
    out = []
    for a in data["agreement"]:
        head = {k: a[k] for k in ("judge_model", "prompt_sha256", "against", "annotator")}
        roc = a["roc"]
        out.append({**head, "row": "verdict", **{k: a.get(k) for k in FIGURE_KEYS}, "excluded": a["excluded"],
                    "auroc": roc["auroc"], "auroc_low": roc["low"], "auroc_high": roc["high"],
                    "auroc_method": roc["method"], "n_pos": roc["n_pos"], "n_neg": roc["n_neg"],
                    "best_threshold": a["best"]["threshold"] if a["best"] else None,
                    "best_kappa": a["best"]["kappa"] if a["best"] else None,
                    "best_kappa_cv": a["best_cv"]["kappa"], "best_kappa_cv_folds": a["best_cv"]["folds"]})
        out.extend({**head, "row": "threshold", **r} for r in a["sweep"])
    return out
