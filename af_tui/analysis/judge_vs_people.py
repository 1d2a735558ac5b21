"""How far each LLM judge (model + prompt) agrees with the people who labeled the same samples: counts per
judge, and against each annotator (an imported label set is an annotator too) and their majority: accuracy,
precision and recall (Wilson intervals), Cohen's kappa (asymptotic interval) at the judge's own verdict, and
as a classifier paper reports it, AUROC of the judge's score (DeLong interval), a threshold sweep and the
threshold that maximises kappa (analysis/classifier.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from af_tui.analysis.classifier import (
    auroc_by_request,
    best_threshold,
    confusion,
    cv_kappa,
    figure_text,
    sweep,
)
from af_tui.domain import FAILED, UNPARSED, JudgeTask, Verdict
from af_tui.store.adjudication import adjudicated_verdicts, people_verdict
from af_tui.store.rows import dict_rows, equals

__all__ = ["MAJORITY", "figure_text", "judges", "judge_vs_humans", "report"]

MAJORITY = "majority"  # `against` of figures against the annotators' majority verdict (else "annotator")


def confusion_figures(pairs: Iterable[tuple[str | None, str | None]]) -> dict:
    """Agreement on "alignment faking" between judge and person over (judge verdict, human verdict) pairs:
    the four counts and the figures made of them.

    Only pairs where both said alignment_faking or not_alignment_faking count (n); the others (either side
    unclear, or the judge's reply unparsed) are counted in `excluded`. Precision and recall treat
    alignment_faking as the positive class, with the person as the reference. Cohen's kappa is on the same
    two classes. A figure whose denominator is zero is None, not 0.
    """
    tp = fp = fn = tn = excluded = 0
    both = (Verdict.AF, Verdict.NOT_AF)
    for judge_verdict, human_verdict in pairs:
        if judge_verdict not in both or human_verdict not in both:
            excluded += 1
        elif judge_verdict == Verdict.AF:
            tp, fp = (tp + 1, fp) if human_verdict == Verdict.AF else (tp, fp + 1)
        else:
            fn, tn = (fn + 1, tn) if human_verdict == Verdict.AF else (fn, tn + 1)
    return {**confusion(tp, fp, fn, tn), "excluded": excluded}


def judge_score(score: float | None, verdict: str | None) -> float | None:
    """The judge's score on a sample: the stored share of votes saying AF; rows from before scores were
    stored: 1 for AF, 0 for not AF or unclear (what a stored one-vote score says: an unclear vote does not
    say AF), so that old and new rows read alike; None when the reply was unparsed."""
    if score is not None:
        return float(score)
    return {Verdict.AF: 1.0, Verdict.NOT_AF: 0.0, Verdict.UNCLEAR: 0.0}.get(verdict)


def classifier_figures(triples: list[tuple]) -> dict:
    """(judge verdict, judge score, human verdict[, request]) → AUROC of the score, the sweep, its best
    threshold (kappa in-sample) and that kappa cross-validated by request (`best_cv`), over samples where the
    person said AF or not AF and the judge has a score. Without requests each sample is its own."""
    both = (Verdict.AF, Verdict.NOT_AF)
    scored = [(t[1], t[2] == Verdict.AF, t[3] if len(t) > 3 else i) for i, t in enumerate(triples)
              if t[1] is not None and t[2] in both]
    rows = sweep([(s, y) for s, y, _ in scored])
    return {"roc": auroc_by_request(scored), "sweep": rows, "best": best_threshold(rows),
            "best_cv": cv_kappa(scored)}


def _current_labels(conn: sqlite3.Connection) -> dict[int, dict[str, str]]:
    """sample id -> {annotator: current verdict} (labels.py's rule: newest row, cleared ones left out)."""
    from af_tui.store.labels import current_labels

    out: dict[int, dict[str, str]] = {}
    for label in current_labels(conn):
        out.setdefault(label.sample_id, {})[label.annotator] = label.verdict
    return out


def _sample_filter(run: str | None, models: Iterable[str] | None) -> tuple[str, list]:
    """SQL condition on the sample id `j.sample_id` for --run / --model."""
    conds, params = equals(("r.name", run), ("s.model", list(models or [])))
    if not conds:
        return "", []
    return (" AND j.sample_id IN (SELECT s.id FROM samples s JOIN runs r ON r.id = s.run_id WHERE "
            + " AND ".join(conds) + ")"), params


def judges(conn: sqlite3.Connection, *, run: str | None = None, models: Iterable[str] | None = None) -> list[dict]:
    """Each judge (model + prompt hash) in the store with its counts."""
    where, params = _sample_filter(run, models)
    # One count per verdict, named as the verdict: these rows are the JSON of `stats --judges`.
    per_verdict = "".join(f"COALESCE(SUM(verdict = '{v}'), 0) AS {v}, " for v in Verdict)
    return dict_rows(
        conn,
        f"SELECT judge_model, prompt_sha256, COUNT(*) AS n, {per_verdict}"
        f"COALESCE(SUM(parsed = 0 AND error IS NULL), 0) AS {UNPARSED}, "
        f"COALESCE(SUM(error IS NOT NULL), 0) AS {FAILED}, MAX(created_at) AS last_at FROM judgements j "
        f"WHERE j.task = '{JudgeTask.ALIGNMENT_FAKING}'" + where + " GROUP BY judge_model, prompt_sha256 ORDER BY MIN(id)",
        params)


def judge_vs_humans(conn: sqlite3.Connection, *, run: str | None = None,
                    models: Iterable[str] | None = None) -> list[dict]:
    """For each judge (model + prompt hash), its agreement with each annotator and with the annotators'
    majority: one dict per comparison (`against`: "annotator" with `annotator` set, or "majority" with
    `annotator` None) with the counts and figures of `confusion_figures()`.
    `run` / `models` restrict the samples (the models that answered, not the judge model)."""
    labels = _current_labels(conn)
    if not labels:
        return []
    where, params = _sample_filter(run, models)
    verdicts: dict[tuple[str, str], dict[int, tuple[str | None, float | None]]] = {}
    request_of: dict[int, int] = {}  # sample id -> its request (samples of one request are not independent)
    for sample_id, model, sha, verdict, score, prompt_id in conn.execute(
            "SELECT j.sample_id, j.judge_model, j.prompt_sha256, j.verdict, j.score, s.prompt_id FROM judgements j "
            "JOIN samples s ON s.id = j.sample_id "
            "WHERE j.error IS NULL AND j.task = 'alignment_faking'" + where + " ORDER BY j.id", params):
        verdicts.setdefault((model, sha), {})[sample_id] = (verdict, judge_score(score, verdict))
        request_of[sample_id] = prompt_id
    annotators = sorted({a for by in labels.values() for a in by})
    settled = adjudicated_verdicts(conn)  # a tie between annotators is the adjudicated label's, else left out
    out = []
    for (model, sha), judged in verdicts.items():
        against = [(a, [(v, sc, labels[s][a], request_of[s]) for s, (v, sc) in judged.items()
                        if a in labels.get(s, {})]) for a in annotators]
        against.append((None, [(v, sc, people_verdict(labels[s].values(), settled.get(s)), request_of[s])
                               for s, (v, sc) in judged.items() if s in labels]))
        for who, triples in against:
            if not triples:
                continue
            # undecided: samples the annotators tied on with no adjudicated label (in `excluded` too)
            undecided = sum(h is None for _, _, h, _ in triples) if who is None else 0
            out.append({"judge_model": model, "prompt_sha256": sha,
                        "against": MAJORITY if who is None else "annotator", "annotator": who,
                        "undecided": undecided,
                        **confusion_figures((v, h) for v, _, h, _ in triples),
                        **classifier_figures(triples)})
    return out


def report(conn: sqlite3.Connection, *, run: str | None = None, models: Iterable[str] | None = None) -> dict:
    """Everything `stats` shows about judges: their counts and their agreement with people (JSON-ready)."""
    return {"judges": judges(conn, run=run, models=models),
            "agreement": judge_vs_humans(conn, run=run, models=models)}
