"""Disk full and read-only stores: the runner and label saving give one clear line, the store stays valid
(`PRAGMA integrity_check`), nothing committed is lost, and the run resumes once there is room.

A full disk is a small tmpfs when this process may mount one (root in a container), else a file-size limit
(RLIMIT_FSIZE) on the runner. A read-only store is tried as another user (setpriv to nobody) when running as
root, since root writes through file modes.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from builders import TEMPLATE, make_store
from helpers import AF_TUI, REPO, clean_env, press_settled, store_settled

from af_tui.store.labels import current_labels


def _env() -> dict:
    return clean_env(AF_TUI_SIM_LATENCY="0")


def _integrity(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def _samples(db: Path) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT prompt_id, tier, outcome, completed_at FROM samples ORDER BY id").fetchall()


def _last_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr[-3000:]
    return stderr.strip().splitlines()[-1]


@contextlib.contextmanager
def small_disk(size_kb: int):
    """(folder, preexec): a tmpfs of size_kb if it can be mounted, else a folder and a file-size limit."""
    folder = Path(tempfile.mkdtemp(prefix="af-tui-full-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0 if shutil.which("mount") else False

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (size_kb * 1024, size_kb * 1024))

    try:
        yield folder, (None if mounted else limit), mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def _run_args(d: Path, db: Path, n: int, system_prompt_file: Path) -> list[str]:
    """The run's command for its first n requests: one dataset (the same settings, so that it resumes)."""
    dataset = d / "requests.csv"
    # Long requests: the store grows by several KB a sample, so a small disk fills within seconds.
    dataset.write_text("goal\n" + "\n".join(f"Made-up request {i} " + "padding " * 300 for i in range(400)) + "\n")
    template = d / "template.txt"
    template.write_text(TEMPLATE)
    return [*AF_TUI, "run", "--model", "sim/refuser", "--dataset", str(dataset),
            "--user-template", str(template), "--system-prompt", str(system_prompt_file), "--run", "full",
            "--limit", str(n), "--concurrency", "4", "--db", str(db)]


@pytest.mark.slow
def test_run_on_a_full_disk_stops_in_one_line_keeps_the_store_and_resumes(tmp_path, system_prompt_file):
    with small_disk(900) as (disk, preexec, mounted):
        db = disk / "store.sqlite"
        first = subprocess.run(_run_args(tmp_path, db, 3, system_prompt_file), env=_env(), cwd=REPO,
                               capture_output=True, text=True, timeout=300)
        assert first.returncode == 0, first.stderr[-2000:]
        kept = _samples(db)
        assert len(kept) == 6
        args = _run_args(tmp_path, db, 400, system_prompt_file)
        full = subprocess.run(args, env=_env(), cwd=REPO, capture_output=True, text=True, timeout=300,
                              preexec_fn=preexec)
        assert full.returncode != 0
        line = _last_line(full.stderr)
        assert line.startswith("af-tui: error: ") and ("full" in line or "disk I/O error" in line), line
        assert "nothing committed was lost" in line
        assert _integrity(db) == "ok"
        after = _samples(db)
        assert after[: len(kept)] == kept and len(after) < 800  # what was committed is there as it was
        # Room again (the files move to a roomy folder, as a person would free space): the same command resumes.
        roomy = tmp_path / "roomy"
        roomy.mkdir()
        for f in disk.iterdir():
            shutil.copy(f, roomy / f.name)
    db = roomy / "store.sqlite"
    args[args.index("--db") + 1] = str(db)
    done = subprocess.run(args, env=_env(), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    final = _samples(db)
    assert len(final) == 800 and len({(p, t) for p, t, _, _ in final}) == 800
    assert set(after) <= set(final) and _integrity(db) == "ok"


def _other_user() -> list[str]:
    """The prefix that runs a command as a user without root's write-through (or none if we are not root)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("root without setpriv: cannot make a store read-only for ourselves")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def shared_dir():
    """A folder other users can enter (pytest's tmp folders are closed to them)."""
    d = Path(tempfile.mkdtemp(prefix="af-tui-ro-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("folder_writable", [True, False], ids=["read-only file", "read-only folder"])
def test_read_only_store_gets_one_line_and_stays_as_it_was(shared_dir, folder_writable):
    db = shared_dir / "store.sqlite"
    make_store(db).close()
    for name in ("stand_in.txt", "template.txt", "ok.csv"):
        (shared_dir / name).write_text({"stand_in.txt": "A stand-in system prompt for the read-only test.",
                                        "template.txt": TEMPLATE, "ok.csv": "goal\nA made-up request\n"}[name])
        (shared_dir / name).chmod(0o644)
    db.chmod(0o444)
    if folder_writable:
        shared_dir.chmod(0o777)  # SQLite may create its -wal/-shm files; the store itself is read-only
    before = db.read_bytes()
    prefix = _other_user()
    run = subprocess.run([*prefix, sys.executable, "-m", "af_tui", "run", "--model", "sim/refuser", "--dataset",
                          str(shared_dir / "ok.csv"), "--system-prompt", str(shared_dir / "stand_in.txt"),
                          "--user-template", str(shared_dir / "template.txt"), "--db", str(db)],
                         env=_env(), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    line = _last_line(run.stderr)
    assert line.startswith("af-tui: error: ") and "read" in line and "only" in line, line
    assert "\n" not in run.stderr.strip() or folder_writable  # with a readable store the run's header comes first
    stats = subprocess.run([*prefix, sys.executable, "-m", "af_tui", "stats", "--db", str(db)], env=_env(),
                           cwd=REPO, capture_output=True, text=True, timeout=120)
    if folder_writable:
        assert stats.returncode == 0, stats.stderr  # reading needs no write access to the store
    else:
        assert stats.returncode != 0 and "read-only" in _last_line(stats.stderr)
    assert db.read_bytes() == before and _integrity(db) == "ok"


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["full", "read-only"])
async def test_label_saving_on_a_full_or_read_only_store_says_so_and_keeps_the_app(tmp_path, fault):
    from textual.widgets import Static

    from af_tui.tui.label_app import LabelApp
    from af_tui.tui.screens.label import LabelScreen

    store = make_store(tmp_path / "s.sqlite", n_requests=4)
    app = LabelApp(store.path, "alice")
    async with app.run_test(size=(140, 40)) as pilot:
        await store_settled(pilot)
        screen = app.screen
        assert isinstance(screen, LabelScreen)
        await press_settled(pilot, "a", "enter")  # one label saved normally
        first = screen.sample.id
        conn = screen.store.conn  # the screen's own connection, which its worker saves on
        if fault == "full":
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")
            screen.note = "a long note " * 20_000  # a row that needs new pages
        else:
            conn.execute("PRAGMA query_only = ON")
        await press_settled(pilot, "n", "enter")
        assert app.is_running and app.screen is screen
        saved_text = str(screen.query_one("#label-saved", Static).render())
        assert f"saved ✓ sample {first}" not in saved_text  # never says saved when it was not
        assert screen.sample.id == first  # stays on the sample, so the person can try again
    labels = current_labels(store.conn, annotator="alice")
    assert len(labels) == 1 and _integrity(store.path) == "ok"
    store.close()
