"""The CLI shell: one-line errors, exit codes, no traceback, fast start without heavy imports."""

import sqlite3
import subprocess
import sys

import pytest
from helpers import af_process, clean_env

from af_tui.store.db import Store
from af_tui.store.sample import Sample

ENV = clean_env(AF_TUI_DB="")


def af(*args, cwd=None):
    return af_process(*args, env=ENV, cwd=cwd)


@pytest.mark.slow
@pytest.mark.parametrize("content", [b"", b"garbage garbage garbage", b"SQLite format 3\x00" + b"\x00" * 50])
def test_bad_store_files_get_one_line(tmp_path, content):
    path = tmp_path / "bad.sqlite"
    path.write_bytes(content)
    proc = af("stats", "--db", str(path))
    if content == b"":
        # an empty file becomes a new, empty store: at most a one-line note that it has no samples
        assert "Traceback" not in proc.stderr and proc.stderr.count("\n") <= 1, proc.stderr
        return
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert path.read_bytes() == content


@pytest.mark.slow
def test_missing_store_and_directory(tmp_path):
    proc = af("stats", "--db", str(tmp_path / "nope.sqlite"))
    assert proc.returncode == 2 and "no store" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "nope.sqlite").exists()
    proc = af("stats", "--db", str(tmp_path))
    assert proc.returncode == 2 and "directory" in proc.stderr


@pytest.mark.slow
def test_help_and_stats_do_not_import_heavy_modules(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        run = store.start_run("r", {})
        store.ensure_variant("v", "sys")
        (pid,) = store.ensure_prompts(["req"])
        store.save_sample(Sample(run_id=run, model="m", variant="v", prompt_id=pid, tier="free", outcome="refused"))
    for args in (["--help"], ["stats", "--db", str(tmp_path / "s.sqlite")]):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "af_tui", *args], capture_output=True,
                              text=True, env=ENV, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
        for heavy in ("litellm", "textual", "inspect_ai", "matplotlib"):
            assert heavy not in imported, f"{args} imports {heavy}"


def test_disk_full_rolls_back_and_keeps_the_store_valid(tmp_path):
    path = tmp_path / "s.sqlite"
    store = Store(path)
    run = store.start_run("r", {})
    store.ensure_variant("v", "sys")
    (pid,) = store.ensure_prompts(["req"])
    store.save_sample(Sample(run_id=run, model="m", variant="v", prompt_id=pid, tier="free", outcome="refused"))
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")
    big = "x" * 200_000
    with pytest.raises(sqlite3.OperationalError, match="full"):
        store.save_sample(Sample(run_id=run, model="m", variant="v", prompt_id=pid, tier="paid",
                               outcome="complied", output=big))
    store.close()
    with Store(path) as again:
        assert again.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert again.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 1


@pytest.mark.slow
def test_db_before_the_command_counts(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        run = store.start_run("before", {})
        store.ensure_variant("v", "sys")
        (pid,) = store.ensure_prompts(["req"])
        store.save_sample(Sample(run_id=run, model="m", variant="v", prompt_id=pid, tier="free", outcome="refused"))
    proc = af("--db", str(path), "stats", "--json", cwd=tmp_path.parent)
    assert proc.returncode == 0, proc.stderr
    assert '"before"' in proc.stdout
