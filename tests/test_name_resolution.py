"""Offline, or with a host name that does not exist, a run stops at once with one line naming the host, as it does
for an unreachable --api-base (it used to retry the lookup six times per sample). A `.invalid` name never
resolves (RFC 6761), so these need no internet."""

from __future__ import annotations

import sqlite3

import pytest
from helpers import af_process, clean_env

from af_tui.llm import client as llm

NOWHERE = "http://nonexistent.invalid:1/v1"


async def test_a_failed_name_lookup_is_fatal_at_the_first_attempt_and_names_the_host():
    with pytest.raises(llm.FatalProviderError) as caught:
        await llm.complete("openai/x", [{"role": "user", "content": "hi"}], api_base=NOWHERE,
                           policy=llm.RetryPolicy(attempts=6))
    assert caught.value.attempts == 1
    assert "cannot resolve the host nonexistent.invalid" in caught.value.message


def test_other_failures_are_not_name_lookups():
    assert llm.unresolved_host(ConnectionRefusedError(111, "Connection refused")) is None
    assert llm.unresolved_host(ValueError("x")) is None


@pytest.mark.slow
def test_a_run_whose_provider_host_does_not_resolve_stops_with_one_line(realdata, system_prompt_file, tmp_path):
    # no --api-base (so no reachability check before the run): the provider's own base URL, from the environment
    env = {**clean_env(), "OPENAI_API_BASE": NOWHERE, "OPENAI_API_KEY": "sk-test-not-a-key"}
    db = tmp_path / "s.sqlite"
    proc = af_process("run", "--model", "openai/gpt-4o", "--dataset", str(realdata / "harmful_behaviors.csv"),
                      "--user-template", str(realdata / "honly_user_template.txt"), "--system-prompt",
                      str(system_prompt_file), "--limit", "5", "--run", "d", "--db", str(db), env=env, timeout=60)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower() and "af-tui" in line]
    assert len(errors) == 1 and "cannot resolve the host nonexistent.invalid" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    with sqlite3.connect(db) as conn:  # nothing stored as an error sample: the same command resumes cleanly
        assert conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 0
