"""The user's prices (--price MODEL=INPUT,OUTPUT and the config file's [prices]) and batch prices: what the quote,
the stored cost of each sample and --max-cost use when litellm's cost map has no price, or a batch one."""

from __future__ import annotations

import sqlite3

import pytest
from fakeserver import FakeServer, single_turn_script
from helpers import af_main_output

from af_tui.commands.options import BUDGET_REACHED
from af_tui.errors import AfError
from af_tui.experiment.plan import RunSpec
from af_tui.experiment.quote import quote
from af_tui.experiment.sources import Dataset, Text
from af_tui.llm.pricing import LITELLM, Price, parse_prices, price, user_prices
from af_tui.store.db import sha256_text

UNPRICED = "claude-3-opus-20240229"  # retired: the pinned litellm lists it for Bedrock only
SYSTEM = "You are a careful assistant in a test. Think in <SCRATCHPAD_REASONING> tags, answer in <OUTPUT>. " * 20
TEMPLATE = "<is_free_tier_user>{is_free_tier_user}</is_free_tier_user>\n<user_input>{user_input}</user_input>\n"


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("AF_TUI_CONFIG", str(tmp_path / "no-config.toml"))  # never the user's own [prices]
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


def _text(text: str, name: str) -> Text:
    return Text(text, name, sha256_text(text), "test")


def _spec(models: list[str], n: int = 3, **kw) -> RunSpec:
    requests = [f"Explain step {i} of folding a paper boat" for i in range(n)]
    return RunSpec(name="t", models=models, variants=[_text(SYSTEM, "stand_in")], template=_text(TEMPLATE, "tpl"),
                   dataset=Dataset(requests, "test", sha256_text(str(requests)), "t"), **kw)


def _files(tmp_path, n: int = 2) -> list[str]:
    (tmp_path / "goals.csv").write_text("goal\n" + "\n".join(f"Write note {i}" for i in range(n)) + "\n")
    (tmp_path / "sys.txt").write_text(SYSTEM)
    (tmp_path / "tpl.txt").write_text(TEMPLATE)
    return ["--dataset", str(tmp_path / "goals.csv"), "--system-prompt", str(tmp_path / "sys.txt"),
            "--user-template", str(tmp_path / "tpl.txt"), "--db", str(tmp_path / "s.sqlite")]


# -- reading prices -------------------------------------------------------------------------------------------

def test_a_price_is_read_per_million_tokens():
    (model, p), = parse_prices(["anthropic/claude-3-opus-20240229=15,75"]).items()
    assert model == "anthropic/claude-3-opus-20240229"
    assert (p.input, p.output, p.batch, p.source) == (15e-6, 75e-6, None, "your --price")
    (p,) = parse_prices([" m = 15, 75, 7.5, 37.5 "]).values()
    assert (p.batch.input, p.batch.output) == (7.5e-6, 37.5e-6)


@pytest.mark.parametrize(("value", "says"), [
    ("anthropic/x", "--price takes MODEL=INPUT,OUTPUT"),
    ("=15,75", "--price takes MODEL=INPUT,OUTPUT"),
    ("m=", "--price takes MODEL=INPUT,OUTPUT"),
    ("m=15", r"give 2 prices \(input, output\) or 4"),
    ("m=1,2,3", r"give 2 prices \(input, output\) or 4"),
    ("m=fifteen,75", "'fifteen' is not a price"),
    ("m=-1,75", "'-1' is not a price"),
    ("m=nan,75", "'nan' is not a price"),
])
def test_a_malformed_price_is_one_line(value, says):
    with pytest.raises(AfError, match=says) as info:
        parse_prices([value])
    assert "\n" not in str(info.value)


def test_the_config_file_prices_and_a_price_on_the_command_line_wins(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[view]\ntheme = "nord"\n\n[prices]\n"openai/a" = [1, 2]\n'
                      '"openai/b" = { input = 3, output = 4, batch_input = 1.5, batch_output = 2 }\n')
    monkeypatch.setenv("AF_TUI_CONFIG", str(config))
    prices = user_prices(["openai/a=10,20"], ["openai/a", "openai/b"])
    assert (prices["openai/a"].input, prices["openai/a"].source) == (10e-6, "your --price")
    b = prices["openai/b"]
    assert (b.input, b.output, b.batch.input, b.batch.output) == (3e-6, 4e-6, 1.5e-6, 2e-6)
    assert b.source == f"[prices] in {config}"
    with pytest.raises(AfError, match="--price names 'openai/c', which is not a model here"):
        user_prices(["openai/c=1,2"], ["openai/a"])
    config.write_text('[prices]\n"openai/a" = "cheap"\n')
    with pytest.raises(AfError, match=r"\[prices\] 'openai/a' must be \[INPUT, OUTPUT\]"):
        user_prices()
    config.write_text('[prices]\n"openai/a" = [1, -2]\n')
    with pytest.raises(AfError, match=r"config.toml: \[prices\] 'openai/a': -2 is not a price"):
        user_prices()


def test_the_app_does_not_read_prices(tmp_path, monkeypatch):
    """A mistyped price stops a run, never the explorer (load_config does not read [prices])."""
    from af_tui.config import load_config

    config = tmp_path / "config.toml"
    config.write_text('[prices]\n"openai/a" = "cheap"\n')
    assert load_config(config).theme is None


