"""The hand-off to Ansible: `pulumi up` runs the stack's playbook once the hosts are up.

Only when the stack names one (``ansible: {playbook, extra_vars?, user?}``; none by
default). One ``local.Command`` (pulumi-command) on the operator's machine runs
``ansible-playbook`` from the locked environment (`.venv/bin` on PATH) with the inventory
the program generates (components/hosts/inventory.py), written to a temporary file for the run.

It runs again when, and only when, its inputs change: ``triggers`` holds a sha256 of the
inventory and one of the playbook's inputs (every file under the playbook's folder, its
roles, templates and vars, plus the extra vars); a change of the secret vars (the command's
standard input) runs it again too. Host keys are the operator's ssh configuration's
business (known_hosts), as for any Ansible run.

Secret vars (``ansible.secret_vars``, each set with ``pulumi config set --secret --path``)
reach the command on its standard input, a secret Output (encrypted in the state,
``[secret]`` in the plan and the preview), and ansible-playbook as a file only the operator
can read (``--extra-vars @file``), each value tagged ``!unsafe`` so that Ansible never
renders it as a template. Never on the command line, where other users could read them.

The command names the playbook as the stack file does (relative to the repository, unless
absolute): Pulumi starts the provider in the project's directory, the repository root
(pulumi's engine/project.go getPwdMain, plugin.go execPlugin), so the command runs there and
the plan and the state are the same in every checkout.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import pulumi
from pulumi_command import local

from components.core.errors import REPO_ROOT
from components.hosts.ansible import Ansible

# Writes the inventory and the secret vars (standard input) to private temporary files, runs
# the playbook, removes the files. The inventory must end in .yml: Ansible's YAML inventory
# plugin ignores other names.
SCRIPT = (
    "set -eu; umask 077; inv=$(mktemp --suffix=.yml); sec=$(mktemp --suffix=.yml); "
    'trap \'rm -f "$inv" "$sec"\' EXIT; printf "%s" "$SOCIALCOOP_INVENTORY" >"$inv"; '
    'cat >"$sec"; '
    'ansible-playbook -i "$inv" --extra-vars "$SOCIALCOOP_EXTRA_VARS" --extra-vars "@$sec"'
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
    """The shell command; the playbook as the stack file names it (no checkout path)."""
    user = f" --user {shlex.quote(a.user)}" if a.user else ""
    return f"{SCRIPT}{user} {shlex.quote(a.playbook)}"


def environment(a: Ansible, inventory: str) -> dict[str, str]:
    return {
        "SOCIALCOOP_INVENTORY": inventory,
        "SOCIALCOOP_EXTRA_VARS": json.dumps(a.extra_vars, sort_keys=True),
    }


def secret_vars_text(a: Ansible) -> str:
    """The command's standard input: the secret vars as the YAML file ansible-playbook reads,
    a flow mapping of JSON strings, each tagged ``!unsafe`` so Ansible never renders it
    (Ansible's docs: "Advanced playbook syntax", unsafe or raw strings)."""
    pairs = (f"{json.dumps(k)}: !unsafe {json.dumps(v.value)}" for k, v in sorted(a.secret_vars.items()))
    return "{" + ", ".join(pairs) + "}"


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
        # A secret Output: encrypted in the state, [secret] in the plan and the preview; a
        # change of it runs the playbook again, like any change of the command's inputs.
        stdin = pulumi.Output.secret(secret_vars_text(a)) if a.secret_vars else secret_vars_text(a)
        local.Command(
            f"{name}-run",
            create=command(a),
            environment=inventory.apply(lambda inv: environment(a, inv)),
            stdin=stdin,
            triggers=[
                inventory.apply(lambda inv: hashlib.sha256(inv.encode()).hexdigest()),
                playbook_digest(a),
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.after),
        )
        self.register_outputs({})
