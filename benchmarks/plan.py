"""How fast is the offline plan, next to the floor of starting Python and importing the SDKs?

    python -m benchmarks.plan [--runs N]

Times, with N fresh processes each (in interleaved rounds) and the median (one run of this
command, so the ratios compare like with like on a shared machine):
  floor   python -c "import pulumi, pulumi_hcloud, pulumi_cloudflare, pulumi_digitalocean, pulumi_command"
  prod    python -m tools.plan prod --json
  alpha   python -m tools.plan alpha --json
  large   python -m tools.plan prod --json --config <prod grown to 1,000 DNS records, 20 hosts>
and prints the ratios plan/floor and large/prod against the targets, plus the number of
provider invokes (data-source calls) each plan makes, counted by the mocks.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from components.core.errors import PROJECT, REPO_ROOT
from tools.review import program

FLOOR = "import pulumi, pulumi_hcloud, pulumi_cloudflare, pulumi_digitalocean, pulumi_command"
TARGETS = {"prod/floor": 1.25, "large/prod": 2.0}


def large_stack(path: Path, records: int = 1000, hosts: int = 20) -> Path:
    """prod's stack file grown to `hosts` hosts and `records` DNS records in all."""
    doc = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())
    cfg = doc["config"]
    host_map = cfg[f"{PROJECT}:hosts"]
    template_vps = host_map["rhizome"]
    template_cloud = host_map["hypha"]
    for i in range(hosts - len(host_map)):
        name = f"node{i:02d}"
        if i % 2:
            host_map[name] = {**template_cloud, "hetzner_cloud": dict(template_cloud["hetzner_cloud"])}
            host_map[name]["hetzner_cloud"].pop("import", None)
        else:
            vps = dict(template_vps["vps"], ipv4=f"192.0.2.{10 + i}", ipv6=f"2001:db8:1::{i + 10:x}")
            host_map[name] = {**template_vps, "vps": vps}
    dns = cfg[f"{PROJECT}:dns"]
    dns["records"] = dict(dns["records"])
    names = list(host_map)
    existing = program.plan_stack("prod")
    have = sum(1 for r in existing.resources if r.type == "cloudflare:index/dnsRecord:DnsRecord")
    extra_hosts = len(host_map) - 3
    # each added host also gets a generated no-mail SPF record; leave room for it
    for i in range(records - have - extra_hosts):
        dns["records"][f"svc{i:04d}"] = [{"type": "CNAME", "host": names[i % len(names)]}]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def median_seconds(cmds: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median wall time per command. Rounds interleave the commands, so a machine that
    gets busier or quieter during the run shifts all of them alike, not one."""
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(runs):
        for name, cmd in cmds.items():
            start = time.perf_counter()
            subprocess.run(cmd, cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per measurement (median)")
    args = parser.parse_args(argv)
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        large = large_stack(Path(tmp) / "Pulumi.prod.yaml")
        plans = {
            "prod": program.plan_stack("prod"),
            "alpha": program.plan_stack("alpha"),
            "large": program.plan_stack("prod", str(large)),
        }
        cmds = {
            "floor": [py, "-c", FLOOR],
            "prod": [py, "-m", "tools.plan", "prod", "--json"],
            "alpha": [py, "-m", "tools.plan", "alpha", "--json"],
            "large": [py, "-m", "tools.plan", "prod", "--json", "--config", str(large)],
        }
        secs = median_seconds(cmds, args.runs)

    print(f"median of {args.runs} fresh processes each (one run; compare the ratios, not the seconds)")
    for name, s in secs.items():
        count = f"{len([r for r in plans[name].resources if r.custom]):5d} resources" if name in plans else ""
        invokes = f"{len(plans[name].invokes)} invokes" if name in plans else ""
        print(f"  {name:6s} {s:6.2f} s  {count}  {invokes}")
    ratios = {
        "prod/floor": secs["prod"] / secs["floor"],
        "alpha/floor": secs["alpha"] / secs["floor"],
        "large/prod": secs["large"] / secs["prod"],
    }
    ok = all(len(p.invokes) == 0 for p in plans.values())
    for name, value in ratios.items():
        target = TARGETS.get(name)
        verdict = (
            "" if target is None else ("  ok" if value <= target else "  MISSES target") + f" (<= {target})"
        )
        ok &= target is None or value <= target
        print(f"  {name:11s} {value:5.2f}x{verdict}")
    print("all targets met" if ok else "some targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
