"""docs/dns-cutover.md, step by step, on copies of the committed stack files.

Each step is a change of Pulumi.prod.yaml and Pulumi.alpha.yaml (or none): the page shows the
change (a YAML snippet) and what the plan shows for it (which resources appear, disappear or
change, by logical name, type and input keys, worked out here from the offline plans of the
files before and after the step). The test applies the steps in order, computes each step's
plan diff and fails when the page does not show exactly that, printing the block to paste.

Also: each step's files load; the rollback of publishing goes through `retiring: [hetzner]`;
letting Cloudflare go deletes nothing (every Cloudflare record leaves the state retained, none
protected); and on two Knot servers, `tools.check_dns --compare` fails until a step is applied
at both providers and passes after.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.core.config import REPO_ROOT
from tests.conftest import DUMPER, key, stack_doc
from tests.dns_server import Knot
from tests.provider_zones import RECORD, RRSET, cloudflare_zone, hetzner_zone
from tools.adopt import matching
from tools.check import dns as check_dns
from tools.review import program, stackfile

PAGE = REPO_ROOT / "docs" / "dns-cutover.md"
STACKS = ("prod", "alpha")
Mutation = Callable[[dict], None]


def dns_set(**values: Any) -> Mutation:
    def mutate(c: dict) -> None:
        c[key("dns")].update(values)

    return mutate


def dns_drop(*keys: str) -> Mutation:
    def mutate(c: dict) -> None:
        for k in keys:
            c[key("dns")].pop(k, None)

    return mutate


def top_set(name: str, value: Any) -> Mutation:
    def mutate(c: dict) -> None:
        c[key(name)] = value

    return mutate


def top_drop(name: str) -> Mutation:
    def mutate(c: dict) -> None:
        c.pop(key(name), None)

    return mutate


@dataclass
class Step:
    anchor: str  # the step's heading on the page, e.g. "2. Publish to both providers"
    changes: dict[str, list[Mutation]] = field(default_factory=dict)  # stack -> changes of its file
    snippets: tuple[str, ...] = ()  # the change as the page shows it, each verbatim on the page


PUBLISH_SNIPPET = """\
```yaml
  socialcoop-infra:dns:
    zone_id: "00000000000000000000000000000000"
    providers: [cloudflare, hetzner]    # new: publish every record to both
```"""
NEW_IN_PROD_SNIPPET = """\
```yaml
- name: hetzner-dns
  type: socialcoop:dns:HetznerZone
  reason: >-
    The social.coop zone at Hetzner DNS and its record sets, made by this program while
    Cloudflare still serves the zone: nothing at Hetzner answers for social.coop until the
    registrar's name servers change (docs/dns-cutover.md).
```"""
MIGRATION = {"ttl": 300, "records": ["@ A", "@ AAAA", "@ MX"]}
LOWER_SNIPPET = """\
```yaml
  socialcoop-infra:migration:
    ttl: 300
    records: ["@ A", "@ AAAA", "@ MX"]
```"""
RETIRING_SNIPPET = """\
```yaml
    providers: [cloudflare, hetzner]
    retiring: [cloudflare]              # new: unprotect Cloudflare's records, keep them on delete
```"""
LET_GO_SNIPPET = """\
```yaml
    providers: [hetzner]                # was: [cloudflare, hetzner]; and remove the retiring: line
```"""
FOR_GOOD_SNIPPET = """\
```yaml
  socialcoop-infra:dns:
    providers: [hetzner]
    default_ttl: 3600
```"""
ROLLBACK_PUBLISH_SNIPPET = """\
```yaml
    providers: [cloudflare, hetzner]
    retiring: [hetzner]
```"""

STEPS = [
    Step("1. Check DNSSEC"),
    Step(
        "2. Publish to both providers",
        {s: [dns_set(providers=["cloudflare", "hetzner"])] for s in STACKS},
        (PUBLISH_SNIPPET, NEW_IN_PROD_SNIPPET),
    ),
    Step("3. Compare the two providers"),
    Step("4. Lower the TTLs", {"prod": [top_set("migration", MIGRATION)]}, (LOWER_SNIPPET,)),
    Step("5. Switch the name servers at the registrar"),
    Step("6. Raise the TTLs again", {"prod": [top_drop("migration")]}),
    Step(
        "7. Retire Cloudflare, keeping its records",
        {s: [dns_set(retiring=["cloudflare"])] for s in STACKS},
        (RETIRING_SNIPPET,),
    ),
    Step(
        "8. Let Cloudflare go",
        {s: [dns_set(providers=["hetzner"]), dns_drop("retiring")] for s in STACKS},
        (LET_GO_SNIPPET,),
    ),
    Step(
        "9. For good: delete the zone at Cloudflare",
        {s: [dns_drop("zone_id", "imports")] for s in STACKS},
        (FOR_GOOD_SNIPPET,),
    ),
]


def files_after(upto: int) -> dict[str, dict]:
    """Each stack file's config after steps 1..upto."""
    configs = {s: stack_doc(s) for s in STACKS}
    for step in STEPS[:upto]:
        for stack, changes in step.changes.items():
            for change in changes:
                change(configs[stack]["config"])
    return configs


