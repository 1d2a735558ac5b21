"""kill -9 while a batch is pending, then the same `af-tui run --batch` command: every sample is stored once and
the endpoint's batches held no request twice (af-tui as a child process against tests/batch_server.py)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time

import pytest
from batch_server import BatchServer
from builders import TEMPLATE, write_requests
from fakeserver import expected_outcome
from helpers import AF_TUI, REPO, af_process, clean_env

GOALS = [f"Describe the colour number {i}" for i in range(10)]


def _pending(db) -> list[tuple]:
    try:
        conn = sqlite3.connect(db)
        try:
            return conn.execute("SELECT round, batch_id FROM batches WHERE status = 'pending'").fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return []  # the store or its schema is not there yet


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("held_turn", ["t0", "t1"])  # killed in round 1, or in round 2 (round 1 collected)
def test_kill_9_while_a_batch_is_pending_then_the_same_command(tmp_path, system_prompt_file, held_turn):
    db = tmp_path / "k.sqlite"
    template = tmp_path / "template.txt"
    template.write_text(TEMPLATE, encoding="utf-8")
    dataset = write_requests(tmp_path / "goals.csv", GOALS)
    env = clean_env(AF_TUI_BATCH_POLL_S="0.05", AF_TUI_SOURCES_BASE="http://127.0.0.1:9",
                    AF_TUI_DATA=str(tmp_path / "data"))
    with BatchServer(hold=lambda b: any(c.endswith(held_turn) for c, _ in b.requests)) as server:
        args = ["run", "--model", "openai/x", "--api-base", server.url, "--dataset", str(dataset), "--user-template",
                str(template), "--system-prompt", str(system_prompt_file), "--db", str(db), "--run", "k", "--batch"]
        proc = subprocess.Popen([*AF_TUI, *args], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            held_round = 1 if held_turn == "t0" else 2
            while time.monotonic() < deadline and held_round not in [r for r, _ in _pending(db)]:
                time.sleep(0.05)
            assert held_round in [r for r, _ in _pending(db)], "the held batch did not become pending"
            time.sleep(0.2)  # a few polls of the held batch
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        sent_before = len(server.custom_ids())
        server.hold = False
        done = af_process(*args, env=env)
        assert done.returncode == 0, done.stderr
        ids = server.custom_ids()
        assert len(ids) == len(set(ids)) == 30  # 20 first turns, 10 <NEXT/> turns of the free tier: each once
        assert sent_before == (20 if held_turn == "t0" else 30)  # what the killed run had sent
        assert server.requests == 0
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT p.text, s.tier, s.outcome FROM samples s JOIN prompts p ON p.id = s.prompt_id"
                        ).fetchall()
    assert len(rows) == 20 and len({(t, tier) for t, tier, _ in rows}) == 20
    assert all(outcome == expected_outcome(text, tier) for text, tier, outcome in rows)
    assert conn.execute("SELECT COUNT(*) FROM batches WHERE status != 'collected'").fetchone()[0] == 0
