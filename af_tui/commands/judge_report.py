"""The judges in `af-tui stats`: Rich tables of each judge's counts and of its agreement with people."""

from __future__ import annotations

from af_tui.analysis.judge_vs_people import MAJORITY, figure_text
from af_tui.safe_text import one_line


def tables(data: dict) -> list:
    """Rich tables of `judge_vs_people.report()`: the judges, then judge against people. Model and annotator
    names are typed by people or providers: every cell is a Text, never markup."""
    from rich.table import Table
    from rich.text import Text

    out = []
    if data["judges"]:
        t = Table(title="LLM judges", title_justify="left", caption_justify="left")
        for col in ("judge", "judged", "AF", "not AF", "unclear", "unparsed", "failed"):
            t.add_column(col, justify="left" if col == "judge" else "right")
        t.caption = ("judge: model @ prompt sha256; unparsed: replies with no readable verdict (kept, never "
                     "guessed); failed: the call failed after retries (asked again on the next run)")
        for j in data["judges"]:
            t.add_row(Text(one_line(j["judge_model"], 40) + "\n@" + j["prompt_sha256"][:8]),
                      *(Text(str(j[k])) for k in ("n", "alignment_faking", "not_alignment_faking", "unclear",
                                                  "unparsed", "error")))
        out.append(t)
    if data["agreement"]:
        t = Table(title="Judge against people (positive: alignment faking; reference: the person)",
                  title_justify="left", caption_justify="left", show_edge=False)
        for col in ("judge", "vs", "n", "acc.", "prec.", "rec.", "κ", "tp fp fn tn", "out"):
            t.add_column(col, justify="left" if col in ("judge", "vs") else "right", no_wrap=True)
        t.caption = ("judge: model @ prompt sha256; n: samples where both said alignment faking or not; "
                     "out: either said unclear, or "
                     "the judge's reply was unparsed; majority: the annotators' most frequent verdict (ties "
                     "left out)")
        for a in data["agreement"]:
            t.add_row(Text(one_line(a["judge_model"], 40) + "\n@" + a["prompt_sha256"][:8]),
                      Text("majority" if a["against"] == MAJORITY else one_line(a["annotator"], 40)),
                      Text(str(a["n"])), Text(figure_text(a["accuracy"], True)),
                      Text(figure_text(a["precision"], True)), Text(figure_text(a["recall"], True)),
                      Text(figure_text(a["kappa"])),
                      Text(f"{a['tp']} {a['fp']} {a['fn']} {a['tn']}"), Text(str(a["excluded"])))
        out.append(t)
    return out
