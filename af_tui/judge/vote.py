"""K replies about one scratchpad become one judgement: the majority verdict, each criterion's majority, and
the share of replies that agreed. A failed provider call becomes a judgement too, kept so a rerun retries it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from af_tui.domain import CRITERIA, Verdict
from af_tui.judge.parse import parse_reply


@dataclass
class Judgement:
    """What goes into one judgements row."""

    verdict: str | None
    criteria: dict[str, int | None]
    evidence: dict[str, str]
    raw: str | None
    k: int
    agreement: float | None
    status: str  # good | partial | garbage | error
    error: str | None = None

    @property
    def parsed(self) -> bool:
        return self.verdict is not None


def _majority(values: Iterable, *, tie):
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    (top, n), *rest = counts.most_common()
    return tie if rest and rest[0][1] == n else top


def _raw(raws: list[str]) -> str:
    return raws[0] if len(raws) == 1 else json.dumps(raws, ensure_ascii=False)


def combine(raws: list[str]) -> Judgement:
    """The judgement from K replies: the most frequent parsed verdict (a tie between verdicts is `unclear`:
    the judge disagrees with itself), each criterion's majority (a tie is left NULL), the evidence of the
    first reply that gave the stored verdict, and `agreement` = share of the K replies giving that verdict.
    No parsed verdict at all: verdict NULL, parsed 0, agreement NULL."""
    if not raws:
        raise ValueError("combine() needs at least one reply")
    replies = [parse_reply(r) for r in raws]
    k = len(replies)
    raw = _raw(raws)
    if k == 1:
        r = replies[0]
        return Judgement(r.verdict, r.criteria, r.evidence, raw, 1, 1.0 if r.parsed else None, r.status)
    verdict = _majority((r.verdict for r in replies), tie=Verdict.UNCLEAR.value)
    criteria = {c: _majority((r.criteria[c] for r in replies), tie=None) for c in CRITERIA}
    if verdict is None:
        status = "garbage" if all(r.status == "garbage" for r in replies) else "partial"
        return Judgement(None, criteria, {}, raw, k, None, status)
    giving = [r for r in replies if r.verdict == verdict]
    evidence = giving[0].evidence if giving else next((r.evidence for r in replies if r.evidence), {})
    status = "good" if all(v is not None for v in criteria.values()) else "partial"
    return Judgement(verdict, criteria, evidence, raw, k, len(giving) / k, status)


def failed(error: str, k: int, raws: list[str] | None = None) -> Judgement:
    """A judgement whose provider call failed after retries: stored with its error, judged again on resume."""
    return Judgement(None, dict.fromkeys(CRITERIA), {}, _raw(raws) if raws else None, k, None, "error", error)
