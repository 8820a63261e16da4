"""How long does the real `pulumi preview` of alpha take, next to the offline plan?

    python -m benchmarks.engine [--runs N]

Times N interleaved rounds of fresh processes (median of each, in one run of this command):
  plan     python -m tools.plan alpha --json                      (the program under Pulumi's mocks)
  preview  python -m tools.engine preview alpha --json --policy-pack policy --plugins <stand-in>
           (the real CLI and engine, a throwaway stack and backend, the policy pack; stand-in
           plugins, because the real ones can't be built here: tests/engine/standin_provider.py)
and prints the ratio preview/plan. Needs `make engine`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from tests.engine.standin_provider import install_launchers
from tools.check.engine import REPO, required_plugins


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as plugins:
        install_launchers(plugins, required_plugins())
        cmds = {
            "plan": [sys.executable, "-m", "tools.plan", "alpha", "--json"],
            "preview": [sys.executable, "-m", "tools.engine", "preview", "alpha", "--json"]
            + ["--policy-pack", str(REPO / "policy"), "--plugins", plugins],
        }
        times: dict[str, list[float]] = {k: [] for k in cmds}
        for _ in range(args.runs):
            for name, cmd in cmds.items():
                times[name].append(timed(cmd))
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"{k:8} median {v:6.2f} s over {args.runs} runs")
    print(f"preview/plan: {med['preview'] / med['plan']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
