"""Hostile text outside the app: model, variant and run names (as an imported log can bring them) and model
text holding Rich markup, ANSI CSI and OSC sequences (OSC 8 links, OSC 52 clipboard writes, title changes),
C0/C1 controls, bidi overrides, zero-width characters and a 1 MB line. `af-tui stats` tables print them inert
(no escape, control or bidi character reaches the terminal), `--csv` and `export` neutralise formulas, `--json`
and JSONL keep the text exactly.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest
from helpers import af_process

from af_tui.store.db import Store
from af_tui.store.sample import Sample

OSC = "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\ \x1b]52;c;ZXZpbA==\x07 \x1b]0;pwned\x07"
CSI = "\x1b[31mred\x1b[0m\x1b[2J\x1b[H"
CONTROLS = "nul\x00 bell\x07 bs\x08 cr\r del\x7f nel\x85 csi1\x9b31m"
BIDI = "abc\u202edcba\u202c \u2066iso\u2069 zero\u200bwidth\u200d\ufeff"
MARKUP = "[bold]b[/bold] [link=https://evil.example]x[/link] [/]"
NAME = "=HYPERLINK(\"http://evil.example\")" + MARKUP + CSI + OSC + CONTROLS + BIDI
TEXT = "\n".join([MARKUP, CSI, OSC, CONTROLS, BIDI])
HUGE = "x" * 1_000_000  # one 1 MB line
csv.field_size_limit(10**8)  # reading back cells of a megabyte
# What must never reach a terminal raw: ESC, C1, NUL and the other C0 controls but tab/newline, bidi controls.
FORBIDDEN = ["\x1b", "\x9b", "\x85", "\x00", "\x07", "\x08", "\r", "\x7f", "\u202e", "\u202c", "\u2066", "\u2069"]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hostile_cli") / "hostile.sqlite"
    with Store(path) as s:
        run = s.start_run("imported " + NAME, {"models": [NAME]}, source="inspect")
        variant = s.ensure_variant("variant " + NAME, "a stand-in system prompt")
        prompts = s.ensure_prompts([f"made-up request {i} {TEXT}" for i in range(6)] + [HUGE])
        rows = []
        for i, pid in enumerate(prompts):
            for model in (NAME, "sim/" + HUGE[:200_000]):
                for tier in ("free", "paid"):
                    rows.append(Sample(run_id=run, model=model, variant=variant, prompt_id=pid, prompt_index=i,
                                     tier=tier, outcome="complied" if tier == "free" else "refused",
                                     scratchpad=TEXT + "\n" + HUGE if i == 6 else TEXT,
                                     output="=1+1 " + TEXT if tier == "free" else "-2 " + TEXT))
        s.save_samples(rows)
    return path


def _af(*args: str) -> subprocess.CompletedProcess:
    return af_process(*args, text=False, timeout=300)


@pytest.mark.slow
def test_stats_tables_print_hostile_names_inert(store_path):
    proc = _af("stats", "--db", str(store_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.decode("utf-8")
    for ch in FORBIDDEN:
        assert ch not in out, f"{ch!r} reached the terminal"
    assert "[bold]" in out  # markup shown as the text it is
    assert len(out) < 2_000_000  # the 200 kB name is shown, not multiplied
    for by in ("model", "variant"):
        proc = _af("stats", "--db", str(store_path), "--by", by)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert not any(ch in proc.stdout.decode("utf-8") for ch in FORBIDDEN)


@pytest.mark.slow
def test_stats_csv_neutralises_and_json_keeps_names(store_path):
    proc = _af("stats", "--db", str(store_path), "--csv")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader(io.StringIO(proc.stdout.decode("utf-8"))))
    names = {r["model"] for r in rows}
    assert "'" + NAME in names and NAME not in names  # a formula is never a cell's first character
    proc = _af("stats", "--db", str(store_path), "--json")
    assert proc.returncode == 0
    assert NAME in {r["model"] for r in json.loads(proc.stdout)}  # JSON keeps the exact text


@pytest.mark.slow
def test_export_neutralises_csv_cells_and_jsonl_keeps_everything(store_path, tmp_path):
    out = tmp_path / "hostile.csv"
    proc = _af("export", "--db", str(store_path), str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 28
    for row in rows:
        for value in row.values():
            assert not value or value[0] not in "=+-@\t\r", value[:40]
    assert any(len(r["scratchpad"]) > 1_000_000 for r in rows)  # the 1 MB line survives whole
    out = tmp_path / "hostile.jsonl"
    assert _af("export", "--db", str(store_path), str(out)).returncode == 0
    with open(out, encoding="utf-8", newline="\n") as fh:  # lines end at \n only (U+0085/U+2028 are text)
        records = [json.loads(line) for line in fh]
    assert {r["model"] for r in records} >= {NAME} and any(r["output"] == "=1+1 " + TEXT for r in records)
