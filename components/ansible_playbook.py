"""The hand-off to Ansible: `pulumi up` runs the stack's playbook once the hosts are up.

Only when the stack names one (``ansible: {playbook, extra_vars?, user?}``; none by
default). One ``local.Command`` (pulumi-command) on the operator's machine runs
``ansible-playbook`` from the locked environment (`.venv/bin` on PATH) with the inventory
the program generates (components/inventory.py), written to a temporary file for the run.

It runs again when, and only when, its inputs change: ``triggers`` holds a sha256 of the
inventory and one of the playbook's inputs (every file under the playbook's folder, its
roles, templates and vars, plus the extra vars). Host keys are the operator's ssh
configuration's business (known_hosts), as for any Ansible run.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import pulumi
from pulumi_command import local

from components.errors import REPO_ROOT
from components.models.stack import Ansible

# Writes the inventory to a temporary file, runs the playbook, removes the file. The file
# must end in .yml: Ansible's YAML inventory plugin ignores other names.
SCRIPT = (
    'set -eu; inv=$(mktemp --suffix=.yml); trap \'rm -f "$inv"\' EXIT; printf "%s" "$SOCIALCOOP_INVENTORY" >"$inv"; '
    'ansible-playbook -i "$inv" --extra-vars "$SOCIALCOOP_EXTRA_VARS"'
)


def playbook_path(a: Ansible) -> Path:
    return (REPO_ROOT / a.playbook).resolve()


def playbook_digest(a: Ansible) -> str:
    """sha256 over every file beside and below the playbook (skipping .git), and the extra vars."""
    h = hashlib.sha256()
    folder = playbook_path(a).parent
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts):
        h.update(str(f.relative_to(folder)).encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    h.update(json.dumps(a.extra_vars, sort_keys=True).encode())
    return h.hexdigest()


def command(a: Ansible) -> str:
    user = f" --user {shlex.quote(a.user)}" if a.user else ""
    return f"{SCRIPT}{user} {shlex.quote(str(playbook_path(a)))}"


def environment(a: Ansible, inventory: str) -> dict[str, str]:
    return {
        "SOCIALCOOP_INVENTORY": inventory,
        "SOCIALCOOP_EXTRA_VARS": json.dumps(a.extra_vars, sort_keys=True),
    }


@dataclass
class AnsiblePlaybookArgs:
    ansible: Ansible
    inventory: pulumi.Input[str]
    after: list[pulumi.Resource]  # the hosts (and their bootstrap) the playbook needs


class AnsiblePlaybook(pulumi.ComponentResource):
    def __init__(self, name: str, args: AnsiblePlaybookArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("socialcoop:ansible:Playbook", name, None, opts)
        a = args.ansible
        inventory = pulumi.Output.from_input(args.inventory)
        local.Command(
            f"{name}-run",
            create=command(a),
            environment=inventory.apply(lambda inv: environment(a, inv)),
            triggers=[
                inventory.apply(lambda inv: hashlib.sha256(inv.encode()).hexdigest()),
                playbook_digest(a),
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.after),
        )
        self.register_outputs({})
