"""What a stack file says about the zone (components/dns_records.py, zone.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from components import config, dns_records
from components.models.common import Bool, HostLabel, Model, Text, Ttl, whole

RecordName = Annotated[
    str,
    StringConstraints(
        pattern=r"^(@|(\*|_?[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.(\*|_?[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?))*)$"
    ),
]
ImportId = Annotated[str, StringConstraints(pattern=config.RECORD_IMPORT.pattern)]


class Record(Model):
    type: Literal[config.RECORD_TYPES]
    value: str | None = Field(None, description="The content; give exactly one of value and host.")
    host: HostLabel | None = Field(None, description="A/AAAA/CNAME: take the content from this host.")
    ttl: Ttl | None = Field(None, description="1 (automatic) or 60 to 86400; default dns.default_ttl.")
    proxied: Bool = False
    priority: whole(0, 65535) | None = None
    weight: whole(0, 65535) | None = None
    port: whole(0, 65535) | None = None
    id: str | None = Field(None, pattern=r"^[a-z0-9-]{1,40}$", description="Tells apart records of one type.")
    comment: Text | None = Field(None, max_length=dns_records.MAX_COMMENT)
    import_id: ImportId | None = Field(None, description="<zone_id>/<record_id>: adopt an existing record.")


class SelfHosting(Model):
    # the loader's FQDN rule without its look-ahead (pydantic's regex engine has none): a length
    nameservers: list[
        Annotated[
            str, StringConstraints(pattern=config.FQDN.pattern.replace("(?=.{1,253}$)", ""), max_length=254)
        ]
    ] = Field(
        min_length=1, description="The zone's name servers' full names; the first is the SOA's primary."
    )
    hostmaster: str = Field(pattern=config.EMAIL.pattern, description="The SOA's contact, an email address.")


class Dns(Model):
    zone_id: str = Field(pattern=config.ZONE_ID.pattern, description="The zone's 32-character hex ID.")
    default_ttl: Ttl = 3600
    records: dict[RecordName, Record | list[Record]] = {}
    owned_subdomain: HostLabel | None = Field(None, description="alpha only: alpha.")
    reserved_subdomains: list[HostLabel] | None = Field(None, description="prod only: must include alpha.")
    imports: dict[str, ImportId] = Field({}, description="Logical key -> <zone_id>/<record_id>.")
    self_hosting: SelfHosting | None = Field(
        None, description="prod only: SOA and apex NS for a complete zone file."
    )
