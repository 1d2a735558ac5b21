"""Agreement between annotators (and between a judge and annotators): Cohen's kappa of two label sequences
or of a confusion table, Krippendorff's alpha over any number of annotators, each with the number of items it
rests on. The figures come from statsmodels and the `krippendorff` package; `agreement_report` reads the
current labels of a store and `agreement_rows` lays them out as a table's rows (drawn by the commands).
"""

from __future__ import annotations

import itertools
import math
import sqlite3
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from af_tui.domain import CRITERIA, VERDICTS
from af_tui.safe_text import one_line

if TYPE_CHECKING:
    from af_tui.store.labels import CurrentLabel

FIELDS = ("verdict", *CRITERIA)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def confusion_table(a: Sequence, b: Sequence, categories: Sequence | None = None) -> tuple[list, list[list[int]]]:
    """(categories, table) with table[i][j] = items that `a` put in categories[i] and `b` in categories[j].
    Items where either side is missing (None/NaN) are left out."""
    if len(a) != len(b):
        raise ValueError(f"two label sequences of different lengths ({len(a)} and {len(b)})")
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if not _missing(x) and not _missing(y)]
    if categories is None:
        categories = sorted({v for p in pairs for v in p}, key=str)
    index = {c: i for i, c in enumerate(categories)}
    table = [[0] * len(categories) for _ in categories]
    for x, y in pairs:
        if x not in index or y not in index:
            raise ValueError(f"label {x if x not in index else y!r} is not one of {list(categories)}")
        table[index[x]][index[y]] += 1
    return list(categories), table


def cohen_kappa(a: Sequence, b: Sequence, categories: Sequence | None = None) -> dict:
    """Cohen's kappa of two raters over the same items: {kappa, low, high (95% CI), observed (share of
    items agreed on), n}. kappa is None when it is undefined (no items, or both raters used one and the same
    category throughout, so that chance agreement is 1)."""
    categories, table = confusion_table(a, b, categories)
    n = sum(map(sum, table))
    result = {"kappa": None, "low": None, "high": None, "observed": None, "n": n}
    if n == 0:
        return result
    result["observed"] = sum(table[i][i] for i in range(len(table))) / n
    if len(categories) < 2:
        return result
    return {**result, **table_kappa(table)}


def table_kappa(table: Sequence[Sequence[int]]) -> dict:
    """Cohen's kappa of a square confusion table (rows: one rater, columns: the other) by statsmodels:
    {kappa, low, high (95% CI)}, each None when undefined (chance agreement is 1, or the table is empty)."""
    from statsmodels.stats.inter_rater import cohens_kappa  # imported here: statsmodels pulls pandas

    result = {"kappa": None, "low": None, "high": None}
    if len(table) < 2 or not sum(map(sum, table)):
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = cohens_kappa([list(row) for row in table])
    for key, value in (("kappa", res.kappa), ("low", res.kappa_low), ("high", res.kappa_upp)):
        # the asymptotic interval can pass ±1 on few items; kappa itself cannot
        result[key] = None if value is None or not math.isfinite(value) else min(1.0, max(-1.0, float(value)))
    return result


def krippendorff_alpha(units: Sequence[Mapping[str, Hashable]], categories: Sequence | None = None) -> dict:
    """Nominal Krippendorff's alpha over all raters: `units` holds one {rater: value} per item (missing
    raters left out or None). {alpha, n (items rated by two raters or more), raters}. alpha is None when
    undefined (fewer than two pairable items' worth of data, or a single value throughout)."""
    import krippendorff
    import numpy as np

    raters = sorted({r for u in units for r, v in u.items() if not _missing(v)})
    pairable = [u for u in units if sum(not _missing(v) for v in u.values()) >= 2]
    values = sorted({v for u in pairable for v in u.values() if not _missing(v)}, key=str)
    if categories is not None:
        values = [c for c in categories if c in set(values)] + [v for v in values if v not in set(categories)]
    result = {"alpha": None, "n": len(pairable), "raters": len(raters)}
    if len(pairable) == 0 or len(values) < 2:
        return result
    code = {v: float(i) for i, v in enumerate(values)}
    data = np.full((len(raters), len(pairable)), np.nan)
    for j, unit in enumerate(pairable):
        for i, r in enumerate(raters):
            v = unit.get(r)
            if not _missing(v):
                data[i, j] = code[v]
    result["alpha"] = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    return result


