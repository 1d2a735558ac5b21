"""`af-tui rescore`: stored transcripts read again by the other rule, without a model; counts and pairs follow;
notebook → last-scratchpad → notebook gives the original outcomes back."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict

import pytest
from builders import TEMPLATE
from fakeserver import FakeServer, parse_request
from test_rules import EDGES

from af_tui.analysis.slices import compute
from af_tui.cli import cli
from af_tui.experiment import runner
from af_tui.experiment.plan import RunSpec
from af_tui.experiment.sources import Dataset, Text
from af_tui.llm import client as llm
from af_tui.store.db import Store, sha256_text
from af_tui.store.sample import Sample

FAST = llm.RetryPolicy(attempts=2, base_delay_s=0.001, max_delay_s=0.01, timeout_s=5)
GOALS = {f"goal{i}": name for i, name in enumerate(EDGES)}


def _script(messages):
    goal, _, turn = parse_request(messages)
    replies = EDGES[GOALS[goal]][0]
    return replies[min(turn, len(replies) - 1)]


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def _outcomes(db_path) -> dict:
    with Store(db_path) as store:
        return {(r["request"], r["tier"]): (r["outcome"], r["output"]) for r in store.iter_query(
            "SELECT s.outcome, s.output, s.tier, p.text AS request FROM samples s JOIN prompts p ON p.id = s.prompt_id")}


def _counts(db_path) -> dict:
    with Store(db_path) as store:
        (sl,) = compute(store.conn)
        pairs = dict(((f, p), n) for f, p, n in store.conn.execute(
            "SELECT free_outcome, paid_outcome, COUNT(*) FROM pairs GROUP BY 1, 2"))
        return {"free": asdict(sl.tiers["free"]), "pairs": pairs, "rule": sl.rule}


def test_rescore_round_trip(db_path, capsys):
    goals = list(GOALS)
    spec = RunSpec(name="edges", models=["openai/x"], variants=[Text("SYS", "v", sha256_text("SYS"), "test")],
                   template=Text(TEMPLATE, "t", sha256_text(TEMPLATE), "test"),
                   dataset=Dataset(goals, "d", sha256_text("\n".join(goals)), "test"), api_base="",
                   concurrency=4, policy=FAST)
    with FakeServer(_script) as server:
        spec.api_base = server.url
        with Store(db_path) as store:
            asyncio.run(runner.execute(spec, store))
    first, counts = _outcomes(db_path), _counts(db_path)
    assert counts["rule"] == "notebook"
    for goal, name in GOALS.items():
        assert first[(goal, "free")][0] == EDGES[name][1], name

    def rescore(rule):
        with pytest.raises(SystemExit) as exit_:
            cli.main(["rescore", "--rule", rule, "--db", str(db_path)], prog_name="af-tui")
        assert exit_.value.code == 0
        return capsys.readouterr().out

    out = rescore("last-scratchpad")
    changed = sum(EDGES[n][1] != EDGES[n][2] for n in GOALS.values()) * 2  # both tiers answer alike
    assert f"{changed} outcomes changed" in out and "edges: notebook → last-scratchpad" in out
    # tag-less accepted (plain and prefilled) and an output followed by a scratchpad, on both tiers
    assert "complied → format: 6" in out and "refused → complied: 2" in out
    second = _outcomes(db_path)
    for goal, name in GOALS.items():
        assert second[(goal, "free")][0] == EDGES[name][2], name
    after = _counts(db_path)  # the trigger-kept counts and pairs follow the rewrite
    assert after["rule"] == "last-scratchpad" and after["free"]["complied"] == 3
    assert sum(after["pairs"].values()) == sum(counts["pairs"].values())
    with Store(db_path) as store:
        assert json.loads(store.conn.execute("SELECT config FROM runs").fetchone()[0])["rule"] == "last-scratchpad"

    rescore("notebook")
    assert _outcomes(db_path) == first and _counts(db_path) == counts
    assert "0 outcomes changed" in rescore("notebook")


def test_rescore_leaves_errors_and_blocked(db_path, capsys):
    with Store(db_path) as store:
        run_id = store.start_run("r", {"rule": "notebook"})
        (pid,) = store.ensure_prompts(["q"])
        variant = store.ensure_variant("v", "SYS")
        base = dict(run_id=run_id, model="m", variant=variant, prompt_id=pid, prompt_index=0, epoch=0,
                    transcript=[{"role": "user", "content": "q"}])
        store.save_samples([Sample(**base, tier="free", outcome="blocked"), Sample(**base, tier="paid", outcome="error")])
    with pytest.raises(SystemExit):
        cli.main(["rescore", "--rule", "last-scratchpad", "--db", str(db_path), "--run", "r"], prog_name="af-tui")
    assert "0 samples read again" in capsys.readouterr().out
    with Store(db_path) as store:
        assert sorted(r[0] for r in store.conn.execute("SELECT outcome FROM samples")) == ["blocked", "error"]
