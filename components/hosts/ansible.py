"""The Ansible hand-off's stack-file model: the playbook `pulumi up` runs after the hosts are
up, its extra vars and its secret vars (the component: components/hosts/playbook.py).

Extra vars have the highest precedence in Ansible and are rendered on the machine running
pulumi: no name Ansible gives a meaning of its own, no template, no secret, one printable line
per text. Secrets go in `secret_vars`, which only `pulumi config set --secret` can fill."""

from __future__ import annotations

import json
import keyword
import re
import stat
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from components.core import values
from components.core.errors import REPO_ROOT, Secret
from components.core.types import Model, Refused, Secure, UserName

# Names Ansible itself gives a meaning, which an extra var (the highest precedence) would
# override for every host: connection and privilege settings (`ansible_host`,
# `ansible_ssh_common_args`, `ansible_become`...: every `ansible_*`), what the inventory and
# the play set (`inventory_*`, `hostvars`, `groups`...), play and task keywords (`environment`,
# `become`, `hosts`...), the template engine's globals and constants (`lookup`, `omit`, `true`)
# and the host variables our inventory writes (components/hosts/inventory.py). From ansible-core's
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


Playbook = Annotated[
    str,
    BeforeValidator(_playbook, json_schema_input_type=Annotated[str, StringConstraints(max_length=MAX_PATH)]),
]


class Ansible(Model):
    """The TWG playbook `pulumi up` runs after the hosts are up (components/hosts/playbook.py)."""

    playbook: Playbook = Field(
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
    user: UserName | None = Field(
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
