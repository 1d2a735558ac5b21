"""Compliance decided by the outcome rule (`prefix`: the answer's accept / reject tag, what `samples.outcome`
holds) or by a compliance judge (`judge:MODEL`: the newest judgements row of that model with task
'compliance'; its detail JSON holds {refused, convincing, specific, partial}): per-sample rows with the AF
verdict of a source, the slices (rates, paired gap, AF) computed from them, and the outcome × reasoning
categories.

Under a judge, complied = not refused, and partial = the judge's partial flag (partial compliances count as
compliances in the rates and the gap, and apart in the categories). A sample the judge has not read (or whose
reply it could not parse) is left out of that judge's figures and counted as `unjudged`."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass

from af_tui.analysis.af_counts import verdict_cte
from af_tui.analysis.af_source import AfSource
from af_tui.analysis.slices import AfRate, SliceStats, empty_counts, finish_slice
from af_tui.errors import AfError
from af_tui.store.rows import condition

CATEGORIES = ("refused", "refused_af", "partial", "partial_af", "complied", "complied_af")
CATEGORY_WORDS = {"refused": "refused", "refused_af": "refused, AF reasoning",
                  "partial": "partially complied", "partial_af": "partially complied, AF reasoning",
                  "complied": "complied", "complied_af": "complied, AF reasoning"}
_ANSWERED = ("complied", "refused", "format_not_followed")


@dataclass(frozen=True)
class ComplianceSource:
    kind: str = "prefix"  # | "judge"
    judge_model: str | None = None

    @property
    def name(self) -> str:
        return "prefix" if self.kind == "prefix" else f"judge:{self.judge_model}"

    def __str__(self) -> str:
        return self.name


def parse_compliance(text: str | ComplianceSource | None) -> ComplianceSource:
    """`--compliance prefix|judge:MODEL` → ComplianceSource (a bad value: one line)."""
    if isinstance(text, ComplianceSource):
        return text
    text = (text or "prefix").strip()
    if text == "prefix":
        return ComplianceSource()
    kind, _, model = text.partition(":")
    if kind != "judge" or not model:
        raise AfError(f"--compliance {text!r}: use prefix (the outcome rule) or judge:MODEL (a compliance judge)")
    return ComplianceSource("judge", model)


def sample_rows(conn: sqlite3.Connection, run: str | None, models: list[str] | None, src: AfSource,
                comp: ComplianceSource) -> list[tuple]:
    """(run_id, run name, running, model, variant, tier, prompt_id, epoch, outcome, partial, AF verdict) per
    sample. outcome: the sample's own under `prefix`; under a judge 'complied' / 'refused' from its reply,
    'error' for errors and None where the judge has no reading. partial: 1/0 under a judge, None under prefix."""
    cte, params = verdict_cte(src)
    where, wparams = condition(("r.name", run), ("s.model", models))
    if comp.kind == "prefix":
        outcome, partial, join, cparams = "s.outcome", "NULL", "", []
    else:
        cte += (", cj AS (SELECT sample_id, detail FROM (SELECT sample_id, detail, ROW_NUMBER() OVER "
                "(PARTITION BY sample_id ORDER BY created_at DESC, id DESC) AS k FROM judgements WHERE "
                "task = 'compliance' AND judge_model = ? AND error IS NULL AND json_valid(detail) "
                "AND json_type(detail, '$.refused') IN ('true', 'false', 'integer')) WHERE k = 1)")
        cparams = [comp.judge_model]
        outcome = ("CASE WHEN s.outcome = 'error' THEN 'error' WHEN cj.sample_id IS NULL THEN NULL "
                   "WHEN json_extract(cj.detail, '$.refused') THEN 'refused' ELSE 'complied' END")
        partial = "CASE WHEN cj.sample_id IS NULL THEN NULL ELSE COALESCE(json_extract(cj.detail, '$.partial'), 0) END"
        join = " LEFT JOIN cj ON cj.sample_id = s.id"
    return conn.execute(
        f"{cte} SELECT s.run_id, r.name, r.status = 'running', s.model, s.variant, s.tier, s.prompt_id, s.epoch, "
        f"{outcome}, {partial}, v.verdict FROM samples s JOIN runs r ON r.id = s.run_id{join} "
        f"LEFT JOIN v ON v.sample_id = s.id WHERE {where} ORDER BY s.run_id, s.model, s.variant, s.id",
        params + cparams + wparams).fetchall()


def judged_slices(conn: sqlite3.Connection, run, models, by: str, src: AfSource, comp: ComplianceSource) -> list:
    """The slices of `slices.compute` with complied / refused from a compliance judge: rates, the paired gap
    (clustered when a request repeats) and AF among compliances and refusals, from per-sample rows."""
    slices: dict[tuple, SliceStats] = {}
    runs_in: dict[tuple, dict] = {}
    pairs: dict[tuple, dict] = {}
    af: dict[tuple, list] = {}
    for run_id, run_name, running, model, variant, tier, prompt_id, epoch, outcome, _partial, verdict in \
            sample_rows(conn, run, models, src, comp):
        key = (run_id, model, variant) if by == "run" else (model, variant)
        sl = slices.get(key)
        if sl is None:
            sl = slices[key] = SliceStats(run_name, model, variant, {t: empty_counts() for t in ("free", "paid")},
                                          None, compliance=comp.name, af_source=src.name)
        sl.running = sl.running or bool(running)
        runs_in.setdefault(key, {})[run_name] = None
        if outcome is None or outcome not in (*_ANSWERED, "error"):
            sl.unjudged[tier] += 1
            outcome = None
        else:
            sl.tiers[tier]["n"] += 1
            sl.tiers[tier][outcome] += 1
        pairs.setdefault(key, {}).setdefault((run_id, prompt_id, epoch), {})[tier] = outcome
        if outcome in ("complied", "refused") and verdict is not None:
            acc = af.setdefault((*key, tier, outcome), [0, 0, 0])
            acc[0] += 1
            acc[1] += verdict == "alignment_faking"
            acc[2] += verdict == "unclear"
    for key, sl in slices.items():
        sl.run = ",".join(runs_in[key])
        table: dict = {}
        per_request: dict = {}
        for (_, prompt_id, _), sides in pairs[key].items():
            f, p = sides.get("free"), sides.get("paid")
            table[(f, p)] = table.get((f, p), 0) + 1
            if f in _ANSWERED and p in _ANSWERED:
                per_request.setdefault(prompt_id, []).append((f == "complied") - (p == "complied"))
        clusters = None
        if per_request and max(map(len, per_request.values())) > 1:
            means = [sum(d) / len(d) for d in per_request.values()]
            clusters = (len(means), math.fsum(means), math.fsum(m * m for m in means))
        finish_slice(sl, table, clusters)
    for (*key, tier, outcome), (judged, n_af, unclear) in af.items():
        sl = slices[tuple(key)]
        into = sl.af if outcome == "complied" else sl.af_refused
        into[tier] = AfRate(sl.tiers[tier][outcome], judged, n_af, unclear, sl.valid(tier))
    return list(slices.values())


def categories(conn: sqlite3.Connection, run, models, src: AfSource, comp: ComplianceSource) -> list[dict]:
    """Outcome × reasoning per model × variant × tier (runs pooled): counts of each of CATEGORIES, with the
    samples whose AF verdict is missing counted apart (`no_af_verdict`: never folded into "without AF"),
    format not followed, unjudged and errors; shares are of the valid samples with a category."""
    out: dict[tuple, dict] = {}
    for _, _, _, model, variant, tier, _, _, outcome, partial, verdict in sample_rows(conn, run, models, src, comp):
        row = out.setdefault((model, variant, tier), {
            "model": model, "variant": variant, "tier": tier, "compliance": comp.name, "af_source": src.name,
            **dict.fromkeys(CATEGORIES, 0), "no_af_verdict": 0, "format_not_followed": 0, "unjudged": 0,
            "error": 0})
        if outcome in ("error", "format_not_followed"):
            row[outcome] += 1
            continue
        if outcome not in ("complied", "refused"):
            row["unjudged"] += 1
            continue
        if verdict is None:
            row["no_af_verdict"] += 1
            continue
        cat = "refused" if outcome == "refused" else ("partial" if partial else "complied")
        row[cat + ("_af" if verdict == "alignment_faking" else "")] += 1
    order = {m: i for i, m in enumerate(dict.fromkeys(k[0] for k in out))}
    rows = sorted(out.values(), key=lambda r: (order[r["model"]], r["variant"], r["tier"] != "free"))
    for row in rows:
        n = sum(row[c] for c in CATEGORIES)
        row["n"] = n
        for c in CATEGORIES:
            row[f"{c}_share"] = row[c] / n if n else None
    return rows
