"""Render a host's cloud-init user-data and its SSH bootstrap from cloud-init/*.yaml.

Pure functions, no Pulumi resources. The templates are cloud-config fragments, one per
concern (base, docker, swarm). For a host we load the parts its roles need (``Host.
cloud_init``), fill the ``{{placeholders}}``, repeat every list item that mentions
``{{admin}}`` once per admin, and merge the parts: lists are concatenated, mappings
merged, and two parts that set the same scalar differently are a template bug.

Hosts without cloud-init (non-cloud VPSes) get the *base* part through
``cloud-init/bootstrap.sh``; ``render_bootstrap_config`` turns the same rendered base
into the line-based file that script reads, so both paths install the same users,
keys, packages and files.

Values from the stack file are filled in once and never read again as a template (a key
comment saying ``{{fqdn}}`` stays that text), and every value filled in or written as a
line must be one line (``values.line_safe``): the loader refuses control characters, and
these renderers refuse them again rather than write a second line.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from typing import Any

import yaml

from components.core import safe_yaml
from components.core import values as value_rules
from components.core.errors import REPO_ROOT
from components.hosts.firewall import inbound_rules, nft_forward_rules, nft_rules
from components.hosts.models import Admin, Host

TEMPLATES = REPO_ROOT / "cloud-init"
BOOTSTRAP_SCRIPT = TEMPLATES / "bootstrap.sh"
HEADER = "#cloud-config"
USER_DATA_LIMIT = 32 * 1024  # Hetzner Cloud rejects larger user_data
PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")
# Files whose change needs a service reload when the bootstrap (not cloud-init) writes them.
# The bootstrap validates the ssh files with `sshd -t` before installing them.
RELOAD_AFTER = {
    "/etc/ssh/": "ssh",
    "/etc/fail2ban/": "fail2ban",
    "/etc/socialcoop/firewall": "socialcoop-firewall",
    "/etc/systemd/system/socialcoop-firewall": "socialcoop-firewall",
}
# The parts the SSH bootstrap applies to a host without cloud-init: base and a host firewall
# (these hosts have no cloud firewall); docker and swarm there are the playbooks' business.
BOOTSTRAP_PARTS = ("base", "firewall")
# runcmd is one shell script whose exit code is its last command's: stop at the first
# failing command, and fail when a unit failed, so `cloud-init status` reports the error.
RUNCMD_FIRST = "set -ex"  # -x: each command is echoed to cloud-init-output.log
RUNCMD_LAST = [
    "sh",
    "-c",
    'failed=$(systemctl --failed --plain --no-legend); [ -z "$failed" ] || { echo "failed units: $failed" >&2; exit 1; }',
]


def load_part(name: str) -> dict[str, Any]:
    return safe_yaml.load_data(TEMPLATES / f"{name}.yaml")


def _mentions(value: Any, text: str) -> bool:
    if isinstance(value, str):
        return text in value
    if isinstance(value, dict):
        return any(_mentions(v, text) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, text) for v in value)
    return False


def _fill(value: Any, values: dict[str, str]) -> Any:
    """Fill the template's placeholders in one pass: what is filled in is never read again."""
    if isinstance(value, str):

        def sub(m: re.Match) -> str:
            if m.group(1) not in values:
                raise ValueError(f"unknown placeholders in cloud-init templates: {m.group(1)}")
            return values[m.group(1)]

        return PLACEHOLDER.sub(sub, value)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def _expand(value: Any, admins: Sequence[Admin], values: dict[str, str]) -> Any:
    """Fill placeholders; repeat list items that mention {{admin}} once per admin."""
    if isinstance(value, dict):
        return {k: _expand(v, admins, values) for k, v in value.items()}
    if isinstance(value, list):
        out = []
        for item in value:
            if _mentions(item, "{{admin"):
                out += [_fill(item, {**values, **_admin_values(a)}) for a in admins]
            else:
                out.append(_expand(item, admins, values))
        return out
    return _fill(value, values)


def _admin_values(a: Admin) -> dict[str, str]:
    return {
        "admin": value_rules.line_safe(a.name, "admin name"),
        "admin_key": value_rules.line_safe(a.ssh_key, f"admin {a.name}'s key"),
    }


