"""Running the experiment in this process: each planned sample through the notebook's loop over litellm,
with bounded concurrency, committed to the store in small batches before it is counted, exact resume and a
clean stop on Ctrl-C. Never imports Textual; progress goes to a ProgressSink the caller provides.

`execute(spec, store)` runs or resumes one run; workers.py splits it over `--workers` processes."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass

from af_tui.domain import Outcome
from af_tui.errors import AfError
from af_tui.experiment import rules
from af_tui.experiment.budget import Budget
from af_tui.experiment.plan import RunSpec, Task, existing_counts, per_model, plan, shard_tasks
from af_tui.llm import client as llm
from af_tui.llm.limits import Throttle
from af_tui.llm.tasks import ProgressSink, SilentProgress, run_grouped, stop_on_signals
from af_tui.store.db import Store
from af_tui.store.sample import Sample

HEARTBEAT_S = 5.0
# Finished samples are committed together every BATCH_S or BATCH_ROWS, whichever comes first: a commit costs
# the wall time of several rows in a batch, and the event loop waits for it (bench/README.md, the runner).
BATCH_S = 0.05
BATCH_ROWS = 64
REASONING_SEPARATOR = rules.REASONING_SEPARATOR


@dataclass
class RunResult:
    name: str
    run_id: int
    status: str  # done | stopped
    planned: int
    sent: int  # samples attempted in this session
    errors: int  # error rows left in the run (retried by running the same command again)
    counts: dict[str, dict[str, int]]
    budget_reached: bool = False  # stopped by --max-cost
    spent: float | None = None  # the run's stored provider cost, USD (None: nothing priced)


def run_result(spec: RunSpec, store: Store, run_id: int, status: str, planned: int, sent: int,
               budget_reached: bool = False) -> RunResult:
    errors = store.conn.execute(
        "SELECT COUNT(*) FROM samples WHERE run_id = ? AND outcome = 'error'", (run_id,)).fetchone()[0]
    return RunResult(spec.name, run_id, status, planned, sent, errors, existing_counts(store, run_id),
                     budget_reached, spent_cost(store, run_id))


def spent_cost(store: Store, run_id: int) -> float | None:
    """The run's stored provider cost (all sessions, the failed tries of retried samples included)."""
    return store.conn.execute("SELECT SUM(cost) FROM samples WHERE run_id = ?", (run_id,)).fetchone()[0]


def attach_reasoning(messages: list[dict], reasonings: list[str | None]) -> str | None:
    """Give each assistant message its turn's provider reasoning (a "reasoning" key, only where there was
    some) and return all turns' reasoning joined for samples.reasoning (None when the model gave none)."""
    if not any(reasonings):
        return None
    replies = (m for m in messages if m.get("role") == "assistant")
    for message, reasoning in zip(replies, reasonings, strict=False):
        if reasoning:
            message["reasoning"] = reasoning
    return REASONING_SEPARATOR.join(r for r in reasonings if r)


def counts_without_errors(store: Store, run_id: int) -> dict[str, dict[str, int]]:
    """The counts a resumed run starts its bars from: error rows are sent again, so they start at zero."""
    return {m: {o: n for o, n in c.items() if o != Outcome.ERROR} for m, c in existing_counts(store, run_id).items()}


class _PrefillRefused(llm.FatalProviderError):
    """The provider rejected a request because its last message was our prefilled assistant turn: every call
    of that model would fail alike, so the run stops and says which option fixes it."""


# What a provider's 400 says when it will not take a trailing assistant message (OpenAI: "the final message
# must be a user message"; others name the role, the prefill or continuing).
_PREFILL_WORDS = re.compile(r"assistant|prefill|final message|last message|\brole\b|continu", re.IGNORECASE)


def refuses_prefill(exc: llm.ProviderError, messages: list[dict]) -> bool:
    """A request rejected (HTTP 400) whose last message was a prefill, for a reason that names it."""
    prefilled = bool(messages) and messages[-1].get("role") == "assistant"
    return prefilled and exc.status == 400 and bool(_PREFILL_WORDS.search(exc.message))


