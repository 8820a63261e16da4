"""docs/migration.md's checks, step by step, against the local Knot DNS.

Each step changes the stack file; "pulumi up" is played by reloading the zone the new
stack file gives (tools.review.zonefile). Before the reload the step's check must fail, saying
what is still old; after it, it must pass: TTL lowered and served; host switched with only
``content`` changed; TTL raised again; the old host's name gone.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import key
from tests.test_check_dns import run, serve
from tools.review import plan as plan_tool

pytestmark = [pytest.mark.dns_server, pytest.mark.usefixtures("local_dns_only")]

RHIZOME = ("203.0.113.10", "2001:db8:10::2")
PANDO = ("198.51.100.20", "2001:db8:20::2")


def lower_ttl(c):
    c[key("migration")] = {"ttl": 300, "records": ["@ A", "@ AAAA"]}


def switch(c):
    lower_ttl(c)
    for r in c[key("dns")]["records"]["@"]:
        if r.get("host") == "rhizome":
            r["host"] = "pando"


def raise_ttl(c):
    switch(c)
    del c[key("migration")]


def retire(c):
    raise_ttl(c)
    del c[key("hosts")]["rhizome"]
    del c[key("dns")]["records"]["rhizome"]
    for k in ("rhizome-a", "rhizome-aaaa", "rhizome-txt-spf"):
        del c[key("dns")]["imports"][k]


def differences(out: list[str]) -> list[str]:
    return [line.removeprefix("difference: ") for line in out if line.startswith("difference: ")]


def plan_json(capsys, path) -> list[dict]:
    assert plan_tool.main(["prod", "--json", "--config", str(path)]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_migration_runbook_checks_pass_and_fail_at_the_right_moment(capsys, fresh_zone, write_stack):
    server = fresh_zone  # serving today's prod: the apex on rhizome, TTL 3600
    step = {}
    for f in (lower_ttl, switch, raise_ttl, retire):  # write_stack reuses one path: keep a copy each
        path = write_stack("prod", f)
        step[f.__name__] = path.rename(path.with_name(f"{f.__name__}.yaml"))

    def check(name: str, *argv: str) -> tuple[int, list[str]]:
        return run(capsys, server, "prod", "--config", str(step[name]), *argv)

    # 1. lower the TTL: until `pulumi up`, the zone still serves 3600
    rc, out = check("lower_ttl")
    assert rc == 1 and differences(out) == [
        f"stale TTL: social.coop A {RHIZOME[0]}: served 3600, planned 300",
        f"stale TTL: social.coop AAAA {RHIZOME[1]}: served 3600, planned 300",
    ]
    serve(server, step["lower_ttl"], serial=2)
    rc, out = check("lower_ttl")
    assert rc == 0 and out[-1] == "no differences: DNS serves the plan"

    # 4. the switch: only the two apex records' content changes in the plan ...
    before, after = plan_json(capsys, step["lower_ttl"]), plan_json(capsys, step["switch"])
    changed = {
        (b["name"], k)
        for b, a in zip(before, after, strict=True)
        for k in set(b["inputs"]) | set(a["inputs"])
        if b["inputs"].get(k) != a["inputs"].get(k) or b["options"] != a["options"]
    }
    assert changed == {("social-coop-apex-a", "content"), ("social-coop-apex-aaaa", "content")}
    # ... the zone still answers with rhizome until `pulumi up` ...
    rc, out = check("switch")
    assert rc == 1 and differences(out) == [
        f"other content: social.coop A: served {RHIZOME[0]}, planned {PANDO[0]}",
        f"other content: social.coop AAAA: served {RHIZOME[1]}, planned {PANDO[1]}",
    ]
    serve(server, step["switch"], serial=3)
    # ... and then with pando only, the TTL still low: the old address is gone from the apex
    rc, out = check("switch")
    assert rc == 0, out

    # 6. raise the TTL again
    rc, out = check("raise_ttl")
    assert rc == 1 and differences(out) == [
        f"stale TTL: social.coop A {PANDO[0]}: served 300, planned 3600",
        f"stale TTL: social.coop AAAA {PANDO[1]}: served 300, planned 3600",
    ]
    serve(server, step["raise_ttl"], serial=4)
    assert check("raise_ttl")[0] == 0

    # 7. retire rhizome: its records are retained on delete, so check that they are gone
    rc, out = check("retire", "--gone", "rhizome")
    assert rc == 1 and differences(out) == [
        f"still there: rhizome.social.coop A {RHIZOME[0]} (ttl 3600)",
        f"still there: rhizome.social.coop AAAA {RHIZOME[1]} (ttl 3600)",
        'still there: rhizome.social.coop TXT "v=spf1 -all" (ttl 3600)',
    ]
    serve(server, step["retire"], serial=5)
    rc, out = check("retire", "--gone", "rhizome")
    assert rc == 0 and out[-1] == "no differences: DNS serves the plan"
