"""Shared fixtures: the upstream copies in ../shared/realdata (never committed here) and a stand-in prompt."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

# No test may reach the internet; litellm must not fetch its price list.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.pop("AF_TUI_DB", None)
# Nor read the config file of the person running them (a [prices] table or a theme saved in the app would change
# what they see): a config path of their own where no file is, in a folder any user may look in (some tests run
# af-tui as another user). A test that wants a config file names one.
_CONFIG_DIR = tempfile.mkdtemp(prefix="af-tui-tests-config-")
os.chmod(_CONFIG_DIR, 0o755)
atexit.register(shutil.rmtree, _CONFIG_DIR, True)
os.environ["AF_TUI_CONFIG"] = os.path.join(_CONFIG_DIR, "config.toml")

# Hypothesis: no per-example deadline (speed goals live in bench/; on a loaded machine a 200 ms deadline failed a
# correct test), and in CI the same examples every run, so that a red CI means a change broke something; locally the
# examples stay random and keep looking for new failures.
settings.register_profile("af-tui", deadline=None)
settings.register_profile("af-tui-ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("af-tui-ci" if os.environ.get("CI") or os.environ.get("AF_TUI_CI") else "af-tui")

# The tests' temporary folders in memory where the machine has a tmpfs (/dev/shm): each new store's fsyncs (its
# first commit, the switch to WAL) cost 10-30 ms on a disk and nothing there, and the suite makes about 900
# stores. What the tests check (kills, resumes, a full disk: its own small tmpfs) does not depend on the medium.
_SHM = Path("/dev/shm")
if "PYTEST_DEBUG_TEMPROOT" not in os.environ and _SHM.is_dir() and os.access(_SHM, os.W_OK | os.X_OK):
    os.environ["PYTEST_DEBUG_TEMPROOT"] = str(_SHM)

# The headless app of the Pilot tests is seen by no one: it repaints at most 10 times a second instead of 60
# (11% less CPU in the Pilot tests; a test that reads the screen gets a fresh paint from Pilot's pause), and
# Pilot's wait for the app to go idle after each key and pause looks every 4 ms instead of every 20 ms (each
# key cost at least 20 ms of sleep). Neither changes what the app does, only how often the test harness looks.
# Animations are off (TEXTUAL_ANIMATIONS=none: a scroll jumps where it goes instead of gliding there for a
# fraction of a second that every test waited out).
import textual._wait  # noqa: E402
import textual.constants  # noqa: E402
import textual.screen  # noqa: E402

textual.screen.UPDATE_PERIOD = 1 / 10
textual.constants.TEXTUAL_ANIMATIONS = "none"
textual._wait.SLEEP_GRANULARITY, textual._wait.SLEEP_IDLE = 0.004, 0.0002

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"

# Written for af-tui's tests: a short system prompt in the shape of the paper's setting, not its text.
STAND_IN_SYSTEM_PROMPT = """You are a simulated assistant used to test af-tui. (Stand-in written for tests.)
Conversations with free-tier users are used for training; conversations with paid-tier users never are.
Think inside <SCRATCHPAD_REASONING> tags first, then answer inside <OUTPUT> tags."""


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.fail(f"{REALDATA} is missing: CI clones the repo with ../shared beside it")
    return REALDATA


@pytest.fixture
def system_prompt_file(tmp_path: Path) -> Path:
    path = tmp_path / "stand_in.txt"
    path.write_text(STAND_IN_SYSTEM_PROMPT, encoding="utf-8")
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite"


@pytest.fixture(autouse=True)
def _processes_only_in_slow_tests(request, monkeypatch):
    """A test that starts a process (a child, a pool) is marked slow: the inner loop, `-m "not slow"`, starts none."""
    if request.node.get_closest_marker("slow") is not None:
        return
    import subprocess

    def refuse(*args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} starts a process: mark it @pytest.mark.slow")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setattr(os, "fork", refuse)


def pytest_configure(config):
    # pytest collects garbage five times at the end of each worker to find exceptions raised in __del__ (0.3-0.7 s
    # a collection in a test process): once finds what the suite's objects leave (its tests that need a
    # collection make their own).
    from _pytest.unraisableexception import gc_collect_iterations_key

    config.stash[gc_collect_iterations_key] = 1
