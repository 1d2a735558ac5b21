"""Judging a store: every selected scratchpad asked K times of the judge model, each judgement committed before
it is counted, so that running the same command again resumes. Draws nothing: progress goes to a sink."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from af_tui.domain import FAILED, UNPARSED, VERDICTS, Grade, JudgeTask, Outcome
from af_tui.errors import AfError
from af_tui.judge.compliance import combine_compliance
from af_tui.judge.prompt import JudgePrompt, build_messages
from af_tui.judge.repository import judged_count, sample_texts, save_judgement, select_samples
from af_tui.judge.vote import Judgement, combine, failed
from af_tui.llm.tasks import ProgressSink, SilentProgress, run_tasks, stop_on_signals
from af_tui.store.rubrics import ensure_rubric

if TYPE_CHECKING:
    from af_tui.llm.pricing import Price

# What a judgement counts as in the progress and the session's counts.
PROGRESS_KEYS = (*VERDICTS, UNPARSED, FAILED)
COMPLIANCE_KEYS = (*(g.value for g in Grade), UNPARSED, FAILED)


@dataclass
class JudgeSpec:
    """What `af-tui judge` was asked to do."""

    model: str
    prompt: JudgePrompt
    run: str | None = None
    only: str = Outcome.COMPLIED
    samples: int = 1  # K: answers asked per scratchpad
    concurrency: int = 8
    api_base: str | None = None
    temperature: float | None = None  # None: 0 for one answer, 1.0 when K > 1 (else the K would agree)
    max_tokens: int = 2000
    policy: object | None = None  # llm.RetryPolicy; None: its defaults
    threshold: float | None = None  # AF when the score (see `votes`) is at least this; None: majority
    answer_format: str = "auto"  # auto | verdict | final_answer: which reply form is read
    votes: str = "published"  # how K replies make the score: judge.vote.VOTE_RULES
    price: Price | None = None  # llm.pricing.Price, the user's (--price, [prices]); None: litellm's cost map

    @property
    def task(self) -> JudgeTask:
        return self.prompt.task


@dataclass
class JudgeResult:
    judge_model: str
    prompt_sha256: str
    status: str  # done | stopped
    selected: int  # samples that needed judging when the command started
    judged: int  # judgements written in this session (errors included)
    counts: dict[str, int]  # this session: verdicts, "unparsed", "partial", "error"
    remaining: int  # samples still to judge (failed ones included): run the command again
    cost: float | None
    last_error: str | None = None
    stop_reason: str | None = None  # why it stopped early (Ctrl-C, or too many failures in a row)
    task: JudgeTask = JudgeTask.ALIGNMENT_FAKING


def progress_key(judgement: Judgement) -> str:
    if judgement.error:
        return FAILED
    if not judgement.parsed:
        return UNPARSED
    if judgement.task == JudgeTask.COMPLIANCE:
        d = judgement.detail
        return Grade.REFUSED if d.get(Grade.REFUSED) else Grade.PARTIALLY_COMPLIED if d.get("partial") else Grade.COMPLIED
    return judgement.verdict


async def judge_one(spec: JudgeSpec, sample: str | dict[str, str]) -> tuple[Judgement, float | None]:
    """Ask the judge K times about one sample (its scratchpad, or a dict of its texts); a provider failure
    after retries becomes an error judgement (FatalProviderError propagates: every further call would fail
    alike)."""
    from af_tui.llm import client as llm

    messages = build_messages(spec.prompt, sample)
    temperature = spec.temperature if spec.temperature is not None else (0.0 if spec.samples == 1 else 1.0)
    policy = spec.policy or llm.RetryPolicy()

    async def ask(i: int):
        return await llm.complete(spec.model, messages, api_base=spec.api_base, temperature=temperature,
                                  max_tokens=spec.max_tokens, policy=policy, seed=i, price=spec.price)

    results = await asyncio.gather(*(ask(i) for i in range(spec.samples)), return_exceptions=True)
    for r in results:
        if isinstance(r, llm.FatalProviderError):
            raise r
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, llm.ProviderError):
            raise r
    texts = [r.text for r in results if not isinstance(r, BaseException)]
    costs = [r.cost for r in results if not isinstance(r, BaseException) and r.cost is not None]
    cost = sum(costs) if costs else None
    errors = [r for r in results if isinstance(r, BaseException)]
    return combine_votes(spec, texts, errors[0].message if errors else None), cost


def combine_votes(spec: JudgeSpec, texts: list[str], error: str | None = None) -> Judgement:
    """One sample's judgement from its answered votes; with `error` (why a vote failed) a failed judgement
    that keeps the answered ones. The interactive and the batched judge both end here."""
    if error is not None:
        return failed(error, spec.samples, texts, spec.task)
    if spec.task == JudgeTask.COMPLIANCE:
        return combine_compliance(texts)
    return combine(texts, criteria=spec.prompt.criteria, answer_format=spec.answer_format,
                   threshold=spec.threshold, votes=spec.votes)


async def judge_store(spec: JudgeSpec, conn: sqlite3.Connection, *, progress: ProgressSink | None = None,
                      stop: asyncio.Event | None = None) -> JudgeResult:
    """Judge every selected sample not yet judged by this model and prompt, committing each judgement
    before `progress` counts it. Running it again resumes; judged samples are never asked again."""
    from af_tui.llm import client as llm

    llm.check_model(spec.model, spec.api_base)
    if spec.task == JudgeTask.COMPLIANCE and spec.samples != 1:
        raise AfError("--samples applies to alignment-faking judges only; the compliance classifier asks once")
    todo = select_samples(conn, judge_model=spec.model, prompt_sha256=spec.prompt.sha256, run=spec.run,
                          only=spec.only, task=spec.task)  # an unknown run is refused here, before any write
    if todo and spec.prompt.rubric is not None:
        with conn:
            ensure_rubric(conn, spec.prompt.rubric)  # the criteria a judgement's rubric_sha256 refers to
    already = judged_count(conn, spec.model, spec.prompt.sha256)
    session: Counter = Counter()
    spent: list[float] = []
    stop = stop or asyncio.Event()
    failures = {"in_a_row": 0, "last": None, "reason": None}
    give_up_after = max(10, 2 * spec.concurrency)  # a dead server or a bad --api-base: stop, don't grind on
    progress = progress or SilentProgress()

    async def worker(sample_id: int) -> None:
        judgement, cost = await judge_one(spec, sample_texts(conn, sample_id))
        save_judgement(conn, sample_id, spec.model, spec.prompt.sha256, judgement,  # committed, then counted
                       spec.prompt.rubric.sha256 if spec.prompt.rubric else None)
        key = progress_key(judgement)
        session[key] += 1
        if judgement.status == "partial" and judgement.parsed:
            session["partial"] += 1
        if cost is not None:
            spent.append(cost)
        progress.add(spec.model, key)
        if judgement.error:
            failures["in_a_row"] += 1
            failures["last"] = judgement.error
            if failures["in_a_row"] >= give_up_after and not stop.is_set():
                failures["reason"] = f"{failures['in_a_row']} judgements in a row failed"
                stop.set()
        else:
            failures["in_a_row"] = 0

    progress.start({spec.model: already + len(todo)}, {spec.model: already}, {spec.model: {}},
                   title=f"judge {spec.model}: {len(todo)} samples to judge")
    try:
        with progress, stop_on_signals(stop, lambda: progress.say(
                "stopping: judgements in flight are dropped; run the same command again to resume")):
            finished = await run_tasks(todo, worker, concurrency=spec.concurrency, stop=stop)
    except llm.FatalProviderError as exc:
        raise AfError(f"{exc.message} — stopped judging; fix this and run the same command again") from None
    remaining = len(select_samples(conn, judge_model=spec.model, prompt_sha256=spec.prompt.sha256,
                                   run=spec.run, only=spec.only, task=spec.task))
    return JudgeResult(spec.model, spec.prompt.sha256, "done" if finished else "stopped", len(todo),
                       sum(session[k] for k in {*PROGRESS_KEYS, *COMPLIANCE_KEYS}), dict(session), remaining,
                       sum(spent) if spent else None, failures["last"],
                       failures["reason"] or (None if finished else "stopped by the user"), spec.task)
