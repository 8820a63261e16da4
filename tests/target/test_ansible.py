"""The hand-off to Ansible for real (marker `target`): after the SSH bootstrap, the real
ansible-playbook (ansible-core from requirements.lock) runs the sample playbook against the
booted target, through the command and inventory the program generates
(components/hosts/playbook.py, components/hosts/inventory.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.core.errors import REPO_ROOT
from components.hosts import playbook as ansible_playbook
from components.hosts.ansible import Ansible
from components.hosts.cloudinit import render_bootstrap_config
from components.hosts.inventory import render_inventory
from tests.target.hosts import bootstrap_over_ssh, make_people

pytestmark = pytest.mark.target


def test_sample_playbook_runs_against_the_bootstrapped_target(boot_target, load_config, tmp_path):
    host = load_config("alpha").hosts["alpha"]
    people = make_people(["alice", "bob"], tmp_path)
    t = boot_target()
    t.wait_for_ssh()
    bootstrap_over_ssh(t, "root", render_bootstrap_config(host, tuple(p.admin for p in people)))

    a = Ansible(playbook="tests/target/playbook/site.yml", extra_vars={"greeting": "hello"}, user="alice")
    inventory = render_inventory({"alpha": host}, {"alpha": "127.0.0.1"})  # what `pulumi up` passes
    env = {
        **os.environ,
        **ansible_playbook.environment(a, inventory),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # the locked ansible-core
        "LANG": "C.UTF-8",
        "ANSIBLE_PRIVATE_KEY_FILE": str(people[0].private_key),
        # the operator's known_hosts, here pinned to the target's key
        "ANSIBLE_SSH_ARGS": f"-o UserKnownHostsFile={t.known_hosts} -o HostKeyAlias=target -o IdentitiesOnly=yes",
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_NOCOLOR": "1",
    }

    def play() -> str:
        r = subprocess.run(
            ["ip", "netns", "exec", t.netns, "bash", "-c", ansible_playbook.command(a)],
            input=ansible_playbook.secret_vars_text(a),  # what pulumi-command passes as stdin
            env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    first = play()
    assert "alpha" in first and "failed=0" in first
    content = t.sh("cat /etc/socialcoop-playbook").stdout
    assert content == "hello alpha alpha.social.coop Debian\n"
    t.sh("getent passwd mastodon")
    second = play()
    assert "changed=0" in second and "failed=0" in second  # the sample playbook is idempotent
