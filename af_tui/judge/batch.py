"""`af-tui judge --batch`: every selected sample's K votes as K requests of the provider's batch API (the
compliance judge's one), at batch prices, resumably. Draws nothing: progress goes to a sink.

A sample's votes travel in one batch. Each batch is on disk (the batches table, job 'judge') before af-tui
waits on it; when it ends, each of its samples gets its judgement (combined as `judge_one` combines the
interactive votes) and the row is marked collected. The same command after Ctrl-C or kill -9 collects the
pending batches instead of sending them again. A failed or expired vote is sent again in the next round with
the sample's answered votes carried (up to `max_tries` sends); past that the judgement is stored as failed,
which a later command asks again (as an interactive judge's failures are).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

from af_tui.errors import AfError
from af_tui.experiment.batch_run import cancel_unwanted
from af_tui.experiment.plan import _safe_url
from af_tui.judge.prompt import build_messages
from af_tui.judge.repository import judged_count, sample_texts, save_judgement, select_samples
from af_tui.judge.run import (
    COMPLIANCE_KEYS,
    PROGRESS_KEYS,
    JudgeResult,
    JudgeSpec,
    combine_votes,
    progress_key,
)
from af_tui.llm import batch as llm_batch
from af_tui.llm import pricing
from af_tui.llm.tasks import ProgressSink, SilentProgress, stop_on_signals
from af_tui.store import batches as store_batches
from af_tui.store.db import Store
from af_tui.store.rubrics import ensure_rubric

JOB = "judge"


@dataclass(frozen=True)
class JudgeBatchOptions:
    """How `judge --batch` sends and waits (`--batch-size`; the poll interval is for tests and the bench)."""

    batch_size: int | None = None  # requests per batch at most (None: the provider's limit); a sample's K stay together
    poll_s: float = 30.0  # seconds between looks at the pending batches
    max_tries: int = 3  # sends of one vote before the sample's judgement is stored as failed


def _custom_id(sample_id: int, vote: int) -> str:
    return llm_batch.custom_id(f"s{sample_id}", f"k{vote}")


def _temperature(spec: JudgeSpec) -> float:
    return spec.temperature if spec.temperature is not None else (0.0 if spec.samples == 1 else 1.0)


def vote_requests(spec: JudgeSpec, sample_id: int, texts, votes: list[int]) -> list[llm_batch.BatchRequest]:
    """The sample's votes as batch requests: the judge prompt `judge_one` sends, once per vote (seed = vote)."""
    messages = build_messages(spec.prompt, texts)

    def body(seed: int) -> dict:
        return llm_batch.request_body(spec.model, messages, temperature=_temperature(spec),
                                      max_tokens=spec.max_tokens, seed=seed)

    if spec.model.startswith("sim/"):  # the seed reaches simulated models only
        return [llm_batch.BatchRequest(_custom_id(sample_id, i), body(i)) for i in votes]
    same = body(0)  # a provider's K votes are the same request (litellm's transformation is ~0.4 ms a call)
    return [llm_batch.BatchRequest(_custom_id(sample_id, i), same) for i in votes]


def _groups_split(groups: list[list[llm_batch.BatchRequest]], limits: llm_batch.Limits,
                  batch_size: int | None) -> list[list[llm_batch.BatchRequest]]:
    """Whole samples' requests in batches within the provider's limits and `batch_size`, in order: a sample's
    K votes are never split (one batch holds all a sample needs), unless they alone pass a limit."""
    most = min(limits.requests, batch_size or limits.requests)
    room = int(limits.bytes * llm_batch._BYTES_MARGIN)  # the framing margin run --batch splits with
    chunks: list[list[llm_batch.BatchRequest]] = []
    count = size = 0
    for group in groups:
        n, b = len(group), sum(r.size() for r in group)
        if n > most or b > room:  # larger than a batch on its own: split as run --batch splits
            chunks.extend(llm_batch.split(group, limits, batch_size))
            count = size = most  # nothing more goes into that last chunk
            continue
        if chunks and count + n <= most and size + b <= room:
            chunks[-1].extend(group)
            count, size = count + n, size + b
        else:
            chunks.append(list(group))
            count, size = n, b
    return chunks


