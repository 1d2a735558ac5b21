"""A request the provider blocked is a valid, not-complied outcome everywhere: in its pair (one epoch and
clustered), in n, under a compliance judge and in the categories; `stats`, `--json`, the panel, the chart and
the plot give the same numbers. Checked against a hand computation."""

from __future__ import annotations

import json
import math

import pytest
from builders import add_judgement
from helpers import af_main_output

from af_tui.analysis.af_source import parse_af_source
from af_tui.analysis.compliance import categories, judged_slices, parse_compliance
from af_tui.analysis.slices import compute
from af_tui.store.db import Store
from af_tui.store.sample import Sample

# 10 (free complied, paid blocked) + 10 (refused, refused): rates 50% and 0%.
MIX = [("complied", "blocked")] * 10 + [("refused", "refused")] * 10


def _build(path, rows, *, model="sim/m", epochs=1, run="r") -> None:
    with Store(path) as store:
        run_id = store.start_run(run, {"models": [model]})
        variant = store.ensure_variant("v", "stand-in")
        pids = store.ensure_prompts([f"made-up request {model} {i}" for i in range(len(rows))])
        samples = [Sample(run_id=run_id, model=model, variant=variant, prompt_id=pids[i], prompt_index=i, tier=tier,
                          epoch=e, outcome=outcome, scratchpad=None if outcome == "blocked" else "thinking",
                          output=None if outcome == "blocked" else "answer",
                          error="blocked by the provider: content_filter" if outcome == "blocked" else None)
                   for e in range(epochs) for i, (free, paid) in enumerate(rows)
                   for tier, outcome in (("free", free), ("paid", paid))]
        store.save_samples(samples)
        store.finish_run(run_id, "done")


def _wilson(k, n, z=1.959963984540054):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_ten_complied_blocked_and_ten_refused_pairs_give_fifty_points_paired(db_path):
    _build(db_path, MIX)
    with Store(db_path, create=False) as store:
        (sl,) = compute(store.conn)
    # By hand: a = 0, b = 10 (free complied, paid blocked), c = 0, d = 10, n = 20 pairs. The margins' product
    # (a + c) = 0 makes phi 0, so Newcombe's limits are 0.5 − √((0.5 − L₁)² + U₂²) and 0.5 + (U₁ − 0.5), with
    # (L₁, U₁) Wilson's for 10/20 and U₂ Wilson's upper limit for 0/20. McNemar: 2 · 0.5¹⁰.
    l1, u1 = _wilson(10, 20)
    _, u2 = _wilson(0, 20)
    assert (sl.pairs, sl.discordant, sl.pairs_incomplete, sl.gap_method) == (20, (10, 0), 0, "paired")
    assert sl.gap == pytest.approx(0.5)
    assert sl.gap_low == pytest.approx(0.5 - math.hypot(0.5 - l1, u2), abs=1e-12)
    assert sl.gap_high == pytest.approx(u1, abs=1e-12)
    assert sl.p_value == pytest.approx(2 * 0.5 ** 10)
    assert (round(100 * sl.gap_low, 1), round(100 * sl.gap_high, 1)) == (24.3, 70.1)
    assert (sl.valid("paid"), sl.tiers["paid"].blocked, sl.rate("paid")) == (20, 10, 0.0)


def test_two_epochs_of_the_same_pairs_give_the_same_gap_clustered(db_path):
    _build(db_path, MIX, epochs=2)
    with Store(db_path, create=False) as store:
        (sl,) = compute(store.conn)
    # 20 requests, per-request means 1 (ten) and 0 (ten): mean 0.5, sd √(0.25·20/19), t interval on 19 df.
    from scipy import stats

    ref = stats.ttest_1samp([1.0] * 10 + [0.0] * 10, 0.0)
    low, high = ref.confidence_interval()
    assert (sl.gap_method, sl.pairs, sl.requests, sl.pairs_incomplete) == ("paired, clustered by request", 40, 20, 0)
    assert (sl.gap, sl.gap_low, sl.gap_high, sl.p_value) == pytest.approx((0.5, low, high, ref.pvalue))


def test_a_paid_tier_always_blocked_gets_a_paired_gap_with_a_test(db_path):
    rows = [("complied" if i % 3 == 0 else "refused", "blocked") for i in range(30)]
    _build(db_path, rows)
    with Store(db_path, create=False) as store:
        (sl,) = compute(store.conn)
    assert (sl.pairs, sl.pairs_incomplete, sl.discordant, sl.gap_method) == (30, 0, (10, 0), "paired")
    assert sl.gap == pytest.approx(1 / 3) and sl.p_value == pytest.approx(2 * 0.5 ** 10)
    assert sl.unpaired is None  # nothing left out, so no unpaired figure beside it


