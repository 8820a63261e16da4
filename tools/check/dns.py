"""Compare what DNS serves with what a stack plans: records, TTLs, SPF lookups, DMARC, CAA.

    python -m tools.check_dns prod --live                     # after `pulumi up`, on a machine with internet
    python -m tools.check_dns prod --live --address hypha=203.0.113.30,2001:db8:30::2
    python -m tools.check_dns prod --live --gone rhizome      # after retiring a host: the name is gone
    python -m tools.check_dns prod --nameserver 127.0.0.1 --port 5300   # one server (the tests' Knot DNS)
    python -m tools.check_dns prod alpha --compare NS_A NS_B  # two providers' servers (tools/check/compare.py)

``--live`` asks the zone's own name servers (found through the machine's resolvers), with
recursion off, so every TTL is the one the zone holds, not a cache's countdown; the SPF
includes of other domains are followed through the machine's resolvers. Every name the
stack declares is asked for A, AAAA, CNAME, MX, TXT, CAA, SRV and NS, and each answer is
compared with the stack's records (``components.dns.records.resolve``):

- ``missing``: a planned record is not served;
- ``other content``: the name serves that type with other data;
- ``stale TTL``: the data is right, the TTL is not the planned one;
- ``undeclared``: a record the stack does not declare, at one of its names;
- ``still there``: a ``--gone`` name still answers.

Then the measured SPF lookups (components/dns/spf_lookups.py), the DMARC policies and the CAA
set that applies to each name. The exit status is 1 on any difference, so the drift job and
the migration runbook (docs/migration.md) can use it; 2 on a config or DNS error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from components.core.stack import StackConfig
from components.dns import spf_lookups
from components.dns.records import ResolvedRecord, fqdn, resolve, txt_strings
from tools.check import resolver as dns_resolver
from tools.check.resolver import Rdata
from tools.review.zonefile import add_stack_options, host_content, known_addresses, load_stacks

QUERY_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "CAA", "SRV", "NS")
UNKNOWN = "(address not known: give --address)"


def planned_data(r: ResolvedRecord, cfg: StackConfig, addresses: dict) -> object:
    """A record's data in the form served_data() gives an answer's; UNKNOWN if a host's
    address is not known here."""
    content = host_content(r, cfg, addresses)
    if content is None:
        return UNKNOWN
    if r.type == "TXT":
        return tuple(txt_strings(content))
    if r.type == "MX":
        return (r.priority, content.lower())
    if r.type == "SRV":
        return (r.priority, r.weight, r.port, content.lower())
    if r.type == "CAA":
        return planned_caa(content)
    if r.type in ("CNAME", "NS"):
        return content.lower()
    return content


def planned_caa(content: str) -> tuple[int, str, str]:
    flags, tag, value = content.split(" ", 2)
    return (int(flags), tag, value.strip('"'))


def served_caa(rd: Rdata) -> tuple[int, str, str]:
    return (rd.flags, rd.tag.decode(), rd.value.decode())


def served_data(rtype: str, rd: Rdata) -> object:
    if rtype == "TXT":
        return tuple(s.decode("utf-8", "replace") for s in rd.strings)
    if rtype == "MX":
        return (rd.preference, rd.exchange.to_text().rstrip(".").lower())
    if rtype == "SRV":
        return (rd.priority, rd.weight, rd.port, rd.target.to_text().rstrip(".").lower())
    if rtype == "CAA":
        return served_caa(rd)
    if rtype in ("CNAME", "NS"):
        return rd.target.to_text().rstrip(".").lower()
    return rd.address


def show(data: object) -> str:
    if isinstance(data, tuple) and data and all(isinstance(x, str) for x in data):
        return " ".join(f'"{s}"' for s in data)  # TXT strings
    if isinstance(data, tuple):
        return " ".join(str(x) for x in data)
    return str(data)


@dataclass
class Planned:
    ttl: int
    data: object
    proxied: bool


def plan_by_name(cfg: StackConfig, addresses: dict) -> dict[str, dict[str, list[Planned]]]:
    """full name -> type -> the planned records (apex NS too when the stack self-hosts the zone)."""
    out: dict[str, dict[str, list[Planned]]] = {}
    for r in resolve(cfg):
        p = Planned(r.ttl, planned_data(r, cfg, addresses), r.proxied)
        out.setdefault(fqdn(r.name, cfg.domain), {}).setdefault(r.type, []).append(p)
    if cfg.dns.self_hosting is not None:
        ns = [Planned(cfg.dns.default_ttl, n, False) for n in cfg.dns.self_hosting.nameservers]
        out.setdefault(cfg.domain, {})["NS"] = ns
    return out


def compare_records(cfg: StackConfig, addresses: dict, zone) -> tuple[list[str], int]:
    """(differences, number of planned records) between the plan and what ``zone`` serves."""
    differences, count = [], 0
    for name, types in plan_by_name(cfg, addresses).items():
        for rtype in QUERY_TYPES:
            if rtype == "NS" and name == cfg.domain and cfg.dns.self_hosting is None:
                continue  # the apex NS are the DNS host's (Cloudflare's)
            planned = types.get(rtype, [])
            count += len(planned)
            got = {served_data(rtype, rd): ttl for ttl, rd in zone.query(name, rtype).of(rtype)}
            differences += _differences(name, rtype, planned, got)
    return differences, count


def _differences(name: str, rtype: str, planned: list[Planned], got: dict[object, int]) -> list[str]:
    if any(p.proxied for p in planned):
        # Cloudflare answers with its own addresses and an automatic TTL
        return [] if got else [f"missing: {name} {rtype} (proxied)"]
    if any(p.data == UNKNOWN for p in planned):  # a Hetzner Cloud host's address: any, at the planned TTL
        if not got:
            return [f"missing: {name} {rtype} {UNKNOWN}"]
        return [
            f"stale TTL: {name} {rtype} {show(d)}: served {t}, planned {planned[0].ttl}"
            for d, t in got.items()
            if t != planned[0].ttl
        ]
    want = {p.data: p.ttl for p in planned}
    extra = {d: t for d, t in got.items() if d not in want}
    lacking = {d: t for d, t in want.items() if d not in got}
    out = [
        f"stale TTL: {name} {rtype} {show(d)}: served {got[d]}, planned {t}"
        for d, t in want.items()
        if d in got and got[d] != t
    ]
    if lacking and extra:
        served = ", ".join(show(d) for d in extra)
        out.append(
            f"other content: {name} {rtype}: served {served}, planned {', '.join(show(d) for d in lacking)}"
        )
        return out
    out += [f"missing: {name} {rtype} {show(d)} (ttl {t})" for d, t in lacking.items()]
    out += [f"undeclared: {name} {rtype} {show(d)} (ttl {t})" for d, t in extra.items()]
    return out


def gone(names: list[str], cfg: StackConfig, zone) -> list[str]:
    out = []
    for given in names:
        name = given.rstrip(".").lower()
        name = name if name == cfg.domain or name.endswith(f".{cfg.domain}") else fqdn(name, cfg.domain)
        for rtype in QUERY_TYPES:
            for ttl, rd in zone.query(name, rtype).of(rtype):
                out.append(f"still there: {name} {rtype} {show(served_data(rtype, rd))} (ttl {ttl})")
    return out


def _tags(text: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, _, v in (t.partition("=") for t in text.split(";") if t.strip())}


def dmarc_verdicts(cfg: StackConfig, zone) -> tuple[list[str], list[str]]:
    """(lines, problems): the DMARC record at each planned _dmarc name, and its policy."""
    lines, problems = [], []
    for r in resolve(cfg):
        if r.type != "TXT" or not r.own_content.startswith("v=DMARC1"):
            continue
        name = fqdn(r.name, cfg.domain)
        found = [t for t in zone.txt(name) if t.startswith("v=DMARC1")]
        if len(found) != 1:
            problems.append(
                f"DMARC: {name}: {len(found)} DMARC records served; RFC 7489 §6.6.3 needs exactly one"
            )
            continue
        tags = _tags(found[0])
        policy = f"p={tags.get('p')}" + (f", sp={tags['sp']}" if "sp" in tags else "")
        if found[0] != r.content:
            problems.append(f"DMARC: {name}: served {found[0]!r}, planned {r.content!r}")
        lines.append(f"DMARC: {name}: {policy}, reports to {tags.get('rua', 'nobody')}")
    return lines, problems


def relevant_caa(name: str, domain: str, zone) -> tuple[str, list[tuple[int, str, str]]]:
    """The CAA set that applies to ``name`` (RFC 8659 §3: the closest one up the tree)."""
    while True:
        found = [served_caa(rd) for _, rd in zone.query(name, "CAA").of("CAA")]
        if found or name == domain or "." not in name:
            return name, found
        name = name.split(".", 1)[1]


def caa_verdicts(cfg: StackConfig, zone, names: list[str]) -> tuple[list[str], list[str]]:
    """(lines, problems): which CAs may issue for the stack's names, as served."""
    planned = [planned_caa(r.own_content) for r in resolve(cfg) if r.type == "CAA"]
    sets: dict[str, list[str]] = {}
    problems = []
    for name in names:
        owner, found = relevant_caa(name, cfg.domain, zone)
        if planned and owner == cfg.domain and sorted(found) != sorted(planned):
            problems.append(
                f"CAA: {owner}: served {[show(x) for x in found]}, planned {[show(x) for x in planned]}"
            )
        elif planned and owner != cfg.domain:
            problems.append(
                f"CAA: {name} has its own CAA set at {owner}, not the planned one at {cfg.domain}"
            )
        sets.setdefault(owner, []).append(name)
    lines = []
    for owner, covered in sets.items():
        _, found = relevant_caa(owner, cfg.domain, zone)
        issuers = [v for _, tag, v in found if tag == "issue"] or ["any CA"]
        wild = [v for _, tag, v in found if tag == "issuewild"]
        wildcards = "none" if wild == [";"] else ", ".join(wild) if wild else "as issue"
        lines.append(
            f"CAA: {len(covered)} name(s) covered by {owner}'s set: issue {', '.join(issuers)}; wildcards {wildcards}"
        )
    return lines, problems


