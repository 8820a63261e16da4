"""What a change does on the live hosts that `pulumi preview` does not show, derived from the two
plans and stack files (tools/review/diff.py), not from sentences kept per host:

- which hosts Pulumi reaches at all: a Hetzner Cloud server gets user data (admins, SSH
  settings) only when it is created, and an existing one ignores it when the plan says so
  (`ignore_changes`: prod, imported servers); a host without a cloud API is reached only
  through the SSH bootstrap, when the plan has one (`vps.bootstrap`); everything else on a
  running host is Ansible's (the TWG's playbooks, or the stack's own `ansible` hand-off, which
  re-runs only when its inventory or playbook files change);
- so an admin added, removed or re-keyed: on which hosts it takes effect at the next `up`, and
  on which only when Ansible runs; a firewall rule changed: applied live; user data changed on a
  server that ignores it: nothing happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.review.diff import Diff, ResourceDiff

VPS = "socialcoop:ssh:VpsHost"
HETZNER = "socialcoop:hetzner:Server"
SERVER = "hcloud:index/server:Server"
FIREWALL = "hcloud:index/firewall:Firewall"
BOOTSTRAP = "command:remote:Command"
PLAYBOOK = "command:local:Command"
ANSIBLE = "only when Ansible runs"


@dataclass
class Host:
    name: str
    kind: str  # "hetzner_cloud" or "vps"
    bootstrap: str | None = None  # the bootstrap command's resource name
    server: str | None = None  # the Hetzner server's resource name
    ignores: frozenset[str] = frozenset()  # what the server ignores (ignore_changes)


def hosts(resources: list[dict[str, Any]]) -> dict[str, Host]:
    """The hosts a plan declares, with how Pulumi reaches each (from the resources' types)."""
    out = {
        r["name"]: Host(r["name"], "vps" if r["type"] == VPS else "hetzner_cloud")
        for r in resources
        if r["type"] in (VPS, HETZNER)
    }
    for r in resources:
        host = out.get(r.get("parent") or "")
        if host is None:
            continue
        if r["type"] == BOOTSTRAP:
            host.bootstrap = r["name"]
        if r["type"] == SERVER:
            host.server = r["name"]
            host.ignores = frozenset((r.get("options") or {}).get("ignore_changes") or [])
    return out


def admins(config: dict[str, Any]) -> dict[str, str]:
    """name -> key line of each admin in a stack file's values."""
    out = {}
    for a in config.get("admins") or []:
        if isinstance(a, dict) and isinstance(a.get("name"), str):
            out[a["name"]] = " ".join(
                str(a.get("ssh_key", "")).split()[:2]
            )  # type and key: the comment is no key
    return out


def _reach(host: Host, by_name: dict[str, ResourceDiff]) -> tuple[bool, str]:
    """Whether an admin change reaches ``host`` at the next `up`, and why (or why not)."""
    if host.kind == "vps":
        if host.bootstrap is None:
            return False, "no bootstrap: Pulumi manages no users there"
        if host.bootstrap in by_name:
            return True, "the bootstrap runs again and sets exactly the declared admins"
        return False, "its bootstrap does not run again"
    server = by_name.get(host.server or "")
    if server is not None and server.op == "create":
        return True, "a new server, created with the declared admins"
    if server is not None and server.op == "replace":
        return True, "replaced: a new machine with the declared admins"
    if {"userData", "sshKeys"} & host.ignores:
        return False, "the running server ignores user data and SSH keys"
    return False, "user data reaches a server only when it is created"


def _admin_notes(diff: Diff, by_name: dict[str, ResourceDiff], live: dict[str, Host]) -> list[str]:
    before, after = admins(diff.old.config), admins(diff.new.config)
    changed = [(n, "removed") for n in before if n not in after]
    changed += [(n, "added") for n in after if n not in before]
    changed += [(n, "re-keyed") for n in after if n in before and before[n] != after[n]]
    if not changed or not live:
        return []
    now: list[str] = []
    later: list[str] = []
    for host in live.values():
        reaches, why = _reach(host, by_name)
        (now if reaches else later).append(f"{host.name} ({why})")
    playbook = next((r for r in diff.new.resources if r["type"] == PLAYBOOK), None)
    hand_off = (
        f" The stack's own playbook ({playbook['name']}) re-runs at `up` only when the inventory or its "
        "files change, not for this: run the TWG's playbooks."
        if playbook
        else ' Ansible is run by hand (the TWG\'s playbooks; docs/servers.md, "Handing over to Ansible").'
    )
    notes = []
    for name, how in changed:
        what = {
            "removed": f"admin {name} removed: their SSH access and sudo end",
            "added": f"admin {name} added: they get SSH access and sudo",
            "re-keyed": f"admin {name}'s key changed: the new key works, and the old one stops,",
        }[how]
        parts = []
        if now:
            parts.append(f"at the next `up` on {', '.join(now)}")
        if later:
            parts.append(f"{ANSIBLE} on {', '.join(later)}")
        text = f"{what} {'; '.join(parts)}."
        if later and how == "removed":
            text += f" Until then {name} keeps SSH and sudo on {', '.join(h.split(' (')[0] for h in later)}."
        notes.append(text + (hand_off if later else ""))
    return notes


def notes(diff: Diff) -> list[str]:
    """The effects on live hosts, then the other warnings (secrets, adopting, a missing file)."""
    by_name = {d.name: d for d in diff.resources}
    live, gone = hosts(diff.new.resources), hosts(diff.old.resources)
    out = _admin_notes(diff, by_name, live)
    for host in live.values():
        server = by_name.get(host.server or "")
        if "userData" in diff.ignored.get(host.server or "", []):
            out.append(
                f"{host.name}: user data (cloud-init: admins, SSH settings, packages) changed, but the "
                "running server ignores it: nothing changes on it; it reaches a rebuilt server only "
                f"(the running one is Ansible's: {ANSIBLE})."
            )
        if server is not None and server.op == "replace":
            out.append(
                f"{host.name}: the server is replaced at the next `up`: a new machine from the image, its "
                "disk wiped (its primary IPs, and so its addresses, stay); cloud-init, then Ansible, run again."
            )
        names = {
            r["name"] for r in diff.new.resources if r["type"] == FIREWALL and r.get("parent") == host.name
        }
        firewall = next((d for d in diff.resources if d.name in names), None)
        rules = next((c for c in firewall.changes if c.key == "rules"), None) if firewall else None
        if firewall is not None and firewall.op == "update" and rules is not None:
            if rules.not_applied_while_adopting:
                out.append(
                    f"{host.name}: firewall rules changed, not applied while adopting (phase 2 applies them)."
                )
            else:
                out.append(
                    f"{host.name}: firewall rules changed: applied live at the next `up` (Hetzner filters at once, no restart)."
                )
        if host.bootstrap in by_name and by_name[host.bootstrap].op != "create":
            out.append(
                f"{host.name}: the SSH bootstrap runs again at the next `up` (what it uploads changed: admins, SSH "
                "settings or the host firewall) and applies them live."
            )
    for name in [*live, *(n for n in gone if n not in live)]:
        before, after = gone.get(name), live.get(name)
        server = by_name.get(after.server or "") if after is not None else None
        if (
            after is not None
            and after.kind == "hetzner_cloud"
            and server is not None
            and server.op == "create"
        ):
            out.append(
                f"{name}: a new Hetzner Cloud server is created at the next `up`, billed from then "
                "(`python -m tools.plan STACK --cost`)."
            )
        if after is not None and after.kind == "vps" and (before is None or before.kind != "vps"):
            extra = " Its bootstrap runs at the next `up`." if after.bootstrap else ""
            out.append(
                f"{name}: a host without a cloud API joins the stack: Pulumi creates nothing on it.{extra}"
            )
        if before is not None and before.kind == "vps" and (after is None or after.kind != "vps"):
            out.append(
                f"{name}: the machine without a cloud API leaves the stack: nothing on it changes (Pulumi has no "
                "hold on it); what still runs there is stopped by hand (docs/migration.md, step 7)."
            )
    for d in diff.resources:
        if d.type == PLAYBOOK and d.op in ("update", "replace", "create"):
            out.append(f"{d.name}: the stack's playbook runs at the next `up` (its inputs changed).")
    return out + _other_notes(diff)


def _other_notes(diff: Diff) -> list[str]:
    out = []
    if not diff.old.exists:
        out.append(f"{diff.old.label} has no stack file for {diff.stack}: everything is new.")
    before, after = diff.old.config.get("adopting") is True, diff.new.config.get("adopting") is True
    if before and not after:
        out.append(
            "adopting ends (phase 2, docs/adoption.md step 10): the imported resources now apply what they "
            'ignored while adopting (listed under "now applied"); the real preview shows an update wherever '
            "the live resource differs, which the offline plan cannot see."
        )
    if after and not before:
        out.append(
            "adopting starts: imported resources ignore their names, labels, protection flags, TTLs... "
            '("now ignored"); docs/adoption.md: never to undo a change.'
        )
    if diff.new.config.get("environment") == "prod":
        from tools.adopt.matching import load_new_in_prod

        listed = load_new_in_prod()
        options = {r["name"]: r.get("options") or {} for r in diff.new.resources}
        parent = {r["name"]: r.get("parent") for r in diff.new.resources}

        def decided(name: str | None) -> bool:  # an entry for a component covers what is under it
            while name is not None and name not in listed:
                name = parent.get(name)
            return name is not None

        undecided = [
            d.name
            for d in diff.resources
            if d.op == "create"
            and not d.type.startswith(("socialcoop:", "pulumi:providers:"))
            and not options.get(d.name, {}).get("import")
            and not decided(d.name)
        ]
        if undecided:
            out.append(
                f"new in prod, neither imported nor listed in data/new-in-prod.yaml: {', '.join(undecided)}. "
                "Does it exist already? `python -m tools.prepare` asks, and records the answer."
            )
    for path in sorted(set(diff.old.secure) | set(diff.new.secure)):
        old, new = diff.old.secure.get(path), diff.new.secure.get(path)
        if old != new:
            what = (
                "added"
                if old is None
                else "removed"
                if new is None
                else "changed (its encrypted value differs)"
            )
            out.append(
                f"secret {path} {what}: both plans show it as [secret]; the real preview shows what it changes."
            )
    return out