def ours(spec: JudgeSpec, row: store_batches.BatchRow) -> bool:
    """A judge batch of this judge model and prompt (other judges' batches wait for their own command)."""
    return row.model == spec.model and all(
        i.get("prompt") == spec.prompt.sha256 for i in (*row.items.values(), *(row.carry or {}).values()))


def open_judge_batches(spec: JudgeSpec, store: Store) -> int:
    """This judge's batches still with the provider (pending or unsent) or carrying votes for a later round."""
    return sum(ours(spec, row) for row in store_batches.open_batches(store, None, job=JOB))


class _JudgeBatches:
    """One session of `judge --batch`: the pending batches and the samples waiting for the next round."""

    def __init__(self, spec: JudgeSpec, store: Store, progress: ProgressSink, options: JudgeBatchOptions):
        self.spec, self.store, self.progress, self.options = spec, store, progress, options
        self.client = llm_batch.batch_client(spec.model, spec.api_base)
        self.price = pricing.price(spec.model, {spec.model: spec.price} if spec.price else None,
                                   batch=True)  # the batch price
        self.pending: dict[int, store_batches.BatchRow] = {}
        self.waiting: dict[int, dict] = {}  # sample id -> {"votes": [to send], "have": {vote: reply}, "tries"}
        self.sources: set[int] = set()  # collected rows whose carry `waiting` holds
        self.dropped: list[int] = []  # unsent rows whose items `waiting` sends again
        self.session: Counter = Counter()
        self.spent: list[float] = []
        self.sent = 0
        self.cancelled = 0  # pending batches found cancelled by `af-tui batches --cancel` meanwhile
        self.last_error: str | None = None

    def load(self, todo: list[int]) -> None:
        covered: set[int] = set()
        for row in store_batches.open_batches(self.store, None, job=JOB):
            if not ours(self.spec, row):
                continue
            if row.status == "pending":
                self.pending[row.id] = row
                covered |= {i["sample"] for i in row.items.values()}
            elif row.status == "submitting":  # killed before the provider's id was on disk: send again
                self.dropped.append(row.id)
                for item in row.items.values():
                    covered.add(item["sample"])
                    wait = self.waiting.setdefault(item["sample"], {"votes": [], "have": item.get("have", {}),
                                                                    "tries": item.get("tries", 0)})
                    wait["votes"].append(item["vote"])
            if row.carry:
                self.sources.add(row.id)
                for entry in row.carry.values():
                    covered.add(entry["sample"])
                    self.waiting[entry["sample"]] = {k: entry[k] for k in ("votes", "have", "tries")}
        for sample_id in todo:
            if sample_id not in covered:
                self.waiting[sample_id] = {"votes": list(range(self.spec.samples)), "have": {}, "tries": 0}

    async def submit(self) -> None:
        """The waiting votes as the next round: rows committed first, then sent, then their ids kept."""
        if not self.waiting:
            return
        groups, items = [], {}
        for sample_id, wait in self.waiting.items():
            texts = sample_texts(self.store.conn, sample_id)
            requests = vote_requests(self.spec, sample_id, texts, sorted(wait["votes"]))
            groups.append(requests)
            for r, vote in zip(requests, sorted(wait["votes"]), strict=True):
                items[r.custom_id] = {"sample": sample_id, "vote": vote, "prompt": self.spec.prompt.sha256,
                                      "tries": wait["tries"], "have": wait["have"]}
        chunks = _groups_split(groups, self.client.limits, self.options.batch_size)
        new = [store_batches.NewBatch(self.client.provider, self.spec.model,
                                      {r.custom_id: items[r.custom_id] for r in chunk},
                                      round=1 + max(items[r.custom_id]["tries"] for r in chunk), job=JOB,
                                      api_base=_safe_url(self.spec.api_base), bytes=llm_batch.batch_bytes(chunk))
               for chunk in chunks]
        rows = store_batches.record_batches(self.store, new, consumed=sorted(self.sources), dropped=self.dropped)
        self.waiting, self.sources, self.dropped = {}, set(), []
        for row_id, chunk, b in zip(rows, chunks, new, strict=True):
            if store_batches.status_of(self.store, row_id) == "cancelled":  # `af-tui batches --cancel` meanwhile
                self.cancelled += 1
                continue
            try:
                state = await self.client.submit(self.spec.model, chunk)
            except llm_batch.BatchError as exc:
                raise AfError(f"{exc.message} — the batch was not sent; run the same command again to send it"
                              ) from None
            if not store_batches.mark_submitted(self.store, row_id, state.batch_id, state.provider_status):
                await cancel_unwanted(self.client, self.store, row_id, state, self.spec.model, self.progress)
                self.cancelled += 1
                continue
            self.pending[row_id] = b.pending(row_id, state.batch_id, state.provider_status)
            self.sent += len(chunk)
            self.progress.say(f"{self.spec.model}: batch {state.batch_id} sent ({len(chunk)} requests)")

    async def poll(self) -> None:
        """Look at every pending batch once and collect each that ended; then send the next round, if any."""
        for row in list(self.pending.values()):
            if store_batches.status_of(self.store, row.id) == "cancelled":
                self._cancelled(row)
                continue
            try:
                state = await self.client.status(row.batch_id)
                if state.provider_status in llm_batch.CANCELLED:  # cancelled at the provider, its row not marked yet
                    store_batches.set_status(self.store, row.id, "cancelled", state.provider_status)
                    self._cancelled(row)
                    continue
                if not state.ended:
                    store_batches.record_poll(self.store, row.id, state.provider_status, state.done, state.failed)
                    continue
                results = {r.custom_id: r for r in await self.client.results(row.batch_id)}
            except llm_batch.BatchError as exc:
                if exc.fatal:
                    raise AfError(f"{exc.message} — stopped judging; fix this and run the same command again"
                                  ) from None
                continue  # the provider did not answer this time: look again at the next poll
            self.collect(row, state, results)
        if not self.pending:
            await self.submit()

    def _cancelled(self, row: store_batches.BatchRow) -> None:
        """`af-tui batches --cancel` (from another process): the batch's votes are not sent again this session."""
        del self.pending[row.id]
        self.cancelled += 1
        self.progress.say(f"{self.spec.model}: batch {row.batch_id} was cancelled (af-tui batches --cancel); the "
                          "same command sends its samples afresh")

    def collect(self, row: store_batches.BatchRow, state: llm_batch.BatchState,
                results: dict[str, llm_batch.ItemResult]) -> None:
        """Each sample of an ended batch: its judgement saved (committed, then counted), or its failed votes
        carried into the next round; then the row marked collected with what it carries. A batch whose votes came
        back cancelled (Anthropic ends a cancelled batch 'ended', its unanswered items 'canceled') is a cancelled
        batch: their samples are neither judged nor sent again by this session (the next command sends them
        afresh); the others are judged, and their failed votes wait in the row's carry for the next command."""
        cancelled = any(r.cancelled for r in results.values())
        missing = f"batch item not answered (the batch ended {state.provider_status})"
        by_sample: dict[int, list[tuple[dict, llm_batch.ItemResult]]] = {}
        for cid, item in row.items.items():
            by_sample.setdefault(item["sample"], []).append((item, results.get(cid) or llm_batch.ItemResult(
                cid, error=missing)))
        carry = {}
        for sample_id, votes in by_sample.items():
            if any(result.cancelled for _, result in votes):
                continue
            have = {int(k): v for k, v in votes[0][0].get("have", {}).items()}
            tries = votes[0][0].get("tries", 0) + 1
            failed, retry = [], True
            for item, result in votes:
                if result.reply is None:
                    failed.append((item["vote"], result.error or "batch item failed"))
                    retry = retry and result.retry
                    continue
                have[item["vote"]] = {"text": result.reply.text, "cost": pricing.reply_cost(self.price, result.reply)}
            if failed and retry and tries < self.options.max_tries:
                carry[f"s{sample_id}"] = {"sample": sample_id, "prompt": self.spec.prompt.sha256,
                                          "votes": [v for v, _ in failed], "have": have, "tries": tries}
                continue
            texts = [have[v]["text"] for v in sorted(have)]
            costs = [have[v]["cost"] for v in have if have[v].get("cost") is not None]
            error = failed[0][1] if failed else None
            judgement = combine_votes(self.spec, texts, error)
            save_judgement(self.store.conn, sample_id, self.spec.model, self.spec.prompt.sha256, judgement,
                           self.spec.prompt.rubric.sha256 if self.spec.prompt.rubric else None)
            self._count(judgement, sum(costs) if costs else None)
        store_batches.collect_batch(self.store, row.id, [], carry, provider_status=state.provider_status,
                                    done=state.done, failed=state.failed,
                                    status="cancelled" if cancelled else
                                    "collected" if state.provider_status != "failed" else "failed")
        forget = getattr(self.client, "forget", None)
        if forget is not None:
            forget(row.batch_id)
        if cancelled:
            self._cancelled(row)
            return
        del self.pending[row.id]
        if carry:
            self.sources.add(row.id)
            for entry in carry.values():
                self.waiting[entry["sample"]] = {k: entry[k] for k in ("votes", "have", "tries")}

    def _count(self, judgement, cost: float | None) -> None:
        key = progress_key(judgement)
        self.session[key] += 1
        if judgement.status == "partial" and judgement.parsed:
            self.session["partial"] += 1
        if cost is not None:
            self.spent.append(cost)
        if judgement.error:
            self.last_error = judgement.error
        self.progress.add(self.spec.model, key)

    @property
    def finished(self) -> bool:
        return not self.pending and not self.waiting


