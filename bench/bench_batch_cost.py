"""What `--max-cost` with `--batch` and `af-tui judge --batch` cost af-tui's own CPU, the server's work left out.

    .venv/bin/python bench/bench_batch_cost.py                      # 2,000 and 20,000; 400 and 2,000 × 20 votes
    .venv/bin/python bench/bench_batch_cost.py --requests 20000 --judged 2000

1. --max-cost with --batch: before a round is sent each request's expected cost is worked out (its input tokens
   counted with litellm's counter, the system prompt once per variant). Timed on a run's first round (every
   sample's first turn), nothing sent.
2. judge --batch --samples 20: every complied sample's 20 votes built, recorded and uploaded (submission) and the
   results read, combined and committed (collection), against tests/batch_server.py in its own process (its
   af_script replies: the judge finds no verdict in them, so each vote is parsed in full and stored unparsed).
af-tui's CPU is this process's time.process_time over each phase; litellm's import is done before.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from builders import TEMPLATE, make_store  # noqa: E402
from fakeserver import free_port, wait_port  # noqa: E402

SYSTEM = "You are a careful assistant in a test. Think in <SCRATCHPAD_REASONING> tags, answer in <OUTPUT>. " * 60


def budget_estimate(requests: int, workdir: Path) -> str:
    from af_tui.experiment import batch_run
    from af_tui.experiment.plan import RunSpec, plan
    from af_tui.experiment.sources import Dataset, Text
    from af_tui.llm.tasks import SilentProgress
    from af_tui.store.db import Store, sha256_text

    goals = [f"Write a haiku about the number {i}" for i in range(requests // 2)]
    spec = RunSpec(name="b", models=["openai/gpt-4o-mini"], variants=[Text(SYSTEM, "s", sha256_text(SYSTEM), "t")],
                   template=Text(TEMPLATE, "t", sha256_text(TEMPLATE), "t"),
                   dataset=Dataset(goals, "g", sha256_text(str(goals)), "t"), api_base="http://127.0.0.1:9/v1",
                   max_cost=1e9)
    with Store(workdir / f"budget{requests}.sqlite") as store:
        run_id, tasks, _ = plan(spec, store)
        session = batch_run._BatchRun(spec, store, run_id, tasks, SilentProgress(), batch_run.BatchOptions())
        session.load(set())
        items = list(session.waiting["openai/gpt-4o-mini"].values())
        started = time.process_time()
        send, _ = session._affordable("openai/gpt-4o-mini", items)
        cpu = time.process_time() - started
    return (f"| --max-cost estimate, first round | {len(send):,} requests | {cpu:.2f} s | "
            f"{cpu / len(send) * 1e3:.3f} ms a request |")


def judge_batch(requests: int, votes: int, workdir: Path) -> str:
    import af_tui.judge.batch as jb
    from af_tui.judge.prompt import load_prompt
    from af_tui.judge.run import JudgeSpec

    times = {"submit": 0.0, "collect": 0.0}
    submit, collect = jb._JudgeBatches.submit, jb._JudgeBatches.collect

    async def timed_submit(self):
        started = time.process_time()
        await submit(self)
        times["submit"] += time.process_time() - started

    def timed_collect(self, *args):
        started = time.process_time()
        collect(self, *args)
        times["collect"] += time.process_time() - started

    jb._JudgeBatches.submit, jb._JudgeBatches.collect = timed_submit, timed_collect
    port = free_port()
    server = subprocess.Popen([sys.executable, str(REPO / "tests" / "batch_server.py"), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        store = make_store(workdir / f"judge{requests}.sqlite", n_requests=requests)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        spec = JudgeSpec(model="openai/fake-judge", prompt=load_prompt(), api_base=f"http://127.0.0.1:{port}/v1",
                         samples=votes)
        started = time.monotonic()
        result = asyncio.run(jb.judge_store_batch(spec, store, options=jb.JudgeBatchOptions(poll_s=0.2)))
        wall = time.monotonic() - started
        store.close()
    finally:
        server.terminate()
        server.wait()
        jb._JudgeBatches.submit, jb._JudgeBatches.collect = submit, collect
    n = result.judged * votes
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss
    return (f"| judge --batch --samples {votes} | {result.judged:,} samples, {n:,} votes | submission "
            f"{times['submit']:.2f} s, collection {times['collect']:.2f} s | "
            f"{(times['submit'] + times['collect']) / n * 1e3:.3f} ms a vote (run {wall:.1f} s wall, peak RSS "
            f"+{grown:.0f} MB) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, nargs="*", default=[2000, 20000])
    parser.add_argument("--judged", type=int, nargs="*", default=[300, 1500], help="requests in the judged store")
    parser.add_argument("--votes", type=int, default=20)
    args = parser.parse_args()
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ.setdefault("AF_TUI_CONFIG", os.devnull)
    from af_tui.llm import client

    client._load()
    print("| what | size | af-tui CPU | per item |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.requests:
            print(budget_estimate(n, Path(tmp)), flush=True)
        for n in args.judged:
            print(judge_batch(n, args.votes, Path(tmp)), flush=True)


if __name__ == "__main__":
    main()
