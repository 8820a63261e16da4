"""Print a stack's DNS records as a standard BIND zone file (RFC 1035 §5).

    python -m tools.zonefile prod                        # the records prod declares
    python -m tools.zonefile alpha --config /tmp/Pulumi.alpha.yaml
    python -m tools.zonefile prod --address hypha=203.0.113.30,2001:db8:30::2

For reviewers (the whole zone on one page) and for moving to another DNS host (most import
a zone file). It holds every record the stack would create, generated mail records
included, with host references resolved. It is computed from the config alone (no
Pulumi, no network): a non-cloud host's addresses are in its config; a Hetzner Cloud
host's are assigned when the server is created, so its A/AAAA lines are printed as
comments unless you give them with ``--address`` (from ``pulumi stack output hosts``).
SOA and the apex NS records belong to the DNS host and are not included; the alpha
stack's file holds only alpha's names (a part of the same zone).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from components.config import StackConfig
from components.dns_records import ResolvedRecord, quoted, resolve
from tools.plan import cli_stack


def host_addresses(cfg: StackConfig) -> dict[str, tuple[str | None, str | None]]:
    """(ipv4, ipv6) per host as far as the config knows them."""
    return {
        name: (h.vps.ipv4, h.vps.ipv6) if h.vps is not None else (None, None) for name, h in cfg.hosts.items()
    }


def host_content(r: ResolvedRecord, cfg: StackConfig, addresses: dict) -> str | None:
    """The record's content, a ``host:`` reference resolved; None if that address is not known."""
    if r.host is None:
        return r.content
    ipv4, ipv6 = addresses[r.host]
    return {"A": ipv4, "AAAA": ipv6, "CNAME": cfg.hosts[r.host].fqdn}[r.type]


def rdata(r: ResolvedRecord, cfg: StackConfig, addresses: dict) -> str | None:
    """The record's data in presentation form; None if a host's address is not known."""
    content = host_content(r, cfg, addresses)
    if content is None:
        return None
    if r.type in ("CNAME", "NS"):
        return f"{content}."
    if r.type == "MX":
        return f"{r.priority} {content}."
    if r.type == "SRV":
        return f"{r.priority} {r.weight} {r.port} {content}."
    if r.type == "TXT":
        return quoted(content)
    return content  # A, AAAA, CAA


def render(cfg: StackConfig, addresses: dict) -> str:
    lines = [
        f"; {cfg.domain}: the records of the {cfg.environment} stack ({cfg.source}).",
        f"; Made by `python -m tools.zonefile {cfg.environment}`; SOA and apex NS are the DNS host's.",
        f"$ORIGIN {cfg.domain}.",
        f"$TTL {cfg.dns.default_ttl}",
    ]
    width = max((len(r.name) for r in resolve(cfg)), default=1)
    for r in sorted(resolve(cfg), key=lambda r: (r.name != "@", r.name)):
        data = rdata(r, cfg, addresses)
        line = f"{r.name:<{width}} {r.ttl:>5} IN {r.type:<5} {data}"
        if data is None:
            line = (
                f"; {r.name:<{width}} {r.ttl:>5} IN {r.type:<5} (Hetzner Cloud assigns {r.host}'s address "
                f"at creation: give it with --address {r.host}=IPV4,IPV6)"
            )
        elif r.comment:
            line += f"  ; {r.comment}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def add_address_option(parser: argparse.ArgumentParser) -> None:
    """``--address HOST=IPV4[,IPV6]``, for hosts whose addresses the config does not hold."""
    parser.add_argument(
        "--address",
        metavar="HOST=IPV4[,IPV6]",
        type=_address_arg,
        action="append",
        default=[],
        help="a Hetzner Cloud host's addresses (known after creation: `hcloud server list`); repeatable",
    )


def known_addresses(cfg: StackConfig, given: list, parser: argparse.ArgumentParser) -> dict:
    """host_addresses(cfg), completed by the --address options."""
    addresses = host_addresses(cfg)
    for name, ips in given:
        if name not in addresses:
            parser.error(f"--address {name}: not a host of this stack ({', '.join(addresses)})")
        addresses[name] = ips
    return addresses


def _address_arg(text: str) -> tuple[str, tuple[str, str | None]]:
    name, _, ips = text.partition("=")
    ipv4, _, ipv6 = ips.partition(",")
    try:
        ok = ipaddress.ip_address(ipv4).version == 4 and (not ipv6 or ipaddress.ip_address(ipv6).version == 6)
    except ValueError:
        ok = False
    if not name or not ok:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=IPV4 or NAME=IPV4,IPV6")
    return name, (ipv4, ipv6 or None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.zonefile", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: prod or alpha")
    parser.add_argument("--config", metavar="PATH", help="read this stack file instead of Pulumi.STACK.yaml")
    add_address_option(parser)
    args = parser.parse_args(argv)
    loaded = cli_stack(args.stack, args.config)
    if loaded is None:
        return 2
    cfg = loaded[1]
    addresses = known_addresses(cfg, args.address, parser)
    sys.stdout.write(render(cfg, addresses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
