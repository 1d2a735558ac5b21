"""The loop's executor for litellm calls: a call cancelled while its thread builds the request coroutine leaves
no coroutine unawaited (Ctrl-C during a run printed `RuntimeWarning: coroutine ... was never awaited`)."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import warnings

from af_tui.llm.executor import ClosingExecutor, adopt_running_loop


async def _request() -> str:
    return "reply"


async def _cancel_while_the_thread_works(release_before_cancel: bool) -> list[str]:
    loop = asyncio.get_running_loop()
    adopt_running_loop()
    started, release, made = threading.Event(), threading.Event(), []

    def build():  # what litellm's completion() does in the thread: return the request coroutine
        started.set()
        release.wait(5)
        made.append(_request())
        return made[-1]

    call = asyncio.ensure_future(loop.run_in_executor(None, build))
    await asyncio.to_thread(started.wait, 5)
    if release_before_cancel:
        release.set()
        time.sleep(0.2)  # the loop blocked: the thread returns, its result waits in the loop's queue
    call.cancel()
    release.set()
    await asyncio.sleep(0.05)
    return made


def _never_awaited(release_before_cancel: bool) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = asyncio.run(_cancel_while_the_thread_works(release_before_cancel))
        del made
        gc.collect()
    return [str(w.message) for w in caught if "never awaited" in str(w.message)]


def test_a_call_cancelled_while_its_thread_runs_leaves_no_unawaited_coroutine():
    assert _never_awaited(release_before_cancel=False) == []


def test_a_call_cancelled_after_its_thread_returned_leaves_no_unawaited_coroutine():
    assert _never_awaited(release_before_cancel=True) == []


async def test_the_executor_still_hands_back_results_and_errors():
    loop = asyncio.get_running_loop()
    adopt_running_loop()
    assert await loop.run_in_executor(None, lambda: 42) == 42
    coro = await loop.run_in_executor(None, _request)
    assert await coro == "reply"

    def fail():
        raise ValueError("boom")

    try:
        await loop.run_in_executor(None, fail)
    except ValueError as exc:
        assert str(exc) == "boom"
    else:
        raise AssertionError("the error was lost")
    assert isinstance(ClosingExecutor().submit(lambda: 1).result(5), int)
