"""Running the experiment: every (model, variant, request, tier, epoch) through the notebook's loop over
litellm, with bounded concurrency, each sample committed to the store before it is counted, exact resume,
a clean stop on Ctrl-C and a Rich progress bar per model. Never imports Textual.

Reusable pieces (the judge uses them too):
- `await run_tasks(items, worker, concurrency=C, stop=event)`: at most C `worker(item)` calls in flight,
  items pulled lazily from any iterable; returns when all are done, or cancels the calls in flight and
  returns once `stop` is set; an exception from a worker cancels the rest and propagates.
- `LiveProgress(totals, done, counts)`: a Rich bar per key (model) with live outcome counts and samples/s;
  `.add(key, outcome)` after the row is committed. On a non-terminal (a log file) it prints a line every 10 s.
- `stop_on_signals(event)`: SIGINT/SIGTERM set the event instead of killing the loop.

`execute(spec, store)` runs or resumes one run in this process; `execute_workers(...)` splits it over
`--workers` processes that share the store (litellm's CPU per call caps one process near 350 calls/s; bench/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from af_tui.errors import AfError
from af_tui.experiment import rules as experiment
from af_tui.experiment.sources import Dataset, Text
from af_tui.llm import client as llm
from af_tui.store.db import SampleKey, Store

T = TypeVar("T")
HEARTBEAT_S = 5.0
# Finished samples are committed together every BATCH_S or BATCH_ROWS, whichever comes first: one commit
# costs about 0.8 ms of wall time here against 0.2 ms a row in a batch, and the event loop waits for it.
BATCH_S = 0.05
BATCH_ROWS = 64


# -- generic machinery -----------------------------------------------------------------------------------

async def run_tasks(
    items: Iterable[T],
    worker: Callable[[T], Awaitable[object]],
    *,
    concurrency: int,
    stop: asyncio.Event | None = None,
) -> bool:
    """Run `worker` over `items` with at most `concurrency` in flight. Returns False if stopped early."""
    iterator = iter(items)
    stop = stop or asyncio.Event()

    async def lane() -> None:
        for item in iterator:  # one shared iterator: lanes pull the next item when free
            if stop.is_set():
                return
            await worker(item)

    lanes = [asyncio.ensure_future(lane()) for _ in range(max(1, concurrency))]
    stopper = asyncio.ensure_future(stop.wait())
    try:
        pending = set(lanes)
        while pending:
            done, pending = await asyncio.wait(pending | {stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopper}:
                task.result()  # re-raise a worker's exception
            pending -= {stopper}
            if stopper in done:
                break
        return not stop.is_set()
    finally:
        for task in [*lanes, stopper]:
            task.cancel()
        await asyncio.gather(*lanes, stopper, return_exceptions=True)


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event, on_stop: Callable[[], None] | None = None):
    """SIGINT / SIGTERM ask for a clean stop (the second SIGINT too: the lanes are cancelled at once)."""
    loop = asyncio.get_running_loop()
    installed = []

    def handler() -> None:
        if not stop.is_set() and on_stop:
            on_stop()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread (tests) or no signals here
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


from af_tui.domain import OUTCOME_WORD as OUTCOME_SHORT  # noqa: E402


class LiveProgress:
    """A Rich progress bar per key with live outcome counts and samples/s (this session's)."""

    def __init__(self, totals: dict[str, int], done: dict[str, int], counts: dict[str, dict[str, int]],
                 console=None, title: str = "", silent: bool = False):
        from rich.console import Console

        self.console = console or Console(stderr=True, highlight=False)
        self.totals, self.done, self.counts = totals, dict(done), {k: dict(v) for k, v in counts.items()}
        self.session = dict.fromkeys(totals, 0)
        self.started = time.monotonic()
        self.title = title
        self.silent = silent
        self._progress = None
        self._tasks: dict[str, int] = {}
        self._last_line = 0.0

    def _fields(self, key: str) -> dict:
        c = self.counts.get(key, {})
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return {
            "outcomes": "  ".join(f"{OUTCOME_SHORT[o]} {c.get(o, 0)}" for o in OUTCOME_SHORT),
            "rate": f"{self.session.get(key, 0) / elapsed:6.1f}/s",
        }

    def __enter__(self) -> LiveProgress:
        from rich.markup import escape
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if self.silent:
            return self
        if self.console.is_terminal:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
                TextColumn("{task.fields[outcomes]}", markup=False), TextColumn("{task.fields[rate]}", markup=False),
                TimeElapsedColumn(), console=self.console, refresh_per_second=4,
            )
            self._progress.__enter__()
            for key, total in self.totals.items():
                self._tasks[key] = self._progress.add_task(
                    escape(key), total=total, completed=self.done.get(key, 0), **self._fields(key))
        elif self.title:
            self.console.print(self.title, markup=False)
        return self

    def add(self, key: str, outcome: str) -> None:
        """Count a sample, after it is committed. Errors are not done: a rerun retries them."""
        self.counts.setdefault(key, {})
        self.counts[key][outcome] = self.counts[key].get(outcome, 0) + 1
        if outcome != "error":
            self.done[key] = self.done.get(key, 0) + 1
        self.session[key] = self.session.get(key, 0) + 1
        if self._progress is not None:
            self._progress.update(self._tasks[key], completed=self.done[key], **self._fields(key))
        elif not self.silent and time.monotonic() - self._last_line >= 10:
            self.print_lines()

    def print_lines(self) -> None:
        self._last_line = time.monotonic()
        for key, total in self.totals.items():
            f = self._fields(key)
            self.console.print(f"{time.strftime('%H:%M:%S')} {key} {self.done.get(key, 0)}/{total} "
                               f"{f['outcomes']} {f['rate'].strip()}", markup=False, highlight=False)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            for key in self.totals:  # the final rate
                self._progress.update(self._tasks[key], **self._fields(key))
            self._progress.__exit__(*exc)
        elif not self.silent:
            self.print_lines()


