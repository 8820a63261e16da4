"""The top level of a stack file, and the JSON Schema of the whole file (for editors)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from components import config
from components.models.common import Bool, Model, Ttl
from components.models.dns import Dns
from components.models.hosts import Admin, Host
from components.models.mail import Mail
from components.models.storage import Storage

SCHEMA_PATH = config.REPO_ROOT / "schema" / "stack.schema.json"
PROVIDER_NAMESPACES = ("hcloud", "cloudflare", "digitalocean", "command", "pulumi")


class Secure(Model):
    secure: str = Field(description="Ciphertext written by `pulumi config set --secret`.")


class Migration(Model):
    ttl: Ttl = 300
    records: list[Annotated[str, StringConstraints(pattern=r"^\S+ [A-Z]+$")]] = Field(min_length=1)


class Ansible(Model):
    playbook: str = Field(description="Playbook file, absolute or relative to the repository; must exist.")
    extra_vars: dict = Field({}, description="Passed to ansible-playbook as --extra-vars (JSON).")
    user: str | None = Field(None, pattern=r"^[a-z0-9-]+$", description="ansible_user for every host.")


class StackValues(Model):
    """The ``socialcoop-infra:`` keys of a stack file. Pulumi.yaml's `config:` block is written
    from these fields (``python -m tools.schema --write``): type, default, description."""

    environment: Literal["prod", "alpha"] = Field(
        description="Which kind of stack this is: prod (protected, adopts existing resources) or alpha (disposable)."
    )
    domain: str = Field("social.coop", description="The Cloudflare zone both stacks write into.")
    instance_domain: str = Field(
        "",
        description="The Mastodon instance's domain (LOCAL_DOMAIN). Empty: the zone for prod, alpha.<zone> for alpha.",
    )
    protect: Bool = Field(
        False,
        description="Protect stateful resources (Pulumi protect, Hetzner delete/rebuild protection) and retain imported ones on delete. Must be true in prod (see decommission).",
    )
    adopting: Bool = Field(
        False,
        description="prod only, phase 1 of adoption (docs/adoption.md): imported resources keep their real names, labels, protections, TTLs... (ignore_changes) so the first `pulumi up` only imports. Set false afterwards to converge them.",
    )
    admins: list[Admin] = Field(
        [],
        description="TWG admins: list of {name, ssh_key, hcloud_import?}. The same keys go to Hetzner Cloud and cloud-init.",
    )
    hosts: dict[str, Host] = Field(
        {},
        description="Machines by short name: {kind: hetzner_cloud|vps, roles, cloud_init?, fqdn?, ssh_port?, hetzner_cloud: {...}, vps: {...}}.",
    )
    dns: Dns = Field(
        description="The zone: {zone_id, default_ttl?, records: {name: [record, ...]}, owned_subdomain?, reserved_subdomains?, imports?, self_hosting?}."
    )
    mail: Mail | None = Field(
        None,
        description="Mail authentication builders: {senders, spf, dmarc, dkim, no_mail, no_mail_hosts, caa, mta_sts}. Empty: no mail records.",
    )
    storage: Storage | None = Field(
        None,
        description="DigitalOcean Spaces: {region, buckets: {name: {...}}, other_stack_buckets}. Empty: Mastodon's local file storage.",
    )
    migration: Migration | None = Field(
        None,
        description="Lower TTLs ahead of a server move: {ttl: 300, records: ['@ A', '@ AAAA']}. Empty: no migration.",
    )
    bootstrap_ssh_key: Secure | None = Field(
        None,
        description="Private SSH key used to bootstrap non-cloud hosts (vps.bootstrap: true). Must be a secret: `pulumi config set --secret bootstrap_ssh_key < key-file`. Empty: none.",
    )
    decommission: str = Field(
        "",
        description="prod only: why protect is false (a real decommission). Shown as a warning and an output in every preview. Empty: protect must be true.",
    )
    ansible: Ansible | None = Field(
        None,
        description="Optional: a playbook `pulumi up` runs with the generated inventory after the hosts are up: {playbook, extra_vars?, user?}. Empty: no playbook is run.",
    )


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
    values = _closed(StackValues.model_json_schema(by_alias=True))
    props = {f"{config.PROJECT}:{k}": v for k, v in values["properties"].items()}
    for key in config.PROVIDER_CREDENTIALS:  # never in a stack file: export them from pass
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
                "required": [f"{config.PROJECT}:{k}" for k in values["required"]],
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