def merge(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Merge cloud-config fragments in order: lists concatenate, mappings merge."""
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key not in merged:
                merged[key] = value
            elif isinstance(value, list) and isinstance(merged[key], list):
                merged[key] = merged[key] + value
            elif isinstance(value, dict) and isinstance(merged[key], dict):
                merged[key] = merge([merged[key], value])
            elif merged[key] != value:
                raise ValueError(f"cloud-init parts disagree on {key}: {merged[key]!r} vs {value!r}")
    return merged


def user_data(host: Host, admins: Sequence[Admin], parts: Sequence[str] | None = None) -> dict[str, Any]:
    """The host's merged cloud-config as a dict (parts default to the host's own)."""
    if not admins:
        raise ValueError("cloud-init needs at least one admin with an SSH key")
    rules = inbound_rules(host.ssh_port, host.hetzner.extra_ports if host.hetzner else ())
    values = {
        "hostname": value_rules.line_safe(host.name, "host name"),
        "fqdn": value_rules.line_safe(host.fqdn, "fqdn"),
        "ssh_port": str(int(host.ssh_port)),
        # several lines, each checked by nft_rules; indented as the template's
        "nft_rules": nft_rules(rules).replace("\n", "\n    "),
        "nft_forward_rules": nft_forward_rules(rules).replace("\n", "\n    "),
    }
    return merge([_expand(load_part(p), admins, values) for p in (parts or host.cloud_init)])


class _Dumper(yaml.SafeDumper):
    """Readable output: file contents as `|` blocks, argv lists on one line."""


_Dumper.add_representer(
    str,
    lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None),
)
_Dumper.add_representer(  # short lists of words (runcmd argv, groups) on one line
    list,
    lambda d, items: d.represent_sequence(
        "tag:yaml.org,2002:seq",
        items,
        flow_style=all(isinstance(i, str) and "\n" not in i for i in items) and len(items) < 8,
    ),
)


_RENDERED: dict[str, str] = {}  # the loader renders to check the size; the component reuses it


def render_user_data(host: Host, admins: Sequence[Admin], environment: str) -> str:
    """The user-data text for a Hetzner Cloud server: ``#cloud-config`` and the merged parts."""
    key = repr((host, tuple(admins), environment))  # frozen dataclasses: the repr is the content
    if key not in _RENDERED:
        if len(_RENDERED) > 64:
            _RENDERED.clear()
        _RENDERED[key] = _render_user_data(host, admins, environment)
    return _RENDERED[key]


def _render_user_data(host: Host, admins: Sequence[Admin], environment: str) -> str:
    doc = user_data(host, admins)
    if doc.get("runcmd"):
        doc["runcmd"] = [RUNCMD_FIRST, *doc["runcmd"], RUNCMD_LAST]
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)
    return (
        f"{HEADER}\n# {host.fqdn} ({environment} stack), parts: {', '.join(host.cloud_init)}.\n"
        f"# Rendered by socialcoop-infra from cloud-init/*.yaml; edit those, not this.\n{body}"
    )


# --------------------------------------------------------------------------- bootstrap


def _conf_line(kind: str, *words: str, rest: str | None = None) -> str:
    """One line of bootstrap.conf: ``kind``, words without spaces, then ``rest`` (which may
    hold spaces: the sudo rule, an admin's key line). Nothing here can make a second line."""
    for w in words:
        if not value_rules.line_safe(w, f"bootstrap.conf {kind}") or " " in w:
            raise ValueError(f"bootstrap.conf {kind}: {value_rules.show(w)} must be one word")
    tail = [] if rest is None else [value_rules.line_safe(rest, f"bootstrap.conf {kind}")]
    return " ".join([kind, *words, *tail])


def render_bootstrap_config(host: Host, admins: Sequence[Admin]) -> str:
    """The data file cloud-init/bootstrap.sh applies: the BOOTSTRAP_PARTS, line by line.

    One ``kind value...`` per line; file contents are base64 so any text fits on a line.
    bootstrap.sh refuses a line of any other shape.
    """
    base = user_data(host, admins, parts=list(BOOTSTRAP_PARTS))
    template = load_part("base")["users"][0]
    lines = [
        "# Rendered by socialcoop-infra from cloud-init/ ("
        + ", ".join(BOOTSTRAP_PARTS)
        + ") for bootstrap.sh.",
        _conf_line("hostname", base["hostname"]),
        _conf_line("fqdn", base["fqdn"]),
        _conf_line("timezone", base["timezone"]),
        _conf_line("admin_groups", ",".join(template["groups"])),
        _conf_line("admin_shell", template["shell"]),
        _conf_line("sudo_rule", rest=template["sudo"]),
    ]
    lines += [_conf_line("package", p) for p in base["packages"]]
    lines += [_conf_line("admin", a.name, rest=a.ssh_key) for a in admins]
    for f in base["write_files"]:
        reload = next((svc for prefix, svc in RELOAD_AFTER.items() if f["path"].startswith(prefix)), "-")
        content = base64.b64encode(f["content"].encode()).decode()
        lines.append(_conf_line("file", f["path"], f["permissions"], reload, content))
    for cmd in base.get("runcmd", []):
        if cmd[:3] != ["systemctl", "enable", "--now"] or len(cmd) != 4:
            raise ValueError(f"bootstrap.sh only knows `systemctl enable --now X` in base runcmd, not {cmd}")
        lines.append(_conf_line("service", cmd[3]))
    return bootstrap_conf(lines)


def bootstrap_conf(lines: Sequence[str]) -> str:
    """The data file's text: the lines, then ``end <how many lines came before>``, so that
    bootstrap.sh refuses a file with a line more or less than the renderer wrote."""
    return "\n".join([*lines, f"end {len(lines)}"]) + "\n"


def bootstrap_script() -> str:
    return BOOTSTRAP_SCRIPT.read_text()


def bootstrap_digest(config: str, script: str | None = None) -> str:
    """sha256 of everything the bootstrap uploads: the re-run trigger."""
    h = hashlib.sha256()
    for text in (script if script is not None else bootstrap_script(), config):
        h.update(hashlib.sha256(text.encode()).digest())
    return h.hexdigest()
