"""The social.coop zone at Hetzner DNS: the zone (prod only) and one ZoneRrset per name and type.

Declared when ``hetzner`` is in ``dns.providers`` (docs/dns.md, docs/dns-cutover.md). The
records are the same resolved records the Cloudflare zone gets (components/dns/records.py);
how Hetzner holds them is components/dns/providers/hetzner.py. Children:

- ``<name>-provider``: the hcloud provider for DNS, with the token of the Hetzner project that
  holds the zone (``HCLOUD_DNS_TOKEN``). The zone lives in a project of its own, not in the
  servers' project: a Hetzner token reaches a whole project, and alpha, which writes its
  records into prod's zone, must get no token that reaches prod's servers.
- ``<name>-zone`` (prod only: the zone is prod's, components/core/boundary.py): primary,
  named ``social.coop``; in prod Pulumi ``protect`` and Hetzner delete protection.
- ``<name>-<name>-<type>`` per record set (``hetzner-dns-apex-mx``): the logical name comes from
  the name and type only, so editing values or the TTL is an update in place. ``zone`` is
  the zone's *name* in both stacks (alpha can't read prod's zone ID, and switching between name
  and ID later would replace every record set). A replacement of a record set (a change of
  ``zone``) deletes before it creates (``delete_before_replace``): the API answers 409 to a
  second record set with the same name and type.

Protection: in prod the zone and every record set are Pulumi-``protect``ed, imported ones
retained on delete, the zone has Hetzner's delete protection. Hetzner's *change* protection of
record sets is sent ``false``: while it is on, the API refuses every change to the set, and the
provider lifts it only when the plan itself turns it off, so keeping it on would make every
record edit fail at apply (docs/dns.md, "Hetzner DNS").
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_hcloud as hcloud

from components.core import boundary
from components.core.protection import Protection, child_opts
from components.core.stack import StackConfig
from components.dns.providers import hetzner
from components.dns.records import ResolvedRecord, resolve
from components.dns.zone import host_content
from components.hosts.addresses import HostAddresses

TOKEN_ENV = "HCLOUD_DNS_TOKEN"  # pass show social.coop/hetzner/dns-token-<stack> (docs/dns-cutover.md)
NOT_ASSIGNED = (
    "(assigned by Hetzner when the zone is created: pulumi stack output hetzner_nameservers -s prod)"
)
# While adopting (components/core/protection.py): what an imported zone or record set keeps as it
# is; Hetzner changes all of them in place. Never the zone's name or mode, nor a record set's
# zone, name or type: those identify it.
ZONE_CONVERGE = ("ttl", "labels", "deleteProtection")
RRSET_CONVERGE = ("records", "ttl", "labels", "changeProtection")


def dns_token() -> str:
    """The DNS project's token, from the environment (never from a stack file)."""
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise pulumi.RunError(
            f"{TOKEN_ENV} is not set: hetzner is in dns.providers, and the zone is in a Hetzner project "
            f"of its own; export {TOKEN_ENV}=$(pass show social.coop/hetzner/dns-token-<stack>) "
            "(docs/dns-cutover.md)"
        )
    return token


@dataclass
class HetznerZoneArgs:
    config: StackConfig
    addresses: dict[str, HostAddresses]  # by host name: what A/AAAA/CNAME host references take
    token: pulumi.Input[str]  # the DNS project's token (dns_token())


def _distinct(entries: list[Any], where: str) -> list[hcloud.ZoneRrsetRecordArgsDict]:
    """Two host references that turn out to be one address (a Hetzner Cloud server's, known only
    once it exists; the loader catches the others): one line, no traceback."""
    try:
        checked = hetzner.distinct(entries, where)
    except ValueError as e:
        raise pulumi.RunError(str(e)) from None
    return [hcloud.ZoneRrsetRecordArgsDict(**entry) for entry in checked]  # type: ignore[typeddict-item]


def _entry(r: ResolvedRecord, addresses: dict[str, HostAddresses]) -> Any:
    if r.host is None:
        return hetzner.record(r, r.own_content)
    return pulumi.Output.from_input(host_content(r, addresses)).apply(lambda c: hetzner.record(r, c))


class HetznerZone(pulumi.ComponentResource):
    """The stack's record sets at Hetzner DNS, and in prod the zone itself."""

    nameservers: pulumi.Output[Any] | None  # prod: the zone's assigned name servers, for the registrar

    def __init__(self, name: str, args: HetznerZoneArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("socialcoop:dns:HetznerZone", name, None, opts)
        cfg = args.config
        policy = Protection.of(cfg)
        retiring = "hetzner" in cfg.dns.retiring  # docs/dns-cutover.md, step 7
        adopt = cfg.dns.hetzner is not None and cfg.dns.hetzner.adopt  # prod only (the loader)
        labels = {"stack": cfg.environment}
        provider = hcloud.Provider(
            f"{name}-provider",
            token=pulumi.Output.secret(args.token),
            opts=pulumi.ResourceOptions(parent=self),
        )
        zone = None
        self.nameservers = None
        if cfg.environment == boundary.ZONE_OWNER:
            zone = hcloud.Zone(
                f"{name}-zone",
                name=cfg.domain,
                mode="primary",
                ttl=cfg.dns.default_ttl,
                delete_protection=policy.protect,
                labels=labels,
                opts=child_opts(
                    policy,
                    self,
                    stateful=True,
                    import_id=cfg.domain if adopt else None,
                    adopt_ignore=ZONE_CONVERGE,
                    retiring=retiring,
                    provider=provider,
                ),
            )
            self.nameservers = zone.authoritative_nameservers.apply(
                lambda ns: [n.rstrip(".") for n in ns.assigneds] if ns and ns.assigneds else NOT_ASSIGNED
            )
        self.rrsets: dict[str, hcloud.ZoneRrset] = {}
        for rrset in hetzner.rrsets(resolve(cfg)):
            where = f"{rrset.name} {rrset.type}"
            entries = pulumi.Output.all(*[_entry(r, args.addresses) for r in rrset.records])
            self.rrsets[rrset.key] = hcloud.ZoneRrset(
                f"{name}-{rrset.key}",
                zone=cfg.domain,
                name=rrset.name,
                type=rrset.type,
                ttl=rrset.ttl,
                records=entries.apply(functools.partial(_distinct, where=where)),
                change_protection=False,
                labels=labels,
                opts=child_opts(
                    policy,
                    self,
                    stateful=True,
                    import_id=hetzner.import_id(cfg.domain, rrset) if adopt else None,
                    adopt_ignore=RRSET_CONVERGE,
                    retiring=retiring,
                    provider=provider,
                    depends_on=[zone] if zone is not None else None,
                    delete_before_replace=True,
                ),
            )
        self.register_outputs({"nameservers": self.nameservers})
