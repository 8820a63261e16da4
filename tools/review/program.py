"""Run the Pulumi program (``__main__.py``) under Pulumi's mock monitor with a stack's config,
and record what it declares: every resource with its type, logical name, parent, inputs and
options, and the stack's outputs. The cloud's answers are stand-ins: a resource's outputs are
its inputs, plus stable documentation-range addresses for what the cloud would number."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import runpy
from dataclasses import dataclass, field
from typing import Any

from components.core.config import STACK_FILE_ENV
from components.core.errors import PROJECT, REPO_ROOT
from tools.review.stackfile import SECRET, StackFile, read_stack

DNS_TOKEN_ENV = "HCLOUD_DNS_TOKEN"  # components/dns/hetzner_zone.py reads it when hetzner is listed
FAKE_DNS_TOKEN = "fake-offline-plan-hcloud-dns-token"


def fake_address(name: str, version: int) -> str:
    """A stable documentation-range address for a resource the cloud would number."""
    n = int(hashlib.sha256(name.encode()).hexdigest(), 16)
    if version == 4:
        return str(ipaddress.ip_address("198.51.100.0") + 1 + n % 250)
    return str(ipaddress.ip_address("2001:db8:ffff::") + (n % 65000) * 65536)


# The types whose addresses the cloud assigns: the mocks answer with fake_address() for them.
NUMBERED = {"hcloud:index/primaryIp:PrimaryIp": "type", "hcloud:index/server:Server": None}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def placeholder_networks(resources: list[dict[str, Any]]) -> list[Network]:
    """The stand-in addresses a plan holds (as /32 and /64 networks: a server answers on ::1 of
    its /64): what the cloud assigns to a primary IP or server is known only once it exists (or,
    for an imported one, from the provider), so the offline plan shows these instead. From the
    plan's resources (type and name), so a plan read back from JSON gives the same list."""
    nets: list[Network] = []
    for r in resources:
        if r.get("type") not in NUMBERED:
            continue
        inputs = r.get("inputs") or {}
        versions = (6,) if inputs.get("type") == "ipv6" else (4,) if NUMBERED[r["type"]] else (4, 6)
        for version in versions:
            prefix = 32 if version == 4 else 64
            nets.append(ipaddress.ip_network(f"{fake_address(r['name'], version)}/{prefix}", strict=False))
    return nets


def is_placeholder(value: Any, nets: list[Network]) -> bool:
    """An address inside one of the plan's stand-in networks."""
    if not isinstance(value, str) or not nets:
        return False
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return any(address in n for n in nets if n.version == address.version)


@dataclass
class PlannedResource:
    type: str
    name: str
    parent: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    custom: bool = True


def _asset(value: Any) -> dict[str, Any] | None:
    """An asset as plain data that says what is uploaded: a file by its path in the repository
    and the sha256 of its content, a text as it is (its repr would hold a memory address)."""
    import pulumi

    if isinstance(value, pulumi.FileAsset):
        path = os.path.abspath(value.path)
        shown = os.path.relpath(path, REPO_ROOT) if path.startswith(str(REPO_ROOT)) else value.path
        with open(path, "rb") as f:
            return {"file": shown, "sha256": hashlib.sha256(f.read()).hexdigest()}
    if isinstance(value, pulumi.StringAsset):
        return {"text": value.text}
    return None


def _unwrap_secrets(value: Any) -> Any:
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return SECRET
    asset = _asset(value)
    if asset is not None:
        return asset
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


@dataclass
class Plan:
    stack: StackFile
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    invokes: list[str]


def _aliases(rtype: str, given: Any) -> list[Any]:
    """The program's aliases of a resource. A provider SDK adds type-only aliases of its own to
    its resources (pulumi_cloudflare: every DnsRecord was once a Record); those say nothing
    about this program's names and are left out."""
    out = [_alias(a) for a in given or []]
    if not rtype.startswith("socialcoop:"):
        out = [a for a in out if not (isinstance(a, dict) and set(a) == {"type"})]
    return out


def _alias(alias: Any) -> Any:
    """A resource option ``aliases`` entry as plain data: a URN string as it is, a
    ``pulumi.Alias`` as the fields it sets (``parent``: the parent's name, or None for none)."""
    import pulumi

    if not isinstance(alias, pulumi.Alias):
        return str(alias)
    out: dict[str, Any] = {}
    for field_name, key in (("name", "name"), ("type_", "type"), ("stack", "stack"), ("project", "project")):
        value = getattr(alias, field_name, ...)
        if value is not ... and value is not None:
            out[key] = value
    parent = getattr(alias, "parent", ...)
    if parent is None:
        out["parent"] = None
    elif isinstance(parent, pulumi.Resource):
        out["parent"] = getattr(parent, "_name", None)
    return out


def without_source_positions() -> None:
    """Stop the SDK reading a stack trace (source files and all) at every registration: the
    source positions are for the engine's diagnostics, and the mock monitor drops them. In a
    deep call stack (the tests') it was a good part of each plan's time."""
    from pulumi.runtime import resource
    from pulumi.runtime.proto import source_pb2

    resource._get_stack_trace = source_pb2.StackTrace  # an empty trace, as for a frame it can't place


def run_program(stack: StackFile) -> Plan:
    """Run ``__main__.py`` under the mock monitor with this stack's config."""
    import pulumi
    from pulumi.runtime import mocks as pmocks
    from pulumi.runtime import settings
    from pulumi.runtime.stack import Stack, run_pulumi_func

    without_source_positions()
    mocks = make_mocks()
    settings.ROOT.set(None)  # no root stack: set_mocks registers a fresh one (as settings.reset_options does)
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
                # only when the program gives one, so plans without aliases read as before
                **({"aliases": aliases} if (aliases := _aliases(args.type_, opts.aliases)) else {}),
            },
        )
        return None

    def program():
        pulumi.runtime.register_stack_transformation(capture)
        cwd, given = os.getcwd(), {k: os.environ.get(k) for k in (STACK_FILE_ENV, DNS_TOKEN_ENV)}
        os.chdir(REPO_ROOT)
        os.environ[STACK_FILE_ENV] = str(stack.path.resolve())  # the loader reads which keys it sets
        os.environ.setdefault(DNS_TOKEN_ENV, FAKE_DNS_TOKEN)  # no credentials offline; shown as [secret]
        try:
            runpy.run_path(str(REPO_ROOT / "__main__.py"), run_name="__main__")
        finally:
            os.chdir(cwd)
            for k, v in given.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

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
    for key, value in (root.outputs if isinstance(root, Stack) else {}).items():
        out = pulumi.Output.from_input(value)
        outputs[key] = pmocks._sync_await(out.future())
        if pmocks._sync_await(out.is_secret()):
            secret_outputs.add(key)
    return Plan(stack, planned, outputs, secret_outputs, list(mocks.invokes))


def plan_stack(stack: str, config_path: str | None = None) -> Plan:
    sf = read_stack(stack, config_path)
    sf.config()  # validate before anything is registered
    return run_program(sf)
