"""Print a stack's DNS records as a standard BIND zone file (RFC 1035 §5).

    python -m tools.zonefile prod                        # the records prod declares
    python -m tools.zonefile alpha --config /tmp/Pulumi.alpha.yaml
    python -m tools.zonefile prod --address hypha=203.0.113.30,2001:db8:30::2
    python -m tools.zonefile prod alpha --ns ns1.example.net --ns ns2.example.org \
        --hostmaster hostmaster@social.coop --address hypha=203.0.113.30,2001:db8:30::2

For reviewers (the whole zone on one page) and for moving to another DNS host (most import
a zone file). It holds every record the stack would create, generated mail records
included, with host references resolved. It is computed from the config alone (no
Pulumi, no network): a non-cloud host's addresses are in its config; a Hetzner Cloud
host's are assigned when the server is created, so its A/AAAA lines are printed as
comments unless you give them with ``--address`` (from ``pulumi stack output hosts``).
SOA and the apex NS records belong to the DNS host and are not included; the alpha
stack's file holds only alpha's names (a part of the same zone).

A *complete* zone, one an authoritative server (Knot DNS, NSD, BIND) loads as it is, needs
an SOA and the apex NS: give the name servers with ``--ns`` (and ``--hostmaster``), or set
``dns.self_hosting`` in the prod stack file. Name several stacks (``prod alpha``) to write
the one zone both stacks share. The SOA serial is the current Unix time unless ``--serial``
gives one (it must grow with every change for secondaries to follow).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import time
from dataclasses import dataclass

from components.core.stack import StackConfig
from components.core.types import FQDN
from components.core.values import line_safe
from components.dns.checks import PROVIDER_NAMES
from components.dns.models import EMAIL
from components.dns.records import ResolvedRecord, quoted, resolve
from tools.review.stackfile import cli_stack


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


# refresh, retry, expire, negative-answer TTL (RFC 1912 §2.2, RFC 2308 §5): secondaries ask
# hourly; a name that does not exist yet is cached for 5 minutes only.
SOA_TIMERS = (3600, 900, 1209600, 300)


@dataclass(frozen=True)
class Apex:
    """The zone's own SOA and apex NS records, for a complete zone."""

    nameservers: tuple[str, ...]
    hostmaster: str  # an email address
    serial: int


def rname(email: str) -> str:
    """The SOA RNAME of an email address: tech.ops@social.coop -> tech\\.ops.social.coop."""
    local, _, domain = email.partition("@")
    return f"{local.replace('.', chr(92) + '.')}.{domain}."


def soa_rdata(apex: Apex) -> str:
    return f"{apex.nameservers[0]}. {rname(apex.hostmaster)} {apex.serial} " + " ".join(map(str, SOA_TIMERS))


def _hosts(cfg: StackConfig) -> str:
    """Whose the SOA and apex NS are: the DNS host's, or each listed provider's (dns.providers)."""
    if cfg.dns.providers == ("cloudflare",):
        return "the DNS host's"
    return "each DNS provider's own (" + ", ".join(PROVIDER_NAMES[p] for p in cfg.dns.providers) + ")"


def render(
    cfg: StackConfig,
    addresses: dict,
    apex: Apex | None = None,
    also: tuple[tuple[StackConfig, dict], ...] = (),
) -> str:
    """The zone file of ``cfg``'s records (and those of the ``also`` stacks, same zone);
    with ``apex``, a complete zone: SOA and apex NS first."""
    parts = [(cfg, addresses), *also]
    stacks = " and ".join(c.environment for c, _ in parts)
    sources = ", ".join(c.source for c, _ in parts)
    lines = [
        f"; {cfg.domain}: the records of the {stacks} stack{'s' if also else ''} ({sources}).",
        f"; Made by `python -m tools.zonefile {' '.join(c.environment for c, _ in parts)}`"
        + ("." if apex else f"; SOA and apex NS are {_hosts(cfg)}."),
        f"$ORIGIN {cfg.domain}.",
        f"$TTL {cfg.dns.default_ttl}",
    ]
    records = [(r, c, a) for c, a in parts for r in resolve(c)]
    width = max((len(r.name) for r, _, _ in records), default=1)
    if apex is not None:
        ttl = cfg.dns.default_ttl
        lines.append(f"{'@':<{width}} {ttl:>5} IN {'SOA':<5} {soa_rdata(apex)}")
        lines += [f"{'@':<{width}} {ttl:>5} IN {'NS':<5} {ns}." for ns in apex.nameservers]
    for r, c, a in sorted(records, key=lambda x: (x[0].name != "@", x[0].name)):
        data = rdata(r, c, a)
        line = f"{r.name:<{width}} {r.ttl:>5} IN {r.type:<5} {data}"
        if data is None:
            line = (
                f"; {r.name:<{width}} {r.ttl:>5} IN {r.type:<5} (Hetzner Cloud assigns {r.host}'s address "
                f"at creation: give it with --address {r.host}=IPV4,IPV6)"
            )
        elif r.comment:
            line += f"  ; {r.comment}"
        lines.append(line)
    # every field above comes from the loader, which refuses control characters; a zone file
    # is line-based, so refuse them here too rather than write a second record
    return "\n".join(line_safe(line, "zone file line") for line in lines) + "\n"


