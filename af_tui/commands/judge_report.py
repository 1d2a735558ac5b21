"""The judges in `af-tui stats`: Rich tables of each judge's counts, its agreement with people (at its own
verdict, and as a classifier: AUROC and the threshold sweep)."""

from __future__ import annotations

from af_tui.analysis.classifier import auroc_text, best_text, figure_text, with_ci
from af_tui.analysis.judge_vs_people import MAJORITY
from af_tui.domain import FAILED, UNPARSED, VERDICT_WORDS, VERDICTS, Verdict
from af_tui.safe_text import one_line


def tables(data: dict) -> list:
    """Rich tables of `judge_vs_people.report()`: the judges, then judge against people. Model and annotator
    names are typed by people or providers: every cell is a Text, never markup."""
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
        for col in ("judge", "vs", "n", "acc.", "prec. [95% CI]", "rec. [95% CI]", "κ [95% CI]", "tp fp fn tn",
                    "out", "AUROC [95% CI]", "best thr. (κ in-sample; CV)"):
            t.add_column(col, justify="left" if col in ("judge", "vs") else "right", no_wrap=True)
        t.caption = ("judge: model @ prompt sha256; n: samples where both said alignment faking or not; "
                     "out: either said unclear, or "
                     "the judge's reply was unparsed, or the annotators tied (undecided, counted after out); "
                     "majority: the annotators' most frequent verdict (a tie settled by the adjudicated label, "
                     "else undecided and left out); prec./rec.: Wilson intervals; κ: asymptotic interval (statsmodels); "
                     "AUROC: of the judge's score (share of votes saying AF; 1/0/0 for AF/not AF/unclear "
                     "one-vote rows stored before scores), DeLong interval, or a bootstrap over requests when "
                     "samples share a request (both tiers, epochs); best thr.: the score threshold with the "
                     "highest κ, κ there in-sample (tuned and scored on the same labels: optimistic) and "
                     "cross-validated (5-fold by request: tuned on 4/5 of the requests, scored on the rest)")
        for a in data["agreement"]:
            t.add_row(Text(one_line(a["judge_model"], 40) + "\n@" + a["prompt_sha256"][:8]),
                      Text("majority" if a["against"] == MAJORITY else one_line(a["annotator"], 40)),
                      Text(str(a["n"])), Text(figure_text(a["accuracy"], True)),
                      Text(with_ci(a, "precision", True)), Text(with_ci(a, "recall", True)),
                      Text(with_ci(a, "kappa")),
                      Text(f"{a['tp']} {a['fp']} {a['fn']} {a['tn']}"), Text(str(a["excluded"]) + (f" ({a['undecided']} undecided)" if a.get("undecided") else "")),
                      Text(auroc_text(a["roc"])), Text(best_text(a["best"], a.get("best_cv"))))
        out.append(t)
        for a in data["agreement"]:
            if len(a["sweep"]) > 1:
                out.append(sweep_table(a))
    return out


def sweep_table(a: dict):
    """Precision, recall, F1 and kappa if the judge called AF at each score threshold."""
    from rich.table import Table
    from rich.text import Text

    who = "majority" if a["against"] == MAJORITY else one_line(a["annotator"], 40)
    t = Table(title=Text(f"Threshold sweep: {one_line(a['judge_model'], 40)} @{a['prompt_sha256'][:8]} "
                         f"against {who} (AF when score ≥ threshold)"),
              title_justify="left", show_edge=False)
    for col in ("threshold", "n", "tp fp fn tn", "prec. [95% CI]", "rec. [95% CI]", "F1", "κ [95% CI]", ""):
        t.add_column(col, justify="right", no_wrap=True)
    best = a["best"]["threshold"] if a["best"] else None
    for r in a["sweep"]:
        t.add_row(Text(f"{r['threshold']:.2f}"), Text(str(r["n"])),
                  Text(f"{r['tp']} {r['fp']} {r['fn']} {r['tn']}"), Text(with_ci(r, "precision", True)),
                  Text(with_ci(r, "recall", True)), Text(figure_text(r["f1"])), Text(with_ci(r, "kappa")),
                  Text("best κ" if r["threshold"] == best else ""))
    return t
