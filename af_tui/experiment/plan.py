"""What a run is asked to do (RunSpec) and its plan: every (epoch, request, variant, model, tier) as a task,
registered in the store with the run's config, and the helpers that split and count the tasks."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field

from af_tui.domain import DEFAULT_RULE, TIERS
from af_tui.errors import AfError
from af_tui.experiment.rules import resolve_prefill
from af_tui.experiment.setting import HELPFUL_ONLY, Setting
from af_tui.experiment.settings import (
    changed_settings,
    kept_setting_note,
    refusal,
    resumed_config,
    stored_models,
)
from af_tui.experiment.sources import Dataset, Text
from af_tui.experiment.tags import NOTEBOOK_TAGS
from af_tui.llm.client import RetryPolicy
from af_tui.llm.pricing import Price, default_max_tokens
from af_tui.store.db import SampleKey, Store


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
    concurrency: int = 20  # samples in flight per model, unless `concurrency_by` names the model
    concurrency_by: dict[str, int] = field(default_factory=dict)
    api_base: str | None = None
    temperature: float = 1.0
    max_tokens: int | None = None  # None: the notebook's per provider (pricing.default_max_tokens)
    prefill: str | bool = ""  # --prefill: "auto", "none"/"" or the text (rules.resolve_prefill per model)
    rule: str = DEFAULT_RULE  # the outcome rule (domain.Rule)
    cache_prompt: bool = True  # mark the system prompt cacheable where the provider needs it asked
    max_cost: float | None = None  # USD: stop before the run's stored cost would pass it
    reasoning_effort: str | None = None  # low | medium | high, through litellm
    thinking_budget: int | None = None  # tokens of thinking (Anthropic-style), through litellm
    source: str = "af-tui"
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    setting: Setting = HELPFUL_ONLY  # how samples are asked and read (tags, markers, <NEXT/>), by hash in config
    prices: dict[str, Price] = field(default_factory=dict)  # the user's (--price, [prices]): win over litellm's

    def max_tokens_for(self, model: str) -> int:
        return self.max_tokens if self.max_tokens is not None else default_max_tokens(model)

    def concurrency_for(self, model: str) -> int:
        return self.concurrency_by.get(model, self.concurrency)


@dataclass(frozen=True)
class Task:
    """One sample to send: its key in the store, the request and the system prompt."""

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


def existing_counts(store: Store, run_id: int) -> dict[str, dict[str, int]]:
    """The run's stored outcomes per model, from the store's trigger-kept counts: a few rows, whatever the
    run's size (polled twice a second by --workers)."""
    counts: dict[str, dict[str, int]] = {}
    for model, outcome, n in store.conn.execute(
        "SELECT model, outcome, SUM(n) FROM outcome_counts WHERE run_id = ? GROUP BY model, outcome", (run_id,)
    ):
        if n:
            counts.setdefault(model, {})[outcome] = n
    return counts


def _requests(spec: RunSpec) -> list[str]:
    return spec.dataset.requests[: spec.limit] if spec.limit is not None else spec.dataset.requests


def run_config(spec: RunSpec, variant_names: list[str] | None = None) -> dict:
    """The run's config as `runs.config` stores it; `variant_names` are the variants' names in the store (by
    default the names asked for)."""
    names = variant_names or [v.name for v in spec.variants]
    return {
        "models": spec.models,
        "variants": [{"name": name, "sha256": v.sha256, "origin": v.origin}
                     for name, v in zip(names, spec.variants, strict=True)],
        "dataset": {"name": spec.dataset.name, "sha256": spec.dataset.sha256, "origin": spec.dataset.origin,
                    "requests": len(_requests(spec))},
        "template": {"name": spec.template.name, "sha256": spec.template.sha256, "origin": spec.template.origin},
        "temperature": spec.temperature, "max_tokens": {m: spec.max_tokens_for(m) for m in spec.models},
        "prefill": spec.prefill, "cache_prompt": spec.cache_prompt, "max_cost": spec.max_cost,
        "prefill_text": {m: resolve_prefill(spec.prefill, m, thinking=bool(spec.thinking_budget))
                         for m in spec.models},
        "rule": str(spec.rule),
        "epochs": spec.epochs, "limit": spec.limit, "concurrency": spec.concurrency,
        "concurrency_by": spec.concurrency_by,
        "api_base": _safe_url(spec.api_base),
        "reasoning_effort": spec.reasoning_effort, "thinking_budget": spec.thinking_budget,
        "setting": spec.setting.record(),
        # replies in other tags than the notebook's alone: the pairs rescore, export and the pair view read
        **({"tags": [list(p) for p in spec.setting.reading.tags]}
           if spec.setting.reading.tags != (NOTEBOOK_TAGS,) else {}),
        **_user_prices(spec),
    }


