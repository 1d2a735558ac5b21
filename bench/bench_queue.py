"""The label queue at scale: building the queue of a view (ids read inside SQLite), the LabelQueue over them,
the per-key work (next unlabeled + progress) and a seeded shuffle, per store:

    python bench/bench_queue.py STORE.sqlite [STORE2.sqlite ...]

Stores are opened read-only; make them with bench/gen_store.py (`--sweep` for the 1,000,000-sample shape)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import resource  # noqa: E402
import sqlite3  # noqa: E402
import time  # noqa: E402

from af_tui.explorer.filters import CANDIDATES, PairFilter  # noqa: E402
from af_tui.explorer.queue import queue_sample_ids  # noqa: E402
from af_tui.store.labels import LabelQueue  # noqa: E402


def rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(paths: list[str]) -> None:
    for path in paths:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        n = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        for name, pair_filter, kw in (("every pair, complied", PairFilter(), {}), ("candidates", CANDIDATES, {}),
                              ("every sample", PairFilter(), {"outcome": None}),
                              ("unlabeled", PairFilter(label_state="unlabeled"), {}),
                              ("search 'topic'", PairFilter(search="topic"), {})):
            r0, t0 = rss(), time.perf_counter()
            ids = queue_sample_ids(conn, pair_filter, **kw)
            t1 = time.perf_counter()
            queue = LabelQueue(conn, "bench", ids=ids, name=name)
            t2 = time.perf_counter()
            queue.next_unlabeled()
            queue.progress()
            t3 = time.perf_counter()
            LabelQueue(conn, "bench", ids=ids, order="random", seed=1)
            t4 = time.perf_counter()
            print(f"{n:>8} samples | {name:22} | {len(ids):>7} ids | read {1000 * (t1 - t0):5.0f} ms | queue "
                  f"{1000 * (t2 - t1):5.0f} ms | next+progress {1000 * (t3 - t2):4.1f} ms | shuffled "
                  f"{1000 * (t4 - t3):5.0f} ms | max RSS +{rss() - r0:.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
