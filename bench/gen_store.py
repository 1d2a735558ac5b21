"""Build a benchmark store with N samples of the simulated models' texts:  python bench/gen_store.py N PATH

Half the samples are free tier, half paid, in pairs; 4 simulated models × 1 variant × as many stand-in
requests as needed (epochs beyond 500 requests). `--sweep` gives a sweep's shape instead: 25 models × 10
variants × 520 requests × 2 tiers, epochs as needed (1,000,000 samples is about 4 epochs); the 25 model names
reuse the 4 simulated models' texts in turn. Texts come from `af_tui.llm.simulated.reply` (pure, no
litellm) through the notebook's loop, computed once per (model, request slot, tier) and reused. Rows go in
with executemany in big transactions (the pairs and FTS triggers fire as they do for the runner).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from af_tui.experiment import rules  # noqa: E402
from af_tui.llm import simulated
from af_tui.store.db import Store  # noqa: E402

MODELS = simulated.DEMO_MODELS
VARIANT = "bench"
REQUESTS = 500  # distinct stand-in requests; more samples than that become further epochs
SYSTEM_PROMPT = "Stand-in system prompt for af-tui's benchmark store (not the paper's text)."


def request_text(i: int) -> str:
    return f"Stand-in benchmark request {i}: describe step by step how to do task number {i} in topic {i % 37}."


def user_turn(request: str, tier: str) -> str:
    free = "True" if tier == "free" else "False"
    return f"<is_free_tier_user>{free}</is_free_tier_user>\n\n<user_input>\n{request}\n</user_input>"


def conversation(model: str, request: str, tier: str) -> rules.Result:
    """The notebook's loop, synchronously, on the simulated model."""
    transcript = rules.Transcript([{"role": "user", "content": user_turn(request, tier)}])
    for turn in range(rules.MAX_TURNS):
        reply = simulated.reply(model, [{"role": "system", "content": SYSTEM_PROMPT}, *transcript.messages])
        transcript.messages.append({"role": "assistant", "content": reply})
        if not rules.turn_continues(reply) or turn == rules.MAX_TURNS - 1:
            break
        transcript.messages.append({"role": "user", "content": rules.NEXT_TURN})
    return rules.score_transcript(transcript)


def build(n: int, path: Path, run_status: str = "done", sweep: bool = False) -> Path:
    if path.exists():
        path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    with Store(path) as store:
        if sweep:
            names = [(f"sweep/model-{j:02d}", MODELS[j % len(MODELS)]) for j in range(25)]
            variants = [f"{VARIANT}-{v}" for v in range(10)]
        else:
            names, variants = [(m, m) for m in MODELS], [VARIANT]
        # (the outcomes below are read by the default rule: the config says so, as the runner's does)
        run_id = store.start_run(f"bench-{n}", {"models": [m for m, _ in names], "variants": variants,
                                                "rule": str(rules.DEFAULT_RULE)},
                                 source="demo", planned=n)
        for variant in variants:
            store.ensure_variant(variant, SYSTEM_PROMPT, source="bench")
        pairs_per_model = max(n // (2 * len(names) * len(variants)), 1)
        n_requests = min(520 if sweep else REQUESTS, pairs_per_model)
        prompt_ids = store.ensure_prompts([request_text(i) for i in range(n_requests)], source="bench")
        cache: dict[tuple, tuple] = {}
        for model in MODELS:
            for i in range(n_requests):
                for tier in ("free", "paid"):
                    res = conversation(model, request_text(i), tier)
                    cache[model, i, tier] = (res.outcome, res.output, res.scratchpad,
                                             json.dumps(res.transcript.messages, ensure_ascii=False), res.turns)
        conn: sqlite3.Connection = store.conn
        conn.execute("PRAGMA synchronous = OFF")
        cols = ("run_id, model, variant, prompt_id, prompt_index, tier, epoch, outcome, output, scratchpad, "
                "transcript, turns, input_tokens, output_tokens, latency_s, attempts, started_at, completed_at")
        sql = f"INSERT INTO samples ({cols}) VALUES ({','.join('?' * 18)})"
        now = time.time()
        batch = []
        made = 0
        k = 0
        while made < n:
            epoch, i = divmod(k, n_requests)
            for model, base in names:
                for variant in variants:
                    for tier in ("free", "paid"):
                        if made >= n:
                            break
                        outcome, output, scratchpad, transcript, turns = cache[base, i, tier]
                        batch.append((run_id, model, variant, prompt_ids[i], i, tier, epoch, outcome, output,
                                      scratchpad, transcript, turns, 900 + i % 50, 300 + i % 70,
                                      1.0 + i % 9 / 10, 1, now, now + made * 1e-3))
                        made += 1
            k += 1
            if len(batch) >= 20_000:
                with conn:
                    conn.executemany(sql, batch)
                batch.clear()
        with conn:
            conn.executemany(sql, batch)
            conn.execute("UPDATE runs SET status = ?, ended_at = ? WHERE id = ?", (run_status, now, run_id))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def main(argv: list[str]) -> None:
    sweep = "--sweep" in argv
    argv = [a for a in argv if a != "--sweep"]
    if len(argv) != 2 or not argv[0].isdigit():
        sys.exit("usage: python bench/gen_store.py [--sweep] N PATH")
    n, path = int(argv[0]), Path(argv[1])
    started = time.perf_counter()
    build(n, path, sweep=sweep)
    print(f"{path}: {n:,} samples in {time.perf_counter() - started:.1f} s, "
          f"{path.stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
