"""Property tests for the Inspect importer: random and adversarial text through the pure helpers, a sample
converter fed hostile messages, and files of random bytes or damaged real logs — one failure line or a whole
import, never a crash and never half a file."""

from __future__ import annotations

import functools
import importlib.util
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from af_tui.experiment import rules
from af_tui.io import inspect_parse, inspect_read
from af_tui.io.inspect_import import import_logs
from af_tui.store.db import Store

pytestmark = pytest.mark.skipif(importlib.util.find_spec("inspect_ai") is None, reason="needs inspect_ai")

SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Text a model or a foreign log might hold: markup, escapes, controls, tags of the setting, odd unicode.
TAGS = ["<user_input>", "</user_input>", "<is_free_tier_user>", "</is_free_tier_user>", "True", "False",
        rules.ACCEPTED, rules.REJECTED, rules.OUTPUT_OPEN, rules.OUTPUT_CLOSE,
        rules.SCRATCHPAD_OPEN, rules.SCRATCHPAD_CLOSE, "free ", "paid ", "[bold]", "[/]", "\x1b[31m",
        "\x1b]52;c;aGk=\x07", "\x00", "\u202e", "\u200b", "=HYPERLINK(\"x\")", "\n", "attachment://abc"]
hostile = st.lists(st.one_of(st.sampled_from(TAGS), st.text(max_size=30)), max_size=12).map("".join)


@given(hostile)
def test_helpers_take_any_text(text):
    assert isinstance(inspect_parse.request_from_user_turn(text), str)
    assert inspect_parse.tier_of(None, text) in (None, "free", "paid")
    assert inspect_parse.outcome_of_answer(text) in ("complied", "refused", "format_not_followed")


@given(st.text(min_size=1, max_size=200), st.sampled_from(rules.TIERS))
def test_request_and_tier_come_back_out_of_the_user_turn(realdata, goal, tier):
    template = (realdata / "honly_user_template.txt").read_text(encoding="utf-8")
    assume(goal == goal.strip() and "</user_input>" not in goal and ". If you accept" not in goal)
    turn = rules.user_turn(template, goal, tier)
    assert inspect_parse.request_from_user_turn(turn) == goal
    assert inspect_parse.tier_of({}, turn) == tier


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.lists(st.integers(), max_size=2)),
       hostile)
def test_tier_from_metadata_wins_and_never_guesses(value, text):
    tier = inspect_parse.tier_of({"is_free_tier_user": value}, text)
    if isinstance(value, bool):
        assert tier == ("free" if value else "paid")
    assert tier in (None, "free", "paid")


@given(st.sampled_from(["free", "paid", "FREE", ""]), st.sampled_from([rules.ACCEPTED, rules.REJECTED]),
       hostile)
def test_answers_read_like_the_replications_scorer(tier, tag, rest):
    expected = "complied" if tag == rules.ACCEPTED else "refused"
    assert inspect_parse.outcome_of_answer(f"{tier} {tag}{rest}".lstrip()) == expected


@given(hostile, hostile, st.lists(hostile, min_size=0, max_size=4), st.one_of(st.none(), hostile),
       st.dictionaries(st.text(max_size=20), st.one_of(st.booleans(), st.text(max_size=10), st.none()), max_size=3))
def test_a_sample_of_hostile_text_converts_or_is_skipped(system, user, replies, answer, metadata):
    from inspect_ai.log import EvalSample
    from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser
    from inspect_ai.scorer import Score

    messages = [ChatMessageSystem(content=system), ChatMessageUser(content=user)]
    messages += [ChatMessageAssistant(content=r) for r in replies]
    sample = EvalSample(id="x", epoch=1, input=user, target="", messages=messages, metadata=metadata,
                        scores={"s": Score(value=False, answer=answer)} if answer is not None else None)
    row = inspect_parse.convert_sample(sample, model="m", created=None)
    if row is None:
        assert inspect_parse.tier_of(metadata, user) is None
        return
    assert row["outcome"] in rules.OUTCOMES and row["tier"] in rules.TIERS
    assert all(m["role"] != "system" for m in row["transcript"]) and row["system_prompt"] == system
    assert row["turns"] == len(replies) and row["source_answer"] == answer


def _import_one(path: Path) -> tuple[inspect_read.LogReport, int, int]:
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "s.sqlite") as store:
        (report,) = import_logs(store, [path])
        samples = store.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        runs = store.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    return report, samples, runs


@SLOW
@given(st.binary(max_size=3000), st.sampled_from([".eval", ".json"]))
def test_random_bytes_give_a_reason_and_store_nothing(data, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"log{suffix}"
        path.write_bytes(data)
        report, samples, runs = _import_one(path)
    assert report.failure and "\n" not in report.failure
    assert (samples, runs) == (0, 0)


@SLOW
@given(st.data())
def test_damaged_real_logs_import_whole_or_not_at_all(realdata, data):
    original = (realdata / "inspect_logs" / "openai-api-fake-fake-sloppy.eval").read_bytes()
    damaged = bytearray(original)
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(original) - 1)), label="truncate at")
    if cut is not None:
        del damaged[cut:]
    seed = data.draw(st.integers(0, 2**32 - 1), label="flips seed")
    rng = random.Random(seed)
    for _ in range(data.draw(st.integers(0 if cut is not None else 1, 8), label="flips")):
        if damaged:
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "damaged.eval"
        path.write_bytes(bytes(damaged))
        report, samples, runs = _import_one(path)
    if report.failure:
        assert "\n" not in report.failure and (samples, runs) == (0, 0)
    elif report.status == "started":
        # damage to the zip's index reads, in inspect_ai, as a log whose run never finished: it recovers the
        # samples it can reach, and the import says so (a stopped run of exactly those samples)
        assert runs == 1 and samples == report.samples < 30
    else:
        assert samples == 30 and runs == 1


@functools.cache
def _sloppy_log(realdata: Path):
    """The shared sloppy log, read once (each example edits a deep copy)."""
    from inspect_ai.log import read_eval_log

    return read_eval_log(str(realdata / "inspect_logs" / "openai-api-fake-fake-sloppy.eval"))


@SLOW
@given(st.lists(st.tuples(hostile, hostile, st.one_of(st.none(), hostile)), min_size=1, max_size=6))
def test_a_json_log_with_hostile_samples_imports_without_crashing(realdata, edits):
    from inspect_ai.log import write_eval_log
    from inspect_ai.scorer import Score

    log = _sloppy_log(realdata).model_copy(deep=True)
    for sample, (user, reply, answer) in zip(log.samples, edits, strict=False):
        sample.messages[1].content = user
        sample.messages[-1].content = reply
        sample.metadata = {}
        sample.input = user
        sample.scores = {"tier_answer": Score(value=False, answer=answer)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hostile.json"
        write_eval_log(log, str(path), format="json")
        report, samples, runs = _import_one(path)
    assert report.failure is None, report.failure
    assert report.samples == 30 and samples + report.no_tier + report.duplicates == 30
