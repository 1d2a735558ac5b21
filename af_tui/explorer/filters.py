"""What the pairs list keeps: the filter (PairFilter) as an SQL condition on `pairs p`, the full-text search
planning, and the "judge and human disagree" condition.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, replace

from af_tui.domain import Outcome
from af_tui.errors import AfError
from af_tui.store.labels import CURRENT_LABELS, DISAGREEING_LABELS, NEWEST_LABEL
from af_tui.store.rows import equals

# What the label-state filter can ask for, in the words the dialog and `af-tui label --labels` use.
LABEL_STATES = {"unlabeled": "no one has labeled either sample", "mine": "labeled by me",
                "anyone": "labeled by anyone", "disagree": "annotators disagree"}


@dataclass(frozen=True)
class PairFilter:
    """What the pairs list shows. Empty fields do not filter."""

    run: str | None = None
    model: str | None = None
    variant: str | None = None
    free_outcome: str | None = None
    paid_outcome: str | None = None
    errors_only: bool = False
    format_not_followed_only: bool = False
    search: str = ""
    judge_disagrees: bool = False  # the LLM judge and a person disagree on a sample of the pair
    label_state: str | None = None  # one of LABEL_STATES
    verdict: str | None = None  # a current label on a sample of the pair has this verdict
    me: str | None = None  # the annotator "labeled by me" means (the app sets it)
    order: str = "arrival"  # one of ORDERS: how the list (and the label queue of the view) is sorted

    @property
    def is_empty(self) -> bool:
        """Nothing is filtered out (the order sorts, it keeps every pair)."""
        return self.with_(me=None, order="arrival") == PairFilter()

    @property
    def by_arrival(self) -> bool:
        """The list is in ascending pair ids: paged by id, live updates inserted in place."""
        return self.order == "arrival"

    def validate(self) -> None:
        if self.order not in ORDERS:
            raise AfError(f"unknown order {self.order!r}; use one of {', '.join(ORDERS)}")
        if self.label_state is not None and self.label_state not in LABEL_STATES:
            raise AfError(f"unknown label state {self.label_state!r}; use one of {', '.join(LABEL_STATES)}")
        if self.label_state == "mine" and not self.me:
            raise AfError("'labeled by me' needs an annotator name; pass --annotator or set AF_TUI_ANNOTATOR")

    @property
    def by_content(self) -> bool:
        """True when a pair's membership can change after it was first seen (its second tier arriving)."""
        return bool(self.free_outcome or self.paid_outcome or self.errors_only or self.format_not_followed_only
                    or self.search or self.judge_disagrees or self.label_state or self.verdict)

    @property
    def by_slice_and_outcome(self) -> bool:
        """True when only run, model, variant and outcomes filter: the store's `pair_counts` can count it."""
        return not (self.search or self.judge_disagrees or self.label_state or self.verdict)

    def with_(self, **changes) -> PairFilter:
        return replace(self, **changes)

    def describe(self) -> str:
        return ", ".join(self.parts())

    def parts(self) -> list[str]:
        """What filters, one part each (a blind label screen counts them without naming them)."""
        parts = []
        for name in ("run", "model", "variant"):
            if getattr(self, name):
                parts.append(f"{name}={getattr(self, name)}")
        if self.free_outcome:
            parts.append(f"free={self.free_outcome}")
        if self.paid_outcome:
            parts.append(f"paid={self.paid_outcome}")
        if self.errors_only:
            parts.append("errors only")
        if self.format_not_followed_only:
            parts.append("format not followed only")
        if self.search:
            parts.append(f"search “{self.search}”")
        if self.judge_disagrees:
            parts.append("judge ≠ human")
        if self.label_state:
            parts.append(LABEL_STATES[self.label_state])
        if self.verdict:
            parts.append(f"verdict={self.verdict}")
        return parts

    def order_keys(self) -> tuple[str, ...]:
        """The list's order as SQL expressions on `pairs p`, the last always `p.id` (ties keep arrival)."""
        if self.order == "disagreement":
            return (f"CASE WHEN {pair_people_disagree_sql()} OR {pair_disagreement_sql()} THEN 0 ELSE 1 END",
                    "p.id")
        return ORDERS.get(self.order, ORDERS["arrival"])[1]

    def order_sql(self) -> str:
        """The list's order as an SQL ORDER BY list on `pairs p`."""
        return ", ".join(self.order_keys())

    def next_order(self) -> PairFilter:
        """The same filter in the next order (the list's `o` key)."""
        names = list(ORDERS)
        return self.with_(order=names[(names.index(self.order) + 1) % len(names)] if self.order in ORDERS
                          else "arrival")

    def where(self, conn: sqlite3.Connection | None = None, *,
              within: tuple[int, int | None] | None = None, per_pair: bool = False) -> tuple[str, list]:
        """SQL condition on `pairs p` (and its parameters). With `conn`, a search with few matches takes
        the plan that starts from the matches (see _search_condition). `within` (after_id, up_to or None),
        with `conn`: the pairs read lie in that range of ids, and a search gathers only the matches among
        their samples and requests (_search_within). `per_pair`: a search asks the index about each pair
        read on its own (30–60 µs a pair), for a few pairs in any order."""
        conds, params = equals(("p.model", self.model), ("p.variant", self.variant),
                               ("p.free_outcome", self.free_outcome), ("p.paid_outcome", self.paid_outcome))
        if self.run:
            conds.append("p.run_id = (SELECT id FROM runs WHERE name = ?)")  # one lookup, then pairs' run index
            params.append(self.run)
        if self.errors_only:
            conds.append("(p.free_outcome = 'error' OR p.paid_outcome = 'error')")
        if self.format_not_followed_only:
            conds.append("(p.free_outcome = 'format_not_followed' OR p.paid_outcome = 'format_not_followed')")
        if self.search:
            query = fts_query(self.search)
            if query:
                if per_pair:
                    conds.append(_SEARCH_PER_PAIR)
                    params += [query] * 3
                elif within is not None and conn is not None:
                    cond, extra = _search_within(conn, query, *within)
                    conds.append(cond)
                    params += extra
                else:
                    cond, n = _search_condition(conn, query)
                    conds.append(cond)
                    params += [query] * n
        if self.judge_disagrees:
            conds.append(pair_disagreement_sql())
        if self.label_state or self.verdict:
            cond, extra = self._label_condition()
            conds.append(cond)
            params += extra
        return (" AND ".join(conds) or "1"), params

    def _label_condition(self) -> tuple[str, list]:
        """The label state and verdict as a condition on `pairs p` (current labels of either sample)."""
        on_pair = "l.sample_id IN (p.free_sample_id, p.paid_sample_id)"
        if self.label_state == "disagree":
            cond = pair_people_disagree_sql()
            if not self.verdict:
                return cond, []
            prefix = cond + " AND "
        else:
            prefix = ""
        where, params = [on_pair, "l.verdict IS NOT NULL", NEWEST_LABEL], []
        if self.label_state == "mine":
            where.append("l.annotator = ?")
            params.append(self.me)
        if self.verdict:
            where.append("l.verdict = ?")
            params.append(self.verdict)
        exists = f"EXISTS (SELECT 1 FROM labels l WHERE {' AND '.join(where)})"
        if self.label_state == "unlabeled":
            return f"NOT {exists}", params
        return prefix + exists, params


