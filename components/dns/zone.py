"""The social.coop zone on Cloudflare: one DnsRecord per resolved record.

What the records are is decided in components/dns/records.py (pure, tested without
Pulumi); this component only fills in host addresses and registers the resources.
Each child is named ``<zone>-<logical key>`` (``social-coop-apex-a``): the key comes from
the record's name, type and discriminator, never from its content, so pointing a name at
another host or editing a value is an in-place update, and adding or removing one record
leaves the others alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from components.core.protection import Protection, child_opts
from components.core.stack import StackConfig
from components.dns.providers.cloudflare import cloudflare_fields
from components.dns.records import ResolvedRecord, resolve
from components.hosts.addresses import HostAddresses

# While adopting (components/core/protection.py): an imported record keeps its TTL, proxy
# setting and comment. Never name, type or content (nor zoneId): those identify the record.
RECORD_CONVERGE = ("ttl", "proxied", "comment")
# TXT records made in Cloudflare's dashboard since late 2024 hold their text in quotes
# (cloudflare-docs#17552): an import compares `content` literally, so it would fail on the
# quotes alone. tools.adopt.import_ids has compared the text with ours, quotes stripped, when it
# wrote the import ID (and says which records are quoted); phase 2 shows any difference.
TXT_CONVERGE = RECORD_CONVERGE + ("content",)


@dataclass
class ZoneArgs:
    config: StackConfig
    addresses: dict[str, HostAddresses]  # by host name: what A/AAAA/CNAME host references take


def host_content(r: ResolvedRecord, addresses: dict[str, HostAddresses]) -> pulumi.Input[str]:
    """The address (A/AAAA) or name (CNAME) of the host a record points at."""
    host = addresses.get(r.host) if r.host is not None else None
    if host is None:
        raise pulumi.RunError(
            f"DNS record {r.key} ({r.path}) points at host {r.host}, which has no addresses"
        )
    if r.type == "CNAME":
        return host.fqdn
    if r.type == "AAAA":
        if host.ipv6 is None:
            raise pulumi.RunError(f"DNS record {r.key} ({r.path}): host {r.host} has no IPv6 address")
        return host.ipv6
    return host.ipv4


class Zone(pulumi.ComponentResource):
    """The stack's records in the Cloudflare zone (zone ID from config: no lookups)."""

    records: dict[str, cloudflare.DnsRecord]

    def __init__(self, name: str, args: ZoneArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("socialcoop:dns:Zone", name, None, opts)
        cfg = args.config
        policy = Protection.of(cfg)
        retiring = "cloudflare" in cfg.dns.retiring  # docs/dns-cutover.md, step 7
        self.records = {}
        names = set()
        for r in resolve(cfg):
            fields = cloudflare_fields(r, cfg.domain)
            names.add(fields["name"])
            if r.host is not None:
                fields["content"] = host_content(r, args.addresses)
            if "data" in fields:
                fields["data"] = cloudflare.DnsRecordDataArgs(**fields["data"])
            # Every record serves traffic or mail: in prod all are protected, and adopted
            # ones are kept in Cloudflare if they leave the program (retain_on_delete).
            self.records[r.key] = cloudflare.DnsRecord(
                f"{name}-{r.key}",
                zone_id=cfg.dns.zone_id,
                **fields,
                opts=child_opts(
                    policy,
                    self,
                    stateful=True,
                    import_id=r.import_id,
                    adopt_ignore=TXT_CONVERGE if r.type == "TXT" else RECORD_CONVERGE,
                    retiring=retiring,
                ),
            )
        self.names = sorted(names)  # the full names this stack writes, for review
        self.register_outputs({"names": self.names})
