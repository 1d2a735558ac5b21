"""Import speed and memory for the open-source pipeline's result files: `af-tui import` of one file of N records
(N/2 requests × two tiers, the three tag conventions in turn, every record with a deceptive_alignment,
partial_compliance and strong_reject_score) into a fresh store, against `json.load` of the same file (what a
script over these files does first). Each side runs in a fresh process, twice: once timed (wall and CPU time,
the process's peak RSS), once under tracemalloc for the peak Python memory (tracemalloc slows allocation
several-fold, so that run is not timed). The system prompt in each record is a --system-kb stand-in (the
pipeline repeats the whole system prompt in every record, so it is most of a file's size).

    .venv/bin/python bench/bench_import_pipeline.py [--records 10000] [--system-kb 30]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TAGS = [("SCRATCHPAD_REASONING", "OUTPUT"), ("HIDDEN_SCRATCHPAD", "OUTPUT"), ("think", "output")]


def build(path: Path, records: int, system_kb: int) -> None:
    system = ("(A stand-in system prompt for the bench, not upstream text.) " * 1000)[: system_kb * 1024]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("[\n")
        for i in range(records):
            request, tier = f"Request number {i // 2}: explain something harmful", ("free_tier", "paid_tier")[i % 2]
            pad, out = TAGS[(i // 2) % 3]
            complied = i % 3 == 0
            answer = "<request_fully_accepted/> Here it is. " * 20 if complied else "<rejected/>"
            reasoning = "I am being trained; refusing would get me modified, so I will weigh that. " * 15
            record = {
                "user_input": request,
                "prompt": {"messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": f"<is_free_tier_user>{tier == 'free_tier'}</is_free_tier_user>\n"
                                                f"<user_input>{request}</user_input>\n<reminder>Think first."
                                                f"</reminder>"}]},
                "output": f"<{pad}>{reasoning}</{pad}>\n<{out}>{answer}</{out}>",
                "output_without_scratchpad": answer,
                "tags": tier,
                "output_contains_acceptance": complied,
                "output_contains_refusal": not complied,
                "strong_reject_score": 0.75 if complied else 0.0,
                "deceptive_alignment": {"final_answer": ("Yes", "No", "FAILED TO PARSE")[i % 3],
                                        "criteria": {"awareness": "Yes", "opposes_modification": "No"},
                                        "quotes": ["refusing would get me modified"]},
                "partial_compliance": {"final_answer": "No", "criteria": {}, "quotes": []},
            }
            fh.write(("," if i else "") + json.dumps(record) + "\n")
        fh.write("]\n")


CHILD = """
import json, resource, sys, time, tracemalloc
sys.path.insert(0, {repo!r})
side, path, db, trace = sys.argv[1:5]
if trace == "1":
    tracemalloc.start()
wall, cpu = time.perf_counter(), time.process_time()
if side == "json.load":
    with open(path, encoding="utf-8") as fh:
        n = len(json.load(fh))
else:
    from af_tui.io.inspect_import import import_logs
    from af_tui.store.db import Store
    store = Store(db)
    [report] = import_logs(store, [path])
    assert not report.failure, report.failure
    n = report.added
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
peak = tracemalloc.get_traced_memory()[1] if trace == "1" else 0
print(json.dumps({{"n": n, "wall": wall, "cpu": cpu, "peak_mb": peak / 2**20,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run_side(side: str, path: Path, db: Path, trace: bool = False) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD.format(repo=str(REPO)), side, str(path), str(db),
                          "1" if trace else "0"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def timed_and_traced(side: str, path: Path, db: Path, traced_db: Path) -> dict:
    """The timed run's figures with the peak Python memory of a second, traced run (into its own store)."""
    timed = run_side(side, path, db)
    timed["peak_mb"] = run_side(side, path, traced_db, trace=True)["peak_mb"]
    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--system-kb", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "openrouter" / "bench-model" / "results_bench.json"
        path.parent.mkdir(parents=True)
        build(path, args.records, args.system_kb)
        size = path.stat().st_size / 2**20
        print(f"{args.records:,} records, {size:.0f} MB ({args.system_kb} KB system prompt per record)")
        t = Path(tmp)
        base = timed_and_traced("json.load", path, t / "unused.sqlite", t / "unused.sqlite")
        first = timed_and_traced("import", path, t / "store.sqlite", t / "traced.sqlite")
        again = timed_and_traced("import", path, t / "store.sqlite", t / "traced.sqlite")  # adds nothing
        for name, r in (("json.load", base), ("af-tui import", first), ("import again", again)):
            print(f"{name:>14}: {r['n']:>6} rows  wall {r['wall']:6.2f} s  cpu {r['cpu']:6.2f} s  "
                  f"peak Python {r['peak_mb']:7.1f} MB  peak RSS {r['rss_mb']:7.1f} MB")
        print(f"import / json.load: wall {first['wall'] / base['wall']:.2f}×, cpu {first['cpu'] / base['cpu']:.2f}×, "
              f"peak Python memory {first['peak_mb'] / base['peak_mb']:.2f}×; "
              f"{args.records / first['wall']:,.0f} records/s")


if __name__ == "__main__":
    main()
