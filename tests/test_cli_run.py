"""`af-tui run` and `af-tui demo` as a user types them: the acceptance command, resume after SIGKILL,
bad inputs in one line, the demo, and API keys that never reach a file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time

import pytest
from click.testing import CliRunner
from fakeserver import FakeServer, expected_outcome
from helpers import AF_TUI, REPO, af_process

from af_tui.cli import cli


@pytest.fixture
def env(tmp_path, realdata, monkeypatch):
    """A cache dir holding the user template (as after a first download), and no keys or sources."""
    cache = tmp_path / "data"
    cache.mkdir()
    shutil.copy(realdata / "honly_user_template.txt", cache / "honly_user_template.txt")
    values = {"AF_TUI_DATA": str(cache), "AF_TUI_SOURCES_BASE": "http://127.0.0.1:9", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    for k in ("OPENAI_API_KEY", "AF_TUI_DB", "AF_TUI_SIM_LATENCY", "AF_TUI_SIM_FAIL_RATE"):
        monkeypatch.delenv(k, raising=False)
    return {**os.environ}


def _af(args, env, timeout=120, **kw):
    return af_process(*args, env=env, timeout=timeout, **kw)


def _rows(db) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT s.id, s.tier, s.outcome, s.completed_at, p.text FROM samples s "
                            "JOIN prompts p ON p.id = s.prompt_id ORDER BY s.id").fetchall()
    finally:
        conn.close()


@pytest.mark.slow
def test_acceptance_run_against_fake_server_then_stats(env, realdata, system_prompt_file, db_path):
    with FakeServer() as server:
        proc = _af(["run", "--model", "openai/x", "--api-base", server.url, "--dataset",
                    str(realdata / "harmful_behaviors.csv"), "--system-prompt", str(system_prompt_file),
                    "--limit", "10", "--db", str(db_path)], env)
    assert proc.returncode == 0, proc.stderr
    rows = _rows(db_path)
    assert len(rows) == 20
    assert all(outcome == expected_outcome(text, tier) for _, tier, outcome, _, text in rows)
    stats = _af(["stats", "--json", "--db", str(db_path)], env)
    got = {(r["model"], r["variant"], r["tier"]): r for r in json.loads(stats.stdout)}
    for tier in ("free", "paid"):
        r = got[("openai/x", "stand_in", tier)]
        want = [expected_outcome(text, t) for _, t, _, _, text in rows if t == tier]
        assert r["n"] == 10 and r["error"] == 0
        for outcome in ("complied", "refused", "format_not_followed"):
            assert r[outcome] == want.count(outcome)
    conn = sqlite3.connect(db_path)
    config = json.loads(conn.execute("SELECT config FROM runs").fetchone()[0])
    assert config["dataset"]["sha256"] == "6cd1a5c63c07610d7eb67307772ee5606017ee950b5770ab288a2c487489d3e1"
    assert config["template"]["sha256"].startswith("7f11a281")
    assert config["variants"][0]["name"] == "stand_in" and config["limit"] == 10


@pytest.mark.slow
def test_resume_after_sigkill_loses_and_duplicates_nothing(env, realdata, system_prompt_file, db_path):
    args = ["run", "--model", "openai/x", "--dataset", str(realdata / "harmful_behaviors.csv"),
            "--system-prompt", str(system_prompt_file), "--limit", "40", "--concurrency", "4", "--run", "k",
            "--db", str(db_path)]
    with FakeServer(latency=0.1) as server:
        proc = subprocess.Popen([*AF_TUI, *args, "--api-base", server.url], env=env,
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if db_path.exists() and len(_rows(db_path)) >= 12:
                        break
                except sqlite3.OperationalError:
                    pass  # the schema is not there yet
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()
    before = _rows(db_path)
    assert 12 <= len(before) < 80
    with FakeServer() as server:
        done = _af([*args, "--api-base", server.url], env)
        sent = server.requests
    assert done.returncode == 0, done.stderr
    after = _rows(db_path)
    assert len(after) == 80
    assert len({(text, tier) for _, tier, _, _, text in after}) == 80  # each (request, tier) once
    assert set(before) <= set(after)  # committed samples are kept as they were
    new = {(text, tier) for _, tier, _, _, text in after} - {(text, tier) for _, tier, _, _, text in before}
    assert new and sent == sum(2 if tier == "free" else 1 for _, tier in new)  # only the missing were sent


@pytest.mark.parametrize("args, message", [
    (["--limit", "0"], "--limit must be at least 1"),
    (["--limit", "-5"], "--limit must be at least 1"),
    (["--concurrency", "0"], "--concurrency must be between"),
    (["--concurrency", "100000"], "--concurrency must be between"),
    (["--epochs", "0"], "--epochs must be between"),
    (["--temperature", "7"], "--temperature must be between"),
    (["--max-tokens", "0"], "--max-tokens must be between"),
    (["--api-base", "localhost:8000"], "--api-base must be an http(s) URL"),
    (["--dataset", "/no/such/file.csv"], "no such file"),
    (["--system-prompt", "/no/such/prompt.txt"], "no such file"),
    (["--user-template", "/no/such/tpl.txt"], "no such file"),
])
def test_bad_inputs_are_one_line(env, args, message, system_prompt_file, tmp_path, realdata):
    base = ["run", "--model", "sim/refuser", "--dataset", str(realdata / "harmful_behaviors.csv"),
            "--system-prompt", str(system_prompt_file), "--db", str(tmp_path / "s.sqlite")]
    result = CliRunner().invoke(cli, [*base, *args])
    assert result.exit_code != 0
    assert message in str(result.exception) or message in result.output
    assert "\n" not in str(result.exception).strip()


def _bad_file(tmp_path, name, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_bad_files_are_one_line_and_store_nothing(env, tmp_path, system_prompt_file):
    db = tmp_path / "s.sqlite"
    cases = [
        (["--dataset", _bad_file(tmp_path, "nogoal.csv", b"a,b\n1,2\n")], "no goal column"),
        (["--dataset", _bad_file(tmp_path, "empty.csv", b"")], "is empty"),
        (["--dataset", _bad_file(tmp_path, "latin1.csv", "goal\ncaf\xe9\n".encode("latin-1"))], "not UTF-8"),
        (["--dataset", _bad_file(tmp_path, "bad.jsonl", b'{"goal": "a"}\nnot json\n')], "line 2 is not JSON"),
        (["--dataset", _bad_file(tmp_path, "nokey.jsonl", b'{"text": "a"}\n')], "no string \"goal\""),
        (["--user-template", _bad_file(tmp_path, "tpl.txt", b"no fields here")], "lacks {is_free_tier_user}"),
        (["--user-template", _bad_file(tmp_path, "tpl2.txt", b"{is_free_tier_user} {user_input} {other}")],
         "not a usable user template"),
        (["--system-prompt", _bad_file(tmp_path, "blank.txt", b"  \n")], "is empty"),
        (["--model", "no-such-model-xyz"], "unknown model"),
        (["--model", "openai/gpt-4o"], "OPENAI_API_KEY is not set"),
    ]
    for extra, message in cases:
        args = ["run", "--db", str(db), "--dataset", _bad_file(tmp_path, "ok.csv", b"goal\nhello\n"),
                "--user-template", _bad_file(tmp_path, "oktpl.txt", b"{is_free_tier_user} {user_input}"),
                "--system-prompt", str(system_prompt_file)]
        if "--model" not in extra:
            args += ["--model", "sim/refuser"]
        result = CliRunner().invoke(cli, [*args, *extra])
        assert result.exit_code != 0, extra
        assert message in str(result.exception), (extra, str(result.exception))
        assert "\n" not in str(result.exception)
    assert not db.exists()  # validation happens before the store is touched


def test_offline_without_cache_names_the_file_and_the_option(env, tmp_path, system_prompt_file, monkeypatch):
    monkeypatch.setenv("AF_TUI_DATA", str(tmp_path / "empty_cache"))
    result = CliRunner().invoke(cli, ["run", "--model", "sim/refuser", "--system-prompt", str(system_prompt_file),
                                      "--db", str(tmp_path / "s.sqlite")])
    assert result.exit_code != 0
    text = str(result.exception)
    assert "harmful_behaviors.csv" in text and "--dataset" in text and "\n" not in text


def test_run_exits_nonzero_while_errors_remain(env, tmp_path, system_prompt_file, monkeypatch):
    monkeypatch.setenv("AF_TUI_SIM_FAIL_RATE", "1")
    db = tmp_path / "s.sqlite"
    ds = _bad_file(tmp_path, "ok.jsonl", b'{"goal": "a"}\n{"request": "b"}\n')
    args = ["run", "--model", "sim/complier@status=500", "--dataset", ds, "--system-prompt", str(system_prompt_file),
            "--user-template", _bad_file(tmp_path, "t.txt", b"{is_free_tier_user} {user_input}"), "--db", str(db),
            "--run", "r"]
    from af_tui.llm import client as llm

    monkeypatch.setattr(llm.RetryPolicy, "delay", lambda self, attempt: 0.0)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "4 samples failed" in result.output and "--run r" in result.output
    monkeypatch.setenv("AF_TUI_SIM_FAIL_RATE", "0")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert [r[2] for r in _rows(db)] == ["complied"] * 4


@pytest.mark.slow
def test_demo_no_tui_then_again_resumes_without_duplicates(env, tmp_path):
    db = tmp_path / "demo.sqlite"
    first = _af(["demo", "--no-tui", "--db", str(db), "--latency", "0"], env)
    assert first.returncode == 0, first.stderr
    rows = _rows(db)
    assert len(rows) == 320
    again = _af(["demo", "--no-tui", "--db", str(db), "--latency", "0"], env)
    assert again.returncode == 0 and "0 of 320 samples to send" in again.stderr
    assert _rows(db) == rows
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT name, source, status, planned FROM runs").fetchall() == [("demo", "demo", "done", 320)]


@pytest.mark.slow
def test_api_key_reaches_no_file(env, tmp_path, realdata, system_prompt_file):
    secret = "sk-test-af-tui-" + "7" * 24
    env = {**env, "OPENAI_API_KEY": secret}
    db = tmp_path / "keys.sqlite"
    with FakeServer(schedule=lambda n, m: 401 if n == 0 else (500 if n % 3 == 0 else "ok")) as server:
        args = ["run", "--model", "openai/x", "--api-base", server.url, "--dataset",
                str(realdata / "harmful_behaviors.csv"), "--system-prompt", str(system_prompt_file),
                "--limit", "5", "--db", str(db)]
        first = _af(args, env)  # the 401 stops the run
        second = _af(args, env)
        auth = [b for b in server.bodies]
    assert first.returncode == 2 and "\n" not in first.stderr.strip().splitlines()[-1]
    assert second.returncode in (0, 1)
    assert auth  # the server was reached with the key; nothing we wrote holds it
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in first.stderr + first.stdout + second.stderr + second.stdout


@pytest.mark.slow
def test_workers_share_the_run_without_duplicates(env, realdata, system_prompt_file, db_path):
    with FakeServer() as server:
        proc = _af(["run", "--model", "openai/x", "--api-base", server.url, "--dataset",
                    str(realdata / "harmful_behaviors.csv"), "--system-prompt", str(system_prompt_file),
                    "--limit", "15", "--workers", "2", "--concurrency", "4", "--db", str(db_path)], env)
        requests = server.requests
    assert proc.returncode == 0, proc.stderr
    rows = _rows(db_path)
    assert len(rows) == 30 and len({(text, tier) for _, tier, _, _, text in rows}) == 30
    assert requests == 15 * 3  # free takes two turns, paid one: nothing was sent twice
    assert all(outcome == expected_outcome(text, tier) for _, tier, outcome, _, text in rows)
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT status, planned FROM runs").fetchall() == [("done", 30)]


@pytest.mark.slow
def test_workers_stop_together_on_a_bad_key(env, realdata, system_prompt_file, db_path):
    with FakeServer(schedule=lambda n, m: 401) as server:
        proc = _af(["run", "--model", "openai/x", "--api-base", server.url, "--dataset",
                    str(realdata / "harmful_behaviors.csv"), "--system-prompt", str(system_prompt_file),
                    "--limit", "50", "--workers", "2", "--db", str(db_path)], env)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("af-tui: error: ") and "openai/x" in last
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT status FROM runs").fetchall() == [("failed",)]
    assert conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 0


def _fake_open_app(seen):
    def open_app(db_path, run_process=None, annotator=None):
        seen["db"] = db_path
        with sqlite3.connect(db_path) as conn:  # the run row is there before the app opens
            seen["runs_at_open"] = conn.execute("SELECT name, planned FROM runs").fetchall()
        seen["code"] = run_process.wait(timeout=120)

    return open_app


@pytest.mark.slow
def test_tui_starts_the_run_as_a_child_and_opens_the_app(env, tmp_path, system_prompt_file, monkeypatch):
    from af_tui.tui import launch

    seen: dict = {}
    monkeypatch.setattr(launch, "open_app", _fake_open_app(seen))
    db = tmp_path / "t.sqlite"
    ds = _bad_file(tmp_path, "ok.jsonl", b'{"goal": "a"}\n{"goal": "b"}\n')
    result = CliRunner().invoke(cli, ["run", "--model", "sim/complier", "--dataset", ds, "--system-prompt",
                                      str(system_prompt_file), "--user-template",
                                      _bad_file(tmp_path, "t.txt", b"{is_free_tier_user} {user_input}"),
                                      "--db", str(db), "--run", "bg", "--tui"])
    assert result.exit_code == 0, result.output
    assert seen["runs_at_open"] == [("bg", 4)] and seen["code"] == 0
    assert [r[2] for r in _rows(db)] == ["complied"] * 4
    assert (tmp_path / "t.bg.log").read_text().count("af-tui: run bg done") == 1


@pytest.mark.slow
def test_demo_opens_the_app_while_the_child_runs(env, tmp_path, monkeypatch):
    from af_tui.tui import launch

    seen: dict = {}
    monkeypatch.setattr(launch, "open_app", _fake_open_app(seen))
    monkeypatch.setenv("AF_TUI_SIM_LATENCY", "0")
    db = tmp_path / "demo.sqlite"
    result = CliRunner().invoke(cli, ["demo", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert seen["runs_at_open"] == [("demo", 320)] and seen["code"] == 0 and len(_rows(db)) == 320


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(env, realdata, system_prompt_file, db_path):
    with FakeServer(latency=0.2) as server:
        proc = subprocess.Popen([*AF_TUI, "run", "--model", "openai/x", "--api-base", server.url,
                                 "--dataset", str(realdata / "harmful_behaviors.csv"), "--system-prompt",
                                 str(system_prompt_file), "--limit", "100", "--concurrency", "4", "--run", "c",
                                 "--db", str(db_path)], env=env, cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if db_path.exists() and len(_rows(db_path)) >= 4:
                    break
            except sqlite3.OperationalError:
                pass
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "run c stopped; resume with: af-tui run" in err and "--run c" in err
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT status FROM runs").fetchall() == [("stopped",)]
    assert 4 <= conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] < 200


@pytest.mark.slow
def test_ctrl_c_as_the_run_starts_leaves_no_unawaited_coroutine(env, realdata, system_prompt_file, db_path):
    """SIGINT while the first calls are being built (litellm makes each request coroutine in a thread) used
    to print `RuntimeWarning: coroutine ... was never awaited`."""
    with FakeServer(latency=0.2) as server:
        proc = subprocess.Popen([*AF_TUI, "run", "--model", "openai/x", "--api-base", server.url,
                                 "--dataset", str(realdata / "harmful_behaviors.csv"), "--system-prompt",
                                 str(system_prompt_file), "--limit", "200", "--run", "w", "--db", str(db_path)],
                                env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        for line in proc.stderr:  # the plan line: the first calls start now
            seen.append(line)
            if "samples to send" in line:
                break
        time.sleep(0.2)  # the signal handler is in place and the first calls are being built
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    err = "".join(seen) + err
    assert proc.returncode == 130, err
    assert "never awaited" not in err and "Traceback" not in err, err
