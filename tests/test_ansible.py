"""The hand-off to Ansible under Pulumi's mocks: no playbook by default; with one, a
local.Command that runs ansible-playbook on the generated inventory and re-runs exactly when
the inventory or the playbook's inputs change. The real run: tests/target/test_ansible.py."""

from __future__ import annotations

import shutil

from components import ansible_playbook
from components.models import stack as stack_models
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
