"""The store as data at scale: `af-tui export all.parquet` against the CSV export, `af_tui.open(p).samples()`,
and reading each file back in pandas.   python bench/bench_data.py [N=200000] [STORE]

Uses the store of bench/bench_export.py (bench/gen_store.py, 10% labeled by one or two annotators), then times,
each in its own process under GNU time (wall, CPU, peak RSS):
  1. af-tui export all.csv / all.parquet     the same rows; Parquet typed, in row groups of 10,000
  2. af-tui export quarter.parquet --model   a quarter of the store: the same peak RSS = constant memory
  3. af_tui.open(STORE).samples()            the same query into a typed DataFrame (everything in memory)
  4. af_tui.open(STORE).samples(model=…)     the filter in SQL: a quarter of the work
  5. pandas.read_csv / read_parquet          what a notebook pays to read each file back
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench_export import AF_TUI, bench_store, timed

PY = sys.executable


def main(argv: list[str]) -> None:
    store, samples, quarter_model = bench_store(argv)
    out = Path(os.environ.get("TMPDIR", "/tmp")) / "af_tui_bench_data"
    out.mkdir(exist_ok=True)
    csv, parquet, quarter = out / "all.csv", out / "all.parquet", out / "quarter.parquet"
    frame = "import af_tui; f = af_tui.open({!r}).samples({}); print(len(f))"
    runs = {
        "af-tui export all.csv": ([*AF_TUI, "export", str(csv), "--db", str(store)], csv),
        "af-tui export all.parquet": ([*AF_TUI, "export", str(parquet), "--db", str(store)], parquet),
        "af-tui export quarter.parquet": (
            [*AF_TUI, "export", str(quarter), "--db", str(store), "--model", quarter_model], quarter),
        "af_tui.open(p).samples()": ([PY, "-c", frame.format(str(store), "")], None),
        "af_tui.open(p).samples(model=…)": ([PY, "-c", frame.format(str(store), f"model={quarter_model!r}")], None),
        "pandas.read_csv(all.csv)": ([PY, "-c", f"import pandas; pandas.read_csv({str(csv)!r})"], None),
        "pandas.read_parquet(all.parquet)": ([PY, "-c", f"import pandas; pandas.read_parquet({str(parquet)!r})"],
                                             None),
        "python -c 'import pandas' (start-up)": ([PY, "-c", "import pandas"], None),
    }
    results = {name: timed(cmd, stdout=subprocess.DEVNULL) for name, (cmd, _) in runs.items()}
    print(f"store: {store} ({samples:,} samples, {store.stat().st_size / 1e6:.0f} MB); "
          f"python {sys.version.split()[0]}")
    print(f"{'':40} {'seconds':>8} {'CPU s':>7} {'peak RSS MB':>12} {'file MB':>8}")
    for name, (sec, rss, cpu) in results.items():
        path = runs[name][1]
        size = f"{path.stat().st_size / 1e6:8.1f}" if path else ""
        print(f"{name:40} {sec:8.2f} {cpu:7.2f} {rss:12.1f} {size}")
    cpu = {name: r[2] for name, r in results.items()}
    rss = {name: r[1] for name, r in results.items()}
    print(f"parquet / csv export: {cpu['af-tui export all.parquet'] / cpu['af-tui export all.csv']:.2f}x CPU, "
          f"file {parquet.stat().st_size / csv.stat().st_size:.2f}x; peak RSS whole / quarter (parquet): "
          f"{rss['af-tui export all.parquet'] / rss['af-tui export quarter.parquet']:.2f}; "
          f"read_parquet / read_csv: {cpu['pandas.read_parquet(all.parquet)'] / cpu['pandas.read_csv(all.csv)']:.2f}x CPU")
    shutil.rmtree(out)


if __name__ == "__main__":
    main(sys.argv[1:])
