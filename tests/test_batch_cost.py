"""Cost with --batch: `--dry-run --batch` quotes at the providers' batch prices, batched samples are stored at
the batch price, and `--max-cost` with `--batch` sends only the requests the budget allows (exit 4, resumable),
on the fake batch endpoint (tests/batch_server.py)."""

from __future__ import annotations

import asyncio
import re
import sqlite3

import pytest
from batch_server import BatchServer
from builders import TEMPLATE, write_requests
from helpers import af_main_output

from af_tui.commands.options import BUDGET_REACHED
from af_tui.experiment.batch_run import BatchOptions, execute_batch
from af_tui.experiment.budget import BatchBudget
from af_tui.experiment.plan import RunSpec
from af_tui.experiment.sources import Dataset, Text
from af_tui.llm.pricing import price
from af_tui.store.db import Store, sha256_text

SYSTEM = "You are a careful assistant in a test. Think in <SCRATCHPAD_REASONING> tags, answer in <OUTPUT>. " * 20
GOALS = [f"Write a short poem about the number {i}" for i in range(12)]
MODEL = "openai/gpt-4o-mini"  # litellm prices it, batch prices included ($0.075 / $0.30 per M tokens)


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("AF_TUI_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("AF_TUI_BATCH_POLL_S", "0.01")
    monkeypatch.setenv("AF_TUI_SIM_BATCH_DIR", str(tmp_path / "sim-batches"))
    for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AF_TUI_DB"):
        monkeypatch.delenv(k, raising=False)


def _text(text: str, name: str) -> Text:
    return Text(text, name, sha256_text(text), "test")


def _spec(base: str, **kw) -> RunSpec:
    kw.setdefault("name", "b")
    return RunSpec(models=[MODEL], variants=[_text(SYSTEM, "stand_in")], template=_text(TEMPLATE, "tpl"),
                   dataset=Dataset(GOALS, "goals", sha256_text(str(GOALS)), "t"), api_base=base, max_tokens=200,
                   **kw)


def _run(spec, db):
    with Store(db) as store:
        return asyncio.run(execute_batch(spec, store, options=BatchOptions(poll_s=0.01)))


def _rows(db, sql):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# -- the quote ------------------------------------------------------------------------------------------------

def _files(tmp_path) -> list[str]:
    (tmp_path / "sys.txt").write_text(SYSTEM)
    (tmp_path / "tpl.txt").write_text(TEMPLATE)
    return ["--dataset", str(write_requests(tmp_path / "goals.csv", GOALS)), "--system-prompt",
            str(tmp_path / "sys.txt"), "--user-template", str(tmp_path / "tpl.txt"), "--db",
            str(tmp_path / "never.sqlite")]


def _costs(out: str) -> list[float]:
    return [float(x.replace(",", "")) for x in re.findall(r"cost\s+\$([\d.,]+) without prompt caching", out)]


def test_the_batch_quote_is_at_most_60_percent_of_the_interactive_one(capsys, tmp_path):
    args = ["run", "--model", "anthropic/claude-sonnet-4-5", "--model", "openai/gpt-4o", "--dry-run",
            "--typical-output", "600", *_files(tmp_path)]
    code, interactive, err = af_main_output(capsys, *args)
    assert code == 0, err
    code, batch, err = af_main_output(capsys, *args, "--batch")
    assert code == 0, err
    assert not (tmp_path / "never.sqlite").exists()
    assert "Priced for --batch" in batch and "batch price per M tokens input $1.5 · output $7.5" in batch
    assert batch.count("(litellm's cost map, batch prices)") == 2 and batch.count("50% of it)") == 2
    for i, b in zip(_costs(interactive), _costs(batch), strict=True):
        assert b <= 0.6 * i


def test_a_batch_quote_of_a_model_without_a_batch_price_says_it_uses_the_interactive_one(capsys, tmp_path):
    args = ["run", "--model", "anthropic/claude-3-opus-20240229", "--dry-run", "--batch", *_files(tmp_path)]
    code, out, err = af_main_output(capsys, *args, "--price", "anthropic/claude-3-opus-20240229=15,75")
    assert code == 0, err
    assert "no batch price listed, so the interactive price: an upper bound" in out and "100% of it" in out
    code, out, err = af_main_output(capsys, *args, "--price", "anthropic/claude-3-opus-20240229=15,75,7.5,37.5")
    assert code == 0, err
    assert "batch price per M tokens input $7.5 · output $37.5" in out and "(your --price, batch prices)" in out


# -- stored cost and the budget ---------------------------------------------------------------------------

def test_batched_samples_are_stored_at_the_batch_price(tmp_path):
    with BatchServer(count_tokens=True) as server:
        result = _run(_spec(server.url), tmp_path / "s.sqlite")
    assert result.status == "done"
    p = price(MODEL, batch=True)
    rows = _rows(tmp_path / "s.sqlite", "SELECT input_tokens, output_tokens, cost FROM samples")
    assert len(rows) == 24 and all(c == pytest.approx(i * p.input + o * p.output) for i, o, c in rows)
    assert p.input == price(MODEL).input / 2


def test_the_batch_budget_sends_turns_under_way_all_or_none_then_new_samples_in_order():
    b = BatchBudget(1.0)
    assert b.choose(0.2, [("a", 0.3)], [("n1", 0.2), ("n2", 0.2), ("n3", 0.2)]) == ["a", "n1", "n2"]
    assert b.reached
    b = BatchBudget(1.0)
    b.sent("m", {"a": 0.5})
    assert b.choose(0.0, [("x", 0.3), ("y", 0.3)], [("n1", 0.01)]) == [] and b.reached  # 0.6 > 0.5 left
    b.collected("m", ["a"])
    assert BatchBudget(1.0).choose(0.0, [], [("n1", 2.0), ("n2", 0.1)]) == []  # in order: none past the first


def test_max_cost_with_batch_sends_what_the_budget_allows_then_resumes(tmp_path):
    db = tmp_path / "s.sqlite"
    with BatchServer(count_tokens=True) as server:
        probe = _run(_spec(server.url, name="probe"), db)
        start = len(server.batch_requests)
        budget = 8 * probe.spent / 24
        result = _run(_spec(server.url, max_cost=budget), db)
        spent, n = _rows(db, "SELECT SUM(s.cost), COUNT(*) FROM samples s JOIN runs r ON r.id = s.run_id "
                             "WHERE r.name = 'b'")[0]
        assert result.budget_reached and result.status == "stopped"
        assert spent <= budget and 0 < n < 24
        sent = server.batch_request_count
        again = _run(_spec(server.url, max_cost=budget), db)  # the same budget: nothing more is sent
        assert again.budget_reached and server.batch_request_count == sent
        more = _run(_spec(server.url, max_cost=1000.0), db)
        assert server.requests == 0
        ids = [c for _, c, _ in server.batch_requests[start:]]
    assert more.status == "done" and not more.budget_reached
    assert _rows(db, "SELECT COUNT(*) FROM samples s JOIN runs r ON r.id = s.run_id WHERE r.name = 'b'")[0][0] == 24
    assert len(ids) == len(set(ids)) == 24 + 12  # every first turn and the free tier's <NEXT/> turn, once


def test_max_cost_with_batch_on_the_command_line_exits_4(capsys, tmp_path):
    files = _files(tmp_path)[:-2] + ["--db", str(tmp_path / "s.sqlite")]
    with BatchServer(count_tokens=True) as server:
        code, _, err = af_main_output(capsys, "run", "--model", MODEL, "--api-base", server.url, "--batch",
                                      "--max-cost", "0.0002", "--max-tokens", "200", *files)
        assert server.requests == 0
    assert code == BUDGET_REACHED, err
    err = " ".join(err.split())  # Rich wraps the progress lines
    assert "would take the run past --max-cost $0.0002" in err and "raise --max-cost to go on" in err
    (spent,) = _rows(tmp_path / "s.sqlite", "SELECT SUM(cost) FROM samples")[0]
    assert 0 < spent <= 0.0002
