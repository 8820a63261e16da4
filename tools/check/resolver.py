"""One way to ask DNS, used by the checks in real use and in the tests.

``Resolver(["127.0.0.1"], port=5300)`` asks the test's Knot DNS; ``Resolver()`` asks the
machine's resolvers (``/etc/resolv.conf``); ``authoritative(domain)`` asks the zone's own
name servers with recursion off, so TTLs come back exactly as the zone holds them (a
recursive resolver would count them down). Built on dnspython's message and query
functions rather than ``dns.resolver``, to see the answer as sent: the owner of each
record, CNAMEs, NXDOMAIN versus no data.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

# dnspython is imported where it is used: tools.review.plan offers these options on every run, and
# dns.query brings in an HTTP client (for DNS over HTTPS) that costs a plan ~0.2 s to import.


# A dnspython rdata: its fields are its type's (.address, .target, .strings, .exchange...).
Rdata = Any


class DnsError(Exception):
    """No server answered, or every one answered with an error (SERVFAIL, REFUSED)."""


@dataclass(frozen=True)
class Answer:
    """The records the server holds at exactly ``name`` (CNAMEs it follows are left out)."""

    name: str
    rtype: str
    rcode: str  # NOERROR or NXDOMAIN
    records: tuple[tuple[str, int, Rdata], ...] = ()  # (type, ttl, rdata) owned by name
    cname: str | None = None  # the name is an alias of this one

    def of(self, rtype: str) -> list[tuple[int, Rdata]]:
        return [(ttl, rd) for t, ttl, rd in self.records if t == rtype]

    @property
    def void(self) -> bool:
        """NXDOMAIN or no record of the type asked for (RFC 7208 §4.6.4's void lookup)."""
        return not self.of(self.rtype)


@dataclass
class Resolver:
    nameservers: list[str] = field(default_factory=list)  # empty: the system's resolvers
    port: int = 53
    recursion: bool = True
    timeout: float = 3.0
    queries: int = 0  # how many were sent, for tests and the report

    def __post_init__(self) -> None:
        if not self.nameservers:
            import dns.resolver

            try:
                system = dns.resolver.Resolver().nameservers  # from resolv.conf: addresses as text
                self.nameservers = [ns for ns in system if isinstance(ns, str)]
            except dns.resolver.NoResolverConfiguration:
                raise DnsError("this machine has no DNS resolvers configured (/etc/resolv.conf)") from None

    def query(self, name: str, rtype: str, referral: bool = False) -> Answer:
        """``referral``: also the records of the asked type at ``name`` in the authority section
        (a delegation's NS set, which an authoritative server gives as a referral)."""
        import dns.exception
        import dns.flags
        import dns.message
        import dns.name
        import dns.query
        import dns.rcode
        import dns.rdatatype

        qname = dns.name.from_text(name)
        request = dns.message.make_query(qname, rtype)
        if not self.recursion:
            request.flags &= ~dns.flags.RD
        problems = []
        for server in self.nameservers:
            self.queries += 1
            try:
                response, _ = dns.query.udp_with_fallback(
                    request, str(server), timeout=self.timeout, port=self.port
                )
            except (dns.exception.DNSException, OSError) as e:
                problems.append(f"{server}: {e.__class__.__name__} {e}")
                continue
            rcode = dns.rcode.to_text(response.rcode())
            if rcode not in ("NOERROR", "NXDOMAIN"):
                problems.append(f"{server}: {rcode}")
                continue
            records, cname = [], None
            extra = (
                [r for r in response.authority if r.rdtype == request.question[0].rdtype] if referral else []
            )
            for rrset in [*response.answer, *extra]:
                if rrset.name != qname:
                    continue
                t = dns.rdatatype.to_text(rrset.rdtype)
                records += [(t, rrset.ttl, rd) for rd in rrset]
                if t == "CNAME":
                    cname = rrset[0].target.to_text().rstrip(".")
            return Answer(name, rtype, rcode, tuple(records), cname)
        raise DnsError(f"{name} {rtype}: no answer ({'; '.join(problems)})")

    def txt(self, name: str) -> list[str]:
        """Each TXT record at name, its character-strings joined (RFC 7208 §3.3)."""
        return [
            b"".join(rd.strings).decode("utf-8", "replace") for _, rd in self.query(name, "TXT").of("TXT")
        ]


def authoritative(domain: str, via: Resolver | None = None, port: int = 53) -> Resolver:
    """A resolver that asks ``domain``'s own name servers (found through ``via``), recursion off."""
    via = via or Resolver()
    names = [rd.target.to_text() for _, rd in via.query(domain, "NS").of("NS")]
    if not names:
        raise DnsError(f"{domain} NS: no name servers found")
    addresses = [
        rd.address for ns in names for rtype in ("A", "AAAA") for _, rd in via.query(ns, rtype).of(rtype)
    ]
    return Resolver(addresses, port=port, recursion=False)


def add_options(parser: argparse.ArgumentParser, live_help: str) -> None:
    """``--live`` (public DNS) or ``--nameserver IP [--port N]`` (one server for everything)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--live", action="store_true", help=live_help)
    where.add_argument("--nameserver", metavar="IP", help="ask only this server (e.g. a test's Knot DNS)")
    parser.add_argument("--port", type=int, default=53, help="the --nameserver's port (default 53)")


def from_options(args: argparse.Namespace, domain: str) -> tuple[Resolver, Resolver] | None:
    """(zone resolver, resolver for other domains), or None if neither --live nor --nameserver."""
    if args.nameserver:
        one = Resolver([args.nameserver], port=args.port)
        return one, one
    if args.live:
        public = Resolver()
        return authoritative(domain, public), public
    return None
