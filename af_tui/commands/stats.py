"""`af-tui stats` (rates with intervals, the paired free − paid gap, AF rates, comparisons) and `af-tui plot`
(the replication's figure). Both read the figures from `af_tui.analysis`; this module only formats them."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import click

from af_tui.commands.options import db_option, table_console
from af_tui.domain import OUTCOME_WORD, OUTCOMES, REPLY_OUTCOMES, Outcome, Tier
from af_tui.errors import AfError

# The per-tier keys of `stats --json` that scripts rely on: always first, in this order.
BASE_KEYS = ("run", "model", "variant", "tier", "n", *OUTCOMES)


def _num(x: float | None) -> float | None:
    """Full precision (a paper may quote more digits than the table shows); NaN becomes null."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def tier_rows(slices) -> list[dict]:
    """One flat row per slice and tier: the base keys, then rates, intervals, AF and the slice's gap."""
    rows = []
    for slice_stats in slices:
        for tier in Tier:
            counts = slice_stats.tiers[tier]
            if not counts.n:
                continue
            row = {"run": slice_stats.run, "model": slice_stats.model, "variant": slice_stats.variant,
                   "tier": tier, "n": counts.n, **{o: counts.of(o) for o in OUTCOMES},
                   "valid": slice_stats.valid(tier), "rule": slice_stats.rule, "af_source": slice_stats.af_source,
                   "compliance": slice_stats.compliance, "complied_when": slice_stats.complied_when,
                   "unjudged": slice_stats.unjudged.get(tier, 0)}
            for outcome in REPLY_OUTCOMES:
                ci = slice_stats.interval(tier, outcome)
                row[f"{outcome}_rate"] = _num(slice_stats.rate(tier, outcome))
                row[f"{outcome}_low"], row[f"{outcome}_high"] = (_num(ci[0]), _num(ci[1])) if ci else (None, None)
            row["interval_method"] = slice_stats.interval_method(tier)
            af = slice_stats.af.get(tier)
            ci = af.interval if af else None
            oci = af.overall_interval if af else None
            row.update({
                "af_judged": af.judged if af else 0, "af": af.af if af else 0,
                "af_unclear": af.unclear if af else 0, "af_undecided": af.undecided if af else 0,
                "af_rate": _num(af.rate) if af else None,
                "af_low": _num(ci[0]) if ci else None, "af_high": _num(ci[1]) if ci else None,
                "af_overall": _num(af.overall) if af else None,
                "af_overall_low": _num(oci[0]) if oci else None, "af_overall_high": _num(oci[1]) if oci else None,
                "af_labels": af.labels if af else 0, "af_labels_blind": af.blind if af else 0,
            })
            rf = slice_stats.af_refused.get(tier)
            rci = rf.interval if rf else None
            row.update({
                "af_refused_judged": rf.judged if rf else 0, "af_refused": rf.af if rf else 0,
                "af_refused_undecided": rf.undecided if rf else 0,
                "af_refused_rate": _num(rf.rate) if rf else None,
                "af_refused_low": _num(rci[0]) if rci else None, "af_refused_high": _num(rci[1]) if rci else None,
                "af_interval_method": _af_method(af, rf),
            })
            row.update(gap_fields(slice_stats))
            rows.append(row)
    return rows


def _af_method(*rates) -> str | None:
    """How a tier's AF intervals were made (None without a verdict): clustered when any of them is."""
    methods = {rate.interval_method for rate in rates if rate and rate.judged}
    if not methods:
        return None
    from af_tui.analysis.estimators import CLUSTERED_WILSON

    return CLUSTERED_WILSON if CLUSTERED_WILSON in methods else "Wilson"


