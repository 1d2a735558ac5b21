"""Re-reading stored transcripts with another outcome rule (`af-tui rescore`): no model is called; each
changed sample is rewritten and the rule recorded in its run's config, one transaction a run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from af_tui.domain import LEGACY_RULE
from af_tui.errors import AfError
from af_tui.experiment.rules import Transcript, check_rule, score_transcript
from af_tui.experiment.setting import reading_of
from af_tui.store import outcomes
from af_tui.store.runs import require_run


@dataclass
class RescoreReport:
    rule: str
    runs: list[tuple[str, str]] = field(default_factory=list)  # (run, the rule it had before)
    samples: int = 0  # samples read again (errors and blocked requests are left as they are)
    changes: Counter = field(default_factory=Counter)  # (from, to) -> samples whose outcome changed
    outputs_changed: int = 0  # samples whose output text changed (the outcome may not)

    @property
    def changed(self) -> int:
        return sum(self.changes.values())


def rescore(conn, rule: str, run: str | None = None) -> RescoreReport:
    """Apply `rule` to every stored transcript of `run` (or of every run) and save what changed."""
    try:
        rule = check_rule(rule)
    except ValueError as exc:
        raise AfError(str(exc)) from None
    if run:
        require_run(conn, run)
    runs = outcomes.runs_named(conn, run)
    if not runs:
        raise AfError("no runs in the store yet")
    report = RescoreReport(str(rule))
    for run_id, name, config in runs:
        report.runs.append((name, config.get("rule", str(LEGACY_RULE))))
        changes = []
        # the run's setting (tags, markers, <NEXT/>), or the tag pairs an import recorded (io/pipeline_import.py)
        reading = reading_of(config)
        for sample_id, before, output, messages in outcomes.rescorable(conn, run_id):
            report.samples += 1
            result = score_transcript(Transcript(messages), rule, reading)
            if result.outcome != before:
                report.changes[(before, result.outcome)] += 1
            if result.outcome != before or result.output != output:
                report.outputs_changed += result.output != output
                changes.append((sample_id, result.outcome, result.output))
        outcomes.save_rescore(conn, run_id, {**config, "rule": str(rule)}, changes)
    return report
