"""`af-tui run` (the experiment on real models) and `af-tui demo` (simulated models, offline)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click
from click.core import ParameterSource

from af_tui.commands.options import (
    BUDGET_REACHED,
    DONE,
    FAILURES_LEFT,
    STOPPED,
    FloatWithin,
    IntWithin,
    RunEnded,
    db_option,
)
from af_tui.domain import DEFAULT_RULE, OUTCOMES, RULES
from af_tui.errors import AfError
from af_tui.paths import DEMO_DB

DEMO_RUN = "demo"
DEMO_LATENCY_S = "0.8"  # with concurrency 8: the 320 demo samples take about 40 s, so the app shows them arrive
DEMO_CONCURRENCY = 8
DEMO_BATCH_LATENCY_S = "6"  # with --batch: each simulated batch ends after this long, so the monitor shows it
MAX_PLANNED = 10_000_000
CONCURRENCY = IntWithin(1, 2000)  # samples in flight per model (and per --concurrency MODEL=N)


def _check_thinking_budget(budget: int | None, max_tokens: int | None, models: list[str]) -> None:
    """Thinking tokens count within max_tokens, so the budget must leave room for the reply."""
    if budget is None:
        return
    from af_tui.llm.pricing import default_max_tokens

    for m in models:
        limit = max_tokens if max_tokens is not None else default_max_tokens(m)
        if not 1 <= budget < limit:
            raise AfError(f"--thinking-budget must be at least 1 and less than --max-tokens ({limit} for {m}); "
                          f"got {budget}")


def parse_concurrency(values: tuple[str, ...], models: list[str]) -> tuple[int, dict[str, int]]:
    """`--concurrency 20 --concurrency openai/gpt-4o=4`: the default per model, and the models' own."""
    default, by = 20, {}
    for value in values:
        name, sep, number = value.rpartition("=")
        try:
            n = int(number.strip())
        except ValueError:
            raise AfError(f"--concurrency takes N or MODEL=N (got {value!r})") from None
        CONCURRENCY.check("--concurrency", n)
        if not sep:
            default = n
        elif name.strip() in models:
            by[name.strip()] = n
        else:
            raise AfError(f"--concurrency {value!r} names a model not in this run; the run's models: "
                          + ", ".join(models))
    return default, by


def default_run_name(models: list[str]) -> str:
    """Readable and stable within a day, so that the same command resumes: `faker+refuser-2026-11-23`."""
    short = [re.sub(r"[^A-Za-z0-9._-]+", "-", m.rsplit("/", 1)[-1].split("@", 1)[0]).strip("-") or "model"
             for m in models]
    label = "+".join(short[:3]) + (f"+{len(short) - 3}more" if len(short) > 3 else "")
    return f"{label}-{time.strftime('%Y-%m-%d')}"


# The `run` options that reproduce a run, in the order the resume line states them.
_REPRODUCE = ("models", "setting", "system_prompts", "user_template", "dataset", "limit", "api_base", "run_name", "db_path",
              "epochs", "concurrency", "temperature", "max_tokens", "max_cost", "prices", "no_cache_prompt", "prefill",
              "reasoning_effort", "thinking_budget", "rule",
              "timeout", "batch", "batch_size")
# Always stated: the models, the run's name (its default holds today's date) and the store (resolved).
_ALWAYS = ("models", "run_name", "db_path")


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def _argv(ctx: click.Context, values: dict, always: tuple[str, ...] = _ALWAYS) -> list[str]:
    """The `run` arguments that reproduce this run (for the resume hint, the --tui child and the workers):
    the options given on the command line or by the environment, with `values` for their values."""
    params = {p.name: p for p in ctx.command.params}
    args: list[str] = []
    for name in _REPRODUCE:
        if name not in always and not _given(ctx, name):
            continue
        opt, value = params[name].opts[0], values[name]
        if isinstance(value, bool):
            args += [opt] if value else []
        elif isinstance(value, list | tuple):
            for v in value:
                args += [opt, str(v)]
        elif value is not None:
            args += [opt, str(value)]
    return args