async def judge_store_batch(spec: JudgeSpec, store: Store, *, progress: ProgressSink | None = None,
                            stop: asyncio.Event | None = None,
                            options: JudgeBatchOptions = JudgeBatchOptions()) -> JudgeResult:
    """Judge every selected sample not yet judged by this model and prompt through the provider's batch API.
    Running it again collects the pending batches (never sending their votes again) and sends what is left."""
    from af_tui.llm import client as llm

    conn = store.conn
    llm.check_model(spec.model, spec.api_base)
    llm_batch.check_batchable(spec.model)
    if spec.task == "compliance" and spec.samples != 1:
        raise AfError("--samples applies to alignment-faking judges only; the compliance classifier asks once")
    todo = select_samples(conn, judge_model=spec.model, prompt_sha256=spec.prompt.sha256, run=spec.run,
                          only=spec.only, task=spec.task)
    if todo and spec.prompt.rubric is not None:
        with conn:
            ensure_rubric(conn, spec.prompt.rubric)
    already = judged_count(conn, spec.model, spec.prompt.sha256)
    stop = stop or asyncio.Event()
    progress = progress or SilentProgress()
    session = _JudgeBatches(spec, store, progress, options)
    session.load(todo)
    progress.start({spec.model: already + len(todo)}, {spec.model: already}, {spec.model: {}},
                   title=f"judge {spec.model} (batch): {len(session.pending)} pending batches, "
                         f"{len(session.waiting)} samples to send")
    with progress, stop_on_signals(stop, lambda: progress.say(
            "stopping: the pending batches stay with the provider, recorded in the store; run the same command "
            "again to collect them")):
        if not session.pending:
            await session.submit()
        await llm_batch.poll_until_finished(session, stop, options.poll_s)
    finished = session.finished and not session.cancelled
    remaining = len(select_samples(conn, judge_model=spec.model, prompt_sha256=spec.prompt.sha256, run=spec.run,
                                   only=spec.only, task=spec.task))
    return JudgeResult(spec.model, spec.prompt.sha256, "done" if finished else "stopped", len(todo),
                       sum(session.session[k] for k in {*PROGRESS_KEYS, *COMPLIANCE_KEYS}), dict(session.session),
                       remaining, sum(session.spent) if session.spent else None, session.last_error,
                       None if finished else "batches cancelled" if session.cancelled else "stopped by the user",
                       spec.task)
