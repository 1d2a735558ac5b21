"""A small store for the labeling, export, merge and agreement tests (helpers, not tests)."""

from __future__ import annotations

from pathlib import Path

from helpers import af_main

from af_tui.store.db import Store

STAND_IN = "A stand-in system prompt written for af-tui's label tests."


def make_store(path: Path, *, n_requests: int = 4, run: str = "r1", model: str = "sim/a",
               texts: dict | None = None) -> Store:
    """n_requests requests asked on both tiers: free complies, paid refuses, except every third request
    where both comply. texts maps (prompt_index, tier) -> (scratchpad, output) to put hostile text in."""
    store = Store(path)
    run_id = store.start_run(run, {"models": [model]})
    variant = store.ensure_variant("stand_in", STAND_IN)
    prompt_ids = store.ensure_prompts([f"request number {i}" for i in range(n_requests)], source="test")
    samples = []
    for i, pid in enumerate(prompt_ids):
        for tier in ("free", "paid"):
            complied = tier == "free" or i % 3 == 2
            scratchpad, output = (texts or {}).get(
                (i, tier), (f"reasoning {i} {tier}", f"answer {i} {tier}" if complied else "I can't help."))
            samples.append(dict(run_id=run_id, model=model, variant=variant, prompt_id=pid, prompt_index=i,
                                tier=tier, epoch=0, outcome="complied" if complied else "refused",
                                scratchpad=scratchpad, output=output, completed_at=1_700_000_000 + i))
    store.save_samples(samples)
    return store


def sample_id(store: Store, prompt_index: int, tier: str, run: str = "r1") -> int:
    return store.conn.execute(
        "SELECT s.id FROM samples s JOIN runs r ON r.id = s.run_id WHERE r.name = ? AND s.prompt_index = ? "
        "AND s.tier = ?", (run, prompt_index, tier)).fetchone()[0]


def run_cli(args: list[str]) -> int:
    """af-tui's main() in this process; its exit code (0 when it returns)."""
    return af_main(*args)


def add_judgement(conn, sid: int, verdict: str | None, *, score: float | None = None, model: str = "sim/judge",
                  sha: str = "p" * 64, task: str = "alignment_faking", detail: dict | None = None,
                  threshold: float | None = None) -> None:
    """A judgements row as the judge writes it (schema 5: task, score, threshold, detail), committed."""
    import json
    import time
    import uuid

    with conn:
        conn.execute(
            "INSERT INTO judgements (uid, sample_id, judge_model, prompt_sha256, verdict, parsed, k, created_at, "
            "task, score, threshold, detail) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, sid, model, sha, verdict, int(verdict is not None), time.time(), task, score,
             threshold, json.dumps(detail) if detail is not None else None))
