"""The record a sample is written from: what the runner and the Inspect importer hand the store, one samples
row (store/schema.py), every field named and typed."""

from __future__ import annotations

from dataclasses import dataclass, fields

from af_tui.domain import Outcome, Tier


@dataclass(frozen=True, slots=True)
class Sample:
    """One finished request of a run in one tier (and epoch): how it ended and what it cost."""

    run_id: int
    model: str
    variant: str
    prompt_id: int
    tier: Tier
    outcome: Outcome
    prompt_index: int | None = None  # the request's position in the run's dataset
    epoch: int = 0
    output: str | None = None  # the final <OUTPUT> text; None when there was none
    scratchpad: str | None = None  # every scratchpad block, joined
    transcript: list[dict] | str | None = None  # the chat messages (system prompt left out), or their JSON
    turns: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None  # None: the provider's price is not known
    latency_s: float | None = None
    attempts: int | None = None
    error: str | None = None  # why the call failed after retries (error) or was blocked (blocked)
    source_answer: str | None = None  # imported logs: the log's own score answer
    started_at: float | None = None
    completed_at: float | None = None  # None: the moment it is saved
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning: str | None = None  # the provider's reasoning channel, joined over turns

    def __post_init__(self) -> None:
        # Stored as the enums' values; a string from a log or a test is checked here, once.
        object.__setattr__(self, "tier", Tier(self.tier))
        object.__setattr__(self, "outcome", Outcome(self.outcome))


SAMPLE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Sample))
