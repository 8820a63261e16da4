"""Two DNS providers' authoritative servers, side by side: `python -m tools.check_dns --compare`.

    python -m tools.check_dns prod alpha --compare ada.ns.cloudflare.com hydrogen.ns.hetzner.com
    python -m tools.check_dns prod --compare 127.0.0.1:5301 127.0.0.1:5302 --nameserver 127.0.0.1 --port 5300

Before the name servers of a zone change (docs/dns-cutover.md), both providers must serve the
same zone. This asks each server directly, recursion off, for every name the stacks plan and
every type ``tools.check_dns`` knows (A, AAAA, CNAME, MX, TXT, CAA, SRV, NS; a delegation's NS
set too, which a server gives as a referral), and reports each difference in one line:

- ``only at A``: A serves a record B does not (at that name and type);
- ``TTL``: both serve the record, with different TTLs.

The zone's SOA and apex NS are left out: each provider has its own. It also asks for the
zone's DS record (through ``--nameserver``, or the machine's resolvers): a DS at the parent
means DNSSEC is on, and a provider that does not sign (Hetzner) must not serve the zone until
the DS is gone (docs/dns-cutover.md, step 1).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from components.core.stack import StackConfig
from components.dns.records import fqdn, resolve
from tools.check.dns import QUERY_TYPES, served_data, show
from tools.check.resolver import DnsError, Resolver


def parse_server(spec: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT`` or ``[IPv6]:PORT`` -> (host, port)."""
    host, port = spec, 53
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else 53
        if rest and not rest.startswith(":"):
            raise ValueError(spec)
    elif spec.count(":") == 1:
        host, _, text = spec.partition(":")
        if not text.isdigit():
            raise ValueError(spec)
        port = int(text)
    if not host or not 0 < port < 65536:
        raise ValueError(spec)
    return host, port


def server(spec: str, via: Callable[[], Resolver]) -> Resolver:
    """A resolver asking only this name server, recursion off (its name looked up through ``via``)."""
    host, port = parse_server(spec)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        found = via()
        addresses = [rd.address for t in ("A", "AAAA") for _, rd in found.query(host, t).of(t)]
        if not addresses:
            raise DnsError(f"{host}: no address found for this name server") from None
    return Resolver(addresses, port=port, recursion=False)


def planned_names(cfgs: list[StackConfig]) -> list[str]:
    """Every full name the stacks plan records at, each once, in their order."""
    names: dict[str, None] = {}
    for cfg in cfgs:
        for r in resolve(cfg):
            names.setdefault(fqdn(r.name, cfg.domain), None)
    return list(names)


def _answers(zone: Resolver, name: str, rtype: str) -> dict[object, int]:
    """The records of one name and type; a delegation's NS set too (given as a referral)."""
    answer = zone.query(name, rtype, referral=rtype == "NS")
    return {served_data(rtype, rd): ttl for ttl, rd in answer.of(rtype)}


def differences(
    names: list[str], domain: str, a: Resolver, b: Resolver, label_a: str, label_b: str
) -> list[str]:
    """One line per record one server serves and the other does not, or serves with another TTL."""
    out = []
    for name in names:
        for rtype in QUERY_TYPES:
            if rtype == "NS" and name == domain:
                continue  # each provider's own name servers
            got_a, got_b = _answers(a, name, rtype), _answers(b, name, rtype)
            for data, ttl in got_a.items():
                if data not in got_b:
                    out.append(f"only at {label_a}: {name} {rtype} {show(data)} (ttl {ttl})")
                elif got_b[data] != ttl:
                    out.append(f"TTL: {name} {rtype} {show(data)}: {label_a} {ttl}, {label_b} {got_b[data]}")
            out += [
                f"only at {label_b}: {name} {rtype} {show(data)} (ttl {ttl})"
                for data, ttl in got_b.items()
                if data not in got_a
            ]
    return out


def dnssec(domain: str, via: Resolver) -> tuple[str, list[str]]:
    """(line, problems): whether the parent publishes a DS record for the zone."""
    found = [rd.to_text() for _, rd in via.query(domain, "DS").of("DS")]
    if not found:
        return f"DNSSEC: no DS record for {domain} at its parent: no signing to turn off first", []
    return f"DNSSEC: {domain} has {len(found)} DS record(s) at its parent", [
        f"DNSSEC: a DS record for {domain} is published ({found[0]}): a provider that does not sign the "
        "zone (Hetzner) would make it fail validation; remove the DS at the registrar first and wait its "
        "TTL (docs/dns-cutover.md, step 1)"
    ]


def compare(
    cfgs: list[StackConfig], spec_a: str, spec_b: str, ds_via: Callable[[], Resolver]
) -> tuple[list[str], list[str]]:
    """(report lines, differences) of ``--compare``; ``ds_via`` gives the resolver that asks for
    the DS record and looks up name servers given by name."""
    a, b = server(spec_a, ds_via), server(spec_b, ds_via)
    domain = cfgs[0].domain
    names = planned_names(cfgs)
    stacks = " and ".join(c.environment for c in cfgs)
    count = sum(len(resolve(c)) for c in cfgs)
    line, problems = dnssec(domain, ds_via())
    lines = [f"{spec_a} and {spec_b}: {count} planned records at {len(names)} names ({stacks})", line]
    return lines, problems + differences(names, domain, a, b, spec_a, spec_b)
