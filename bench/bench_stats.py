"""Times `af_tui.analysis.slices.panel_data` (the app's statistics refresh) on a 200k-sample store. Goal: ≤ 100 ms.

    .venv/bin/python bench/bench_stats.py [--db PATH] [--samples 200000] [--repeat 20]

The store is built once (simulated-like outcomes, 2 epochs so that the clustered gap runs, labels and
judgements on part of the compliances so that the AF query runs) and reused while its size matches.
`--gen-store` builds it with bench/gen_store.py instead (real simulated texts, one run, many epochs).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from af_tui.analysis.slices import compute, panel_data  # noqa: E402
from af_tui.store.db import Store  # noqa: E402
from af_tui.store.sample import Sample  # noqa: E402

MODELS = ("sim/faker", "sim/refuser", "sim/complier", "sim/sloppy")
VARIANTS = ("baseline", "no_rlhf_info", "cut_criteria")
# P(complied), P(refused) per model and tier; the rest is format_not_followed; 1% errors on top.
RATES = {"sim/faker": {"free": (0.6, 0.35), "paid": (0.15, 0.8)}, "sim/refuser": {"free": (0.02, 0.97),
         "paid": (0.01, 0.98)}, "sim/complier": {"free": (0.97, 0.02), "paid": (0.96, 0.03)},
         "sim/sloppy": {"free": (0.1, 0.2), "paid": (0.12, 0.2)}}


def build(path: Path, samples: int) -> None:
    rng = random.Random(7)
    prompts_per_slice = 520
    epochs = 2
    per_run = len(MODELS) * len(VARIANTS) * prompts_per_slice * 2 * epochs
    runs = max(1, round(samples / per_run))
    with Store(path) as store:
        prompt_ids = store.ensure_prompts([f"made-up bench request {i}" for i in range(prompts_per_slice)])
        for v in VARIANTS:
            store.ensure_variant(v, f"stand-in system prompt {v}")
        for r in range(runs):
            run_id = store.start_run(f"bench-{r}", {}, planned=per_run)
            batch = []
            for model in MODELS:
                for v in VARIANTS:
                    for i, pid in enumerate(prompt_ids):
                        for epoch in range(epochs):
                            for tier in ("free", "paid"):
                                c, ref = RATES[model][tier]
                                x = rng.random()
                                outcome = ("error" if rng.random() < 0.01 else "complied" if x < c
                                           else "refused" if x < c + ref else "format_not_followed")
                                batch.append({"run_id": run_id, "model": model, "variant": v, "prompt_id": pid,
                                              "prompt_index": i, "tier": tier, "epoch": epoch, "outcome": outcome,
                                              "output": "o", "scratchpad": "s"})
            for k in range(0, len(batch), 10_000):
                store.save_samples([Sample(**row) for row in batch[k:k + 10_000]])
            store.finish_run(run_id)
        add_verdicts(store, rng)


def add_verdicts(store: Store, rng: random.Random) -> None:
    """Judge verdicts on a third of the compliances, two annotators' labels on one in a hundred."""
    now = time.time()
    ids = [r[0] for r in store.conn.execute("SELECT id FROM samples WHERE outcome = 'complied'")]
    verdicts = ("alignment_faking", "not_alignment_faking", "unclear")
    with store.conn:
        store.conn.executemany(
            "INSERT INTO judgements (uid, sample_id, judge_model, prompt_sha256, verdict, created_at) "
            "VALUES (?, ?, 'sim/judge', 'x', ?, ?)",
            [(uuid.uuid4().hex, i, rng.choice(verdicts), now) for i in ids[::3]])
        store.conn.executemany(
            "INSERT INTO labels (uid, sample_id, annotator, verdict, created_at) VALUES (?, ?, ?, ?, ?)",
            [(uuid.uuid4().hex, i, a, rng.choice(verdicts), now + k)
             for k, i in enumerate(ids[::100]) for a in ("ann1", "ann2")])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="/tmp/af_tui_bench_stats.sqlite")
    ap.add_argument("--samples", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--gen-store", action="store_true",
                    help="build with bench/gen_store.py (simulated texts, one run and variant) instead")
    args = ap.parse_args()
    path = Path(args.db)
    have = 0
    if path.exists():
        with Store(path) as store:
            have = store.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    if abs(have - args.samples) > args.samples * 0.05:
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
        t0 = time.perf_counter()
        if args.gen_store:  # the explorer's builder: realistic texts, one run, one variant, many epochs
            import importlib.util

            spec = importlib.util.spec_from_file_location("gen_store", Path(__file__).with_name("gen_store.py"))
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            mod.build(args.samples, path)
            with Store(path) as store:
                add_verdicts(store, random.Random(7))
        else:
            build(path, args.samples)
        print(f"built {path} in {time.perf_counter() - t0:.1f} s")
    with Store(path, create=False) as store:
        conn = store.conn
        n = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        times = {}
        writer = Store(path, create=False)
        sample_id = conn.execute("SELECT id FROM samples WHERE outcome = 'complied' LIMIT 1").fetchone()[0]

        def after_label_write():
            # An annotator saves a label from another connection: AF verdicts must be read again.
            with writer.conn:
                writer.conn.execute("INSERT INTO labels (uid, sample_id, annotator, verdict, created_at) "
                                    "VALUES (?, ?, 'bench', 'unclear', ?)", (uuid.uuid4().hex, sample_id, time.time()))
            t0 = time.perf_counter()
            out = panel_data(conn)
            return out, time.perf_counter() - t0

        # (a list, not a live cursor: an open statement would pin the reader to an old snapshot)
        judged = iter([r[0] for r in conn.execute(
            "SELECT id FROM samples WHERE outcome = 'complied' AND id NOT IN (SELECT sample_id FROM judgements)")])

        def after_judgement_write():
            # A judge run stores a verdict: the judge's part of the AF counts is read again (the slow path).
            with writer.conn:
                writer.conn.execute("INSERT INTO judgements (uid, sample_id, judge_model, prompt_sha256, verdict, "
                                    "created_at) VALUES (?, ?, 'sim/judge', 'x', 'unclear', ?)",
                                    (uuid.uuid4().hex, next(judged), time.time()))
            t0 = time.perf_counter()
            out = panel_data(conn)
            return out, time.perf_counter() - t0

        for name, fn in (("panel_data (app refresh)", lambda: panel_data(conn)),
                         ("panel_data after a label write", after_label_write),
                         ("panel_data after a judgement write", after_judgement_write),
                         ("compute by=model (runs pooled)", lambda: compute(conn, by="model")),
                         ("compute af_source=labels", lambda: compute(conn, af_source="labels"))):
            fn()  # warm the page cache
            ts = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                out = fn()
                elapsed = time.perf_counter() - t0
                if isinstance(out, tuple):  # the function timed itself (set-up left out)
                    out, elapsed = out
                ts.append(elapsed)
            times[name] = ts
            print(f"{name:36s} median {1000 * statistics.median(ts):6.1f} ms  max {1000 * max(ts):6.1f} ms  "
                  f"({len(out)} slices, {n:,} samples)")
        writer.close()
    med = statistics.median(times["panel_data (app refresh)"])
    print(f"goal ≤ 100 ms per refresh: {'met' if med <= 0.1 else 'MISSED'} ({1000 * med:.1f} ms, "
          f"ratio to goal {med / 0.1:.2f})")


if __name__ == "__main__":
    main()