def test_blocked_on_both_tiers_is_a_pair(db_path):
    _build(db_path, [("blocked", "blocked")] * 5 + [("complied", "refused")] * 5)
    with Store(db_path, create=False) as store:
        (sl,) = compute(store.conn)
        request_pairs = store.conn.execute("SELECT SUM(complete) FROM request_pairs").fetchone()[0]
    # By hand: b = 5, d = 5 (the blocked pairs), 10 pairs: +50 pp (not +100 over the 5 unblocked ones).
    assert (sl.pairs, sl.discordant, sl.pairs_incomplete) == (10, (5, 0), 0) and request_pairs == 10
    assert sl.gap == pytest.approx(0.5) and sl.p_value == pytest.approx(2 * 0.5 ** 5)


def test_stats_json_panel_chart_and_plot_agree(db_path, capsys, monkeypatch):
    _build(db_path, MIX)
    monkeypatch.setenv("COLUMNS", "300")
    code, out, _ = af_main_output(capsys, "stats", "--db", str(db_path), "--json")
    rows = json.loads(out)
    assert code == 0 and {r["pairs"] for r in rows} == {20}
    free = next(r for r in rows if r["tier"] == "free")
    assert (free["gap"], free["gap_method"], free["pairs_incomplete"]) == (0.5, "paired", 0)
    code, table, _ = af_main_output(capsys, "stats", "--db", str(db_path))
    assert "+50.0 pp [+24.3, +70.1]" in table and "0.002" in table
    from af_tui.analysis.plot import bar_rows
    from af_tui.analysis.slices import panel_data
    from af_tui.tui.screens.chart import chart_text
    from af_tui.tui.widgets.stats_panel import row_cells

    with Store(db_path, create=False) as store:
        data = panel_data(store.conn)
    cells = row_cells(data[0])
    assert cells["gap"].plain == "+50.0 [+24.3, +70.1]" and cells["p"].plain == "0.002"
    assert cells["paid_n"].plain == "20 (10 blocked)"
    assert "gap +50.0 pp [+24.3, +70.1]" in chart_text(data, 100).plain
    bars = bar_rows(data)
    assert {(b.gap.estimate, round(b.gap.low, 3), round(b.gap.high, 3)) for b in bars} == {(0.5, 0.243, 0.701)}
    paid = next(b for b in bars if b.tier == "paid")
    assert paid.shares["blocked"] == 0.5 and sum(paid.shares.values()) == pytest.approx(1.0)


def test_the_chart_draws_a_tier_the_provider_always_blocked_as_blocked(db_path):
    _build(db_path, [("complied", "blocked")] * 4)
    from af_tui.analysis.slices import panel_data
    from af_tui.tui.screens.chart import chart_text

    with Store(db_path, create=False) as store:
        data = panel_data(store.conn)
    text = chart_text(data, 80)
    paid_line = next(line for line in text.plain.splitlines() if line.startswith("paid"))
    assert "0% complied" in paid_line and " blocked " in text.plain.splitlines()[0]
    styles = {str(span.style) for span in text.spans}
    assert "on #CC79A7" in styles


def test_under_a_compliance_judge_blocked_samples_stay_in_n_pairs_and_categories(db_path):
    _build(db_path, MIX)
    with Store(db_path, create=False) as store:
        conn = store.conn
        graded = conn.execute("SELECT id, outcome FROM samples WHERE outcome != 'blocked'").fetchall()
        for sid, outcome in graded:  # the judge reads every output there is; blocked samples have none
            refused = outcome == "refused"
            add_judgement(conn, sid, None, model="sim/comp", task="compliance", score=0.0 if refused else 0.625,
                          detail={"refused": refused, "convincing": 4, "specific": 3, "partial": False})
        src, comp = parse_af_source("people"), parse_compliance("judge:sim/comp")
        (sl,) = judged_slices(conn, None, None, "run", src, comp)
        (prefix,) = compute(conn)
        rows = {r["tier"]: r for r in categories(conn, None, None, src, comp)}
    assert sl.unjudged == {"free": 0, "paid": 0}
    assert (sl.valid("paid"), sl.tiers["paid"].blocked, sl.tiers["paid"].complied) == (20, 10, 0)
    assert (sl.pairs, sl.discordant, sl.gap, sl.gap_method) == (20, (10, 0), 0.5, "paired")
    assert (sl.gap, sl.gap_low, sl.gap_high, sl.p_value) == (prefix.gap, prefix.gap_low, prefix.gap_high,
                                                             prefix.p_value)
    # In the categories a blocked sample is refused without AF reasoning (it has no reasoning), never unjudged.
    paid = rows["paid"]
    assert (paid["refused"], paid["blocked"], paid["unjudged"], paid["no_af_verdict"]) == (10, 10, 0, 10)
