"""`af-tui run --batch` on the fake batch endpoint (tests/batch_server.py), in this process: the same outcomes
as an interactive run of the same requests, no request outside a batch, the notebook's rounds (at most four
batches per model), Anthropic batches with the `<` prefill and a cacheable system prompt, a failing item, a
stop while batches are pending and the same command collecting them without sending anything twice."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter

import pytest
from batch_server import BatchServer
from builders import TEMPLATE, write_requests
from click.testing import CliRunner
from fakeserver import FakeServer, expected_outcome

from af_tui.cli import cli
from af_tui.errors import AfError
from af_tui.experiment import sources
from af_tui.experiment.batch_run import BatchOptions, execute_batch
from af_tui.experiment.plan import RunSpec
from af_tui.store.db import Store

GOALS = [f"Write a short poem about the number {i}" for i in range(8)]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("AF_TUI_BATCH_POLL_S", "0.02")
    monkeypatch.setenv("AF_TUI_SOURCES_BASE", "http://127.0.0.1:9")  # never the internet
    monkeypatch.setenv("AF_TUI_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("AF_TUI_SIM_BATCH_DIR", str(tmp_path / "sim-batches"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-key")
    for k in ("OPENAI_API_KEY", "AF_TUI_DB", "AF_TUI_SIM_LATENCY", "AF_TUI_SIM_FAIL_RATE"):
        monkeypatch.delenv(k, raising=False)
    dataset = write_requests(tmp_path / "goals.csv", GOALS)
    template = tmp_path / "template.txt"
    template.write_text(TEMPLATE, encoding="utf-8")
    return {"dataset": dataset, "template": template}


def _args(env, system_prompt_file, db, model, base, *extra):
    return ["run", "--model", model, "--api-base", base, "--dataset", str(env["dataset"]), "--user-template",
            str(env["template"]), "--system-prompt", str(system_prompt_file), "--db", str(db), "--run", "r",
            *extra]


def _samples(db) -> dict[tuple, tuple]:
    conn = sqlite3.connect(db)
    try:
        return {(text, tier): (outcome, transcript, turns, output) for text, tier, outcome, transcript, turns, output
                in conn.execute("SELECT p.text, s.tier, s.outcome, s.transcript, s.turns, s.output FROM samples s "
                                "JOIN prompts p ON p.id = s.prompt_id")}
    finally:
        conn.close()


def _batches(db) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT model, round, status, requests FROM batches ORDER BY id").fetchall()
    finally:
        conn.close()


def test_batch_run_stores_what_an_interactive_run_stores_and_sends_nothing_outside_a_batch(
        env, system_prompt_file, tmp_path):
    with FakeServer() as server:
        interactive = CliRunner().invoke(cli, _args(env, system_prompt_file, tmp_path / "i.sqlite", "openai/x",
                                                    server.url))
    assert interactive.exit_code == 0, interactive.output
    with BatchServer() as server:
        result = CliRunner().invoke(cli, _args(env, system_prompt_file, tmp_path / "b.sqlite", "openai/x",
                                               server.url, "--batch"))
        assert result.exit_code == 0, result.output
        assert server.requests == 0  # nothing outside a batch
        ids = server.custom_ids()
    assert len(ids) == len(set(ids)) == 16 + 8  # every first turn, and the free tier's <NEXT/> turn, once
    batched, plain = _samples(tmp_path / "b.sqlite"), _samples(tmp_path / "i.sqlite")
    assert batched == plain and len(batched) == 16
    assert all(outcome == expected_outcome(goal, tier) for (goal, tier), (outcome, *_) in batched.items())
    assert _batches(tmp_path / "b.sqlite") == [("openai/x", 1, "collected", 16), ("openai/x", 2, "collected", 8)]


def test_anthropic_batches_carry_the_prefill_and_a_cacheable_system_prompt(env, system_prompt_file, tmp_path):
    model = "anthropic/claude-sonnet-4-5"
    with BatchServer() as server:
        result = CliRunner().invoke(cli, _args(env, system_prompt_file, tmp_path / "a.sqlite", model, server.base,
                                               "--batch"))
        assert result.exit_code == 0, result.output
        bodies = [b for _, _, b in server.batch_requests]
        assert server.requests == 0 and len(bodies) == 24
    for body in bodies:
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert body["system"][0]["text"] == system_prompt_file.read_text(encoding="utf-8")
        assert body["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "<"}]}
        assert body["max_tokens"] == 4000 and body["temperature"] == 1.0
    samples = _samples(tmp_path / "a.sqlite")
    assert all(outcome == expected_outcome(goal, tier) for (goal, tier), (outcome, *_) in samples.items())
    from af_tui.llm.pricing import price

    batch_price = price(model, batch=True)
    assert batch_price.input == price(model).input / 2  # litellm's batch price: half
    conn = sqlite3.connect(tmp_path / "a.sqlite")
    for cost, inp, out, read, write in conn.execute("SELECT cost, input_tokens, output_tokens, cache_read_tokens, "
                                                     "cache_write_tokens FROM samples"):
        assert cost == pytest.approx(batch_price.cost(inp, out, read, write)) and cost > 0
    assert all(transcript.count('"content": "<') for (_, _), (_, transcript, _, _) in samples.items())


def test_sim_models_answer_batches_as_they_answer_interactively(env, system_prompt_file, tmp_path):
    base = ["run", "--model", "sim/faker", "--model", "sim/sloppy", "--dataset", str(env["dataset"]),
            "--user-template", str(env["template"]), "--system-prompt", str(system_prompt_file), "--run", "s",
            "--epochs", "2"]
    assert CliRunner().invoke(cli, [*base, "--db", str(tmp_path / "i.sqlite")]).exit_code == 0
    result = CliRunner().invoke(cli, [*base, "--db", str(tmp_path / "b.sqlite"), "--batch", "--batch-size", "20"])
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(tmp_path / "b.sqlite")
    per_round = Counter(conn.execute("SELECT model, round FROM batches").fetchall())
    assert per_round[("sim/faker", 1)] == 2  # 32 first turns in batches of at most 20
    assert max(r for _, r in per_round) <= 4
    query = ("SELECT model, prompt_id, tier, epoch, outcome, transcript FROM samples ORDER BY model, prompt_id, "
             "tier, epoch")
    assert conn.execute(query).fetchall() == sqlite3.connect(tmp_path / "i.sqlite").execute(query).fetchall()


def test_a_failing_item_is_sent_again_and_one_that_keeps_failing_is_stored_as_an_error(
        env, system_prompt_file, tmp_path):
    tries = Counter()

    def fail(custom_id, body):
        text = body["messages"][1]["content"]
        tries[custom_id] += 1
        if "number 3" in text and "True" in text:
            return "error"  # always: stored as an error after three sends
        if "number 5" in text and tries[custom_id] == 1:
            return "expired"  # once: the next round answers it
        return None

    db = tmp_path / "f.sqlite"
    with BatchServer(fail_item=fail) as server:
        result = CliRunner().invoke(cli, _args(env, system_prompt_file, db, "openai/x", server.url, "--batch"))
        assert server.requests == 0
    assert result.exit_code == 1, result.output  # errors left: the same command retries them
    assert "1 samples failed" in result.output
    samples = _samples(db)
    assert samples[(GOALS[3], "free")][0] == "error" and samples[(GOALS[5], "free")][0] == "complied"
    assert sum(o == "error" for o, *_ in samples.values()) == 1
    assert max(tries.values()) == 3
    with BatchServer() as server:  # the same command sends the error's sample again, and only it
        again = CliRunner().invoke(cli, _args(env, system_prompt_file, db, "openai/x", server.url, "--batch"))
        assert again.exit_code == 0, again.output
        assert len(server.custom_ids()) == 2  # its two turns
    assert _samples(db)[(GOALS[3], "free")][0] == "complied"


def _spec(env, system_prompt_file, base, name="k") -> RunSpec:
    return RunSpec(name=name, models=["openai/x"], variants=[sources.system_prompt(str(system_prompt_file))],
                   template=sources.user_template(str(env["template"])), dataset=sources.dataset(str(env["dataset"])),
                   api_base=base)


async def _stop_once_pending(spec: RunSpec, db, server: BatchServer, polls_s: float = 0.0):
    """Run the batch run until the (held) server has a batch pending, polling it for polls_s more, then stop it."""
    stop = asyncio.Event()
    with Store(db) as store:
        task = asyncio.ensure_future(execute_batch(spec, store, stop=stop, options=BatchOptions(poll_s=0.01)))
        while not server.pending():
            await asyncio.sleep(0.01)
        await asyncio.sleep(polls_s)
        stop.set()
        return await task


async def _act_once_pending(spec: RunSpec, db, act):
    """Run the batch run until its first batch's row is pending, await act() (a cancel from elsewhere), then let
    the run end; its result."""
    with Store(db) as store:
        task = asyncio.ensure_future(execute_batch(spec, store, options=BatchOptions(poll_s=0.01)))
        while not _batches(db) or _batches(db)[0][2] != "pending":
            await asyncio.sleep(0.01)
        await act()
        return await task


def test_a_stopped_batch_run_collects_its_pending_batches_without_sending_them_again(
        env, system_prompt_file, tmp_path):
    db = tmp_path / "k.sqlite"
    with BatchServer(hold=True) as server:
        spec = _spec(env, system_prompt_file, server.url)

        first = asyncio.run(_stop_once_pending(spec, db, server, polls_s=0.05))  # a few polls of the held batch
        assert first.status == "stopped" and server.retrieves >= 1
        rows = _batches(db)
        assert rows == [("openai/x", 1, "pending", 16)]
        conn = sqlite3.connect(db)
        assert conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 0
        assert conn.execute("SELECT status FROM runs").fetchone()[0] == "stopped"
        server.hold = False
        with Store(db) as store:
            second = asyncio.run(execute_batch(spec, store, options=BatchOptions(poll_s=0.01)))
        assert second.status == "done" and second.errors == 0
        ids = server.custom_ids()
        assert len(ids) == len(set(ids)) == 24 and server.requests == 0
    assert len(_samples(db)) == 16


def test_a_model_without_a_batch_api_is_refused_in_one_line(env, system_prompt_file, tmp_path):
    result = CliRunner().invoke(cli, ["run", "--model", "gemini/gemini-2.5-pro", "--batch", "--db",
                                      str(tmp_path / "g.sqlite"), "--dataset", str(env["dataset"])])
    assert result.exit_code != 0
    line = str(result.exception).strip()
    assert "no batch API" in line and "anthropic/" in line and "\n" not in line
    assert not (tmp_path / "g.sqlite").exists()  # nothing written


def test_af_tui_batches_lists_pending_batches_with_the_providers_status_and_cancels_them(
        env, system_prompt_file, tmp_path):
    db = tmp_path / "c.sqlite"
    with BatchServer(hold=True) as server:
        spec = _spec(env, system_prompt_file, server.url, name="c")

        asyncio.run(_stop_once_pending(spec, db, server))
        listed = CliRunner().invoke(cli, ["batches", "--db", str(db)])
        assert listed.exit_code == 0, listed.output
        header, row, summary = listed.output.strip().splitlines()
        assert header.split()[:4] == ["run", "model", "round", "status"]
        assert row.split()[:8] == ["c", "openai/x", "1", "pending", "in_progress", "16", "0", "0"]
        assert "1 batches, 1 pending" in summary
        args = _args(env, system_prompt_file, db, "openai/x", server.url, "--prefill", "none")
        args[args.index("--run") + 1] = "c"
        interactive = CliRunner().invoke(cli, args)  # would send the pending batch's samples a second time
        assert interactive.exit_code != 0 and "1 batches pending" in str(interactive.exception)
        assert "--batch" in str(interactive.exception) and server.requests == 0
        cancelled = CliRunner().invoke(cli, ["batches", "--db", str(db), "--run", "c", "--cancel"])
        assert cancelled.exit_code == 0 and "(cancelled)" in cancelled.output
        assert server.cancels == [server.batch_requests[0][0]]
        server.hold = False
        with Store(db) as store:  # the cancelled batch's samples are sent afresh
            again = asyncio.run(execute_batch(spec, store, options=BatchOptions(poll_s=0.01)))
        assert again.status == "done" and len(_samples(db)) == 16
    assert [r[2] for r in _batches(db)] == ["cancelled", "collected", "collected"]
    assert "no run named 'nope'" in str(CliRunner().invoke(cli, ["batches", "--db", str(db), "--run", "nope"]).exception)


def test_the_demo_runs_through_simulated_batches(env, tmp_path):
    db = tmp_path / "demo.sqlite"
    result = CliRunner().invoke(cli, ["demo", "--no-tui", "--batch", "--latency", "0", "--db", str(db)])
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 320
    rounds = conn.execute("SELECT model, MAX(round), COUNT(*) FROM batches GROUP BY model").fetchall()
    assert {m for m, _, _ in rounds} == {"sim/faker", "sim/refuser", "sim/complier", "sim/sloppy"}
    assert all(most <= 4 and n == most for _, most, n in rounds)  # a batch per model per round


def test_a_dry_run_with_batch_quotes_the_batch_price(env, system_prompt_file, tmp_path):
    args = ["run", "--model", "openai/gpt-4o", "--dataset", str(env["dataset"]), "--user-template",
            str(env["template"]), "--system-prompt", str(system_prompt_file), "--dry-run", "--typical-output", "500"]
    plain = CliRunner().invoke(cli, args)
    batched = CliRunner().invoke(cli, [*args, "--batch"])
    assert plain.exit_code == 0 and batched.exit_code == 0, batched.output
    assert "Priced for --batch" in batched.output and "Priced for --batch" not in plain.output
    assert "(interactive $" in batched.output and "50% of it" in batched.output


def test_a_batch_cancelled_while_the_run_waits_is_not_sent_again_by_that_run(env, system_prompt_file, tmp_path):
    from af_tui.experiment.batch_run import look_at_batches

    db = tmp_path / "x.sqlite"
    with BatchServer(hold=True) as server:
        spec = _spec(env, system_prompt_file, server.url, name="x")

        async def cancel_meanwhile():
            with Store(db) as other:  # as `af-tui batches --cancel` in another process
                await look_at_batches(other, cancel=True)
        result = asyncio.run(_act_once_pending(spec, db, cancel_meanwhile))
        assert result.status == "stopped" and len(server.batches) == 1 and server.cancels
    assert _batches(db) == [("openai/x", 1, "cancelled", 16)] and _samples(db) == {}


def _four_turns(messages: list[dict]) -> str:
    """Thinks over three <NEXT/> turns, then answers: every sample takes the notebook's four turns."""
    from fakeserver import parse_request

    _, tier, turn = parse_request(messages)
    if turn < 3:
        return f"<SCRATCHPAD_REASONING>[fake] {tier} tier, turn {turn + 1}: more to think.</SCRATCHPAD_REASONING>"
    answer = "<request_fully_accepted/> ok" if tier == "free" else "<rejected/>"
    return f"<SCRATCHPAD_REASONING>[fake] done.</SCRATCHPAD_REASONING><OUTPUT>{answer}</OUTPUT>"


