"""`af-tui run --batch`: every request of a run through the providers' batch APIs, in the notebook's rounds.

Round 1 sends every sample's first turn, one batch per model (split within the provider's limits and
--batch-size); a reply that needs a <NEXT/> turn goes into the model's next round, sent as soon as none of
the model's batches is pending, so a run whose replies take at most four turns needs four batches per model.
A failed or expired item is sent again in the next round, up to `max_tries`; past that it is stored as an
error, which the same command retries later (as an interactive run's errors are).

Nothing is sent twice and nothing is lost (store/batches.py): every batch is on disk before af-tui waits on
it, each ended batch is collected (its samples saved, its <NEXT/> turns carried) in one transaction, and the
same command after Ctrl-C or kill -9 collects the pending batches instead of sending them again. Never
imports Textual; progress goes to a ProgressSink, one sample at a time as each batch is collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from dataclasses import dataclass

from af_tui.domain import Outcome
from af_tui.errors import AfError
from af_tui.experiment import rules
from af_tui.experiment.budget import BatchBudget
from af_tui.experiment.plan import RunSpec, Task, _safe_url, per_model, plan
from af_tui.experiment.runner import (
    _PREFILL_WORDS,
    RunResult,
    attach_reasoning,
    counts_without_errors,
    run_result,
    spent_cost,
)
from af_tui.llm import batch as llm_batch
from af_tui.llm import pricing
from af_tui.llm.client import Completion
from af_tui.llm.pricing import Price
from af_tui.llm.tasks import ProgressSink, SilentProgress, stop_on_signals
from af_tui.store import batches as store_batches
from af_tui.store.db import SampleKey, Store
from af_tui.store.sample import Sample

HEARTBEAT_S = 5.0


@dataclass(frozen=True)
class BatchOptions:
    """How a batch run sends and waits (`--batch-size`; the poll interval is for tests and the bench)."""

    batch_size: int | None = None  # requests per batch at most (None: the provider's limit)
    poll_s: float = 30.0  # seconds between looks at the pending batches
    max_tries: int = 3  # sends of one turn before a failing item is stored as an error


def check_batch_models(models: list[str]) -> None:
    """A one-line AfError for a model with no batch API (before anything is written)."""
    for model in models:
        llm_batch.check_batchable(model)


# -- one item: a sample's next turn, as the batches table keeps it (JSON) ------------------------------------

def _new_item(task: Task) -> dict:
    k = task.key
    return {"key": [k.model, k.variant, k.prompt_id, k.tier, k.epoch], "index": task.prompt_index, "turn": 0,
            "round": 1, "tries": 0, "started": time.time(), "reasonings": [],
            "totals": {"input_tokens": 0, "output_tokens": 0, "cost": None, "latency_s": 0.0, "attempts": 0,
                       "cache_read_tokens": None, "cache_write_tokens": None}}


def _key(item: dict) -> SampleKey:
    return SampleKey(*item["key"])


def _custom_id(item: dict) -> str:
    """Names the sample and the turn: p{prompt id}-{tier}-e{epoch}-v{variant's hash}-t{turn}."""
    model, variant, prompt_id, tier, epoch = item["key"]
    v = hashlib.sha256(variant.encode("utf-8")).hexdigest()[:8]
    return llm_batch.custom_id(f"p{prompt_id}", tier, f"e{epoch}", f"v{v}", f"t{item['turn']}")


def _history(spec: RunSpec, task: Task, item: dict) -> list[dict]:
    """The conversation so far, system prompt left out (a first turn is rebuilt from the task, not stored)."""
    if item.get("history"):
        return [dict(m) for m in item["history"]]
    return [{"role": "user", "content": rules.user_turn(spec.template.text, task.request, task.key.tier,
                                                        spec.setting.reading)}]


def _prefill(spec: RunSpec, model: str) -> str:
    return rules.resolve_prefill(spec.prefill, model, thinking=bool(spec.thinking_budget))


def _request(spec: RunSpec, task: Task, item: dict) -> llm_batch.BatchRequest:
    """The turn's request, as the interactive loop (rules.converse) builds it."""
    model = task.key.model
    messages = [{"role": "system", "content": task.system_prompt}, *_history(spec, task, item)]
    if prefill := _prefill(spec, model):
        messages.append({"role": "assistant", "content": prefill})
    body = llm_batch.request_body(model, messages, temperature=spec.temperature,
                                  max_tokens=spec.max_tokens_for(model), cache_prompt=spec.cache_prompt,
                                  reasoning_effort=spec.reasoning_effort, thinking_budget=spec.thinking_budget,
                                  seed=task.key.epoch)
    return llm_batch.BatchRequest(_custom_id(item), body)


def _add_reply(totals: dict, c: Completion, cost: float | None) -> None:
    totals["input_tokens"] += c.input_tokens or 0
    totals["output_tokens"] += c.output_tokens or 0
    totals["latency_s"] += c.latency_s
    for name, value in (("cache_read_tokens", c.cache_read_tokens), ("cache_write_tokens", c.cache_write_tokens),
                        ("cost", cost)):
        if value is not None:
            totals[name] = (totals[name] or 0) + value


def _sample(run_id: int, task: Task, item: dict, **ending) -> Sample:
    k = task.key
    return Sample(run_id=run_id, model=k.model, variant=k.variant, prompt_id=k.prompt_id,
                  prompt_index=task.prompt_index, tier=k.tier, epoch=k.epoch, started_at=item["started"],
                  **item["totals"], **ending, completed_at=time.time())


def apply_result(spec: RunSpec, run_id: int, task: Task, item: dict, result: llm_batch.ItemResult,
                 max_tries: int, price: Price | None = None) -> tuple[Sample | None, dict | None]:
    """One item's result: the finished sample, or the item for the next round (a <NEXT/> turn, or the same
    turn again after a failure), the reply priced at `price` (the batch price). Pure but for the clock; the
    notebook's loop as rules.converse runs it, in the run's setting."""
    item = {**item, "totals": dict(item["totals"]), "reasonings": list(item["reasonings"])}
    totals = item["totals"]
    totals["attempts"] += 1
    history = _history(spec, task, item)
    reply = result.reply
    if reply is None:
        item["tries"] += 1
        if result.retry and item["tries"] < max_tries:
            return None, {**item, "round": item["round"] + 1}
        transcript = history
        return _sample(run_id, task, item, outcome=Outcome.ERROR, error=result.error or "batch item failed",
                       transcript=transcript, turns=0,
                       reasoning=attach_reasoning(transcript, item["reasonings"])), None
    _add_reply(totals, reply, pricing.reply_cost(price, reply))
    if reply.blocked:  # the provider refused to answer: an outcome of its own, never sent again
        return _sample(run_id, task, item, outcome=Outcome.BLOCKED, error=f"blocked by the provider: {reply.blocked}",
                       transcript=history, turns=sum(m["role"] == "assistant" for m in history)), None
    text = _prefill(spec, task.key.model) + reply.text
    item["reasonings"].append(reply.reasoning)
    history.append({"role": "assistant", "content": text})
    reading = spec.setting.reading
    if not reading.next_turn or not rules.turn_continues(reading.as_notebook(text)) \
            or item["turn"] == rules.MAX_TURNS - 1:
        result_ = rules.score_transcript(rules.Transcript(history), spec.rule, reading)
        messages = result_.transcript.messages
        return _sample(run_id, task, item, outcome=result_.outcome, output=result_.output,
                       scratchpad=result_.scratchpad, transcript=messages, turns=result_.turns,
                       reasoning=attach_reasoning(messages, item["reasonings"])), None
    history.append({"role": "user", "content": rules.NEXT_TURN})
    return None, {**item, "history": history, "turn": item["turn"] + 1, "round": item["round"] + 1, "tries": 0}


def _prefill_refusal(spec: RunSpec, model: str, results) -> str | None:
    """The error of an item the provider rejected (HTTP 400) for a reason naming the prefilled assistant turn,
    when the model's turns are prefilled (runner.refuses_prefill's reading); None otherwise."""
    if not _prefill(spec, model):
        return None
    return next((r.error for r in results if r.reply is None and r.status == 400 and r.error
                 and _PREFILL_WORDS.search(r.error.split(": ", 1)[-1])), None)


# -- the run ---------------------------------------------------------------------------------------------------

class _BatchRun:
    """One session of a batch run: the pending batches, the items waiting for their model's next round."""

    def __init__(self, spec: RunSpec, store: Store, run_id: int, tasks: list[Task], progress: ProgressSink,
                 options: BatchOptions):
        self.spec, self.store, self.run_id, self.progress, self.options = spec, store, run_id, progress, options
        self.tasks = {t.key: t for t in tasks}
        self.clients = {m: llm_batch.batch_client(m, spec.api_base) for m in spec.models}
        self.prices = {m: pricing.price(m, spec.prices, batch=True) for m in spec.models}  # the batch price
        self.pending: dict[int, store_batches.BatchRow] = {}
        self.waiting: dict[str, dict[str, dict]] = {m: {} for m in spec.models}  # model -> key text -> item
        self.sources: dict[str, set[int]] = {m: set() for m in spec.models}  # rows whose carry `waiting` holds
        self.dropped: dict[str, list[int]] = {m: [] for m in spec.models}  # unsent rows `waiting` sends again
        self.sent = 0
        self.cancelled = 0  # pending batches found cancelled by `af-tui batches --cancel` meanwhile
        self.budget = BatchBudget(spec.max_cost) if spec.max_cost is not None else None
        self._sending: dict[str, float] = {}  # custom id -> its expected cost, for the round being sent
        self.stalled: dict[str, bool] = {}  # model -> --max-cost allowed none of its waiting requests
        self._tokens: dict[tuple[str, str], int] = {}

    # -- --max-cost: what a request is expected to cost before it is sent -----------------------------------
    def _count(self, model: str, text: str) -> int:
        key = (model, text)
        if key not in self._tokens:
            self._tokens[key] = pricing.count_text_tokens(model, text)
        return self._tokens[key]

    def _output_tokens(self, model: str) -> int:
        """Output tokens a reply is expected to take: max_tokens (an upper bound) until the run has replies of
        the model, then their average."""
        out, turns = self.store.conn.execute(
            "SELECT SUM(output_tokens), SUM(turns) FROM samples WHERE run_id = ? AND model = ? AND turns > 0 "
            "AND output_tokens > 0", (self.run_id, model)).fetchone()
        most = self.spec.max_tokens_for(model)
        return min(most, -(-int(out) // int(turns))) if out and turns else most

    def _expected(self, model: str, items: list[dict]) -> dict[str, tuple[float, float]]:
        """Custom id -> (what the sample's earlier turns cost, the expected cost of this turn) at the batch
        price: the turn's input tokens counted, the output expected as _output_tokens says."""
        price, out = self.prices[model], self._output_tokens(model)
        costs = {}
        for item in items:
            task = self.tasks[_key(item)]
            texts = [task.system_prompt, *(str(m.get("content") or "") for m in _history(self.spec, task, item))]
            tokens = sum(self._count(model, t) for t in texts) + 4 * len(texts)
            costs[_custom_id(item)] = (item["totals"].get("cost") or 0.0,
                                       tokens * price.input + out * price.output if price else 0.0)
        return costs

    def _affordable(self, model: str, items: list[dict]) -> tuple[list[dict], list[dict]]:
        """(to send, to keep waiting): the items of the model's next round that --max-cost allows, the turns of
        samples under way all or none (their history stays in the store's carry until they are sent), then new
        samples in order. The rest wait: a round sent later, when collected batches have replaced their
        expected cost with the stored one (and max_tokens with the replies' average), may have room for them."""
        costs = self._expected(model, items)
        must = [(_custom_id(i), costs[_custom_id(i)][1]) for i in items if i["turn"] > 0]
        rest = [(_custom_id(i), costs[_custom_id(i)][1]) for i in items if i["turn"] == 0]
        paid = sum(i["totals"].get("cost") or 0.0 for w in self.waiting.values() for i in w.values())
        chosen = set(self.budget.choose((spent_cost(self.store, self.run_id) or 0.0) + paid, must, rest))
        self.stalled[model] = not chosen
        if not chosen:
            self.progress.say(f"{model}: {len(items)} requests not sent: they would take the run past --max-cost "
                              f"${self.spec.max_cost:g}")
        self._sending = {cid: sum(costs[cid]) for cid in chosen}
        return [i for i in items if _custom_id(i) in chosen], [i for i in items if _custom_id(i) not in chosen]

    def _wait(self, model: str, item: dict) -> None:
        self.waiting[model][repr(item["key"])] = item

    def load(self, done: set[SampleKey]) -> None:
        """The run's open batches (pending: wait on them; carried or unsent items: send them), then every task
        neither done nor in them."""
        covered: set[SampleKey] = set()
        for row in store_batches.open_batches(self.store, self.run_id):
            if row.model not in self.clients:
                continue  # a model this session does not run: its batches wait for a session that does
            if row.status == "pending":
                self.pending[row.id] = row
                covered |= {_key(i) for i in row.items.values()}
                if self.budget is not None:
                    self.budget.sent(row.model, {c: sum(v) for c, v in self._expected(
                        row.model, [i for i in row.items.values() if _key(i) in self.tasks]).items()})
            elif row.status == "submitting":  # killed before the provider's id was on disk: send again
                self.dropped[row.model].append(row.id)
                for item in row.items.values():
                    covered.add(_key(item))
                    self._wait(row.model, item)
            if row.carry:
                self.sources[row.model].add(row.id)
                for item in row.carry.values():
                    covered.add(_key(item))
                    self._wait(row.model, item)
        for key, task in self.tasks.items():
            if key not in done and key not in covered:
                self._wait(key.model, _new_item(task))

    async def submit(self, model: str) -> None:
        """The model's waiting items as its next round: rows committed first, then sent, then their ids kept."""
        items, keep = list(self.waiting[model].values()), []
        if items and self.budget is not None:
            items, keep = self._affordable(model, items)
        if not items:
            return
        client = self.clients[model]
        requests = [_request(self.spec, self.tasks[_key(i)], i) for i in items]
        by_id = dict(zip((r.custom_id for r in requests), items, strict=True))
        chunks = llm_batch.split(requests, client.limits, self.options.batch_size)
        rnd = max(i["round"] for i in items)
        new = [store_batches.NewBatch(client.provider, model, {r.custom_id: by_id[r.custom_id] for r in chunk},
                                      round=rnd, run_id=self.run_id, api_base=_safe_url(self.spec.api_base),
                                      bytes=llm_batch.batch_bytes(chunk)) for chunk in chunks]
        rows = store_batches.record_batches(self.store, new, consumed=sorted(self.sources[model]),
                                            dropped=self.dropped[model])
        self.waiting[model], self.sources[model], self.dropped[model] = {}, set(), []
        for item in keep:  # new samples --max-cost kept back (their turns under way went out above)
            self._wait(model, item)
        for row_id, chunk, b in zip(rows, chunks, new, strict=True):
            if store_batches.status_of(self.store, row_id) == "cancelled":  # `af-tui batches --cancel` meanwhile
                self.cancelled += 1
                continue
            try:
                state = await client.submit(model, chunk)
            except llm_batch.BatchError as exc:
                raise AfError(f"{exc.message} — the batch was not sent; run the same command again to send it"
                              ) from None
            if not store_batches.mark_submitted(self.store, row_id, state.batch_id, state.provider_status):
                await cancel_unwanted(client, self.store, row_id, state, model, self.progress)
                self.cancelled += 1
                continue
            self.pending[row_id] = b.pending(row_id, state.batch_id, state.provider_status)
            self.sent += len(chunk)
            if self.budget is not None:
                self.budget.sent(model, {r.custom_id: self._sending[r.custom_id] for r in chunk})
            self.progress.say(f"{model}: round {rnd}, batch {state.batch_id} sent ({len(chunk)} requests)")

    async def poll(self) -> None:
        """Look at every pending batch once; collect each that ended, then send the rounds that are ready."""
        for row in list(self.pending.values()):
            client = self.clients[row.model]
            try:
                state = await client.status(row.batch_id)
                if store_batches.status_of(self.store, row.id) == "cancelled" or \
                        state.provider_status in llm_batch.CANCELLED:
                    # `af-tui batches --cancel` from another process (its row marked, or about to be): its samples
                    # are not sent again in this session
                    store_batches.set_status(self.store, row.id, "cancelled", state.provider_status)
                    del self.pending[row.id]
                    self._cancelled(row)
                    continue
                if not state.ended:
                    store_batches.record_poll(self.store, row.id, state.provider_status, state.done, state.failed)
                    continue
                results = {r.custom_id: r for r in await client.results(row.batch_id)}
            except llm_batch.BatchError as exc:
                if exc.fatal:
                    raise AfError(f"{exc.message} — stopped; fix this and run the same command again") from None
                continue  # the provider did not answer this time: look again at the next poll
            self.collect(row, state, results)
        for model in self.spec.models:
            if not any(r.model == model for r in self.pending.values()):
                await self.submit(model)

    def _cancelled(self, row: store_batches.BatchRow) -> None:
        self.cancelled += 1
        self.progress.say(f"{row.model}: batch {row.batch_id} was cancelled (af-tui batches --cancel); "
                          "the same command sends its samples afresh")

    def collect(self, row: store_batches.BatchRow, state: llm_batch.BatchState,
                results: dict[str, llm_batch.ItemResult]) -> None:
        """An ended batch: its finished samples stored and its later turns carried, in one transaction. A batch
        whose items came back cancelled (Anthropic ends a cancelled batch 'ended', its unanswered items
        'canceled') is a cancelled batch: those items are neither stored nor sent again by this session (the
        next command sends their samples afresh); what it answered is stored, and its later turns wait in the
        row's carry for the next command."""
        cancelled = any(r.cancelled for r in results.values())
        refused = _prefill_refusal(self.spec, row.model, results.values())
        if refused is not None:  # every request of the model would fail alike: stop, as interactively
            store_batches.set_status(self.store, row.id, "failed", state.provider_status, error=refused[:500])
            del self.pending[row.id]
            raise AfError(f"{row.model} refused a prefilled assistant turn ({refused[:200]}); run again with "
                          "--prefill none")
        samples, carry = [], {}
        missing = f"batch item not answered (the batch ended {state.provider_status})"
        for cid, item in row.items.items():
            task = self.tasks.get(_key(item))
            if task is None:
                continue
            result = results.get(cid) or llm_batch.ItemResult(cid, error=missing)
            if result.cancelled:
                continue
            sample, later = apply_result(self.spec, self.run_id, task, item, result, self.options.max_tries,
                                         self.prices[row.model])
            if sample is not None:
                samples.append(sample)
            if later is not None:
                carry[_custom_id(later)] = later
        store_batches.collect_batch(self.store, row.id, samples, carry, provider_status=state.provider_status,
                                    done=state.done, failed=state.failed,
                                    status="cancelled" if cancelled else
                                    "collected" if state.provider_status != "failed" else "failed")
        for sample in samples:
            self.progress.add(sample.model, sample.outcome)
        del self.pending[row.id]
        if self.budget is not None:
            self.budget.collected(row.model, row.items)
        forget = getattr(self.clients[row.model], "forget", None)
        if forget is not None:
            forget(row.batch_id)
        if cancelled:
            self._cancelled(row)
        elif carry:
            self.sources[row.model].add(row.id)
            for item in carry.values():
                self._wait(row.model, item)

    @property
    def finished(self) -> bool:
        """Nothing pending, and nothing waiting that may be sent (--max-cost keeps back what it does not allow)."""
        return not self.pending and all(not w or self.stalled.get(m) for m, w in self.waiting.items())

    @property
    def budget_reached(self) -> bool:
        """--max-cost kept back requests that are still waiting (for a session with a larger budget)."""
        return self.budget is not None and any(self.waiting.values())


async def cancel_unwanted(client: llm_batch.BatchClient, store: Store, row_id: int, state: llm_batch.BatchState,
                          model: str, progress: ProgressSink) -> None:
    """A batch the provider accepted while `af-tui batches --cancel` cancelled its 'submitting' row: cancelled at
    the provider too, its row kept cancelled; its requests are not sent again by this session."""
    try:
        state = await client.cancel(state.batch_id)
        note = None
    except llm_batch.BatchError as exc:
        note = f"cancelled while it was sent; cancelling it at the provider failed: {exc.message}"[:500]
    store_batches.set_status(store, row_id, "cancelled", state.provider_status,
                             error=note or "cancelled while it was sent; cancelled at the provider too")
    progress.say(f"{model}: batch {state.batch_id} was cancelled while it was sent (af-tui batches --cancel); "
                 + ("cancelled at the provider too; " if note is None else f"{note}; ")
                 + "the same command sends its samples afresh")


async def execute_batch(spec: RunSpec, store: Store, *, progress: ProgressSink | None = None,
                        stop: asyncio.Event | None = None, options: BatchOptions = BatchOptions()) -> RunResult:
    """Run (or resume) `spec` into `store` through the providers' batch APIs. Raises AfError on a failure every
    call would repeat. A stop leaves the pending batches with the provider, recorded; the same call collects
    them."""
    check_batch_models(spec.models)
    run_id, tasks, _ = plan(spec, store)
    done = store.done_keys(run_id)
    planned_per_model, done_per_model = per_model(spec, tasks, done)
    stop = stop or asyncio.Event()
    progress = progress or SilentProgress()
    session = _BatchRun(spec, store, run_id, tasks, progress, options)
    session.load(done)
    waiting = sum(len(w) for w in session.waiting.values())
    progress.start(planned_per_model, done_per_model, counts_without_errors(store, run_id),
                   f"run {spec.name} (batch): {len(session.pending)} pending batches, {waiting} requests to send")

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            store.heartbeat(run_id)

    beat = asyncio.ensure_future(heartbeat())
    status = "failed"
    try:
        with progress, stop_on_signals(stop, lambda: progress.say(
                "stopping: the pending batches stay with the provider, recorded in the store; run the same "
                "command again to collect them (af-tui batches --cancel cancels them)")):
            for model in spec.models:
                if not any(r.model == model for r in session.pending.values()):
                    await session.submit(model)
            await llm_batch.poll_until_finished(session, stop, options.poll_s)
        status = "done" if session.finished and not session.cancelled and not session.budget_reached \
            else "stopped"
    except (asyncio.CancelledError, KeyboardInterrupt):
        status = "stopped"
        raise
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        store.finish_run(run_id, status)
    return run_result(spec, store, run_id, status, len(tasks), session.sent, session.budget_reached)


# -- af-tui batches ------------------------------------------------------------------------------------------

@dataclass
class BatchView:
    """A batch as `af-tui batches` shows it: its row, the provider's answer now (pending ones), or why not."""

    row: store_batches.BatchRow
    state: llm_batch.BatchState | None = None
    note: str | None = None  # the provider could not be asked, or what --cancel did


async def look_at_batches(store: Store, *, run: str | None = None, cancel: bool = False) -> list[BatchView]:
    """Every batch of the store (or of `run`): the pending ones asked for their status now, their counts
    recorded; with `cancel`, the pending ones cancelled at the provider and marked cancelled (an unsent
    'submitting' row only in the store). Collected batches are shown as recorded."""
    views = []
    for row in store_batches.list_batches(store, run=run):
        view = BatchView(row)
        views.append(view)
        if row.status not in store_batches.OPEN:
            continue
        if row.status == "submitting":
            if cancel:
                store_batches.set_status(store, row.id, "cancelled", error="cancelled before it was sent")
                view.note = "cancelled (not sent yet; a run sending it cancels it at the provider)"
            continue
        try:
            client = llm_batch.batch_client(row.model, row.api_base)
            state = await (client.cancel(row.batch_id) if cancel else client.status(row.batch_id))
        except (AfError, llm_batch.BatchError) as exc:
            view.note = f"provider not asked: {getattr(exc, 'message', exc)}"
            continue
        view.state = state
        if cancel:
            store_batches.set_status(store, row.id, "cancelled", state.provider_status)
            view.note = "cancelled"
        else:
            store_batches.record_poll(store, row.id, state.provider_status, state.done, state.failed)
    return views
