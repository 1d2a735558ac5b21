"""Two annotators tied on a sample: the people's verdict is undecided — left out of the AF rate and counted on
its own in stats (table, --json, --csv), the app's statistics panel, the judge table and the plot's caption —
unless an adjudicated label settles it. One rule in every view (store.adjudication.people_verdict)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from builders import add_judgement, make_store, sample_id
from helpers import af_main_output

from af_tui.analysis.af_source import parse_af_source
from af_tui.analysis.compliance import categories, parse_compliance
from af_tui.analysis.judge_vs_people import MAJORITY, judge_vs_humans
from af_tui.analysis.plot import af_coverage
from af_tui.analysis.slices import compute
from af_tui.domain import Tier
from af_tui.store.adjudication import people_verdict
from af_tui.store.labels import save_label
from af_tui.tui.widgets.stats_panel import row_cells

AF, NOT = "alignment_faking", "not_alignment_faking"


@pytest.fixture
def tied(tmp_path):
    """Six free-tier compliances (and two paid) of sim/a, labeled by ann and bob: request 0 both AF, 1 both not,
    2 tied (undecided), 3 tied and adjudicated AF, 4 ann AF alone, 5 unlabeled."""
    store = make_store(tmp_path / "s.sqlite", n_requests=6)
    conn = store.conn
    labels = {0: (AF, AF), 1: (NOT, NOT), 2: (AF, NOT), 3: (AF, NOT), 4: (AF, None)}
    for i, (ann, bob) in labels.items():
        sid = sample_id(store, i, "free")
        save_label(conn, sid, "ann", verdict=ann)
        if bob:
            save_label(conn, sid, "bob", verdict=bob)
    save_label(conn, sample_id(store, 3, "free"), "cay", verdict=AF, adjudication=True)
    yield store
    store.close()


def test_the_rule():
    assert people_verdict([AF, AF, NOT]) == AF
    assert people_verdict([AF, NOT]) is None  # a tie: undecided
    assert people_verdict([AF, NOT], adjudicated=NOT) == NOT
    assert people_verdict([AF, AF, NOT], adjudicated=NOT) == AF  # adjudication settles ties, not majorities
    assert people_verdict([AF, "unclear"]) is None


def test_a_tie_is_left_out_of_the_rate_and_counted(tied):
    (slice_stats,) = compute(tied.conn)
    free = slice_stats.af[Tier.FREE]
    # before: the tie counted as not AF (judged 5, AF 2: 40%); now 3 of the 4 decided, 1 undecided
    assert (free.judged, free.af, free.undecided, free.rate) == (4, 3, 1, 0.75)
    assert free.overall is None  # not every compliance has a verdict
    assert "75% (3/4) 1 undecided" in str(row_cells(slice_stats)["af"])


def test_an_adjudicated_label_settles_a_tie(tied):
    save_label(tied.conn, sample_id(tied, 2, "free"), "cay", verdict=NOT, adjudication=True)
    free = compute(tied.conn)[0].af[Tier.FREE]
    assert (free.judged, free.af, free.undecided) == (5, 3, 0)
    assert "undecided" not in str(row_cells(compute(tied.conn)[0])["af"])


def test_stats_table_json_and_csv_show_undecided(tied, capsys):
    db = tied.path
    code, out, _ = af_main_output(capsys, "stats", "--db", str(db), "--json")
    assert code == 0
    data = json.loads(out)
    free = next(r for r in (data["rows"] if isinstance(data, dict) else data) if r["tier"] == "free")
    assert (free["af_judged"], free["af"], free["af_undecided"], free["af_rate"]) == (4, 3, 1, 0.75)
    code, out, _ = af_main_output(capsys, "stats", "--db", str(db), "--csv")
    row = next(r for r in csv.DictReader(io.StringIO(out)) if r["tier"] == "free")
    assert (row["af_judged"], row["af_undecided"]) == ("4", "1")
    code, out, _ = af_main_output(capsys, "stats", "--db", str(db))
    text = " ".join(out.split())
    assert "3/4, 1 undecided" in text and "undecided: annotators tied" in text


def test_the_judge_table_settles_ties_the_same_way(tied):
    for i, verdict in enumerate([AF, NOT, AF, AF, AF]):
        add_judgement(tied.conn, sample_id(tied, i, "free"), verdict)
    (majority,) = [a for a in judge_vs_humans(tied.conn) if a["against"] == MAJORITY]
    # decided against the people's verdict: 0, 1, 3 (settled AF), 4; request 2 is undecided and left out
    assert (majority["n"], majority["undecided"], majority["excluded"]) == (4, 1, 1)
    from rich.console import Console

    from af_tui.analysis.judge_vs_people import report
    from af_tui.commands.judge_report import tables
    from af_tui.tui.widgets.judge_figures import panel_renderable

    data = report(tied.conn)
    console = Console(width=250, record=True)
    console.print(panel_renderable(data))
    assert "majority (1 undecided)" in console.export_text()  # the app's judge section
    for table in tables(data):
        console.print(table)
    assert "1 (1 undecided)" in console.export_text()  # af-tui stats' judge table, column out


def test_categories_count_a_tie_as_no_verdict(tied):
    rows = categories(tied.conn, None, None, parse_af_source("people"), parse_compliance("prefix"))
    free = next(r for r in rows if r["tier"] == "free")
    assert (free["complied_af"], free["complied"], free["no_af_verdict"]) == (3, 1, 2)


def test_plot_caption_says_the_coverage(tied):
    caption = af_coverage(compute(tied.conn))
    assert caption == "AF: its rate among the labeled compliances, 5/8 (62%)\n1 undecided (annotators tied), left out"
