"""`python -m tools.plan STACK --diff REF` / `--diff-config FILE` (tools/review/diff*.py, host_effects.py):
what a merge request changes, by logical name and type, as `pulumi preview --diff` would show it.

Most cases plan both sides in this process (a tenth of a second a plan once imported); the git
cases run in a throwaway copy of the repository, and one of them plans REF's own code in a
child process, as the command does when the code differs."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.diff import copy_repository
from tests.conftest import DUMPER, key, stack_doc
from tools.review import diff_base, diff_sides, host_effects
from tools.review import plan as plan_tool
from tools.review.diff import Diff, Side, compare
from tools.review.diff_text import render_text

CAROL = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + "C" * 43 + " carol@placeholder"  # a fake
OTHER_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + "D" * 43
Mutate = Callable[[dict], None] | None
DNS = "cloudflare:index/dnsRecord:DnsRecord"


@pytest.fixture(scope="module")
def diff(tmp_path_factory) -> Callable[..., Diff]:
    """diff(stack, old_mutate, new_mutate): both sides planned here from edited copies of the committed file."""
    folder = tmp_path_factory.mktemp("diff")
    count = iter(range(10_000))

    def side(stack: str, mutate: Mutate) -> Side:
        doc = stack_doc(stack)
        if mutate is not None:
            mutate(doc["config"])
        path = folder / f"{next(count)}-Pulumi.{stack}.yaml"
        path.write_text(yaml.dump(doc, Dumper=DUMPER, sort_keys=False))
        return diff_sides.plan_in_process(stack, str(path), path.name)

    def make(stack: str, old: Mutate = None, new: Mutate = None) -> Diff:
        return compare(stack, "base", side(stack, old), side(stack, new))

    return make


def ops(d: Diff) -> dict[str, str]:
    return {r.name: r.op for r in d.resources}


def changed(d: Diff, name: str) -> dict[str, dict]:
    [r] = [r for r in d.to_json()["resources"] if r["name"] == name]
    return {c["key"]: c for c in r["changes"]}


def both(*edits: Callable[[dict], None]) -> Callable[[dict], None]:
    def run(c: dict) -> None:
        for edit in edits:
            edit(c)

    return run


def on_hetzner(c: dict) -> None:
    c[key("hosts")]["alpha"]["kind"] = "hetzner_cloud"


def without(name: str) -> Callable[[dict], None]:
    return lambda c: c.update({key("admins"): [a for a in c[key("admins")] if a["name"] != name]})


def phase2(c: dict) -> None:
    c[key("adopting")] = False


def bootstrapped(c: dict) -> None:  # alpha on a machine of its own, bootstrapped over SSH
    vps = c[key("hosts")]["alpha"]["vps"]
    vps.update(bootstrap=True, ipv4="192.0.2.50", ipv6="2001:db8:50::2", ssh_host_key=OTHER_HOST_KEY)
    c[key("bootstrap_ssh_key")] = {"secure": "v1:bm90LWEtcmVhbC1jaXBoZXJ0ZXh0"}


# --------------------------------------------------------------------------- the JSON shape


def test_json_is_the_object_the_issue_gives(diff):
    d = diff("prod", None, lambda c: c[key("dns")]["records"]["wiki"][0].update(ttl=600)).to_json()
    assert list(d) == ["stack", "base", "summary", "resources", "notes"]
    assert list(d["summary"]) == [
        "create",
        "update",
        "replace",
        "delete",
        "same",
        "not_applied_while_adopting",
    ]
    assert d["stack"] == "prod" and d["base"] == "base"
    [r] = d["resources"]
    assert list(r) == ["name", "type", "op", "changes", "notes"]
    assert r["name"] == "social-coop-wiki-cname" and r["type"] == "cloudflare:index/dnsRecord:DnsRecord"
    assert r["changes"] == [
        {
            "key": "ttl",
            "old": 3600.0,
            "new": 600.0,
            "forces_replace": False,
            "not_applied_while_adopting": True,
        }
    ]
    assert d["summary"]["update"] == 1 and d["summary"]["not_applied_while_adopting"] == 1
    json.dumps(d)  # plain JSON all through


def test_no_change_is_no_resource(diff):
    d = diff("alpha")
    assert d.resources == [] and d.notes == [] and d.summary["same"] > 0
    assert d.summary_line().startswith("alpha: no changes")


# --------------------------------------------------------------------------- records


def test_a_new_prod_record_is_a_create_and_asks_created_or_adopted(diff):
    name = "a-name-nobody-lists"
    d = diff(
        "prod", None, lambda c: c[key("dns")]["records"].update({name: [{"type": "CNAME", "host": "hypha"}]})
    )
    assert ops(d) == {f"social-coop-{name}-cname": "create"}
    assert changed(d, f"social-coop-{name}-cname")["content"]["new"] == "hypha.social.coop"
    assert any("data/new-in-prod.yaml" in n and "python -m tools.prepare" in n for n in d.notes)


def test_a_record_pointed_at_another_host_is_an_update_of_its_content(diff):
    d = diff("prod", phase2, both(phase2, lambda c: c[key("dns")]["records"]["wiki"][0].update(host="pando")))
    assert ops(d) == {"social-coop-wiki-cname": "update"}
    content = changed(d, "social-coop-wiki-cname")["content"]
    assert (content["old"], content["new"], content["forces_replace"]) == (
        "hypha.social.coop",
        "pando.social.coop",
        False,
    )


def test_a_renamed_record_is_a_delete_and_a_create_and_the_protected_delete_is_refused(diff):
    def rename(c):
        records = c[key("dns")]["records"]
        records["wiki2"] = records.pop("wiki")
        c[key("dns")]["imports"].pop("wiki-cname")

    d = diff("prod", None, rename)
    assert ops(d) == {"social-coop-wiki-cname": "delete", "social-coop-wiki2-cname": "create"}
    [gone] = [r for r in d.resources if r.op == "delete"]
    assert any("will refuse to delete it" in n and "docs/reviewing.md" in n for n in gone.notes)
    assert any("retain_on_delete" in n for n in gone.notes)
    assert d.resources[0].op == "delete"  # protected deletes come first


def test_a_key_that_forces_replace_is_a_replace(diff):
    d = diff("alpha", None, lambda c: c[key("dns")].update(zone_id="1" * 32))
    assert set(ops(d).values()) == {"replace"} and len(ops(d)) == 4  # A, AAAA, SPF, DMARC
    assert changed(d, "social-coop-alpha-a")["zoneId"]["forces_replace"] is True


def test_a_removed_record_in_alpha_is_a_plain_delete(diff):
    def drop_aaaa(c):
        c[key("dns")]["records"]["alpha"] = [{"type": "A", "host": "alpha"}]

    d = diff("alpha", None, drop_aaaa)
    assert ops(d) == {"social-coop-alpha-aaaa": "delete"}
    assert not any("refuse" in n for n in d.resources[0].notes)  # alpha protects nothing


# --------------------------------------------------------------------------- adopting


def test_while_adopting_the_edit_is_marked_and_after_adoption_it_is_applied(diff):
    dmarc = "social-coop-_dmarc-txt-dmarc"

    def reject(c):
        c[key("mail")]["dmarc"][0]["p"] = "reject"

    adopting = diff("prod", None, reject)
    assert changed(adopting, dmarc)["content"]["not_applied_while_adopting"] is True
    assert re.search(r"; 1 not applied while adopting \(\d+ unchanged\)$", adopting.summary_line())
    assert "(not applied while adopting)" in render_text(adopting)
    after = diff("prod", phase2, both(phase2, reject))
    assert changed(after, dmarc)["content"]["not_applied_while_adopting"] is False


def test_ending_adoption_changes_no_input_and_says_what_is_now_applied(diff):
    d = diff("prod", None, phase2)
    assert d.resources == []
    assert any("adopting ends" in n for n in d.notes)
    quiet = {name: " ".join(notes) for name, _, notes in d.quiet}
    assert "now applied: ttl, proxied, comment" in quiet["social-coop-apex-a"]


# --------------------------------------------------------------------------- admins and hosts


def test_an_admin_removed_in_prod_keeps_access_until_ansible_runs(diff):
    d = diff("prod", None, without("bob"))
    assert ops(d) == {"admin-keys-bob": "delete"}
    assert "hypha-server" in d.ignored and {"userData", "sshKeys"} <= set(d.ignored["hypha-server"])
    [note] = [n for n in d.notes if n.startswith("admin bob removed")]
    assert "at the next `up`" not in note
    for host in ("rhizome", "hypha", "pando"):
        assert host in note
    assert "Until then bob keeps SSH and sudo on rhizome, hypha, pando" in note
    assert any(n.startswith("hypha: user data") and "ignores it" in n for n in d.notes)


def test_an_admin_removed_from_a_new_style_alpha_server_replaces_it(diff):
    d = diff("alpha", on_hetzner, both(on_hetzner, without("bob")))
    assert ops(d) == {"alpha-server": "replace", "admin-keys-bob": "delete"}
    assert changed(d, "alpha-server")["sshKeys"]["forces_replace"] is True
    assert any("delete-before-replace" in n for n in d.resources[0].notes)
    [note] = [n for n in d.notes if n.startswith("admin bob removed")]
    assert "at the next `up` on alpha (replaced" in note and "Ansible" not in note


def test_an_admin_removed_on_a_bootstrapped_host_ends_at_the_next_up(diff):
    d = diff("alpha", bootstrapped, both(bootstrapped, without("bob")))
    assert set(ops(d).values()) == {"replace"} and "alpha-bootstrap" in ops(d)
    assert "admin bob" in render_text(d)  # the uploaded file's lines, old => new
    [note] = [n for n in d.notes if n.startswith("admin bob removed")]
    assert "at the next `up` on alpha (the bootstrap runs again" in note


def test_an_admin_added_on_hosts_pulumi_does_not_reach_changes_no_resource(diff):
    d = diff("alpha", None, lambda c: c[key("admins")].append({"name": "carol", "ssh_key": CAROL}))
    assert d.resources == []
    [note] = d.notes
    assert note.startswith("admin carol added") and "only when Ansible runs on alpha" in note


def test_a_firewall_rule_is_applied_live_or_not_while_adopting(diff):
    port = {"port": 3478, "protocol": "udp", "reason": "TURN for video calls"}

    def open_alpha(c):
        on_hetzner(c)
        c[key("hosts")]["alpha"]["hetzner_cloud"]["extra_ports"] = [port]

    d = diff("alpha", on_hetzner, open_alpha)
    assert ops(d) == {"alpha-firewall": "update"}
    assert "~ rules: 1 added, 0 removed" in render_text(d)
    assert any(n.startswith("alpha: firewall rules changed: applied live") for n in d.notes)
    prod = diff("prod", None, lambda c: c[key("hosts")]["hypha"]["hetzner_cloud"].update(extra_ports=[port]))
    assert any("not applied while adopting" in n for n in prod.notes)


def test_a_server_type_change_is_an_update_with_downtime(diff):
    d = diff("prod", None, lambda c: c[key("hosts")]["hypha"]["hetzner_cloud"].update(server_type="cpx42"))
    assert ops(d) == {"hypha-server": "update"}
    assert any("powers the server off" in n for n in d.resources[0].notes)


def test_a_new_host_without_a_cloud_api_creates_nothing_real(diff):
    def add(c):
        c[key("hosts")]["mycelium"] = {
            "kind": "vps",
            "roles": ["coopcloud"],
            "vps": {"provider": "iocoop", "ipv4": "192.0.2.60", "ipv6": "2001:db8:60::2"},
        }
        c[key("dns")]["records"]["mycelium"] = [{"type": "A", "host": "mycelium"}]

    d = diff("prod", None, add)
    assert ops(d) == {
        "mycelium": "create",
        "social-coop-mycelium-a": "create",
        "social-coop-mycelium-txt-spf": "create",
    }
    assert any(n.startswith("mycelium: a host without a cloud API joins") for n in d.notes)


def test_alpha_moved_to_hetzner_shows_placeholder_addresses(diff):
    d = diff("alpha", None, on_hetzner)
    assert ops(d)["alpha-server"] == "create" and ops(d)["alpha"] in ("create", "delete")
    text = render_text(d)
    assert '~ content: "198.51.100.20" => "198.51.100.' in text and "(placeholder)" in text
    assert "stand in for addresses the cloud assigns" in text
    assert any(n.startswith("alpha: a new Hetzner Cloud server is created") for n in d.notes)


# --------------------------------------------------------------------------- buckets


def test_a_new_bucket_is_created_and_the_key_reaches_it(diff):
    d = diff("alpha", None, lambda c: c[key("storage")]["buckets"].update({"alpha-extra": {}}))
    assert ops(d) == {
        "storage-key": "update",
        "alpha-extra": "create",
        "alpha-extra-bucket": "create",
        "alpha-extra-cors": "create",
    }
    assert changed(d, "storage-key")["grants"]["forces_replace"] is False


def test_the_prod_bucket_removed_is_refused(diff):
    d = diff("prod", None, lambda c: c.pop(key("storage")))
    bucket = next(r for r in d.resources if r.name == "social-coop-media-bucket")
    assert bucket.op == "delete" and bucket.protected and d.resources[0].protected


# --------------------------------------------------------------------------- secrets


def test_secrets_stay_masked_and_a_changed_one_is_named(diff):
    def new_key(c):
        bootstrapped(c)
        c[key("bootstrap_ssh_key")] = {"secure": "v1:YW5vdGhlci1mYWtlLWNpcGhlcnRleHQ"}

    d = diff("alpha", bootstrapped, new_key)
    text = render_text(d) + json.dumps(d.to_json())
    assert "YW5vdGhlci" not in text and "bm90LWEtcmVhbC" not in text
    assert any(n.startswith("secret bootstrap_ssh_key changed") for n in d.notes)


# --------------------------------------------------------------------------- the table, aliases


def side(resources: list[dict]) -> Side:
    return Side("s", resources, {}, {})


def record(name: str, **inputs) -> dict:
    options = {"protect": False, "ignore_changes": [], "import": None}
    return {
        "type": "cloudflare:index/dnsRecord:DnsRecord",
        "name": name,
        "parent": None,
        "inputs": inputs,
        "options": options,
    }


def test_a_key_the_table_does_not_know_is_not_guessed():
    d = compare(
        "s",
        "b",
        side([record("r", includeShadowMetadata=False)]),
        side([record("r", includeShadowMetadata=True)]),
    )
    [r] = d.to_json()["resources"]
    assert r["op"] == "update" and r["changes"][0]["forces_replace"] is None
    assert "update or replace? confirm in the real preview" in render_text(d)
    unknown_type = [{**record("x", a=1), "type": "someprovider:index/thing:Thing"}]
    d = compare("s", "b", side(unknown_type), side([{**unknown_type[0], "inputs": {"a": 2}}]))
    assert d.to_json()["resources"][0]["changes"][0]["forces_replace"] is None


def test_an_alias_maps_a_renamed_resource_and_its_children():
    parent: dict[str, Any] = {
        "type": "socialcoop:dns:Zone",
        "name": "old-zone",
        "parent": None,
        "inputs": {},
        "options": {},
    }
    child = {**record("old-zone-www", content="a"), "parent": "old-zone"}
    renamed = {**parent, "name": "new-zone", "options": {"aliases": [{"name": "old-zone"}]}}
    moved = {**record("new-zone-www", content="a"), "parent": "new-zone"}
    d = compare("s", "b", side([parent, child]), side([renamed, moved]))
    assert d.resources == [] and d.same == 2
    assert any("renamed from old-zone" in " ".join(notes) for _, _, notes in d.quiet)
    without_alias = compare("s", "b", side([parent, child]), side([{**renamed, "options": {}}, moved]))
    assert sorted(r.op for r in without_alias.resources) == ["create", "create", "delete", "delete"]


def test_host_effects_come_from_the_plan_not_from_host_names():
    resources: list[dict[str, Any]] = [
        {"type": host_effects.VPS, "name": "any-name", "parent": None, "inputs": {}, "options": {}},
        {"type": host_effects.BOOTSTRAP, "name": "b", "parent": "any-name", "inputs": {}, "options": {}},
    ]
    assert host_effects.hosts(resources)["any-name"].bootstrap == "b"


# --------------------------------------------------------------------------- git: REF's own code


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A throwaway copy of this repository's tracked files, committed once (HEAD)."""
    return copy_repository(tmp_path_factory.mktemp("repo"), "base")