def apex_of(
    cfgs: list[StackConfig], args: argparse.Namespace, parser: argparse.ArgumentParser
) -> Apex | None:
    """SOA and NS from --ns/--hostmaster, else from a stack's dns.self_hosting; None: records only."""
    setting = next((c.dns.self_hosting for c in cfgs if c.dns.self_hosting is not None), None)
    nameservers = tuple(n.rstrip(".").lower() for n in args.ns) or (setting.nameservers if setting else ())
    if not nameservers:
        if args.hostmaster:
            parser.error("--hostmaster needs --ns (or dns.self_hosting in the stack file)")
        return None
    hostmaster = args.hostmaster or (setting.hostmaster if setting else f"hostmaster@{cfgs[0].domain}")
    for n in nameservers:
        if not FQDN.match(n):
            parser.error(f"--ns {n}: expected a name server's full name, e.g. ns1.example.net")
    if not EMAIL.match(hostmaster):
        parser.error(f"--hostmaster {hostmaster}: expected an email address, e.g. hostmaster@social.coop")
    return Apex(nameservers, hostmaster, args.serial if args.serial is not None else int(time.time()))


def add_stack_options(parser: argparse.ArgumentParser) -> None:
    """``--config PATH`` once per stack, and ``--address``: for tools that take several stacks."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        action="append",
        default=[],
        help="read this stack file instead of Pulumi.STACK.yaml; once per stack, in their order",
    )
    add_address_option(parser)


def load_stacks(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[StackConfig] | None:
    """The validated config of each stack named (with its --config file), or None when one
    failed (cli_stack has printed its error)."""
    if args.config and len(args.config) != len(args.stacks):
        parser.error(f"give --config once per stack ({len(args.stacks)}), or not at all")
    cfgs = []
    for i, stack in enumerate(args.stacks):
        loaded = cli_stack(stack, args.config[i] if args.config else None)
        if loaded is None:
            return None
        cfgs.append(loaded[1])
    return cfgs


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
    return stacks_addresses([cfg], given, parser)[0]


def stacks_addresses(cfgs: list[StackConfig], given: list, parser: argparse.ArgumentParser) -> list[dict]:
    """host_addresses() of each stack, completed by the --address options (a host of any of them)."""
    out = [host_addresses(c) for c in cfgs]
    for name, ips in given:
        owners = [a for a in out if name in a]
        if not owners:
            known = ", ".join(n for a in out for n in a)
            parser.error(f"--address {name}: not a host of this stack ({known})")
        for a in owners:
            a[name] = ips
    return out


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
    parser.add_argument("stacks", nargs="+", metavar="STACK", help="stack names: prod, alpha, or both")
    add_stack_options(parser)
    parser.add_argument(
        "--ns", metavar="NAME", action="append", default=[], help="a name server (repeatable)"
    )
    parser.add_argument("--hostmaster", metavar="EMAIL", help="the SOA's contact (default hostmaster@DOMAIN)")
    parser.add_argument("--serial", metavar="N", type=int, help="the SOA serial (default: the Unix time)")
    args = parser.parse_args(argv)
    cfgs = load_stacks(args, parser)
    if cfgs is None:
        return 2
    if len({c.domain for c in cfgs}) > 1:
        parser.error(f"the stacks are in different zones: {', '.join(sorted({c.domain for c in cfgs}))}")
    addresses = stacks_addresses(cfgs, args.address, parser)
    apex = apex_of(cfgs, args, parser)
    also = tuple(zip(cfgs[1:], addresses[1:], strict=True))
    sys.stdout.write(render(cfgs[0], addresses[0], apex, also))
    return 0


if __name__ == "__main__":
    sys.exit(main())