# -- the experiment ----------------------------------------------------------------------------------------

@dataclass
class RunSpec:
    """What `af-tui run` was asked to do."""

    name: str
    models: list[str]
    variants: list[Text]  # system prompts; Text.name is the variant name asked for
    template: Text
    dataset: Dataset
    limit: int | None = None
    epochs: int = 1
    concurrency: int = 20
    api_base: str | None = None
    temperature: float = 1.0
    max_tokens: int = 4000
    prefill: bool = False
    source: str = "af-tui"
    policy: llm.RetryPolicy = field(default_factory=llm.RetryPolicy)


@dataclass
class RunResult:
    name: str
    run_id: int
    status: str  # done | stopped
    planned: int
    sent: int  # samples attempted in this session
    errors: int  # error rows left in the run (retried by running the same command again)
    counts: dict[str, dict[str, int]]


@dataclass(frozen=True)
class _Task:
    key: SampleKey
    prompt_index: int
    request: str
    system_prompt: str


def _safe_url(url: str | None) -> str | None:
    """The URL without any user:password part (config is stored and shown)."""
    if not url:
        return url
    parts = urllib.parse.urlsplit(url)
    if parts.username or parts.password:
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        parts = parts._replace(netloc=netloc)
    return urllib.parse.urlunsplit(parts)


def _existing_counts(store: Store, run_id: int) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    # the store's trigger-kept counts: a few rows, whatever the run's size (polled twice a second)
    for model, outcome, n in store.conn.execute(
        "SELECT model, outcome, SUM(n) FROM outcome_counts WHERE run_id = ? GROUP BY model, outcome", (run_id,)
    ):
        if n:
            counts.setdefault(model, {})[outcome] = n
    return counts


def plan(spec: RunSpec, store: Store) -> tuple[int, list[_Task], dict]:
    """Register prompts and variants; the run row (started or reopened), every task, and the run's config."""
    requests = spec.dataset.requests[: spec.limit] if spec.limit is not None else spec.dataset.requests
    prompt_ids = store.ensure_prompts(requests, source=spec.dataset.name)
    variants = []
    for v in spec.variants:
        stored = store.ensure_variant(v.name, v.text, source=v.origin)
        variants.append((stored, v))
    config = {
        "models": spec.models,
        "variants": [{"name": name, "sha256": v.sha256, "origin": v.origin} for name, v in variants],
        "dataset": {"name": spec.dataset.name, "sha256": spec.dataset.sha256, "origin": spec.dataset.origin,
                    "requests": len(requests)},
        "template": {"name": spec.template.name, "sha256": spec.template.sha256, "origin": spec.template.origin},
        "temperature": spec.temperature, "max_tokens": spec.max_tokens, "prefill": spec.prefill,
        "epochs": spec.epochs, "limit": spec.limit, "concurrency": spec.concurrency,
        "api_base": _safe_url(spec.api_base),
    }
    tasks: list[_Task] = []
    seen: set[SampleKey] = set()
    for epoch in range(spec.epochs):
        for index, (prompt_id, request) in enumerate(zip(prompt_ids, requests, strict=True)):
            for stored, v in variants:
                for model in spec.models:
                    for tier in experiment.TIERS:
                        key = SampleKey(model, stored, prompt_id, tier, epoch)
                        if key not in seen:  # a request listed twice is one prompt: sample it once
                            seen.add(key)
                            tasks.append(_Task(key, index, request, v.text))
    run_id = store.start_run(spec.name, config, source=spec.source, planned=len(tasks))
    return run_id, tasks, config


