"""Cost before and during a run: the --dry-run quote against what a fake server counts, prompt caching on a
fake Anthropic Messages endpoint, --max-cost, per-model limits with Retry-After and back-off."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

import pytest
from fakeserver import FakeServer, single_turn_script
from helpers import af_main_output

from af_tui.commands.options import BUDGET_REACHED
from af_tui.commands.run import parse_concurrency
from af_tui.errors import AfError
from af_tui.experiment import runner
from af_tui.experiment.budget import Budget
from af_tui.experiment.plan import RunSpec
from af_tui.experiment.quote import quote
from af_tui.experiment.sources import Dataset, Text
from af_tui.llm import client as llm
from af_tui.llm.limits import Throttle
from af_tui.llm.tasks import run_grouped
from af_tui.store.db import Store, sha256_text
from af_tui.store.sample import Sample

FAST = llm.RetryPolicy(attempts=4, base_delay_s=0.001, max_delay_s=0.01, timeout_s=10)
SYSTEM = "You are a careful assistant in a test. Think in <SCRATCHPAD_REASONING> tags, answer in <OUTPUT>. " * 60


def _text(text: str, name: str) -> Text:
    return Text(text, name, sha256_text(text), "test")


@pytest.fixture
def template(realdata) -> str:
    return (realdata / "honly_user_template.txt").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _spec(api_base: str, template: str, n: int = 10, **kw) -> RunSpec:
    requests = [f"Explain step {i} of making a paper boat, with care" for i in range(n)]
    opts = dict(name="t", models=["openai/gpt-4o-mini"], variants=[_text(SYSTEM, "stand_in")],
                template=_text(template, "tpl"), dataset=Dataset(requests, "test", sha256_text(str(requests)), "t"),
                api_base=api_base, concurrency=4, policy=FAST)
    opts.update(kw)
    return RunSpec(**opts)


def _run(spec, db_path):
    with Store(db_path) as store:
        return asyncio.run(runner.execute(spec, store))


def _rows(db_path, sql):
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_dry_run_input_tokens_within_2_percent_of_the_server(template, db_path):
    with FakeServer(single_turn_script, count_tokens=True) as server:
        spec = _spec(server.url, template, n=12)
        (q,) = quote(spec)
        result = _run(spec, db_path)
    assert result.status == "done" and server.requests == q.samples == 24
    assert abs(q.input_tokens - server.prompt_tokens) <= 0.02 * server.prompt_tokens
    assert q.system_tokens < q.input_tokens and q.price is not None and q.cost_cached < q.cost


def test_dry_run_on_the_command_line_sends_and_writes_nothing(capsys, tmp_path, template, monkeypatch):
    dataset = tmp_path / "goals.csv"
    dataset.write_text("goal\nWrite a poem\nWrite a list\n", encoding="utf-8")
    (tmp_path / "sys.txt").write_text(SYSTEM, encoding="utf-8")
    (tmp_path / "tpl.txt").write_text(template, encoding="utf-8")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)  # a quote needs no key
    db = tmp_path / "never.sqlite"
    code, out, err = af_main_output(
        capsys, "run", "--model", "anthropic/claude-sonnet-4-5", "--model", "openai/some-local-model", "--dry-run",
        "--dataset", str(dataset), "--system-prompt", str(tmp_path / "sys.txt"), "--user-template",
        str(tmp_path / "tpl.txt"), "--typical-output", "500", "--db", str(db))
    assert code == 0, err
    assert not db.exists()
    assert "dry run: nothing is sent" in out and "4 samples per model" in out
    assert "--typical-output 500 a reply: your estimate" in out
    assert "without prompt caching" in out and "with the system prompt cached" in out
    assert "not in litellm's cost map" in out and "models without a price not included" in out
    # what is bought: the sources with their hashes, and how each sample is asked (prefill per provider)
    assert "requests           goals.csv (" in out and "user template      tpl (" in out
    assert "system prompt      sys (" in out and "prefill '<' (auto)" in out  # the notebook prefills a local model too
    code, out, _ = af_main_output(
        capsys, "run", "--model", "openai/some-local-model", "--dry-run", "--dataset", str(dataset),
        "--system-prompt", str(tmp_path / "sys.txt"), "--user-template", str(tmp_path / "tpl.txt"), "--db", str(db))
    assert code == 0 and "no price: litellm's cost map lists none of these models" in out and "$0.0000" not in out


def test_anthropic_system_prompt_cached_and_prefilled_cache_tokens_stored(template, db_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake-for-tests")
    with FakeServer(single_turn_script, cache_read=900, cache_write=100) as server:
        spec = _spec(server.base, template, n=3, models=["anthropic/claude-sonnet-4-5"], prefill=True)
        result = _run(spec, db_path)
        bodies = list(server.bodies)
    assert result.status == "done" and len(bodies) == 6
    for body in bodies:
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert body["system"][0]["text"] == SYSTEM
        assert body["messages"][-1]["role"] == "assistant"  # the "<" prefill, continued by the model
        assert body["max_tokens"] == 4000  # the notebook's, which Anthropic requires
    rows = _rows(db_path, "SELECT cache_read_tokens, cache_write_tokens, cost FROM samples")
    assert rows and all(r[0] == 900 and r[1] == 100 and r[2] > 0 for r in rows)
    config = json.loads(_rows(db_path, "SELECT config FROM runs")[0][0])
    assert config["max_tokens"] == {"anthropic/claude-sonnet-4-5": 4000} and config["cache_prompt"] is True


def test_no_cache_prompt_sends_the_plain_system_prompt(template, db_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake-for-tests")
    with FakeServer(single_turn_script) as server:
        spec = _spec(server.base, template, n=1, models=["anthropic/claude-sonnet-4-5"], cache_prompt=False)
        _run(spec, db_path)
        bodies = list(server.bodies)
    assert len(bodies) == 2  # one request on each tier
    assert all(not any("cache_control" in b for b in body["system"]) if isinstance(body["system"], list)
               else body["system"] == SYSTEM for body in bodies)


def test_max_cost_stops_before_the_budget_and_resumes(template, db_path):
    with FakeServer(single_turn_script, count_tokens=True) as server:
        one = _spec(server.url, template, n=1, name="probe")
        _run(one, db_path)
        per_sample = _rows(db_path, "SELECT MAX(cost) FROM samples")[0][0]
        assert per_sample and per_sample > 0
        budget = 10.5 * per_sample
        spec = _spec(server.url, template, n=40, concurrency=3, max_cost=budget, name="b")
        result = _run(spec, db_path)
        spent = _rows(db_path, "SELECT SUM(s.cost), COUNT(*) FROM samples s JOIN runs r ON r.id = s.run_id "
                               "WHERE r.name = 'b'")[0]
        assert result.budget_reached and result.status == "stopped"
        assert spent[0] <= budget + 3 * per_sample  # past it by at most the calls in flight
        assert 8 <= spent[1] < 80
        before = server.requests
        again = _run(spec, db_path)  # the same budget: nothing more is sent
        assert again.budget_reached and server.requests == before
        more = _run(_spec(server.url, template, n=40, concurrency=3, max_cost=1000.0, name="b"), db_path)
    assert more.status == "done" and not more.budget_reached


def test_max_cost_on_the_command_line_exits_4(capsys, tmp_path, template):
    dataset = tmp_path / "goals.csv"
    dataset.write_text("goal\n" + "\n".join(f"Write note {i}" for i in range(30)) + "\n", encoding="utf-8")
    (tmp_path / "sys.txt").write_text(SYSTEM, encoding="utf-8")
    (tmp_path / "tpl.txt").write_text(template, encoding="utf-8")
    with FakeServer(single_turn_script, count_tokens=True) as server:
        code, out, err = af_main_output(
            capsys, "run", "--model", "openai/gpt-4o-mini", "--api-base", server.url, "--dataset", str(dataset),
            "--system-prompt", str(tmp_path / "sys.txt"), "--user-template", str(tmp_path / "tpl.txt"),
            "--max-cost", "0.0005", "--concurrency", "2", "--db", str(tmp_path / "s.sqlite"))
    assert code == BUDGET_REACHED, err
    assert "raise --max-cost to go on" in err and "stored provider cost" in err


def test_max_cost_refuses_a_model_without_a_price(capsys, tmp_path, template):
    (tmp_path / "goals.csv").write_text("goal\nWrite a poem\n", encoding="utf-8")
    (tmp_path / "sys.txt").write_text(SYSTEM, encoding="utf-8")
    (tmp_path / "tpl.txt").write_text(template, encoding="utf-8")
    code, _, err = af_main_output(capsys, "run", "--model", "sim/faker", "--max-cost", "1", "--dataset",
                                  str(tmp_path / "goals.csv"), "--system-prompt", str(tmp_path / "sys.txt"),
                                  "--user-template", str(tmp_path / "tpl.txt"), "--db", str(tmp_path / "s.sqlite"))
    assert code == 2 and "no price" in err


def test_budget_counts_calls_in_flight():
    b = Budget(1.0)
    assert b.may_start("m")
    b.finished("m", 0.3)  # now 0.3 a sample is expected
    assert b.may_start("m") and b.may_start("m")  # 0.3 spent + 0.3 in flight + 0.3 next <= 1.0, then 0.9
    assert not b.may_start("m") and b.reached  # 0.3 + 0.6 in flight + 0.3 > 1.0
    assert Budget(None).may_start("m")


def test_retry_after_is_waited_out_for_that_model(template, db_path):
    with FakeServer(single_turn_script, schedule=[("retry_after", 1)]) as server:
        spec = _spec(server.url, template, n=1, models=["openai/x"], concurrency=1)
        result = _run(spec, db_path)
        times = list(server.times)
    assert result.status == "done" and server.requests == 3
    assert times[1] - times[0] >= 0.95  # FAST's own back-off is 10 ms at most


def test_throttle_halves_after_429_and_recovers_slowly():
    t = Throttle(16)
    t.rate_limit(None)
    assert t.limit == 8 and t.throttled and t.state()["max"] == 16
    for _ in range(10):
        t.success()
    assert t.limit == 9
    t.rate_limit(2.0)
    assert t.limit == 4 and t.state()["paused_s"] > 1


def test_a_throttled_model_does_not_hold_the_others():
    async def main():
        slow, fast = Throttle(1), []
        slow.rate_limit(30)  # paused for 30 s

        async def work(item):
            model, i = item
            if model == "slow":
                await slow.ready()
            fast.append(i)

        stop = asyncio.Event()
        task = asyncio.ensure_future(run_grouped([([("slow", 0)], 1), ([("fast", i) for i in range(20)], 2)],
                                                 work, stop=stop))
        started = time.monotonic()
        while len(fast) < 20 and time.monotonic() - started < 5:
            await asyncio.sleep(0.01)
        stop.set()
        await task
        return fast

    assert len(asyncio.run(main())) == 20


def test_concurrency_per_model_parsing():
    assert parse_concurrency(("8", "openai/a=2"), ["openai/a", "openai/b"]) == (8, {"openai/a": 2})
    assert parse_concurrency((), ["m"]) == (20, {})
    with pytest.raises(AfError, match="names a model not in this run"):
        parse_concurrency(("x/y=3",), ["m"])
    with pytest.raises(AfError, match="N or MODEL=N"):
        parse_concurrency(("many",), ["m"])


def test_monitor_shows_cost_and_throttling_per_model(db_path):
    from af_tui.explorer.monitor import running_runs
    from af_tui.tui.widgets.run_monitor import throttle_text

    with Store(db_path) as store:
        run_id = store.start_run("r", {"models": ["openai/a", "openai/b"]}, planned=4)
        pid = store.ensure_prompts(["a request"])[0]
        variant = store.ensure_variant("v", "SYS")
        store.save_samples([Sample(run_id=run_id, model=m, variant=variant, prompt_id=pid, prompt_index=0,
                                   tier="free", outcome="refused", cost=c)
                            for m, c in (("openai/a", 0.25), ("openai/b", None))])
        store.heartbeat(run_id, live={"throttle": {"openai/a": Throttle(16).state() | {"limit": 4}}})
        (run,) = running_runs(store.conn)
    a, b = run.models
    assert a.cost == 0.25 and b.cost is None
    assert a.throttle["limit"] == 4 and b.throttle is None
    assert throttle_text(a.throttle) == " throttled: limit 4/16"


def test_stats_shows_the_stored_cost_per_model(db_path, capsys):
    with Store(db_path) as store:
        run_id = store.start_run("r", {"models": ["openai/a"]})
        pids = store.ensure_prompts(["one", "two"])
        variant = store.ensure_variant("v", "SYS")
        store.save_samples([Sample(run_id=run_id, model="openai/a", variant=variant, prompt_id=p,
                                   prompt_index=i, tier=tier, outcome="refused", cost=0.5,
                                   cache_read_tokens=100, cache_write_tokens=10)
                            for i, p in enumerate(pids) for tier in ("free", "paid")])
    code, out, err = af_main_output(capsys, "stats", "--db", str(db_path), "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert {r["tier"]: r["cost"] for r in rows} == {"free": 1.0, "paid": 1.0}
    assert all(r["cost_source"] == "stored provider cost" and r["cache_read_tokens"] == 200 for r in rows)
    code, out, err = af_main_output(capsys, "stats", "--db", str(db_path))
    assert code == 0 and "Cost per model" in out and "2.0000" in out and "stored provider cost" in out


def test_the_dry_run_names_the_models_each_prefill_applies_to(tmp_path, capsys, monkeypatch):
    """auto prefills '<' for Claude and nothing for OpenAI's GPT: the quote says which model gets which, not
    `prefill ''/'<' (auto)`."""
    for name, text in (("goals.csv", "goal\nWrite a poem\n"), ("sys.txt", "A stand-in system prompt."),
                       ("tpl.txt", "{is_free_tier_user} {user_input}")):
        (tmp_path / name).write_text(text)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code, out, err = af_main_output(
        capsys, "run", "--model", "anthropic/claude-sonnet-4-5", "--model", "openai/gpt-4o", "--dry-run",
        "--dataset", str(tmp_path / "goals.csv"), "--system-prompt", str(tmp_path / "sys.txt"), "--user-template",
        str(tmp_path / "tpl.txt"), "--db", str(tmp_path / "never.sqlite"))
    assert code == 0, err
    assert "''/'<'" not in out and "· prefill" not in out
    assert "  prefill (auto)     '<' for anthropic/claude-sonnet-4-5 · none for openai/gpt-4o" in out
