"""A stack file read as the Pulumi CLI would hand it to the program: the project defaults from
``Pulumi.yaml`` overlaid with the file's values; ``secure:`` values (which only the CLI can
decrypt) stand in as ``[secret]``; which keys the file itself sets. Provider settings are
refused unless PROVIDER_SETTINGS allows them (components/core/stack.py)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.core import safe_yaml
from components.core.config import check_provider_keys, check_stack_name, parse, present_keys
from components.core.config import project_defaults as config_defaults
from components.core.errors import PROJECT, REPO_ROOT, ConfigError
from components.core.stack import PROVIDER_NAMESPACES, StackConfig

SECRET = "[secret]"
# Config namespaces besides the project's: provider settings (only those PROVIDER_SETTINGS allows).
OTHER_NAMESPACES = PROVIDER_NAMESPACES


@dataclass(frozen=True)
class StackFile:
    """A stack's config as Pulumi would hand it to the program."""

    stack: str
    source: str  # shown in messages
    values: dict[str, Any]  # key without namespace -> decoded value
    secret_keys: frozenset[str]
    other: dict[str, Any]  # other namespaces: the provider settings PROVIDER_SETTINGS allows
    present: frozenset[str]  # the keys the file itself sets; the others hold Pulumi.yaml's defaults
    path: Path  # the file, for the program's loader (components.core.config.stack_file_keys)

    def pulumi_config(self) -> dict[str, str]:
        """The flat ``namespace:key -> string`` map the Pulumi engine passes to programs."""
        flat = {}
        for key, value in {**{f"{PROJECT}:{k}": v for k, v in self.values.items()}, **self.other}.items():
            if value is None:
                continue  # `key:` with no value: absent, as parse() reads it (not the text "None")
            if isinstance(value, bool):
                flat[key] = "true" if value else "false"
            elif isinstance(value, (dict, list)):
                flat[key] = json.dumps(value)
            else:
                flat[key] = str(value)
        return flat

    def config(self) -> StackConfig:
        return parse(self.values, self.source, self.secret_keys, self.stack, self.present)


def _load_yaml(path: Path, label: str) -> Any:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(label, "", None, f"file not found: {path}") from None
    return safe_yaml.load(data, label) or {}


def _mask_secure(value: Any) -> tuple[Any, bool]:
    """Replace ``{secure: ...}`` (at any depth) by ``[secret]``; say whether any was found."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET, True
        found = False
        out = {}
        for k, v in value.items():
            out[k], f = _mask_secure(v)
            found |= f
        return out, found
    if isinstance(value, list):
        pairs = [_mask_secure(v) for v in value]
        return [v for v, _ in pairs], any(f for _, f in pairs)
    return value, False


def _secure_paths(value: Any, path: str) -> list[str]:
    """Where the ``{secure: ...}`` values are, as key paths (``ansible.secret_vars.db_password``):
    the engine only says which top-level key holds a secret; the loader checks where."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return [path]
        return [p for k, v in value.items() for p in _secure_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _secure_paths(v, f"{path}[{i}]")]
    return []


def project_defaults() -> dict[str, Any]:
    """The ``default:`` of every key declared in Pulumi.yaml's ``config:`` block (a fresh copy)."""
    return config_defaults()


def read_stack(stack: str, config_path: str | None = None) -> StackFile:
    path = Path(config_path) if config_path else REPO_ROOT / f"Pulumi.{stack}.yaml"
    label = str(path) if config_path else path.name
    check_stack_name(stack, label)
    doc = _load_yaml(path, label)
    if not isinstance(doc, dict) or not isinstance(doc.get("config", {}), dict):
        raise ConfigError(label, "", None, "expected a stack file with a top-level config: mapping")
    unknown = set(doc) - {"config", "secretsprovider", "encryptionsalt", "encryptedkey"}
    if unknown:
        raise ConfigError(
            label,
            "",
            None,
            f"unknown top-level keys {', '.join(sorted(map(str, unknown)))}; "
            "allowed: config, secretsprovider, encryptionsalt, encryptedkey",
        )
    check_provider_keys(doc.get("config") or {}, label, stack)
    values, secrets, other = project_defaults(), set(), {}
    for key, value in (doc.get("config") or {}).items():
        masked, is_secret = _mask_secure(value)
        namespace, _, name = str(key).partition(":")
        # Pulumi rejects keys without a namespace in stack files; a misspelt namespace
        # would make Pulumi hand the value to nobody.
        if not name:
            raise ConfigError(label, "", None, f"config key {key!r} needs its namespace: {PROJECT}:{key}")
        if namespace not in (PROJECT, *OTHER_NAMESPACES):
            raise ConfigError(
                label,
                "",
                None,
                f"config key {key!r}: unknown namespace; use {PROJECT}:{name} "
                f"(providers: {', '.join(OTHER_NAMESPACES)})",
            )
        if namespace == PROJECT:
            values[name] = masked
            if is_secret:
                secrets.update({name, *_secure_paths(value, name)})
        else:
            other[key] = masked
    present = present_keys(doc.get("config"))
    return StackFile(stack, label, values, frozenset(secrets), other, present, path)


def cli_stack(stack: str, config_path: str | None = None) -> tuple[StackFile, StackConfig] | None:
    """For a tool's main(): the stack file and its validated config, or None after printing
    the one-line error (the tool then exits 2)."""
    try:
        sf = read_stack(stack, config_path)
        return sf, sf.config()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return None