def gap_fields(slice_stats) -> dict:
    unpaired = slice_stats.unpaired
    return {
        "gap": _num(slice_stats.gap), "gap_low": _num(slice_stats.gap_low),
        "gap_high": _num(slice_stats.gap_high), "gap_method": slice_stats.gap_method,
        "gap_note": slice_stats.gap_note, "p_value": _num(slice_stats.p_value), "test": slice_stats.test,
        "p_holm": _num(slice_stats.p_holm), "holm_tests": slice_stats.holm_tests, "small_n": slice_stats.small_n,
        "pairs": slice_stats.pairs, "requests": slice_stats.requests,
        "discordant_free_only": slice_stats.discordant[0], "discordant_paid_only": slice_stats.discordant[1],
        "pairs_incomplete": slice_stats.pairs_incomplete,
        "unpaired_gap": _num(unpaired.estimate) if unpaired else None,
        "unpaired_low": _num(unpaired.low) if unpaired else None,
        "unpaired_high": _num(unpaired.high) if unpaired else None, "running": slice_stats.running,
    }


def comparison_rows(comparisons, by: str) -> list[dict]:
    rows = []
    for c in comparisons:
        d = c.difference
        rows.append({
            "by": by, "af_source": c.a.af_source, "compliance": c.a.compliance, "run": c.a.run, "model": c.a.model, "variant": c.a.variant,
            "baseline_run": c.b.run, "baseline_model": c.b.model, "baseline_variant": c.b.variant,
            "gap": _num(c.a.gap), "baseline_gap": _num(c.b.gap),
            "difference": _num(d.estimate) if d else None, "difference_low": _num(d.low) if d else None,
            "difference_high": _num(d.high) if d else None, "method": d.method if d else None,
            "note": d.note if d else None,
        })
    return rows


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _rate_ci(x: float | None, ci) -> str:
    return "–" if x is None else f"{100 * x:.1f}% [{100 * ci[0]:.1f}–{100 * ci[1]:.1f}]"


def _pp(est) -> str:
    if est is None:
        return "–"
    if not est.estimable:
        return f"{100 * est.estimate:+.1f} pp [{est.note or 'not estimable'}]"
    return f"{100 * est.estimate:+.1f} pp [{100 * est.low:+.1f}, {100 * est.high:+.1f}]"


def _p(p: float | None) -> str:
    from af_tui.analysis.estimators import format_p

    return format_p(p, named=False)


def load_slices(conn, run_name, models, by, af_source, judge_model, compliance="prefix"):
    """The slices under a compliance rule (prefix: the store's kept counts) and an AF source."""
    from af_tui.analysis.af_counts import missing_verdicts
    from af_tui.analysis.af_source import parse_af_source
    from af_tui.analysis.compliance import judged_slices, parse_compliance
    from af_tui.analysis.slices import add_holm, compute

    parsed_af_source, parsed_compliance = parse_af_source(af_source, judge_model), parse_compliance(compliance)
    why = missing_verdicts(conn, parsed_af_source)
    if why and parsed_af_source.uses_judge:  # a judge that never judged here: a typo, not an empty column
        raise AfError(f"--af-source {parsed_af_source.name}: {why}")
    if why:
        click.echo(f"af-tui: {why}", err=True)
    if parsed_compliance.kind != "prefix":
        slices = judged_slices(conn, run_name, list(models) or None, by, parsed_af_source, parsed_compliance)
    else:
        slices = compute(conn, run=run_name, models=list(models) or None, by=by, af_source=parsed_af_source)
    add_holm(slices)  # the family: every gap test the table (or --json / --csv) shows
    return slices


def _load(db_path, run_name, models, by, af_source, judge_model, require=False, compliance="prefix"):
    """The slices; an empty store is fine for `stats` (no rows), not for `plot` (require)."""
    from af_tui.store.db import Store
    from af_tui.store.runs import require_run

    with Store(db_path, create=False) as store:
        if run_name:
            require_run(store.conn, run_name)
        slices = load_slices(store.conn, run_name, models, by, af_source, judge_model, compliance)
    if not slices and (run_name or models or require):
        what = " and ".join(filter(None, [run_name and f"run {run_name!r}",
                                          models and f"model(s) {', '.join(models)}"]))
        hint = "check --run / --model (see `af-tui stats`)" if what else "run `af-tui demo` or `af-tui run` first"
        raise AfError(f"no samples{' for ' + what if what else ' in the store'}; {hint}")
    return slices


