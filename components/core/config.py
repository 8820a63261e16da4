"""The one config loader.

A stack's config is validated once, before any resource is registered, into the frozen
pydantic stack-file models (one per room: components/hosts/models.py, dns/models.py and
mail_models.py, storage/models.py; components/core/stack.py for the top level), then checked by the whole-stack rules
(components/core/rules.py). A mistake stops the program with one line that names the
stack file, the key path, the bad value and what is allowed (``ConfigError``).

``parse()`` is pure: it takes the raw values (already JSON-decoded, keys without the
``socialcoop-infra:`` namespace) so the offline plan, the tests and ``pulumi preview``
all validate the same way. ``load_from_pulumi()`` reads the running program's config.

A key the stack file sets holds a value of its type: `adopting: []`, `domain: ''` or
`instance_domain: ''` are refused, never read as "not set". Only a key the file leaves out
(or sets to nothing, `key:`) takes its default. Pulumi.yaml gives every optional key a
default ("", {}, []) because the CLI refuses a declared key that has neither, and the CLI
and the plan merge those defaults in; so the loader is told which keys the file itself sets
(``present``): the plan knows it, and under `pulumi preview` the loader reads the stack file
for it: Pulumi.<stack>.yaml beside Pulumi.yaml, or the file $SOCIALCOOP_STACK_FILE names (set
it when pulumi runs with `--config-file`). Without a file, a value equal to its Pulumi.yaml
default counts as not set: there `instance_domain: ''` reads as the default, while the CLI
itself refuses a value of the wrong type (`adopting: []`).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pulumi
from pydantic import ValidationError

from components.core import boundary, safe_yaml, values
from components.core import rules as stack_rules
from components.core.errors import MISSING, NOT_SHOWN, PROJECT, REPO_ROOT, ConfigError, Secret, unknown_key
from components.core.stack import (
    PROVIDER_CREDENTIALS,
    PROVIDER_NAMESPACES,
    PROVIDER_SETTINGS,
    RETIRED,
    SECRET_KEYS,
    TOP_LEVEL_KEYS,
    StackConfig,
)
from components.core.types import Refused

__all__ = ["PROJECT", "REPO_ROOT", "ConfigError", "Secret", "StackConfig", "load_from_pulumi", "parse"]

# Keys with one place for secrets: Pulumi marks the whole key secret when a value inside it is
# (`pulumi config set --secret --path 'ansible.secret_vars.<name>'`) and hands the program the
# decrypted mapping; the loader wraps exactly the values in that place as secrets.
SECRET_PARTS = {"ansible": "secret_vars"}
# Keys whose default is the unsafe side when a value is lost: set to nothing, they are refused.
NEVER_EMPTY = {
    "adopting": "write true or false: left empty it would end phase 1 of adoption (docs/adoption.md)",
    "protect": "write true or false: left empty it would take prod's protection off",
}

# What pydantic's own checks (types, required keys) say, in our words.
WORDS = {
    "missing": "this key is required",
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "bool_type": "expected true or false",
    "float_type": "expected a number",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping (key: value pairs)",
    "model_type": "expected a mapping (key: value pairs)",
}


@functools.cache
def _project_defaults() -> dict[str, Any]:
    project = safe_yaml.load((REPO_ROOT / "Pulumi.yaml").read_bytes(), "Pulumi.yaml") or {}
    return {
        k.removeprefix(f"{PROJECT}:"): decl["default"]
        for k, decl in (project.get("config") or {}).items()
        if isinstance(decl, dict) and "default" in decl
    }


def project_defaults() -> dict[str, Any]:
    """The ``default:`` of every key Pulumi.yaml declares: what the CLI (and the plan) merge
    in for a key the stack file leaves out."""
    return json.loads(json.dumps(_project_defaults()))  # a fresh copy


def _is_default(key: str, value: Any) -> bool:
    """``value`` is the Pulumi.yaml default of ``key`` (as the engine hands it: text for scalars)."""
    defaults = _project_defaults()
    if key not in defaults:
        return False
    default = defaults[key]
    if type(value) is type(default):
        return value == default
    return (
        isinstance(value, str)
        and isinstance(default, (bool, str))
        and value == json.dumps(default).strip('"')
    )


def present_keys(config: Any) -> frozenset[str]:
    """The project's keys a stack file's ``config:`` mapping sets (`key:` alone sets nothing)."""
    prefix = f"{PROJECT}:"
    if not isinstance(config, dict):
        return frozenset()
    return frozenset(
        k.removeprefix(prefix) for k, v in config.items() if str(k).startswith(prefix) and v is not None
    )


def parse(
    raw: dict[str, Any],
    source: str,
    secret_keys: frozenset[str] = frozenset(),
    stack: str | None = None,
    present: frozenset[str] | None = None,
) -> StackConfig:
    """Validate raw config (keys without namespace, values decoded) into StackConfig.

    ``stack``: the stack being planned or previewed; the stacks named prod and alpha must
    hold a file of their own environment. ``present``: the keys the stack file itself sets
    (``present_keys``); every other key holding its Pulumi.yaml default counts as not set.
    None (the file is not at hand): any key holding its Pulumi.yaml default counts as not set."""
    _check_retired(raw, source)
    for k in NEVER_EMPTY:
        if k in raw and raw[k] is None:  # `adopting:` with nothing after it
            raise ConfigError(source, k, None, NEVER_EMPTY[k])
    raw = {k: v for k, v in raw.items() if (present is not None and k in present) or not _is_default(k, v)}
    _check_secrets(raw, source, secret_keys)
    public = {k: v for k, v in raw.items() if k not in SECRET_KEYS}
    try:
        text = json.dumps(public, default=str)
    except (ValueError, RecursionError):  # a number beyond Python's digit limit: look closer
        text = "PRIVATE KEY-----"
    if values.PRIVATE_BODY in text or "PRIVATE KEY-----" in text:  # then find where
        _check_private_keys(public, source)
    env = raw.get("environment")
    if stack in ("prod", "alpha") and env in ("prod", "alpha") and env != stack:
        raise ConfigError(
            source,
            "environment",
            env,
            f"this is the {stack} stack: its file says environment: {stack} (wrong file?)",
        )
    raw = {k: Secret(v) if k in SECRET_KEYS else v for k, v in raw.items()}
    _secret_parts(raw, source, secret_keys)
    try:
        cfg = StackConfig.model_validate(raw)
    except ValidationError as e:
        raise _config_error(source, e) from None
    cfg._source = source
    stack_rules.check(cfg)
    return cfg


def _check_retired(raw: dict[str, Any], source: str) -> None:
    """Keys that used to move the boundary between the stacks: refused, even when empty (only
    `key:` with no value is not set, as everywhere)."""
    for path, why in RETIRED.items():
        where: Any = raw
        for part in path.split("."):
            if not isinstance(where, dict) or part not in where:
                break
            where = where[part]
        else:
            if where is not None:
                raise ConfigError(source, path, where, why)


def _check_secrets(raw: dict[str, Any], source: str, secret_keys: frozenset[str]) -> None:
    """Top-level typos first (a misspelt section would otherwise surface as a confusing
    "missing" error elsewhere). Only SECRET_KEYS hold secrets, and they must: a secret
    anywhere else would end up in plain text."""
    for k, value in raw.items():
        shown = Secret("") if k in secret_keys else value
        if k not in TOP_LEVEL_KEYS:
            if k not in secret_keys:  # a pasted private key is the graver mistake: say that first
                _check_private_keys({k: value}, source)
            raise ConfigError(source, k, NOT_SHOWN, unknown_key(k, TOP_LEVEL_KEYS))
        if k in secret_keys and k not in SECRET_KEYS and k not in SECRET_PARTS:
            raise ConfigError(
                source,
                k,
                shown,
                f"this key takes no secret (its value would be stored in plain text); "
                f"set it without --secret. Secret keys: {', '.join(SECRET_KEYS)}",
            )
    for k in SECRET_KEYS:
        if k in raw and k not in secret_keys:
            raise ConfigError(
                source, k, "[not shown]", f"must be a secret: set it with `pulumi config set --secret {k}`"
            )
        if k in raw and not isinstance(raw[k], str):
            raise ConfigError(source, k, Secret(""), "expected a string")


def _secret_parts(raw: dict[str, Any], source: str, secret_keys: frozenset[str]) -> None:
    """Wrap the values of each SECRET_PARTS place as secrets. Where the reader knows which values
    were `secure:` (the offline plan passes their paths), a secret elsewhere in the key and a
    plain value in the secret place are refused: either would end up stored in plain text."""
    for k, part in SECRET_PARTS.items():
        section = raw.get(k)
        if k not in secret_keys or not isinstance(section, dict):
            continue
        place, known = f"{k}.{part}.", {p for p in secret_keys if p.startswith(f"{k}.")}
        for path in sorted(known):
            if not path.startswith(place) or any(c in path[len(place) :] for c in ".["):
                raise ConfigError(
                    source,
                    path,
                    Secret(""),
                    f"a secret here would be stored in plain text; secrets go under {k}.{part}",
                )
        values = section.get(part)
        if not isinstance(values, dict):
            continue
        for name in values:
            if known and f"{place}{name}" not in known:
                raise ConfigError(
                    source,
                    f"{place}{name}",
                    "[not shown]",
                    f"must be a secret: `pulumi config set --secret --path '{place}{name}' <value>`",
                )
        raw[k] = {**section, part: {name: Secret(v) for name, v in values.items()}}


def _check_private_keys(value: Any, source: str, path: str = "") -> None:
    """A private key pasted anywhere (an admin's or a host's key, a comment...) is refused as
    what it is, shown only by its -----BEGIN line."""
    if isinstance(value, str) and values.looks_private(value):
        raise ConfigError(source, path, value, values.PRIVATE_KEY_PASTED)
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        if not isinstance(v, Secret):
            _check_private_keys(
                v, source, f"{path}[{k}]" if isinstance(k, int) else f"{path}.{k}".lstrip(".")
            )


def _config_error(source: str, error: ValidationError) -> ConfigError:
    """The first of pydantic's errors as our one line: file, key path, value, what is allowed."""
    e = error.errors(include_url=False)[0]
    loc, value = list(e["loc"]), e.get("input", MISSING)
    if loc and loc[-1] == "[key]":  # the name of an entry (a host, a bucket...) is wrong
        loc.pop()
    refused = (e.get("ctx") or {}).get("error")
    if isinstance(refused, Refused):
        allowed = refused.allowed
        if refused.key is not None:
            loc.append(refused.key)
        if refused.value is not MISSING or refused.key is not None:
            value = refused.value
    elif e["type"] == "missing":
        allowed, value = WORDS["missing"], MISSING
    else:
        allowed = WORDS.get(e["type"], e["msg"])
    return ConfigError(source, _path(loc), value, allowed)


