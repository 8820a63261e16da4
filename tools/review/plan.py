"""Offline plan: run the Pulumi program under Pulumi's mock monitor and show what it declares.

    python -m tools.plan alpha            # readable tree
    python -m tools.plan prod --json      # one object per resource
    python -m tools.plan prod --config /tmp/Pulumi.prod.yaml   # a stack file outside the repo
    python -m tools.plan prod --live      # also measure SPF lookups through public DNS

Needs no cloud credentials and no ``pulumi`` CLI. The stack's config is assembled the way
Pulumi does it: the project defaults from ``Pulumi.yaml`` overlaid with the stack file.
Encrypted ``secure:`` values cannot be decrypted here; they stand in as ``[secret]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import ipaddress
import json
import os
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.core import safe_yaml
from components.core.config import STACK_FILE_ENV, check_provider_keys, parse, present_keys
from components.core.config import project_defaults as config_defaults
from components.core.errors import PROJECT, REPO_ROOT, ConfigError
from components.core.stack import PROVIDER_NAMESPACES, PROVIDER_SETTINGS, StackConfig
from components.dns import mail_auth, spf_lookups
from components.dns.records import fqdn
from tools.check import resolver

SECRET = "[secret]"
# Config namespaces besides the project's: provider settings (only those PROVIDER_SETTINGS allows).
OTHER_NAMESPACES = PROVIDER_NAMESPACES


# --------------------------------------------------------------------------- stack config


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


# --------------------------------------------------------------------------- mocks


def fake_address(name: str, version: int) -> str:
    """A stable documentation-range address for a resource the cloud would number."""
    n = int(hashlib.sha256(name.encode()).hexdigest(), 16)
    if version == 4:
        return str(ipaddress.ip_address("198.51.100.0") + 1 + n % 250)
    return str(ipaddress.ip_address("2001:db8:ffff::") + (n % 65000) * 65536)


@dataclass
class PlannedResource:
    type: str
    name: str
    parent: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    custom: bool = True


def _unwrap_secrets(value: Any) -> Any:
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {k: _unwrap_secrets(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_unwrap_secrets(v) for v in value]
    return value


def make_mocks():
    import pulumi

    class PlanMocks(pulumi.runtime.Mocks):
        """Record every registration; answer with the inputs plus what the cloud would fill in.

        Invokes (data-source lookups) are counted: the program must make none."""

        def __init__(self) -> None:
            self.resources: dict[tuple[str, str], PlannedResource] = {}
            self.invokes: list[str] = []

        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            inputs = _unwrap_secrets(args.inputs)
            self.resources[(args.typ, args.name)] = PlannedResource(
                args.typ, args.name, inputs=inputs, custom=bool(args.custom)
            )
            state = dict(args.inputs)
            if args.typ == "hcloud:index/primaryIp:PrimaryIp":
                version = 6 if args.inputs.get("type") == "ipv6" else 4
                state["ipAddress"] = fake_address(args.name, version)
                if version == 6:
                    state["ipNetwork"] = state["ipAddress"] + "/64"
            if args.typ == "hcloud:index/server:Server":
                state.setdefault("ipv4Address", fake_address(args.name, 4))
                state.setdefault("ipv6Address", fake_address(args.name, 6))
            if args.typ == "digitalocean:index/spacesKey:SpacesKey":
                state["accessKey"] = (
                    "MOCKACCESSKEY" + hashlib.sha256(args.name.encode()).hexdigest()[:8].upper()
                )
                state["secretKey"] = "mock-secret-key-not-real"
            if args.typ == "digitalocean:index/spacesBucket:SpacesBucket":
                region = args.inputs.get("region", "ams3")
                state["bucketDomainName"] = (
                    f"{args.inputs.get('name', args.name)}.{region}.digitaloceanspaces.com"
                )
                state["endpoint"] = f"{region}.digitaloceanspaces.com"
            if args.typ.startswith("hcloud:") and not args.resource_id:
                # Hetzner ids are numbers; components pass them on as int (e.g. firewall_ids)
                return [str(int(hashlib.sha256(args.name.encode()).hexdigest(), 16) % 10**8), state]
            return [args.resource_id or f"{args.name}-id", state]

        def call(self, args: pulumi.runtime.MockCallArgs):
            self.invokes.append(args.token)
            return {}

    return PlanMocks()


# --------------------------------------------------------------------------- run


@dataclass
class Plan:
    stack: StackFile
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    invokes: list[str]


def run_program(stack: StackFile) -> Plan:
    """Run ``__main__.py`` under the mock monitor with this stack's config."""
    import pulumi
    from pulumi.runtime import mocks as pmocks
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func

    mocks = make_mocks()
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack.stack, preview=False)
    secret_keys = [f"{PROJECT}:{k}" for k in stack.secret_keys if "." not in k]  # the engine's: keys only
    pulumi.runtime.set_all_config(stack.pulumi_config(), secret_keys)
    options: dict[int, tuple[str, str, Any, dict]] = {}

    def capture(args: pulumi.ResourceTransformationArgs):
        opts = args.opts or pulumi.ResourceOptions()
        options[id(args.resource)] = (
            args.type_,
            args.name,
            opts.parent,
            {
                "protect": bool(opts.protect),
                "retain_on_delete": bool(opts.retain_on_delete),
                "import": opts.import_,
                "ignore_changes": list(opts.ignore_changes or []),
                "delete_before_replace": bool(opts.delete_before_replace),
            },
        )
        return None

    def program():
        pulumi.runtime.register_stack_transformation(capture)
        cwd, given = os.getcwd(), os.environ.get(STACK_FILE_ENV)
        os.chdir(REPO_ROOT)
        os.environ[STACK_FILE_ENV] = str(stack.path.resolve())  # the loader reads which keys it sets
        try:
            runpy.run_path(str(REPO_ROOT / "__main__.py"), run_name="__main__")
        finally:
            os.chdir(cwd)
            if given is None:
                os.environ.pop(STACK_FILE_ENV, None)
            else:
                os.environ[STACK_FILE_ENV] = given

    pmocks._sync_await(run_pulumi_func(program))

    names = {rid: name for rid, (_, name, _, _) in options.items()}
    planned: list[PlannedResource] = []
    for typ, name, parent, opts in options.values():
        r = mocks.resources.get((typ, name)) or PlannedResource(typ, name, custom=False)
        r.parent = names.get(id(parent)) if parent is not None else None
        r.options = opts
        planned.append(r)

    outputs, secret_outputs = {}, set()
    root = settings.get_root_resource()
    for key, value in (root.outputs if root is not None else {}).items():
        out = pulumi.Output.from_input(value)
        outputs[key] = pmocks._sync_await(out.future())
        if pmocks._sync_await(out.is_secret()):
            secret_outputs.add(key)
    return Plan(stack, planned, outputs, secret_outputs, list(mocks.invokes))