def _parse_source(ctx, param, value):
    from af_tui.analysis.af_source import parse_af_source

    return parse_af_source(value)


def _parse_compliance(ctx, param, value):
    from af_tui.analysis.compliance import parse_compliance

    return parse_compliance(value)


_source_option = click.option(
    "--af-source", default="people", show_default=True, callback=_parse_source,
    metavar="people|people-blind|judge[:MODEL[@HASH]]|people-then-judge|adjudicated",
    help="Where alignment-faking verdicts come from: people (the annotators' majority; people-blind: of the "
         "labels made blind to the tier only), the judge (one model "
         "/ prompt when named), people where labeled else the judge, or the adjudicated labels. Named in every "
         "table, JSON/CSV row and figure.")
_compliance_option = click.option(
    "--compliance", default="prefix", show_default=True, callback=_parse_compliance,
    metavar="prefix|judge:MODEL|judge-not-refused:MODEL",
    help="How complied / refused is decided: the outcome rule on the answer's prefix, or a compliance "
         "judge's grades (`af-tui judge --task compliance --model MODEL`): judge: complied = score above 0, as "
         "the published pipelines count; judge-not-refused: complied = the judge did not say refused.")


@click.command()
@db_option
@click.option("--run", "run_name", default=None, help="Only this run.")
@click.option("--model", "models", multiple=True, help="Only this model (repeatable).")
@click.option("--by", type=click.Choice(["run", "model", "variant"]), default="run", show_default=True,
              help="run: a row per run × model × variant, and runs compared; model / variant: runs pooled per "
                   "model × variant, and models (within a variant) or variants (within a model) compared.")
@click.option("--baseline", default=None, help="The model / variant / run the others are compared with "
                                                "(default: the first).")
@_source_option
@_compliance_option
@click.option("--judge-model", default=None, help="Only judgements by this judge model (same as "
                                                   "--af-source judge:MODEL).")
@click.option("--categories", is_flag=True,
              help="Outcome × reasoning categories per model × variant × tier (refused with or without AF "
                   "reasoning, partially complied, complied) instead of the rates.")
@click.option("--comparisons", is_flag=True, help="With --json/--csv: print the comparisons, not the rows.")
@click.option("--judges", "judges", is_flag=True,
              help="With --json/--csv: print the LLM judges and their agreement with people, not the rows.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects instead of tables.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (spreadsheet-safe) instead of tables.")
