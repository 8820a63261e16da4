"""Issue 22's security read, repeated on the merged fixes with edits written differently from
the first read: what it still found accepted, each now refused (or masked) as a class."""

from __future__ import annotations

import sys

import pytest

from components.core import boundary, values
from tests.conftest import key, stack_doc
from tools.check.engine import REPO

sys.path.insert(0, str(REPO / "policy"))
import rules  # noqa: E402
from rules import Res, Stack  # noqa: E402

PLAYBOOK = "tests/target/playbook/site.yml"
ALPHA = Stack("alpha", theirs=boundary.claims("prod"))


def ansible(**fields):
    return lambda c: c.update({key("ansible"): {"playbook": PLAYBOOK, **fields}})


def prod_hosts() -> dict:
    return stack_doc("prod")["config"][key("hosts")]


# --------------------------------------------------------------------------- alpha on prod's machines


def off_limits_machines() -> list[tuple[str, str, str]]:
    """(prod host, field, value) of every prod machine alpha may not run on."""
    return [
        (name, field, h["vps"][field])
        for name, h in prod_hosts().items()
        if h.get("vps") and name not in boundary.ALPHA_RUNS_ON
        for field in ("ipv4", "ipv6", "ssh_host_key")
        if h["vps"].get(field)
    ]


@pytest.mark.parametrize(("host", "field", "value"), off_limits_machines())
def test_alpha_may_not_run_on_a_prod_machine_other_than_pando(config_error, host, field, value):
    """Without bootstrap too: alpha's names and its playbook would point at prod's machine."""

    def mutate(c):
        vps = c[key("hosts")]["alpha"]["vps"]
        if field != "ssh_host_key":
            vps.pop("ssh_host_key", None)
        vps[field] = value.upper() if field == "ipv6" else value  # another spelling
        ansible()(c)

    e = config_error("alpha", mutate)
    assert e.path == f"hosts.alpha.vps.{field}" and "alpha runs only on pando" in e.allowed, str(e)


def test_the_policy_pack_refuses_a_playbook_aimed_at_a_prod_machine():
    rhizome = next(v for h, f, v in off_limits_machines() if f == "ipv4")
    pando = prod_hosts()["pando"]["vps"]["ipv4"]

    def run(address: str) -> Res:
        inventory = f"mastodon_staging:\n  hosts:\n    alpha:\n      ansible_host: {address}\n"
        return Res(rules.LOCAL, "ansible-run", {"environment": {"SOCIALCOOP_INVENTORY": inventory}})

    assert rules.alpha_stays_in_its_lane(run(rhizome), ALPHA)
    assert not rules.alpha_stays_in_its_lane(run(pando), ALPHA)


# --------------------------------------------------------------------------- extra vars


@pytest.mark.parametrize(
    ("extra_vars", "path", "allowed"),
    [
        ({"db_password": "hunter2-not-real"}, "ansible.extra_vars.db_password", "secret_vars"),
        ({"smtp": {"password": "hunter2-not-real"}}, "ansible.extra_vars.smtp", "secret_vars"),
        ({"mail": [{"api_key": "x"}]}, "ansible.extra_vars.mail", "secret_vars"),
        ({"do": "dop_v1_" + "0123456789abcdef" * 4}, "ansible.extra_vars.do", "token or key"),
        ({"motd": "hello\nPermitRootLogin yes"}, "ansible.extra_vars.motd", "one line"),
        ({"motd": "a\u2028b"}, "ansible.extra_vars.motd", "one line"),
        ({"nested": {"k\x1b[31m": "v"}}, "ansible.extra_vars.nested", "one line"),
        ({"big": "x" * 300_000}, "ansible.extra_vars", "at most 32768 characters"),
    ],
)
def test_extra_vars_hold_no_secret_and_one_printable_line_each(config_error, extra_vars, path, allowed):
    e = config_error("alpha", ansible(extra_vars=extra_vars))
    assert e.path == path and allowed in e.allowed, str(e)
    assert "hunter2" not in str(e) and "0123456789abcdef" * 2 not in str(e)


def test_plain_extra_vars_still_load(load_config):
    cfg = load_config("alpha", ansible(extra_vars={"greeting": "hello", "ports": [1, 2], "x": {"y": "z"}}))
    assert cfg.ansible.extra_vars["greeting"] == "hello"


# --------------------------------------------------------------------------- masking


HETZNER_LIKE = "hcloudFAKE" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3kL5m"[:54]


@pytest.mark.parametrize(
    "secret",
    [
        HETZNER_LIKE,
        "DO00FAKEACCESSKEY123",  # a Spaces access key ID's shape
        "key-" + "0123456789abcdef" * 2,  # a Mailgun API key's shape
    ],
)
@pytest.mark.parametrize("where", ["admin", "host_key"])
def test_a_token_behind_a_fake_key_prefix_is_not_shown(config_error, secret, where):
    line = f"ssh-rsa AAAA {secret}"

    def mutate(c):
        if where == "admin":
            c[key("admins")][0]["ssh_key"] = line
        else:
            c[key("hosts")]["rhizome"]["vps"]["ssh_host_key"] = line.replace("ssh-rsa", "ssh-ed25519")

    e = config_error("prod", mutate)
    assert secret[6:] not in str(e), str(e)


def test_ids_and_public_keys_stay_visible():
    zone = "9f86d081884c7d659a2feaa0c55ad015"
    assert zone in values.show(zone, "dns.zone_id")
    assert zone in values.show(f"{zone}/{zone}", "dns.imports.apex-a")
    ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICvYBsl/DgCvGh/DMo+nY6kmlyPI24+sT5OvcdsYbW6Q alice"
    assert values.secret_at(ed) is None
    assert values.secret_at(zone, "password") == 0
    # a 32-hex secret where no ID belongs is not shown whole
    assert zone not in values.show(zone, "ansible.extra_vars.x")


# --------------------------------------------------------------------------- CAA and CORS


def test_caa_needs_an_issuer_and_each_once(config_error):
    e = config_error("prod", lambda c: c[key("mail")]["caa"].update(issuers=[]))
    assert e.path == "mail.caa.issuers" and "at least one CA" in e.allowed
    e = config_error(
        "prod", lambda c: c[key("mail")]["caa"].update(issuers=["letsencrypt.org", "letsencrypt.org."])
    )
    assert e.path == "mail.caa.issuers[1]" and "each CA once" in e.allowed


def test_cors_origins_are_bounded_and_each_once(config_error):
    bucket = lambda c: c[key("storage")]["buckets"]["social-coop-media"]  # noqa: E731
    e = config_error(
        "prod", lambda c: bucket(c).update(cors_origins=["https://social.coop", "https://social.coop."])
    )
    assert e.path.endswith("cors_origins[1]") and "each origin once" in e.allowed
    many = [f"https://o{i}.social.coop" for i in range(21)]
    e = config_error("prod", lambda c: bucket(c).update(cors_origins=many))
    assert e.path.endswith("cors_origins") and "at most 20" in e.allowed
