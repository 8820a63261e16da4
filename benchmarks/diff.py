"""What does `tools.plan --diff` cost, next to one offline plan?

    python -m benchmarks.diff [--runs N]

In a throwaway copy of this repository (its tracked files, committed once as REF), with one DNS
record added to Pulumi.prod.yaml in the working tree, times N interleaved rounds of fresh processes
(median of each, in one run of this command):
  plan        python -m tools.plan prod --json                       one offline plan
  diff        python -m tools.plan prod --diff REF --json            the one-record change: REF's
                                                                     code is the working tree's, so
                                                                     both plans run in one process
  diff+code   the same with a comment added to a component too       REF's own code, planned in a
                                                                     child process beside this one
and prints diff/plan (target: at most 1.3) and diff+code/plan. One warm-up round first: each
process compiles the copy's modules once, as a checkout does.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from components.core.errors import REPO_ROOT

TARGET = 1.3
RECORD = "      join:\n        - {type: CNAME, host: hypha}\n"
COMPONENT = "components/dns/zone.py"


def copy_tracked(into: Path) -> Path:
    """The working tree's tracked files (as edited, not as committed) copied into ``into``."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True, timeout=60
    )
    for name in files.stdout.decode().split("\0"):
        if name and (REPO_ROOT / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, into / name)
    return into


def copy_repository(into: Path, message: str = "REF") -> Path:
    """copy_tracked(), then a git repository of its own with that tree as one commit (HEAD)."""
    copy_tracked(into)
    git = ["git", "-c", "user.email=b@example.org", "-c", "user.name=b"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", message]):
        subprocess.run([*git, *args], cwd=into, check=True, capture_output=True, timeout=60)
    return into


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per measurement (median)")
    args = parser.parse_args(argv)
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="socialcoop-bench-") as tmp:
        repo = Path(tmp)
        copy_repository(repo)
        prod = repo / "Pulumi.prod.yaml"
        prod.write_text(
            prod.read_text().replace(RECORD, RECORD + "      pad:\n        - {type: CNAME, host: hypha}\n")
        )
        component = repo / COMPONENT
        plain = component.read_text()
        commented = plain + "\n# a comment: REF's code differs from the working tree's\n"
        cmds = {
            "plan": ([py, "-m", "tools.plan", "prod", "--json"], plain),
            "diff": ([py, "-m", "tools.plan", "prod", "--diff", "HEAD", "--json"], plain),
            "diff+code": ([py, "-m", "tools.plan", "prod", "--diff", "HEAD", "--json"], commented),
        }
        times: dict[str, list[float]] = {name: [] for name in cmds}
        for round_ in range(args.runs + 1):  # round 0: warm-up (compiles the copy's modules)
            for name, (cmd, code) in cmds.items():
                component.write_text(code)
                seconds = timed(cmd, repo)
                if round_:
                    times[name].append(seconds)
        component.write_text(plain)
    secs = {name: statistics.median(t) for name, t in times.items()}
    print(f"median of {args.runs} fresh processes each (one run; compare the ratios, not the seconds)")
    for name, s in secs.items():
        print(f"  {name:9s} {s:6.2f} s")
    ratio, code_ratio = secs["diff"] / secs["plan"], secs["diff+code"] / secs["plan"]
    verdict = "ok" if ratio <= TARGET else "MISSES target"
    print(f"  diff/plan      {ratio:5.2f}x  {verdict} (<= {TARGET})")
    print(f"  diff+code/plan {code_ratio:5.2f}x  (REF's own code in a child process, side by side)")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
