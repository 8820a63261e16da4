"""The whole-stack rules, in one place: what needs more than one section of a stack file.

The stack-file models (components/*/models.py) check each section on its own. These rules compare
sections: prod protected and alpha disposable, each stack on its own side of the boundary
(components/core/boundary.py: names, buckets, hosts, machines, also against the other stack's
committed file), alpha importing nothing, hosts reachable and distinct, the user-data
within Hetzner's limit; then dns_checks.check() for the records against the hosts, the
mail builders and the boundary. The first broken rule raises the one-line ConfigError.
"""

from __future__ import annotations

from typing import Any

from components.core import boundary, values
from components.core.errors import MISSING, ConfigError
from components.core.stack import StackConfig
from components.dns import checks as dns_checks
from components.hosts import cloudinit

ALPHA_IMPORTS = "only prod imports existing resources; alpha creates (and destroys) its own: remove it"


def check(cfg: StackConfig) -> None:
    def fail(path: str, value: Any, allowed: str) -> ConfigError:
        return ConfigError(cfg.source, path, value, allowed)

    if cfg.hosts and not cfg.admins:
        raise fail("admins", [], "at least one admin with an SSH key is needed to reach the hosts")
    _hosts_distinct(cfg, fail)
    if cfg.environment == "prod":
        _prod(cfg, fail)
    else:
        _alpha(cfg, fail)
    _boundary(cfg, fail)
    if cfg.adopting and cfg.environment != "prod":
        raise fail(
            "adopting", True, "allowed only when environment is prod (alpha adopts nothing): remove it"
        )
    if any(h.vps and h.vps.bootstrap for h in cfg.hosts.values()) and cfg.bootstrap_ssh_key is None:
        raise fail("bootstrap_ssh_key", MISSING, "required when a host has bootstrap: true")
    # records that point at hosts, generated mail records, ownership between the stacks
    dns_checks.check(cfg)
    for name, h in cfg.hosts.items():
        if h.hetzner is not None:
            size = len(cloudinit.render_user_data(h, cfg.admins, cfg.environment).encode())
            if size > cloudinit.USER_DATA_LIMIT:
                raise fail(
                    f"hosts.{name}.cloud_init",
                    list(h.cloud_init),
                    f"renders {size} bytes of user-data; Hetzner Cloud takes at most "
                    f"{cloudinit.USER_DATA_LIMIT} (fewer admins or parts, shorter key comments)",
                )


def _hosts_distinct(cfg: StackConfig, fail) -> None:
    """Two entries for one machine (same fqdn or address) are a copy-paste mistake.

    A host *name* cannot repeat: YAML keeps only the last of two equal mapping keys
    (PyYAML silently, Pulumi with an error), so a copied block shows up here instead.
    """
    seen: dict[tuple[str, str], str] = {}
    for name, h in cfg.hosts.items():
        pairs: list[tuple[str, str | None]] = [("fqdn", h.fqdn)]
        if h.vps is not None:
            pairs += [("vps.ipv4", h.vps.ipv4), ("vps.ipv6", h.vps.ipv6)]
        for what, value in pairs:
            if value is None:
                continue
            if (what, value) in seen:
                raise fail(
                    f"hosts.{name}.{what}",
                    value,
                    f"already used by host {seen[what, value]}; one entry per machine",
                )
            seen[what, value] = name


def _prod(cfg: StackConfig, fail) -> None:
    """prod keeps every protection, unless a decommission says why."""
    if not cfg.protect and cfg.decommission is None:
        raise fail(
            "protect",
            cfg.protect,
            "prod must set protect: true; to take protection off for a real decommission, "
            "also set decommission: '<why>' (docs/config.md)",
        )
    if cfg.protect and cfg.decommission is not None:
        raise fail("decommission", cfg.decommission, "only with protect: false; remove it")
    if cfg.decommission is not None and (
        len(cfg.decommission.strip()) < 10 or values.text_problem(cfg.decommission)
    ):
        raise fail("decommission", cfg.decommission, "say in one line why protection is off (10+ characters)")


def _alpha(cfg: StackConfig, fail) -> None:
    """alpha is disposable: it protects nothing and adopts nothing."""
    if cfg.protect:
        raise fail("protect", True, "alpha is disposable: remove protect (or set it to false)")
    if cfg.decommission is not None:
        raise fail("decommission", cfg.decommission, "only for prod; alpha has no protection to take off")
    # every import would put a prod resource into alpha's state, and
    # `pulumi destroy -s alpha` would then delete it
    for i, admin in enumerate(cfg.admins):
        if admin.hcloud_import is not None:
            raise fail(f"admins[{i}].hcloud_import", admin.hcloud_import, ALPHA_IMPORTS)
    for name, h in cfg.hosts.items():  # the kind not in use too: it is one line away
        for k, v in (h.hetzner_cloud.imports if h.hetzner_cloud else {}).items():
            raise fail(f"hosts.{name}.hetzner_cloud.import.{k}", v, ALPHA_IMPORTS)
    for r in cfg.dns.records:
        if r.import_id is not None:
            raise fail(f"{r.path}.import_id", r.import_id, ALPHA_IMPORTS)
    for k, v in cfg.dns.imports.items():
        raise fail(f"dns.imports.{k}", v, ALPHA_IMPORTS)
    for b in cfg.storage.buckets.values() if cfg.storage else ():
        if b.import_id:
            raise fail(
                f"storage.buckets.{b.name}.import",
                b.import_id,
                "only prod adopts buckets; alpha creates (and force-destroys) its own",
            )


def _boundary(cfg: StackConfig, fail) -> None:
    """Each stack on its own side (components/core/boundary.py): the names it gives (the records are
    dns_checks.check()'s), its buckets, its host names, the machines it bootstraps."""
    stack = cfg.environment
    theirs = boundary.claims(boundary.other(stack))
    if theirs.error:
        raise ConfigError(theirs.source, "", None, boundary.unreadable(theirs))
    names = [("instance_domain", cfg.instance_domain)]
    for name, h in cfg.hosts.items():
        names.append((f"hosts.{name}.fqdn", h.fqdn))
        problem = boundary.host_problem(stack, name, theirs)
        if problem:
            raise fail(f"hosts.{name}", name, problem)
        vps = h.vps_  # the kind not in use too: it is one line away
        if vps is None:
            continue
        for what in ("ipv4", "ipv6", "ssh_host_key"):
            value = getattr(vps, what)
            problem = boundary.machine_problem(stack, value, theirs) if value else None
            if vps.bootstrap and value and not problem:
                problem = boundary.bootstrap_problem(stack, value, theirs)
            if problem:
                raise fail(f"hosts.{name}.vps.{what}", value, problem)
    for b in cfg.storage.buckets.values() if cfg.storage else ():
        problem = boundary.bucket_problem(stack, b.name, theirs)
        if problem:
            raise fail(f"storage.buckets.{b.name}", b.name, problem)
        if b.alias_host is not None:
            names.append((f"storage.buckets.{b.name}.alias_host", b.alias_host))
    for path, name in names:
        problem = boundary.name_problem(stack, name, theirs)
        if problem:
            raise fail(path, name, problem)
