"""Values the loader used to accept and must refuse (issue 22: findings 5, 6, 7, 14, 16), by
class: each rule is tried with several spellings of the same mistake, and the legitimate
neighbours of each mistake still load.

- Ansible extra vars: no variable Ansible gives a meaning (connection, inventory, play), only
  plain names, no value Jinja would render; secret vars stay secret; no checkout path.
- Lifecycle prefixes: never over what Mastodon keeps in the bucket.
- Mail records: every value spliced into SPF, DMARC, TLS-RPT, MTA-STS or CAA is checked
  against that record's grammar, by the loader and again by the builder.
- SSH port: never on the web ports or an extra port; TXT text escaped in the zone file.
- Host firewall: ports Docker publishes (forwarded, not input) are filtered too.
"""

from __future__ import annotations

import json

import pytest

from components.errors import REPO_ROOT
from tests.conftest import key
from tools import plan as plan_tool

PLAYBOOK = "tests/target/playbook/site.yml"


def ansible(**fields):
    def mutate(c):
        c[key("ansible")] = {"playbook": PLAYBOOK, **fields}

    return mutate


# --------------------------------------------------------------------------- 5: Ansible


@pytest.mark.parametrize(
    "name",
    [
        "ansible_host",  # alpha's playbook would target rhizome
        "ansible_ssh_common_args",  # a ProxyCommand runs on the machine running pulumi
        "ansible_ssh_extra_args",
        "ansible_become_password",
        "ansible_connection",
        "ansible_python_interpreter",
        "ansible_shell_executable",
        "ansible_port",
        "ansible_user",
        "inventory_hostname",
        "inventory_dir",
        "hostvars",
        "groups",
        "group_names",
        "play_hosts",
        "playbook_dir",
        "role_path",
        "omit",
        "environment",
        "become",
        "become_user",
        "hosts",
        "vars",
        "lookup",
        "item",
        "fqdn",  # the generated inventory's own host variable
    ],
)
def test_extra_vars_refuse_what_ansible_or_the_inventory_sets(config_error, name):
    e = config_error("alpha", ansible(extra_vars={name: "203.0.113.10"}))
    assert e.path == f"ansible.extra_vars.{name}", str(e)
    assert "Ansible (or the generated inventory) sets itself" in e.allowed
    assert "\n" not in str(e)


@pytest.mark.parametrize("name", ["my-var", "1st", "a b", "Greeting", "_private", "class", "ünï", "x" * 65])
def test_extra_var_names_are_plain_identifiers(config_error, name):
    e = config_error("alpha", ansible(extra_vars={name: 1}))
    assert e.path == f"ansible.extra_vars.{name}" and "a plain variable name" in e.allowed


@pytest.mark.parametrize(
    "value",
    [
        "{{ lookup('pipe', 'id') }}",
        "a {% for x in y %}{% endfor %}",
        "{# a comment #}",
        "#jinja2:variable_start_string:'[[', variable_end_string:']]'\n[[ 6 * 7 ]]",
        ["plain", "{{ 6 * 7 }}"],
        {"nested": {"deeper": "{{ hostvars }}"}},
        {"{{ key }}": "value"},
    ],
)
def test_extra_var_values_jinja_would_render_are_refused(config_error, value):
    e = config_error("alpha", ansible(extra_vars={"greeting": value}))
    assert e.path == "ansible.extra_vars.greeting" and "Jinja" in e.allowed


def test_plain_extra_vars_and_secret_vars_still_load(load_config):
    cfg = load_config(
        "alpha",
        ansible(
            extra_vars={
                "greeting": "hello { braces } and 50% off",
                "twg_ansible_host": "x",
                "items": [1, {"a": "b"}],
            },
            secret_vars={"db_password": {"secure": "v1:AAAAfakeCiphertextNotReal="}},
        ),
    )
    assert cfg.ansible.extra_vars["greeting"].startswith("hello")
    assert repr(cfg.ansible.secret_vars["db_password"]) == "Secret([secret])"


def test_a_plaintext_secret_var_is_refused_without_showing_it(config_error):
    e = config_error("alpha", ansible(secret_vars={"db_password": "hunter2-not-real"}))
    assert e.path == "ansible.secret_vars.db_password" and "pulumi config set --secret --path" in e.allowed
    assert "hunter2" not in str(e)


def test_a_plaintext_secret_var_beside_an_encrypted_one_is_refused(config_error):
    mutate = ansible(
        secret_vars={
            "db_password": {"secure": "v1:AAAAfakeCiphertextNotReal="},
            "api_token": "hunter2-not-real",
        }
    )
    e = config_error("alpha", mutate)
    assert e.path == "ansible.secret_vars.api_token" and "must be a secret" in e.allowed
    assert "hunter2" not in str(e)


def test_a_secret_elsewhere_in_ansible_is_refused(config_error):
    e = config_error(
        "alpha", ansible(extra_vars={"db_password": {"secure": "v1:AAAAfakeCiphertextNotReal="}})
    )
    assert e.path == "ansible.extra_vars.db_password" and "secrets go under ansible.secret_vars" in e.allowed


def test_secret_var_names_follow_the_extra_var_rules(config_error):
    e = config_error("alpha", ansible(secret_vars={"ansible_become_password": {"secure": "v1:AAAAfake="}}))
    assert e.path == "ansible.secret_vars.ansible_become_password" and "sets itself" in e.allowed
    e = config_error(
        "alpha",
        ansible(extra_vars={"token": "x"}, secret_vars={"token": {"secure": "v1:AAAAfake="}}),
    )
    assert e.path == "ansible.secret_vars.token" and "give each variable once" in e.allowed


def test_the_plan_never_shows_a_secret_var(load_config):
    """What `pulumi up` hands the program: the decrypted value, the key marked secret."""
    sf = plan_tool.read_stack("alpha")
    values = {
        **sf.values,
        "ansible": {
            "playbook": PLAYBOOK,
            "extra_vars": {"greeting": "hello"},
            "secret_vars": {"db_password": "hunter2-not-real {{ 6 * 7 }}"},
        },
    }
    stack = plan_tool.StackFile(
        sf.stack, sf.source, values, frozenset({*sf.secret_keys, "ansible"}), sf.other
    )
    plan = plan_tool.run_program(stack)
    shown = json.dumps(plan_tool.to_json(plan)) + plan_tool.render_tree(plan)
    assert "hunter2" not in shown
    run = next(r for r in plan.resources if r.name == "ansible-run")
    assert run.inputs["stdin"] == "[secret]"
    assert run.inputs["environment"]["SOCIALCOOP_EXTRA_VARS"] == '{"greeting": "hello"}'  # still reviewable


def test_the_playbook_command_holds_no_checkout_path(plan):
    p = plan("alpha", ansible(extra_vars={"greeting": "hello"}))
    run = next(r for r in p.resources if r.name == "ansible-run")
    assert str(REPO_ROOT) not in json.dumps(plan_tool.to_json(p))
    assert run.inputs["create"].endswith(f" {PLAYBOOK}")