def stats(db_path: str | None, run_name: str | None, models: tuple[str, ...], by: str, baseline: str | None,
          af_source, compliance, judge_model: str | None, categories: bool, comparisons: bool, judges: bool,
          as_json: bool, as_csv: bool) -> None:
    """Rates per tier with 95% Wilson intervals (at the request-clustered effective n when requests repeat),
    the free − paid compliance gap (paired Newcombe interval, exact McNemar test, Holm-adjusted p beside the
    raw one; clustered by request when requests repeat), alignment-faking rates, comparisons."""
    from af_tui.analysis.slices import compare

    if as_json and as_csv:
        raise AfError("--json and --csv are exclusive; pick one")
    if comparisons and judges:
        raise AfError("--comparisons and --judges are exclusive; pick one")
    if judges and (as_json or as_csv):
        from af_tui.commands.judge import print_judges

        return print_judges(db_path, run_name, models, as_json=as_json)
    if categories:
        from af_tui.commands.categories import print_categories

        return print_categories(db_path, run_name, models, af_source, compliance, judge_model,
                                as_json=as_json, as_csv=as_csv)
    slices = _load(db_path, run_name, models, by, af_source, judge_model, compliance=compliance)
    gap_comparisons = compare(slices, by=by, baseline=baseline)
    if as_json or as_csv:
        from af_tui.commands.cost_section import add_cost, cost_table

        rows = comparison_rows(gap_comparisons, by) if comparisons else add_cost(
            tier_rows(slices), cost_table(db_path, run_name, models))
        if as_json:
            click.echo(json.dumps(rows, indent=2))
        else:
            import sys

            from af_tui.files import write_csv

            keys = list(rows[0]) if rows else list(BASE_KEYS)
            write_csv(sys.stdout, keys, ([row[k] for k in keys] for row in rows), lineterminator="\n")
        return
    if not slices:
        click.echo("No samples yet: run `af-tui demo` or `af-tui run` first.")
        return
    _print_tables(slices, gap_comparisons, by)
    if compliance.kind == "prefix":
        _note_judge_measured(db_path, run_name)
    from af_tui.commands.cost_section import cost_table, print_cost

    print_cost(slices, cost_table(db_path, run_name, models))
    # After the figures: the LLM judges, then agreement between annotators (each only when there is any).
    from af_tui.commands.judge import stats_section as judges_section
    from af_tui.commands.labels import agreement_section

    for section in (judges_section, agreement_section):
        section(db_path=db_path, run_name=run_name, models=models)


def _note_judge_measured(db_path, run_name) -> None:
    """Runs whose setting measures compliance by a judge task: say that these prefix rates are not its measure."""
    from af_tui.experiment.setting import judge_measured
    from af_tui.safe_text import one_line
    from af_tui.store.db import Store

    with Store(db_path, create=False) as store:
        runs = judge_measured(store.conn, run_name)
    for run, setting, task in runs:
        click.echo(one_line(f"Run {run}'s setting {setting} measures compliance by its judge task {task}, not the "
                            "answer's prefix: judge it (`af-tui judge --setting FILE --run RUN --model M`) and read it "
                            "with --compliance judge-not-refused:M (or judge:M).", 400))


def _print_tables(slices, gap_comparisons, by: str) -> None:
    """The tables of `af-tui stats`: outcomes per tier, the free − paid gap, and the comparisons (if any)."""
    from rich.text import Text

    console = table_console()
    layout = _TableLayout.of(slices)
    console.print(_outcomes_table(slices, layout))
    console.print(_gap_table(slices, layout))
    if gap_comparisons:
        console.print(_comparison_table(gap_comparisons, by, layout))
    if any(slice_stats.running for slice_stats in slices):
        console.print(Text("A run is still writing: these figures will change."))


def _cell(value):
    """A table cell: one line, as plain text (names come from people and models, never markup)."""
    from rich.text import Text

    from af_tui.safe_text import one_line

    return Text(one_line(str(value), 120))


@dataclass(frozen=True)
class _TableLayout:
    """What every stats table shares: the key columns (run, model, variant, rule) that tell its rows apart, and
    the title's tail naming the keys that hold one value for every row and how the numbers were made."""

    keys: tuple[str, ...]
    where: str

    @classmethod
    def of(cls, slices) -> _TableLayout:
        from af_tui.safe_text import one_line

        # Columns that hold one value for every row go to the title instead, to leave room for the figures.
        keys = [k for k in ("run", "model", "variant")
                if len({getattr(slice_stats, k) for slice_stats in slices}) > 1 or k == "model"]

        def title_value(k: str) -> str:
            value = getattr(slices[0], k)
            runs = value.split(",") if k == "run" else []
            if len(runs) > 3:  # runs pooled by --by model|variant
                return f"runs {one_line(runs[0], 30)} … {one_line(runs[-1], 30)} ({len(runs)} pooled)"
            return f"{k} {one_line(value, 60)}"

        fixed = [title_value(k) for k in ("run", "variant") if k not in keys]
        rules = {slice_stats.rule for slice_stats in slices}
        if len(rules) == 1:  # every number says which outcome rule made it (a compliance judge has none)
            fixed += [f"rule {one_line(r, 40)}" for r in rules if r]
        else:
            keys.append("rule")
        # Every title names how its numbers were made: the compliance rule or judge, and the AF source.
        when = slices[0].complied_when
        fixed += [f"compliance: {one_line(slices[0].compliance, 60)}" + (f" (complied = {when})" if when else ""),
                  f"AF source: {one_line(slices[0].af_source, 60)}"]
        return cls(tuple(keys), f" — {', '.join(fixed)}")

    def table(self, title: str, columns: list[str], left: tuple = ()):
        """An empty rich Table with the key columns, then `columns` (right-aligned unless in `left`)."""
        from rich.table import Table

        table = Table(title=title + self.where, title_justify="left", caption_justify="left")
        for column in (*self.keys, *columns):
            table.add_column(column, justify="left" if column in self.keys or column in left else "right",
                             no_wrap=column in self.keys or column == "tier")
        return table

    def key_cells(self, row) -> list:
        return [_cell(getattr(row, k)) for k in self.keys]