def commit(repo: Path, message: str) -> str:
    git = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t"]
    subprocess.run([*git, "commit", "-qam", message], cwd=repo, check=True, capture_output=True, timeout=60)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def run(monkeypatch, capsys, repo: Path, *argv: str) -> tuple[int, str, str]:
    """`python -m tools.plan ARGV` in ``repo`` (its git, its stack files; this checkout's code on
    the working-tree side, which is the same code)."""
    monkeypatch.setattr(diff_sides, "REPO_ROOT", repo)
    config = ["--config", str(repo / f"Pulumi.{argv[0]}.yaml")]
    code = plan_tool.main([*argv, *config])
    out, err = capsys.readouterr()
    return code, out, err


def test_diff_against_a_commit(monkeypatch, capsys, repo):
    """A stack-file edit against HEAD: REF's code is this code, so both plans run here."""
    prod = repo / "Pulumi.prod.yaml"
    text = prod.read_text()
    prod.write_text(text.replace("default_ttl: 3600", "default_ttl: 1800"))

    def no_tree(*args, **kwargs):
        raise AssertionError("REF's code is this code: no tree of its own, no child process")

    monkeypatch.setattr(diff_base, "extract", no_tree)
    try:
        code, out, err = run(monkeypatch, capsys, repo, "prod", "--diff", "HEAD", "--json")
    finally:
        prod.write_text(text)
    assert code == 0, err
    d = json.loads(out)
    records = sum(1 for r in diff_sides.plan_in_process("prod", str(prod), "x").resources if r["type"] == DNS)
    assert d["base"] == "HEAD" and d["summary"]["update"] == records and d["summary"]["create"] == 0
    assert {c["key"] for r in d["resources"] for c in r["changes"]} == {"ttl"}