def agreement_report(conn: sqlite3.Connection, *, run: str | None = None,
                     models: Sequence[str] | None = None) -> dict:
    """Agreement among the store's annotators on their current labels: Cohen's kappa per pair of annotators
    on the verdict and on each criterion, Krippendorff's alpha over all. Each figure carries its n.

    Criteria follow the labels' rubrics: a criterion is compared only between two labels made under the same
    rubric (by hash), and only where both people set it (not set is left out, never counted as "no").
    `fields` lists {field, rubric, criterion, short}: a criterion id that two rubrics present both use is the
    field `rubric_id.criterion`."""
    from af_tui.store.labels import current_labels
    from af_tui.store.rubrics import rubric_by_sha

    labels = current_labels(conn, run=run)
    if models:
        labels = [label for label in labels if label.model in set(models)]
    by_sample: dict[int, dict[str, CurrentLabel]] = {}
    for label in labels:
        by_sample.setdefault(label.sample_id, {})[label.annotator] = label
    annotators = sorted({label.annotator for label in labels})
    shas = sorted({label.rubric_sha256 for label in labels}, key=[label.rubric_sha256 for label in labels].index)
    rubrics = [rubric_by_sha(conn, sha) for sha in shas]
    owners: dict[str, int] = {}
    for r in rubrics:
        for cid in r.ids:
            owners[cid] = owners.get(cid, 0) + 1
    fields = [{"field": "verdict", "rubric": None, "criterion": None, "short": "verdict"}]
    for r in rubrics:
        fields += [{"field": c.id if owners[c.id] == 1 else f"{r.id}.{c.id}", "rubric": r.name, "criterion": c.id,
                    "short": c.short, "sha256": r.sha256} for c in r.criteria]

    def value(label: CurrentLabel, f: dict):
        if f["criterion"] is None:
            return label.verdict
        return label.criteria.get(f["criterion"]) if label.rubric_sha256 == f["sha256"] else None

    report = {"annotators": annotators, "labels": len(labels), "samples": len(by_sample),
              "rubrics": [r.name for r in rubrics], "fields": fields, "pairs": [], "overall": {}}
    categories = {f["field"]: VERDICTS if f["criterion"] is None else (0, 1) for f in fields}
    for a, b in itertools.combinations(annotators, 2):
        both = [s for s in by_sample.values() if a in s and b in s]
        report["pairs"].append({
            "a": a, "b": b, "n": len(both),
            "fields": {f["field"]: cohen_kappa([value(s[a], f) for s in both], [value(s[b], f) for s in both],
                                               categories[f["field"]]) for f in fields},
        })
    for f in fields:
        units = [{ann: value(row, f) for ann, row in s.items()} for s in by_sample.values()]
        report["overall"][f["field"]] = krippendorff_alpha(units, categories[f["field"]])
    report["adjudicated"] = against_adjudicated(conn, by_sample, annotators)
    return report


def against_adjudicated(conn: sqlite3.Connection, by_sample: dict, annotators: Sequence[str]) -> list[dict]:
    """Each annotator's verdicts against the adjudicated ones (the reference), on the samples both have:
    [{annotator, n, verdict: cohen_kappa(...)}]; empty when nothing is adjudicated."""
    from af_tui.store.adjudication import adjudicated_verdicts

    settled = adjudicated_verdicts(conn, by_sample)
    out = []
    for ann in annotators if settled else ():
        both = [sid for sid in settled if ann in by_sample[sid]]
        out.append({"annotator": ann, "n": len(both),
                    "verdict": cohen_kappa([by_sample[sid][ann].verdict for sid in both],
                                           [settled[sid] for sid in both], VERDICTS)})
    return out


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


@dataclass(frozen=True)
class AgreementRow:
    """One line of the agreement table: who is compared (a pair of annotators, all of them, or one against
    the adjudicated verdicts), on which field, and the figure (kappa, or alpha over all) with what it rests on.
    `low`, `high` and `observed` are None where they do not apply or are undefined."""

    who: str
    field: str
    figure: float | None
    low: float | None
    high: float | None
    observed: float | None
    n: int
    over_all: bool = False  # Krippendorff's alpha over every annotator: no interval, no share agreed


@dataclass(frozen=True)
class AgreementRows:
    """The agreement table as data (commands/agreement_table.py draws it): its title and its rows."""

    title: str
    rows: list[AgreementRow]


def agreement_rows(report: dict) -> AgreementRows:
    """The report's table: one row per annotator pair and field, then alpha over all, then each annotator
    against the adjudicated verdicts. Annotator names come as typed: the drawing keeps them inert."""
    fields = report.get("fields") or [{"field": f, "short": f.replace("_", " "), "rubric": None} for f in FIELDS]
    rubrics = report.get("rubrics") or []
    several = len(rubrics) > 1  # then each criterion row says its rubric; else the title does
    names = {f["field"]: f["short"] + (f" ({f['rubric']})" if several and f.get("rubric") else "") for f in fields}
    under = f"rubric {rubrics[0]}" if len(rubrics) == 1 else "each criterion under its rubric"
    title = f"annotator agreement (current labels; {under}; a criterion counts where both set it)"
    rows = []
    for pair in report["pairs"]:
        for f in names:
            k = pair["fields"][f]
            rows.append(AgreementRow(f"{one_line(pair['a'], 40)} × {one_line(pair['b'], 40)}", names[f],
                                     k["kappa"], k["low"], k["high"], k["observed"], k["n"]))
    for f in names:
        o = report["overall"][f]
        rows.append(AgreementRow(f"all {o['raters']} (Krippendorff's α)", names[f], o["alpha"], None, None, None,
                                 o["n"], over_all=True))
    for row in report.get("adjudicated", []):
        k = row["verdict"]
        rows.append(AgreementRow(f"{one_line(row['annotator'], 40)} × adjudicated", "verdict", k["kappa"],
                                 k["low"], k["high"], k["observed"], k["n"]))
    return AgreementRows(title, rows)


def agreement_line(report: dict) -> str:
    """One line for a panel caption: the verdict's alpha over all annotators and each pair's kappa, with n.
    Empty when fewer than two annotators have labeled."""
    if len(report["annotators"]) < 2:
        return ""
    o = report["overall"]["verdict"]
    parts = [f"verdict agreement: α {_fmt(o['alpha'])} (n {o['n']}, {o['raters']} annotators)"]
    for pair in report["pairs"][:3]:
        k = pair["fields"]["verdict"]
        parts.append(f"κ {pair['a']}×{pair['b']} {_fmt(k['kappa'])} (n {k['n']})")
    if len(report["pairs"]) > 3:
        parts.append(f"… {len(report['pairs']) - 3} more pairs (af-tui agreement)")
    return " · ".join(parts)
