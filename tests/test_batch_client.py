"""The batch client (af_tui/llm/batch.py) against the fake batch endpoint (tests/batch_server.py): each batched
request is the interactive one, batches go in and come back for OpenAI-compatible bases, Anthropic's Message
Batches and sim/, failed and expired items say so, and batches are split within the providers' limits."""

from __future__ import annotations

import asyncio

import pytest
from batch_server import BatchServer, batch_server  # noqa: F401 - the fixture

from af_tui.errors import AfError
from af_tui.llm import batch
from af_tui.llm import client as llm

SYSTEM = "You are a test assistant. Think in <SCRATCHPAD_REASONING> tags."
USER = "<INPUT><is_free_tier_user>True</is_free_tier_user>\n<user_input>Tell a joke</user_input></INPUT>"


def _messages(prefill: bool) -> list[dict]:
    out = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    return out + ([{"role": "assistant", "content": "<"}] if prefill else [])


@pytest.fixture(autouse=True)
def _keys(monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-key")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("AF_TUI_SIM_BATCH_DIR", str(tmp_path / "sim-batches"))


@pytest.mark.parametrize("model, options", [
    ("openai/gpt-4o-mini", dict(temperature=0.7, max_tokens=123)),
    ("openai/llama", dict(temperature=1.0, max_tokens=4000, prefill=True, reasoning_effort="low")),
    ("anthropic/claude-sonnet-4-5", dict(temperature=1.0, max_tokens=4000, prefill=True, cache_prompt=True)),
    ("anthropic/claude-sonnet-4-5", dict(temperature=1.0, max_tokens=4000, cache_prompt=True, thinking_budget=1000)),
    ("anthropic/claude-sonnet-4-5", dict(temperature=0.0, max_tokens=4000, prefill=True, cache_prompt=False)),
])
def test_a_batched_request_is_the_interactive_one(batch_server, model, options):  # noqa: F811
    options = dict(options)
    messages = _messages(options.pop("prefill", False))
    base = batch_server.url if model.startswith("openai/") else batch_server.base
    asyncio.run(llm.complete(model, messages, api_base=base, **options))
    (interactive,) = batch_server.bodies
    assert batch.request_body(model, messages, **options) == interactive
    if model.startswith("anthropic/") and options.get("cache_prompt"):
        assert interactive["system"][0]["cache_control"] == {"type": "ephemeral"}


def _roundtrip(client, model, requests, server=None):
    async def go():
        state = await client.submit(model, requests)
        assert state.total == len(requests) or client.provider != "openai"
        while not (state := await client.status(state.batch_id)).ended:
            await asyncio.sleep(0.01)
        return state, {r.custom_id: r for r in await client.results(state.batch_id)}
    return asyncio.run(go())


@pytest.mark.parametrize("model", ["openai/x", "anthropic/claude-sonnet-4-5", "sim/faker"])
def test_a_batch_goes_in_and_comes_back_with_failed_items_marked(batch_server, model):  # noqa: F811
    batch_server.fail_item = lambda custom_id, body: "error" if custom_id == "p1-free-t0" else None
    base = batch_server.url if model.startswith("openai/") else batch_server.base
    client = batch.batch_client(model, base)
    requests = [batch.BatchRequest(batch.custom_id(f"p{i}", "free", "t0"),
                                   batch.request_body(model, _messages(prefill=True), max_tokens=100, seed=0))
                for i in range(3)]
    state, results = _roundtrip(client, model, requests)
    assert set(results) == {"p0-free-t0", "p1-free-t0", "p2-free-t0"}
    assert results["p0-free-t0"].reply.text and results["p0-free-t0"].reply.input_tokens
    if model.startswith("sim/"):
        assert batch_server.batch_requests == [] and results["p1-free-t0"].reply is not None
        return
    assert results["p1-free-t0"].reply is None and results["p1-free-t0"].retry and "failed" in \
        results["p1-free-t0"].error or "errored" in results["p1-free-t0"].error
    assert (state.done, state.failed) == (2, 1)
    assert batch_server.requests == 0  # nothing outside the batch
    assert batch_server.custom_ids() == [r.custom_id for r in requests]
    assert [b for _, _, b in batch_server.batch_requests] == [r.body for r in requests]


@pytest.mark.parametrize("model", ["openai/x", "anthropic/claude-sonnet-4-5"])
def test_expired_items_and_cancel(batch_server, model):  # noqa: F811
    base = batch_server.url if model.startswith("openai/") else batch_server.base
    client = batch.batch_client(model, base)
    requests = [batch.BatchRequest(f"c{i}", batch.request_body(model, _messages(False), max_tokens=50))
                for i in range(2)]
    batch_server.fail_item = lambda custom_id, body: "expired" if custom_id == "c1" else None
    state, results = _roundtrip(client, model, requests)
    if model.startswith("openai/"):
        assert state.provider_status == "expired" and set(results) == {"c0"}  # unanswered: not in any file
    else:
        assert results["c1"].error == "batch item expired" and results["c1"].retry
    batch_server.hold = True

    async def cancel():
        held = await client.submit(model, requests)
        assert not (await client.status(held.batch_id)).ended
        return await client.cancel(held.batch_id)
    cancelled = asyncio.run(cancel())
    assert cancelled.ended and cancelled.provider_status in ("cancelled", "ended")
    assert batch_server.cancels == [cancelled.batch_id]


def test_sim_batches_wait_their_latency_and_survive_the_client(tmp_path):
    client = batch.batch_client("sim/refuser@latency=0.2")
    body = batch.request_body("sim/refuser@latency=0.2", _messages(False), seed=3)
    state = asyncio.run(client.submit("sim/refuser@latency=0.2", [batch.BatchRequest("a", body)]))
    assert not state.ended
    again = batch.batch_client("sim/refuser")  # another process would find it the same way
    import time
    time.sleep(0.25)
    assert asyncio.run(again.status(state.batch_id)).ended
    (result,) = asyncio.run(again.results(state.batch_id))
    assert "<rejected/>" in result.reply.text


def test_a_model_without_a_batch_api_gets_one_line_naming_those_that_have_one():
    with pytest.raises(AfError) as info:
        batch.batch_client("gemini/gemini-2.5-pro")
    message = str(info.value)
    assert "\n" not in message and "openai/" in message and "anthropic/" in message and "sim/" in message


def test_split_keeps_within_requests_and_bytes():
    requests = [batch.BatchRequest(f"r{i}", {"messages": [{"role": "user", "content": "x" * 1000}]})
                for i in range(10)]
    one = requests[0].size()
    assert [len(c) for c in batch.split(requests, batch.Limits(4, 10**9))] == [4, 4, 2]
    assert [len(c) for c in batch.split(requests, batch.Limits(100, 10**9), batch_size=3)] == [3, 3, 3, 1]
    by_bytes = batch.split(requests, batch.Limits(100, int(one * 3.5 / 0.98)))
    assert [len(c) for c in by_bytes] == [3, 3, 3, 1] and all(batch.batch_bytes(c) <= one * 3.5 for c in by_bytes)
    assert batch.custom_id("p12", "free", "e0", "t1") == "p12-free-e0-t1"
    assert batch.custom_id("v", "a b/c") == "v-a_b_c"
    with pytest.raises(ValueError):
        batch.custom_id("x" * 65)


def test_poll_until_finished_polls_until_finished_and_a_stop_ends_the_wait_at_once():
    """The polling loop run --batch and judge --batch share: it polls until the session has finished; a stop set
    while it waits wakes it at once and polls no more."""
    import asyncio
    import time

    from af_tui.llm.batch import poll_until_finished

    class Session:
        def __init__(self, polls_to_finish):
            self.polls, self.polls_to_finish = 0, polls_to_finish

        @property
        def finished(self):
            return self.polls >= self.polls_to_finish

        async def poll(self):
            self.polls += 1

    done = Session(3)
    asyncio.run(poll_until_finished(done, asyncio.Event(), 0.001))
    assert done.polls == 3

    async def stopped_while_waiting():
        stop, session = asyncio.Event(), Session(10)
        asyncio.get_running_loop().call_later(0.05, stop.set)
        started = time.monotonic()
        await poll_until_finished(session, stop, 30)
        return session.polls, time.monotonic() - started

    polls, waited = asyncio.run(stopped_while_waiting())
    assert polls == 0 and waited < 5
