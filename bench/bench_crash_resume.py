"""The crash-and-resume soak: `af-tui run` SIGKILLed at twenty random moments of a 150-request run against the
fake server, resumed each time, then compared with an uninterrupted run (the test's checks, every kill).
tests/test_faults_resume.py proves the same property at three chosen moments; this is the long run.

    .venv/bin/python bench/bench_crash_resume.py                  # 20 kills, seed 9, ~2.5 min; writes bench/README.md
    .venv/bin/python bench/bench_crash_resume.py --kills 5 --no-readme
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
from conftest import STAND_IN_SYSTEM_PROMPT  # noqa: E402
from readme_section import write_section  # noqa: E402
from test_faults_resume import crash_and_resume  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    def at(delay: float):  # a moment `delay` seconds after the incarnation's first request: samples in flight
        return lambda moment: moment.since_first_request is not None and moment.since_first_request >= delay

    kills = [at(rng.uniform(0.0, 0.8)) for _ in range(args.kills)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        prompt = tmp_path / "stand_in.txt"
        prompt.write_text(STAND_IN_SYSTEM_PROMPT, encoding="utf-8")
        started = time.monotonic()
        report = crash_and_resume(tmp_path, prompt, kills, n_requests=args.requests, latency=0.25, concurrency=4)
        wall = time.monotonic() - started
    load = os.getloadavg()[0]
    line = (f"{report['kills']} kills at random moments (seed {args.seed}), {report['samples']} samples, "
            f"{report['calls']} calls of which {report['repeats']} repeated (samples in flight at a kill; bound "
            f"{report['kills'] * 4 * 2}); every check held. Killed runs and the resume: {report['seconds']:.0f} s; "
            f"with the uninterrupted run: {wall:.0f} s (load average {load:.1f} at the end).")
    print(line)
    if not args.no_readme:
        write_section("crash-resume", f"""## Crash and resume soak (`bench/bench_crash_resume.py`) — every kill loses and resends nothing

```bash
.venv/bin/python bench/bench_crash_resume.py          # {args.kills} kills, {args.requests} requests, seed {args.seed}
```

`af-tui run` (concurrency 4) against `tests/fakeserver.py` with 250 ms latency, SIGKILLed at a random moment
up to 0.8 s after each incarnation's first request, then resumed to the end and compared with an
uninterrupted run: the checks of `tests/test_faults_resume.py`, which runs the same scenario at three chosen
moments (before the first sample, mid-run, near the end) in about 20 s.

{line}
""")


if __name__ == "__main__":
    main()
