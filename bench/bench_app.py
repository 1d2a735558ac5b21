"""The explorer at scale: startup to first paint, key-to-render latency (next pair, filter, search, opening
the label queue of the view), RSS, statistics refresh and live commit-to-screen latency on stores of 100,
10k and 200k samples (or 1,000,000: `bench_app.py 100 1000000`, a sweep's shape from gen_store --sweep),
with ratios against the 100-sample store.

    .venv/bin/python bench/bench_app.py                  # 100, 10k, 200k (stores cached in $TMPDIR)
    .venv/bin/python bench/bench_app.py 100 20000        # other sizes

Each size runs in its own process (so RSS is that size's alone), headless through Textual's Pilot at
120×40. Goals: 200k within 1.2× of 100 for startup and keys, RSS growth ≤ 60 MB, refresh ≤ 100 ms,
live ≤ 1 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
SIZES = (100, 10_000, 200_000)
REPEAT = 15
ROUNDS = int(os.environ.get("AF_TUI_BENCH_ROUNDS", "3"))


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size in MB, from /proc."""
    values = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line.split(":")[0]] = int(line.split()[1]) / 1024
    return values["VmRSS"], values["VmHWM"]


async def measure(db: Path) -> dict:
    from af_tui.config import Config
    from af_tui.store.db import Store
    from af_tui.store.sample import Sample
    from af_tui.tui.app import ExplorerApp

    rss_before, _ = rss_mb()
    started = time.perf_counter()
    app = ExplorerApp(db, config=Config(path=Path(tempfile.gettempdir()) / "af-tui-bench-config.toml"))
    out: dict = {}

    def page_ready() -> bool:
        pairs = app.pairs_list
        return bool(pairs and pairs.ids) and all(i in pairs.rows for i in pairs.visible_ids())

    async def until(pilot, condition, timeout=60.0):
        deadline = time.perf_counter() + timeout
        while not condition():
            if time.perf_counter() > deadline:
                raise RuntimeError("timed out")
            await asyncio.sleep(0.001)
        # Let the widgets handle what is queued, then draw the screen now (what the next frame would do).
        # (Not pilot.pause(): it waits for the whole process to go idle, i.e. for background workers.)
        await pilot._wait_for_screen()
        app.screen._on_timer_update()

    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.first_rows_at is not None and page_ready())
        out["startup_ms"] = (time.perf_counter() - started) * 1000  # the first screenful of pairs is drawn
        await until(pilot, lambda: app.stats_version > 0 and app.main.complete)
        pairs = app.pairs_list

        async def timed_key(key: str, condition) -> float:
            # The key goes in as the terminal would send it (no Pilot waits in the measured time); the lap
            # ends when the answer is on screen.
            t0 = time.perf_counter()
            app.simulate_key(key)
            await until(pilot, condition)
            return (time.perf_counter() - t0) * 1000

        laps = []
        for _ in range(REPEAT):
            before = pairs.cursor
            laps.append(await timed_key("down", lambda b=before: pairs.cursor == b + 1 and page_ready()))
        out["next_pair_ms"] = statistics.median(laps)

        # Keys come as a person presses them: each after the list has settled (all ids read), so that one
        # lap does not pay for the previous one's background work.
        settled = lambda: app.main.complete and page_ready()  # noqa: E731
        laps = []
        for _ in range(REPEAT // 3):
            for _ in range(2):  # on, then off again
                await until(pilot, settled)
                version = app.list_version
                laps.append(await timed_key("a", lambda v=version: app.list_version > v and
                                            (page_ready() or not pairs.ids)))
        out["filter_ms"] = statistics.median(laps)

        # A rare pair of words matches a few requests (4 pairs at 100 samples, about 2,800 at 200k); a common one
        # matches nearly every pair (a 100k-pair answer at 200k: a different amount of work, shown apart).
        for name, words in (("search_rare_ms", "number 7"), ("search_common_ms", "simulated")):
            laps = []
            for _ in range(REPEAT // 3):
                await until(pilot, settled)
                await pilot.press("slash")
                app.main.query_one("#search").value = words
                version = app.list_version
                laps.append(await timed_key("enter", lambda v=version: app.list_version > v and
                                            (page_ready() or not pairs.ids)))
                await pilot.press("x")
                await until(pilot, lambda: not app.main.pair_filter.search and page_ready())
            out[name] = statistics.median(laps)

        # The label queue of the view: `l` on the candidates, until the label screen shows its first sample
        # (the queue is built in a thread worker).
        from af_tui.tui.screens.label import LabelScreen

        laps = []
        await until(pilot, settled)
        if not (app.main.pair_filter.free_outcome == "complied" and app.main.pair_filter.paid_outcome == "refused"):
            version = app.list_version
            app.simulate_key("a")
            await until(pilot, lambda v=version: app.list_version > v and settled())
        for _ in range(REPEAT // 3):
            await until(pilot, settled)
            laps.append(await timed_key("l", lambda: isinstance(app.screen, LabelScreen)
                                        and getattr(app.screen, "sample", None) is not None))
            app.screen.dismiss(None)
            await until(pilot, lambda: app.screen is app.main)
        out["label_queue_ms"] = statistics.median(laps)
        app.simulate_key("x")
        await until(pilot, lambda: app.main.pair_filter.is_empty and settled())

        # Live: another writer commits a new pair; time until it is on screen (list following the end),
        # and until the statistics panel has been refreshed with it.
        await pilot.press("end")
        writer = Store(db, create=False, check_same_thread=False)
        run_id = writer.conn.execute("SELECT MAX(id) FROM runs").fetchone()[0]
        variant = writer.conn.execute("SELECT name FROM variants ORDER BY name LIMIT 1").fetchone()[0]
        live, refresh = [], []
        for i in range(REPEAT // 3):
            [prompt_id] = writer.ensure_prompts([f"live request {time.time()} {i}"])
            n_pairs, n_stats = len(pairs.ids), app.stats_version
            committed = {}

            def write(prompt_id=prompt_id, i=i, committed=committed):
                writer.save_sample(Sample(run_id=run_id, model="sim/faker", variant=variant, prompt_id=prompt_id,
                                          prompt_index=10_000 + i, tier="free", outcome="complied", output="live",
                                          scratchpad="live"))
                committed["at"] = time.perf_counter()

            thread = threading.Thread(target=write)
            thread.start()
            thread.join()
            await until(pilot, lambda n=n_pairs: len(pairs.ids) > n and pairs.cursor == len(pairs.ids) - 1
                        and page_ready())
            live.append((time.perf_counter() - committed["at"]) * 1000)
            await until(pilot, lambda s=n_stats: app.stats_version > s)
            refresh.append(app.stats_seconds * 1000)
        writer.close()
        out["live_ms"] = statistics.median(live)
        out["stats_refresh_ms"] = statistics.median(refresh)
        rss, peak = rss_mb()
        out["rss_mb"] = rss
        out["rss_peak_mb"] = peak
        out["rss_app_mb"] = rss - rss_before
        out["pairs"] = app.main.total
    return out


def child(db: str) -> None:
    print(json.dumps(asyncio.run(measure(Path(db)))))


def store_for(n: int) -> Path:
    path = Path(os.environ.get("AF_TUI_BENCH_DIR", tempfile.gettempdir())) / f"af-tui-bench-{n}.sqlite"
    if not path.exists():
        sweep = ["--sweep"] if n >= 500_000 else []  # a sweep's shape: 25 models × 10 variants
        subprocess.run([sys.executable, str(HERE / "gen_store.py"), *sweep, str(n), str(path)], check=True)
    return path


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        return child(argv[1])
    sizes = [int(a) for a in argv] or list(SIZES)
    stores = {n: store_for(n) for n in sizes}
    runs: dict[int, list[dict]] = {n: [] for n in sizes}
    # Sizes take turns, ROUNDS times, and each figure is the median: a machine shared with other work
    # drifts, and interleaving spreads the drift over every size alike.
    for round_ in range(ROUNDS):
        for n in sizes:
            proc = subprocess.run([sys.executable, __file__, "--child", str(stores[n])], capture_output=True,
                                  text=True)
            if proc.returncode:
                sys.exit(f"size {n} failed:\n{proc.stderr[-3000:]}")
            runs[n].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"round {round_ + 1}: {n:>8,} samples: " + ", ".join(
                f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in runs[n][-1].items()),
                flush=True)
    results = {n: {k: statistics.median(r[k] for r in runs[n]) for k in runs[n][0]} for n in sizes}
    base = results[sizes[0]]
    keys = ("startup_ms", "next_pair_ms", "filter_ms", "label_queue_ms", "search_rare_ms", "search_common_ms",
            "live_ms", "stats_refresh_ms", "rss_mb")
    print()
    print(f"{'samples':>10} " + " ".join(f"{k:>17}" for k in keys))
    for n in sizes:
        row = results[n]
        cells = []
        for k in keys:
            ratio = row[k] / base[k] if base[k] else float("nan")
            cells.append(f"{row[k]:9.1f} ({ratio:4.2f}×)")
        print(f"{n:>10,} " + " ".join(f"{c:>17}" for c in cells))
    last = results[sizes[-1]]
    print()
    print(f"RSS growth {sizes[0]:,} → {sizes[-1]:,}: {last['rss_mb'] - base['rss_mb']:+.1f} MB (goal ≤ 100 MB); "
          f"stats refresh {last['stats_refresh_ms']:.0f} ms (goal ≤ 100); live {last['live_ms']:.0f} ms "
          f"(goal ≤ 1000)")


if __name__ == "__main__":
    main(sys.argv[1:])