def plan_of(doc: dict, stack: str, folder: Path) -> program.Plan:
    path = folder / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.dump(doc, Dumper=DUMPER, sort_keys=False))
    return program.plan_stack(stack, str(path))


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> list[dict[str, program.Plan]]:
    """plans[i][stack]: the offline plan after steps 1..i (plans[0]: the committed files)."""
    out: list[dict[str, program.Plan]] = []
    for i in range(len(STEPS) + 1):
        folder = tmp_path_factory.mktemp(f"step{i}")
        configs = files_after(i)
        changed = STEPS[i - 1].changes if i else dict.fromkeys(STACKS)
        out.append({s: plan_of(configs[s], s, folder) if s in changed else out[-1][s] for s in STACKS})
    return out


# --------------------------------------------------------------------------- the plan diff


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (dict, list)):
        return "(changed)" if value else "(none)"
    return json.dumps(value)


def _short(token: str) -> str:
    pkg, _, rest = token.partition(":")
    return f"{pkg}:{rest.rsplit(':', 1)[-1]}" if pkg not in ("socialcoop", "pulumi") else token


def plan_diff(before: program.Plan, after: program.Plan) -> list[str]:
    """What changes between two offline plans: + new, - gone, ~ changed (inputs, then options),
    by logical name and type; then the stack outputs that appear, go or change."""
    old = {(r.type, r.name): r for r in before.resources}
    new = {(r.type, r.name): r for r in after.resources}
    lines = []
    for k, r in new.items():
        if k not in old:
            lines.append(f"+ {r.name} ({_short(r.type)})")
            continue
        o = old[k]
        changed = [
            f"{name} {_shown(o.inputs.get(name))} => {_shown(r.inputs.get(name))}"
            for name in sorted(set(o.inputs) | set(r.inputs))
            if o.inputs.get(name) != r.inputs.get(name)
        ]
        changed += [
            f"[{name.replace('_', ' ')} {_shown(o.options.get(name))} => {_shown(r.options.get(name))}]"
            for name in ("protect", "retain_on_delete", "import", "ignore_changes", "delete_before_replace")
            if o.options.get(name) != r.options.get(name)
        ]
        if changed:
            lines.append(f"~ {r.name} ({_short(r.type)}): {', '.join(changed)}")
    for k, o in old.items():
        if k not in new:
            kept = (
                " [retain on delete: forgotten by Pulumi, left in place]"
                if o.options["retain_on_delete"]
                else ""
            )
            kept = kept if o.custom else " [a component: nothing of its own in the cloud]"
            lines.append(f"- {o.name} ({_short(o.type)}){kept}")
    for name in sorted(set(before.outputs) | set(after.outputs)):
        if name not in before.outputs:
            lines.append(f"+ output {name}")
        elif name not in after.outputs:
            lines.append(f"- output {name}")
        elif before.outputs[name] != after.outputs[name]:
            lines.append(f"~ output {name}")
    return lines


def diff_block(stack: str, lines: list[str]) -> str:
    body = "\n".join(lines) if lines else "(no change)"
    return f"```text\n# python -m tools.plan {stack}: what the step changes\n{body}\n```"


# --------------------------------------------------------------------------- the page


def section(title: str) -> str:
    page = PAGE.read_text()
    assert f"\n## {title}\n" in page, f"docs/dns-cutover.md has no section '## {title}'"
    return page.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("i", range(1, len(STEPS) + 1), ids=[s.anchor.split(".")[0] for s in STEPS])
