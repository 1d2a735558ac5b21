"""Provider refusals (finish_reason content_filter, HTTP 400 content_policy_violation) are the outcome
`blocked`: stored once, never retried, counted in n and never complied; a prefill text reaches the provider."""

from __future__ import annotations

import asyncio
import json

import pytest
from builders import TEMPLATE
from fakeserver import FakeServer, parse_request

from af_tui.analysis import slices
from af_tui.errors import AfError
from af_tui.experiment import runner
from af_tui.experiment.plan import RunSpec
from af_tui.experiment.sources import Dataset, Text
from af_tui.llm import client as llm
from af_tui.store.db import Store, sha256_text

FAST = llm.RetryPolicy(attempts=4, base_delay_s=0.001, max_delay_s=0.01, timeout_s=5)


def _text(text: str, name: str) -> Text:
    return Text(text, name, sha256_text(text), "test")


def _spec(server: FakeServer, requests: list[str], **kw) -> RunSpec:
    opts = dict(name="t", models=["openai/x"], variants=[_text("SYS", "stand_in")], template=_text(TEMPLATE, "tpl"),
                dataset=Dataset(requests, "test", sha256_text("\n".join(requests)), "test"),
                api_base=server.url, concurrency=2, policy=FAST)
    opts.update(kw)
    return RunSpec(**opts)


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def _blocking(n, messages):
    goal, tier, _ = parse_request(messages)
    if tier == "free" and goal == "filtered":
        return "content_filter"
    if tier == "free" and goal == "policy":
        return "content_policy"
    return "ok"


def test_blocked_requests_are_an_outcome_in_n(db_path):
    with FakeServer(schedule=_blocking) as server:
        with Store(db_path) as store:
            result = asyncio.run(runner.execute(_spec(server, ["filtered", "policy", "fine"]), store))
        first = server.requests
        with Store(db_path) as store:  # resuming sends nothing: a blocked sample is done
            asyncio.run(runner.execute(_spec(server, ["filtered", "policy", "fine"]), store))
        assert server.requests == first
    assert result.status == "done" and result.errors == 0
    with Store(db_path) as store:
        rows = {(r["request"], r["tier"]): r for r in store.iter_query(
            "SELECT s.*, p.text AS request FROM samples s JOIN prompts p ON p.id = s.prompt_id")}
        stats = slices.compute(store.conn) if hasattr(slices, "compute") else None
    for goal in ("filtered", "policy"):
        row = rows[(goal, "free")]
        assert row["outcome"] == "blocked" and row["attempts"] == 1
        assert "blocked by the provider" in row["error"]
        assert [m["role"] for m in json.loads(row["transcript"])] == ["user"]
    assert "content policy" in rows[("policy", "free")]["error"]
    assert "content_filter" in rows[("filtered", "free")]["error"]
    assert rows[("fine", "free")]["outcome"] == "complied"
    if stats:
        sl = stats[0] if isinstance(stats, list) else next(iter(stats.values()))
        assert sl.tiers["free"].n == 3 and sl.tiers["free"].blocked == 2
        assert sl.valid("free") == 3 and sl.rate("free") == pytest.approx(1 / 3)


def test_prefill_text_is_sent_and_kept(db_path):
    with FakeServer() as server:
        with Store(db_path) as store:
            asyncio.run(runner.execute(_spec(server, ["x"], prefill="<SCRATCHPAD_REASONING>I think"), store))
            config = json.loads(store.conn.execute("SELECT config FROM runs").fetchone()[0])
        bodies = server.bodies
    assert len(bodies) == 3  # a free-tier sample asks twice (its scratchpad, then after <NEXT/>), a paid once
    assert all(b["messages"][-1] == {"role": "assistant", "content": "<SCRATCHPAD_REASONING>I think"}
               for b in bodies)
    assert config["prefill"] == "<SCRATCHPAD_REASONING>I think" and config["rule"] == "notebook"
    assert config["prefill_text"] == {"openai/x": "<SCRATCHPAD_REASONING>I think"}


@pytest.mark.parametrize("model, prefilled", [("openai/gpt-4o", False), ("openai/o3-mini", False),
                                               ("openai/meta-llama/Llama-3.1-8B-Instruct", True)])
def test_auto_prefill_is_the_notebooks_every_model_but_openai_gpt_and_o_series(db_path, model, prefilled):
    with FakeServer() as server:
        with Store(db_path) as store:
            asyncio.run(runner.execute(_spec(server, ["x"], models=[model], prefill="auto"), store))
        last = [b["messages"][-1] for b in server.bodies]
    assert last and all(m["role"] == ("assistant" if prefilled else "user") for m in last)
    assert all(m["content"] == "<" for m in last if prefilled)


def test_auto_prefill_is_off_while_thinking():
    from af_tui.experiment.rules import resolve_prefill

    assert resolve_prefill("auto", "anthropic/claude-sonnet-4-5") == "<"
    assert resolve_prefill("auto", "anthropic/claude-sonnet-4-5", thinking=True) == ""
    assert resolve_prefill("auto", "azure/gpt-4o") == "" and resolve_prefill("none", "sim/faker") == ""


def test_a_provider_that_refuses_a_prefill_stops_the_run_with_one_line_naming_prefill_none(db_path):
    def refuse(n, messages):
        if messages[-1]["role"] == "assistant":
            return ("error", 400, "This model does not support assistant message prefill.")
        return "ok"

    with FakeServer(schedule=refuse) as server:
        with Store(db_path) as store, pytest.raises(AfError) as err:
            asyncio.run(runner.execute(_spec(server, ["x", "y"], prefill="auto"), store))
    message = str(err.value)
    assert "\n" not in message and "openai/x refused a prefilled assistant turn" in message
    assert message.endswith("run again with --prefill none")


def test_stats_export_and_pair_view_say_blocked_rule_and_prefill(db_path, tmp_path, capsys):
    from af_tui.cli import cli
    from af_tui.explorer.detail import pair_detail

    with FakeServer(schedule=_blocking) as server:
        with Store(db_path) as store:
            asyncio.run(runner.execute(_spec(server, ["filtered", "fine"], prefill="<"), store))
    with pytest.raises(SystemExit):
        cli.main(["stats", "--db", str(db_path)], prog_name="af-tui")
    out = capsys.readouterr().out
    assert "rule notebook" in out and "blocked" in out and "provider refused the request" in out
    with pytest.raises(SystemExit):
        cli.main(["stats", "--db", str(db_path), "--json"], prog_name="af-tui")
    rows = {r["tier"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["free"]["blocked"] == 1 and rows["free"]["n"] == 2 and rows["free"]["rule"] == "notebook"
    assert rows["free"]["complied_rate"] == pytest.approx(0.5)  # blocked: in n, not complied
    out_csv = tmp_path / "x.csv"
    with pytest.raises(SystemExit):
        cli.main(["export", str(out_csv), "--db", str(db_path)], prog_name="af-tui")
    import csv

    with open(out_csv, newline="", encoding="utf-8") as fh:
        exported = list(csv.DictReader(fh))
    assert {r["rule"] for r in exported} == {"notebook"} and "blocked" in {r["outcome"] for r in exported}
    with Store(db_path) as store:
        details = [pair_detail(store.conn, i) for (i,) in store.conn.execute("SELECT id FROM pairs")]
    samples = [d.free for d in details] + [d.paid for d in details]
    assert {s.prefill for s in samples} == {"<"} and {s.rule for s in samples} == {"notebook"}
    assert "blocked" in {s.outcome for s in samples}
