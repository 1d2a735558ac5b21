"""Crash and resume: `af-tui run` against the fake server, SIGKILLed at three chosen moments — when its first
request reaches the server (nothing stored yet), mid-run (half the samples stored, two in flight) and near
the end (the last four samples to go, the run's closing commit ahead) — and resumed each time. At the end
every sample is in the store exactly once, no completed sample was asked for again, and the outcomes equal
those of an uninterrupted run against the same deterministic server.

The soak — twenty kills at random moments of a 150-request run — is `python bench/bench_crash_resume.py`
(its figure in bench/README.md). Most of the time is the runner's start-up (importing litellm), paid once
per kill.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from builders import ACCEPT_TEMPLATE, write_requests
from fakeserver import FakeServer, expected_outcome, parse_request
from helpers import AF_TUI, REPO, af_main, af_process, clean_env

# Two in flight: a commit (the runner batches them every 50 ms) stores at most two samples, so that when the
# kill near the end sees four or three samples to go, at least one of them has not been asked for yet: the run
# has a whole reply's latency left, however late a busy machine lets the poll below look.
CONCURRENCY = 2


@dataclass
class Moment:
    """Where one incarnation of the run stands, polled every few milliseconds until its kill."""

    stored: int  # samples in the store
    total: int  # samples the run makes in all
    since_first_request: float | None  # seconds since this incarnation's first request reached the server


def _inputs(tmp_path: Path, system_prompt_file: Path, n_requests: int) -> list[str]:
    dataset = write_requests(tmp_path / "made_up.csv",
                             [f"Made-up request number {i} for the crash test" for i in range(n_requests)])
    template = tmp_path / "template.txt"
    template.write_text(ACCEPT_TEMPLATE, encoding="utf-8")
    return ["run", "--model", "openai/x", "--dataset", str(dataset), "--user-template", str(template),
            "--system-prompt", str(system_prompt_file), "--limit", str(n_requests), "--run", "crash"]


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


def _stored(db: Path) -> int:
    try:
        conn = sqlite3.connect(db)
        try:
            return conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # no store yet, or no schema yet
        return 0


def _asked(bodies: list[dict]) -> list[tuple[str, str, int]]:
    return [parse_request(b["messages"]) for b in bodies]


def crash_and_resume(tmp_path: Path, system_prompt_file: Path, kills: Iterable[Callable[[Moment], bool]], *,
                     n_requests: int, latency: float, concurrency: int = CONCURRENCY) -> dict:
    """Start the run, SIGKILL it when kill(moment) says so, check what it left, once per kill; then resume it
    to the end and compare with an uninterrupted run. Returns figures for a report."""
    base = _inputs(tmp_path, system_prompt_file, n_requests)
    total = 2 * n_requests
    env = clean_env()
    db = tmp_path / "crash.sqlite"
    stored_at_kill = []
    started = time.monotonic()
    with FakeServer(latency=latency) as server:
        for kill in kills:
            done_before = _samples(db)
            first = len(server.bodies)
            proc = subprocess.Popen([*AF_TUI, *base, "--api-base", server.url, "--concurrency", str(concurrency),
                                     "--db", str(db)], env=env, cwd=REPO,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                deadline = time.monotonic() + 60
                first_request_at = None
                while proc.poll() is None and time.monotonic() < deadline:
                    if first_request_at is None and len(server.bodies) > first:
                        first_request_at = time.monotonic()
                    since = None if first_request_at is None else time.monotonic() - first_request_at
                    if kill(Moment(_stored(db), total, since)):
                        break
                    time.sleep(0.005)
                proc.send_signal(signal.SIGKILL)
            finally:
                proc.wait()
                stderr = proc.stderr.read().decode(errors="replace")
                proc.stderr.close()
            assert proc.returncode == -signal.SIGKILL, "the run ended before its kill: " + stderr[-2000:]
            time.sleep(0.1)  # requests already on the wire reach the server's log
            done_after = _samples(db)
            stored_at_kill.append(len(done_after))
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
        crashed_s = time.monotonic() - started

        clean_db = tmp_path / "clean.sqlite"  # uninterrupted, in this process (no second litellm start-up)
        assert af_main(*base, "--api-base", server.url, "--concurrency", "32", "--db", str(clean_db)) == 0

    crashed, uninterrupted = _samples(db), _samples(clean_db)
    assert len(crashed) == len(uninterrupted) == total
    for key, row in crashed.items():
        goal, tier = key
        assert row[1] == expected_outcome(goal, tier)
        assert row[1:5] == uninterrupted[key][1:5]  # outcome, output, scratchpad, turns
    # Each (request, tier, turn) was asked once, except samples in flight at a kill: at most once per kill.
    repeats = sum(n - 1 for n in asked.values())
    assert repeats <= len(stored_at_kill) * concurrency * 2  # free-tier samples take two calls
    assert all(asked[(g, t, 0)] >= 1 for g, t in crashed)
    return {"kills": len(stored_at_kill), "stored_at_kill": stored_at_kill, "repeats": repeats,
            "calls": sum(asked.values()), "samples": total, "seconds": crashed_s}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkill_before_the_first_sample_mid_run_and_at_the_end_loses_and_resends_nothing(tmp_path,
                                                                                          system_prompt_file):
    n_requests = 16
    total = 2 * n_requests
    report = crash_and_resume(tmp_path, system_prompt_file, [
        lambda m: m.since_first_request is not None,  # its first request is on the wire; nothing stored
        lambda m: m.stored >= total // 2,  # mid-run: half stored, two samples in flight
        lambda m: m.stored >= total - 2 * CONCURRENCY,  # near the end: the last few samples to go
    ], n_requests=n_requests, latency=0.3)
    first, mid, last = report["stored_at_kill"]
    assert first == 0
    assert total // 2 <= mid < total
    assert total - 2 * CONCURRENCY <= last < total