def test_each_step_shows_its_change_and_exactly_its_plan_diff(plans, i):
    step = STEPS[i - 1]
    text = section(step.anchor)
    for snippet in step.snippets:
        assert snippet in text, f"step {step.anchor}: the page must show\n{snippet}"
    assert "Rollback" in text, f"step {step.anchor}: say how to undo it"
    for stack in STACKS:
        lines = plan_diff(plans[i - 1][stack], plans[i][stack])
        if stack in step.changes:
            block = diff_block(stack, lines)
            assert block in text, f"step {step.anchor}: paste this block into docs/dns-cutover.md:\n{block}"
        else:
            assert lines == [], (
                f"step {step.anchor} changes nothing in {stack}, but its plan changes: {lines}"
            )


def test_the_snippets_say_what_the_steps_do_and_every_steps_files_load(tmp_path):
    """The YAML on the page is the change the test applies (the lines it sets); the stack files
    of every step pass the loader."""
    for i in range(len(STEPS) + 1):
        for stack, doc in files_after(i).items():
            path = tmp_path / f"Pulumi.{stack}.yaml"
            path.write_text(yaml.dump(doc, Dumper=DUMPER, sort_keys=False))
            assert stackfile.read_stack(stack, str(path)).config().environment == stack
    published = yaml.safe_load(PUBLISH_SNIPPET.strip("`").removeprefix("yaml\n"))
    assert published["socialcoop-infra:dns"]["providers"] == ["cloudflare", "hetzner"]
    assert yaml.safe_load(LOWER_SNIPPET.strip("`").removeprefix("yaml\n")) == {
        "socialcoop-infra:migration": MIGRATION
    }
    assert yaml.safe_load(RETIRING_SNIPPET.strip("`").removeprefix("yaml\n")) == {
        "providers": ["cloudflare", "hetzner"],
        "retiring": ["cloudflare"],
    }
    assert yaml.safe_load(LET_GO_SNIPPET.strip("`").removeprefix("yaml\n")) == {"providers": ["hetzner"]}
    final = yaml.safe_load(FOR_GOOD_SNIPPET.strip("`").removeprefix("yaml\n"))["socialcoop-infra:dns"]
    assert {
        k: v for k, v in files_after(len(STEPS))["prod"]["config"][key("dns")].items() if k != "records"
    } == final


def test_publishing_adds_the_zone_to_prod_and_the_new_in_prod_entry_decides_it(plans):
    prod = plans[2]["prod"]
    entry = yaml.safe_load(NEW_IN_PROD_SNIPPET.strip("`").removeprefix("yaml\n"))
    assert entry[0]["name"] == "hetzner-dns" and entry[0]["type"] == "socialcoop:dns:HetznerZone"
    listed = matching.load_new_in_prod()
    assert "hetzner-dns-zone" in matching.undecided(prod.resources, listed)
    assert matching.undecided(prod.resources, {**listed, entry[0]["name"]: entry[0]}) == []
    assert prod.outputs["hetzner_nameservers"].startswith("(assigned by Hetzner")


def test_letting_cloudflare_go_deletes_nothing_at_cloudflare(plans):
    """Step 7 unprotects every Cloudflare record and keeps it on delete; step 8 removes them from
    the program: the engine refuses to delete a protected resource, and drops a retained one from
    the state without calling the provider (pulumi 3.260 pkg/resource/deploy/step.go)."""
    retiring = {s: [r for r in plans[7][s].resources if r.type == RECORD] for s in STACKS}
    assert all(retiring.values())
    for stack, records in retiring.items():
        for r in records:
            assert (r.options["protect"], r.options["retain_on_delete"]) == (False, True), (stack, r.name)
        gone = {
            line.split()[1] for line in plan_diff(plans[7][stack], plans[8][stack]) if line.startswith("- ")
        }
        assert {r.name for r in records} <= gone
        assert [r for r in plans[8][stack].resources if r.type.startswith("cloudflare:")] == []