def _path(loc: list[Any]) -> str:
    path = ""
    for part in loc:
        part = f"[{part}]" if isinstance(part, int) else str(part)
        path += part if not path or part.startswith("[") else f".{part}"
    return path


def check_provider_keys(keys: Any, source: str, stack: str, every_namespace: bool = False) -> None:
    """Refuse a provider setting among a stack's config keys (never showing its value): a
    credential with the command that exports it instead, any other setting unless
    PROVIDER_SETTINGS allows it. ``every_namespace``: not only the providers' namespaces
    (the engine hands the program every key it has, also from $PULUMI_CONFIG)."""
    for k in map(str, keys):
        if k in PROVIDER_CREDENTIALS:
            export = PROVIDER_CREDENTIALS[k].format(stack=stack)
            raise ConfigError(
                source,
                "",
                None,
                f"{k}: provider credentials never go in a stack file; remove it "
                f"(`pulumi config rm {k}`) and run `export {export}` before pulumi (README, docs/ci.md)",
            )
        namespace, colon, _ = k.partition(":")
        checked = every_namespace or namespace in PROVIDER_NAMESPACES
        if colon and namespace != PROJECT and checked and k not in PROVIDER_SETTINGS:
            allowed = ", ".join(PROVIDER_SETTINGS) or "none"
            raise ConfigError(
                source,
                "",
                None,
                f"{k}: provider settings are not taken from a stack file (an endpoint would send the "
                f"stack's token elsewhere, unseen in the plan); remove it (`pulumi config rm {k}`). "
                f"Allowed: {allowed} (components/core/stack.py PROVIDER_SETTINGS)",
            )


