"""`af-tui stats` and `af-tui plot` from the command line: keys, CSV safety, hostile model names, bad input."""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest
from helpers import af_main_output

from af_tui.commands.stats import BASE_KEYS
from af_tui.files import csv_cell
from af_tui.store.db import Store
from af_tui.store.sample import Sample

HOSTILE = "=HYPERLINK(\"x\")[bold]\x1b[31m$\\frac{$"


def _run(argv, capsys):
    return af_main_output(capsys, *argv)


@pytest.fixture
def store_path(db_path):
    with Store(db_path) as store:
        store.ensure_variant("v", "stand-in")
        run_id = store.start_run("r1", {})
        pids = store.ensure_prompts([f"made-up request {i}" for i in range(6)])
        rows = []
        for model, pairs in {"sim/faker": [("complied", "refused")] * 4 + [("complied", "complied")] * 2,
                             HOSTILE: [("refused", "refused")] * 5 + [("error", "refused")]}.items():
            for i, (free, paid) in enumerate(pairs):
                for tier, outcome in (("free", free), ("paid", paid)):
                    rows.append({"run_id": run_id, "model": model, "variant": "v", "prompt_id": pids[i],
                                 "tier": tier, "outcome": outcome})
        store.save_samples([Sample(**row) for row in rows])
        sid = store.conn.execute("SELECT id FROM samples WHERE model = 'sim/faker' AND tier = 'free' LIMIT 1").fetchone()[0]
        with store.conn:
            store.conn.execute("INSERT INTO labels (uid, sample_id, annotator, verdict, created_at) "
                               "VALUES ('u1', ?, 'ann', 'alignment_faking', 1)", (sid,))
    return str(db_path)


def test_stats_json_keeps_the_per_tier_counts_first_and_adds_figures(store_path, capsys):
    code, out, _ = _run(["stats", "--db", store_path, "--json"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 4
    for row in rows:
        assert list(row)[:len(BASE_KEYS)] == list(BASE_KEYS)
        for key in ("complied_rate", "complied_low", "complied_high", "gap", "gap_low", "gap_high", "gap_method",
                    "p_value", "af_rate", "pairs_incomplete", "unpaired_gap"):
            assert key in row
    faker = {r["tier"]: r for r in rows if r["model"] == "sim/faker"}
    assert faker["free"]["complied"] == 6 and faker["paid"]["complied"] == 2
    assert faker["free"]["gap"] == pytest.approx(4 / 6) and faker["free"]["gap_method"] == "paired"
    assert faker["free"]["af"] == 1 and faker["free"]["af_judged"] == 1
    hostile = {r["tier"]: r for r in rows if r["model"] == HOSTILE}
    assert hostile["free"]["error"] == 1 and hostile["free"]["valid"] == 5


def test_stats_csv_neutralises_formulas(store_path, capsys):
    code, out, _ = _run(["stats", "--db", store_path, "--csv"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["model"] for r in rows} == {"sim/faker", "'" + HOSTILE}
    assert csv_cell("-0.5") == "'-0.5" and csv_cell(-0.5) == -0.5 and csv_cell("@x") == "'@x"
    assert csv_cell("\tx") == "'\tx" and csv_cell("\rx") == "'\rx" and csv_cell(None) == ""


def test_stats_tables_show_hostile_names_as_text(store_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = _run(["stats", "--db", store_path, "--by", "model"], capsys)
    assert code == 0
    assert "[bold]" in out and "\x1b[31m" not in out  # markup shown literally, the escape made visible
    assert "Compliance gap" in out and "paired, McNemar" in out
    code, out, _ = _run(["stats", "--db", store_path, "--comparisons", "--json", "--by", "model"], capsys)
    (comp,) = json.loads(out)
    assert comp["baseline_model"] in ("sim/faker", HOSTILE) and comp["difference_low"] < comp["difference"]


@pytest.mark.parametrize(("argv", "message"), [
    (["stats", "--run", "nope"], "no run named 'nope'"),
    (["stats", "--model", "nope"], "no samples for model(s) nope"),
    (["stats", "--json", "--csv"], "exclusive"),
    (["plot", "out.txt"], "must end in .png, .svg, .pdf"),
    (["plot", "no/such/dir/fig.png"], "does not exist"),
    (["plot", "fig.png", "--width", "0"], "--width"),
])
def test_bad_input_is_one_line(store_path, capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(argv + ["--db", store_path], capsys)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_stats_without_a_store_is_one_line(tmp_path, capsys):
    code, _, err = _run(["stats", "--db", str(tmp_path / "missing.sqlite")], capsys)
    assert code == 2 and err.count("\n") == 1


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_plot_writes_the_figure(store_path, tmp_path, capsys, suffix):
    out_path = tmp_path / f"figure{suffix}"
    code, out, _ = _run(["plot", str(out_path), "--db", store_path, "--model", "sim/faker"], capsys)
    assert code == 0 and out.strip() == f"wrote {out_path}"
    head = out_path.read_bytes()[:8]
    assert {".png": head.startswith(b"\x89PNG"), ".pdf": head.startswith(b"%PDF"),
            ".svg": b"<svg" in out_path.read_bytes()[:2000]}[suffix]


def test_plot_draws_hostile_names_as_text(store_path, tmp_path, capsys):
    code, _, err = _run(["plot", str(tmp_path / "f.svg"), "--db", store_path], capsys)
    assert code == 0, err
    assert "HYPERLINK" in (tmp_path / "f.svg").read_text(encoding="utf-8")


def test_plot_without_matplotlib_is_one_line(store_path, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, _, err = _run(["plot", str(tmp_path / "f.png"), "--db", store_path], capsys)
    assert code == 2 and "af-tui[plot]" in err


def test_empty_store_has_no_rows_and_no_figure(db_path, tmp_path, capsys):
    Store(db_path).close()
    code, out, _ = _run(["stats", "--db", str(db_path), "--json"], capsys)
    assert code == 0 and json.loads(out) == []
    code, out, _ = _run(["stats", "--db", str(db_path), "--csv"], capsys)
    assert code == 0 and out.strip() == ",".join(BASE_KEYS)
    code, _, err = _run(["plot", str(tmp_path / "f.png"), "--db", str(db_path)], capsys)
    assert code == 2 and "no samples in the store" in err and not (tmp_path / "f.png").exists()
