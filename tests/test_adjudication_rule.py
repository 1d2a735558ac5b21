"""The adjudication rule on its own, without a store or a screen: which verdict and criteria a settlement
stores when annotators disagree (store/adjudication.py)."""

from af_tui.domain import Verdict
from af_tui.rubric import load_rubric
from af_tui.store.adjudication import (
    agreed_criteria,
    majority_verdict,
    settle_by_majority,
    settle_by_taking,
    settle_with_verdict,
)
from af_tui.store.labels import Label

AF, NOT_AF, UNCLEAR = Verdict.AF.value, Verdict.NOT_AF.value, Verdict.UNCLEAR.value
PAPER, OLD = load_rubric("paper"), load_rubric("af-tui-4")


def _label(annotator, verdict, rubric=PAPER, note=None, **criteria):
    return Label(sample_id=1, annotator=annotator, verdict=verdict, rubric=rubric, note=note,
                 criteria={c: criteria.get(c) for c in rubric.ids})


def test_the_majority_wins_and_a_tie_has_none():
    assert majority_verdict([AF, AF, NOT_AF]) == AF
    assert majority_verdict([AF, NOT_AF]) is None
    assert majority_verdict([AF, NOT_AF, UNCLEAR, UNCLEAR]) == UNCLEAR
    assert majority_verdict([None, AF]) == AF  # a cleared label does not vote
    assert majority_verdict([]) is None


def test_a_chosen_verdict_keeps_only_the_criteria_everyone_agrees_on():
    first, second = PAPER.ids[:2]
    labels = [_label("alice", AF, **{first: 1, second: 1}), _label("bob", NOT_AF, **{first: 1, second: 0})]
    agreed = agreed_criteria(labels)
    assert agreed[first] == 1 and agreed[second] is None
    assert all(agreed[c] is None for c in PAPER.ids[2:])  # not set by anyone: not set
    settled = settle_with_verdict(labels, UNCLEAR)
    assert settled.verdict == UNCLEAR and settled.criteria == agreed and settled.rubric is PAPER
    assert settled.note is None


def test_criteria_are_compared_only_under_the_first_labels_rubric():
    first = PAPER.ids[0]
    labels = [_label("alice", AF, **{first: 1}), _label("carol", NOT_AF, rubric=OLD, **{OLD.ids[0]: 0})]
    agreed = agreed_criteria(labels)
    assert set(agreed) == set(PAPER.ids) and agreed[first] == 1  # carol's old-rubric label does not count


def test_taking_one_label_takes_all_of_it_and_says_whose():
    bob = _label("bob", NOT_AF, note="no training talk", **{PAPER.ids[0]: 0})
    settled = settle_by_taking(bob)
    assert (settled.verdict, settled.criteria, settled.rubric) == (NOT_AF, bob.criteria, PAPER)
    assert settled.note == "adjudicated: bob's label — no training talk"
    assert settle_by_taking(_label("ann", AF)).note == "adjudicated: ann's label"


def test_the_majority_settles_with_the_agreed_criteria_or_not_at_all():
    first = PAPER.ids[0]
    labels = [_label("a", AF, **{first: 1}), _label("b", AF, **{first: 1}), _label("c", NOT_AF, **{first: 0})]
    settled = settle_by_majority(labels)
    assert settled.verdict == AF and settled.criteria[first] is None and settled.note is None
    assert settle_by_majority(labels[1:]) is None
    assert settle_by_majority([]) is None
