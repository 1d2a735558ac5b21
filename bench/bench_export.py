"""Export at scale: `af-tui export` against `sqlite3 -csv` on the same rows, with peak memory to show that
the export streams.   python bench/bench_export.py [N=200000] [STORE]

Builds a store of N samples with bench/gen_store.py unless STORE exists, labels 10% of them (two annotators,
so some samples give two rows), then times, each in its own process (peak RSS from wait4):
  1. af-tui export OUT.csv           every sample and current label, neutralised, ISO times, atomic rename
  2. af-tui export OUT.jsonl
  3. sqlite3 -csv -header            the same SELECT (no neutralisation, raw epoch times)
  4. af-tui export of a quarter of the store (--model): same peak RSS as the whole = constant memory
and prints seconds, rows/s, peak RSS, sizes and the ratios.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from af_tui.domain import CRITERIA, VERDICTS  # noqa: E402
from af_tui.io.export import ExportFilter, query  # noqa: E402

AF_TUI = [sys.executable, "-c", "from af_tui.cli import main; main()"]


def timed(cmd: list[str], stdout=None) -> tuple[float, float, float]:
    """(wall seconds, peak RSS in MB, CPU seconds) of one command, measured by GNU time (a child forked from
    this process would inherit this process's own peak RSS in its rusage). CPU time is the figure to
    compare on a loaded machine."""
    proc = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M %U %S", *cmd], stdout=stdout,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr}")
    line = [x for x in proc.stderr.splitlines() if x.startswith("TIME ")][-1].split()
    return float(line[1]), int(line[2]) / 1024, float(line[3]) + float(line[4])


def ensure_store(n: int, path: Path) -> None:
    if not path.exists():
        subprocess.run([sys.executable, str(REPO / "bench" / "gen_store.py"), str(n), str(path)], check=True)
    conn = sqlite3.connect(path)
    if conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 0:
        ids = [r[0] for r in conn.execute("SELECT id FROM samples WHERE outcome = 'complied'")]
        rng = random.Random(5)
        picked = rng.sample(ids, min(len(ids), n // 10))
        rows = []
        for i, sid in enumerate(picked):
            for annotator in ("alice", "bob") if i % 3 == 0 else ("alice",):
                crit = [rng.randint(0, 1) for _ in CRITERIA]
                rows.append((uuid.uuid4().hex, sid, annotator, *crit, rng.choice(VERDICTS),
                             "=looks like a formula" if i % 7 == 0 else None, i % 2, 1.7e9 + i))
        with conn:
            conn.executemany(
                f"INSERT INTO labels (uid, sample_id, annotator, {', '.join(CRITERIA)}, verdict, note, blind, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.close()


def bench_store(argv: list[str]) -> tuple[Path, int, str]:
    """The store of `main(argv)` ([N [STORE]]: N samples, made if missing), its number of samples and its first
    model (a quarter of the samples)."""
    n = int(argv[0]) if argv else 200_000
    store = Path(argv[1]) if len(argv) > 1 else Path(f"/tmp/af_tui_bench_export_{n}.sqlite")
    ensure_store(n, store)
    conn = sqlite3.connect(store)
    samples = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    quarter_model = conn.execute("SELECT model FROM samples GROUP BY model ORDER BY model LIMIT 1").fetchone()[0]
    conn.close()
    return store, samples, quarter_model


def main(argv: list[str]) -> None:
    sqlite_cli = shutil.which("sqlite3")
    if not sqlite_cli or not Path("/usr/bin/time").exists():
        raise SystemExit("sqlite3 or GNU time is missing: apt-get install -y sqlite3 time")
    store, samples, quarter_model = bench_store(argv)
    out = Path(os.environ.get("TMPDIR", "/tmp")) / "af_tui_bench_export"
    out.mkdir(exist_ok=True)
    results = {}

    results["af-tui csv"] = timed([*AF_TUI, "export", str(out / "all.csv"), "--db", str(store)])
    results["af-tui jsonl"] = timed([*AF_TUI, "export", str(out / "all.jsonl"), "--db", str(store)])
    sql, params = query(ExportFilter(), for_csv=True)  # the same rows and cells, formatted by SQLite
    assert not params
    with open(out / "sqlite3.csv", "wb") as fh:
        results["sqlite3 -csv"] = timed([sqlite_cli, "-csv", "-header", str(store), sql], stdout=fh)
    results["af-tui csv, 1/4 of the store"] = timed(
        [*AF_TUI, "export", str(out / "quarter.csv"), "--db", str(store), "--model", quarter_model])
    startup = timed([*AF_TUI, "--help"], stdout=subprocess.DEVNULL)

    import csv

    def count(name: str) -> int:
        with open(out / name, encoding="utf-8", newline="") as fh:
            return sum(1 for _ in csv.reader(fh)) - 1

    exported, quarter = count("all.csv"), count("quarter.csv")
    assert count("sqlite3.csv") == exported, "sqlite3 and af-tui exported different row counts"
    print(f"store: {store} ({samples:,} samples, {store.stat().st_size / 1e6:.0f} MB); "
          f"export rows: {exported:,}; python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}")
    print(f"{'':32} {'seconds':>8} {'CPU s':>7} {'rows/s':>10} {'peak RSS MB':>12} {'file MB':>8}")
    files = {"af-tui csv": "all.csv", "af-tui jsonl": "all.jsonl", "sqlite3 -csv": "sqlite3.csv",
             "af-tui csv, 1/4 of the store": "quarter.csv"}
    for name, (sec, rss, cpu) in results.items():
        size = (out / files[name]).stat().st_size / 1e6
        n_rows = quarter if "1/4" in name else exported
        print(f"{name:32} {sec:8.2f} {cpu:7.2f} {n_rows / sec:10,.0f} {rss:12.1f} {size:8.1f}")
    print(f"{'af-tui --help (start-up)':32} {startup[0]:8.2f} {startup[2]:7.2f} {'':>10} {startup[1]:12.1f}")
    (csv_s, _, csv_cpu), (sq_s, _, sq_cpu) = results["af-tui csv"], results["sqlite3 -csv"]
    print(f"ratio af-tui csv / sqlite3 -csv: {csv_s / sq_s:.2f}x wall time, {csv_cpu / sq_cpu:.2f}x CPU time; "
          "peak RSS whole / quarter: "
          f"{results['af-tui csv'][1] / results['af-tui csv, 1/4 of the store'][1]:.2f} "
          "(1.0 = constant memory)")
    shutil.rmtree(out)


if __name__ == "__main__":
    main(sys.argv[1:])
