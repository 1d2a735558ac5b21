"""Import speed: `af-tui import` of Inspect logs against inspect_ai's own `read_eval_log` of the same files.

Both sides pay inspect_ai's import (timed once, apart). For each set of logs: the median of --repeat runs of
reading every file with `read_eval_log` (full read, what a script over Inspect logs would do), and of
importing every file into a fresh store (read header and samples, re-derive outcomes, write SQLite). The
ratio import / read is the figure (goal: at most 1.5); the two alternate, so load from other processes hits
both alike. With --epochs K, a larger log is built from the biggest shared one (its samples repeated as K
epochs) and measured too, with the peak Python memory of each side in a fresh process.

    .venv/bin/python bench/bench_import.py [--logs DIR] [--repeat 7] [--epochs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_LOGS = REPO.parent / "shared" / "realdata" / "inspect_logs"


def read_all(files: list[Path]) -> int:
    from inspect_ai.log import read_eval_log

    return sum(len(read_eval_log(str(f)).samples or []) for f in files)


def import_all(files: list[Path], store) -> int:
    from af_tui.io.inspect_import import import_logs

    reports = import_logs(store, files)
    failed = [r for r in reports if r.failure]
    if failed:
        raise SystemExit(f"import failed: {failed[0].path}: {failed[0].failure}")
    return sum(r.added for r in reports)


def measure(name: str, files: list[Path], repeat: int, tmp: Path) -> dict:
    """Alternate the two sides so that load from other processes hits both alike; each import goes into a
    fresh store created beforehand (creating the schema is a one-off, not part of importing)."""
    from af_tui.store.db import Store

    stores = [Store(tmp / f"{name.replace(' ', '_')}-{i}.sqlite") for i in range(repeat + 1)]
    n = read_all(files)  # warm-up: first calls pay one-off costs on both sides
    import_all(files, stores[0])
    reads, imports, read_cpu, import_cpu = [], [], [], []
    for store in stores[1:]:
        for fn, wall, cpu in ((lambda: read_all(files), reads, read_cpu),
                              (lambda s=store: import_all(files, s), imports, import_cpu)):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    for store in stores:
        store.close()
    med = statistics.median
    return {"set": name, "files": len(files), "samples": n, "read_eval_log_s": med(reads), "import_s": med(imports),
            "ratio": med(imports) / med(reads), "ratio_of_best": min(imports) / min(reads),
            "read_cpu_s": med(read_cpu), "import_cpu_s": med(import_cpu), "cpu_ratio": med(import_cpu) / med(read_cpu)}


def build_epochs_log(source: Path, epochs: int, dest: Path) -> Path:
    """The shared log's samples repeated as `epochs` epochs: a bigger log with distinct sample identities."""
    from inspect_ai.log import read_eval_log, write_eval_log

    log = read_eval_log(str(source))
    samples = log.samples or []
    log.samples = [s.model_copy(update={"epoch": e}) for e in range(1, epochs + 1) for s in samples]
    log.eval.config.epochs = epochs
    write_eval_log(log, str(dest))
    return dest


def child_peak(mode: str, path: Path, tmp: Path) -> float:
    """Peak Python memory (MB, tracemalloc) of reading or importing `path` in a fresh process."""
    code = (
        "import sys, json, tracemalloc; sys.path.insert(0, sys.argv[3]);"
        "import inspect_ai.log, af_tui.io.inspect_import; from af_tui.store.db import Store;"
        "from bench.bench_import import read_all, import_all; from pathlib import Path;"
        "store = Store(Path(sys.argv[4])); tracemalloc.start();"
        "(read_all([Path(sys.argv[2])]) if sys.argv[1] == 'read' else import_all([Path(sys.argv[2])], store));"
        "print(json.dumps(tracemalloc.get_traced_memory()[1] / 2**20))"
    )
    out = subprocess.run([sys.executable, "-c", code, mode, str(path), str(REPO), str(tmp / f"peak-{mode}.sqlite")],
                         capture_output=True, text=True, check=True, cwd=REPO).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=Path, default=DEFAULT_LOGS)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=20, help="size of the larger log (0: skip it)")
    args = parser.parse_args()
    files = sorted(p for p in args.logs.iterdir() if p.suffix in (".eval", ".json"))
    if not files:
        raise SystemExit(f"no logs in {args.logs}")

    start = time.perf_counter()
    import inspect_ai.log  # noqa: F401

    print(f"import inspect_ai.log: {time.perf_counter() - start:.2f} s (paid by both sides, not counted)")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; median of {args.repeat} runs")
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        rows.append(measure("shared logs", files, args.repeat, tmp))
        if args.epochs:
            big = build_epochs_log(max(files, key=lambda p: p.stat().st_size), args.epochs, tmp / "big.eval")
            rows.append(measure(f"one log, {args.epochs} epochs", [big], max(3, args.repeat // 2), tmp))
            peaks = {mode: child_peak(mode, big, tmp) for mode in ("read", "import")}
        print(f"{'set':<20} {'samples':>7} {'read_eval_log':>14} {'af-tui import':>14} {'ratio':>6} {'best':>5}"
              f" {'CPU read':>9} {'CPU import':>11} {'CPU ratio':>9}")
        for r in rows:
            print(f"{r['set']:<20} {r['samples']:>7} {r['read_eval_log_s']:>12.3f} s {r['import_s']:>12.3f} s "
                  f"{r['ratio']:>6.2f} {r['ratio_of_best']:>5.2f} {r['read_cpu_s']:>7.3f} s {r['import_cpu_s']:>9.3f} s "
                  f"{r['cpu_ratio']:>9.2f}")
        print("ratio: of the medians (wall clock); best: of the fastest runs; CPU: process time, all threads")
        if args.epochs:
            print(f"peak Python memory (tracemalloc) on the {args.epochs}-epoch log: read_eval_log "
                  f"{peaks['read']:.0f} MB, af-tui import {peaks['import']:.0f} MB")
    for r in rows:
        met = "met" if r["ratio"] <= 1.5 else "met on CPU time only" if r["cpu_ratio"] <= 1.5 else "NOT met"
        print(f"goal (import at most 1.5x read_eval_log), {r['set']}: {met}")


if __name__ == "__main__":
    main()