class _Blocked(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


async def _sample(spec: RunSpec, run_id: int, task: Task, throttle: Throttle | None = None) -> Sample:
    """One sample through the loop; a provider failure after retries becomes an error row."""
    key = task.key
    totals = {"input_tokens": 0, "output_tokens": 0, "cost": 0.0, "latency_s": 0.0, "attempts": 0,
              "cache_read_tokens": None, "cache_write_tokens": None}
    seen_cost = False
    last_messages: list[dict] = []
    reasonings: list[str | None] = []  # per assistant turn, in order

    async def call(messages: list[dict]) -> str:
        nonlocal seen_cost, last_messages
        last_messages = messages
        try:
            c = await llm.complete(key.model, messages, api_base=spec.api_base, temperature=spec.temperature,
                                   max_tokens=spec.max_tokens_for(key.model), policy=spec.policy, seed=key.epoch,
                                   cache_prompt=spec.cache_prompt, throttle=throttle,
                                   reasoning_effort=spec.reasoning_effort, thinking_budget=spec.thinking_budget,
                                   price=spec.prices.get(key.model))
        except llm.ProviderError as exc:
            if not isinstance(exc, llm.FatalProviderError) and refuses_prefill(exc, messages):
                raise _PrefillRefused(
                    f"{key.model} refused a prefilled assistant turn ({exc.message[:200]}); run again with "
                    "--prefill none", attempts=exc.attempts, status=exc.status) from None
            raise
        reasonings.append(c.reasoning)
        for name, value in (("cache_read_tokens", c.cache_read_tokens), ("cache_write_tokens", c.cache_write_tokens)):
            if value is not None:
                totals[name] = (totals[name] or 0) + value
        totals["input_tokens"] += c.input_tokens or 0
        totals["output_tokens"] += c.output_tokens or 0
        totals["latency_s"] += c.latency_s
        totals["attempts"] += c.attempts
        if c.cost is not None:
            totals["cost"] += c.cost
            seen_cost = True
        if c.blocked:
            raise _Blocked(c.blocked)
        return c.text

    started = time.time()
    first_turn = rules.user_turn(spec.template.text, task.request, key.tier, spec.setting.reading)
    try:
        result = await rules.converse(call, task.system_prompt, first_turn, rule=spec.rule,
                                      reading=spec.setting.reading,
                                           prefill=rules.resolve_prefill(
                                               spec.prefill, key.model, thinking=bool(spec.thinking_budget)))
    except llm.FatalProviderError:
        raise
    except _Blocked as blocked:
        # the provider refused to answer: an outcome of its own, counted in n (never sent again)
        transcript = [m for m in last_messages if m.get("role") != "system"]
        if transcript and transcript[-1]["role"] == "assistant":
            transcript.pop()  # the prefill the provider did not continue
        ending = dict(outcome=Outcome.BLOCKED, error=f"blocked by the provider: {blocked.reason}",
                      transcript=transcript, turns=sum(m["role"] == "assistant" for m in transcript))
    except llm.ProviderError as exc:
        totals["attempts"] += exc.attempts
        transcript = [m for m in last_messages if m.get("role") != "system"] or [
            {"role": "user", "content": first_turn}]
        ending = dict(outcome=Outcome.ERROR, error=exc.message, transcript=transcript, turns=0,
                      reasoning=attach_reasoning(transcript, reasonings))
    else:
        ending = dict(outcome=result.outcome, output=result.output, scratchpad=result.scratchpad,
                      transcript=result.transcript.messages, turns=result.turns,
                      reasoning=attach_reasoning(result.transcript.messages, reasonings))
    if not seen_cost:
        totals["cost"] = None
    return Sample(run_id=run_id, model=key.model, variant=key.variant, prompt_id=key.prompt_id,
                  prompt_index=task.prompt_index, tier=key.tier, epoch=key.epoch, started_at=started,
                  **ending, **totals, completed_at=time.time())


async def execute(spec: RunSpec, store: Store, *, progress: ProgressSink | None = None,
                  stop: asyncio.Event | None = None, shard: tuple[int, int] | None = None) -> RunResult:
    """Run (or resume) `spec` into `store`. Raises AfError on a failure every call would repeat.

    With `shard=(k, n)` this process is worker k of n started by `execute_workers`: it sends only its share
    and leaves the run's status to the parent."""
    run_id, tasks, _ = plan(spec, store)
    all_tasks = len(tasks)
    tasks = shard_tasks(tasks, shard)
    done = store.done_keys(run_id)
    todo = [t for t in tasks if t.key not in done]
    planned_per_model, done_per_model = per_model(spec, tasks, done)
    stop = stop or asyncio.Event()
    sent = 0
    throttles = {m: Throttle(spec.concurrency_for(m)) for m in spec.models}
    budget = Budget(spec.max_cost, spent_cost(store, run_id) or 0.0, known={m: (c, n) for m, c, n in store.conn.execute(
        "SELECT model, SUM(cost), COUNT(cost) FROM samples WHERE run_id = ? AND cost IS NOT NULL GROUP BY model",
        (run_id,))} if spec.max_cost is not None else None)

    def live() -> dict:
        return {"throttle": {m: t.state() for m, t in throttles.items() if t.throttled}}

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            store.heartbeat(run_id, live=live())

    progress = progress or SilentProgress()
    progress.start(planned_per_model, done_per_model, counts_without_errors(store, run_id),
                   f"run {spec.name}: {len(todo)} of {len(tasks)} samples to send")

    pending: list[Sample] = []

    def flush() -> None:
        """Commit the finished samples, then count them: never counted before they are on disk."""
        nonlocal sent
        if not pending:
            return
        samples = pending[:]
        pending.clear()
        store.save_samples(samples)
        for sample in samples:
            sent += 1
            progress.add(sample.model, sample.outcome)

    async def flusher() -> None:
        while True:
            await asyncio.sleep(BATCH_S)
            flush()

    async def worker(task: Task) -> None:
        model = task.key.model
        if not budget.may_start(model):
            if not stop.is_set():
                progress.say(f"stopping: the next samples would take the run past --max-cost ${spec.max_cost:g}"
                             "; the samples in flight finish")
            stop.set()
            return
        async with throttles[model]:
            sample = await _sample(spec, run_id, task, throttles[model])
        budget.finished(model, sample.cost)
        pending.append(sample)
        if len(pending) >= BATCH_ROWS:
            flush()

    beat = asyncio.ensure_future(heartbeat())
    batcher = asyncio.ensure_future(flusher())
    status = "failed"
    # The bar stays up until the last batch is committed and counted (it closed before the final flush, and
    # a finished run showed 79/80 with 80 in the store).
    with progress:
        try:
            with stop_on_signals(stop, lambda: progress.say(
                    "stopping: samples in flight are dropped; run the same command again to resume")):
                finished = await run_grouped(
                    [([t for t in todo if t.key.model == m], throttles[m].max) for m in spec.models], worker,
                    stop=stop, drain=lambda: budget.reached)
            status = "done" if finished else "stopped"
        except _PrefillRefused as exc:
            raise AfError(exc.message) from None
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
    return run_result(spec, store, run_id, status, all_tasks, sent, budget.reached)
