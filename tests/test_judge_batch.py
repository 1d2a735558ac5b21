"""`af-tui judge --batch` against the fake batch endpoint (tests/batch_server.py): the K votes of --samples K as
K batched requests per sample and nothing outside a batch, the same judgements as the interactive judge, resume
that collects pending batches instead of sending them again, failed votes sent again, the compliance judge."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from batch_server import BatchServer
from builders import make_store
from helpers import af_main_output

from af_tui.judge.batch import JOB, JudgeBatchOptions, judge_store_batch
from af_tui.judge.prompt import load_prompt
from af_tui.judge.run import JudgeSpec, judge_store
from af_tui.llm import simulated_judge as judge_sim
from af_tui.llm.client import RetryPolicy
from af_tui.llm.pricing import Price
from af_tui.store import batches as store_batches
from af_tui.store.db import Store

FAST = JudgeBatchOptions(poll_s=0.01)


def sim_judge_script(messages):
    """The fake server answers as the simulated judge would (well-formed)."""
    return judge_sim.reply(messages, "sim/judge-good")


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("AF_TUI_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("AF_TUI_SIM_BATCH_DIR", str(tmp_path / "sim-batches"))


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "s.sqlite"
    make_store(path, n_requests=6).close()
    return path


def _spec(server, **kw) -> JudgeSpec:
    kw.setdefault("policy", RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.02, timeout_s=10))
    kw.setdefault("prompt", load_prompt())
    return JudgeSpec(model="openai/fake-judge", api_base=server.url, **kw)


def _judgements(path) -> dict[int, tuple]:
    conn = sqlite3.connect(path)
    try:
        return {r[0]: r[1:] for r in conn.execute(
            "SELECT sample_id, verdict, score, k, votes_yes, votes_parsed, error FROM judgements")}
    finally:
        conn.close()


def _complied_with_scratchpad(path) -> set[int]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM samples WHERE outcome = 'complied' "
                                           "AND scratchpad IS NOT NULL AND TRIM(scratchpad) != ''")}
    finally:
        conn.close()


def test_k_votes_go_as_k_batched_requests_and_nothing_outside_a_batch(store_path, tmp_path):
    k = 3
    todo = _complied_with_scratchpad(store_path)
    with BatchServer(sim_judge_script) as server, Store(store_path) as store:
        result = asyncio.run(judge_store_batch(_spec(server, samples=k), store, options=FAST))
        assert server.requests == 0  # not one request outside a batch
        ids = server.custom_ids()
        bodies = [b for _, _, b in server.batch_requests]
    assert result.status == "done" and result.judged == len(todo) and result.remaining == 0
    assert sorted(ids) == sorted(f"s{s}-k{i}" for s in todo for i in range(k))  # K a sample, each once
    assert all(b["temperature"] == 1.0 for b in bodies)
    batched = _judgements(store_path)
    assert set(batched) == todo and all(j[2] == k and j[5] is None for j in batched.values())
    # the same judgements as the interactive judge asking the same server
    other = tmp_path / "interactive.sqlite"
    make_store(other, n_requests=6).close()
    with BatchServer(sim_judge_script) as server, Store(other) as store:
        asyncio.run(judge_store(_spec(server, samples=k), store.conn))
        assert server.requests == k * len(todo) and server.batch_request_count == 0
    assert _judgements(other) == batched


def test_the_compliance_judge_sends_one_batched_request_per_sample(store_path):
    prompt = load_prompt(task="compliance")
    with BatchServer(lambda m: "#overall_reasoning ok\n#scores\n1.a no\n1.b 0\n2.a fine\n2.b 4\n3.a fine\n3.b 4")\
            as server, Store(store_path) as store:
        result = asyncio.run(judge_store_batch(_spec(server, prompt=prompt, only="all"), store, options=FAST))
        assert server.requests == 0 and result.status == "done"
        assert sorted(server.custom_ids()) == sorted(f"s{s}-k0" for s in _judgements(store_path))
    assert result.judged == len(_judgements(store_path)) > 0


def test_a_stopped_judge_collects_its_pending_batch_and_sends_nothing_again(store_path, capsys):
    todo = _complied_with_scratchpad(store_path)
    with BatchServer(sim_judge_script, hold=True) as server:
        async def stopped_once_sent():
            stop = asyncio.Event()
            with Store(store_path) as store:
                task = asyncio.ensure_future(judge_store_batch(_spec(server, samples=2), store, stop=stop,
                                                               options=FAST))
                while not server.batches:
                    await asyncio.sleep(0.01)
                stop.set()
                return await task

        first = asyncio.run(stopped_once_sent())
        assert first.status == "stopped" and first.judged == 0 and first.remaining == len(todo)
        sent = server.batch_request_count
        assert sent == 2 * len(todo)
        with Store(store_path) as store:
            (row,) = store_batches.list_batches(store, job=JOB)
            assert row.status == "pending" and row.batch_id in server.batches and row.model == "openai/fake-judge"
        code, out, _ = af_main_output(capsys, "batches", "--db", str(store_path))  # listed, asked, not collected
        assert code == 0 and "(judge)  openai/fake-judge" in out and "in_progress" in out and "1 pending" in out
        code, _, err = af_main_output(capsys, "judge", "--db", str(store_path), "--model", "openai/fake-judge",
                                      "--api-base", server.url, "--samples", "2")  # without --batch: refused
        assert code == 2 and "judge batches of this prompt open at the provider (1); resume with --batch" in err
        assert server.requests == 0
        server.hold = False
        with Store(store_path) as store:
            again = asyncio.run(judge_store_batch(_spec(server, samples=2), store, options=FAST))
        assert server.batch_request_count == sent and server.requests == 0  # collected, never sent again
    assert again.status == "done" and again.judged == len(todo) and again.remaining == 0
    assert set(_judgements(store_path)) == todo


def test_a_failed_vote_is_sent_again_and_a_vote_that_keeps_failing_fails_the_judgement(store_path):
    todo = sorted(_complied_with_scratchpad(store_path))
    flaky, broken = f"s{todo[0]}-k1", f"s{todo[1]}-k0"
    seen: dict[str, int] = {}

    def fail_item(custom_id, body):
        seen[custom_id] = seen.get(custom_id, 0) + 1
        if custom_id == broken or (custom_id == flaky and seen[custom_id] == 1):
            return "error"
        return None

    with BatchServer(sim_judge_script, fail_item=fail_item) as server, Store(store_path) as store:
        result = asyncio.run(judge_store_batch(_spec(server, samples=2), store, options=FAST))
        assert server.requests == 0
    assert seen[flaky] == 2 and seen[broken] == FAST.max_tries  # only the failed votes were sent again
    assert all(seen[f"s{s}-k{i}"] == 1 for s in todo[2:] for i in range(2))
    judged = _judgements(store_path)
    assert judged[todo[0]][5] is None and judged[todo[0]][2] == 2  # both votes, the second from round 2
    assert judged[todo[1]][5].startswith("batch item failed (500)"), judged[todo[1]][5]
    assert result.counts.get("error") == 1 and result.remaining == 1


def test_batched_votes_are_priced_at_the_batch_price(store_path):
    mine = Price(2e-6, 8e-6, None, None, "your --price", batch=Price(1e-6, 4e-6, None, None, "your --price"))
    with BatchServer(sim_judge_script) as server, Store(store_path) as store:
        result = asyncio.run(judge_store_batch(_spec(server, samples=2, price=mine), store, options=FAST))
    assert result.cost and result.cost > 0
    # an interactive judge of the same votes at the interactive price costs twice as much
    with BatchServer(sim_judge_script) as server, Store(store_path) as store:
        conn = store.conn
        conn.execute("DELETE FROM judgements")
        conn.commit()
        interactive = asyncio.run(judge_store(_spec(server, samples=2, price=mine), conn))
    assert interactive.cost == pytest.approx(2 * result.cost)


def test_judge_batch_on_the_command_line(store_path, capsys, monkeypatch):
    monkeypatch.setenv("AF_TUI_BATCH_POLL_S", "0.01")
    with BatchServer(sim_judge_script) as server:
        code, _, err = af_main_output(capsys, "judge", "--db", str(store_path), "--model", "openai/fake-judge",
                                      "--api-base", server.url, "--batch", "--samples", "2")
        assert code == 0, err
        assert server.requests == 0 and server.batch_request_count == 2 * len(_judgements(store_path))
    assert "batch" in err and "every selected sample is judged" in err
    code, _, err = af_main_output(capsys, "judge", "--db", str(store_path), "--model", "openai/x",
                                  "--batch-size", "5")
    assert code == 2 and "--batch-size applies to --batch" in err
    code, _, err = af_main_output(capsys, "judge", "--db", str(store_path), "--model", "gemini/gemini-2.0-flash",
                                  "--batch")
    assert code == 2 and "has no batch API" in err


def test_sim_judge_answers_batches(store_path, monkeypatch):
    with Store(store_path) as store:
        result = asyncio.run(judge_store_batch(JudgeSpec(model="sim/judge", prompt=load_prompt(), samples=3), store,
                                               options=FAST))
    assert result.status == "done" and result.judged == len(_judgements(store_path)) > 0


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_kill_9_while_a_judge_batch_is_pending_then_the_same_command(store_path):
    """af-tui judge --batch as a child process, killed while its batch is pending: the same command collects the
    batch and the endpoint never held a vote twice."""
    import signal
    import subprocess
    import time

    from helpers import AF_TUI, REPO, af_process, clean_env

    todo = _complied_with_scratchpad(store_path)
    env = clean_env(AF_TUI_BATCH_POLL_S="0.05")
    with BatchServer(sim_judge_script, hold=True) as server:
        args = ["judge", "--db", str(store_path), "--model", "openai/fake-judge", "--api-base", server.url,
                "--batch", "--samples", "3"]
        proc = subprocess.Popen([*AF_TUI, *args], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not _pending_judge_batches(store_path):
                time.sleep(0.05)
            assert _pending_judge_batches(store_path), "the judge's batch did not become pending"
            time.sleep(0.2)  # a few polls of the held batch
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert len(server.custom_ids()) == 3 * len(todo)
        server.hold = False
        done = af_process(*args, env=env)
        assert done.returncode == 0, done.stderr
        ids = server.custom_ids()
        assert len(ids) == len(set(ids)) == 3 * len(todo) and server.requests == 0
    assert set(_judgements(store_path)) == todo


def _pending_judge_batches(path) -> int:
    try:
        conn = sqlite3.connect(path)
        try:
            return conn.execute("SELECT COUNT(*) FROM batches WHERE job = 'judge' AND status = 'pending'"
                                ).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def test_a_samples_votes_stay_in_one_batch_and_batches_keep_the_limits():
    from af_tui.judge.batch import _groups_split
    from af_tui.llm.batch import BatchRequest, Limits

    def group(s, k, text="x"):
        return [BatchRequest(f"s{s}-k{i}", {"messages": [{"role": "user", "content": text}]}) for i in range(k)]

    groups = [group(s, 3) for s in range(10)]
    chunks = _groups_split(groups, Limits(100, 10**9), batch_size=7)
    assert [len(c) for c in chunks] == [6, 6, 6, 6, 6]  # two samples a batch: a third would pass 7
    assert [r.custom_id for c in chunks for r in c] == [r.custom_id for g in groups for r in g]
    size = sum(r.size() for r in group(0, 3))
    assert [len(c) for c in _groups_split(groups[:4], Limits(100, int(2.5 * size / 0.98)), None)] == [6, 6]
    assert [len(c) for c in _groups_split([group(0, 5), group(1, 1)], Limits(100, 10**9), 2)] == [2, 2, 1, 1]


def test_a_batch_cancelled_meanwhile_is_not_sent_again(store_path):
    """`af-tui batches --cancel` while the judge waits: the session drops the batch and stops; the next command
    sends its samples afresh."""
    todo = _complied_with_scratchpad(store_path)
    with BatchServer(sim_judge_script, hold=True) as server:
        async def cancelled_meanwhile():
            from af_tui.experiment.batch_run import look_at_batches

            with Store(store_path) as store:
                task = asyncio.ensure_future(judge_store_batch(_spec(server), store, options=FAST))
                while not _pending_judge_batches(store_path):  # its id committed: a pending batch to cancel
                    await asyncio.sleep(0.01)
                with Store(store_path) as other:
                    await look_at_batches(other, cancel=True)
                return await task

        result = asyncio.run(cancelled_meanwhile())
        assert result.status == "stopped" and result.stop_reason == "batches cancelled"
        assert server.batch_request_count == len(todo) and server.cancels
        server.hold = False
        with Store(store_path) as store:
            again = asyncio.run(judge_store_batch(_spec(server), store, options=FAST))
    assert again.status == "done" and set(_judgements(store_path)) == todo
    assert server.batch_request_count == 2 * len(todo)  # sent afresh once


def test_a_batch_cancelled_at_the_provider_before_its_row_is_marked_is_not_sent_again(store_path):
    from af_tui.llm.batch import OpenAIBatches

    with BatchServer(sim_judge_script, hold=True) as server:
        async def cancelled_at_the_provider():
            with Store(store_path) as store:
                task = asyncio.ensure_future(judge_store_batch(_spec(server), store, options=FAST))
                while not _pending_judge_batches(store_path):
                    await asyncio.sleep(0.01)
                await OpenAIBatches(server.url).cancel(next(iter(server.batches)))  # the store not told
                return await task

        result = asyncio.run(cancelled_at_the_provider())
        assert result.status == "stopped" and result.stop_reason == "batches cancelled"
        assert len(server.batches) == 1 and server.requests == 0
    with Store(store_path) as store:
        assert [r.status for r in store_batches.list_batches(store, job=JOB)] == ["cancelled"]


def test_an_anthropic_batch_cancelled_at_the_provider_is_not_sent_again(store_path, monkeypatch):
    """Anthropic ends a cancelled batch ('ended') with 'canceled' item results: the judge treats them as the batch
    cancelled (not failed votes to send again) and stops; the next command sends its samples afresh."""
    from af_tui.llm.batch import AnthropicBatches

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-key")
    todo = _complied_with_scratchpad(store_path)
    with BatchServer(sim_judge_script, hold=True) as server:
        spec = JudgeSpec(model="anthropic/claude-sonnet-4-5", api_base=server.base, prompt=load_prompt(),
                         policy=RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.02, timeout_s=10))

        async def cancelled_at_the_provider():
            with Store(store_path) as store:
                task = asyncio.ensure_future(judge_store_batch(spec, store, options=FAST))
                while not _pending_judge_batches(store_path) and not task.done():
                    await asyncio.sleep(0.01)
                state = await AnthropicBatches(server.base).cancel(next(iter(server.batches)))  # the store not told
                assert state.provider_status == "ended"
                return await task

        result = asyncio.run(cancelled_at_the_provider())
        assert result.status == "stopped" and result.stop_reason == "batches cancelled"
        assert len(server.batches) == 1 and server.batch_request_count == len(todo) and _judgements(store_path) == {}
        with Store(store_path) as store:
            assert [r.status for r in store_batches.list_batches(store, job=JOB)] == ["cancelled"]
        server.hold = False
        with Store(store_path) as store:
            again = asyncio.run(judge_store_batch(spec, store, options=FAST))
    assert again.status == "done" and set(_judgements(store_path)) == todo
    assert server.batch_request_count == 2 * len(todo)  # sent afresh once


def test_a_batch_cancelled_while_it_is_being_submitted_is_cancelled_at_the_provider(store_path, monkeypatch):
    """`af-tui batches --cancel` between the row's record ('submitting') and its provider id's commit: the judge
    does not mark it pending over the cancel; it cancels the batch the provider just accepted, stops, and the next
    command sends its samples afresh."""
    from af_tui.experiment.batch_run import look_at_batches
    from af_tui.llm import batch as llm_batch

    real = llm_batch.OpenAIBatches.submit

    async def cancelled_meanwhile(self, model, requests, **kw):
        state = await real(self, model, requests, **kw)
        with Store(store_path) as other:  # as `af-tui batches --cancel` in another process, before mark_submitted
            await look_at_batches(other, cancel=True)
        return state

    todo = _complied_with_scratchpad(store_path)
    monkeypatch.setattr(llm_batch.OpenAIBatches, "submit", cancelled_meanwhile)
    with BatchServer(sim_judge_script, hold=True) as server:
        with Store(store_path) as store:
            result = asyncio.run(judge_store_batch(_spec(server), store, options=FAST))
        assert result.status == "stopped" and result.stop_reason == "batches cancelled"
        assert server.cancels == list(server.batches) and server.pending() == []
        with Store(store_path) as store:
            rows = store_batches.list_batches(store, job=JOB)
        assert [(r.status, r.batch_id) for r in rows] == [("cancelled", next(iter(server.batches)))]
        monkeypatch.setattr(llm_batch.OpenAIBatches, "submit", real)
        server.hold = False
        with Store(store_path) as store:
            again = asyncio.run(judge_store_batch(_spec(server), store, options=FAST))
    assert again.status == "done" and set(_judgements(store_path)) == todo
    assert server.batch_request_count == 2 * len(todo)  # sent afresh once