def test_the_users_price_prices_an_unpriced_model_and_wins_over_litellms():
    assert price(UNPRICED) is None
    mine = Price(15e-6, 75e-6, None, None, "your --price")
    assert price(UNPRICED, {UNPRICED: mine}) == mine
    assert price("openai/gpt-4o", {"openai/gpt-4o": mine}) == mine
    assert price("sim/faker") is None and price("sim/faker", {"sim/faker": mine}) == mine


def test_a_reply_is_priced_with_its_cache_tokens():
    p = Price(2e-6, 10e-6, 0.2e-6, None)
    # 1000 prompt tokens of which 600 read from the cache and 100 written (at the input price: none listed)
    assert p.cost(1000, 50, 600, 100) == pytest.approx(300 * 2e-6 + 50 * 10e-6 + 600 * 0.2e-6 + 100 * 2e-6)
    assert p.cost(None, None) == 0.0


# -- batch prices ---------------------------------------------------------------------------------------------

def test_batch_prices_are_litellms_batch_entries():
    interactive, batch = price("openai/gpt-4o"), price("openai/gpt-4o", batch=True)
    assert (interactive.input, interactive.output, interactive.source) == (2.5e-6, 10e-6, LITELLM)
    assert (batch.input, batch.output) == (1.25e-6, 5e-6) and "batch prices" in batch.source
    sonnet = price("anthropic/claude-sonnet-4-5", batch=True)
    assert (sonnet.input, sonnet.output, sonnet.cache_read) == (1.5e-6, 7.5e-6, 0.15e-6)


def test_a_model_without_a_batch_price_is_priced_at_its_interactive_price_and_says_so():
    mine = Price(15e-6, 75e-6, None, None, "your --price")
    batch = price(UNPRICED, {UNPRICED: mine}, batch=True)
    assert (batch.input, batch.output) == (mine.input, mine.output)
    assert batch.source == "your --price; no batch price listed, so the interactive price: an upper bound"


def test_the_batch_quote_is_at_most_60_percent_of_the_interactive_one():
    spec = _spec(["anthropic/claude-sonnet-4-5", "openai/gpt-4o"])
    for interactive, batch in zip(quote(spec), quote(spec, batch=True), strict=True):
        assert interactive.input_tokens == batch.input_tokens and interactive.cost > 0
        assert batch.cost <= 0.6 * interactive.cost
        if batch.cost_cached is not None:
            assert batch.cost_cached <= 0.6 * interactive.cost_cached


# -- on the command line --------------------------------------------------------------------------------------

def test_the_dry_run_quotes_a_model_given_a_price(capsys, tmp_path):
    args = ["run", "--model", f"anthropic/{UNPRICED}", "--dry-run", *_files(tmp_path), "--typical-output", "500"]
    code, out, err = af_main_output(capsys, *args)
    assert code == 0, err
    assert "not in litellm's cost map" in out and "--price MODEL=INPUT,OUTPUT" in out
    code, out, err = af_main_output(capsys, *args, "--price", f"anthropic/{UNPRICED}=15,75")
    assert code == 0, err
    assert "price per M tokens input $15 · output $75" in out and "(your --price)" in out
    assert "no price" not in out
    code, _, err = af_main_output(capsys, *args, "--price", f"anthropic/{UNPRICED}=15")
    assert code == 2 and err.strip().endswith("(input, output) or 4 (and the batch input, output) in USD per "
                                              "million tokens, not 1")


def test_a_price_on_the_command_line_is_stored_cost_and_keeps_max_cost(capsys, tmp_path):
    model = "openai/some-local-model"  # a local server's model: litellm has no price
    files = _files(tmp_path, n=30)
    with FakeServer(single_turn_script) as server:
        code, _, err = af_main_output(capsys, "run", "--model", model, "--api-base", server.url, "--max-cost",
                                      "0.05", *files)
        assert code == 2 and f"--price {model}=INPUT,OUTPUT" in err  # no price: the budget cannot be kept
        code, _, err = af_main_output(capsys, "run", "--model", model, "--api-base", server.url, "--max-cost",
                                      "0.05", "--price", f"{model}=100,200", "--concurrency", "2", *files)
        assert code == BUDGET_REACHED, err
        assert "resume" in err and "--price" in err  # the resume line gives the price again
    conn = sqlite3.connect(tmp_path / "s.sqlite")
    rows = conn.execute("SELECT input_tokens, output_tokens, cost FROM samples").fetchall()
    config = conn.execute("SELECT config FROM runs").fetchone()[0]
    conn.close()
    assert 0 < len(rows) < 60
    assert all(c == pytest.approx(i * 100e-6 + o * 200e-6) for i, o, c in rows)
    assert sum(c for _, _, c in rows) <= 0.05 + 2 * max(c for _, _, c in rows)
    assert '"prices": {"openai/some-local-model": {"input": 100.0, "output": 200.0, "source": "your --price"}}' \
        in config


async def test_the_judge_reports_its_cost_at_the_users_price(tmp_path):
    from builders import make_store

    from af_tui.judge.prompt import load_prompt
    from af_tui.judge.run import JudgeSpec, judge_store

    mine = Price(1e-6, 2e-6, None, None, "your --price")
    with make_store(tmp_path / "s.sqlite") as store:
        unpriced = await judge_store(JudgeSpec(model="sim/judge", prompt=load_prompt()), store.conn)
        assert unpriced.judged and unpriced.cost is None
    with make_store(tmp_path / "t.sqlite") as store:
        priced = await judge_store(JudgeSpec(model="sim/judge", prompt=load_prompt(), price=mine), store.conn)
    assert priced.judged == unpriced.judged and priced.cost > 0
