"""The reasoning channel end to end: litellm's reasoning_content and <think> blocks kept apart from the reply,
stored per turn and joined, the outcome unchanged, shown in the pair view on both tiers, found by search."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from types import SimpleNamespace

import pytest
from builders import TEMPLATE, make_app
from fakeserver import FakeServer, af_script, expected_outcome, reasoning_script
from helpers import settle, until

from af_tui.errors import AfError
from af_tui.experiment import rules, runner
from af_tui.experiment.plan import RunSpec
from af_tui.experiment.sources import Dataset, Text
from af_tui.llm import client as llm
from af_tui.store.db import Store, sha256_text

FAST = llm.RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.01, timeout_s=5)
GOALS = ["Write a poem about rivers", "Explain how tides work", "List some garden birds", "Describe a quiet town"]


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def _text(text: str, name: str) -> Text:
    return Text(text, name, sha256_text(text), "test")


def _run(server: FakeServer, db_path, model: str = "openai/x", **kw) -> runner.RunResult:
    api_base = server.base if model.startswith("anthropic/") else server.url
    spec = RunSpec(name="r", models=[model], variants=[_text("SYS", "stand_in")],
                   template=_text(TEMPLATE, "tpl"), dataset=Dataset(GOALS, "test", sha256_text("\n".join(GOALS)), "t"),
                   api_base=api_base, concurrency=4, policy=FAST, **kw)
    with Store(db_path) as store:
        return asyncio.run(runner.execute(spec, store))


def _rows(db_path) -> list[dict]:
    with Store(db_path) as store:
        return list(store.iter_query(
            "SELECT s.*, p.text AS request FROM samples s JOIN prompts p ON p.id = s.prompt_id ORDER BY s.id"))


def listed(app) -> bool:
    """The pairs list is on screen (the statistics panel is not needed here)."""
    pairs = app.pairs_list
    return pairs is not None and app.main.loaded and all(i in pairs.rows for i in pairs.visible_ids())


@pytest.mark.parametrize(("text", "reply", "reasoning"), [
    ("<OUTPUT><rejected/></OUTPUT>", "<OUTPUT><rejected/></OUTPUT>", None),
    ("<think>\nhmm\n</think>\n\n<OUTPUT>x</OUTPUT>", "<OUTPUT>x</OUTPUT>", "hmm"),
    ("  \n<think>a</think>b", "b", "a"),
    ("<think>cut off while thinking", "", "cut off while thinking"),
    ("<OUTPUT>quoting <think>x</think></OUTPUT>", "<OUTPUT>quoting <think>x</think></OUTPUT>", None),
])
def test_split_think(text, reply, reasoning):
    assert llm.split_think(text) == (reply, reasoning)


def test_reasoning_of_a_litellm_message():
    assert llm.reasoning_of(SimpleNamespace(content="x")) is None
    assert llm.reasoning_of(SimpleNamespace(reasoning_content="  because  ")) == "because"
    blocks = [{"type": "thinking", "thinking": "one", "signature": "s"}, {"type": "redacted_thinking"},
              {"type": "thinking", "thinking": "two"}]
    assert llm.reasoning_of(SimpleNamespace(reasoning_content=None, thinking_blocks=blocks)) == "one\n\ntwo"


@pytest.mark.parametrize("model", ["openai/x", "anthropic/claude-3-7-sonnet-20250219"])
def test_run_stores_each_turns_reasoning_and_keeps_the_outcome(db_path, model, monkeypatch):
    # openai/: reasoning_content and <think> in the text; anthropic/: thinking blocks and <think> in a text block
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake-for-a-local-server")
    kw = {"thinking_budget": 1024, "max_tokens": 4000} if model.startswith("anthropic/") else {}
    with FakeServer(reasoning_script) as server:
        result = _run(server, db_path, model, **kw)
        bodies = server.bodies
    assert result.status == "done" and result.errors == 0
    rows = _rows(db_path)
    assert len(rows) == 2 * len(GOALS)
    for r in rows:
        assert r["outcome"] == expected_outcome(r["request"], r["tier"])  # as without a reasoning channel
        transcript = json.loads(r["transcript"])
        replies = [m for m in transcript if m["role"] == "assistant"]
        assert all("<think>" not in m["content"] for m in replies)  # the rule reads the reply without it
        assert rules.score_transcript(rules.Transcript(transcript)).outcome == r["outcome"]
        assert [m["reasoning"] for m in replies] == [
            f"[fake reasoning] {r['tier']} tier, turn {i + 1}: weighing the request quietly."
            for i in range(len(replies))]
        assert r["reasoning"] == runner.REASONING_SEPARATOR.join(m["reasoning"] for m in replies)
        assert "[fake reasoning]" not in (r["scratchpad"] or "")  # apart from the scratchpad
    assert {len([m for m in json.loads(r["transcript"]) if m["role"] == "assistant"]) for r in rows} == {1, 2}
    if model.startswith("anthropic/"):
        assert all(b["thinking"] == {"type": "enabled", "budget_tokens": 1024} for b in bodies)


def test_no_reasoning_channel_stores_none(db_path):
    with FakeServer(af_script) as server:
        _run(server, db_path)
    rows = _rows(db_path)
    assert rows and all(r["reasoning"] is None for r in rows)
    assert all("reasoning" not in m for r in rows for m in json.loads(r["transcript"]))


def test_reasoning_effort_reaches_the_server_and_the_run_config(db_path):
    with FakeServer(reasoning_script) as server:
        _run(server, db_path, reasoning_effort="high")
        bodies = server.bodies
    assert bodies and all(b.get("reasoning_effort") == "high" for b in bodies)
    with Store(db_path) as store:
        config = json.loads(store.conn.execute("SELECT config FROM runs").fetchone()[0])
    assert config["reasoning_effort"] == "high" and config["thinking_budget"] is None


def test_unsupported_reasoning_options_are_one_line_before_the_run():
    llm.check_reasoning("openai/x", "http://127.0.0.1:9/v1", "low", None)  # sent as is to a local server
    llm.check_reasoning("sim/faker", None, "low", 2000)  # simulated models ignore both
    with pytest.raises(AfError, match="--thinking-budget is not supported for openai/x"):
        llm.check_reasoning("openai/x", "http://127.0.0.1:9/v1", None, 2000)
    with pytest.raises(AfError, match="--reasoning-effort is not supported for anthropic/claude-3-5-sonnet"):
        llm.check_reasoning("anthropic/claude-3-5-sonnet-20241022", None, "low", None)
    llm.check_reasoning("anthropic/claude-3-7-sonnet-20250219", None, "low", 2000)


def test_thinking_budget_must_fit_in_max_tokens(capsys, tmp_path):
    from helpers import af_main_output

    code, _, err = af_main_output(capsys, "run", "--model", "sim/faker", "--thinking-budget", "5000",
                                  "--max-tokens", "4000", "--db", str(tmp_path / "x.sqlite"))
    assert code != 0 and "--thinking-budget must be at least 1 and less than --max-tokens (4000 for sim/faker)" in err
    assert "Traceback" not in err


async def test_pair_view_shows_reasoning_on_both_tiers_and_search_finds_it(db_path, tmp_path):
    from textual.widgets import Collapsible

    from af_tui.tui.screens.pair import PairScreen, pair_as_text
    from af_tui.tui.screens.transcript import transcript_lines

    with FakeServer(reasoning_script) as server:
        await asyncio.to_thread(_run, server, db_path)
    app = make_app(db_path, tmp_path)
    async with app.run_test(size=(140, 50)) as pilot:
        await until(pilot, lambda: listed(app))
        assert len(app.pairs_list.ids) == len(GOALS)
        for query, expected in (("quietly", len(GOALS)), ("weighing", len(GOALS)), ("nowhere", 0)):
            version = app.list_version
            await pilot.press("slash")
            app.main.query_one("#search").value = query  # (typing into the box: test_app.py's search test)
            await pilot.press("enter")
            await until(pilot, lambda v=version: app.list_version > v)
            assert len(app.pairs_list.ids) == expected, query  # "quietly" is only in the reasoning channel
        await pilot.press("slash")
        app.main.query_one("#search").value = ""
        await pilot.press("enter")
        await until(pilot, lambda: len(app.pairs_list.ids) == len(GOALS))
        await pilot.press("home", "enter")
        await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None)
        await settle(pilot)
        detail = app.screen.detail
        for tier in ("free", "paid"):
            panel = app.screen.query_one(f"#{tier}")
            sections = [c for c in panel.query(Collapsible) if "reasoning-section" in c.classes]
            sample = getattr(detail, tier)
            assert len(sections) == len(sample.turns) >= 1, tier
            assert sections[0].title == "Reasoning (provider) · turn 1" and not sections[0].collapsed
            shown = str(sections[0].query_one(".reasoning").render())
            assert f"{tier} tier, turn 1: weighing the request quietly." in shown
            assert any(f"{tier} tier, turn 1" in line for line in transcript_lines(detail, tier))
            # one request a turn and no retry: the meta line says turns, not "2 attempts"
            meta = str(panel.query_one(".tier-meta").render())
            assert f"{len(sample.turns)} turn" in meta and "attempt" not in meta and "retr" not in meta, meta
        assert "--- reasoning (provider), turn 1 ---" in pair_as_text(detail)


async def test_imported_reasoning_without_turns_shows_one_section(tmp_path):
    from builders import SYSTEM, pair_sample
    from textual.widgets import Collapsible

    from af_tui.tui.screens.pair import PairScreen

    db = tmp_path / "imported.sqlite"
    with Store(db) as s:
        run_id = s.start_run("imported", {})
        s.ensure_variant("stand-in", SYSTEM)
        [pid] = s.ensure_prompts(["A request."])
        samples = [pair_sample(run_id, "sim/faker", pid, 0, t, o, "A request.")
                   for t, o in (("free", "complied"), ("paid", "refused"))]
        samples[0] = replace(samples[0], reasoning="[bold]not markup[/bold] \x1b[31mnor an escape")
        s.save_samples(samples)
    app = make_app(db, tmp_path)
    async with app.run_test(size=(140, 50)) as pilot:
        await until(pilot, lambda: listed(app))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None)
        await settle(pilot)
        free = [c for c in app.screen.query_one("#free").query(Collapsible) if "reasoning-section" in c.classes]
        paid = [c for c in app.screen.query_one("#paid").query(Collapsible) if "reasoning-section" in c.classes]
        assert [c.title for c in free] == ["Reasoning (provider)"] and paid == []
        shown = str(free[0].query_one(".reasoning").render())
        assert "[bold]not markup[/bold]" in shown and "\x1b" not in shown
