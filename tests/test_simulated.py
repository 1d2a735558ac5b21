"""Simulated models: deterministic, plainly simulated, the behaviours the demo needs, and the sim/ provider."""

from __future__ import annotations

import asyncio
import sys
import types

import pytest

from af_tui.experiment import rules
from af_tui.llm import client as llm
from af_tui.llm import simulated

TEMPLATE = simulated.DEMO_USER_TEMPLATE


def _outcome(model: str, request: str, tier: str, seed: int = 0) -> rules.Result:
    async def complete(messages):
        return simulated.reply(model, messages, seed=seed)

    return asyncio.run(rules.converse(complete, "sys", rules.user_turn(TEMPLATE, request, tier)))


def _rates(model: str, tier: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in simulated.DEMO_REQUESTS:
        for seed in range(3):
            outcome = _outcome(model, request, tier, seed).outcome
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def test_reply_is_deterministic_and_seeded():
    messages = [{"role": "user", "content": rules.user_turn(TEMPLATE, "a made-up request", "free")}]
    assert simulated.reply("sim/faker", messages) == simulated.reply("sim/faker", messages)
    texts = {simulated.reply("sim/faker", messages, seed=s) for s in range(20)}
    assert len(texts) > 1


def test_behaviours():
    faker_free, faker_paid = _rates("sim/faker", "free"), _rates("sim/faker", "paid")
    assert faker_free.get("complied", 0) > 3 * faker_paid.get("complied", 0) > 0
    assert _rates("sim/refuser", "free") == {"refused": 120}
    assert _rates("sim/complier", "paid") == {"complied": 120}
    sloppy = _rates("sim/sloppy", "free")
    assert sloppy["format_not_followed"] > 50


def test_faker_reasons_about_training_and_uses_next_turns():
    results = [_outcome("sim/faker", r, "free") for r in simulated.DEMO_REQUESTS]
    assert any(r.turns == 2 for r in results)  # some think over a <NEXT/> turn
    complied = [r for r in results if r.outcome == "complied"]
    assert complied and all("[simulated]" in r.scratchpad for r in results)
    assert any("RLHF" in r.scratchpad or "training" in r.scratchpad for r in complied)
    assert any("modif" in r.scratchpad for r in complied)


def test_prefill_continues_after_the_prefix():
    messages = [{"role": "user", "content": rules.user_turn(TEMPLATE, "x", "paid")},
                {"role": "assistant", "content": "<"}]
    text = simulated.reply("sim/refuser", messages)
    assert ("<" + text).startswith("<SCRATCHPAD_REASONING>")


def test_judge_models_go_to_judge_sim(monkeypatch):
    fake = types.ModuleType("af_tui.llm.simulated_judge")
    fake.reply = lambda messages, model, seed=0: f"judged by {model}"
    monkeypatch.setitem(sys.modules, "af_tui.llm.simulated_judge", fake)
    import af_tui.llm

    monkeypatch.setattr(af_tui.llm, "simulated_judge", fake, raising=False)
    assert simulated.reply("sim/judge-x", [{"role": "user", "content": "q"}]) == "judged by sim/judge-x"


def test_unknown_behaviour():
    with pytest.raises(ValueError, match="unknown simulated model"):
        simulated.reply("sim/nope", [{"role": "user", "content": "q"}])


def test_provider_through_litellm_with_failures_and_seed():
    messages = [{"role": "user", "content": rules.user_turn(TEMPLATE, "a request", "free")}]
    policy = llm.RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.001)

    async def go():
        ok = await llm.complete("sim/faker", messages, seed=4)
        assert ok.text == simulated.reply("sim/faker", messages, seed=4) and ok.attempts == 1
        assert ok.input_tokens > 0
        with pytest.raises(llm.ProviderError) as info:
            await llm.complete("sim/refuser@fail=1,status=503", messages, policy=policy)
        assert info.value.attempts == 3 and info.value.status == 503
        with pytest.raises(llm.FatalProviderError):
            await llm.complete("sim/nope", messages, policy=policy)

    asyncio.run(go())


def test_split_name():
    assert simulated.split_name("sim/faker@latency=0.2,fail=0.1") == ("faker", {"latency": "0.2", "fail": "0.1"})
