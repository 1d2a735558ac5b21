"""A flaky provider: the fake server answers one request in five with 429, 500 or 503 and, now and then, hangs
past `--timeout`, closes the connection, sends malformed JSON or no choices (each kind at least once); one
request fails every time. The run completes; every failure is retried with backoff (the server sees the
attempts the store counts) or stored as an error row with its message; `run` exits 1 and prints the command
that retries them; running that command against the healed server leaves no error.

`af-tui run` runs in this process with the backoff's base delay cut from 1 s to 0.2 s (the same policy, only
faster), on ten requests.
"""

from __future__ import annotations

import functools
import random
import re
import shlex
import sqlite3
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
from builders import ACCEPT_TEMPLATE, write_requests
from fakeserver import FakeServer, expected_outcome, parse_request
from helpers import af_main_output

from af_tui.llm import client as llm

N_REQUESTS = 10
BROKEN = {"Made-up flaky request 3"}  # its paid-tier sample fails on every attempt
BASE_DELAY_S = 0.2  # the backoff's base (1 s in af-tui): retry n waits up to 0.2 × 2^(n-1) s
FAULTS = [429, 500, 503, "hang", "drop", "malformed", "empty"]


class Flaky:
    """The server's schedule: faults at fixed rates, logged with the time of each request."""

    def __init__(self, seed: int = 5):
        self.rng = random.Random(seed)
        self.healed = False
        self.lock = threading.Lock()
        self.log: list[tuple[float, tuple, object]] = []  # (time, (goal, tier, turn), action)
        self.faults: dict[tuple, int] = {}
        self.unseen = list(FAULTS)  # the first faults take each kind in turn, so that every kind is seen

    def __call__(self, n: int, messages: list[dict]):
        key = parse_request(messages)
        with self.lock:
            if self.healed:
                action = "ok"
            elif key[0] in BROKEN and key[1] == "paid":
                action = 503
            elif self.faults.get(key, 0) >= 3:
                action = "ok"  # at most 3 faults per call, so that 6 attempts always get through
            else:
                r = self.rng.random()
                action = ((429 if r < 0.07 else 500 if r < 0.14 else 503) if r < 0.20 else
                          "hang" if r < 0.23 else "drop" if r < 0.26 else "malformed" if r < 0.29 else
                          "empty" if r < 0.32 else "ok")
                if action != "ok" and self.unseen:
                    action = self.unseen.pop(0)
            if action != "ok":
                self.faults[key] = self.faults.get(key, 0) + 1
            self.log.append((time.monotonic(), key, action))
        return action


def _rows(db: Path) -> dict[tuple[str, str], tuple]:
    conn = sqlite3.connect(db)
    try:
        return {(r[0], r[1]): r[2:] for r in conn.execute(
            "SELECT p.text, s.tier, s.outcome, s.error, s.attempts FROM samples s JOIN prompts p "
            "ON p.id = s.prompt_id")}
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_flaky_provider_retries_stores_errors_and_reruns_clean(tmp_path, system_prompt_file, capsys, monkeypatch):
    monkeypatch.setattr(llm, "RetryPolicy", functools.partial(llm.RetryPolicy, base_delay_s=BASE_DELAY_S))
    dataset = write_requests(tmp_path / "made_up.csv", [f"Made-up flaky request {i}" for i in range(N_REQUESTS)])
    template = tmp_path / "template.txt"
    template.write_text(ACCEPT_TEMPLATE)
    db = tmp_path / "flaky.sqlite"
    flaky = Flaky()
    with FakeServer(schedule=flaky) as server:
        args = ["run", "--model", "openai/x", "--api-base", server.url, "--dataset", str(dataset),
                "--user-template", str(template), "--system-prompt", str(system_prompt_file), "--run", "flaky",
                "--concurrency", "16", "--timeout", "1", "--db", str(db)]
        code, _, stderr = af_main_output(capsys, *args)
        log = list(flaky.log)
        rows = _rows(db)

        # The run completed: every sample is stored, and exits 1 naming the command that retries the errors.
        assert len(rows) == 2 * N_REQUESTS
        assert code == 1, stderr[-2000:]
        assert "Traceback" not in stderr
        last = stderr.strip().splitlines()[-1]
        assert "1 samples failed after retries" in last and "retry them with the same command" in last
        retry_cmd = shlex.split(last.split("the same command: ", 1)[1])
        assert retry_cmd[:2] == ["af-tui", "run"] and "--run" in retry_cmd and "--timeout" in retry_cmd

        # Every fault was retried, or the sample is an error row with the provider's message, on one line.
        attempts = defaultdict(list)
        for t, key, action in log:
            attempts[key].append((t, action))
        faults = {a for _, _, a in log if a != "ok"}
        assert {429, 500, 503, "hang", "drop", "malformed", "empty"} <= faults
        for (goal, tier), (outcome, error, n_attempts) in rows.items():
            turns = [k for k in attempts if k[:2] == (goal, tier)]
            assert n_attempts == sum(len(attempts[k]) for k in turns)  # the store counts what was sent
            if (goal in BROKEN) and tier == "paid":
                assert outcome == "error" and n_attempts == 6
                assert "503" in error and "injected" in error and "\n" not in error
            else:
                assert outcome == expected_outcome(goal, tier), (goal, tier, error)
                for k in turns:
                    assert attempts[k][-1][1] == "ok"  # a fault was always followed by another attempt
        # With backoff: retries wait (full jitter up to 0.2 s, 0.4 s, ...), not hammer the server.
        gaps = [b[0] - a[0] for seq in attempts.values() for a, b in zip(seq, seq[1:], strict=False)
                if a[1] not in ("hang",)]
        assert gaps and sum(gaps) / len(gaps) > 0.2 * BASE_DELAY_S

        # The retry command against the healed server leaves no error and sends only the failed samples.
        flaky.healed = True
        before = len(flaky.log)
        code, _, again = af_main_output(capsys, *retry_cmd[1:])
        assert code == 0, again[-2000:]
        resent = {key[:2] for _, key, _ in flaky.log[before:]}
    assert resent == {(g, "paid") for g in BROKEN}
    rows = _rows(db)
    assert len(rows) == 2 * N_REQUESTS
    assert all(outcome == expected_outcome(g, t) and error is None for (g, t), (outcome, error, _) in rows.items())
    assert re.search(r"run flaky done", again)
