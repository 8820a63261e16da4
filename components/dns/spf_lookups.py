"""Measured SPF lookups: follow an SPF record through DNS and count as receivers do.

RFC 7208 §4.6.4: ``include``, ``a``, ``mx``, ``ptr``, ``exists`` and ``redirect`` each cost
one DNS lookup, counted over the whole tree (nested includes too); more than 10 and the
receiver's check_host() returns *permerror*, so the mail fails SPF. More than 2 *void*
lookups (a name that does not exist or has no record of the type asked) is a permerror
as well, and so is an ``include`` whose target has no SPF record (§5.2).

The ``lookups:`` number of each sender in the stack file is a claim; ``check_stack()``
measures each sender's mechanism and says which claim is wrong and by how much. DNS is
asked through any object with ``query(name, rtype)`` and ``txt(name)`` (tools.check.resolver),
the same in the tests (a local Knot DNS) and in real use (public DNS).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from components.core.errors import PROJECT
from components.core.stack import StackConfig
from components.dns import mail_auth
from components.dns.mail_models import Sender
from components.dns.records import fqdn, mail_records

MAX_VOID = 2
MAX_DEPTH = 12  # deeper than 10 includes is over the limit anyway; stops loops early


@dataclass
class Node:
    """One SPF record and what its terms cost."""

    domain: str
    record: str | None
    terms: list[Term] = field(default_factory=list)
    error: str | None = None

    @property
    def lookups(self) -> int:
        return sum(t.lookups for t in self.terms)

    @property
    def void(self) -> int:
        return sum(t.void for t in self.terms)

    def errors(self) -> list[str]:
        own = [f"{self.domain}: {self.error}"] if self.error else []
        return own + [e for t in self.terms if t.child for e in t.child.errors()]


@dataclass
class Term:
    text: str  # e.g. include:mailgun.org
    own: int  # 1 if the term itself queries DNS
    child: Node | None = None  # include: and redirect=
    void_here: int = 0

    @property
    def lookups(self) -> int:
        return self.own + (self.child.lookups if self.child else 0)

    @property
    def void(self) -> int:
        return self.void_here + (self.child.void if self.child else 0)

    def chain(self) -> str:
        """The names this term leads through, e.g. mailgun.org > _spf.mailgun.org."""
        if self.child is None:
            return self.text
        names, stack = [], [self.child]
        while stack:
            n = stack.pop(0)
            names.append(n.domain)
            stack = [t.child for t in n.terms if t.child] + stack
        return " > ".join(names)


def _kind_target(term: str, domain: str) -> tuple[str, str]:
    """('include', 'mailgun.org'), ('a', domain), ('redirect', ...), ('ip4', ...)."""
    t = term.lstrip("+-~?")
    if t.startswith("redirect="):
        return "redirect", t.split("=", 1)[1]
    kind, _, rest = t.partition(":")
    kind = kind.split("/", 1)[0].lower()
    target = rest.split("/", 1)[0] if rest else domain
    return kind, target


def spf_records(resolver, domain: str) -> list[str]:
    return [t for t in resolver.txt(domain) if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]


def measure(domain: str, resolver, record: str | None = None, _seen: tuple[str, ...] = ()) -> Node:
    """The SPF tree at ``domain``: ``record`` if given (a record not yet published), else
    the one DNS holds."""
    if record is None:
        found = spf_records(resolver, domain)
        if len(found) != 1:
            problem = "no SPF record" if not found else f"{len(found)} SPF records (RFC 7208 §4.5 allows one)"
            return Node(domain, None, error=f"{problem}: permerror")
        record = found[0]
    node = Node(domain, record)
    if domain in _seen or len(_seen) >= MAX_DEPTH:
        node.error = "include loop" if domain in _seen else f"more than {MAX_DEPTH} includes deep"
        return node
    for text in record.split()[1:]:
        kind, target = _kind_target(text, domain)
        if kind not in mail_auth.DNS_QUERYING:
            node.terms.append(Term(text, 0))
            continue
        term = Term(text, 1)
        node.terms.append(term)
        if "%" in target:
            continue  # a macro (%{i}...): depends on the sender; costs one, cannot be followed here
        if kind in ("include", "redirect"):
            term.child = measure(target.lower(), resolver, None, (*_seen, domain))
        elif kind == "a":
            term.void_here = int(all(resolver.query(target, t).void for t in ("A", "AAAA")))
        elif kind == "mx":
            mx = resolver.query(target, "MX")
            term.void_here = int(mx.void)
            if len(mx.of("MX")) > 10:
                node.error = f"{text}: more than 10 MX names (RFC 7208 §4.6.4): permerror"
        elif kind == "exists":
            term.void_here = int(resolver.query(target, "A").void)
    return node


@dataclass
class SenderCost:
    sender: Sender
    declared: int
    measured: int
    chain: str


@dataclass
class Report:
    """The measured SPF record at one name of the stack."""

    name: str  # full name
    path: str  # where it comes from in the stack file
    tree: Node
    senders: list[SenderCost]
    source: str

    @property
    def problems(self) -> list[str]:
        out = []
        for s in self.senders:
            if s.declared != s.measured:
                diff = s.measured - s.declared
                how = f"{abs(diff)} {'more' if diff > 0 else 'fewer'} than declared"
                path = f"{PROJECT}:mail.senders.{s.sender.name}.lookups"
                out.append(f"{self.source}: {path} = {s.declared}: measured {s.measured} ({s.chain}), {how}")
        if self.tree.lookups > mail_auth.MAX_LOOKUPS:
            over = max(self.senders, key=lambda s: s.measured, default=None)
            worst = f"; the longest chain: {over.sender.name} {over.measured} ({over.chain})" if over else ""
            out.append(
                f"{self.name}: the SPF record ({self.path}) needs {self.tree.lookups} DNS lookups, measured "
                f"({self.costs()}); RFC 7208 section 4.6.4 allows at most {mail_auth.MAX_LOOKUPS}{worst}"
            )
        if self.tree.void > MAX_VOID:
            out.append(f"{self.name}: {self.tree.void} void DNS lookups, RFC 7208 §4.6.4 allows {MAX_VOID}")
        out += [f"{self.name}: {e}" for e in self.tree.errors()]
        return out

    def costs(self) -> str:
        return ", ".join(f"{s.sender.name} {s.measured}" for s in self.senders)

    def line(self) -> str:
        declared = ", ".join(f"{s.sender.name} {s.measured} (declared {s.declared})" for s in self.senders)
        return (
            f"{self.name}: {self.tree.lookups} of {mail_auth.MAX_LOOKUPS} DNS lookups: {declared or 'none'}"
        )


def check_stack(cfg: StackConfig, resolver) -> list[Report]:
    """Measure every SPF record the stack writes that names senders (``mail.spf``)."""
    if cfg.mail is None:
        return []
    texts = {r.path: r.content for r in mail_records(cfg) if r.path.startswith("mail.spf[")}
    reports = []
    for i, s in enumerate(cfg.mail.spf):
        path = f"mail.spf[{i}]"
        name = fqdn(s.name, cfg.domain)
        tree = measure(name, resolver, texts[path])
        by_text = {t.text: t for t in tree.terms}
        costs = []
        for sender in (cfg.mail.senders[n] for n in s.senders):
            term = by_text[sender.mechanism]
            costs.append(SenderCost(sender, mail_auth.lookups(sender), term.lookups, term.chain()))
        reports.append(Report(name, path, tree, costs, cfg.source))
    return reports
