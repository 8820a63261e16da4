"""The top level of a stack file (the ``socialcoop-infra:`` keys), and the JSON Schema of the
whole file (for editors). ``StackConfig`` is what the program runs on: the loader
(components/config.py) validates a stack's config into it, then applies the whole-stack
rules (components/stack_rules.py)."""

from __future__ import annotations

import re
import stat
from typing import Annotated, Any

from pydantic import Field, PlainValidator, PrivateAttr, StringConstraints, field_validator, model_validator

from components.errors import PROJECT, REPO_ROOT, Secret
from components.models.common import (
    Bool,
    Choice,
    HostName,
    Items,
    Label,
    Model,
    Pattern,
    Refused,
    Text,
    UserName,
    canonical_name,
    checked,
)
from components.models.dns import Dns, Ttl
from components.models.hosts import Admin, Host, check_admins
from components.models.mail import Mail
from components.models.storage import Storage

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


class Secure(Model):
    secure: Annotated[str, StringConstraints(max_length=65536)] = Field(
        description="Ciphertext written by `pulumi config set --secret`."
    )


def _secret(v: Any) -> Secret:
    if not isinstance(v, Secret):  # the loader wraps the values Pulumi marks as secret
        raise Refused(
            "must be a secret: set it with `pulumi config set --secret bootstrap_ssh_key`",
            value="[not shown]",
        )
    return v


SecretText = Annotated[Secret, PlainValidator(_secret, json_schema_input_type=Secure)]


class Migration(Model):
    """For a server move (see CONTEXT: lower the TTL a day ahead, switch, raise it again)."""

    ttl: Ttl = Field(300, description="the lowered TTL: 1 or 60 to 86400")
    records: Items(Pattern(re.compile(r"^\S+ [A-Z]+$"), "'<name> <TYPE>', e.g. '@ A'", max_length=300)) = (
        Field(description="the records to lower, as `'<name> <TYPE>'`, e.g. `'@ A'`")
    )


MAX_PATH = 1024


def _playbook(v: Any) -> str:
    """A regular file inside the repository, named by a path relative to it (or absolute,
    inside it): never a directory, a device, a FIFO, /proc, or a symlink leading outside."""
    allowed = "an existing playbook file: a regular file inside the repository, e.g. ansible/site.yml"
    if not isinstance(v, str) or not v or len(v) > MAX_PATH or "\0" in v:
        raise Refused(allowed)
    try:
        path = (REPO_ROOT / v).resolve(strict=True)
        regular = path.is_relative_to(REPO_ROOT) and stat.S_ISREG(path.stat().st_mode)
    except (OSError, RuntimeError):  # missing, a symlink loop, a name too long
        regular = False
    if not regular:
        raise Refused(allowed)
    return v


class Ansible(Model):
    """The TWG playbook `pulumi up` runs after the hosts are up (components/ansible_playbook.py)."""

    playbook: checked(str, _playbook, Annotated[str, StringConstraints(max_length=MAX_PATH)]) = Field(
        description="the playbook: a regular file inside the repository (a path relative to it, or absolute "
        f"inside it; symlinks may not lead out), at most {MAX_PATH} characters"
    )
    extra_vars: dict[str, Any] = Field({}, description="passed as `--extra-vars` (JSON)")
    user: UserName() | None = Field(
        None,
        description="`ansible_user` for every host",
        json_schema_extra={"x-default": "the operator's ssh configuration"},
    )

    @field_validator("extra_vars", mode="before")
    @classmethod
    def _mapping(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            raise Refused("expected a mapping (key: value pairs)")
        return v


HostKey = Label("not a valid host name")


class StackConfig(Model):
    """The ``socialcoop-infra:`` keys of a stack file. Pulumi.yaml's `config:` block is written
    from these fields (``python -m tools.schema --write``): type, default, description."""

    environment: Choice(("prod", "alpha")) = Field(
        description="`prod` or `alpha`. prod adopts what exists and protects it; alpha is disposable and "
        "may only touch names under `alpha.`"
    )
    domain: HostName("a domain name like social.coop") = Field(
        "social.coop", description="the Cloudflare zone both stacks write into"
    )
    instance_domain: HostName("a domain name like alpha.social.coop") = Field(
        "",  # not set: from environment and domain (_defaults)
        description="the Mastodon instance's domain (`LOCAL_DOMAIN`); alpha's must be at or under "
        "`alpha.<domain>`, prod's must not",
        json_schema_extra={"x-default": "`domain` in prod, `alpha.<domain>` in alpha"},
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
    admins: Items(Admin) = Field(
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
    decommission: Text(200) | None = Field(
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
        the DNS names each stack owns, each bucket's CORS origin."""
        if not isinstance(data, dict) or data.get("environment") not in ("prod", "alpha"):
            return data
        data, prod = dict(data), data["environment"] == "prod"
        domain = data.get("domain")
        domain = cls.model_fields["domain"].default if domain is None else domain
        if not isinstance(domain, str):
            return data
        domain = canonical_name(domain)  # the names made from it are in the one form too
        if data.get("instance_domain") is None:  # missing, or `instance_domain:` set to nothing
            data["instance_domain"] = domain if prod else f"alpha.{domain}"
        if isinstance(data.get("hosts"), dict):
            data["hosts"] = {
                name: {"fqdn": f"{name}.{domain}", **h}
                if isinstance(h, dict) and h.get("fqdn") is None
                else h
                for name, h in data["hosts"].items()
            }
        dns = data.get("dns")
        if isinstance(dns, dict):
            owned = {
                "owned_subdomain": None if prod else "alpha",
                "reserved_subdomains": ["alpha"] if prod else [],
            }
            data["dns"] = {**dns, **{k: v for k, v in owned.items() if dns.get(k) is None}}
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
    def source(self) -> str:
        """The stack file, for messages."""
        return self._private("_source")


TOP_LEVEL_KEYS = tuple(StackConfig.model_fields)


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
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "socialcoop-infra stack file (Pulumi.<stack>.yaml)",
        "description": "Generated by `python -m tools.schema` from components/models; docs/config.md explains every key.",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "properties": props,
                "required": [f"{PROJECT}:{k}" for k in values["required"]],
                "patternProperties": {f"^({'|'.join(PROVIDER_NAMESPACES)}):": {}},
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
