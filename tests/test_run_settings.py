"""A run's record describes its samples: the same command resumes, a command with other sampling settings under
the run's name is refused in one line (exit 2, nothing written), added models are a resume, and an older run's
config without a field resumes without a false refusal."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

import pytest
from helpers import af_main_output

from af_tui.experiment.settings import changed_settings, resumed_config


@pytest.fixture
def files(tmp_path, system_prompt_file, monkeypatch, capsys):
    monkeypatch.setattr(_run, "capsys", capsys, raising=False)
    for k in ("AF_TUI_DB", "AF_TUI_SIM_LATENCY", "AF_TUI_SIM_FAIL_RATE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    data = tmp_path / "requests.jsonl"
    data.write_text('{"goal": "a"}\n{"goal": "b"}\n', encoding="utf-8")
    other = tmp_path / "other.jsonl"
    other.write_text('{"goal": "c"}\n', encoding="utf-8")
    template = tmp_path / "t.txt"
    template.write_text("{is_free_tier_user} {user_input}", encoding="utf-8")
    return {"dataset": str(data), "other": str(other), "template": str(template),
            "system_prompt": str(system_prompt_file), "db": str(tmp_path / "s.sqlite")}


@dataclass
class Ran:
    exit_code: int
    output: str  # stdout and stderr


def _run(files, *extra, models=("sim/faker",), dataset=None) -> Ran:
    args = ["run", "--dataset", dataset or files["dataset"], "--user-template", files["template"],
            "--system-prompt", files["system_prompt"], "--db", files["db"], "--run", "r"]
    for m in models:
        args += ["--model", m]
    code, out, err = af_main_output(_run.capsys, *args, *extra)
    return Ran(code, out + err)


def _record(files) -> tuple[str, int, list]:
    conn = sqlite3.connect(files["db"])
    try:
        config, planned = conn.execute("SELECT config, planned FROM runs WHERE name = 'r'").fetchone()
        samples = conn.execute("SELECT id, model, prompt_id, tier, outcome FROM samples ORDER BY id").fetchall()
        return config, planned, samples
    finally:
        conn.close()


def _message(result: Ran) -> str:
    """The refusal: one line, exit 2."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def test_the_same_command_resumes(files):
    first = _run(files)
    assert first.exit_code == 0, first.output
    again = _run(files)
    assert again.exit_code == 0, again.output
    assert "0 of 4 samples to send" in again.output
    assert "(resume or retry: af-tui run" in again.output


def test_other_temperature_is_refused_naming_it_and_nothing_is_written(files):
    assert _run(files).exit_code == 0
    before = _record(files)
    result = _run(files, "--temperature", "0.5", "--max-tokens", "100")
    assert result.exit_code == 2
    text = _message(result)
    assert "temperature 1.0 → 0.5" in text and "max_tokens 4000 → 100" in text and "--run NEW" in text
    assert "af-tui: run r into" not in result.output  # refused before the run is announced
    assert _record(files) == before  # config, planned size and samples untouched
    assert json.loads(before[0])["temperature"] == 1.0


def test_other_dataset_is_refused_even_with_fewer_models(files):
    assert _run(files, models=("sim/faker", "sim/refuser")).exit_code == 0
    before = _record(files)
    result = _run(files, dataset=files["other"])
    assert result.exit_code == 2
    assert "dataset requests.jsonl → other.jsonl" in _message(result)
    assert _record(files) == before


@pytest.mark.parametrize("extra,named", [
    (["--rule", "last-scratchpad"], "rule notebook → last-scratchpad"),
    (["--prefill", "none"], "prefill '<' → none"),
    (["--reasoning-effort", "high"], "reasoning-effort none → high"),
])
def test_each_sampling_setting_is_compared(files, extra, named):
    assert _run(files).exit_code == 0
    result = _run(files, *extra)
    assert result.exit_code == 2 and named in _message(result)


def test_other_system_prompt_or_template_is_refused(files, tmp_path):
    assert _run(files).exit_code == 0
    files_changed = {**files, "system_prompt": str(tmp_path / "other_prompt.txt")}
    (tmp_path / "other_prompt.txt").write_text("another system prompt", encoding="utf-8")
    assert "system prompt stand_in (" in _message(_run(files_changed))
    (tmp_path / "t.txt").write_text("{user_input} {is_free_tier_user}", encoding="utf-8")
    assert "user template t (ebc736a0) → t (" in _message(_run(files))


def test_an_added_model_resumes_and_the_record_keeps_every_model(files):
    assert _run(files, models=("sim/faker", "sim/refuser")).exit_code == 0
    added = _run(files, models=("sim/faker", "sim/complier"))
    assert added.exit_code == 0, added.output
    assert "4 of 8 samples to send" in added.output
    config, planned, samples = _record(files)
    config = json.loads(config)
    assert config["models"] == ["sim/faker", "sim/refuser", "sim/complier"]
    assert set(config["max_tokens"]) == set(config["prefill_text"]) == set(config["models"])
    assert planned == 12 == len(samples)


def test_an_older_config_without_the_newer_fields_resumes(files):
    assert _run(files).exit_code == 0
    conn = sqlite3.connect(files["db"])
    config = json.loads(conn.execute("SELECT config FROM runs").fetchone()[0])
    for key in ("prefill_text", "reasoning_effort", "thinking_budget", "cache_prompt", "concurrency_by"):
        del config[key]
    config["max_tokens"] = None  # the first runs stored one value, None for the provider's default
    config["rule"] = "notebook"
    with conn:
        conn.execute("UPDATE runs SET config = ?", (json.dumps(config),))
    conn.close()
    result = _run(files)
    assert result.exit_code == 0, result.output
    assert "0 of 4 samples to send" in result.output


def test_an_older_config_without_a_rule_was_read_by_last_scratchpad():
    new = {"models": ["m"], "rule": "notebook", "temperature": 1.0}
    assert changed_settings({"models": ["m"], "temperature": 1.0}, new) == ["rule last-scratchpad → notebook"]
    assert changed_settings({"models": ["m"], "temperature": 1.0},
                            {**new, "rule": "last-scratchpad"}) == []


def test_per_model_settings_of_models_in_one_side_only_are_not_compared():
    stored = {"models": ["a", "b"], "max_tokens": {"a": 10, "b": 20}, "prefill_text": {"a": "<", "b": ""},
              "rule": "notebook", "temperature": 1.0, "epochs": 2, "limit": 5,
              "dataset": {"name": "d", "sha256": "x", "requests": 5}, "live": {"throttle": {}}}
    new = {"models": ["a", "c"], "max_tokens": {"a": 10, "c": 99}, "prefill_text": {"a": "<", "c": "<"},
           "rule": "notebook", "temperature": 1.0, "epochs": 1, "limit": 3,
           "dataset": {"name": "d", "sha256": "x", "requests": 3}}
    assert changed_settings(stored, new) == []
    assert changed_settings(stored, {**new, "max_tokens": {"a": 11, "c": 99}}) == ["max_tokens 10 → 11"]
    merged = resumed_config(stored, new)
    assert merged["models"] == ["a", "b", "c"] and merged["max_tokens"] == {"a": 10, "b": 20, "c": 99}
    assert (merged["epochs"], merged["limit"], merged["dataset"]["requests"]) == (2, 5, 5)
    assert "live" not in merged