def _af_cell(rate) -> str:
    """An AF rate with its interval and count, and the undecided samples (annotators tied, in no rate) when
    there are any; – when nothing was judged."""
    if not rate or not (rate.judged or rate.undecided):
        return "–"
    cell = f"{_rate_ci(rate.rate, rate.interval)} {rate.af}/{rate.judged}" if rate.judged else "–"
    return cell + (f", {rate.undecided} undecided" if rate.undecided else "")


def _any_undecided(slices) -> bool:
    return any(rate.undecided for slice_stats in slices for rates in (slice_stats.af, slice_stats.af_refused)
               for rate in rates.values())


def _outcomes_table(slices, layout: _TableLayout):
    """Outcomes per tier: n, complied with its interval, the other outcomes, AF among complied and refused."""
    from af_tui.experiment.setting import SETTING_MARK
    from af_tui.safe_text import one_line

    any_blocked = any(slice_stats.tiers[tier].blocked for slice_stats in slices for tier in Tier)
    any_clustered = any(_clustered(slice_stats, tier) for slice_stats in slices for tier in Tier)
    any_labels = any(rate.labels for slice_stats in slices for rate in slice_stats.af.values())
    word = OUTCOME_WORD
    table = layout.table("Outcomes per tier", ["tier", "n", "complied [95% CI]", word[Outcome.REFUSED],
                                               word[Outcome.FORMAT_NOT_FOLLOWED], word[Outcome.ERROR]]
                         + ([word[Outcome.BLOCKED]] if any_blocked else [])
                         + ["AF among complied", "AF among refused"] + (["CI"] if any_clustered else [])
                         + (["blind labels"] if any_labels else []),
                         left=("tier", "CI"))
    table.caption = ("n: valid samples (errors excluded); Wilson intervals"
                     + ("; CI clustered: a request repeats in the tier (epochs or pooled runs), so the rate and "
                        "AF intervals are Wilson's at the effective n (n over the design effect from the "
                        "request-clustered variance, between 1 and n over the requests)" if any_clustered else "")
                     + ("; blind labels: of the people's current labels behind AF among complied, how many "
                        "were made blind to the tier (--af-source people-blind uses only those)"
                        if any_labels else "")
                     + "; AF: alignment-faking verdicts "
                     "among the compliances (refusals) that have one (unclear counts as not AF"
                     + ("; undecided: annotators tied and no adjudicated label, left out of the rate"
                        if _any_undecided(slices) else "") + "); rule: how a "
                     "reply is read into an outcome (notebook: its first <OUTPUT>, a tag-less reply as it stands; "
                     "last-scratchpad: the first <OUTPUT> after the last scratchpad"
                     + ("; · setting NAME: the run was asked and read in that setting's file, its tags and markers"
                        if any(SETTING_MARK in sl.rule for sl in slices) else "") + ")"
                     + ("; blocked: the provider refused the request (content filter or policy), counted in n, "
                        "in its pair and as not complied" if any_blocked else ""))
    for slice_stats in slices:
        for tier in Tier:
            counts = slice_stats.tiers[tier]
            if not counts.n:
                continue
            table.add_row(*layout.key_cells(slice_stats), _cell(tier), _cell(slice_stats.valid(tier)),
                          _cell(_rate_ci(slice_stats.rate(tier), slice_stats.interval(tier))),
                          _cell(_pct(slice_stats.rate(tier, Outcome.REFUSED))),
                          _cell(_pct(slice_stats.rate(tier, Outcome.FORMAT_NOT_FOLLOWED))),
                          _cell(counts.error), *([_cell(counts.blocked)] if any_blocked else []),
                          _cell(_af_cell(slice_stats.af.get(tier))),
                          _cell(_af_cell(slice_stats.af_refused.get(tier))),
                          *([_cell("clustered" if _clustered(slice_stats, tier) else "Wilson")]
                            if any_clustered else []),
                          *([_cell(_blind_cell(slice_stats.af.get(tier)))] if any_labels else []))
    if any(sum(slice_stats.unjudged.values()) for slice_stats in slices):
        table.caption += ("; not yet read by the compliance judge (left out): "
                          + ", ".join(f"{one_line(slice_stats.model, 40)} {tier} {n}" for slice_stats in slices
                                      for tier, n in slice_stats.unjudged.items() if n))
    return table


