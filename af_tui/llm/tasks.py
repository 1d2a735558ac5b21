"""Bounded-concurrency async tasks with a clean stop, and the progress interface that the runner and the
judge report to (the bar itself is drawn in commands/progress.py)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, TypeVar

T = TypeVar("T")


async def run_tasks(
    items: Iterable[T],
    worker: Callable[[T], Awaitable[object]],
    *,
    concurrency: int,
    stop: asyncio.Event | None = None,
) -> bool:
    """Run `worker` over `items` with at most `concurrency` in flight. Returns False if stopped early."""
    return await run_grouped([(items, concurrency)], worker, stop=stop)


async def run_grouped(
    groups: Iterable[tuple[Iterable[T], int]],
    worker: Callable[[T], Awaitable[object]],
    *,
    stop: asyncio.Event | None = None,
    drain: Callable[[], bool] = lambda: False,
) -> bool:
    """`run_tasks` over several groups at once (a run's models), each with its own concurrency: a slow group
    holds only its own lanes. Returns False if stopped early. On a stop, the items in flight are dropped,
    unless `drain()` says to let them finish (a budget reached: what they cost is spent already)."""
    stop = stop or asyncio.Event()

    async def lane(iterator) -> None:
        for item in iterator:  # one shared iterator per group: its lanes pull the next item when free
            if stop.is_set():
                return
            await worker(item)

    lanes = []
    for items, concurrency in groups:
        iterator = iter(items)
        lanes += [asyncio.ensure_future(lane(iterator)) for _ in range(max(1, concurrency))]
    stopper = asyncio.ensure_future(stop.wait())
    try:
        pending, watch = set(lanes), {stopper}
        while pending:
            done, pending = await asyncio.wait(pending | watch, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopper}:
                task.result()  # re-raise a worker's exception
            pending -= {stopper}
            if stopper in done:
                if not drain():
                    break
                watch = set()  # the lanes finish their item and end (stop is set)
        return not stop.is_set()
    finally:
        for task in [*lanes, stopper]:
            task.cancel()
        await asyncio.gather(*lanes, stopper, return_exceptions=True)


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event, on_stop: Callable[[], None] | None = None):
    """SIGINT / SIGTERM ask for a clean stop (the second SIGINT too: the lanes are cancelled at once)."""
    loop = asyncio.get_running_loop()
    installed = []

    def handler() -> None:
        if not stop.is_set() and on_stop:
            on_stop()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread (tests) or no signals here
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


class ProgressSink(Protocol):
    """What a long job reports to. Used as a context manager around the work, after `start`."""

    def start(self, totals: dict[str, int], done: dict[str, int], counts: dict[str, dict[str, int]],
              title: str = "") -> None:
        """What is planned per key (model), what is already done, the counts so far, and a line saying so."""

    def add(self, key: str, outcome: str) -> None:
        """One item finished, called only once it is committed. An "error" is counted but not done."""

    def say(self, text: str) -> None:
        """A line for the person, e.g. how to resume after a stop."""

    def __enter__(self) -> ProgressSink: ...

    def __exit__(self, *exc: object) -> None: ...


class SilentProgress:
    """A ProgressSink that shows nothing: worker processes of --workers, and callers from Python."""

    def start(self, totals, done, counts, title: str = "") -> None:
        pass

    def add(self, key: str, outcome: str) -> None:
        pass

    def say(self, text: str) -> None:
        pass

    def __enter__(self) -> SilentProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
