"""A run split over `--workers` processes that share the store: litellm spends about 3 ms of CPU a call, so
one process tops out near 350 calls/s (bench/README.md). This process shows the progress (read from the
store), keeps the heartbeat and sets the run's status."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

from af_tui.domain import OUTCOMES
from af_tui.errors import AfError
from af_tui.experiment.plan import RunSpec, existing_counts, per_model, plan
from af_tui.experiment.runner import HEARTBEAT_S, RunResult, counts_without_errors, run_result
from af_tui.llm.tasks import ProgressSink, SilentProgress, stop_on_signals
from af_tui.store.db import Store

# A worker's exit codes that are not a failure: done, errors left (stored as rows), stopped.
WORKER_CODES_OK = (0, 1, 130)


async def execute_workers(spec: RunSpec, store: Store, workers: int, child_args: list[str], *,
                          progress: ProgressSink | None = None, stop: asyncio.Event | None = None) -> RunResult:
    """`execute` split over `workers` processes (`python -m af_tui run *child_args --shard k/N`)."""
    run_id, tasks, _ = plan(spec, store)
    done = store.done_keys(run_id)
    planned_per_model, done_per_model = per_model(spec, tasks, done)
    stop = stop or asyncio.Event()
    todo = sum(t.key not in done for t in tasks)
    progress = progress or SilentProgress()
    progress.start(planned_per_model, done_per_model, counts_without_errors(store, run_id),
                   f"run {spec.name}: {todo} of {len(tasks)} samples to send, {workers} workers")
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "af_tui", "run", *child_args, "--shard", f"{k}/{workers}",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        for k in range(workers)
    ]
    errors_text = [asyncio.ensure_future(c.stderr.read()) for c in children]
    waits = [asyncio.ensure_future(c.wait()) for c in children]
    before = existing_counts(store, run_id)
    last_beat = time.monotonic()
    sent = 0

    def refresh() -> None:
        nonlocal sent
        now = existing_counts(store, run_id)
        for model in spec.models:
            for outcome in OUTCOMES:
                for _ in range(now.get(model, {}).get(outcome, 0) - before.get(model, {}).get(outcome, 0)):
                    progress.add(model, outcome)
                    sent += 1
                before.setdefault(model, {})[outcome] = now.get(model, {}).get(outcome, 0)

    status = "failed"
    try:
        with progress, stop_on_signals(stop, lambda: progress.say(
                "stopping the workers; run the same command again to resume")):
            stopping = False
            while not all(w.done() for w in waits):
                await asyncio.wait(waits, timeout=0.5)
                if any(w.done() and w.result() not in WORKER_CODES_OK for w in waits):
                    stop.set()  # a worker met a failure every call would repeat: stop the others too
                if stop.is_set() and not stopping:
                    stopping = True
                    for c in children:
                        if c.returncode is None:
                            c.send_signal(signal.SIGINT)
                refresh()
                if time.monotonic() - last_beat > HEARTBEAT_S:
                    store.heartbeat(run_id)
                    last_beat = time.monotonic()
            refresh()
        codes = [w.result() for w in waits]
        messages = [(await e).decode("utf-8", "replace").strip() for e in errors_text]
        failed = [m.splitlines()[-1] for c, m in zip(codes, messages, strict=True)
                  if c not in WORKER_CODES_OK and m]
        if failed:
            raise AfError(failed[0].removeprefix("af-tui: error: "))
        status = "stopped" if stop.is_set() or 130 in codes else "done"
    finally:
        for c in children:
            if c.returncode is None:
                c.kill()
        store.finish_run(run_id, status)
    return run_result(spec, store, run_id, status, len(tasks), sent)
