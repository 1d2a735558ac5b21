"""Helpers the tests share (not tests): af-tui run in this process or as a child process, in an environment
that holds no API keys and no store of the person running the tests; waiting on the app (Pilot) for its
workers and messages instead of sleeping. What the tests build is in builders.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AF_TUI = [sys.executable, "-m", "af_tui"]  # the CLI as a child process, from this checkout


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without API keys or AF_TUI_DB (a test names its own store), litellm kept offline, plus extra.

    Without a key, a test that reached a real provider by mistake fails at once instead of spending money."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "AF_TUI_DB"}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env.update(extra)
    return env


def af_process(*args: str, env: dict[str, str] | None = None, prefix: list[str] | None = None, text: bool = True,
               timeout: float = 120, cwd: Path = REPO, **kw) -> subprocess.CompletedProcess:
    """`af-tui ARGS` in a child process with clean_env() unless env is given; output captured."""
    return subprocess.run([*(prefix or []), *AF_TUI, *args], capture_output=True, text=text,
                          env=clean_env() if env is None else env, cwd=cwd, timeout=timeout, **kw)


def af_main(*args: str) -> int:
    """af-tui's main() in this process; its exit code (0 when it returns)."""
    from af_tui.cli import main

    try:
        main(list(args))
    except SystemExit as exc:
        return exc.code or 0
    return 0


def af_main_output(capsys, *args: str) -> tuple[int, str, str]:
    """af_main() and what it printed: (exit code, stdout, stderr)."""
    code = af_main(*args)
    out, err = capsys.readouterr()
    return code, out, err


def loaded(app) -> bool:
    """The explorer has its list, its statistics and every visible row."""
    pairs = app.pairs_list
    return (pairs is not None and app.main.loaded and app.stats_version > 0
            and all(i in pairs.rows for i in pairs.visible_ids()))


def status_text(app) -> str:
    """The explorer's status line."""
    return str(app.main.query_one("#status").render())


async def wait_for_workers(app) -> None:
    """Until the app's running workers end, however they end (a failure is the app's to report)."""
    import asyncio

    from textual.worker import WorkerState

    running = [w for w in app.workers if w.state == WorkerState.RUNNING]
    await asyncio.gather(*(w.wait() for w in running), return_exceptions=True)


async def until(pilot, condition, timeout: float = 15.0) -> None:
    """Wait until condition() is true: after the app's workers (its database reads) complete and it has handled
    their messages; only what a timer or another thread brings (the store watcher, a writer) needs a few more
    rounds."""
    import asyncio
    import time

    app = pilot.app
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the app did not get there in time")
        await wait_for_workers(app)
        await pilot.pause()
        if not condition():
            await asyncio.sleep(0.01)  # (pilot.pause would paint the whole screen again; the next round does)


async def settle(pilot) -> None:
    """The app at rest: its workers done, their messages handled, its animations over (instead of a sleep)."""
    await wait_for_workers(pilot.app)
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


async def burst(pilot, *keys: str) -> None:
    """Send keys as one burst, as a fast typist, key repeat or a paste does: every key event is queued before
    the app handles the first (pilot.press waits for the app to go idle after each key), then wait."""
    from textual import events

    app = pilot.app
    for key in keys:
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        app._driver.send_message(event)
    await pilot.pause()
    await pilot.pause()


async def store_settled(pilot) -> None:
    """Wait until the screen's store workers are done, their answers shown and no key is held for them (the
    label and review screens read and write in thread workers; an answer can let a held key start another).
    Other workers (the explorer's) are not waited for: a live run keeps them coming."""
    from textual.worker import WorkerCancelled, WorkerFailed

    app = pilot.app

    def screens_workers():
        return [w for w in list(app.workers) if w.node is app.screen]

    for _ in range(100):
        for worker in screens_workers():
            try:
                await worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass  # an exclusive worker replaced by a newer one; a failure is the screen's to report
        await pilot.pause()
        if (not getattr(app.screen, "_reading", False) and not getattr(app, "keys_held", 0)
                and not any(w.is_running for w in screens_workers())):
            return
    raise AssertionError("the screen's store workers did not settle")


async def press_settled(pilot, *keys: str) -> None:
    """pilot.press, then wait for what the keys asked of the store (store_settled)."""
    await pilot.press(*keys)
    await store_settled(pilot)