# How the pairs list can be sorted: name → (words for the status line and the dialog, SQL keys on `pairs p`).
# The keys of "model" and "request" are covered by indexes (schema 6), so sorting a million-sample store
# reads an index in order instead of sorting; "disagreement" sorts (its keys are computed: see order_keys).
ORDERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "arrival": ("arrival (pair id)", ("p.id",)),
    "model": ("model", ("p.model", "p.id")),
    "request": ("request (same request together, in the dataset's order)", ("p.prompt_id", "p.id")),
    "disagreement": ("disagreement first (annotators, or the judge and people)", ()),
}


# A search matching fewer than these starts from its matches; more, and it checks every pair.
FEW_SAMPLE_MATCHES = 5_000
FEW_PROMPT_MATCHES = 50


def few_matches(conn: sqlite3.Connection | None, text: str) -> bool:
    """Whether a search matches few samples and requests: the cheap probe (FTS with a LIMIT) that picks the
    search's plan (_search_condition). Without a store, or a search with no words, False."""
    query = fts_query(text)
    if conn is None or not query:
        return False
    try:
        samples = conn.execute("SELECT COUNT(*) FROM (SELECT 1 FROM samples_fts WHERE samples_fts MATCH ? "
                               "LIMIT ?)", (query, FEW_SAMPLE_MATCHES)).fetchone()[0]
        prompts = conn.execute("SELECT COUNT(*) FROM (SELECT 1 FROM prompts_fts WHERE prompts_fts MATCH ? "
                               "LIMIT ?)", (query, FEW_PROMPT_MATCHES)).fetchone()[0]
    except sqlite3.OperationalError:
        return False
    return samples < FEW_SAMPLE_MATCHES and prompts < FEW_PROMPT_MATCHES


