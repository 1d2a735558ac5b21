"""The judges in `af-tui stats`: Rich tables of each judge's counts, its agreement with people (at its own
verdict, and as a classifier: AUROC and the threshold sweep)."""

from __future__ import annotations

from af_tui.analysis.classifier import auroc_text, best_text, figure_text, with_ci
from af_tui.analysis.judge_vs_people import MAJORITY
from af_tui.domain import FAILED, UNPARSED, VERDICT_WORDS, VERDICTS, Verdict
from af_tui.safe_text import one_line

# Judge against people, by priority: in a terminal too narrow for all of them, the last ones are left out (the
# caption names them) rather than every column squeezed to nothing (`n`, `acc.`, `out` were, at 100 columns).
AGREEMENT_PRIORITY = ("judge", "vs", "n", "acc.", "κ [95% CI]", "prec. [95% CI]", "rec. [95% CI]", "out",
                      "AUROC [95% CI]", "tp fp fn tn", "best thr. (κ in-sample; CV)")
SWEEP_PRIORITY = ("threshold", "n", "prec. [95% CI]", "rec. [95% CI]", "F1", "κ [95% CI]", "", "tp fp fn tn")


def _cell_width(cell) -> int:
    return max((len(line) for line in cell.plain.split("\n")), default=0)


def _fit(table, headers: tuple[str, ...], rows: list[list], priority: tuple[str, ...], width: int | None):
    """Fill `table` with the columns (by priority) that fit in `width` cells whole (None: all of them); the
    headers left out, in their order."""
    from rich.text import Text

    need = {h: max([len(h)] + [_cell_width(r[i]) for r in rows]) + 2 for i, h in enumerate(headers)}
    kept = list(priority)
    while width is not None and len(kept) > 2 and sum(need[h] for h in kept) + len(kept) - 1 > width:
        kept.pop()
    shown = [i for i, h in enumerate(headers) if h in kept]
    for i in shown:
        h = headers[i]
        table.add_column(h, justify="left" if h in ("judge", "vs") else "right", no_wrap=True,
                         min_width=need[h] - 2)
    for r in rows:
        table.add_row(*(r[i] if isinstance(r[i], Text) else Text(str(r[i])) for i in shown))
    return [h for h in headers if h not in kept]


def tables(data: dict, width: int | None = None) -> list:
    """Rich tables of `judge_vs_people.report()`: the judges, then judge against people. Model and annotator
    names are typed by people or providers: every cell is a Text, never markup. In `width` cells (a terminal's;
    None: however wide), the columns of lowest priority are left out, and the caption says which."""
    from rich.table import Table
    from rich.text import Text

    out = []
    if data["judges"]:
        t = Table(title="LLM judges", title_justify="left", caption_justify="left")
        for col in ("judge", "judged", "AF", "not AF", VERDICT_WORDS[Verdict.UNCLEAR], "unparsed", "failed"):
            t.add_column(col, justify="left" if col == "judge" else "right")
        t.caption = ("judge: model @ prompt sha256; unparsed: replies with no readable verdict (kept, never "
                     "guessed); failed: the call failed after retries (asked again on the next run)")
        for j in data["judges"]:
            t.add_row(Text(one_line(j["judge_model"], 40) + "\n@" + j["prompt_sha256"][:8]),
                      *(Text(str(j[k])) for k in ("n", *VERDICTS, UNPARSED, FAILED)))
        out.append(t)
    if data["agreement"]:
        t = Table(title="Judge against people (positive: alignment faking; reference: the person)",
                  title_justify="left", caption_justify="left", show_edge=False)
        headers = ("judge", "vs", "n", "acc.", "prec. [95% CI]", "rec. [95% CI]", "κ [95% CI]", "tp fp fn tn",
                   "out", "AUROC [95% CI]", "best thr. (κ in-sample; CV)")
        rows = [[Text(one_line(a["judge_model"], 40) + "\n@" + a["prompt_sha256"][:8]),
                 Text("majority" if a["against"] == MAJORITY else one_line(a["annotator"], 40)),
                 Text(str(a["n"])), Text(figure_text(a["accuracy"], True)),
                 Text(with_ci(a, "precision", True)), Text(with_ci(a, "recall", True)),
                 Text(with_ci(a, "kappa")),
                 Text(f"{a['tp']} {a['fp']} {a['fn']} {a['tn']}"),
                 Text(str(a["excluded"]) + (f" ({a['undecided']} undecided)" if a.get("undecided") else "")),
                 Text(auroc_text(a["roc"])), Text(best_text(a["best"], a.get("best_cv")))]
                for a in data["agreement"]]
        left_out = _fit(t, headers, rows, AGREEMENT_PRIORITY, width)
        t.caption = ((f"left out at {width} columns: {', '.join(left_out)} (a wider terminal, or pipe to a "
                      "file, shows them); " if left_out else "") +
                     "judge: model @ prompt sha256; n: samples where both said alignment faking or not; "
                     "out: either said unclear, or "
                     "the judge's reply was unparsed, or the annotators tied (undecided, counted after out); "
                     "majority: the annotators' most frequent verdict (a tie settled by the adjudicated label, "
                     "else undecided and left out); prec./rec.: Wilson intervals; κ: asymptotic interval (statsmodels); "
                     "AUROC: of the judge's score (share of votes saying AF; 1/0/0 for AF/not AF/unclear "
                     "one-vote rows stored before scores), DeLong interval, or a bootstrap over requests when "
                     "samples share a request (both tiers, epochs); best thr.: the score threshold with the "
                     "highest κ, κ there in-sample (tuned and scored on the same labels: optimistic) and "
                     "cross-validated (5-fold by request: tuned on 4/5 of the requests, scored on the rest)")
        out.append(t)
        for a in data["agreement"]:
            if len(a["sweep"]) > 1:
                out.append(sweep_table(a, width))
    return out


def sweep_table(a: dict, width: int | None = None):
    """Precision, recall, F1 and kappa if the judge called AF at each score threshold (in `width` cells: the
    columns that fit, by priority)."""
    from rich.table import Table
    from rich.text import Text

    who = "majority" if a["against"] == MAJORITY else one_line(a["annotator"], 40)
    t = Table(title=Text(f"Threshold sweep: {one_line(a['judge_model'], 40)} @{a['prompt_sha256'][:8]} "
                         f"against {who} (AF when score ≥ threshold)"),
              title_justify="left", caption_justify="left", show_edge=False)
    headers = ("threshold", "n", "tp fp fn tn", "prec. [95% CI]", "rec. [95% CI]", "F1", "κ [95% CI]", "")
    best = a["best"]["threshold"] if a["best"] else None
    rows = [[Text(f"{r['threshold']:.2f}"), Text(str(r["n"])),
             Text(f"{r['tp']} {r['fp']} {r['fn']} {r['tn']}"), Text(with_ci(r, "precision", True)),
             Text(with_ci(r, "recall", True)), Text(figure_text(r["f1"])), Text(with_ci(r, "kappa")),
             Text("best κ" if r["threshold"] == best else "")] for r in a["sweep"]]
    left_out = _fit(t, headers, rows, SWEEP_PRIORITY, width)
    if left_out:
        t.caption = f"left out at {width} columns: {', '.join(h or 'best κ' for h in left_out)}"
    return t
