"""The event loop's default executor for litellm calls: one that closes the coroutine a cancelled call leaves behind.

`litellm.acompletion` builds the provider's request coroutine in `loop.run_in_executor` and awaits it after the
thread returns. A stop (Ctrl-C) cancels the calls in flight; one cancelled while its thread was still working
drops that coroutine unawaited, and Python prints `RuntimeWarning: coroutine ... was never awaited` at exit. The
futures of this executor remember that their caller gave up, and close such a coroutine instead of dropping it.
"""

from __future__ import annotations

import asyncio
import weakref
from concurrent.futures import Future, ThreadPoolExecutor

_adopted: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


class _AbandonableFuture(Future):
    """A Future that, once its caller cancelled it, closes a coroutine result nobody will await."""

    abandoned = False

    def cancel(self) -> bool:
        with self._condition:
            self.abandoned = True
            if self.done() and not self.cancelled() and self.exception() is None:
                _close_if_coroutine(self.result())
        return super().cancel()

    def set_result(self, result) -> None:
        with self._condition:
            if self.abandoned:
                _close_if_coroutine(result)
            super().set_result(result)


def _close_if_coroutine(value) -> None:
    if asyncio.iscoroutine(value):
        value.close()


class ClosingExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor whose futures close an abandoned coroutine result (see the module's note)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        outer = _AbandonableFuture()

        def call() -> None:
            if not outer.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, as ThreadPoolExecutor does
                outer.set_exception(exc)
            else:
                outer.set_result(result)

        super().submit(call)
        return outer


def adopt_running_loop() -> None:
    """Give the running loop a ClosingExecutor as its default executor, once per loop."""
    loop = asyncio.get_running_loop()
    if loop not in _adopted:
        loop.set_default_executor(ClosingExecutor(thread_name_prefix="af-tui-llm"))
        _adopted.add(loop)
