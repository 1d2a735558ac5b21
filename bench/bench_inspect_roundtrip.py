"""The Inspect round trip: `af-tui export DIR --format inspect`, inspect_ai's `read_eval_log` of every file,
then `af-tui import DIR` into a new store, and the outcome counts per model and tier compared.

    python bench/bench_inspect_roundtrip.py                 # the demo store, built offline (latency 0)
    python bench/bench_inspect_roundtrip.py --samples 20000 # a bigger store from bench/gen_store.py

Each step runs the CLI in a child process (wall clock includes its start-up and `import inspect_ai`).
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AF = [sys.executable, "-m", "af_tui"]


def counts(db: Path) -> Counter:
    with sqlite3.connect(db) as conn:
        return Counter({row[:3]: row[3] for row in conn.execute(
            "SELECT model, tier, outcome, COUNT(*) FROM samples GROUP BY 1, 2, 3")})


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, cwd=ROOT, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=0, help="a gen_store.py store of this size (0: the demo)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        db, logs, back = tmp / "store.sqlite", tmp / "logs", tmp / "back.sqlite"
        if options.samples:
            subprocess.run([sys.executable, "bench/gen_store.py", str(options.samples), str(db)], check=True,
                           cwd=ROOT, capture_output=True)
            what = f"gen_store.py {options.samples}"
        else:
            subprocess.run([*AF, "demo", "--no-tui", "--latency", "0", "--db", str(db)], check=True, cwd=ROOT,
                           capture_output=True)
            what = "the demo store"
        t_export = timed([*AF, "export", str(logs), "--format", "inspect", "--db", str(db)])
        files = sorted(logs.glob("*.eval"))
        start = time.perf_counter()
        from inspect_ai.log import read_eval_log

        t_import_inspect = time.perf_counter() - start
        start = time.perf_counter()
        read = [read_eval_log(str(f)) for f in files]
        t_read = time.perf_counter() - start
        with_answer = sum(1 for log in read for s in log.samples
                          if s.scores["outcome"].value not in ("complied", "refused")
                          or s.scores["outcome"].answer in s.messages[-1].text)
        t_import = timed([*AF, "import", str(logs), "--db", str(back)])
        before, after = counts(db), counts(back)
        total = sum(before.values())
        size = sum(f.stat().st_size for f in files)
        print(f"{what}: {total} samples")
        print(f"export:  {len(files)} files, {sum(len(log.samples) for log in read)} samples, "
              f"{size / 1e6:.2f} MB, {t_export:.2f} s (af-tui export, whole command)")
        print(f"read:    inspect_ai read_eval_log of every file {t_read:.2f} s "
              f"(+ {t_import_inspect:.2f} s to import inspect_ai.log); answers in place: {with_answer}")
        print(f"import:  {t_import:.2f} s (af-tui import, whole command) into a new store")
        print(f"outcome counts per model, tier and outcome equal: {before == after} "
              f"({len(before)} cells, {sum(after.values())} samples back)")
        if before != after:
            print("differences:", {k: (before.get(k), after.get(k)) for k in before | after
                                   if before.get(k) != after.get(k)})
            sys.exit(1)


if __name__ == "__main__":
    main()