def cli_stack(stack: str, config_path: str | None = None) -> tuple[StackFile, StackConfig] | None:
    """For a tool's main(): the stack file and its validated config, or None after printing
    the one-line error (the tool then exits 2)."""
    try:
        sf = read_stack(stack, config_path)
        return sf, sf.config()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def plan_stack(stack: str, config_path: str | None = None) -> Plan:
    sf = read_stack(stack, config_path)
    sf.config()  # validate before anything is registered
    return run_program(sf)


# --------------------------------------------------------------------------- output


def to_json(plan: Plan) -> list[dict[str, Any]]:
    return [
        {"type": r.type, "name": r.name, "parent": r.parent, "inputs": r.inputs, "options": r.options}
        for r in plan.resources
    ]


SUMMARY_KEYS = {
    "hcloud:index/server:Server": ("serverType", "image", "location"),
    "hcloud:index/primaryIp:PrimaryIp": ("type", "location"),
    "hcloud:index/rdns:Rdns": ("ipAddress", "dnsPtr"),
    "hcloud:index/volume:Volume": ("size",),
    "cloudflare:index/dnsRecord:DnsRecord": ("type", "name", "content", "ttl"),
    "digitalocean:index/spacesBucket:SpacesBucket": ("name", "region", "acl"),
}


def _short_type(token: str) -> str:
    pkg, _, rest = token.partition(":")
    return f"{pkg}:{rest.rsplit(':', 1)[-1]}" if pkg != "socialcoop" else token