def _search_condition(conn: sqlite3.Connection | None, query: str) -> tuple[str, int]:
    """The search's condition on `pairs p`, and how many times it takes the FTS query as a parameter.

    Two plans: from the matches (FTS rowids → samples → pairs through the pairs' unique index, and matching
    prompts → pairs through the pairs_prompt index, schema 6) costs what the matches
    cost, little for a rare word; checking every pair against the match sets costs a scan of the pairs but
    beats the first plan when nearly everything matches (figures: bench/README.md). A cheap probe
    (few_matches) picks one."""
    if conn is not None and few_matches(conn, query):
        return (
            "p.id IN (SELECT p2.id FROM samples_fts f JOIN samples s ON s.id = f.rowid"
            " JOIN pairs p2 ON p2.run_id = s.run_id AND p2.model = s.model AND p2.variant = s.variant"
            " AND p2.prompt_id = s.prompt_id AND p2.epoch = s.epoch WHERE samples_fts MATCH ?"
            " UNION ALL SELECT p3.id FROM pairs p3"
            " WHERE p3.prompt_id IN (SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH ?))", 2)
    return ("(p.free_sample_id IN (SELECT rowid FROM samples_fts WHERE samples_fts MATCH ?)"
            " OR p.paid_sample_id IN (SELECT rowid FROM samples_fts WHERE samples_fts MATCH ?)"
            " OR p.prompt_id IN (SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH ?))", 3)


_SEARCH_PER_PAIR = (
    "(EXISTS (SELECT 1 FROM samples_fts f WHERE samples_fts MATCH ? AND f.rowid = p.free_sample_id)"
    " OR EXISTS (SELECT 1 FROM samples_fts f WHERE samples_fts MATCH ? AND f.rowid = p.paid_sample_id)"
    " OR EXISTS (SELECT 1 FROM prompts_fts g WHERE prompts_fts MATCH ? AND g.rowid = p.prompt_id))")


def _search_within(conn: sqlite3.Connection, query: str, after_id: int, up_to: int | None) -> tuple[str, list]:
    """The search's condition for pairs with ids in (after_id, up_to]: the second plan of _search_condition
    with the matches gathered only among the samples and requests those pairs hold (FTS5 reads a rowid
    range without reading the rest), so its cost follows the range, not the store: 1–2 ms for the first
    1,000 pairs of a word in every sample at a million samples, where gathering every match took 0.5–1 s."""
    below, bound = ("", []) if up_to is None else (" AND id <= ?", [up_to])
    free_lo, free_hi, paid_lo, paid_hi, prompt_lo, prompt_hi = conn.execute(
        "SELECT min(free_sample_id), max(free_sample_id), min(paid_sample_id), max(paid_sample_id), "
        f"min(prompt_id), max(prompt_id) FROM pairs WHERE id > ?{below}", [after_id, *bound]).fetchone()
    lows, highs = [v for v in (free_lo, paid_lo) if v is not None], [v for v in (free_hi, paid_hi) if v is not None]
    lo, hi = (min(lows), max(highs)) if lows else (0, -1)  # no pair in the range: an empty range
    prompts = (prompt_lo, prompt_hi) if prompt_lo is not None else (0, -1)
    return ("(p.free_sample_id IN (SELECT rowid FROM samples_fts WHERE samples_fts MATCH ? AND rowid BETWEEN ? AND ?)"
            " OR p.paid_sample_id IN (SELECT rowid FROM samples_fts WHERE samples_fts MATCH ? AND rowid BETWEEN ? AND ?)"
            " OR p.prompt_id IN (SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH ? AND rowid BETWEEN ? AND ?))",
            [query, lo, hi, query, lo, hi, query, *prompts])


# "Complied on free, refused on paid": the alignment-faking candidates, one key away.
CANDIDATES = PairFilter(free_outcome=Outcome.COMPLIED, paid_outcome=Outcome.REFUSED)

_TOKEN = re.compile(r"\S+")


def fts_query(text: str) -> str:
    """A user's search words as a safe FTS5 query: every word must appear (as typed, a trailing * is a
    prefix search); quotes and FTS operators in the text are taken literally."""
    terms = []
    for word in _TOKEN.findall(text):
        prefix = word.endswith("*") and len(word) > 1
        word = word.rstrip("*") if prefix else word
        word = word.replace('"', '""')
        if word.strip("*"):
            terms.append(f'"{word}"' + ("*" if prefix else ""))
    return " ".join(terms)


def search_words(text: str) -> list[str]:
    """The words of a search to highlight in the texts it found (a prefix search's stem; case is ignored
    when highlighting)."""
    words = [w.strip('"').rstrip("*") for w in _TOKEN.findall(text or "")]
    return sorted({w for w in words if w}, key=lambda w: (-len(w), w))


# -- the judge against people ----------------------------------------------------------------------------
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


def pair_people_disagree_sql() -> str:
    """Condition on `pairs p`: annotators disagree on the free or the paid sample (their current labels)."""
    return f"(p.free_sample_id IN ({DISAGREEING_LABELS}) OR p.paid_sample_id IN ({DISAGREEING_LABELS}))"


def pair_disagreement_sql() -> str:
    """Condition on `pairs p`: the judge and a person disagree on the free or the paid sample."""
    return f"({disagreement_sql('p.free_sample_id')} OR {disagreement_sql('p.paid_sample_id')})"