def decode(value: Any) -> Any:
    """Pulumi hands structured config to the program as JSON text."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):  # the loader then reports it as the wrong type
            return value
    return value


STACK_FILE_ENV = "SOCIALCOOP_STACK_FILE"


def stack_file_keys(stack: str) -> frozenset[str] | None:
    """The keys the stack's file sets: $SOCIALCOOP_STACK_FILE, else Pulumi.<stack>.yaml beside
    Pulumi.yaml; None when there is no such file."""
    path = Path(os.environ.get(STACK_FILE_ENV) or REPO_ROOT / f"Pulumi.{stack}.yaml")
    if not path.is_file():
        return None
    doc = safe_yaml.load(path.read_bytes(), path.name)
    return present_keys(doc.get("config") if isinstance(doc, dict) else None)


def check_stack_name(stack: str, source: str) -> None:
    """Only the stacks boundary.py names exist: the plan's reader and the engine's both ask."""
    if stack not in boundary.STACKS:
        raise ConfigError(
            source,
            "",
            None,
            f"there is no stack {values.shown_name(stack)!r}: the stacks are {' and '.join(boundary.STACKS)} "
            f"({boundary.HERE}); `pulumi stack select` one of them",
        )


def load_from_pulumi() -> StackConfig:
    """Read and validate the running program's config (``pulumi preview``/``up``)."""
    from pulumi.runtime import config as rc

    prefix, stack = f"{PROJECT}:", pulumi.get_stack()
    everything = {**rc.get_config_env(), **rc.CONFIG.get()}
    source = f"Pulumi.{stack}.yaml"
    check_stack_name(stack, source)
    check_provider_keys(everything, source, stack, every_namespace=True)
    raw = {k[len(prefix) :]: decode(v) for k, v in everything.items() if k.startswith(prefix)}
    secrets = frozenset(k for k in raw if rc.is_config_secret(prefix + k))
    return parse(raw, source, secrets, stack, present=stack_file_keys(stack))