def _show_input(key: str, value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Cloudflare's TTL is a number: 3600, not 3600.0
    return f"ttl {value}" if key == "ttl" else str(value)


def _summary(r: PlannedResource) -> str:
    keys = SUMMARY_KEYS.get(r.type, ())
    parts = [_show_input(k, r.inputs[k]) for k in keys if r.inputs.get(k) is not None]
    text = " ".join(parts)
    return text if len(text) <= 70 else text[:67] + "..."


def _flags(r: PlannedResource) -> str:
    o = r.options
    flags = []
    if r.custom:
        flags.append(f"import {o['import']}" if o.get("import") else "create")
    if o.get("protect"):
        flags.append("protect")
    if o.get("retain_on_delete"):
        flags.append("retain on delete")
    if o.get("ignore_changes"):
        flags.append("ignore " + ",".join(o["ignore_changes"]))
    return f"  [{'; '.join(flags)}]" if flags else ""


def render_tree(plan: Plan) -> str:
    children: dict[str | None, list[PlannedResource]] = {}
    for r in plan.resources:
        children.setdefault(r.parent, []).append(r)
    custom = [r for r in plan.resources if r.custom]
    imports = sum(1 for r in custom if r.options.get("import"))
    protected = sum(1 for r in custom if r.options.get("protect"))
    lines = [
        f"Stack {plan.stack.stack} ({plan.stack.source}): {len(custom)} resources, "
        f"{imports} to import, {len(custom) - imports} to create, {protected} protected",
        "",
    ]
    if plan.stack.other:  # allowed provider settings, never silent (components/core/stack.py)
        lines.append("Provider settings from the stack file:")
        lines += [f"  {k} = {v}  ({PROVIDER_SETTINGS.get(k, '')})" for k, v in plan.stack.other.items()]
        lines.append("")

    def walk(parent: str | None, prefix: str) -> None:
        kids = children.get(parent, [])
        for i, r in enumerate(kids):
            last = i == len(kids) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            summary = _summary(r)
            lines.append(
                f"{prefix}{branch}{r.name}  ({_short_type(r.type)})"
                + (f"  {summary}" if summary else "")
                + _flags(r)
            )
            walk(r.name, prefix + ("" if parent is None else ("   " if last else "│  ")))

    walk(None, "")
    lines += ["", "Outputs:"]
    for key in sorted(plan.outputs):
        if key in plan.secret_outputs:
            lines.append(f"  {key}: {SECRET}")
            continue
        value = plan.outputs[key]
        text = (
            value
            if isinstance(value, str)
            else yaml.safe_dump(value, sort_keys=False, default_flow_style=False).rstrip()
        )
        if "\n" in text:
            lines.append(f"  {key}:")
            lines += [f"    {line}" for line in text.splitlines()]
        else:
            lines.append(f"  {key}: {text}")
    if plan.invokes:
        lines += [
            "",
            f"Warning: {len(plan.invokes)} provider invokes (data-source lookups): {', '.join(plan.invokes)}",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: prod or alpha")
    parser.add_argument("--json", action="store_true", help="print one JSON object per resource")
    parser.add_argument("--config", metavar="PATH", help="plan this stack file instead of Pulumi.STACK.yaml")
    parser.add_argument("--cost", action="store_true", help="print the monthly cost estimate (docs/costs.md)")
    resolver.add_options(parser, "also measure each SPF record's DNS lookups through public DNS")
    args = parser.parse_args(argv)
    loaded = cli_stack(args.stack, args.config)
    if loaded is None:
        return 2
    sf, cfg = loaded
    if args.cost:
        from components.core import costs

        print(costs.render_text(costs.estimate(cfg, costs.load_prices())))
        return 0
    plan = run_program(sf)
    if args.json:
        print(json.dumps(to_json(plan), indent=2, sort_keys=False, default=str))
    else:
        print(render_tree(plan))
    return spf_section(cfg, args)


def spf_section(cfg: StackConfig, args: argparse.Namespace) -> int:
    """The SPF records' lookups: declared, and measured through DNS with --live/--nameserver
    (components/dns/spf_lookups.py); 1 if a measured count breaks the limit or a claim. With
    --json it goes to stderr, leaving stdout JSON."""
    if cfg.mail is None or not cfg.mail.spf:
        return 0
    out = sys.stderr if args.json else sys.stdout
    resolvers = resolver.from_options(args, cfg.domain)
    if resolvers is None:
        if args.json:
            return 0
        print("\nSPF lookups (declared in mail.senders; measure them with --live):")
        for s in cfg.mail.spf:
            costs = [(n, mail_auth.lookups(cfg.mail.senders[n])) for n in s.senders]
            detail = ", ".join(f"{n} {c}" for n, c in costs)
            print(
                f"  {fqdn(s.name, cfg.domain)}: {sum(c for _, c in costs)} of {mail_auth.MAX_LOOKUPS}: {detail}"
            )
        return 0
    where = f"{args.nameserver}:{args.port}" if args.nameserver else "public DNS"
    print(f"\nSPF lookups (measured through {where}, RFC 7208 section 4.6.4):", file=out)
    reports = spf_lookups.check_stack(cfg, resolvers[1])
    problems = [p for r in reports for p in r.problems]
    for r in reports:
        print(f"  {r.line()}", file=out)
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    asyncio.set_event_loop(asyncio.new_event_loop())
    try:
        sys.exit(main())
    except BrokenPipeError:  # `... | head`: the reader stopped early; no traceback for that
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
