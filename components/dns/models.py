"""What a stack file says about the zone (components/dns/records.py checks the records
against the hosts and the other stack; zone.py declares them)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PrivateAttr, model_validator

from components.core.errors import MISSING
from components.core.types import (
    FQDN,
    Bool,
    Model,
    Named,
    Refused,
    canonical_name,
    choice,
    label,
    pattern,
    relative_name,
    text,
    whole,
)

RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS")
# The DNS providers a stack can publish its records to: one adapter each in providers/
# (docs/dns.md, "More than one DNS provider"; moving between them: docs/dns-cutover.md).
DNS_PROVIDERS = ("cloudflare", "hetzner")
DnsProvider = Annotated[str, choice(DNS_PROVIDERS)]
ZONE_ID = re.compile(r"^[0-9a-f]{32}$")
RECORD_IMPORT = re.compile(r"^[0-9a-f]{32}/[0-9a-f]{32}$")
EMAIL = re.compile(r"^[a-z0-9._+-]+@([a-z0-9-]+\.)+[a-z]{2,63}$")
RECORD_ID = re.compile(r"^[a-z0-9-]{1,40}$")
MAX_COMMENT = 100  # Cloudflare's limit on record comments (Free plan)
TTL_ALLOWED = "1 (automatic) or 60 to 86400 seconds"
Ttl = Annotated[int, whole(1, 86400, TTL_ALLOWED, ok=lambda t: t == 1 or 60 <= t <= 86400)]
ImportId = Annotated[
    str, pattern(RECORD_IMPORT, "<zone_id>/<record_id>, both 32 hex characters", max_length=65)
]
Uint16 = Annotated[int, whole(0, 65535)]
MAX_CONTENT = 2048  # Cloudflare's longest record content (TXT)


class Record(Named):
    """`<name>` is relative to the zone: `@` for the apex, `www`, `_dmarc`, `email.mg`. Not the full
    name (`www.social.coop` is refused)."""

    type: Annotated[str, choice(RECORD_TYPES)] = Field(
        description="`A`, `AAAA`, `CNAME`, `MX`, `TXT`, `SRV`, `CAA`, `NS` (NS only to delegate a subdomain)"
    )
    value: Annotated[str, text(MAX_CONTENT)] | None = Field(
        None,
        description="the content: an address (A/AAAA), a full domain name (CNAME/MX/SRV/NS), the text itself "
        f'(TXT, no quotes), `0 issue "letsencrypt.org"` (CAA); one line of at most {MAX_CONTENT} characters '
        "(Cloudflare's limit for TXT, its longest content)",
        json_schema_extra={"x-default": "give exactly one of `value` and `host`"},
    )
    host: Annotated[str, label("the name of a host in hosts")] | None = Field(
        None,
        description="A/AAAA/CNAME only: take the content from this host in `hosts`",
        json_schema_extra={"x-default": "give exactly one of `value` and `host`"},
    )
    ttl: Ttl | None = Field(
        None, description="1 or 60 to 86400", json_schema_extra={"x-default": "`dns.default_ttl`"}
    )
    proxied: Bool = Field(
        False,
        description="Cloudflare's HTTP proxy; A/AAAA/CNAME only, never on SSH host names or mail names",
    )
    priority: Uint16 | None = Field(
        None,
        description="0 to 65535",
        json_schema_extra={"x-default": "required for MX and SRV, refused elsewhere"},
    )
    weight: Uint16 | None = Field(
        None, description="0 to 65535", json_schema_extra={"x-default": "required for SRV, refused elsewhere"}
    )
    port: Uint16 | None = Field(
        None, description="0 to 65535", json_schema_extra={"x-default": "required for SRV, refused elsewhere"}
    )
    id: Annotated[str, pattern(RECORD_ID, "a short id: a-z, 0-9, -", max_length=40)] | None = Field(
        None,
        description="a short id (a-z, 0-9, `-`, up to 40) telling apart several records of one type at one "
        "name, e.g. `mx1`, `mx2`",
    )
    comment: Annotated[str, text(MAX_COMMENT)] | None = Field(
        None,
        description=f"shown in Cloudflare's dashboard; one printable line of at most {MAX_COMMENT} characters "
        "(Cloudflare's limit on Free zones)",
    )
    import_id: ImportId | None = Field(
        None, description="`<zone_id>/<record_id>` (32 hex characters each): adopt an existing record"
    )
    _path: str = PrivateAttr("")

    @model_validator(mode="after")
    def _one_source(self) -> Record:
        if (self.value is None) == (self.host is None):
            raise Refused("give exactly one of value or host", "value", self.value)
        if self.host is not None and self.type not in ("A", "AAAA", "CNAME"):
            raise Refused("host is only for A, AAAA and CNAME records", "host", self.host)
        return self

    @property
    def path(self) -> str:
        """Where it is in the stack file, for error messages: dns.records.<name>[<i>]."""
        return self._private("_path")

    def at(self, name: str, path: str) -> Record:
        self._path = path
        return self.named(name)  # relative to the zone; "@" is the apex


NameServer = Annotated[
    str, pattern(FQDN, "a name server's full name, e.g. ns1.example.net", then=canonical_name, max_length=254)
]


class SelfHosting(Model):
    nameservers: tuple[NameServer, ...] = Field(
        description="the zone's name servers' full names, the first one the SOA's primary, e.g. "
        "`[ns1.example.net, ns2.example.org]`",
        json_schema_extra={"x-default": "required in `self_hosting`"},
    )
    hostmaster: Annotated[
        str, pattern(EMAIL, "an email address, e.g. hostmaster@social.coop", max_length=254)
    ] = Field(
        description="the SOA's contact, an email address, e.g. `hostmaster@social.coop`",
        json_schema_extra={"x-default": "required in `self_hosting`"},
    )

    @model_validator(mode="after")
    def _some(self) -> SelfHosting:
        if not self.nameservers:
            raise Refused(
                "at least one name server, e.g. [ns1.example.net, ns2.example.org]", "nameservers", []
            )
        return self


def _one_or_list(v: Any) -> Any:
    return [v] if isinstance(v, dict) else v  # one record may be written without the list


RecordKey = Annotated[
    str, relative_name("a name relative to the zone ('@' for the apex, e.g. www or _dmarc)")
]
# A record's logical key: its name (or apex), type and discriminator, e.g. www-cname, apex-mx-mx1.
LogicalKey = Annotated[
    str,
    pattern(
        re.compile(r"^[a-z0-9_.*-]+$"),
        "a record's logical key, e.g. www-cname or apex-mx-mx1",
        max_length=320,
    ),
]
Records = Annotated[
    tuple[Record, ...], BeforeValidator(_one_or_list, json_schema_input_type=Record | list[Record])
]


class HetznerDns(Model):
    """Hetzner DNS (the `social.coop` zone in the Hetzner Console, Cloud API), read while
    `hetzner` is in `dns.providers`."""

    adopt: Bool = Field(
        False,
        description="prod only: the zone already exists at Hetzner (made in the Console): import it "
        "(by its name) and prod's record sets (`social.coop/<name>/<TYPE>`) instead of creating them; "
        "alpha adopts nothing ([dns-cutover.md](dns-cutover.md))",
    )


class Dns(Model):
    zone_id: (
        Annotated[
            str,
            pattern(ZONE_ID, "the zone's 32-character hex ID from the Cloudflare dashboard", max_length=32),
        ]
        | None
    ) = Field(
        None,
        description="the zone's 32-character hex ID (Cloudflare dashboard, zone overview)",
        json_schema_extra={"x-default": "required while `cloudflare` is in `providers`"},
    )
    providers: tuple[DnsProvider, ...] = Field(
        ("cloudflare",),
        description="where the records are published: `[cloudflare]`, `[cloudflare, hetzner]` while "
        "moving, `[hetzner]` after ([dns-cutover.md](dns-cutover.md)); every provider gets the same "
        "records, each written once in this file",
    )
    retiring: tuple[DnsProvider, ...] = Field(
        (),
        description="providers in `providers` that are being let go: their records stay declared, but "
        "unprotected and retained on delete, so that removing the provider from `providers` in the "
        "next change stops managing its records without deleting them "
        "([dns-cutover.md](dns-cutover.md#7-retire-cloudflare-keeping-its-records))",
    )
    hetzner: HetznerDns | None = Field(
        None,
        description="Hetzner DNS settings, read while `hetzner` is in `providers`",
        json_schema_extra={"x-default": "create the zone and the record sets"},
    )
    default_ttl: Ttl = Field(3600, description="TTL of records that set none")
    records_: dict[RecordKey, Records] = Field(
        {},
        alias="records",
        description="`<name>: [record, ...]` (one record may be written without the list)",
    )
    # Import IDs by logical key (the plan's `social-coop-<key>`), for any record, generated
    # mail records included; components/dns/checks.py matches the keys.
    imports: dict[LogicalKey, ImportId] = Field(
        {},
        description="adopt existing records, generated mail records included: `<logical key>: <zone_id>/<record_id>`; "
        "the key is the record's name in the plan after `social-coop-` (e.g. `www-cname`, `apex-mx-mx1`), "
        "the value 32 hex characters each side",
    )
    self_hosting: SelfHosting | None = Field(
        None,
        description="prod only: the zone's own SOA and apex NS, for a complete zone file "
        "(`python -m tools.zonefile prod alpha`, [dns.md](dns.md#a-complete-zone-for-self-hosting)); Pulumi ignores it",
    )
    _records: tuple[Record, ...] = PrivateAttr(())

    @model_validator(mode="before")
    @classmethod
    def _one_spelling_per_name(cls, data: Any) -> Any:
        """`www` and `WWW` are one DNS name: two entries for it are a mistake, not two names."""
        records = data.get("records") if isinstance(data, dict) else None
        seen: dict[str, str] = {}
        for name in records if isinstance(records, dict) else ():
            if isinstance(name, str) and name.lower() in seen:
                raise Refused(
                    f"the same name as {seen[name.lower()]!r} (DNS names are not case-sensitive); "
                    "list its records under one name",
                    f"records.{name}",
                    name,
                )
            if isinstance(name, str):
                seen[name.lower()] = name
        return data

    @model_validator(mode="after")
    def _providers(self) -> Dns:
        for key, names in (("providers", self.providers), ("retiring", self.retiring)):
            twice = next((p for i, p in enumerate(names) if p in names[:i]), None)
            if twice is not None:
                raise Refused(f"{twice} is listed twice; name each provider once", key, list(names))
        if not self.providers:
            raise Refused(f"at least one of {', '.join(DNS_PROVIDERS)}", "providers", [])
        for p in self.retiring:
            if p not in self.providers:
                raise Refused(
                    f"{p} is not in providers: retire only a provider the records are still published to",
                    "retiring",
                    list(self.retiring),
                )
        if set(self.retiring) == set(self.providers):
            raise Refused(
                "at least one provider of providers must stay (not retiring): it serves the zone",
                "retiring",
                list(self.retiring),
            )
        if self.zone_id is None and "cloudflare" in self.providers:
            raise Refused("required while cloudflare is in providers", "zone_id", MISSING)
        return self

    @model_validator(mode="after")
    def _flatten(self) -> Dns:
        self._records = tuple(
            r.at(name, f"dns.records.{name}[{i}]")
            for name, rs in self.records_.items()
            for i, r in enumerate(rs)
        )
        return self

    @property
    def records(self) -> tuple[Record, ...]:
        """Every declared record, in file order, each with its name and path."""
        return self._private("_records")


RecordRef = Annotated[
    str, pattern(re.compile(r"^\S+ [A-Z]+$"), "'<name> <TYPE>', e.g. '@ A'", max_length=300)
]


class Migration(Model):
    """For a server move, step by step in [migration.md](migration.md): lower the TTL a day ahead, switch,
    raise it again. Not applied while prod is adopting (migration.md, step 0)."""

    ttl: Ttl = Field(300, description="the lowered TTL: 1 or 60 to 86400")
    records: tuple[RecordRef, ...] = Field(
        description="the records to lower, as `'<name> <TYPE>'`, e.g. `'@ A'`"
    )
