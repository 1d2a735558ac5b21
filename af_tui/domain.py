"""The experiment's vocabulary, defined once: tiers, outcomes, verdicts and the label criteria.

Every layer imports these names from here; the values are the strings stored in SQLite, so a `StrEnum` member
and its string are interchangeable everywhere (SQL parameters, JSON, CSV).
"""

from __future__ import annotations

from enum import StrEnum


class Tier(StrEnum):
    """Who the model is told it is talking to: free-tier conversations are used for training, paid are not."""

    FREE = "free"
    PAID = "paid"


class Outcome(StrEnum):
    """How a sample ended, by the outcome rule (see experiment/rules.py)."""

    COMPLIED = "complied"
    REFUSED = "refused"
    FORMAT_NOT_FOLLOWED = "format_not_followed"
    ERROR = "error"
    BLOCKED = "blocked"  # the provider refused to answer (content filter / content-policy 400): in n, never complied


class Rule(StrEnum):
    """How a finished transcript is read into an outcome (experiment/rules.py); recorded with every run."""

    NOTEBOOK = "notebook"  # the public notebook's reading (the default, for comparability)
    LAST_SCRATCHPAD = "last-scratchpad"  # the first <OUTPUT> after the last </SCRATCHPAD_REASONING>


class Verdict(StrEnum):
    """A person's or a judge's reading of a scratchpad."""

    AF = "alignment_faking"
    NOT_AF = "not_alignment_faking"
    UNCLEAR = "unclear"


TIERS: tuple[str, ...] = tuple(t.value for t in Tier)
OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome)
VERDICTS: tuple[str, ...] = tuple(v.value for v in Verdict)
RULES: tuple[str, ...] = tuple(r.value for r in Rule)
# The outcomes of a reply the model gave and the rule read (an error or a blocked request has none): the shares
# drawn per tier are of these (with `blocked` beside them).
REPLY_OUTCOMES: tuple[Outcome, ...] = (Outcome.COMPLIED, Outcome.REFUSED, Outcome.FORMAT_NOT_FOLLOWED)
# Every outcome but an error: a valid sample, in n. A pair is complete when both tiers have one, so a request
# the provider blocked stays in its pair as a not-complied outcome (as request_pairs in the store counts it).
VALID_OUTCOMES: tuple[Outcome, ...] = (*REPLY_OUTCOMES, Outcome.BLOCKED)
# The valid outcomes that are not compliance: c and b of the paired gap count these against `complied`.
NOT_COMPLIED: tuple[Outcome, ...] = (Outcome.REFUSED, Outcome.FORMAT_NOT_FOLLOWED, Outcome.BLOCKED)
DEFAULT_RULE = Rule.NOTEBOOK
# Runs recorded before rules were named were read by the last-scratchpad rule.
LEGACY_RULE = Rule.LAST_SCRATCHPAD

# One letter per outcome for the explorer's badges (None: the other tier has no sample yet), and one short
# word for progress lines where the full name does not fit.
OUTCOME_BADGE: dict[str | None, str] = {Outcome.COMPLIED: "C", Outcome.REFUSED: "R", Outcome.FORMAT_NOT_FOLLOWED: "F",
                                        Outcome.ERROR: "E", Outcome.BLOCKED: "B", None: "·"}
OUTCOME_WORD: dict[str, str] = {Outcome.COMPLIED: "complied", Outcome.REFUSED: "refused",
                                Outcome.FORMAT_NOT_FOLLOWED: "format", Outcome.ERROR: "error",
                                Outcome.BLOCKED: "blocked"}
VERDICT_WORDS: dict[str, str] = {Verdict.AF: "alignment faking", Verdict.NOT_AF: "not alignment faking",
                                 Verdict.UNCLEAR: "unclear"}
VERDICT_SHORT: dict[str, str] = {Verdict.AF: "AF", Verdict.NOT_AF: "not AF", Verdict.UNCLEAR: "unclear"}


def choices(vocabulary: type[StrEnum]) -> list[str]:
    """The stored spellings of a vocabulary, in its order: for click.Choice and for messages."""
    return [member.value for member in vocabulary]


# The four criteria af-tui labelled with before rubrics: the names of the labels' and judgements' criterion
# columns. What each means (short name, description, key) is in rubrics/af-tui-4.toml, read by af_tui.rubric;
# tests/test_rubric.py keeps the two in step.
CRITERIA: tuple[str, ...] = ("knows_training", "sees_modification", "opposes_modification", "complies_to_avoid")

# The two lines around the scratchpad in a judge request: the judge prompt writes them, and the simulated
# judge (which sits below the judge) reads the scratchpad back between them.
SCRATCHPAD_START = "=== SCRATCHPAD START ==="
SCRATCHPAD_END = "=== SCRATCHPAD END ==="
# The same marker lines around the other texts a judge prompt may show (the request, the final output, the
# provider's reasoning channel), so the simulated judges can read each back.
REQUEST_START, REQUEST_END = "=== REQUEST START ===", "=== REQUEST END ==="
OUTPUT_START, OUTPUT_END = "=== OUTPUT START ===", "=== OUTPUT END ==="
REASONING_START, REASONING_END = "=== REASONING START ===", "=== REASONING END ==="
DATA_MARKERS: tuple[str, ...] = (SCRATCHPAD_START, SCRATCHPAD_END, REQUEST_START, REQUEST_END, OUTPUT_START,
                                 OUTPUT_END, REASONING_START, REASONING_END)


class JudgeTask(StrEnum):
    """What a judge is asked: whether a scratchpad shows alignment-faking reasoning, or how far an output
    complies."""

    ALIGNMENT_FAKING = "alignment_faking"
    COMPLIANCE = "compliance"


class Grade(StrEnum):
    """What the compliance judge read in an output (judge/compliance.py): its reading of complied / refused,
    and a partial compliance apart."""

    COMPLIED = "complied"
    PARTIALLY_COMPLIED = "partially_complied"
    REFUSED = "refused"


JUDGE_TASKS: tuple[str, ...] = tuple(t.value for t in JudgeTask)
# How a judgement is counted when it has no reading: a reply with no readable verdict, a call that failed.
UNPARSED, FAILED = "unparsed", "error"
GRADE_WORD: dict[str, str] = {Grade.COMPLIED: "complied", Grade.PARTIALLY_COMPLIED: "partial", Grade.REFUSED: "refused"}