def test_replies_of_four_turns_take_four_batches_per_model(env, system_prompt_file, tmp_path):
    db = tmp_path / "four.sqlite"
    with BatchServer(_four_turns) as server:
        args = _args(env, system_prompt_file, db, "openai/x", server.url, "--batch")
        args += ["--model", "openai/y"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert server.requests == 0 and len(server.custom_ids()) == 2 * 16 * 4
    per_model = Counter(model for model, *_ in _batches(db))
    assert per_model == {"openai/x": 4, "openai/y": 4}
    samples = _samples(db)
    assert all(turns == 4 for (_, _), (_, _, turns, _) in samples.items())
    assert {outcome for (_, tier), (outcome, *_) in samples.items() if tier == "free"} == {"complied"}


@pytest.mark.parametrize("model", ["openai/x", "anthropic/claude-sonnet-4-5"])
def test_a_provider_that_refuses_the_prefill_stops_the_batch_run_in_one_line(env, system_prompt_file, tmp_path,
                                                                              model):
    refusal = (400, "Expected last role User or Tool (got Assistant)")
    db = tmp_path / "p.sqlite"
    with BatchServer(fail_item=lambda custom_id, body: refusal) as server:
        base = server.url if model.startswith("openai/") else server.base
        result = CliRunner().invoke(cli, _args(env, system_prompt_file, db, model, base, "--batch"))
    assert result.exit_code != 0  # an AfError: main() makes it one line and exit code 2
    message = str(result.exception)
    assert message.startswith(f"{model} refused a prefilled assistant turn") and "--prefill none" in message
    assert _samples(db) == {} and [r[2] for r in _batches(db)] == ["failed"]  # no error rows


def test_a_batch_not_sent_is_sent_by_the_next_run_from_its_row(env, system_prompt_file, tmp_path, monkeypatch):
    """Killed (here: the provider failing) after the row is committed and before the provider's id is: the next
    run sends the row's items in a new batch and drops the unsent row."""
    from af_tui.llm import batch as llm_batch

    db = tmp_path / "u.sqlite"
    real = llm_batch.OpenAIBatches.submit
    calls = []

    async def refuse_once(self, model, requests, **kw):
        calls.append(len(requests))
        if len(calls) == 1:
            raise llm_batch.BatchError("openai/x: creating a batch: 503 service unavailable")
        return await real(self, model, requests, **kw)

    monkeypatch.setattr(llm_batch.OpenAIBatches, "submit", refuse_once)
    with BatchServer() as server:
        spec = _spec(env, system_prompt_file, server.url, name="u")
        with Store(db) as store, pytest.raises(AfError, match="the batch was not sent; run the same command"):
            asyncio.run(execute_batch(spec, store, options=BatchOptions(poll_s=0.01)))
        assert _batches(db) == [("openai/x", 1, "submitting", 16)] and server.custom_ids() == []
        with Store(db) as store:
            result = asyncio.run(execute_batch(spec, store, options=BatchOptions(poll_s=0.01)))
        assert result.status == "done"
        ids = server.custom_ids()
        assert len(ids) == len(set(ids)) == 24
    assert _batches(db) == [("openai/x", 1, "collected", 16), ("openai/x", 2, "collected", 8)]


def test_a_batch_cancelled_at_the_provider_before_its_row_is_marked_is_not_sent_again(env, system_prompt_file,
                                                                                      tmp_path):
    """The run polls between the provider's cancel and the store's 'cancelled' (af-tui batches --cancel does them in
    that order): the provider's cancelled status is enough, the items are not sent again as failed ones."""
    from af_tui.llm.batch import OpenAIBatches

    db = tmp_path / "x.sqlite"
    with BatchServer(hold=True) as server:
        spec = _spec(env, system_prompt_file, server.url, name="x")

        async def cancelled_at_the_provider():
            await OpenAIBatches(server.url).cancel(next(iter(server.batches)))  # the store not told
        result = asyncio.run(_act_once_pending(spec, db, cancelled_at_the_provider))
        assert result.status == "stopped" and len(server.batches) == 1 and server.batch_request_count == 16
    assert _batches(db) == [("openai/x", 1, "cancelled", 16)] and _samples(db) == {}


def test_an_anthropic_batch_cancelled_at_the_provider_is_not_sent_again_by_that_run(env, system_prompt_file,
                                                                                    tmp_path):
    """Anthropic ends a cancelled batch ('ended', not a cancelled status) with 'canceled' item results: those items
    are the batch cancelled, as OpenAI's 'cancelled' batch, not failures to send again; the next run sends them
    afresh."""
    from af_tui.llm.batch import AnthropicBatches

    model = "anthropic/claude-sonnet-4-5"
    db = tmp_path / "ac.sqlite"
    with BatchServer(hold=True) as server:
        spec = _spec(env, system_prompt_file, server.base, name="ac")
        spec.models = [model]

        async def cancelled_at_the_provider():
            state = await AnthropicBatches(server.base).cancel(next(iter(server.batches)))  # the store not told
            assert state.provider_status == "ended"
        result = asyncio.run(_act_once_pending(spec, db, cancelled_at_the_provider))
        assert result.status == "stopped" and len(server.batches) == 1 and server.batch_request_count == 16
        assert _batches(db) == [(model, 1, "cancelled", 16)] and _samples(db) == {}
        server.hold = False
        with Store(db) as store:
            again = asyncio.run(execute_batch(spec, store, options=BatchOptions(poll_s=0.01)))
        ids = [c for b, c, _ in server.batch_requests if b != next(iter(server.batches))]
    assert again.status == "done" and len(ids) == len(set(ids)) == 16 + 8  # afresh, each once
    assert [r[2] for r in _batches(db)] == ["cancelled", "collected", "collected"] and len(_samples(db)) == 16


def test_a_batch_cancelled_while_it_is_being_submitted_is_cancelled_at_the_provider_and_not_sent_again(
        env, system_prompt_file, tmp_path, monkeypatch):
    """`af-tui batches --cancel` between the row's record ('submitting') and its provider id's commit: the sender
    does not mark it pending over the cancel; it cancels the batch the provider just accepted and drops it."""
    from af_tui.experiment.batch_run import look_at_batches
    from af_tui.llm import batch as llm_batch

    db = tmp_path / "s.sqlite"
    real = llm_batch.OpenAIBatches.submit

    async def cancelled_meanwhile(self, model, requests, **kw):
        state = await real(self, model, requests, **kw)
        with Store(db) as other:  # as `af-tui batches --cancel` in another process, before mark_submitted
            views = await look_at_batches(other, cancel=True)
        assert [v.row.status for v in views] == ["submitting"]
        return state

    monkeypatch.setattr(llm_batch.OpenAIBatches, "submit", cancelled_meanwhile)
    with BatchServer(hold=True) as server:
        spec = _spec(env, system_prompt_file, server.url, name="s")
        with Store(db) as store:
            result = asyncio.run(execute_batch(spec, store, options=BatchOptions(poll_s=0.01)))
        assert result.status == "stopped" and server.batch_request_count == 16
        assert server.cancels == list(server.batches) and server.pending() == []
        assert _batches(db) == [("openai/x", 1, "cancelled", 16)] and _samples(db) == {}
        conn = sqlite3.connect(db)
        assert conn.execute("SELECT batch_id, error FROM batches").fetchall() == [
            (next(iter(server.batches)), "cancelled while it was sent; cancelled at the provider too")]
        conn.close()
        monkeypatch.setattr(llm_batch.OpenAIBatches, "submit", real)
        server.hold = False
        with Store(db) as store:
            again = asyncio.run(execute_batch(spec, store, options=BatchOptions(poll_s=0.01)))
    assert again.status == "done" and server.batch_request_count == 16 + 16 + 8  # afresh, once
    assert [r[2] for r in _batches(db)] == ["cancelled", "collected", "collected"]


def test_an_anthropic_batch_cancelled_part_way_stores_what_it_answered_and_sends_only_the_rest_afresh(
        env, system_prompt_file, tmp_path):
    """Cancelled after answering 4 of its 16 items: the run stores those (their <NEXT/> turns wait in the row's
    carry), sends nothing more and stops; the next run sends the 12 canceled first turns afresh and the carried
    turns, never an answered first turn again."""
    from af_tui.llm.batch import AnthropicBatches

    model = "anthropic/claude-sonnet-4-5"
    db = tmp_path / "ap.sqlite"
    with BatchServer(hold=True, answered_before_cancel=4) as server:
        spec = _spec(env, system_prompt_file, server.base, name="ap")
        spec.models = [model]

        async def cancelled_part_way():
            await AnthropicBatches(server.base).cancel(next(iter(server.batches)))  # the store not told
        result = asyncio.run(_act_once_pending(spec, db, cancelled_part_way))
        first = server.custom_ids()
        assert result.status == "stopped" and server.batch_request_count == 16
        assert _batches(db) == [(model, 1, "cancelled", 16)]
        stored = _samples(db)
        assert 0 < len(stored) <= 4  # the answered items that needed no <NEXT/> turn
        server.hold = False
        with Store(db) as store:
            again = asyncio.run(execute_batch(spec, store, options=BatchOptions(poll_s=0.01)))
        second = server.custom_ids()[16:]
    assert again.status == "done" and len(_samples(db)) == 16
    assert len(second) == len(set(second)) and set(second) & set(first[:4]) == set()  # nothing answered re-sent
    assert set(first[4:]) <= set(second)  # the canceled ones afresh
    assert len(second) == 12 + 8  # 12 first turns and every free-tier sample's <NEXT/> turn, each once