async def _sample(spec: RunSpec, run_id: int, task: _Task) -> dict:
    """One sample through the loop; a provider failure after retries becomes an error row."""
    key = task.key
    totals = {"input_tokens": 0, "output_tokens": 0, "cost": 0.0, "latency_s": 0.0, "attempts": 0}
    seen_cost = False
    last_messages: list[dict] = []

    async def call(messages: list[dict]) -> str:
        nonlocal seen_cost, last_messages
        last_messages = messages
        c = await llm.complete(key.model, messages, api_base=spec.api_base, temperature=spec.temperature,
                               max_tokens=spec.max_tokens, policy=spec.policy, seed=key.epoch)
        totals["input_tokens"] += c.input_tokens or 0
        totals["output_tokens"] += c.output_tokens or 0
        totals["latency_s"] += c.latency_s
        totals["attempts"] += c.attempts
        if c.cost is not None:
            totals["cost"] += c.cost
            seen_cost = True
        return c.text

    started = time.time()
    first_turn = experiment.user_turn(spec.template.text, task.request, key.tier)
    row = {"run_id": run_id, "model": key.model, "variant": key.variant, "prompt_id": key.prompt_id,
           "prompt_index": task.prompt_index, "tier": key.tier, "epoch": key.epoch, "started_at": started}
    try:
        result = await experiment.converse(call, task.system_prompt, first_turn, prefill=spec.prefill)
    except llm.FatalProviderError:
        raise
    except llm.ProviderError as exc:
        totals["attempts"] += exc.attempts
        transcript = [m for m in last_messages if m.get("role") != "system"] or [
            {"role": "user", "content": first_turn}]
        row.update(outcome=experiment.ERROR, error=exc.message, transcript=transcript, turns=0)
    else:
        row.update(outcome=result.outcome, output=result.output, scratchpad=result.scratchpad,
                   transcript=result.transcript.messages, turns=result.turns)
    row.update(totals)
    if not seen_cost:
        row["cost"] = None
    row["completed_at"] = time.time()
    return row


def _shard(tasks: list[_Task], shard: tuple[int, int] | None) -> list[_Task]:
    """The tasks of worker k of n: every n-th, so that each worker gets every model and both tiers."""
    if shard is None:
        return tasks
    k, n = shard
    return [t for i, t in enumerate(tasks) if i % n == k]


def _per_model(spec: RunSpec, tasks: list[_Task], done: set[SampleKey]) -> tuple[dict, dict]:
    planned = {m: 0 for m in spec.models}
    finished = {m: 0 for m in spec.models}
    for t in tasks:
        planned[t.key.model] += 1
        finished[t.key.model] += t.key in done
    return planned, finished


def _result(spec: RunSpec, store: Store, run_id: int, status: str, planned: int, sent: int) -> RunResult:
    errors = store.conn.execute(
        "SELECT COUNT(*) FROM samples WHERE run_id = ? AND outcome = 'error'", (run_id,)).fetchone()[0]
    return RunResult(spec.name, run_id, status, planned, sent, errors, _existing_counts(store, run_id))