def check(
    cfg: StackConfig, addresses: dict, zone, other, gone_names: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """(report lines, differences) of the whole check; ``zone`` answers for the stack's
    zone, ``other`` for the senders' domains."""
    differences, count = compare_records(cfg, addresses, zone)
    differences += gone(list(gone_names), cfg, zone)
    names = list(plan_by_name(cfg, addresses))
    lines = [f"{cfg.environment}: {count} planned records at {len(names)} names"]
    for r in spf_lookups.check_stack(cfg, other):
        lines.append(f"SPF: {r.line()}")
        differences += [f"SPF: {p}" for p in r.problems]
    for verdict in (dmarc_verdicts(cfg, zone), caa_verdicts(cfg, zone, names)):
        lines += verdict[0]
        differences += verdict[1]
    return lines, differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.check_dns", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "stacks", nargs="+", metavar="STACK", help="stack name: prod or alpha (several with --compare)"
    )
    add_stack_options(parser)
    dns_resolver.add_options(parser, "ask the zone's own name servers and the public DNS (needs internet)")
    parser.add_argument(
        "--gone",
        metavar="NAME",
        action="append",
        default=[],
        help="a name that must no longer answer (repeatable)",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("NS_A", "NS_B"),
        help="ask these two name servers (HOST or HOST:PORT) directly for every planned name and type "
        "and report each difference between their answers (tools/check/compare.py)",
    )
    args = parser.parse_args(argv)
    if len(args.stacks) > 1 and not args.compare:
        parser.error("several stacks only with --compare")
    cfgs = load_stacks(args, parser)
    if cfgs is None:
        return 2
    if args.compare:
        return compare_main(cfgs, args, parser)
    cfg = cfgs[0]
    addresses = known_addresses(cfg, args.address, parser)
    try:
        resolvers = dns_resolver.from_options(args, cfg.domain)
        if resolvers is None:
            parser.error("say where to ask: --live (public DNS) or --nameserver IP [--port N]")
        lines, differences = check(cfg, addresses, *resolvers, args.gone)
    except dns_resolver.DnsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return report(lines, differences, "DNS serves the plan")


def report(lines: list[str], differences: list[str], same: str) -> int:
    """Print the report and each difference; exit status 1 when there is any."""
    print("\n".join(lines))
    for d in differences:
        print(f"difference: {d}")
    print(f"{len(differences)} difference(s)" if differences else f"no differences: {same}")
    return 1 if differences else 0


def compare_main(cfgs: list[StackConfig], args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``--compare NS_A NS_B``: the two servers' answers side by side (tools/check/compare.py)."""
    from tools.check import compare

    if args.gone or args.address:
        parser.error("--compare compares two servers with each other: no --gone or --address")
    via = dns_resolver.Resolver([args.nameserver], port=args.port) if args.nameserver else None

    def resolver() -> dns_resolver.Resolver:
        return via or dns_resolver.Resolver()  # the machine's resolvers, asked only when needed

    try:
        spec_a, spec_b = args.compare  # argparse: nargs=2
        lines, differences = compare.compare(cfgs, spec_a, spec_b, resolver)
    except ValueError as e:
        parser.error(f"--compare {e}: expected a name server as HOST, HOST:PORT or [IPv6]:PORT")
    except dns_resolver.DnsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return report(lines, differences, "both serve the same answers")


if __name__ == "__main__":
    sys.exit(main())
