"""`af-tui run --batch` end to end on a local batch server: CPU and memory per sample, and where the time goes
(submission, polling, collection), the server's own work left out. Writes its figures into bench/README.md.

    .venv/bin/python bench/bench_batch.py                    # 2,000 and 20,000 samples, one model
    .venv/bin/python bench/bench_batch.py --samples 20000 --no-readme

The batch server (tests/batch_server.py, af_script: the free tier takes a <NEXT/> turn, so a run is two rounds
and 1.5 requests a sample) runs in its own process, so none of its CPU is counted. The run is the real batch
runner (experiment/batch_run.execute_batch, as `af-tui run --batch` calls it) in this process, its phases timed:
submission (building the requests, recording the batch, uploading the file, creating the batch), polling (asking
for the status), collection (downloading the results, reading them, saving the samples and carried turns in one
transaction). af-tui's CPU is this process's CPU time over the run (time.process_time: waiting costs none). The
server computes a batch's replies when it is first asked after submission; that time is in the poll's wall time,
so "af-tui wall" below is submission + collection wall, the server's wait left out.
"""

from __future__ import annotations

import argparse
import ast
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
sys.path.insert(0, str(REPO / "bench"))
from builders import TEMPLATE, write_requests  # noqa: E402
from fakeserver import free_port, wait_port  # noqa: E402
from readme_section import write_section  # noqa: E402