async def execute(spec: RunSpec, store: Store, *, console=None, stop: asyncio.Event | None = None,
                  shard: tuple[int, int] | None = None) -> RunResult:
    """Run (or resume) `spec` into `store`. Raises AfError on a failure every call would repeat.

    With `shard=(k, n)` this process is worker k of n started by `execute_workers`: it sends only its share,
    shows no progress, and leaves the run's status to the parent."""
    run_id, tasks, _ = plan(spec, store)
    all_tasks = len(tasks)
    tasks = _shard(tasks, shard)
    done = store.done_keys(run_id)
    todo = [t for t in tasks if t.key not in done]
    planned_per_model, done_per_model = _per_model(spec, tasks, done)
    counts = {m: {o: n for o, n in c.items() if o != "error"} for m, c in _existing_counts(store, run_id).items()}
    stop = stop or asyncio.Event()
    sent = 0

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            store.heartbeat(run_id)

    progress = LiveProgress(planned_per_model, done_per_model, counts, console=console, silent=shard is not None,
                            title=f"run {spec.name}: {len(todo)} of {len(tasks)} samples to send")

    pending: list[dict] = []

    def flush() -> None:
        """Commit the finished samples, then count them: never counted before they are on disk."""
        nonlocal sent
        if not pending:
            return
        rows = pending[:]
        pending.clear()
        store.save_samples(rows)
        for row in rows:
            sent += 1
            progress.add(row["model"], row["outcome"])

    async def flusher() -> None:
        while True:
            await asyncio.sleep(BATCH_S)
            flush()

    async def worker(task: _Task) -> None:
        pending.append(await _sample(spec, run_id, task))
        if len(pending) >= BATCH_ROWS:
            flush()

    beat = asyncio.ensure_future(heartbeat())
    batcher = asyncio.ensure_future(flusher())
    status = "failed"
    try:
        with progress, stop_on_signals(stop, None if shard else lambda: progress.console.print(
                "stopping: samples in flight are dropped; run the same command again to resume", markup=False)):
            finished = await run_tasks(todo, worker, concurrency=spec.concurrency, stop=stop)
        status = "done" if finished else "stopped"
    except llm.FatalProviderError as exc:
        raise AfError(f"{exc.message} — stopped the run; fix this and run the same command again") from None
    except (asyncio.CancelledError, KeyboardInterrupt):
        status = "stopped"
        raise
    finally:
        for task in (beat, batcher):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        flush()  # samples that finished before the stop are kept
        if shard is None:
            store.finish_run(run_id, status)
    return _result(spec, store, run_id, status, all_tasks, sent)


async def execute_workers(spec: RunSpec, store: Store, workers: int, child_args: list[str], *, console=None,
                          stop: asyncio.Event | None = None) -> RunResult:
    """`execute` split over `workers` processes (`python -m af_tui run *child_args --shard k/N`) that share
    the store: litellm spends about 3 ms of CPU a call, so one process tops out near 350 calls/s.
    This process shows the progress (read from the store), keeps the heartbeat and sets the run's status."""
    run_id, tasks, _ = plan(spec, store)
    done = store.done_keys(run_id)
    planned_per_model, done_per_model = _per_model(spec, tasks, done)
    counts = {m: {o: n for o, n in c.items() if o != "error"} for m, c in _existing_counts(store, run_id).items()}
    stop = stop or asyncio.Event()
    todo = sum(t.key not in done for t in tasks)
    progress = LiveProgress(planned_per_model, done_per_model, counts, console=console,
                            title=f"run {spec.name}: {todo} of {len(tasks)} samples to send, {workers} workers")
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "af_tui", "run", *child_args, "--shard", f"{k}/{workers}",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        for k in range(workers)
    ]
    errors_text = [asyncio.ensure_future(c.stderr.read()) for c in children]
    waits = [asyncio.ensure_future(c.wait()) for c in children]
    before = _existing_counts(store, run_id)
    last_beat = time.monotonic()

    def refresh() -> None:
        now = _existing_counts(store, run_id)
        for model in spec.models:
            for outcome in OUTCOME_SHORT:
                for _ in range(now.get(model, {}).get(outcome, 0) - before.get(model, {}).get(outcome, 0)):
                    progress.add(model, outcome)
                before.setdefault(model, {})[outcome] = now.get(model, {}).get(outcome, 0)

    def forward() -> None:
        progress.console.print("stopping the workers; run the same command again to resume", markup=False)

    status = "failed"
    try:
        with progress, stop_on_signals(stop, forward):
            stopping = False
            while not all(w.done() for w in waits):
                await asyncio.wait(waits, timeout=0.5)
                if any(w.done() and w.result() not in (0, 1, 130) for w in waits):
                    stop.set()  # a worker met a failure every call would repeat: stop the others too
                if stop.is_set() and not stopping:
                    stopping = True
                    for c in children:
                        if c.returncode is None:
                            c.send_signal(signal.SIGINT)
                refresh()
                if time.monotonic() - last_beat > HEARTBEAT_S:
                    store.heartbeat(run_id)
                    last_beat = time.monotonic()
            refresh()
        codes = [w.result() for w in waits]
        messages = [(await e).decode("utf-8", "replace").strip() for e in errors_text]
        failed = [m.splitlines()[-1] for c, m in zip(codes, messages, strict=True) if c not in (0, 1, 130) and m]
        if failed:
            raise AfError(failed[0].removeprefix("af-tui: error: "))
        status = "stopped" if stop.is_set() or 130 in codes else "done"
    finally:
        for c in children:
            if c.returncode is None:
                c.kill()
        store.finish_run(run_id, status)
    return _result(spec, store, run_id, status, len(tasks), sum(progress.session.values()))