def test_the_rollback_of_publishing_forgets_hetzners_records_without_deleting_them(tmp_path_factory, plans):
    configs = files_after(2)
    for stack in STACKS:
        dns_set(retiring=["hetzner"])(configs[stack]["config"])
    folder = tmp_path_factory.mktemp("rollback")
    retiring = {s: plan_of(copy.deepcopy(configs[s]), s, folder) for s in STACKS}
    snippet = yaml.safe_load(ROLLBACK_PUBLISH_SNIPPET.strip("`").removeprefix("yaml\n"))
    assert snippet == {"providers": ["cloudflare", "hetzner"], "retiring": ["hetzner"]}
    assert ROLLBACK_PUBLISH_SNIPPET in section("2. Publish to both providers")
    for stack in STACKS:
        hetzner = [r for r in retiring[stack].resources if r.type.startswith("hcloud:index/zone")]
        assert hetzner and all(r.options["retain_on_delete"] and not r.options["protect"] for r in hetzner)
        cloudflare_before = [(r.name, r.options) for r in plans[2][stack].resources if r.type == RECORD]
        assert cloudflare_before == [
            (r.name, r.options) for r in retiring[stack].resources if r.type == RECORD
        ]


def test_the_pages_commands_exist(capsys):
    page = PAGE.read_text()
    with pytest.raises(SystemExit):
        check_dns.main(["--help"])
    usage = capsys.readouterr().out
    for command in re.findall(r"python -m tools\.check_dns ([^\n`]*)", page):
        for flag in re.findall(r"(--[a-z-]+)", command):
            assert flag in usage, f"{command}: tools.check_dns has no {flag}"
    for module in set(re.findall(r"python -m (tools\.\w+)", page)):
        assert (REPO_ROOT / (module.replace(".", "/") + ".py")).is_file(), module
    assert "pulumi stack output hetzner_nameservers -s prod" in page


# --------------------------------------------------------------------------- on two DNS servers


@pytest.mark.dns_server
@pytest.mark.usefixtures("local_dns_only")
def test_the_compare_step_fails_until_a_step_reaches_both_providers(capsys, tmp_path_factory, plans):
    domain = "social.coop"

    def zone(plans_at: dict[str, program.Plan], render) -> str:
        return render([r for s in STACKS for r in plans_at[s].resources], domain)

    def files(i: int) -> list[str]:
        folder = tmp_path_factory.mktemp(f"files{i}")
        out = []
        for stack, doc in files_after(i).items():
            path = folder / f"Pulumi.{stack}.yaml"
            path.write_text(yaml.dump(doc, Dumper=DUMPER, sort_keys=False))
            out += ["--config", str(path)]
        return out

    def compare(i: int) -> tuple[int, list[str]]:
        argv = ["prod", "alpha", *files(i), "--compare", f"127.0.0.1:{cf.port}", f"127.0.0.1:{hz.port}"]
        rc = check_dns.main([*argv, "--nameserver", "127.0.0.1", "--port", str(cf.port)])
        return rc, [x for x in capsys.readouterr().out.splitlines() if x.startswith("difference: ")]

    empty = zone(plans[0], hetzner_zone)  # before step 2: the Hetzner zone holds nothing yet
    cf = Knot(tmp_path_factory.mktemp("cf"), {domain: zone(plans[2], cloudflare_zone)})
    hz = Knot(tmp_path_factory.mktemp("hz"), {domain: empty})
    try:
        cf.start()
        hz.start()
        rc, differences = compare(2)  # published in the files, not yet applied at Hetzner
        assert rc == 1 and len(differences) == 34 and all(" only at 127.0.0.1:" in d for d in differences)
        hz.load(domain, zone(plans[2], hetzner_zone))  # `pulumi up` of step 2
        assert compare(2) == (0, [])
        cf.load(domain, zone(plans[4], cloudflare_zone))  # step 4 applied at Cloudflare only
        rc, differences = compare(4)
        assert rc == 1 and sorted(d.split(": ", 2)[2].split(":")[0] for d in differences) == [
            "social.coop A 203.0.113.10",
            "social.coop AAAA 2001",
            "social.coop MX 10 mx1.forwarding.example",
            "social.coop MX 20 mx2.forwarding.example",
        ]
        hz.load(domain, zone(plans[4], hetzner_zone))  # and at Hetzner
        assert compare(4) == (0, [])
    finally:
        cf.stop()
        hz.stop()
    assert any(r.type == RRSET for r in plans[2]["alpha"].resources)