SECTION = "batch"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_once(samples: int, workdir: Path, system_chars: int, poll_s: float) -> dict:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    from af_tui.experiment import batch_run, sources
    from af_tui.experiment.plan import RunSpec
    from af_tui.llm import client
    from af_tui.store.db import Store

    client._load()  # litellm's import is not the run's cost
    port = free_port()
    server = subprocess.Popen([sys.executable, str(REPO / "tests" / "batch_server.py"), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        requests = samples // 2
        dataset = write_requests(workdir / f"goals{samples}.csv", [f"Write a haiku about the number {i}"
                                                                    for i in range(requests)])
        template = workdir / "template.txt"
        template.write_text(TEMPLATE, encoding="utf-8")
        prompt = workdir / "system.txt"
        prompt.write_text(("A stand-in system prompt for the batch bench. " * (system_chars // 46 + 1))
                          [:system_chars], encoding="utf-8")
        spec = RunSpec(name="bench", models=["openai/x"], variants=[sources.system_prompt(str(prompt))],
                       template=sources.user_template(str(template)), dataset=sources.dataset(str(dataset)),
                       api_base=f"http://127.0.0.1:{port}/v1")
        phases = {name: [0.0, 0.0, 0] for name in ("submit", "poll", "collect")}  # wall, cpu, calls: exclusive
        original = {name: getattr(batch_run._BatchRun, name) for name in phases}
        stack: list[list] = []  # [name, wall started, cpu started] of the phases in progress, innermost last

        def enter(name):
            now = (time.perf_counter(), time.process_time())
            if stack:  # the enclosing phase pauses (poll sends the next round and collects)
                outer = stack[-1]
                phases[outer[0]][0] += now[0] - outer[1]
                phases[outer[0]][1] += now[1] - outer[2]
            stack.append([name, *now])

        def leave():
            now = (time.perf_counter(), time.process_time())
            name, wall0, cpu0 = stack.pop()
            phases[name][0] += now[0] - wall0
            phases[name][1] += now[1] - cpu0
            phases[name][2] += 1
            if stack:
                stack[-1][1:] = list(now)

        def timed(name):
            fn = original[name]

            def sync(*args, **kw):
                enter(name)
                try:
                    return fn(*args, **kw)
                finally:
                    leave()

            async def coro(*args, **kw):
                enter(name)
                try:
                    return await fn(*args, **kw)
                finally:
                    leave()

            return coro if asyncio.iscoroutinefunction(fn) else sync

        for name in phases:
            setattr(batch_run._BatchRun, name, timed(name))
        rss0 = _rss_mb()
        db = workdir / f"bench{samples}.sqlite"
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            with Store(db) as store:
                result = asyncio.run(batch_run.execute_batch(spec, store,
                                                             options=batch_run.BatchOptions(poll_s=poll_s)))
        finally:
            for name, fn in original.items():
                setattr(batch_run._BatchRun, name, fn)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert result.status == "done" and result.errors == 0, result
        with Store(db) as store:
            stored = store.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
            batches = store.conn.execute("SELECT COUNT(*), SUM(requests), MAX(bytes) FROM batches").fetchone()
        assert stored == samples, stored
        return {"samples": samples, "wall": wall, "cpu": cpu, "rss0": rss0, "rss": _rss_mb(),
                "submit": phases["submit"], "poll": phases["poll"],
                "collect": phases["collect"], "batches": batches[0], "requests": batches[1],
                "max_bytes": batches[2], "db_mb": db.stat().st_size / 1e6}
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--system-chars", type=int, default=4000, help="size of the stand-in system prompt")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between polls")
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--row", action="store_true", help=argparse.SUPPRESS)  # one size, its figures as a repr
    args = parser.parse_args()
    if args.row:
        with tempfile.TemporaryDirectory() as tmp:
            print(repr(run_once(args.samples[0], Path(tmp), args.system_chars, args.poll)))
        return
    rows = []
    for n in args.samples:  # each in a fresh process, so that its peak RSS is its own
        out = subprocess.run([sys.executable, __file__, "--samples", str(n), "--system-chars",
                              str(args.system_chars), "--poll", str(args.poll), "--row"],
                             capture_output=True, text=True, check=True)
        rows.append(ast.literal_eval(out.stdout.strip().splitlines()[-1]))
    lines = [f"## `af-tui run --batch` end to end (`bench/bench_batch.py`, {time.strftime('%Y-%m-%d %H:%M')}) "
             "— CPU and memory per sample, time without the server's",
             "",
             f"`.venv/bin/python bench/bench_batch.py --samples {' '.join(map(str, args.samples))}` — one model "
             f"(`openai/x`) on the local batch server (tests/batch_server.py, its own process), a "
             f"{args.system_chars:,}-character system prompt, af_script (free tier: two turns, so two rounds, "
             f"1.5 requests a sample), polled every {args.poll:g} s; load average "
             f"{os.getloadavg()[0]:.1f} at the end.",
             "",
             "| samples | batches | requests | largest batch | af-tui CPU (per sample) | submission CPU (wall) | "
             "polling CPU (wall) | collection CPU (wall) | whole run wall | peak RSS (growth, per sample) | store |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['samples']:,} | {r['batches']} | {r['requests']:,} | {r['max_bytes'] / 1e6:.1f} MB | "
            f"{r['cpu']:.1f} s ({1000 * r['cpu'] / r['samples']:.2f} ms) | {r['submit'][1]:.1f} s "
            f"({r['submit'][0]:.1f} s) | {r['poll'][1]:.2f} s ({r['poll'][0]:.1f} s, {r['poll'][2]} polls) | "
            f"{r['collect'][1]:.1f} s ({r['collect'][0]:.1f} s) | {r['wall']:.1f} s | {r['rss']:.0f} MB "
            f"(+{r['rss'] - r['rss0']:.0f} MB, {1024 * (r['rss'] - r['rss0']) / r['samples']:.1f} KB) | "
            f"{r['db_mb']:.0f} MB |")
    lines += ["", "af-tui's CPU leaves the server's work out (the server is another process): submission is building "
              "each request with litellm's transformation, committing the batch's row with the items it carries, "
              "writing and uploading the JSONL file, creating the batch; polling is asking for the status; "
              "collection is downloading and reading the output file, scoring each reply, committing the samples "
              "and the carried <NEXT/> turns with the batch's status in one transaction. The wall times hold the "
              "server's work too: receiving and parsing the file (submission), computing every reply at the "
              "first poll after submission (polling), sending the results (collection). Peak RSS is the "
              "process's (litellm imported: about 180 MB before the run); most of the growth is one round's "
              "requests and its JSONL file held while they are sent."]
    text = "\n".join(lines)
    print(text)
    if not args.no_readme:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