@pytest.mark.slow
def test_refs_own_code_is_planned_a_code_change_counts(monkeypatch, capsys, repo):
    """REF with other code (a CORS max age of 600): REF's plan comes from REF's code, in a child."""
    bucket = repo / "components" / "storage" / "bucket.py"
    text = bucket.read_text()
    bucket.write_text(text.replace("CORS_MAX_AGE_SECONDS = 3000", "CORS_MAX_AGE_SECONDS = 600"))
    ref = commit(repo, "other code")
    bucket.write_text(text)  # the working tree: this checkout's code again
    code, out, err = run(monkeypatch, capsys, repo, "alpha", "--diff", ref)
    assert code == 0, err
    assert "~  alpha-social-coop-media-cors" in out
    assert "~ corsRules[0].maxAgeSeconds: 600 => 3000" in out


def test_a_bad_stack_file_on_either_side_exits_2_naming_the_side(monkeypatch, capsys, repo):
    prod = repo / "Pulumi.prod.yaml"
    good = prod.read_text()
    prod.write_text(good.replace("socialcoop-infra:hosts:", "socialcoop-infra:hots:"))
    bad_ref = commit(repo, "a misspelt key")
    prod.write_text(good)
    code, out, err = run(monkeypatch, capsys, repo, "prod", "--diff", bad_ref)
    assert code == 2 and out == ""
    assert err.startswith(f"error: base {bad_ref[:8]}: Pulumi.prod.yaml: socialcoop-infra:hots: unknown key")
    assert len(err.splitlines()) == 1
    prod.write_text(good.replace("socialcoop-infra:hosts:", "socialcoop-infra:hots:"))
    try:
        code, out, err = run(monkeypatch, capsys, repo, "prod", "--diff", "HEAD~1")
    finally:
        prod.write_text(good)
    assert (
        code == 2 and err.startswith("error: working tree: ") and "socialcoop-infra:hots: unknown key" in err
    )
    code, _, err = run(monkeypatch, capsys, repo, "prod", "--diff", "no-such-ref")
    assert code == 2 and "no-such-ref is not a commit" in err