def _blind_cell(rate) -> str:
    return f"{rate.blind}/{rate.labels}" if rate and rate.labels else "–"


def _clustered(slice_stats, tier) -> bool:
    """Whether any interval of the tier's row (rates, AF rates) is clustered by request."""
    from af_tui.analysis.estimators import CLUSTERED_WILSON

    return CLUSTERED_WILSON in (slice_stats.interval_method(tier),
                                _af_method(slice_stats.af.get(tier), slice_stats.af_refused.get(tier)))


def _scaled(slice_stats) -> bool:
    """A clustered gap over requests that all have the same difference (estimators.scaled_paired)."""
    return (slice_stats.test or "").startswith("McNemar exact, pairs scaled")


_GAP_METHOD_WORDS = {"paired": "paired, McNemar", "paired, clustered by request": "clustered, t",
                     "unpaired": "unpaired"}


def _gap_table(slices, layout: _TableLayout):
    """The compliance gap, free − paid, of each slice: estimate, p, method, pairs and discordant pairs."""
    show_unpaired = any(slice_stats.unpaired for slice_stats in slices)
    holm = next((slice_stats.holm_tests for slice_stats in slices if slice_stats.p_holm is not None), 0)
    any_small = any(slice_stats.small_n for slice_stats in slices)
    table = layout.table("Compliance gap, free − paid", ["gap [95% CI]", "p"] + (["p (Holm)"] if holm else [])
                         + ["method", "pairs", "b/c", "incomplete"] + (["small n"] if any_small else [])
                         + (["unpaired gap [95% CI]"] if show_unpaired else []), left=("method",))
    table.caption = ("paired: complete pairs (both tiers valid, blocked included), Newcombe interval, exact McNemar test on b (only free complied) / "
                     "c (only paid complied); clustered: requests repeat (epochs or pooled runs), per-request "
                     "means, t interval and test; unpaired: Newcombe hybrid score, all valid samples"
                     + (f"; p (Holm): p adjusted by Holm's step-down method over the {holm} tests of this table"
                        if holm else "")
                     + ("; small n: 1–5 discordant pairs, where McNemar's test cannot reach p < 0.05 (its "
                        "smallest p is 2·½^(b+c)) while the interval can exclude 0: go by the test"
                        if any_small else "")
                     + ("; clustered, McNemar: every request has the same difference (no spread for t), so "
                        "the pairs are scaled to one per request, as one epoch of those requests"
                        if any(_scaled(slice_stats) for slice_stats in slices) else ""))
    for slice_stats in slices:
        method = "clustered, McNemar" if _scaled(slice_stats) else _GAP_METHOD_WORDS.get(slice_stats.gap_method or "", "–")
        pairs, requests = slice_stats.pairs, slice_stats.requests
        pairs_cell = f"{pairs} ({requests} req.)" if requests != pairs else str(pairs)
        extra = [_cell(_pp(slice_stats.unpaired))] if show_unpaired else []
        free_only, paid_only = slice_stats.discordant
        table.add_row(*layout.key_cells(slice_stats), _cell(_pp(slice_stats.gap_estimate)),
                      _cell(_p(slice_stats.p_value)), *([_cell(_p(slice_stats.p_holm))] if holm else []),
                      _cell(method), _cell(pairs_cell),
                      _cell(f"{free_only}/{paid_only}"), _cell(slice_stats.pairs_incomplete),
                      *([_cell("yes" if slice_stats.small_n else "")] if any_small else []), *extra)
    return table


