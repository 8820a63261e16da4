"""A real authoritative DNS server for the tests: Knot DNS from Debian (tools/system-packages.sh).

``Knot(workdir, zones)`` writes one zone file per domain and a config that listens on
127.0.0.1 at a free port, starts ``knotd`` in the foreground and waits until every zone
answers; ``load()`` replaces a zone and reloads it (``knotc -b zone-reload``), raising
``ZoneRefused`` with Knot's own log lines when the server will not load it; ``stop()``
ends the process by its PID. Semantic checks are on, as a self-hosting setup should have
them (docs/dns.md).
"""

from __future__ import annotations

import functools
import shutil
import socket
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
KNOTC = shutil.which("knotc") or "/usr/sbin/knotc"

CONFIG = """\
server:
    rundir: "{dir}"
    listen: 127.0.0.1@{port}
log:
  - target: {dir}/knot.log
    any: info
database:
    storage: "{dir}"
control:
    listen: {dir}/knot.sock
template:
  - id: default
    storage: "{dir}/zones"
    semantic-checks: on
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
{zones}
"""


class ZoneRefused(Exception):
    """Knot would not load a zone; the message is Knot's own."""


def free_port() -> int:
    """A port free on 127.0.0.1 for both UDP and TCP (DNS answers on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port on 127.0.0.1")


class Knot:
    def __init__(self, workdir: Path, zones: dict[str, str]) -> None:
        self.dir = workdir
        self.port = free_port()
        self.zones = dict(zones)
        (self.dir / "zones").mkdir(parents=True, exist_ok=True)
        for domain, text in zones.items():
            self._zone_file(domain).write_text(text)
        entries = "\n".join(f"  - domain: {d}\n    file: {d}.zone" for d in zones)
        self.conf = self.dir / "knot.conf"
        self.conf.write_text(CONFIG.format(dir=self.dir, port=self.port, zones=entries))
        self.log = self.dir / "knot.log"
        self.process: subprocess.Popen | None = None

    def _zone_file(self, domain: str) -> Path:
        return self.dir / "zones" / f"{domain}.zone"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [KNOTD, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 10
        waiting = set(self.zones)
        while waiting and time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"knotd exited ({self.process.returncode}):\n{self.log_text()}")
            waiting = {d for d in waiting if not self._serves(d)}
            if waiting:
                time.sleep(0.02)
        if waiting:
            refused = self.refusal(sorted(waiting)[0])
            self.stop()
            raise ZoneRefused(refused or f"knotd does not serve {sorted(waiting)} after 10 s")

    def _serves(self, domain: str) -> bool:
        try:
            r = dns.query.udp(dns.message.make_query(domain, "SOA"), "127.0.0.1", timeout=0.2, port=self.port)
        except (dns.exception.Timeout, OSError):
            return False
        return bool(r.answer)

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def refusal(self, domain: str, since: int = 0) -> str:
        """Knot's error lines about ``domain`` written after byte ``since`` of its log."""
        lines = self.log_text()[since:].splitlines()
        return "\n".join(line for line in lines if "error:" in line and f"[{domain}.]" in line)

    def load(self, domain: str, text: str) -> None:
        """Replace ``domain``'s zone and reload it; ZoneRefused with Knot's message if it fails."""
        since = len(self.log_text())
        self._zone_file(domain).write_text(text)
        run = subprocess.run(
            [KNOTC, "-c", str(self.conf), "-b", "-t", "10", "zone-reload", domain],
            capture_output=True,
            text=True,
            timeout=20,
        )
        if run.returncode != 0:
            time.sleep(0.05)  # the log line may trail knotc's answer
            raise ZoneRefused(self.refusal(domain, since) or (run.stdout + run.stderr).strip())
        self.zones[domain] = text

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None


STUBS = Path(__file__).parent / "data" / "dns"
NAMESERVERS = ("ns1.example.net", "ns2.example.org")


def stub_zones() -> dict[str, str]:
    """The senders' and receivers' zones (tests/data/dns), by domain."""
    return {p.name.removesuffix(".zone"): p.read_text() for p in sorted(STUBS.glob("*.zone"))}


def zone_text(*argv: str) -> str:
    """What ``python -m tools.zonefile ARGV`` prints (it must succeed)."""
    import contextlib
    import io

    from tools.review import zonefile

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert zonefile.main(list(argv)) == 0
    return out.getvalue()


@functools.cache
def planned_address(host: str) -> str:
    """``HOST=IPV4,IPV6`` as the offline plan numbers a Hetzner Cloud host (Hetzner assigns
    the real ones), so the served zone and the plan agree."""
    from tools.review import program

    records = {
        r.inputs["type"]: r.inputs["content"]
        for r in program.plan_stack("prod").resources
        if r.type == "cloudflare:index/dnsRecord:DnsRecord" and r.inputs["name"] == f"{host}.social.coop"
    }
    return f"{host}={records['A']},{records['AAAA']}"


def social_coop_zone(*extra: str, serial: int = 1, address: str | None = None) -> str:
    """The complete zone both stacks share, as `python -m tools.zonefile` writes it for self-hosting."""
    address = address or planned_address("hypha")
    ns = [a for n in NAMESERVERS for a in ("--ns", n)]
    return zone_text("prod", "alpha", *ns, "--serial", str(serial), "--address", address, *extra)