def _user_prices(spec: RunSpec) -> dict:
    """The user's prices of the run's models (USD per million tokens), so the record says how its stored cost
    was priced; nothing when litellm's cost map priced them all."""
    given = {m: spec.prices[m] for m in spec.models if m in spec.prices}
    if not given:
        return {}
    return {"prices": {m: {"input": p.input * 1e6, "output": p.output * 1e6, "source": p.source,
                           **({"batch_input": p.batch.input * 1e6, "batch_output": p.batch.output * 1e6}
                              if p.batch else {})} for m, p in given.items()}}


def stored_run(store: Store, name: str) -> tuple[dict, int | None] | None:
    """The config and planned size of the run called `name`, if the store has it."""
    row = store.conn.execute("SELECT config, planned FROM runs WHERE name = ?", (name,)).fetchone()
    if row is None:
        return None
    try:
        config = json.loads(row[0] or "{}")
    except ValueError:
        config = {}
    return (config if isinstance(config, dict) else {}), row[1]


def check_resumable(spec: RunSpec, store: Store) -> str | None:
    """Refuse (AfError, one line) a command whose sampling settings differ from the stored run of its name:
    the run's config must keep describing the samples already drawn. Writes nothing. Returns the line that
    says a resume keeps the run's setting, named otherwise than the one given (same hash), if there is one."""
    stored = stored_run(store, spec.name)
    if stored is None:
        return None
    config = run_config(spec)
    changes = changed_settings(stored[0], config)
    if changes:
        raise AfError(refusal(spec.name, changes))
    return kept_setting_note(spec.name, stored[0], config)


def plan(spec: RunSpec, store: Store) -> tuple[int, list[Task], dict]:
    """Register prompts and variants; the run row (started or reopened), every task, and the run's config.
    A resume under other sampling settings is refused before anything is written (check_resumable)."""
    check_resumable(spec, store)
    before = stored_run(store, spec.name)
    requests = _requests(spec)
    prompt_ids = store.ensure_prompts(requests, source=spec.dataset.name)
    variants = []
    for v in spec.variants:
        stored_name = store.ensure_variant(v.name, v.text, source=v.origin)
        variants.append((stored_name, v))
    config = run_config(spec, [name for name, _ in variants])
    tasks: list[Task] = []
    seen: set[SampleKey] = set()
    for epoch in range(spec.epochs):
        for index, (prompt_id, request) in enumerate(zip(prompt_ids, requests, strict=True)):
            for stored, v in variants:
                for model in spec.models:
                    for tier in TIERS:
                        key = SampleKey(model, stored, prompt_id, tier, epoch)
                        if key not in seen:  # a request listed twice is one prompt: sample it once
                            seen.add(key)
                            tasks.append(Task(key, index, request, v.text))
    planned = len(tasks)
    if before is not None:  # a resume: the record keeps the run's models that this session leaves out
        old_config, old_planned = before
        config = resumed_config(old_config, config)
        old_models = set(stored_models(old_config))
        if old_planned:  # the run's size: what it planned before, and the samples of the models added now
            planned = max(planned, old_planned + sum(t.key.model not in old_models for t in tasks))
    run_id = store.start_run(spec.name, config, source=spec.source, planned=planned)
    return run_id, tasks, config


def shard_tasks(tasks: list[Task], shard: tuple[int, int] | None) -> list[Task]:
    """The tasks of worker k of n: every n-th, so that each worker gets every model and both tiers."""
    if shard is None:
        return tasks
    k, n = shard
    return [t for i, t in enumerate(tasks) if i % n == k]


def per_model(spec: RunSpec, tasks: list[Task], done: set[SampleKey]) -> tuple[dict, dict]:
    """Tasks planned and already done, per model (the progress bars' totals)."""
    planned = {m: 0 for m in spec.models}
    finished = {m: 0 for m in spec.models}
    for t in tasks:
        planned[t.key.model] += 1
        finished[t.key.model] += t.key in done
    return planned, finished
