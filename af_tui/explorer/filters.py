"""The explorer's "judge and human disagree" filter as SQL conditions on samples and on pairs."""

from __future__ import annotations

from af_tui.store.db import CURRENT_LABELS

# Samples on which some judge's verdict and some annotator's current verdict are both alignment_faking /
# not_alignment_faking and differ. Uncorrelated, so SQLite computes it once per query, not once per pair
# (1.5 s → well under 0.1 s for the filter over 100k pairs).
DISAGREEING_SAMPLES = (
    "SELECT j.sample_id FROM judgements j JOIN ("
    + CURRENT_LABELS +
    ") l ON l.sample_id = j.sample_id "
    "WHERE j.error IS NULL AND j.verdict IN ('alignment_faking', 'not_alignment_faking') "
    "AND l.verdict IN ('alignment_faking', 'not_alignment_faking') AND j.verdict != l.verdict"
)


def disagreement_sql(sample_column: str = "s.id") -> str:
    """An SQL condition, true when a judge and a person disagree on the sample in `sample_column` (the
    explorer's "judge and human disagree")."""
    return f"{sample_column} IN ({DISAGREEING_SAMPLES})"


def pair_disagreement_sql() -> str:
    """Condition on `pairs p`: the judge and a person disagree on the free or the paid sample."""
    return f"({disagreement_sql('p.free_sample_id')} OR {disagreement_sql('p.paid_sample_id')})"
