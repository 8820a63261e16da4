"""The top level of a stack file (the ``socialcoop-infra:`` keys), and the JSON Schema of the
whole file (for editors). ``StackConfig`` is what the program runs on: the loader
(components/config.py) validates a stack's config into it, then applies the whole-stack
rules (components/stack_rules.py)."""

from __future__ import annotations

import json
import keyword
import re
import stat
from typing import Annotated, Any

from pydantic import (
    Field,
    PlainValidator,
    PrivateAttr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from components import boundary, values
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
# Provider settings a stack file may hold, each with the reason it is needed. None is: the
# providers' defaults are right, and the credentials come from the environment. Every other
# provider setting is refused, by the plan and under `pulumi preview`/`up` alike: an endpoint
# (`hcloud:endpoint`, `cloudflare:baseUrl`, `digitalocean:apiEndpoint`, `digitalocean:spacesEndpoint`)
# would send the stack's token to another host, and no resource in the plan would show it.
# An entry added here is shown at the top of every offline plan.
PROVIDER_SETTINGS: dict[str, str] = {}


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


# Names Ansible itself gives a meaning, which an extra var (the highest precedence) would
# override for every host: connection and privilege settings (`ansible_host`,
# `ansible_ssh_common_args`, `ansible_become`...: every `ansible_*`), what the inventory and
# the play set (`inventory_*`, `hostvars`, `groups`...), play and task keywords (`environment`,
# `become`, `hosts`...), the template engine's globals and constants (`lookup`, `omit`, `true`)
# and the host variables our inventory writes (components/inventory.py). From ansible-core's
# `ansible.constants` (INTERNAL_STATIC_VARS, MAGIC_VARIABLE_MAPPING, COMMON_CONNECTION_VARS),
# `ansible.vars.reserved.get_reserved_names()` and `_jinja_bits.JINJA_KEYWORDS`;
# tests/test_ansible.py checks this list against the installed ansible-core.
ANSIBLE_PREFIXES = ("ansible_", "inventory_")
ANSIBLE_RESERVED = frozenset((
    "action", "always", "any_errors_fatal", "args", "async", "async_val", "become", "become_exe",
    "become_flags", "become_method", "become_user", "block", "changed_when", "check_mode",
    "collections", "connection", "cycler", "debugger", "delay", "delegate_facts", "delegate_to",
    "dict", "diff", "environment", "fact_path", "failed_when", "force_handlers", "gather_facts",
    "gather_subset", "gather_timeout", "group_names", "groups", "handlers", "hostvars", "hosts",
    "ignore_errors", "ignore_unreachable", "item", "joiner", "lipsum", "local_action", "lookup",
    "loop", "loop_control", "loop_with", "max_fail_percentage", "module_defaults", "name",
    "namespace", "no_log", "none", "not", "notify", "now", "omit", "order", "play_hosts",
    "playbook_dir", "poll", "port", "post_tasks", "pre_tasks", "q", "query", "range", "register",
    "remote_user", "rescue", "retries", "role_name", "role_names", "role_path", "role_uuid",
    "roles", "run_once", "serial", "strategy", "tags", "tasks", "throttle", "timeout", "true",
    "false", "undef", "until", "vars", "vars_files", "vars_prompt", "when", "with_", "fqdn",
))  # fmt: skip
VAR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$", re.ASCII)
# What makes Ansible treat a string as a template (`_jinja_bits.is_possibly_template`):
# extra vars are rendered on the runner, where `{{ lookup('pipe', ...) }}` runs commands.
JINJA = re.compile(r"\{\{|\{%|\{#|^#jinja2:")


def var_name_problem(name: Any) -> str | None:
    """An extra var's name: a plain identifier Ansible gives no meaning of its own."""
    allowed = "a plain variable name (a-z, 0-9, _; starting with a letter)"
    if not isinstance(name, str) or not VAR_NAME.fullmatch(name) or keyword.iskeyword(name):
        return allowed
    if name.startswith(ANSIBLE_PREFIXES) or name in ANSIBLE_RESERVED:
        return (
            f"{name} is a variable Ansible (or the generated inventory) sets itself: connection, "
            "inventory and play settings are not extra vars; use a name of your own, e.g. twg_" + name
        )
    return None


def _template(value: Any) -> bool:
    """A string Jinja would render, anywhere in the value (keys of mappings included)."""
    if isinstance(value, str):
        return bool(JINJA.search(value))
    if isinstance(value, dict):
        return any(_template(k) or _template(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_template(v) for v in value)
    return False


MAX_EXTRA_VARS = 32 * 1024  # one environment variable of the command; Linux allows 128 KiB
SECRET_VALUE = (
    "use ansible.secret_vars for secrets (set with `pulumi config set --secret --path`), never extra_vars"
)


def _extra_var_problem(name: str, value: Any) -> str | None:
    """Extra vars are stored and shown in plain text (the plan, the state): no secret, one
    printable line per text (a playbook writes them into files), no key named like a secret."""
    if isinstance(value, dict):
        for k, v in value.items():
            problem = _extra_var_problem(str(k), v) or (
                values.text_problem(k) if isinstance(k, str) else None
            )
            if problem:
                return problem
        return None
    if isinstance(value, list):
        return next((p for p in (_extra_var_problem(name, v) for v in value) if p), None)
    if values.SECRET_NAME.search(name):
        return f"{name} is named like a secret: {SECRET_VALUE}"
    if isinstance(value, str):
        if values.secret_at(value) is not None:
            return f"this looks like a token or key: {SECRET_VALUE}"
        return values.text_problem(value)
    return None


def _secret_var(v: Any) -> Secret:
    if not isinstance(v, Secret):  # the loader wraps ansible.secret_vars when Pulumi marks them secret
        raise Refused(
            "must be a secret: `pulumi config set --secret --path 'ansible.secret_vars.<name>' <value>`",
            value="[not shown]",
        )
    if not isinstance(v.value, str):
        raise Refused("expected a string (one secret per name)", value="[not shown]")
    return v


SecretVar = Annotated[Secret, PlainValidator(_secret_var, json_schema_input_type=Secure)]


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
    if path.parent == REPO_ROOT:  # its folder is hashed to know when to run it again
        raise Refused("a playbook in a folder of its own inside the repository, e.g. ansible/site.yml")
    return v


class Ansible(Model):
    """The TWG playbook `pulumi up` runs after the hosts are up (components/ansible_playbook.py)."""

    playbook: checked(str, _playbook, Annotated[str, StringConstraints(max_length=MAX_PATH)]) = Field(
        description="the playbook: a regular file inside the repository (a path relative to it, or absolute "
        f"inside it; symlinks may not lead out), at most {MAX_PATH} characters"
    )
    extra_vars: dict[str, Any] = Field(
        {},
        description="passed as `--extra-vars` (JSON); names are plain identifiers and never one Ansible "
        "sets itself (`ansible_*`, `inventory_*`, `hostvars`, `environment`...); no value Jinja would "
        "render (`{{`, `{%`, `{#`)",
    )
    secret_vars: dict[str, SecretVar] = Field(
        {},
        description="playbook secrets by name (names as for `extra_vars`), each a secret string set with "
        "`pulumi config set --secret --path 'ansible.secret_vars.<name>' <value>`; handed to ansible-playbook "
        "in a private file, never rendered as a template, `[secret]` in the plan and the preview",
    )
    user: UserName() | None = Field(
        None,
        description="`ansible_user` for every host",
        json_schema_extra={"x-default": "the operator's ssh configuration"},
    )

    @field_validator("extra_vars", "secret_vars", mode="before")
    @classmethod
    def _mapping(cls, v: Any, info: ValidationInfo) -> Any:
        if not isinstance(v, dict):
            raise Refused("expected a mapping (key: value pairs)")
        for name, value in v.items():
            problem = var_name_problem(name)
            if problem:
                raise Refused(problem, str(name), value if info.field_name == "extra_vars" else "[not shown]")
        return v

    @field_validator("extra_vars")
    @classmethod
    def _plain_values(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name, value in v.items():
            if _template(value):
                raise Refused(
                    "a value Ansible would render as a Jinja template ({{, {%, {# or #jinja2:), on the "
                    "machine running pulumi; give the plain value",
                    name,
                    value,
                )
            problem = _extra_var_problem(name, value)
            if problem:
                raise Refused(problem, name, value)
        if len(json.dumps(v)) > MAX_EXTRA_VARS:
            raise Refused(
                f"at most {MAX_EXTRA_VARS} characters of extra vars in all (as JSON: they travel in one "
                "environment variable); put larger data in the playbook's vars files"
            )
        return v

    @model_validator(mode="after")
    def _each_name_once(self) -> Ansible:
        for name in self.secret_vars:
            if name in self.extra_vars:
                raise Refused(
                    "also in extra_vars; give each variable once", f"secret_vars.{name}", "[not shown]"
                )
        return self


HostKey = Label("not a valid host name")


class StackConfig(Model):
    """The ``socialcoop-infra:`` keys of a stack file. Pulumi.yaml's `config:` block is written
    from these fields (``python -m tools.schema --write``): type, default, description."""

    environment: Choice(("prod", "alpha")) = Field(
        description="`prod` or `alpha`, the stack's name. prod adopts what exists and protects it; alpha "
        "is disposable. What each owns is fixed in `components/boundary.py`, not in a stack file"
    )
    instance_domain: HostName("a domain name like alpha.social.coop") = Field(
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
        each bucket's CORS origin. The zone and alpha's part of it: components/boundary.py."""
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
        """The zone (components/boundary.py: no stack file sets it)."""
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
        "description": "Generated by `python -m tools.schema` from components/models; docs/config.md explains every key.",
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
