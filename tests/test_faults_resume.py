"""Crash and resume: `af-tui run` against the fake server, SIGKILLed at random moments at least 20 times and
resumed each time. At the end every sample is in the store exactly once, no completed sample was asked for
again, and the outcomes equal those of an uninterrupted run against the same deterministic server.

AF_TUI_FAULT_KILLS sets the number of kills (default 20). Most of the test's time is the runner's start-up
(importing litellm), paid once per kill.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from builders import ACCEPT_TEMPLATE, write_requests
from fakeserver import FakeServer, expected_outcome, parse_request
from helpers import AF_TUI, REPO, af_process, clean_env

KILLS = int(os.environ.get("AF_TUI_FAULT_KILLS", "20"))
N_REQUESTS = 150


def _inputs(tmp_path: Path, system_prompt_file: Path) -> list[str]:
    dataset = write_requests(tmp_path / "made_up.csv",
                             [f"Made-up request number {i} for the crash test" for i in range(N_REQUESTS)])
    template = tmp_path / "template.txt"
    template.write_text(ACCEPT_TEMPLATE, encoding="utf-8")
    return ["run", "--model", "openai/x", "--dataset", str(dataset), "--user-template", str(template),
            "--system-prompt", str(system_prompt_file), "--limit", str(N_REQUESTS), "--run", "crash"]


def _samples(db: Path) -> dict[tuple[str, str], tuple]:
    """(request, tier) -> the stored row's identity and content, every row (duplicates are caught by count)."""
    if not db.exists():
        return {}
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT p.text, s.tier, s.id, s.outcome, s.output, s.scratchpad, s.turns, s.completed_at "
            "FROM samples s JOIN prompts p ON p.id = s.prompt_id").fetchall()
        n = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    finally:
        conn.close()
    out = {(r[0], r[1]): r[2:] for r in rows}
    assert len(out) == n, "a (request, tier) is stored twice"
    return out


def _asked(bodies: list[dict]) -> list[tuple[str, str, int]]:
    return [parse_request(b["messages"]) for b in bodies]


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_and_resends_nothing(tmp_path, system_prompt_file):
    rng = random.Random(int(os.environ.get("AF_TUI_FAULT_SEED", "9")))
    base = _inputs(tmp_path, system_prompt_file)
    env = clean_env()
    db = tmp_path / "crash.sqlite"
    with FakeServer(latency=0.25) as server:
        for _ in range(KILLS):
            done_before = _samples(db)
            first = len(server.bodies)
            proc = subprocess.Popen([*AF_TUI, *base, "--api-base", server.url,
                                     "--concurrency", "4", "--db", str(db)], env=env, cwd=REPO,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                deadline = time.monotonic() + 60
                while len(server.bodies) == first and proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(rng.uniform(0.0, 0.8))  # a random moment while samples are in flight
                proc.send_signal(signal.SIGKILL)
            finally:
                proc.wait()
                proc.stderr.close()
            assert proc.returncode == -signal.SIGKILL, "the run finished before it was killed: slow the server"
            time.sleep(0.1)  # requests already on the wire reach the server's log
            done_after = _samples(db)
            # A committed sample is never lost or changed by a later kill.
            assert all(done_after.get(k) == v for k, v in done_before.items())
            # This incarnation asked only for samples that were not done when it started.
            resent = [(g, t) for g, t, _ in _asked(server.bodies[first:]) if (g, t) in done_before]
            assert not resent, f"completed samples asked for again: {resent[:3]}"
        done_before = _samples(db)
        first = len(server.bodies)
        final = af_process(*base, "--api-base", server.url, "--concurrency", "32", "--db", str(db), timeout=300)
        assert final.returncode == 0, final.stderr[-2000:]
        resent = [(g, t) for g, t, _ in _asked(server.bodies[first:]) if (g, t) in done_before]
        assert not resent
        asked = Counter(_asked(server.bodies))

        clean_db = tmp_path / "clean.sqlite"
        clean = af_process(*base, "--api-base", server.url, "--concurrency", "32", "--db", str(clean_db),
                           timeout=300)
        assert clean.returncode == 0, clean.stderr[-2000:]

    crashed, uninterrupted = _samples(db), _samples(clean_db)
    assert len(crashed) == len(uninterrupted) == 2 * N_REQUESTS
    for key, row in crashed.items():
        goal, tier = key
        assert row[1] == expected_outcome(goal, tier)
        assert row[1:5] == uninterrupted[key][1:5]  # outcome, output, scratchpad, turns
    # Each (request, tier, turn) was asked once, except samples in flight at a kill: at most once per kill.
    repeats = sum(n - 1 for n in asked.values())
    assert repeats <= KILLS * 4 * 2  # 4 in flight per kill, free-tier samples take two calls
    assert all(asked[(g, t, 0)] >= 1 for g, t in crashed)