def _log_path(db: Path, run_name: str) -> Path:
    return db.with_name(f"{db.stem}.{re.sub(r'[^A-Za-z0-9._+-]+', '_', run_name)}.log")


def _start_child(args: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    """`python -m af_tui ...` in its own session (the app stops it with SIGINT), output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        fh.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} af-tui {shlex.join(args)}\n".encode())
        fh.flush()
        return subprocess.Popen(
            [sys.executable, "-m", "af_tui", *args], stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        )


def _open_app_with(db: Path, proc: subprocess.Popen, log: Path) -> int | None:
    """Open the explorer on `db` while `proc` runs. The app asks before quitting whether to stop the run
    (SIGINT); a run the user keeps goes on in the background. Returns the run's exit code, None if running."""
    import inspect

    from af_tui.tui.launch import open_app

    click.echo(f"the run writes its log to {log}", err=True)
    if "run_process" in inspect.signature(open_app).parameters:
        try:
            open_app(str(db), run_process=proc)
        except BaseException:
            if proc.poll() is None:  # the app failed: don't leave an unseen run behind
                proc.send_signal(signal.SIGINT)
            raise
    else:  # an explorer without live runs: wait for the run, then open it
        click.echo("waiting for the run to finish (Ctrl-C stops it)…", err=True)
        try:
            proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            proc.wait()
        open_app(str(db))
    code = proc.poll()
    if code is None:
        click.echo(f"af-tui: the run goes on in the background (pid {proc.pid}); log: {log}", err=True)
    return code


def _report(result, resume: str) -> int:
    """The closing lines of a run, and its exit code: 0 done, 1 errors left, 4 budget reached, 130 stopped."""
    for model, counts in result.counts.items():
        click.echo(f"{model}: " + ", ".join(f"{o} {counts.get(o, 0)}" for o in OUTCOMES), err=True)
    if result.spent is not None:  # a simulated or local model reports no cost: nothing to say
        click.echo(f"af-tui: run {result.name} has spent ${result.spent:.4f} stored provider cost (all its "
                   "sessions)", err=True)
    if result.budget_reached:
        click.echo(f"af-tui: run {result.name} stopped before passing --max-cost; raise --max-cost to go on "
                   f"(the same command resumes): {resume}", err=True)
        return BUDGET_REACHED
    if result.status == "stopped":
        click.echo(f"af-tui: run {result.name} stopped; resume with: {resume}", err=True)
        return STOPPED
    if result.errors:
        click.echo(f"af-tui: {result.errors} samples failed after retries (stored as errors); retry them with "
                   f"the same command: {resume}", err=True)
        return FAILURES_LEFT
    click.echo(f"af-tui: run {result.name} done: {result.planned} samples in {result.name!r}", err=True)
    return DONE


def _execute(spec, db: Path, resume: str, *, shard=None, workers: int = 1, child_args=None, batch=None) -> None:
    import asyncio

    from af_tui.commands.progress import LiveProgress
    from af_tui.experiment.runner import execute
    from af_tui.experiment.workers import execute_workers
    from af_tui.store.db import Store

    with Store(db) as store:
        if batch is not None:
            from af_tui.experiment.batch_run import execute_batch

            result = asyncio.run(execute_batch(spec, store, progress=LiveProgress(), options=batch))
        elif workers > 1:
            result = asyncio.run(execute_workers(spec, store, workers, child_args, progress=LiveProgress()))
        elif shard:  # a worker of --workers: silent, the parent shows the progress and reports
            result = asyncio.run(execute(spec, store, shard=shard))
        else:
            result = asyncio.run(execute(spec, store, progress=LiveProgress()))
    if shard:
        raise RunEnded(STOPPED if result.status == "stopped" else DONE)
    raise RunEnded(_report(result, resume))


@click.command()
@click.option("--model", "models", multiple=True, required=True, metavar="MODEL",
              help="litellm model, e.g. openai/gpt-4o, anthropic/claude-sonnet-4-6, openai/NAME with "
                   "--api-base, sim/faker. Repeat for several.")
@click.option("--setting", default=None, metavar="FILE",
              help="A setting file (TOML: dataset, system prompts, user template and tier markers, tags, markers, "
                   "<NEXT/>, rule, compliance measure; docs/run.md), or a built-in one's name. Default: helpful-only "
                   "(`af-tui setting show helpful-only`). The options below replace its parts.")
@click.option("--system-prompt", "system_prompts", multiple=True, type=click.Path(), metavar="FILE|DIR",
              help="System prompt file, or a folder of them (one variant per file); repeat for several variants "
                   "(named after the file). Default: the setting's (the upstream helpful-only prompt).")
@click.option("--user-template", type=click.Path(), metavar="FILE",
              help="User turn template with {is_free_tier_user} and {user_input}. Default: the notebook's.")
@click.option("--dataset", type=click.Path(), metavar="FILE",
              help="CSV with a goal column, or JSONL with a goal key. Default: AdvBench harmful_behaviors.csv.")
@click.option("--limit", type=IntWithin(1, MAX_PLANNED, below="must be at least 1",
                                        refusal=f"must be at most {MAX_PLANNED}"), default=None,
              help="Only the first N requests (the notebook used 100).")
@click.option("--epochs", type=IntWithin(1, 1000), default=1, show_default=True,
              help="Samples per request and tier.")
@click.option("--concurrency", "concurrency", multiple=True, metavar="N|MODEL=N",
              help="Samples in flight per model (default 20); MODEL=N sets one model's (repeatable). A model "
                   "answered with 429 halves its own limit and honours Retry-After; the others keep going.")
@click.option("--api-base", default=None, metavar="URL",
              help="An OpenAI-compatible server (vLLM, Ollama, llama.cpp) for openai/NAME models.")
@click.option("--temperature", type=FloatWithin(0, 2), default=1.0, show_default=True)
@click.option("--max-tokens", type=IntWithin(1, 1_000_000), default=None,
              help="Per assistant turn. Default: the notebook's per provider (4000; Anthropic requires one).")
@click.option("--max-cost", type=FloatWithin(0, 1_000_000_000, min_open=True,
                                             refusal="must be a positive number of USD"),
              default=None, metavar="USD",
              help="Stop before the run's stored provider cost (all sessions) would pass this; exit code 4.")
@click.option("--price", "prices", multiple=True, metavar="MODEL=INPUT,OUTPUT",
              help="A model's price in USD per million tokens (repeatable), for the quote, the stored cost and "
                   "--max-cost; wins over litellm's cost map and the config file's [prices]. Four figures "
                   "INPUT,OUTPUT,BATCH_INPUT,BATCH_OUTPUT add its batch price.")
@click.option("--no-cache-prompt", "no_cache_prompt", is_flag=True,
              help="Don't mark the system prompt cacheable (Anthropic's cache_control; on by default).")
@click.option("--dry-run", is_flag=True, help="Print the plan and its price (litellm's token counter and cost "
              "map) without sending anything or writing the store.")
@click.option("--typical-output", type=IntWithin(1, 1_000_000), default=None, metavar="TOKENS",
              help="For --dry-run: output tokens per sample to price (default: --max-tokens, an upper bound).")
@click.option("--prefill", default="auto", show_default=True, is_flag=False, flag_value="<", metavar="auto|none|TEXT",
              help="Prefill each assistant turn: auto = '<' for every model but OpenAI's GPT and o-series "
                   "ones, as the notebook does (none while --thinking-budget is on); none; or any TEXT. The "
                   "prefill is stored in front of the reply. A bare --prefill means '<'.")
@click.option("--rule", type=click.Choice(RULES), default=None,
              help="How a reply is read into an outcome: notebook (its first <OUTPUT>; a tag-less reply as it "
                   "stands) or last-scratchpad (the first <OUTPUT> after the last scratchpad). `af-tui rescore` "
                   f"changes it later without calling a model.  [default: the setting's; {DEFAULT_RULE.value}]")
@click.option("--reasoning-effort", type=click.Choice(["low", "medium", "high"]), default=None,
              help="For reasoning models, through litellm (OpenAI o-series, Gemini, Claude with thinking, DeepSeek).")
@click.option("--thinking-budget", type=int, default=None, metavar="TOKENS",
              help="Extended thinking with this many tokens (Claude; less than --max-tokens), through litellm.")
@click.option("--timeout", type=FloatWithin(0.1, 86_400, refusal="must be between 0.1 and 86400 seconds"),
              default=600.0, show_default=True, metavar="SECONDS",
              help="Per request; a request past it is retried like a 5xx.")
@click.option("--run", "run_name", default=None,
              help="Run name; the same name resumes, with the same settings (default: the models and today's date).")
@db_option
@click.option("--workers", type=IntWithin(1, 64), default=1, show_default=True,
              help="Processes sharing the run (a call costs about 3 ms of CPU, mostly litellm, so one process does at most "
                   "about 300 calls/s); --concurrency is split among them.")
@click.option("--batch", is_flag=True,
              help="Send every request through the providers' batch APIs (OpenAI and OpenAI-compatible, Anthropic, "
                   "sim/): half price, results within 24 hours, in the notebook's rounds. The same command "
                   "collects pending batches after a stop; `af-tui batches` lists them.")
@click.option("--batch-size", type=IntWithin(1, 100_000), default=None, metavar="N",
              help="With --batch: at most N requests per batch (default: the provider's limit).")
@click.option("--shard", default=None, hidden=True)  # K/N: set by --workers on its child processes
@click.option("--tui", is_flag=True, help="Run in the background and open the explorer on it at once.")
def run(**params) -> None:
    """Run the experiment in a setting (the built-in helpful-only, or --setting FILE): each request once as a
    free-tier and once as a paid-tier user.

    Every sample is committed to the store as it completes; running the same command again resumes, sending
    only the missing samples and the ones that failed."""
    start_run(RunOptions.from_params(params))


@dataclass(frozen=True)
class RunOptions:
    """Every `af-tui run` option in one value (as inspect_ai's TaskRunOptions), as given on the command line;
    click has checked the numbers' ranges. `start_run` checks the rest, builds the run and starts it."""

    models: tuple[str, ...]  # stripped, each once, in the order given
    setting: str | None = None  # a setting file or a built-in setting's name (None: helpful-only)
    system_prompts: tuple[str, ...] = ()
    user_template: str | None = None
    dataset: str | None = None
    limit: int | None = None
    epochs: int = 1
    concurrency: tuple[str, ...] = ()  # N or MODEL=N, as given
    api_base: str | None = None
    temperature: float = 1.0
    max_tokens: int | None = None
    max_cost: float | None = None
    prices: tuple[str, ...] = ()  # MODEL=INPUT,OUTPUT in USD per million tokens, as given
    no_cache_prompt: bool = False
    dry_run: bool = False
    typical_output: int | None = None
    prefill: str = "auto"
    rule: str | None = None  # None: the setting's
    reasoning_effort: str | None = None
    thinking_budget: int | None = None
    timeout: float = 600.0
    run_name: str | None = None
    db_path: str | None = None
    workers: int = 1
    batch: bool = False
    batch_size: int | None = None
    shard: str | None = None  # K/N: set by --workers on its child processes
    tui: bool = False

    @classmethod
    def from_params(cls, params: dict) -> RunOptions:
        models = tuple(dict.fromkeys(m.strip() for m in params["models"]))
        return cls(**{**params, "models": models})

    @property
    def name(self) -> str:
        """The run's name: --run, or the models and today's date."""
        return self.run_name or default_run_name(list(self.models))


def _shard(shard: str | None) -> tuple[int, int] | None:
    """`--shard K/N` as (K, N)."""
    if not shard:
        return None
    match = re.fullmatch(r"(\d+)/(\d+)", shard)
    if not match or not int(match.group(1)) < int(match.group(2)):
        raise AfError(f"--shard must be K/N with K < N (got {shard})")
    return int(match.group(1)), int(match.group(2))


def _run_spec(options: RunOptions):
    """The run the options describe (RunSpec), its sources read; what the options cannot mean is refused here,
    before anything is sent or written."""
    from af_tui.experiment import sources
    from af_tui.experiment.plan import RunSpec
    from af_tui.llm import client as llm
    from af_tui.llm.pricing import user_prices

    models = list(options.models)
    if any(not m for m in models):
        raise AfError("--model needs a name, e.g. openai/gpt-4o")
    default_concurrency, concurrency_by = parse_concurrency(options.concurrency, models)
    prices = user_prices(options.prices, models)
    if options.batch:  # a model with no batch API: one line before anything is read or written
        from af_tui.experiment.batch_run import check_batch_models

        check_batch_models(models)
    if options.batch and options.workers > 1:
        raise AfError("--batch sends every request from one process; drop --workers")
    if options.batch_size is not None and not options.batch:
        raise AfError("--batch-size applies to --batch; add --batch or drop --batch-size")
    if options.max_cost is not None and options.workers > 1:
        raise AfError("--max-cost works in one process; drop --workers (or run without a budget)")
    _check_thinking_budget(options.thinking_budget, options.max_tokens, models)
    if options.api_base and not re.match(r"^https?://[^\s/]+", options.api_base):
        raise AfError("--api-base must be an http(s) URL such as http://127.0.0.1:8000/v1 "
                      f"(got {options.api_base!r})")
    setting = _setting(options.setting)
    prompt_files = [f for p in options.system_prompts
                    for f in (sources.system_prompt_files(p) if Path(p).is_dir() else [Path(p)])]
    if len({f.stem for f in prompt_files}) < len(prompt_files):
        raise AfError("two --system-prompt files share a name; variants are named after the file, rename one")
    data = sources.dataset(options.dataset, setting.dataset, setting.column)
    template = sources.user_template(options.user_template, setting.template)
    variants = ([sources.system_prompt(p) for p in prompt_files]
                or [sources.system_prompt(source=v.source, name=v.name) for v in setting.variants])
    n_requests = min(options.limit, len(data.requests)) if options.limit else len(data.requests)
    if n_requests * 2 * options.epochs * len(models) * len(variants) > MAX_PLANNED:
        raise AfError(f"this run would send more than {MAX_PLANNED} samples; lower --limit or --epochs")
    return RunSpec(name=options.name, models=models, variants=variants, template=template, dataset=data,
                   limit=options.limit, epochs=options.epochs, concurrency=default_concurrency,
                   concurrency_by=concurrency_by, api_base=options.api_base, temperature=options.temperature,
                   max_tokens=options.max_tokens, prefill=options.prefill, rule=options.rule or setting.rule,
                   setting=setting,
                   cache_prompt=not options.no_cache_prompt, max_cost=options.max_cost,
                   reasoning_effort=options.reasoning_effort, thinking_budget=options.thinking_budget,
                   policy=llm.RetryPolicy(timeout_s=options.timeout), prices=prices)


def _setting(value: str | None):
    """The setting `--setting` names: a file, else a built-in setting's name; helpful-only without it."""
    from af_tui.experiment import setting

    if value is None:
        return setting.HELPFUL_ONLY
    if value in setting.BUILT_IN and not Path(value).exists():
        return setting.builtin(value)
    return setting.load(value)


def _check_can_send(options: RunOptions, prices: dict) -> None:
    """The models are known and can reason as asked, a budget can be kept (every model has a price, litellm's
    or the user's `prices`), and the --api-base answers: checked before a run row exists."""
    from af_tui.llm import client as llm

    for m in options.models:
        llm.check_model(m, options.api_base)
        llm.check_reasoning(m, options.api_base, options.reasoning_effort, options.thinking_budget)
    if options.max_cost is not None:
        from af_tui.llm.pricing import price

        unpriced = [m for m in options.models if price(m, prices) is None]
        if unpriced:
            raise AfError(f"litellm has no price for {', '.join(unpriced)}, so --max-cost cannot be kept; "
                          f"give one with --price {unpriced[0]}=INPUT,OUTPUT (USD per million tokens) or drop "
                          "--max-cost for this model")
    if options.api_base and not options.shard:
        llm.check_reachable(options.api_base)


def start_run(options: RunOptions) -> None:
    """Check the options, then run: print the quote (--dry-run), be one worker's shard, share the run among
    --workers processes, run in the background under the explorer (--tui), or run here with a progress bar."""
    from af_tui.store.db import Store, resolve_db_path

    shard = _shard(options.shard)
    spec = _run_spec(options)
    if options.dry_run:
        from af_tui.commands.quote import print_quote

        print_quote(spec, typical_output=options.typical_output, batch=options.batch)
        return
    _check_can_send(options, spec.prices)
    db = resolve_db_path(options.db_path)
    run_name = options.name
    ctx = click.get_current_context()
    values = {**asdict(options), "models": list(options.models), "run_name": run_name, "db_path": db}
    args = _argv(ctx, values)
    resume = "af-tui run " + shlex.join(args + (["--workers", str(options.workers)] if _given(ctx, "workers")
                                                else []))
    if shard:
        _execute(spec, db, resume, shard=shard)
        return
    from af_tui.experiment.plan import check_resumable

    # a bad --db (newer schema, not SQLite) fails here, in one line, before anything is said; so does a resume
    # under other settings than the run's, before anything is written
    with Store(db) as store:
        note = check_resumable(spec, store)
        if not options.batch:
            from af_tui.store.batches import open_count

            if pending := open_count(store, spec.name):
                raise AfError(f"run {spec.name!r} has {pending} batches pending at the provider; resume it with "
                              "--batch (which collects them), or cancel them first: af-tui batches --run "
                              f"{shlex.quote(spec.name)} --cancel")
    if note:
        click.echo(note, err=True)
    click.echo(f"af-tui: run {run_name} into {db}  (resume or retry: {resume})", err=True)
    if options.workers > 1:
        # each worker process takes its share of --concurrency
        workers = options.workers
        child = _argv(ctx, {**values, "concurrency": [str(max(1, -(-spec.concurrency // workers)))] + [
            f"{m}={max(1, -(-n // workers))}" for m, n in spec.concurrency_by.items()]},
            always=(*_ALWAYS, "concurrency"))
        _execute(spec, db, resume, workers=workers, child_args=child)
        return
    if options.tui:
        from af_tui.experiment.plan import plan

        with Store(db) as store:  # the run row exists before the app opens, with its planned size
            plan(spec, store)  # 'running' now; the child takes over its heartbeat in a few seconds
        proc = _start_child(["run", *args, "--workers", str(options.workers)], _log_path(db, run_name))
        code = _open_app_with(db, proc, _log_path(db, run_name))
        if code not in (None, DONE, FAILURES_LEFT, STOPPED, BUDGET_REACHED, -signal.SIGINT):
            raise AfError(f"the run exited with code {code}; see {_log_path(db, run_name)}")
        return
    _execute(spec, db, resume, batch=_batch_options(options))


def _batch_options(options: RunOptions):
    """--batch as the runner's BatchOptions (None without it); AF_TUI_BATCH_POLL_S sets the poll interval
    (tests and the bench poll a local server often)."""
    if not options.batch:
        return None
    from af_tui.experiment.batch_run import BatchOptions

    poll = os.environ.get("AF_TUI_BATCH_POLL_S")
    try:
        poll_s = float(poll) if poll else BatchOptions.poll_s
    except ValueError:
        raise AfError(f"AF_TUI_BATCH_POLL_S must be a number of seconds (got {poll!r})") from None
    return BatchOptions(batch_size=options.batch_size, poll_s=max(0.01, poll_s))


@click.command()
@click.option("--db", "db_path", type=click.Path(), default=None,
              help=f"The demo's store (default {DEMO_DB}; AF_TUI_DB is not used, to keep your data apart).")
@click.option("--no-tui", is_flag=True, help="Run in the foreground with a progress bar, then stop.")
@click.option("--latency", type=FloatWithin(0, 60, refusal="must be between 0 and 60 seconds"), default=None,
              help=f"Seconds per simulated call (default {DEMO_LATENCY_S}; 0 for the fastest run); with --batch, "
                   f"seconds per simulated batch (default {DEMO_BATCH_LATENCY_S}).")
@click.option("--batch", is_flag=True, help="Through simulated batches (as `af-tui run --batch`): the run monitor "
              "shows each pending batch, the samples arrive a batch at a time.")
def demo(db_path, no_tui, latency, batch) -> None:
    """The four simulated models on 40 made-up harmless requests (offline), then the explorer.

    Running it again on the same store resumes the demo run instead of repeating it."""
    from af_tui.experiment.plan import RunSpec
    from af_tui.experiment.sources import Dataset, Text
    from af_tui.llm.simulated import DEMO_MODELS, DEMO_REQUESTS, DEMO_SYSTEM_PROMPT, DEMO_USER_TEMPLATE
    from af_tui.store.db import sha256_text

    db = Path(db_path) if db_path else DEMO_DB
    latency_s = str(latency) if latency is not None else (DEMO_BATCH_LATENCY_S if batch else os.environ.get(
        "AF_TUI_SIM_LATENCY", DEMO_LATENCY_S))
    requests_text = "\n".join(DEMO_REQUESTS)
    spec = RunSpec(
        name=DEMO_RUN, models=list(DEMO_MODELS),
        variants=[Text(DEMO_SYSTEM_PROMPT, "demo_stand_in", sha256_text(DEMO_SYSTEM_PROMPT), "af_tui.simulated")],
        template=Text(DEMO_USER_TEMPLATE, "demo_user_template", sha256_text(DEMO_USER_TEMPLATE), "af_tui.simulated"),
        dataset=Dataset(list(DEMO_REQUESTS), "demo_requests", sha256_text(requests_text), "af_tui.simulated"),
        concurrency=DEMO_CONCURRENCY, source="demo",
    )
    if not no_tui:
        from af_tui.experiment.plan import plan
        from af_tui.store.db import Store

        with Store(db) as store:  # a bad --db fails here in one line; the app opens on the planned run
            plan(spec, store)
        log = _log_path(db, DEMO_RUN)
        proc = _start_child(["demo", "--no-tui", "--db", str(db), "--latency", latency_s, *(["--batch"] if batch
                                                                                           else [])], log)
        _open_app_with(db, proc, log)
        return
    if batch:
        from af_tui.experiment.batch_run import BatchOptions

        os.environ["AF_TUI_SIM_BATCH_LATENCY"] = latency_s
        options = BatchOptions(poll_s=max(0.05, min(1.0, float(latency_s) / 4)))
    else:
        os.environ["AF_TUI_SIM_LATENCY"] = latency_s
        options = None
    click.echo(f"af-tui: demo run into {db} (simulated models{', simulated batches' if batch else ''}, no "
               "network)", err=True)
    _execute(spec, db, f"af-tui demo --no-tui --db {shlex.quote(str(db))}" + (" --batch" if batch else ""),
             batch=options)