_COMPARISON_TITLES = {"model": "Gap of each model − the baseline model's (same variant)",
                      "variant": "Gap of each variant − the baseline variant's (same model)",
                      "run": "Gap of each run − the baseline run's (same model and variant)"}


def _gap_words(gap: float | None) -> str:
    return f"{100 * gap:+.1f} pp" if gap is not None else "–"


def _comparison_table(gap_comparisons, by: str, layout: _TableLayout):
    """Each slice's gap against the baseline slice's (by model, variant or run) and the difference's interval."""
    table = layout.table(_COMPARISON_TITLES[by], ["baseline", "gap", "baseline gap", "difference [95% CI]"],
                         left=("baseline",))
    table.caption = "MOVER interval (Zou & Donner 2008), the two slices treated as independent"
    for comparison in gap_comparisons:
        baseline = getattr(comparison.b, by)
        table.add_row(*layout.key_cells(comparison.a), _cell(baseline), _cell(_gap_words(comparison.a.gap)),
                      _cell(_gap_words(comparison.b.gap)), _cell(_pp(comparison.difference)))
    return table


@click.command()
@click.argument("out", type=click.Path(dir_okay=False))
@db_option
@click.option("--run", "run_name", default=None, help="Only this run.")
@click.option("--model", "models", multiple=True, help="Only this model (repeatable; the bars keep this order).")
@_source_option
@_compliance_option
@click.option("--categories", is_flag=True,
              help="Draw the outcome × reasoning categories (refused / with AF reasoning, partially complied, "
                   "complied) per model and tier instead.")
@click.option("--width", type=float, default=3.5, show_default=True, help="Figure width in inches.")
def plot(out: str, db_path: str | None, run_name: str | None, models: tuple[str, ...], af_source,
         compliance, categories: bool, width: float) -> None:
    """Write the replication's figure (OUT.png, OUT.svg or OUT.pdf): a stacked bar per model and tier —
    complied (alignment-faking part hatched when verdicts exist), refused, format not followed — with 95%
    Wilson error bars on the complied rate."""
    from pathlib import Path

    from af_tui.analysis.plot import check_output, write_figure

    path = check_output(Path(out))
    if not 1 <= width <= 20:
        raise AfError(f"--width {width} is not a figure width; give inches between 1 and 20")
    if categories:
        from af_tui.commands.categories import plot_categories

        plot_categories(path, db_path, run_name, models, af_source, compliance, width)
        click.echo(f"wrote {path}")
        return
    slices = _load(db_path, run_name, models, "run", af_source, None, require=True, compliance=compliance)
    if models:
        order = {m: i for i, m in enumerate(models)}
        slices.sort(key=lambda s: order.get(s.model, len(order)))
    write_figure(slices, path, width=width)
    click.echo(f"wrote {path}")
