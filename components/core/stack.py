"""The top level of a stack file (the ``socialcoop-infra:`` keys), and the JSON Schema of the
whole file (for editors). ``StackConfig`` is what the program runs on: the loader
(components/core/config.py) validates a stack's config into it, then applies the whole-stack
rules (components/core/rules.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    Field,
    PlainValidator,
    PrivateAttr,
    field_validator,
    model_validator,
)

from components.core import boundary
from components.core.errors import PROJECT, REPO_ROOT, Secret
from components.core.types import (
    Bool,
    Model,
    Refused,
    Secure,
    canonical_name,
    choice,
    host_name,
    label,
    text,
)
from components.dns.mail_models import Mail
from components.dns.models import Dns, Migration
from components.hosts.ansible import Ansible
from components.hosts.models import Admin, Host, check_admins
from components.storage.models import Storage

SCHEMA_PATH = REPO_ROOT / "schema" / "stack.schema.json"
PROVIDER_NAMESPACES = ("hcloud", "cloudflare", "digitalocean", "command", "pulumi")
SECRET_KEYS = ("bootstrap_ssh_key",)
# Provider settings that are credentials: they come from the TWG's password store through
# environment variables (README, docs/ci.md), never from a stack file, encrypted or not.
PROVIDER_CREDENTIALS = {
    "hcloud:token": "HCLOUD_TOKEN=$(pass show social.coop/hetzner/cloud-token-{stack})",
    "cloudflare:apiToken": "CLOUDFLARE_API_TOKEN=$(pass show social.coop/cloudflare/dns-token-{stack})",
    "cloudflare:apiKey": "CLOUDFLARE_API_TOKEN=$(pass show social.coop/cloudflare/dns-token-{stack})",
    "cloudflare:apiUserServiceKey": "CLOUDFLARE_API_TOKEN=$(pass show social.coop/cloudflare/dns-token-{stack})",
    "digitalocean:token": "DIGITALOCEAN_TOKEN=$(pass show social.coop/digitalocean/token-{stack})",
    "digitalocean:spacesAccessId": "SPACES_ACCESS_KEY_ID=$(pass show social.coop/digitalocean/spaces-key-id)",
    "digitalocean:spacesSecretKey": "SPACES_SECRET_ACCESS_KEY=$(pass show social.coop/digitalocean/spaces-secret)",
}
# Provider settings a stack file may hold, each with the reason it is needed. None is: the
# providers' defaults are right, and the credentials come from the environment. Every other
# provider setting is refused, by the plan and under `pulumi preview`/`up` alike: an endpoint
# (`hcloud:endpoint`, `cloudflare:baseUrl`, `digitalocean:apiEndpoint`, `digitalocean:spacesEndpoint`)
# would send the stack's token to another host, and no resource in the plan would show it.
# An entry added here is shown at the top of every offline plan.
PROVIDER_SETTINGS: dict[str, str] = {}


def _secret(v: Any) -> Secret:
    if not isinstance(v, Secret):  # the loader wraps the values Pulumi marks as secret
        raise Refused(
            "must be a secret: set it with `pulumi config set --secret bootstrap_ssh_key`",
            value="[not shown]",
        )
    return v


SecretText = Annotated[Secret, PlainValidator(_secret, json_schema_input_type=Secure)]


HostKey = Annotated[str, label("not a valid host name")]


class StackConfig(Model):
    """The ``socialcoop-infra:`` keys of a stack file. Pulumi.yaml's `config:` block is written
    from these fields (``python -m tools.schema --write``): type, default, description."""

    environment: Annotated[str, choice(("prod", "alpha"))] = Field(
        description="`prod` or `alpha`, the stack's name. prod adopts what exists and protects it; alpha "
        "is disposable. What each owns is fixed in `components/core/boundary.py`, not in a stack file"
    )
    instance_domain: Annotated[str, host_name("a domain name like alpha.social.coop")] = Field(
        "",  # not set: from environment and domain (_defaults)
        description="the Mastodon instance's domain (`LOCAL_DOMAIN`); alpha's must be at or under "
        f"`{boundary.ALPHA_DOMAIN}`, prod's must not",
        json_schema_extra={"x-default": f"`{boundary.ZONE}` in prod, `{boundary.ALPHA_DOMAIN}` in alpha"},
    )
    protect: Bool = Field(
        False,
        description="protect stateful resources (Pulumi protect, Hetzner delete/rebuild protection) and keep "
        "adopted ones on delete. prod: must be `true` (unless `decommission`); alpha: must not be `true`",
    )
    adopting: Bool = Field(
        False,
        description="prod only (anywhere else an error): phase 1 of [adoption](adoption.md). Imported "
        "resources keep their real names, labels, protection flags, DNS TTL/proxy/comment and bucket "
        "settings (`ignore_changes`), so the first `pulumi up` only imports; set `false` afterwards and "
        "review the in-place updates",
    )
    admins: tuple[Admin, ...] = Field(
        (), description="the TWG admins who get SSH access; at least one when there are hosts"
    )
    hosts: dict[HostKey, Host] = Field({}, description="the machines, by short name (`hosts.<name>`)")
    dns: Dns = Field(description="the zone and its records")
    mail: Mail | None = Field(
        None,
        description="SPF, DMARC, DKIM, CAA and MTA-STS builders",
        json_schema_extra={"x-default": "none (no mail records)"},
    )
    storage: Storage | None = Field(
        None,
        description="DigitalOcean Spaces buckets; see [storage.md](storage.md)",
        json_schema_extra={"x-default": "none (Mastodon keeps media on disk)"},
    )
    migration: Migration | None = Field(None, description="lower TTLs ahead of a server move")
    bootstrap_ssh_key: SecretText | None = Field(
        None,
        description="private SSH key for first-boot bootstrap of non-cloud hosts; a secret: "
        "`pulumi config set --secret bootstrap_ssh_key < key-file`",
        json_schema_extra={"x-default": "none; required when a host has `vps.bootstrap: true`"},
    )
    decommission: Annotated[str, text(200)] | None = Field(
        None,
        description="prod only, the explicit escape for a real decommission: one line (10 to 200 characters) "
        "saying why, which "
        "allows `protect: false`. Every plan and preview then shows it (a warning and the `decommission` "
        "output); remove it with `protect: true` again. See the last example",
    )
    ansible: Ansible | None = Field(
        None,
        description="a playbook `pulumi up` runs after the hosts are up "
        "([servers.md](servers.md#handing-over-to-ansible))",
        json_schema_extra={"x-default": "none (no playbook is run)"},
    )
    _source: str = PrivateAttr("")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """Defaults that depend on other keys: the instance's domain, each host's full name,
        each bucket's CORS origin. The zone and alpha's part of it: components/core/boundary.py."""
        if not isinstance(data, dict) or data.get("environment") not in boundary.STACKS:
            return data
        data, prod = dict(data), data["environment"] == "prod"
        if data.get("instance_domain") is None:  # missing, or `instance_domain:` set to nothing
            data["instance_domain"] = boundary.ZONE if prod else boundary.ALPHA_DOMAIN
        if isinstance(data.get("hosts"), dict):
            data["hosts"] = {
                name: {"fqdn": f"{name}.{boundary.ZONE}", **h}
                if isinstance(h, dict) and h.get("fqdn") is None
                else h
                for name, h in data["hosts"].items()
            }
        storage = data.get("storage")
        if isinstance(storage, dict) and isinstance(storage.get("buckets"), dict):
            instance = data["instance_domain"]
            origin = [f"https://{canonical_name(instance) if isinstance(instance, str) else instance}"]
            buckets = {
                name: {**b, "cors_origins": origin}
                if isinstance(b, dict) and b.get("cors_origins") is None
                else b
                for name, b in storage["buckets"].items()
            }
            data["storage"] = {**storage, "buckets": buckets}
        return data

    @field_validator("admins")
    @classmethod
    def _admins(cls, admins: tuple[Admin, ...]) -> tuple[Admin, ...]:
        return check_admins(admins)

    @model_validator(mode="after")
    def _named_hosts(self) -> StackConfig:
        for name, h in self.hosts.items():
            h.named(name)
        return self

    @property
    def domain(self) -> str:
        """The zone (components/core/boundary.py: no stack file sets it)."""
        return boundary.ZONE

    @property
    def source(self) -> str:
        """The stack file, for messages."""
        return self._private("_source")


TOP_LEVEL_KEYS = tuple(StackConfig.model_fields)
# Keys that used to set the boundary between the stacks from the file it guards.
RETIRED = {
    key: f"no longer read: the boundary between the stacks is in {boundary.HERE}; remove it"
    for key in ("domain", "dns.owned_subdomain", "dns.reserved_subdomains", "storage.other_stack_buckets")
}


def _closed(schema: Any) -> Any:
    """Mappings keyed by a name pattern (hosts, records, buckets...) take no other names."""
    if isinstance(schema, dict):
        if "patternProperties" in schema and "properties" not in schema:
            schema.setdefault("additionalProperties", False)
        for v in schema.values():
            _closed(v)
    elif isinstance(schema, list):
        for v in schema:
            _closed(v)
    return schema


def stack_file_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of a whole Pulumi.<stack>.yaml."""
    values = _closed(StackConfig.model_json_schema(by_alias=True))
    props = {f"{PROJECT}:{k}": v for k, v in values["properties"].items()}
    for key in PROVIDER_CREDENTIALS:  # never in a stack file: export them from pass
        props[key] = False
    for key, why in PROVIDER_SETTINGS.items():  # the only provider settings a stack file may hold
        props[key] = {"description": why}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "socialcoop-infra stack file (Pulumi.<stack>.yaml)",
        "description": "Generated by `python -m tools.schema` from the stack-file models; docs/config.md explains every key.",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "properties": props,
                "required": [f"{PROJECT}:{k}" for k in values["required"]],
                "additionalProperties": False,
            },
            "secretsprovider": {"type": "string"},
            "encryptionsalt": {"type": "string"},
            "encryptedkey": {"type": "string"},
        },
        "required": ["config"],
        "additionalProperties": False,
        "$defs": values.get("$defs", {}),
    }
