"""The hand-off to Ansible under Pulumi's mocks: no playbook by default; with one, a
local.Command that runs ansible-playbook on the generated inventory and re-runs exactly when
the inventory or the playbook's inputs change. The real run: tests/target/test_ansible.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.core.errors import REPO_ROOT, Secret
from components.hosts import ansible as stack_models
from components.hosts import playbook as ansible_playbook
from components.hosts.ansible import Ansible
from tests.conftest import key

PLAYBOOK = "tests/target/playbook/site.yml"


def with_playbook(playbook=PLAYBOOK, **extra_vars):
    def mutate(c):
        c[key("ansible")] = {"playbook": playbook, "extra_vars": extra_vars or {"greeting": "hello"}}

    return mutate


def run_resource(plan):
    return {r.name: r for r in plan.resources}.get("ansible-run")


def test_no_playbook_by_default(plan):
    for stack in ("prod", "alpha"):
        p = plan(stack)
        assert run_resource(p) is None
        assert not [r for r in p.resources if "ansible" in r.type]


def test_the_playbook_runs_on_the_generated_inventory_after_the_hosts(plan):
    r = run_resource(plan("alpha", with_playbook()))
    assert r.type == "command:local:Command"
    assert r.inputs["create"].startswith(ansible_playbook.SCRIPT)
    assert r.inputs["create"].endswith("tests/target/playbook/site.yml")
    env = r.inputs["environment"]
    assert "ansible_host: 198.51.100.20" in env["SOCIALCOOP_INVENTORY"]
    assert env["SOCIALCOOP_EXTRA_VARS"] == '{"greeting": "hello"}'


def test_it_reruns_when_inventory_or_playbook_inputs_change_and_only_then(plan, tmp_path, monkeypatch):
    monkeypatch.setattr(stack_models, "REPO_ROOT", tmp_path)  # a playbook is a file inside the repository
    book = tmp_path / "book"
    shutil.copytree("tests/target/playbook", book)
    path = str(book / "site.yml")

    def triggers(mutate):
        return run_resource(plan("alpha", mutate)).inputs["triggers"]

    base = triggers(with_playbook(path))

    def moved(c):  # the host's address is in the inventory
        with_playbook(path)(c)
        c[key("hosts")]["alpha"]["vps"]["ipv4"] = "198.51.100.21"

    def ttl(c):  # DNS has nothing to do with the playbook
        with_playbook(path)(c)
        c[key("dns")]["default_ttl"] = 600

    assert triggers(moved)[0] != base[0] and triggers(moved)[1] == base[1]
    assert triggers(ttl) == base
    assert triggers(with_playbook(path, greeting="hi"))[1] != base[1]  # extra vars
    (book / "templates").mkdir()
    (book / "templates" / "motd.j2").write_text("{{ greeting }}\n")  # a file the playbook may use
    assert triggers(with_playbook(path))[1] != base[1]


def test_a_missing_playbook_is_a_config_error(config_error):
    err = config_error("alpha", with_playbook("../nowhere/site.yml"))
    assert err.path == "ansible.playbook" and "an existing playbook file" in err.allowed


# --------------------------------------------------------------------------- issue 22: what reaches Ansible


@pytest.mark.slow
def test_refused_names_cover_every_variable_ansible_core_gives_a_meaning():
    """The model's list against the installed ansible-core's own (it may grow with a new release)."""
    from ansible import constants
    from ansible._internal._templating._jinja_bits import JINJA_KEYWORDS
    from ansible.vars.reserved import get_reserved_names

    from components.hosts.ansible import var_name_problem

    theirs = set(get_reserved_names()) | set(constants.INTERNAL_STATIC_VARS) | set(JINJA_KEYWORDS)
    theirs |= set(constants.COMMON_CONNECTION_VARS) | set(constants.RESTRICTED_RESULT_KEYS)
    theirs |= {v for names in constants.MAGIC_VARIABLE_MAPPING.values() for v in names}
    assert len(theirs) > 100
    assert [n for n in sorted(theirs) if var_name_problem(n) is None] == []
    assert var_name_problem("greeting") is None and var_name_problem("twg_ansible_host") is None


@pytest.mark.parametrize(
    "text",
    ["{{ x }}", "a {% raw %}", "{# c #}", "#jinja2:x:1\n[[ x ]]", "{ x }", "50% {x}", "# jinja2", "plain"],
)
def test_the_refused_values_are_what_ansible_would_render(text):
    from ansible._internal._templating._jinja_bits import is_possibly_template

    from components.hosts.ansible import JINJA

    assert bool(JINJA.search(text)) == is_possibly_template(text)


@pytest.mark.slow
def test_secret_vars_reach_the_play_unrendered_and_never_the_command_line(tmp_path, monkeypatch):
    """The real ansible-playbook (locked), on this machine (connection local), through the
    program's own command: extra vars arrive, a secret arrives exactly as given (never
    rendered), and nothing of it is left on disk or in the command."""
    monkeypatch.setattr(stack_models, "REPO_ROOT", tmp_path)  # a playbook is a file inside the repository
    (tmp_path / "ansible").mkdir()
    book = tmp_path / "ansible" / "book.yml"
    out = tmp_path / "out.json"
    book.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        f"    - ansible.builtin.copy: {{dest: {out}, content: '{{{{ [greeting, db_password] | to_json }}}}'}}\n"
    )
    secret = "hunter2-not-real {{ lookup('pipe', 'id') }} \"quoted\" \\ !unsafe"
    a = Ansible(
        playbook=str(book), extra_vars={"greeting": "hello"}, secret_vars={"db_password": Secret(secret)}
    )
    inventory = f"all:\n  hosts:\n    here:\n      ansible_connection: local\n      ansible_python_interpreter: {sys.executable}\n"
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "LANG": "C.UTF-8",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        **ansible_playbook.environment(a, inventory),
    }
    assert secret not in ansible_playbook.command(a) and "hunter2" not in json.dumps(env)
    r = subprocess.run(
        ["bash", "-c", ansible_playbook.command(a)],
        input=ansible_playbook.secret_vars_text(a),
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(out.read_text()) == ["hello", secret]
    left = [p.name for p in tmp_path.iterdir() if p.suffix == ".yml" and p.name != "book.yml"]
    assert left == []  # the inventory and the secrets file are gone
